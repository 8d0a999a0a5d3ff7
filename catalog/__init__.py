"""What the hot path and the profiler share: the plug-in registry and the metric catalogue.

Both ``loadgen`` (which imports nothing from ``profiler``) and ``profiler`` import from here;
nothing here imports either of them.
"""
