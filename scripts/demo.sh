#!/usr/bin/env bash
# The main job on a fresh machine: create .venv, install tee-llm-prof with the vLLM CPU build,
# profile the embedded tiny model (real vLLM, a model generated here), print where results are.
# Both controls run against the one launched server:
#   - on and off are that server directly: an A/A, whose CIs are the noise floor;
#   - ref reaches it through the in-repo proxy at zero cost, injected through the same proxy
#     adding 250 µs per streamed event; the chain off → ref → injected splits the proxy's own
#     effect (ref vs off) from the injected cost (injected vs ref: about +12% TPOT, 250 µs on a
#     ~2.06 ms TPOT), which the profile must find inside its CI.
#   scripts/demo.sh                          # defaults of tiny-llama in models.yaml
#   scripts/demo.sh --num-requests 32        # any `tee-llm-prof profile` option passes through
#   DEMO_OUT=/tmp/demo scripts/demo.sh       # results elsewhere (default: results/)
#   DEMO_PER_EVENT_US=500 scripts/demo.sh    # another injected cost
set -euo pipefail
cd "$(dirname "$0")/.."
SETUP_SKIP_APT=1 scripts/setup.sh

out="${DEMO_OUT:-results}"
id="demo-$(date -u +%Y%m%dT%H%M%SZ)"
cost="per_event_us=${DEMO_PER_EVENT_US:-250}"
echo "==> tee-llm-prof --model tiny-llama, controls: A/A and +$cost (starting vLLM CPU takes ~20 s)"
.venv/bin/tee-llm-prof --model tiny-llama --inject ref=off:per_event_us=0 --inject "injected=off:$cost" \
  --chain off,ref,injected --out "$out" --profile-id "$id" "$@"

dir="$out/$id"
runs=$(find "$dir/runs" -mindepth 1 -maxdepth 1 -type d | wc -l)
echo
echo "==> results: $dir"
echo "    profile.json           what ran: the legs, load points, run directories, comparisons"
echo "    runs/ ($runs run directories)  per leg and block: manifest.json, requests.parquet, summary.json"
echo "    compare/*/on-vs-off/        the A/A: overheads with 95% CIs that should contain 0"
echo "    compare/*/injected-vs-ref/  the positive control: TPOT up by the injected cost, TTFT not"
echo "    compare/*/ref-vs-off/       what the proxy itself does (why the control has a reference)"
[ -f "$dir/report.html" ] && echo "    report.html, report.md  the report; open report.html in a browser"
echo "    what each output means: README.md"
