#!/usr/bin/env bash
# Issue 13's GPU check, for a machine with an NVIDIA GPU and driver (the workplace's lent device): installs the CUDA
# libraries of the pinned torch wheel, builds, runs the GPU tests (skipped everywhere else), and times the default
# model's encoder on CUDA against the CPU, writing everything to ${OUT:-results/gpu-check}/.
#   bash scripts/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-results/gpu-check}
mkdir -p "$out"
nvidia-smi > "$out/nvidia-smi.txt" 2>&1 || echo "nvidia-smi failed (no driver?)" >> "$out/nvidia-smi.txt"
bash scripts/fetch_libtorch.sh cuda
swift build --build-tests 2>&1 | tail -3
.build/debug/aidetect --version | tee "$out/version.txt"
# The GPU tests, then the whole suite with CUDA as the default device (every trainer and detector test on the GPU).
swift test --skip-build --disable-xctest --filter "EngineTests|DeviceTests|ScriptAndDeviceTests" 2>&1 | tee "$out/gpu-tests.txt" | tail -5
swift test --skip-build --disable-xctest 2>&1 | tee "$out/suite-on-cuda.txt" | tail -3
swift build -c release --product aidetect-bench 2>&1 | tail -1
for c in clip_b16_infer_b1 clip_b16_infer_b8 resnet50_infer_b8_224; do
  for d in cuda cpu; do
    AIDETECT_DEVICE=$d .build/release/aidetect-bench "$c" --iters 10 | tee -a "$out/bench.jsonl"
  done
done
echo "gpu_check: results in $out"
