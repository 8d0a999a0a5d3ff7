"""Is confidential computing really on? A registry of checks, each pass/fail/unknown with a reason."""

from profiler.validate.checks import CHECKS, EXIT_FAILS, EXIT_HOLDS, EXIT_NO_GPU, Context, validate

__all__ = ["CHECKS", "EXIT_FAILS", "EXIT_HOLDS", "EXIT_NO_GPU", "Context", "validate"]
