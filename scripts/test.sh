#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the whole test suite: fast tier, integration (real vLLM CPU,
# ground-truth SSE server, real service) and slow tests. Extra arguments go to pytest, e.g.
#   scripts/test.sh -m "not integration and not slow"     # the fast tier only (< 2 min)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
