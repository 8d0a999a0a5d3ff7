"""Capacity planning: load sweeps, SLO-bound maximum throughput, and GPUs/cost per leg.

- :mod:`points`      a load point (one run directory) reduced to what capacity needs
- :mod:`slo`         SLO parsing and the SLO-bound maximum load, interpolated between points
- :mod:`saturation`  when to stop raising the load on a leg
- :mod:`bootstrap`   CIs carried from the requests of every point to the capacity and its overhead
- :mod:`plan`        replicas, GPUs, cost per hour / per million output tokens, the sentence
- :mod:`sweep`       the driver (both legs, every point one run dir, stop at saturation)
- :mod:`sweepfile`   ``sweep.json``: written by the driver, read back by plan and tables
- :mod:`plots`, :mod:`tables`  the Pareto plot (PNG) and the rich throughput–latency tables

Everything except :mod:`sweep` (which measures) is a pure function of stored run directories.
"""
