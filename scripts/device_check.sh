#!/usr/bin/env bash
# GPU device check: NVML capture, CC validation, the gpu suite, the NVML sampler under load and
# a vLLM smoke run, in under 8 minutes on one H100/H200 (a global deadline caps every step).
#
#   OUT=/tmp/out scripts/device_check.sh          (on the device machine $OUT is set for you)
#   DRY_RUN=1 OUT=/tmp/plan scripts/device_check.sh   (write the plan to steps.json, run nothing)
#
# Writes to $OUT (7 files; the device runner brings back at most 8):
#   nvml_capture.json  real NVML answers in the replay format: commit as tests/fixtures/nvml/
#   env.json           the environment fingerprint
#   validate.json      CC-mode checks with the bandwidth probe (exit code inside)
#   suite_gpu.json     the gpu suite run (manifest with the CC state, every result row, fits):
#                      commit as tests/fixtures/gpu/ (tests/test_gpu_capture.py checks it)
#   sampler.json       NVML sampler under idle → bf16 matmul load → idle: busy fraction, energy,
#                      fields supported/unavailable, the sampler's own CPU cost
#   steps.json         each step: exit code, seconds and time limit (a failed step never stops
#                      the script)
#   log.txt            stderr of every step, nvidia-smi, the vLLM check
#
# Knobs (environment): PYTHON (default python3), DEADLINE_S (470: the whole script),
# SUITE_BUDGET_S (150), SAMPLER_SECONDS (15), IDLE_SECONDS (2), SUITE_ARGS (extra gpu-suite
# options, e.g. "--copy-max 256M"), SKIP_STEPS (space-separated step names, e.g. "vllm").
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
LOG="$OUT/log.txt"
DEADLINE_S=${DEADLINE_S:-470}
DRY=${DRY_RUN:-0}
: >"$LOG"
STEPS=()
T_START=$(date +%s.%N)
DRY_ELAPSED=0  # a dry run assumes the worst: every step uses its whole limit

elapsed() {
  if [ "$DRY" = "1" ]; then echo "$DRY_ELAPSED"; return; fi
  awk -v a="$T_START" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}'
}

left_s() { awk -v d="$DEADLINE_S" -v e="$(elapsed)" 'BEGIN{printf "%d", d-e-5}'; }

step() {  # step NAME TIMEOUT_S OUTFILE CMD...: run, record rc and seconds, never abort
  local name=$1 limit=$2 outfile=$3
  shift 3
  local left
  left=$(left_s)
  [ "$left" -lt "$limit" ] && limit=$left
  if [ "$DRY" = "1" ]; then
    local run=true
    if [ "$limit" -lt 10 ]; then run=false; limit=0; fi
    DRY_ELAPSED=$(( DRY_ELAPSED + limit ))
    echo "=== $name (limit ${limit}s, dry run): $*" >>"$LOG"
    STEPS+=("{\"step\":\"$name\",\"rc\":null,\"seconds\":0,\"limit\":$limit,\"outfile\":\"$outfile\",\"dry_run\":true,\"runs\":$run}")
    return
  fi
  case " ${SKIP_STEPS:-} " in *" $name "*)
    echo "=== $name: skipped (SKIP_STEPS)" >>"$LOG"
    STEPS+=("{\"step\":\"$name\",\"rc\":null,\"seconds\":0,\"limit\":$limit,\"skipped\":true}")
    return ;;
  esac
  if [ "$limit" -lt 10 ]; then
    echo "=== $name: skipped (only ${left}s left of DEADLINE_S=$DEADLINE_S)" >>"$LOG"
    STEPS+=("{\"step\":\"$name\",\"rc\":null,\"seconds\":0,\"limit\":$limit,\"skipped\":true,\"reason\":\"deadline\"}")
    return
  fi
  local t0 rc
  t0=$(date +%s.%N)
  echo "=== $name (limit ${limit}s): $*" >>"$LOG"
  if [ "$outfile" = "-" ]; then
    timeout "$limit" "$@" >>"$LOG" 2>&1
  else
    timeout "$limit" "$@" >"$OUT/$outfile" 2>>"$LOG"
  fi
  rc=$?
  local secs
  secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')
  echo "=== $name: rc=$rc in ${secs}s" >>"$LOG"
  STEPS+=("{\"step\":\"$name\",\"rc\":$rc,\"seconds\":$secs,\"limit\":$limit}")
}

# Budgets (s): expected duration on an H200 in brackets. The CC facts come first.
step nvidia_smi 15 - nvidia-smi -q                                            # [2]
step nvidia_smi_cc 15 - nvidia-smi conf-compute -q                            # [1]
step nvml_capture 30 - "$PY" -m profiler.telemetry.replay --capture "$OUT/nvml_capture.json" --seconds 3  # [6]
step env 30 env.json "$PY" scripts/device_check.py env                        # [3]
step validate 60 validate.json "$PY" scripts/device_check.py validate --expect on  # [15]
# The suite sizes its copy sweep to its budget, so it must get a budget that fits the time left.
suite_budget=${SUITE_BUDGET_S:-150}
[ $(( $(left_s) - 30 )) -lt "$suite_budget" ] && suite_budget=$(( $(left_s) - 30 ))
# shellcheck disable=SC2086  # SUITE_ARGS is a list of options
step suite_gpu $(( suite_budget + 30 )) suite_gpu.json "$PY" scripts/device_check.py suite-gpu \
  --budget-s "$suite_budget" -- ${SUITE_ARGS:-}                              # [100-150]
step sampler 45 sampler.json "$PY" scripts/device_check.py sampler \
  --seconds "${SAMPLER_SECONDS:-15}" --idle "${IDLE_SECONDS:-2}"              # [25]
# Last: the vLLM smoke run gets what is left of the deadline (about 4 minutes).
if [ -x scripts/device_check_vllm.sh ]; then
  step vllm 240 - env OUT="$(mktemp -d)" scripts/device_check_vllm.sh         # [120-240]
fi

{
  echo "["
  for i in "${!STEPS[@]}"; do
    [ "$i" -gt 0 ] && echo ","
    echo "${STEPS[$i]}"
  done
  echo "]"
} >"$OUT/steps.json"
echo "=== total $(elapsed)s of DEADLINE_S=$DEADLINE_S" >>"$LOG"
cat "$OUT/steps.json"
exit 0
