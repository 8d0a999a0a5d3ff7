"""GPU measurement logic the ``gpu`` suite runs: timing, copy sweep and its fit, launches, matmul.

Only :mod:`profiler.gpu.ops` imports torch; everything else works on the small interface it
exposes (a host clock, a synchronize, optional CUDA events, callables that enqueue work), so the
measurement logic is tested on a CPU against a simulated device with known costs.
"""
