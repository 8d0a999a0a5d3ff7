"""tee-llm-prof: what a Trusted Execution Environment costs LLM inference."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("tee-llm-prof")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+src"
