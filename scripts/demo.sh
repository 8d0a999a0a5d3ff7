#!/usr/bin/env bash
# The main job on a fresh machine: create .venv, install tee-llm-prof with the vLLM CPU build,
# profile the embedded tiny model (real vLLM, a model generated here), print where results are.
# Both controls run: the TEE-on and TEE-off legs are the same server (an A/A: the noise floor),
# and a third leg reaches it through the in-repo proxy adding 250 µs per streamed event (about
# +10% TPOT: the positive control, which the profile must find inside its CI).
#   scripts/demo.sh                          # defaults of tiny-llama in models.yaml
#   scripts/demo.sh --num-requests 32        # any `tee-llm-prof profile` option passes through
#   DEMO_OUT=/tmp/demo scripts/demo.sh       # results elsewhere (default: results/)
set -euo pipefail
cd "$(dirname "$0")/.."
SETUP_SKIP_APT=1 scripts/setup.sh

out="${DEMO_OUT:-results}"
id="demo-$(date -u +%Y%m%dT%H%M%SZ)"
inject="${DEMO_INJECT:-injected=off:per_event_us=250}"
echo "==> tee-llm-prof --model tiny-llama --inject $inject (starting vLLM CPU takes ~20 s)"
.venv/bin/tee-llm-prof --model tiny-llama --inject "$inject" --out "$out" --profile-id "$id" "$@"

dir="$out/$id"
runs=$(find "$dir/runs" -mindepth 1 -maxdepth 1 -type d | wc -l)
echo
echo "==> results: $dir"
echo "    profile.json           what ran: both legs, load points, run directories, comparisons"
echo "    runs/ ($runs run directories)  per leg and repeat: manifest.json, requests.parquet, summary.json"
echo "    compare/*/on-vs-off/        the A/A: overheads with 95% CIs that should contain 0"
echo "    compare/*/injected-vs-off/  the positive control: TPOT should rise by the injected ~10%"
[ -f "$dir/report.html" ] && echo "    report.html, report.md  the report; open report.html in a browser"
echo "    what each output means: README.md"
