#!/usr/bin/env bash
# Runs every benchmark case on the Swift stack and on Python PyTorch (the peer), each case in its own
# process, on this machine in one run; prints a Markdown table with time ratios (peer / Swift: above 1
# means Swift is faster) and each side's peak RSS. Each case runs ROUNDS times per side, alternating
# which side goes first, and each side's best median is compared (this VM's speed drifts by ~10%).
#   bash bench/run.sh [ITERS] [ROUNDS]     (make bench installs the peers first: scripts/peer_env.sh)
#   CASES="clip_b16_infer_b1 clip_b16_infer_b8" bash bench/run.sh     only those cases (and the ONNX Runtime table)
#   ORT_ONLY=1 ORT_PEER=PYTHON bash bench/run.sh     only the ONNX Runtime table (PYTHON has onnxruntime and numpy)
# The peer is Python torch of exactly the engine's version (.cache/venv-peer, the same pinned wheel whose LibTorch the
# Swift side links); the CLIP cases also run against ONNX Runtime on the INT8 encoder file the default model comes from.
set -euo pipefail
cd "$(dirname "$0")/.."
iters=${1:-20}
rounds=${2:-2}
export AIDETECT_THREADS=${AIDETECT_THREADS:-$(nproc)}
swift build -c release --product aidetect-bench >/dev/null
bin=.build/release/aidetect-bench
cases=(${CASES:-cnn32_train_b64 fgsm_b64 resnet18_infer_b8_224 resnet50_infer_b8_224 vit_small_infer_b8_224 clip_b16_infer_b1 clip_b16_infer_b8 gemm_2048 loader_b64_64})
PEER=${PEER:-.cache/venv-peer/bin/python}
# loader_b64_64 reads ../shared/data/bench256.tar (or $BENCH_DATA); it is skipped when that is absent.
export BENCH_DATA=${BENCH_DATA:-../shared/data/bench256.tar}
declare -A target=([vit_small_infer_b8_224]=0.9 [clip_b16_infer_b1]=0.9 [clip_b16_infer_b8]=0.9 [loader_b64_64]=0.9)
echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); threads: $AIDETECT_THREADS; iterations: $iters (median), best of $rounds rounds"
fail=0
# ORT_ONLY=1: only the ONNX Runtime table (no Python torch needed; ORT_PEER is a Python with onnxruntime).
if [ -n "${ORT_ONLY:-}" ]; then
  cases=()
  echo "Swift: LibTorch $(sed -n "s/^__version__ = '\(.*\)'/\1/p" .cache/libtorch/torch/version.py) (PyPI wheel, scripts/libtorch.lock); the PyPI torch table skipped (ORT_ONLY)"
else
  echo "Swift: LibTorch $(sed -n "s/^__version__ = '\(.*\)'/\1/p" .cache/libtorch/torch/version.py) (PyPI wheel, scripts/libtorch.lock); peer: Python $($PEER -c 'import sys;print(sys.version.split()[0])') + torch $($PEER -c 'import torch;print(torch.__version__)'); precision fp32 unless stated"
  echo
  echo "| case | Swift ms | PyTorch ms | ratio (PyTorch/Swift) | target | Swift peak RSS MB | PyTorch peak RSS MB | note |"
  echo "|---|---:|---:|---:|---:|---:|---:|---|"
