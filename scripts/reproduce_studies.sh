#!/usr/bin/env bash
# Reproduces issue 4's numbers on 2 CPU cores (each step resumes where an interrupted run stopped):
#   1. synth: DCGAN, SNGAN, WGAN-GP and a DDPM trained on the 59,000 CIFAR-10 reals (1,000 held out), then
#      5,000 fakes each (one JPEG q75 pass, saved as PNG, like the JPEG q75 CIFAR reals) and 20,000 reals as PNG;
#   2. the Frechet score (EfficientNet-Lite0 features) of each generator against 1,000 held-out reals;
#   3. study crossgen over the 4 synthesised generators and 3 from bench256, 2 seeds;
#   4. study fewshot for 2 held-out generators;
#   5. study search (the 36-network CIFAKE topology search) and study baselines on the synthesised set
#      (1,500 images per generator, balanced).
# Outputs: .cache/synth-cifar (the set, outside git) and results/ (JSON, Markdown, HTML).
# Needs ../shared/data, a release build (swift build -c release) and scripts/fetch_pretrained.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
# AIDETECT: another binary (e.g. a copy, so that rebuilding does not disturb a long run).
A=${AIDETECT:-.build/release/aidetect}
DATA=${DATA:-../shared/data}
SYNTH=${SYNTH:-.cache/synth-cifar}
STEP=${1:-all}

if [[ $STEP == all || $STEP == synth ]]; then
  $A synth build --data "$DATA/cifar10.tar.gz" --output "$SYNTH" --width 32 \
    --steps-per dcgan=1000,sngan=800,wgan_gp=250,ddpm=800 --count 5000 --ddim-steps 10 --sample-every 250
fi
if [[ $STEP == all || $STEP == score ]]; then
  bash scripts/fetch_pretrained.sh >/dev/null
  for g in dcgan sngan wgan_gp ddpm; do
    $A synth score --run "$SYNTH/runs/$g" --count 1000 --ddim-steps 10 --snapshots
  done
fi
GENS=dcgan,wgan_gp,sngan,ddpm,sd15-finetune,midjourney-2022,latent-diffusion
if [[ $STEP == all || $STEP == crossgen ]]; then
  $A study crossgen --data "$SYNTH/set,$DATA/bench256.tar" --generators $GENS --cap 1000 --epochs 4 \
    --seeds ${SEEDS:-0,1} --output results/crossgen
fi
if [[ $STEP == all || $STEP == fewshot ]]; then
  $A study fewshot --data "$SYNTH/set,$DATA/bench256.tar" --generators $GENS --cap 1000 --epochs 4 \
    --seeds ${SEEDS:-0,1} --held-out sngan,sd15-finetune --shots 0,5,10,50,100,500,1000 --output results/crossgen
fi
if [[ $STEP == all || $STEP == search ]]; then
  # 1,500 images per generator, balanced: 3,000 images (2,100 to train), so the 36 networks fit an hour on 2 cores.
  $A study search --data "$SYNTH/set" --cap 1500 --epochs 5 --output results/search
fi
if [[ $STEP == all || $STEP == baselines ]]; then
  $A study baselines --data "$SYNTH/set" --cap 1500 --epochs 5 --output results/baselines
fi
