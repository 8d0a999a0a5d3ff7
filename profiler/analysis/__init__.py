"""Analysis: overhead with bootstrap CIs, the paper-compatible view, the token-volume law and
data-quality checks. ``compare.compare_runs`` is the entry point; docs/analysis.md explains the
statistics."""
