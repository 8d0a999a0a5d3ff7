#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the whole test suite: fast tier, integration (real vLLM CPU,
# ground-truth SSE server, real service) and slow tests. Extra arguments go to pytest, e.g.
#   scripts/test.sh -m "not integration and not slow"     # the fast tier only (< 2 min)
set -euo pipefail
cd "$(dirname "$0")/.."
SETUP_EXTRAS="${SETUP_EXTRAS:-cpu,dev,ray}" scripts/setup.sh  # ray: the cluster tests (a real Ray cluster)
exec .venv/bin/python -m pytest "$@"
