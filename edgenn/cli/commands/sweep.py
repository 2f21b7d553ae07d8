"""`edgenn sweep SWEEP.toml`: search the recipe's own keys for the best deployable variant."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

HELP = "search compression and target settings for the best variant per target (Ray)"
DESCRIPTION = """\
A sweep file is a recipe whose [space.SECTION] keys list values to try: every
combination (method = "grid") or seeded random draws (method = "random", with
distributions such as { uniform = [0.2, 0.8] }). Each point is one `edgenn run` into
OUT/points/<key>/, keyed by the hash of its model, data and settings: a rerun skips
finished points, and an interrupted sweep resumes where it stopped.

Points run on Ray when it is installed (pip install "edgenn[sweep]"): a local instance
sized to this machine, started and stopped here, or an existing cluster with --address
(every node started with --resources='{"edgenn_timing": 1}'). Builds run in parallel;
each timed measurement runs alone on its node, pinned to its threads. Without Ray the
same points run here, one after another.

  OUT/sweep.md, sweep.json   every point's rows with its settings, the Pareto front over
                             accuracy, p50 latency and size per target, and the
                             recommended variant per target within the accuracy budget
  OUT/points/<key>/          each point's build, report.json and result.json

Examples:
  edgenn sweep init sweep.toml                 # write an example to edit
  edgenn sweep sweep.toml --dry-run            # the points and how the work is split
  edgenn sweep sweep.toml --out build          # run it (again: only what is missing)
  edgenn sweep sweep.toml --dry-run --plan-for 8x16   # the split on 8 nodes × 16 CPUs
  edgenn sweep sweep.toml --address ray://head:10001  # on a Ray cluster

Exit: 0 done (failed points are rows with their reason) · 2 bad sweep file or cluster ·
3 no variant within the budget on any target · 130 interrupted (finished points kept).
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sweep", metavar="SWEEP.toml|init",
                        help="the sweep file; `init [PATH]` writes an example")
    parser.add_argument("path", nargs="?", default=None, metavar="PATH",
                        help="with init: where to write the example (default: sweep.toml)")
    parser.add_argument("--out", default="edgenn-sweep", metavar="DIR",
                        help="build directory (default: %(default)s)")
    parser.add_argument("--address", default=None, metavar="ADDRESS",
                        help="join this Ray cluster (e.g. ray://head:10001 or auto) instead "
                             "of starting a local instance")
    parser.add_argument("--sequential", action="store_true",
                        help="run the points here, one after another, even with Ray "
                             "installed")
    parser.add_argument("--retry-failed", action="store_true",
                        help="run failed points again (by default they are finished rows)")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the points and how the work would be split; build nothing")
    parser.add_argument("--plan-for", default=None, metavar="NODESxCPUS",
                        help="with --dry-run: split for a cluster of this shape, e.g. 8x16")
    parser.add_argument("--force", action="store_true", help="with init: overwrite PATH")
    parser.add_argument("--json", action="store_true",
                        help="print sweep.json (or the dry-run plan) to stdout")
    parser.add_argument("-q", "--quiet", action="store_true", help="only errors")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def _init(args: argparse.Namespace, ui) -> int:
    from edgenn.core import BadInputError, write_text_atomic
    from edgenn.sweep.spec import EXAMPLE

    path = Path(args.path or "sweep.toml")
    if path.exists() and not args.force:
        raise BadInputError(f"{path} exists (use --force to overwrite)")
    write_text_atomic(path, EXAMPLE)
    ui.status(f"wrote {path}: edit it, then `edgenn sweep {path} --dry-run`")
    return 0


def _cluster(text: str | None) -> tuple[int, int] | None:
    from edgenn.core import BadInputError

    if text is None:
        return None
    match = re.fullmatch(r"\s*(\d+)\s*[x×]\s*(\d+)\s*", text)
    if not match or min(int(match[1]), int(match[2])) < 1:
        raise BadInputError(f"--plan-for {text!r}: give NODESxCPUS, e.g. 8x16")
    return int(match[1]), int(match[2])


def execute(args: argparse.Namespace, ui) -> int:
    from edgenn.core import BadInputError
    from edgenn.sweep import INSTALL, execute, load_sweep, ray_available
    from edgenn.sweep.dryrun import dry_run, dry_run_text
    from edgenn.sweep.summary import markdown, summarize, write_summary

    if args.sweep == "init":
        return _init(args, ui)
    if args.path is not None:
        raise BadInputError(f"unexpected argument {args.path!r} (only `init` takes a PATH)")
    if args.plan_for and not args.dry_run:
        raise BadInputError("--plan-for describes a dry run: add --dry-run")
    if args.sequential and args.address:
        raise BadInputError("--sequential and --address exclude each other")
    sweep = load_sweep(args.sweep)
    if args.dry_run:
        plan = dry_run(sweep, args.out, address=args.address, cluster=_cluster(args.plan_for))
        if args.json:
            ui.emit_json(plan)
        elif not args.quiet:
            print(dry_run_text(plan))
        return 0
    if not args.sequential and not args.address and not ray_available():
        ui.status(f"Ray is not installed: the points run here, one after another "
                  f"(for parallel and cluster sweeps: {INSTALL})")
    points = len(sweep.points())
    with ui.progress("sweep", points) as advance:
        def on_result(result: dict) -> None:
            advance(info=f"{result['key']} {result['status']}")

        outcome = execute(sweep, args.out, address=args.address,
                          use_ray=False if args.sequential else None,
                          retry_failed=args.retry_failed, on_result=on_result)
    summary = summarize(sweep, outcome)
    write_summary(summary, args.out)
    if args.json:
        ui.emit_json(summary, default=str)
    else:
        if not args.quiet:
            print(markdown(summary))
        ui.status(f"wrote {Path(args.out) / 'sweep.md'} and sweep.json")
    return 0 if any(i is not None for i in summary["recommended"].values()) else 3
