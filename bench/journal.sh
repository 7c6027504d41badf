#!/usr/bin/env bash
# The scan journal's cost (issue 14): scans N small images (default 20,000 24x24 PNGs, 1% byte-identical copies)
# with and without --journal, alternating, ROUNDS times each; prints files/s of both, the ratio (journal /
# plain: 1 = free; the target is >= 0.95) and each side's peak RSS, then peak RSS at N/4 files to show that memory
# does not grow with the file count. The model is a LeNet-sized placeholder (--model), so that the journal's
# share of the time is as large as it gets; a last row does 800 of the files with the bundled model.
#   bash bench/journal.sh [N] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-20000}
rounds=${2:-2}
swift build -c release --product aidetect >/dev/null
A=$PWD/.build/release/aidetect
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
/usr/bin/python3 - "$W/tree" "$n" <<'PY'
import os, struct, sys, zlib
root, n = sys.argv[1], int(sys.argv[2])
def png(w, h, rows):
    raw = b"".join(b"\x00" + r for r in rows)
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
for i in range(n):
    d = os.path.join(root, f"d{i % 50}")
    os.makedirs(d, exist_ok=True)
    k = i if i % 100 else max(i - 1, 0)   # every 100th file is a copy of the one before
    rows = [bytes(((k * 7 + x * 5 + y * 3 + c * 40) % 256) for x in range(24) for c in range(3)) for y in range(24)]
    rows[0] = bytes([k % 256, (k // 256) % 256]) + rows[0][2:]
    open(os.path.join(d, f"img{i}.png"), "wb").write(png(24, 24, rows))
PY
"$A" init-model lenet_baseline --output "$W/lenet.safetensors" --placeholder >/dev/null
MODEL=$W/lenet.safetensors
run() {  # label, files root, extra args -> "seconds rss_kb"
  local log=$W/time.log
  /usr/bin/time -v "$A" scan "$2" --model "$MODEL" --csv --quiet "${@:3}" >/dev/null 2>"$log" || true
  awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, t, ":"); s = (n == 3 ? t[1] * 3600 + t[2] * 60 + t[3] : t[1] * 60 + t[2]) }
              /Maximum resident set size/ { r = $2 } END { print s, r }' "$log"
}
best_plain=1e9; best_journal=1e9
for ((r = 0; r < rounds; r++)); do
  rm -f "$W"/j*.journal*
  read -r tp rp < <(run plain "$W/tree")
  read -r tj rj < <(run journal "$W/tree" --journal "$W/j$r.journal")
  best_plain=$(/usr/bin/python3 -c "print(min($best_plain, $tp))"); best_journal=$(/usr/bin/python3 -c "print(min($best_journal, $tj))")
done
# Memory against the file count: a quarter of the tree (the first 13 of 50 folders) with the journal.
mkdir -p "$W/quarter"; for d in $(seq 0 12); do ln -s "$W/tree/d$d" "$W/quarter/d$d"; done
read -r tq rq < <(run quarter "$W/quarter" --journal "$W/q.journal")
/usr/bin/python3 - "$n" "$best_plain" "$best_journal" "$rp" "$rj" "$rq" <<'PY'
import sys
n, tp, tj, rp, rj, rq = int(sys.argv[1]), *map(float, sys.argv[2:])
print(f"| files | plain files/s | journal files/s | ratio (journal/plain) | target | plain peak RSS MB | journal peak RSS MB | journal peak RSS MB at about {13 * n // 50} files |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|")
print(f"| {n} | {n / tp:.0f} | {n / tj:.0f} | {tp / tj:.3f} | 0.95 | {rp / 1024:.0f} | {rj / 1024:.0f} | {rq / 1024:.0f} |")
PY
# The same with the bundled model (EfficientNet-Lite0 at 224 px, what `bundled` scores with) on 800 of the files.
mkdir -p "$W/small"; for d in 0 1; do ln -s "$W/tree/d$d" "$W/small/d$d"; done
MODEL=bundled
rm -f "$W"/b.journal*
read -r bp bpr < <(run plain "$W/small")
read -r bj bjr < <(run journal "$W/small" --journal "$W/b.journal")
/usr/bin/python3 - "$bp" "$bj" "$bpr" "$bjr" <<'PY'
import sys
tp, tj, rp, rj = map(float, sys.argv[1:])
print(f"| 800 (bundled model) | {800 / tp:.0f} | {800 / tj:.0f} | {tp / tj:.3f} | 0.95 | {rp / 1024:.0f} | {rj / 1024:.0f} | |")
PY
