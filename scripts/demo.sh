#!/usr/bin/env bash
# The main job on a fresh machine: create .venv, install tee-llm-prof with the vLLM CPU build,
# profile the embedded tiny model (real vLLM, a model generated here), print where results are.
#   scripts/demo.sh                          # defaults of tiny-llama in models.yaml
#   scripts/demo.sh --num-requests 32        # any `tee-llm-prof profile` option passes through
#   DEMO_OUT=/tmp/demo scripts/demo.sh       # results elsewhere (default: results/)
set -euo pipefail
cd "$(dirname "$0")/.."
SETUP_SKIP_APT=1 scripts/setup.sh

out="${DEMO_OUT:-results}"
id="demo-$(date -u +%Y%m%dT%H%M%SZ)"
echo "==> tee-llm-prof --model tiny-llama (starting vLLM CPU takes ~1 min)"
.venv/bin/tee-llm-prof --model tiny-llama --out "$out" --profile-id "$id" "$@"

dir="$out/$id"
runs=$(find "$dir/runs" -mindepth 1 -maxdepth 1 -type d | wc -l)
echo
echo "==> results: $dir"
echo "    profile.json           what ran: both legs, load points, run directories, comparisons"
echo "    runs/ ($runs run directories)  per leg and repeat: manifest.json, requests.parquet, summary.json"
echo "    compare/*/comparison.json     overheads with 95% CIs (an A/A calibration here: one engine)"
[ -f "$dir/report.html" ] && echo "    report.html, report.md  the report; open report.html in a browser"
echo "    what each output means: README.md"
