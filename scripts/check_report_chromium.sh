#!/usr/bin/env bash
# Look at a report the way a person would: render report.html in headless Chromium to a PNG.
#
#   scripts/check_report_chromium.sh out/cmp/report.html [shot.png] [height_px]
#
# Networking is off and every host name is unresolvable, so what you see is what the file
# itself contains (the report must be self-contained). Needs Debian's chromium:
#   apt-get update && apt-get install -y chromium
set -euo pipefail
html=${1:?usage: $0 REPORT.html [SHOT.png] [HEIGHT_PX]}
shot=${2:-${html%.html}.png}
height=${3:-3000}
browser=$(command -v chromium || command -v chromium-browser || true)
if [[ -z "$browser" ]]; then
  echo "error: chromium not found; install it with: apt-get install -y chromium" >&2
  exit 2
fi
[[ -f "$html" ]] || { echo "error: $html does not exist" >&2; exit 2; }
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
timeout 120 "$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --host-resolver-rules="MAP * ~NOTFOUND" --user-data-dir="$profile" \
  --screenshot="$(realpath -m "$shot")" --window-size="1400,$height" \
  "file://$(realpath "$html")" 2>/dev/null
echo "screenshot: $shot (1400x$height)"
