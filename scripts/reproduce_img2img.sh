#!/usr/bin/env bash
# Study 004 (issue 19): img2img pairs from our DDPM (SDEdit at strengths 0.05 to 0.7) at 32 and 64 px, and
# ResNet-34 trained on paired vs unpaired data of the same size (2 seeds each).
#   Reals: Tiny-ImageNet validation (never seen by the DDPM, which trained on CIFAR-10), 1,200 per size; the 32 px
#   CIFAR DDPM of scripts/reproduce_studies.sh (synth step) edits both sizes (its U-Net is convolutional).
# Outputs: .cache/img2img-{32,64} (the sets) and results/img2img-{32,64}/img2img.{json,md,html}. Each step resumes.
set -euo pipefail
cd "$(dirname "$0")/.."
A=${AIDETECT:-.build/release/aidetect}
DATA=${DATA:-../shared/data}
RUN=${RUN:-.cache/synth-cifar/runs/ddpm}
for s in ${SIZES:-32 64}; do
  echo "=== $(date -u +%T) img2img set, $s px"
  $A synth img2img --run "$RUN" --data "$DATA/tinyimagenet-val.tar.gz" --strength 0.05,0.1,0.2,0.3,0.5,0.7 --size "$s" --count 1200 \
    --ddim-steps 20 --output ".cache/img2img-$s"
  echo "=== $(date -u +%T) study img2img, $s px"
  $A study img2img --data ".cache/img2img-$s/manifest.csv" --model resnet34 --epochs 10 --seeds "${SEEDS:-0,1}" --output "results/img2img-$s"
done
echo "=== $(date -u +%T) done"
