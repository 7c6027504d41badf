#!/usr/bin/env bash
# Runs every benchmark case on the Swift stack and on Python PyTorch (the peer), each case in its own
# process, on this machine in one run; prints a Markdown table with time ratios (peer / Swift: above 1
# means Swift is faster) and each side's peak RSS. Each case runs ROUNDS times per side, alternating
# which side goes first, and each side's best median is compared (this VM's speed drifts by ~10%).
#   bash bench/run.sh [ITERS] [ROUNDS]     (make bench installs python3-torch/torchvision first)
set -euo pipefail
cd "$(dirname "$0")/.."
iters=${1:-20}
rounds=${2:-2}
export AIDETECT_THREADS=${AIDETECT_THREADS:-$(nproc)}
swift build -c release --product aidetect-bench >/dev/null
bin=.build/release/aidetect-bench
cases=(cnn32_train_b64 fgsm_b64 resnet18_infer_b8_224 resnet50_infer_b8_224 vit_small_infer_b8_224 gemm_2048 loader_b64_64)
# loader_b64_64 reads ../shared/data/bench256.tar (or $BENCH_DATA); it is skipped when that is absent.
export BENCH_DATA=${BENCH_DATA:-../shared/data/bench256.tar}
declare -A target=([vit_small_infer_b8_224]=0.9 [loader_b64_64]=0.9)
echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); threads: $AIDETECT_THREADS; iterations: $iters (median), best of $rounds rounds"
echo "LibTorch $(dpkg-query -W -f='${Version}' libtorch-dev) for both sides; peer: Python $(/usr/bin/python3 -c 'import sys;print(sys.version.split()[0])') + torch $(/usr/bin/python3 -c 'import torch;print(torch.__version__)')"
echo
echo "| case | Swift ms | PyTorch ms | ratio (PyTorch/Swift) | target | Swift peak RSS MB | PyTorch peak RSS MB | note |"
echo "|---|---:|---:|---:|---:|---:|---:|---|"
fail=0
for c in "${cases[@]}"; do
  if [ "$c" = loader_b64_64 ] && [ ! -f "$BENCH_DATA" ]; then
    echo "| $c | | | | | | | skipped: $BENCH_DATA not found |"; continue
  fi
  n=$iters
  case $c in resnet50*|vit*) n=$(( iters / 2 > 5 ? iters / 2 : 5 ));; esac
  runs=()
  for ((r = 0; r < rounds; r++)); do
    if ((r % 2 == 0)); then
      runs+=("$($bin "$c" --iters "$n")" "$(/usr/bin/python3 bench/peer.py "$c" --iters "$n")")
    else
      runs+=("$(/usr/bin/python3 bench/peer.py "$c" --iters "$n")" "$($bin "$c" --iters "$n")")
    fi
  done
  /usr/bin/python3 - "${target[$c]:-1.0}" "${runs[@]}" <<'PY' || fail=1
import json, sys
t = float(sys.argv[1])
rows = [json.loads(a) for a in sys.argv[2:]]
best = lambda side: min((r for r in rows if r["side"] == side), key=lambda r: r["median_ms"])
s, p = best("swift"), best("python")
r = p["median_ms"] / s["median_ms"]
note = ""
if "gflops" in s:
    note = f"{s['gflops']:.1f} vs {p['gflops']:.1f} GFLOP/s"
if "images_per_s" in s:
    note = (f"{s['images_per_s']:.0f} vs {p['images_per_s']:.0f} images/s, {s['workers']:.0f} worker threads vs processes"
            f" (PyTorch workers' peak RSS {p.get('workers_peak_rss_mb', 0):.0f} MB more)")
print(f"| {s['case']} | {s['median_ms']:.2f} | {p['median_ms']:.2f} | {r:.3f} | {t:.1f} | {s['peak_rss_mb']:.0f} | {p['peak_rss_mb']:.0f} | {note} |")
sys.exit(0 if r >= t else 1)
PY
done
echo
[ $fail -eq 0 ] && echo "All ratios meet their targets." || echo "Some ratios are below target (see table)."
