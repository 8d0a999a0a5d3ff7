"""Ray placement of load workers and fleet runs (the optional extra ``ray``; docs/cluster.md).

Nothing here imports ray at module import time: :mod:`profiler.cluster.connect` imports it when a
command is given ``--cluster``, so the rest of the tool neither needs nor loads it. Ray only
places processes and carries schedules in and records out; it is never on the request path.
"""
