#!/usr/bin/env bash
# Regenerates every study table that issue 17's split fixes changed, in order of how much they moved, one step
# after another (each step resumes where an interrupted run stopped): the synthesised set, crossgen, fewshot, the
# 32 px robustness curves, the splice sets and the tile-scan row, baselines, search. About 4 hours on 2 cores.
# Run it in the background with a copied binary so that rebuilding does not disturb it:
#   cp .build/release/aidetect /tmp/aidetect-run && AIDETECT=/tmp/aidetect-run nohup bash scripts/regenerate_study_tables.sh > regen.log 2>&1 &
set -uo pipefail
cd "$(dirname "$0")/.."
export AIDETECT=${AIDETECT:-.build/release/aidetect}
step() { echo "=== $(date -u +%H:%M:%S) start $*"; "$@"; local rc=$?; echo "=== $(date -u +%H:%M:%S) end rc=$rc $*"; }
step bash scripts/reproduce_studies.sh synth
step bash scripts/reproduce_studies.sh crossgen
step bash scripts/reproduce_studies.sh fewshot
step bash scripts/reproduce_stress.sh robustness
step bash scripts/reproduce_stress.sh splice
step "$AIDETECT" localise eval --data .cache/splice-default-test --split all --model bundled --tile-scan \
  --training-data ../shared/data/bench256.tar,../shared/data/wild-train.tar,../shared/data/sdxl-fooocus-128.tar --training-split-seed 0 --window 64 --stride 32 --output results/localise/tile-scan
step bash scripts/reproduce_studies.sh baselines
step bash scripts/reproduce_studies.sh search
echo "=== done $(date -u +%H:%M:%S)"