fi
for c in "${cases[@]}"; do
  if [ "$c" = loader_b64_64 ] && [ ! -f "$BENCH_DATA" ]; then
    echo "| $c | | | | | | | skipped: $BENCH_DATA not found |"; continue
  fi
  n=$iters
  case $c in resnet50*|vit*|clip*) n=$(( iters / 2 > 5 ? iters / 2 : 5 ));; esac
  runs=()
  for ((r = 0; r < rounds; r++)); do
    if ((r % 2 == 0)); then
      runs+=("$($bin "$c" --iters "$n")" "$($PEER bench/peer.py "$c" --iters "$n")")
    else
      runs+=("$($PEER bench/peer.py "$c" --iters "$n")" "$($bin "$c" --iters "$n")")
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
# The default detector's encoder against ONNX Runtime on the INT8 ONNX file it is imported from (same input shape, same
# threads), the Swift side in fp32, bf16 (--precision bf16: bfloat16 matrix products) and int8 (--precision int8: dynamic
# INT8 Linear layers). The target applies to the precision the default model runs in here: bf16 where its file asks for
# it and the CPU has native bf16 (AVX-512 BF16 or AMX), else fp32. ORT_PEER names another Python with onnxruntime.
ORT_PEER=${ORT_PEER:-$PEER}
if [ -f .cache/pretrained/clip_encoder.int8.onnx ]; then
  # bf16 when the default model's committed head asks for it (aidetect.precision) and this CPU has native bf16.
  asks_bf16=$(/usr/bin/python3 -c 'import json,struct,sys; b=open(sys.argv[1],"rb").read(); n=struct.unpack("<Q",b[:8])[0]; print(int(json.loads(b[8:8+n]).get("__metadata__",{}).get("aidetect.precision")=="bf16"))' models/clip_vit_b16_layers.head.safetensors 2>/dev/null || echo 0)
  native_bf16=$( [ "$asks_bf16" = 1 ] && grep -s -q -w -e avx512_bf16 -e amx_bf16 /proc/cpuinfo && echo 1 || echo 0)
  echo "| case | Swift fp32 ms | Swift bf16 ms | Swift int8 ms | ONNX Runtime INT8 ms | ratio fp32 (ORT/Swift) | ratio bf16 | ratio int8 | target | Swift peak RSS MB (fp32/bf16/int8) | ORT peak RSS MB |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for c in clip_b16_infer_b1 clip_b16_infer_b8; do
    n=$(( iters / 2 > 5 ? iters / 2 : 5 ))
    runs=()
    for ((r = 0; r < rounds; r++)); do
      runs+=("$($bin "$c" --iters "$n" --precision fp32)" "$($ORT_PEER bench/peer_ort.py "$c" --iters "$n")"
             "$($bin "$c" --iters "$n" --precision bf16)" "$($bin "$c" --iters "$n" --precision int8)")
    done
    t=1.0; [ "$c" = clip_b16_infer_b1 ] && t=0.8
    /usr/bin/python3 - "$t" "$native_bf16" "${runs[@]}" <<'PY' || fail=1
import json, sys
t, native = float(sys.argv[1]), sys.argv[2] == "1"
rows = [json.loads(a) for a in sys.argv[3:]]
best = lambda pred: min((r for r in rows if pred(r)), key=lambda r: r["median_ms"])
swift = lambda p: best(lambda r: r["side"] == "swift" and r.get("precision", "fp32") == p)
f, b, q = swift("fp32"), swift("bf16"), swift("int8")
o = best(lambda r: r["side"] == "onnxruntime")
shipped = b if native else f
print(f"| {f['case']} | {f['median_ms']:.1f} | {b['median_ms']:.1f} | {q['median_ms']:.1f} | {o['median_ms']:.1f} | "
      f"{o['median_ms'] / f['median_ms']:.3f} | {o['median_ms'] / b['median_ms']:.3f} | {o['median_ms'] / q['median_ms']:.3f} | "
      f"{t:.1f} ({'bf16' if native else 'fp32'}) | {f['peak_rss_mb']:.0f}/{b['peak_rss_mb']:.0f}/{q['peak_rss_mb']:.0f} | {o['peak_rss_mb']:.0f} |")
sys.exit(0 if o["median_ms"] / shipped["median_ms"] >= t else 1)
PY
  done
  echo
  echo "ONNX Runtime $($ORT_PEER -c 'import onnxruntime; print(onnxruntime.__version__)'); the default model runs $([ "$native_bf16" = 1 ] && echo 'bf16 here (its file asks for it, the CPU has native bf16)' || echo 'fp32 here (its file does not ask for bf16, or the CPU lacks native bf16)')."
  echo "The target applies to the default model's precision here; int8 is opt-in because it moves the default model's"
  echo "features too far (scripts/int8_sensitivity.py)."
else
  echo "CLIP against ONNX Runtime: skipped (.cache/pretrained/clip_encoder.int8.onnx absent: scripts/fetch_pretrained.sh)"
fi
echo
[ $fail -eq 0 ] && echo "All ratios meet their targets." || echo "Some ratios are below target (see table)."
