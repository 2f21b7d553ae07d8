"""`edgenn sweep --dry-run`: the plan of a sweep and how its work would be split, without
building anything.

Builds take one CPU each, so a cluster runs as many at once as it has CPUs; each point's
timed measurement runs on the node that built it, alone on that node (it holds the node's
`edgenn_timing` slot and all its CPUs). Points are spread over nodes in proportion to
their CPUs, which is where Ray's scheduler puts one-CPU tasks on an otherwise idle cluster.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from pathlib import Path
from typing import Any

from edgenn.run.recipe import build_config
from edgenn.sweep.execute import ray_available
from edgenn.sweep.points import finished_keys
from edgenn.sweep.spec import Sweep


def node_cpus(address: str | None, cluster: tuple[int, int] | None) -> tuple[list[int], str]:
    """CPUs per node, and where that came from: a given shape, the cluster at `address`,
    or this machine."""
    if cluster is not None:
        nodes, cpus = cluster
        return [cpus] * nodes, f"assumed: {nodes} node(s) × {cpus} CPUs"
    if address is not None:
        import ray

        from edgenn.sweep.execute import connect

        connect(address)
        try:
            cpus = [int(n["Resources"].get("CPU", 0)) for n in ray.nodes() if n.get("Alive")]
        finally:
            ray.shutdown()
        return cpus, f"the Ray cluster at {address}"
    cpus = os.cpu_count() or 1
    if not ray_available():
        return [1], "this machine, sequential (Ray is not installed)"
    return [cpus], f"this machine: a local Ray with {cpus} CPUs"


def dry_run(sweep: Sweep, out: str | Path, *, address: str | None = None,
            cluster: tuple[int, int] | None = None) -> dict[str, Any]:
    points = sweep.points()
    done = finished_keys(Path(out)) if Path(out).is_dir() else set()
    todo = [p for p in points if p.key not in done]
    cpus, source = node_cpus(address, cluster)
    total = sum(cpus) or 1
    # spread points over nodes in proportion to their CPUs (largest remainders)
    shares = [len(todo) * c / total for c in cpus]
    counts = [math.floor(s) for s in shares]
    for i in sorted(range(len(cpus)), key=lambda i: counts[i] - shares[i])[
            :len(todo) - sum(counts)]:
        counts[i] += 1
    rows_per_point = Counter()
    for point in todo[:50]:  # the row count depends on targets and variants only
        config = build_config(point.recipe, out=".")
        variants = len(config.compression.variants) if config.compression else 0
        rows_per_point[len(config.target_names) * (1 + variants)] += 1
    most_rows = max(rows_per_point, default=0)
    return {
        "points": len(points), "finished": len(points) - len(todo), "to_run": len(todo),
        "method": sweep.settings.method,
        "swept": {name: len({repr(p.values[name]) for p in points}) for name in sweep.space},
        "machines": source, "build_slots": total,
        "build_waves": math.ceil(len(todo) / total) if todo else 0,
        "rows_per_point_at_most": most_rows,
        "nodes": [{"node": i, "cpus": c, "points": n, "builds_at_once": c,
                   "timed_measurements": n, "timed_rows_at_most": n * most_rows}
                  for i, (c, n) in enumerate(zip(cpus, counts, strict=True))],
        "first_points": [{"key": p.key, **p.values} for p in todo[:5]],
    }


def dry_run_text(plan: dict[str, Any]) -> str:
    swept = ", ".join(f"{name} ({count} values)" for name, count in plan["swept"].items())
    lines = [f"{plan['points']} points ({plan['method']} over {swept}); "
             f"{plan['finished']} finished already, {plan['to_run']} to run",
             f"machines: {plan['machines']}",
             f"builds: {plan['build_slots']} at once (one CPU each), "
             f"{plan['build_waves']} wave(s); each point measures at most "
             f"{plan['rows_per_point_at_most']} rows",
             "timed measurements: one node at a time each, on the node that built the point"]
    for node in plan["nodes"]:
        lines.append(f"  node {node['node']}: {node['cpus']} CPUs, {node['points']} points "
                     f"→ {node['timed_measurements']} timed measurements "
                     f"(≤ {node['timed_rows_at_most']} rows), one after another")
    return "\n".join(lines)
