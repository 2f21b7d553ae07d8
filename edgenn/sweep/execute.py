"""Running a sweep's points: on Ray when it is installed, else one after another here.

On Ray each point is a task holding one CPU (builds run in parallel, one per CPU). Its
timed measurement is a second task, on the same node (the artifacts are there), that
holds the node's custom resource `edgenn_timing` (1 per node) and every CPU of the node,
so on a node one timed measurement runs at a time and never beside a build; it is pinned
to the first `threads` cores it may use. The point task waits for it without holding its
CPU (Ray lends a blocked task's CPU back). At most one point per CPU is in flight, so a
waiting measurement is never starved by a queue of builds.

A worker that dies mid-point is retried (`max_retries`); a point whose worker keeps dying
is a failed row. Ctrl-C cancels what is in flight and removes unfinished point
directories: only finished results stay, and a rerun runs exactly the rest.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgenn.core import BadInputError, prepare_out_dir
from edgenn.sweep.points import (
    finished_keys,
    read_result,
    remove_unfinished,
    run_point,
    write_result,
)
from edgenn.sweep.spec import Point, Sweep

log = logging.getLogger(__name__)

TIMING = "edgenn_timing"  # custom resource: one timed measurement per node at a time
INSTALL = 'pip install "edgenn[sweep]"'


def ray_available() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass
class Outcome:
    """What a sweep did: every point's result (plan order) and which ran now."""

    results: list[dict[str, Any]]
    ran: list[str] = field(default_factory=list)  # keys built and measured by this call
    skipped: list[str] = field(default_factory=list)  # keys finished before
    backend: str = "sequential"
    seconds: float = 0.0


def execute(sweep: Sweep, out: str | Path, *, address: str | None = None,
            use_ray: bool | None = None, retry_failed: bool = False,
            on_result: Callable[[dict[str, Any]], None] | None = None) -> Outcome:
    """Run every point of `sweep` not finished in `out`; return all their results.

    `use_ray`: None uses Ray when installed; False runs here, one point after another;
    True requires Ray. `address` joins an existing cluster (else a local instance sized to
    this machine is started and stopped here)."""
    out = prepare_out_dir(Path(out))
    if use_ray is None:
        use_ray = ray_available() or address is not None
    if use_ray and not ray_available():
        raise BadInputError(f"Ray is not installed: {INSTALL}")
    points = sweep.points()
    done = finished_keys(out, retry_failed)
    remove_unfinished(out, keep=done)
    todo = [p for p in points if p.key not in done]
    started = time.perf_counter()
    report = on_result or (lambda _: None)
    if todo and use_ray:
        _on_ray(todo, out, sweep.settings.max_retries, address, report)
    else:
        for point in todo:
            report(run_point(point, out))
    results = [read_result(out, p.key) for p in points]
    return Outcome(results=[r for r in results if r is not None],
                   ran=[p.key for p in todo], skipped=[p.key for p in points if p.key in done],
                   backend="ray" if use_ray else "sequential",
                   seconds=time.perf_counter() - started)


# ---------------------------------------------------------------------------------------
# Ray
# ---------------------------------------------------------------------------------------


def connect(address: str | None) -> bool:
    """Start a local Ray sized to this machine (True: stop it afterwards), or join the
    cluster at `address`, whose nodes must each offer the `edgenn_timing` resource."""
    import ray

    quiet = dict(include_dashboard=False, log_to_driver=False,
                 logging_level=logging.ERROR)
    if address is None:
        ray.init(num_cpus=os.cpu_count() or 1, resources={TIMING: 1}, **quiet)
        return True
    try:
        ray.init(address=address, **quiet)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise BadInputError(f"cannot join the Ray cluster at {address}: {exc}") from None
    lacking = [n["NodeManagerAddress"] for n in ray.nodes()
               if n.get("Alive") and n["Resources"].get(TIMING) != 1]
    if lacking:
        ray.shutdown()
        raise BadInputError(
            f"Ray node(s) {', '.join(lacking)} lack the {TIMING} resource: start each node "
            f"with `ray start ... --resources='{{\"{TIMING}\": 1}}'` so that timed "
            "measurements never share a node")
    return False


def _on_ray(todo: Sequence[Point], out: Path, max_retries: int, address: str | None,
            report: Callable[[dict[str, Any]], None]) -> None:
    import ray

    started_here = connect(address)
    pending: dict[Any, Point] = {}
    try:
        task = ray.remote(_point_task).options(num_cpus=1, max_retries=max_retries,
                                               retry_exceptions=False)
        window = max(1, int(ray.cluster_resources().get("CPU", 1)))
        queue = list(todo)
        while queue or pending:
            while queue and len(pending) < window:
                point = queue.pop(0)
                pending[task.remote(point, str(out), max_retries)] = point
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                point = pending.pop(ref)
                try:
                    result = ray.get(ref)
                    if read_result(out, point.key) is None:  # built on another machine
                        write_result(out, result)
                except ray.exceptions.RayError as exc:  # its worker kept dying
                    result = {"key": point.key, "values": point.values,
                              "recipe": point.recipe, "status": "failed", "report": None,
                              "reason": f"{type(exc).__name__} after {max_retries} "
                                        f"retries: {str(exc).strip().splitlines()[0][:300]}"}
                    write_result(out, result)
                report(result)
    except KeyboardInterrupt:
        for ref in pending:
            ray.cancel(ref, force=True)
        raise
    finally:
        if started_here:
            ray.shutdown()
        if pending:  # interrupted: nothing unfinished stays
            remove_unfinished(out, keep=finished_keys(out))


def _point_task(point: Point, out: str, max_retries: int) -> dict[str, Any]:
    """A Ray task: one point, its timed measurement sent to the node's timing slot."""
    measure = _NodeTiming(max_retries)
    return run_point(point, Path(out), measure_rows=measure)


class _NodeTiming:
    """`Hooks.measure_rows` for a Ray task: the rows are measured by a task that holds
    this node's timing resource and all its CPUs (see the module docstring)."""

    def __init__(self, max_retries: int) -> None:
        self.max_retries = max_retries

    def __call__(self, jobs: Sequence[Any], isolate: bool = True,
                 on_row: Callable[[Any], None] | None = None) -> list:
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        node = ray.get_runtime_context().get_node_id()
        cpus = next(n["Resources"].get("CPU", 1) for n in ray.nodes() if n["NodeID"] == node)
        task = ray.remote(_measure_task).options(
            num_cpus=cpus, resources={TIMING: 1}, max_retries=self.max_retries,
            scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False))
        rows = ray.get(task.remote(list(jobs), isolate))
        for row in rows:
            if on_row:
                on_row(row)
        return rows


def _measure_task(jobs: list, isolate: bool) -> list:
    """Measure the rows pinned to the first `threads` cores this worker may use."""
    from edgenn.run.harness import measure_all

    threads = max((job.latency.threads for job in jobs), default=1)
    allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if allowed:
        os.sched_setaffinity(0, allowed[:threads])
    try:
        rows = measure_all(jobs, isolate=isolate)
        for row in rows:  # where it was timed: the report says so
            row.extra["timing_slot"] = {"cores": allowed[:threads], "pid": os.getpid()}
        return rows
    finally:
        if allowed:
            os.sched_setaffinity(0, allowed)
