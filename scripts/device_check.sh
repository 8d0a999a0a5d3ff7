#!/usr/bin/env bash
# GPU device check for telemetry + CC validation (issue 6). Under 5 minutes on one H100/H200.
#
#   OUT=/tmp/out scripts/device_check.sh          (on the device machine $OUT is set for you)
#
# Writes to $OUT (at most 8 files):
#   nvml_capture.json  real NVML answers in the replay format: commit as tests/fixtures/nvml/
#   env.json           the environment fingerprint
#   validate.json      CC-mode checks with the bandwidth probe (exit code inside)
#   sampler.json       NVML sampler under idle → bf16 matmul load → idle: busy fraction, energy,
#                      fields supported/unavailable, the sampler's own CPU cost
#   bandwidth.json     pinned H2D/D2H GB/s at 16 MiB … 1 GiB
#   steps.json         each step: exit code and seconds (a failed step never stops the script)
#   log.txt            stderr of every step, nvidia-smi, the gpu suite and the vLLM check
#
# Knobs (environment): PYTHON (default python3), SAMPLER_SECONDS (20), IDLE_SECONDS (3),
# SKIP_STEPS (space-separated step names to skip, e.g. "suite_gpu vllm").
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
LOG="$OUT/log.txt"
: >"$LOG"
STEPS=()

step() {  # step NAME TIMEOUT_S OUTFILE CMD...: run, record rc and seconds, never abort
  local name=$1 limit=$2 outfile=$3
  shift 3
  case " ${SKIP_STEPS:-} " in *" $name "*)
    echo "=== $name: skipped (SKIP_STEPS)" >>"$LOG"
    STEPS+=("{\"step\":\"$name\",\"rc\":null,\"seconds\":0,\"skipped\":true}")
    return ;;
  esac
  local t0 rc
  t0=$(date +%s.%N)
  echo "=== $name: $*" >>"$LOG"
  if [ "$outfile" = "-" ]; then
    timeout "$limit" "$@" >>"$LOG" 2>&1
  else
    timeout "$limit" "$@" >"$OUT/$outfile" 2>>"$LOG"
  fi
  rc=$?
  local secs
  secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')
  echo "=== $name: rc=$rc in ${secs}s" >>"$LOG"
  STEPS+=("{\"step\":\"$name\",\"rc\":$rc,\"seconds\":$secs}")
}

step nvidia_smi 30 - nvidia-smi -q
step nvidia_smi_cc 30 - nvidia-smi conf-compute -q
step nvml_capture 60 - "$PY" -m profiler.telemetry.replay --capture "$OUT/nvml_capture.json" --seconds 3
step env 60 env.json "$PY" scripts/device_check.py env
step validate 120 validate.json "$PY" scripts/device_check.py validate --expect on
step sampler 90 sampler.json "$PY" scripts/device_check.py sampler \
  --seconds "${SAMPLER_SECONDS:-20}" --idle "${IDLE_SECONDS:-3}"
step bandwidth 120 bandwidth.json "$PY" scripts/device_check.py bandwidth
# Other engineers' GPU checks: run when present, tolerate failure.
step suite_gpu 120 - "$PY" -m profiler.cli suite gpu --label device --out "$(mktemp -d)"
if [ -x scripts/device_check_vllm.sh ]; then
  step vllm 240 - env OUT="$(mktemp -d)" scripts/device_check_vllm.sh
fi

{
  echo "["
  for i in "${!STEPS[@]}"; do
    [ "$i" -gt 0 ] && echo ","
    echo "${STEPS[$i]}"
  done
  echo "]"
} >"$OUT/steps.json"
cat "$OUT/steps.json"
exit 0
