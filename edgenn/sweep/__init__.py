"""Sweeps: the search for the best deployable variant over the recipe's own keys.

A sweep file is a recipe whose `[space.*]` keys list the values to try (a grid) or give
distributions (random search). Each point is one `edgenn run` into `OUT/points/<key>/`,
keyed by the hash of its inputs, so a rerun skips finished points. Points run on Ray when
it is installed (a local instance, or a cluster with `address`), else one after another
here. The summary holds every point as rows, the Pareto front over accuracy, latency and
size per target, and the recommended variant per target under the accuracy budget.

This package drives `edgenn.run` (the pipeline, `build_config`, the recipe keys); nothing
in `edgenn.run` imports it.
"""

from edgenn.sweep.execute import INSTALL, Outcome, execute, ray_available
from edgenn.sweep.spec import Point, Sweep, SweepSettings, load_sweep, parse_sweep

__all__ = ["INSTALL", "Outcome", "Point", "Sweep", "SweepSettings", "execute", "load_sweep",
           "parse_sweep", "ray_available"]
