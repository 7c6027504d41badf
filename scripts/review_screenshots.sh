#!/usr/bin/env bash
# Screenshots of the review flow on samples/ for docs/screenshots/review/: scan with the bundled model, open the
# review (with a localiser when LOCALISER names one), drive it with scripts/review_browser_test.py.
#   bash scripts/review_screenshots.sh [OUTPUT]      (LOCALISER=FILE AIDETECT=.build/release/aidetect)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-docs/screenshots/review}
bin=${AIDETECT:-.build/release/aidetect}
work=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
"$bin" scan samples --model bundled --json > "$work/results.jsonl" || true   # exit 1-3: flagged or failed files
port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$bin" review open "$work/results.jsonl" --store "$work/review.sqlite" --models bundled --port "$port" \
  ${LOCALISER:+--localiser "$LOCALISER"} 2> "$work/serve.log" &
server=$!
for _ in $(seq 120); do curl -sf "http://127.0.0.1:$port/healthz" > /dev/null && break; sleep 1; done
mkdir -p "$out"
/usr/bin/python3 scripts/review_browser_test.py --url "http://127.0.0.1:$port/review" --output "$work/shots" ${LOCALISER:+--expect-mask} | tee "$work/report.json"
cp "$work"/shots/*.png "$out"/
echo "screenshots in $out"
