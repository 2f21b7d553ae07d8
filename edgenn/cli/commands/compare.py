"""`edgenn compare`: two reports side by side with deltas, regressions highlighted."""

from __future__ import annotations

import argparse

HELP = "compare two report.json files (before and after a change), regressions in red"
DESCRIPTION = """\
Compare two edgenn reports row by row, matched by (target, variant): accuracy and
agreement deltas in percentage points, p50 latency as a ratio and in percent, size and
peak memory deltas. A row is a regression when its accuracy fell by more than
--accuracy-threshold percentage points, its p50 grew by more than --latency-threshold
percent, its size grew by more than --size-threshold percent, or it was ok and is not
any more. Rows in only one report are shown as added or removed.

A and B are report.json files or the build directories that hold them.

Exit codes: 0 done (regressions or not) · 2 a file is missing or not a report of this
version · 3 regressions found and --fail-on-regression given (a measured goal not met,
as with the accuracy budget of `edgenn run`).

Examples:
  edgenn compare before/report.json after/report.json
  edgenn compare before after --latency-threshold 5 --fail-on-regression
  edgenn compare before after --json > delta.json
"""

EXIT_REGRESSION = 3


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("before", metavar="A", help="the earlier report.json (or its folder)")
    parser.add_argument("after", metavar="B", help="the later report.json (or its folder)")
    parser.add_argument("--accuracy-threshold", type=float, default=0.5, metavar="PP",
                        help="accuracy drop, in percentage points, that counts as a "
                             "regression (default: %(default)s)")
    parser.add_argument("--latency-threshold", type=float, default=10.0, metavar="PCT",
                        help="p50 latency growth, in percent, that counts as a regression "
                             "(default: %(default)s)")
    parser.add_argument("--size-threshold", type=float, default=0.0, metavar="PCT",
                        help="size growth, in percent, that counts as a regression "
                             "(default: %(default)s: any growth)")
    parser.add_argument("--fail-on-regression", action="store_true",
                        help="exit with code 3 when any row regressed")
    parser.add_argument("--json", action="store_true",
                        help="print the comparison as JSON to stdout (the table goes to "
                             "stderr)")
    parser.add_argument("--wide", action="store_true",
                        help="every column (by default secondary columns are dropped to "
                             "fit the terminal, $COLUMNS, or 100 when piped)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no table, only errors")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def execute(args: argparse.Namespace, ui) -> int:
    import sys

    from edgenn.report.compare import CompareThresholds, compare_reports, rich_table
    from edgenn.report.files import load_report

    thresholds = CompareThresholds(accuracy_pp=args.accuracy_threshold,
                                   latency_pct=args.latency_threshold,
                                   size_pct=args.size_threshold)
    before, after = load_report(args.before), load_report(args.after)
    comparison = compare_reports(before, after, thresholds)
    if args.json:
        ui.emit_json(comparison.to_dict())
    ui.print(rich_table(comparison, names=(args.before, args.after), width=ui.out.width,
                        wide=ui.wide))
    count = len(comparison.regressions)
    if count and args.fail_on_regression:
        print(f"edgenn: {count} regression(s): "
              + ", ".join(row.label for row in comparison.regressions), file=sys.stderr)
        return EXIT_REGRESSION
    return 0
