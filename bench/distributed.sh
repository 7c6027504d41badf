#!/usr/bin/env bash
# bench/distributed: training on 1 process against 2 processes (c10d, Gloo over loopback) on this machine, one run.
#   1. train: the CIFAKE CNN (3 conv layers of 32 filters, 64 px input) on bench256 capped at CAP images per
#      generator, EPOCHS epochs, global batch 32: `aidetect train` (all cores) against `aidetect launch --nproc 2 --
#      train` (half the cores each); images/s from the logs, wall time, peak RSS (the largest process), and the
#      largest parameter difference between the two runs' final weights;
#   2. train-probe's embedding: EfficientNet-Lite0 features of wild-train (490 images, copied to a fresh path so
#      that nothing is cached), 1 process against 2.
# The two sides alternate twice and each keeps its best time, as this VM's speed drifts.
#   bash bench/distributed.sh            (needs ../shared/data: bench256.tar, wild-train.tar)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data}
CAP=${CAP:-200}
EPOCHS=${EPOCHS:-2}
[ -f "$DATA/bench256.tar" ] || { echo "bench/distributed: $DATA/bench256.tar is missing" >&2; exit 1; }
swift build -c release --product aidetect >/dev/null
A=$PWD/.build/release/aidetect
W=$(mktemp -d)
trap 'rm -rf "$W"; rm -f .cache/features/efficientnet_lite0-wild-bench-*' EXIT
N=$(nproc)
common=(--model cifake_cnn --conv-layers 3 --filters 32 --dense 64 --input-size 64 --data "$DATA/bench256.tar" --cap "$CAP"
        --epochs "$EPOCHS" --batch-size 32 --checkpoint-minutes 60)
for round in 1 2; do
  rm -rf "$W/one" "$W/two"
  /usr/bin/time -v "$A" train "${common[@]}" --output "$W/one" > "$W/one-$round.log" 2> "$W/one-$round.time"
  /usr/bin/time -v "$A" launch --nproc 2 -- train "${common[@]}" --output "$W/two" > "$W/two-$round.log" 2> "$W/two-$round.time"
done
cp "$W/two/checkpoint.safetensors" "$W/two.safetensors"; cp "$W/one/checkpoint.safetensors" "$W/one.safetensors"

cp "$DATA/wild-train.tar" "$W/wild-bench.tar"
probe=(--data "$W/wild-bench.tar" --backbone efficientnet_lite0 --weights .cache/pretrained/efficientnet-lite0.pth --output "$W/p.safetensors")
for round in 1 2; do
  rm -f .cache/features/efficientnet_lite0-wild-bench-*
  /usr/bin/time -v "$A" train-probe "${probe[@]}" > /dev/null 2> "$W/pone-$round.time"
  rm -f .cache/features/efficientnet_lite0-wild-bench-*
  /usr/bin/time -v "$A" launch --nproc 2 -- train-probe "${probe[@]}" > /dev/null 2> "$W/ptwo-$round.time"
done

/usr/bin/python3 - "$W" "$N" "$CAP" "$EPOCHS" <<'PY'
import json, re, struct, sys, subprocess
w, n, cap, epochs = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
def wall(f):
    for line in open(f):
        if "Elapsed (wall" in line:
            parts = [float(p) for p in line.rsplit(" ", 1)[1].strip().split(":")]
            s = 0
            for p in parts: s = s * 60 + p
            return s
def rss(f):
    for line in open(f):
        if "Maximum resident" in line: return int(line.split()[-1]) // 1024
def ips(f):
    v = [float(m) for m in re.findall(r"([0-9.]+) img/s", open(f).read())]
    return sum(v) / len(v) if v else float("nan")
def tensors(path):
    b = open(path, "rb").read(); k = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + k]); base = 8 + k; out = {}
    for name, m in h.items():
        if name == "__metadata__" or not name.startswith("model.") or m["dtype"] != "F32": continue
        s, e = m["data_offsets"]; out[name] = struct.unpack(f"<{(e - s) // 4}f", b[base + s:base + e])
    return out
a, b = tensors(f"{w}/one.safetensors"), tensors(f"{w}/two.safetensors")
diff = max(max(abs(x - y) for x, y in zip(a[k], b[k])) for k in a)
t1 = min(wall(f"{w}/one-{r}.time") for r in (1, 2)); t2 = min(wall(f"{w}/two-{r}.time") for r in (1, 2))
print("# bench/distributed\n")
print(f"Machine: {n} cores. 1 process uses {n} LibTorch threads; 2 processes (aidetect launch --nproc 2) use {max(1, n // 2)} each.\n")
print("| job | 1 process | 2 processes | speed-up (1 / 2) | peak RSS 1 / 2 (largest process) |")
print("|---|---:|---:|---:|---|")
print(f"| train cifake_cnn 64 px, bench256 capped at {cap}/generator, {epochs} epochs, batch 32 | {t1:.1f} s ({ips(f'{w}/one-1.log'):.0f} img/s) | "
      f"{t2:.1f} s ({ips(f'{w}/two-1.log'):.0f} img/s) | {t1 / t2:.2f} | {rss(f'{w}/one-1.time')} / {rss(f'{w}/two-1.time')} MB |")
p1 = min(wall(f"{w}/pone-{r}.time") for r in (1, 2)); p2 = min(wall(f"{w}/ptwo-{r}.time") for r in (1, 2))
print(f"| train-probe EfficientNet-Lite0 on wild-train (490 images, nothing cached) | {p1:.1f} s | {p2:.1f} s | {p1 / p2:.2f} | "
      f"{rss(f'{w}/pone-1.time')} / {rss(f'{w}/ptwo-1.time')} MB |")
print(f"\nLargest difference between the final weights of the 1- and 2-process training runs: {diff:.2e} "
      "(AdamW; the same global batches, summed in another order).")
PY
