"""The hot path: an engine-agnostic OpenAI-streaming load generator.

Nothing here imports from ``profiler``: the load generator must stay small, fast and testable
on its own (DESIGN §2, §8.1).
"""
