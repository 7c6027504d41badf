#!/usr/bin/env bash
# Reproduces issue 5's numbers (explain, stress, localise) on 2 CPU cores; every step resumes or reuses its cache.
#   robustness          curves on the synthesised 32 px set: cifake_cnn trained without and with each degradation, 3 seeds
#   robustness-default  the bundled default model on bench256's test split under the same degradations
#   attack-default      FGSM and PGD on the bundled default model with bench256 fakes, with and without defences
#   attack              FGSM/PGD/CW on the synthesised set: confusion rates, blur/JPEG defences (plain and adaptive),
#                       transfer across samples, training sets (disjoint halves), architectures (CNN, ResNet-20, ViT),
#                       and an adversarially trained CNN
#   splice / localise   a splice set from bench256 (256 px); unet_small and fcn_resnet50 per pixel; the tile-scan
#                       baseline with the default model, on a second splice set cut from bench256's test split only
#                       (the default model trained on the rest); metrics by area quartile
#   localise-native     issue 16: a native-resolution splice set with real-into-real pastes and JPEG, unet_small at
#                       256 px, its image-level threshold fitted on validation, test figures recorded (EPOCHS=N)
#   localise-clip       issue 16: clip_patch_localiser (a head on frozen CLIP patch tokens) on the same set (EPOCHS=N)
#   boxes               the YOLO-style box detector (issue 19) on the same splice set, and box mAP of it and of
#                       unet_small's regions (run after localise, which trains unet_small)
#   explain             heat maps of the samples with the default model
# Outputs under results/ (JSON, Markdown, HTML). Needs ../shared/data, a release build, and for robustness/attack the
# set of scripts/reproduce_studies.sh synth.
set -euo pipefail
cd "$(dirname "$0")/.."
# AIDETECT: another binary (e.g. a copy, so that rebuilding does not disturb a long run).
A=${AIDETECT:-.build/release/aidetect}
DATA=${DATA:-../shared/data}
TRAIN_SETS="$DATA/bench256.tar,$DATA/wild-train.tar,$DATA/sdxl-fooocus-128.tar"   # what the bundled model trained on
SYNTH=${SYNTH:-.cache/synth-cifar}/set
STEP=${1:-all}
R=results/robustness

if [[ $STEP == all || $STEP == robustness ]]; then
  $A robustness --data "$SYNTH" --degradations blur,jpeg,patch,downsize --seeds 0,1,2 --epochs 4 --cap 1000 --output $R
fi
if [[ $STEP == all || $STEP == robustness-default ]]; then
  $A robustness --data "$DATA/bench256.tar" --detector bundled --degradations blur,jpeg,patch,downsize --seeds 0 --cap 100000 \
    --output results/robustness-default
fi
if [[ $STEP == all || $STEP == attack-default ]]; then
  # The bundled model (EfficientNet-Lite0 at 224 px) on bench256's test fakes: the FGSM budgets and PGD.
  $A attack --models bundled --data "$DATA/bench256.tar" --count 100 --attacks fgsm:0.01,fgsm:0.02,fgsm:0.05,pgd:0.02:10:0.005 \
    --defences none,blur:1,jpeg:75 --output results/attack-default
fi
if [[ $STEP == all || $STEP == attack ]]; then
  M=results/attack-models
  mkdir -p $M
  $A robustness --data "$SYNTH" --degradations blur --seeds 0 --epochs 4 --cap 1000 --output $R >/dev/null  # the data manifest
  MAN=$R/data-seed-0.csv
  # Disjoint halves of the same data for the cross-training-set transfer, cut by a hash of each row's split group
  # (column 6; the id, column 5, for lone images), so no group (near-duplicates) sits in both halves.
  half() {
    awk -F, -v want="$1" 'NR == 1 { print; next }
      { k = ($6 != "" ? $6 : $5); h = 0
        for (i = 1; i <= length(k); i++) h = (h * 31 + index("abcdefghijklmnopqrstuvwxyz0123456789-_./:", substr(k, i, 1))) % 1000003
        if (h % 2 == want) print }' $MAN
  }
  half 0 > $M/half-a.csv
  half 1 > $M/half-b.csv
  train() { [[ -f $M/$1/best.safetensors ]] || $A train --data "$2" --output $M/$1 --augment none --epochs "${4:-6}" --model "$3" "${@:5}" >/dev/null; }
  train cnn $MAN cifake_cnn 6
  train cnn-half-a $M/half-a.csv cifake_cnn 6
  train cnn-half-b $M/half-b.csv cifake_cnn 6
  train resnet20 $MAN resnet20 6
  train vit $MAN vit_tiny_patch4_32 6
  train cnn-adv $MAN cifake_cnn 6 --adversarial-eps 0.01,0.02,0.05
  # The CNN and its adversarially trained twin alone (the FGSM table of docs/research.md; a few minutes).
  $A attack --models $M/cnn/best.safetensors,$M/cnn-adv/best.safetensors --data $MAN --count 200 --output results/attack-cnn
  # All four: transfer across architectures (CW on the ViT takes most of the ~45 minutes).
  $A attack --models $M/cnn/best.safetensors,$M/resnet20/best.safetensors,$M/vit/best.safetensors,$M/cnn-adv/best.safetensors \
    --data $MAN --count 200 --output results/attack
  # Judged on half a's test split: unseen by both halves.
  $A attack --models $M/cnn-half-a/best.safetensors,$M/cnn-half-b/best.safetensors --data $M/half-a.csv --count 200 \
    --attacks fgsm:0.01,fgsm:0.02,fgsm:0.05,pgd:0.02:10:0.005 --defences none --output results/attack-halves
fi
if [[ $STEP == all || $STEP == splice ]]; then
  $A splice --data "$DATA/bench256.tar" --count 600 --size 256 --output .cache/splice-bench256
  # For the tile scan: only images of the bundled model's test split (its three training sets, standard split, seed 0).
  $A splice --data "$TRAIN_SETS" --from-split test --split-seed 0 --count 600 --size 256 --output .cache/splice-default-test
fi
if [[ $STEP == all || $STEP == localise ]]; then
  S=.cache/splice-bench256
  $A localise train --data $S --model unet_small --epochs 10 --input-size 128 --output results/localise/unet_small
  # fcn_resnet50 from scratch is slow on CPU (dilated ResNet-50): 2 epochs over 200 images at 128 px.
  $A localise train --data $S --model fcn_resnet50 --epochs 2 --cap 200 --input-size 128 --batch-size 4 --output results/localise/fcn_resnet50
  $A localise eval --data $S --model results/localise/unet_small/best.safetensors --output results/localise/unet_small
  $A localise eval --data $S --model results/localise/fcn_resnet50/best.safetensors --output results/localise/fcn_resnet50
  # Every image of the test-only set (its own train/test labels only matter to the per-pixel models); --training-data
  # checks again that no real or pasted source is one the default model trained on.
  $A localise eval --data .cache/splice-default-test --split all --model bundled --tile-scan \
    --training-data "$TRAIN_SETS" --training-split-seed 0 --window 64 --stride 32 --output results/localise/tile-scan
fi
if [[ $STEP == all || $STEP == localise-native ]]; then
  # Issue 16: a splice set at native resolution (256 px crops, no resizing) from every generator of the three sets,
  # 25% pristine, a fifth of the rest with a *real* region pasted (empty mask), a JPEG round trip (85-98) on every
  # image, each source in one split; unet_small trained at 256 px, its image-level threshold fitted on validation
  # (at most 5% of untouched images flagged), then scored on the test split and the figures recorded in the file.
  S=.cache/splice-native
  [[ -f $S/manifest.csv ]] || $A splice --data "$TRAIN_SETS" --count 1500 --size 256 --native --pristine 0.25 --real-paste 0.2 --jpeg 85-98 --output $S
  $A localise train --data $S --model unet_small --epochs "${EPOCHS:-10}" --batch-size 8 --input-size 256 --output results/localise/unet_small-native
  $A localise fit-threshold --data $S --model results/localise/unet_small-native/best.safetensors
  $A localise eval --data $S --model results/localise/unet_small-native/best.safetensors --record --output results/localise/unet_small-native
fi
if [[ $STEP == all || $STEP == localise-clip ]]; then
  # Issue 16: the per-pixel head on the default detector's frozen CLIP ViT-B/16 patch tokens (blocks 4, 8, 12), on the
  # same native splice set: tokens embedded once (bf16 where the CPU has it) and cached, the head trained on them,
  # its image-level threshold fitted on validation, then scored on the test split and the figures recorded.
  S=.cache/splice-native
  [[ -f $S/manifest.csv ]] || $A splice --data "$TRAIN_SETS" --count 1500 --size 256 --native --pristine 0.25 --real-paste 0.2 --jpeg 85-98 --output $S
  bash scripts/fetch_pretrained.sh >/dev/null
  P=$(grep -s -q -w -e avx512_bf16 -e amx_bf16 /proc/cpuinfo && echo bf16 || echo fp32)
  $A localise train --data $S --model clip_patch_localiser --weights .cache/pretrained/clip_encoder.int8.onnx --precision $P \
    --epochs "${EPOCHS:-40}" --batch-size 32 --output results/localise/clip_patch-native
  $A localise eval --data $S --model results/localise/clip_patch-native/best.safetensors --record --output results/localise/clip_patch-native
  # The head (with the fitted threshold and the recorded test figures) that `make clip-localiser` assembles.
  $A extract-head --model results/localise/clip_patch-native/best.safetensors --output models/clip_patch_localiser.head.safetensors
fi
if [[ $STEP == all || $STEP == boxes ]]; then
  S=.cache/splice-bench256
  $A localise train --boxes --data $S --epochs 30 --batch-size 16 --input-size 128 --output results/localise/yolo_resnet18
  $A localise eval --boxes --data $S --model results/localise/yolo_resnet18/best.safetensors --output results/localise/yolo_resnet18
  $A localise eval --boxes --data $S --model results/localise/unet_small/best.safetensors --output results/localise/unet_small-boxes
fi
if [[ $STEP == all || $STEP == explain ]]; then
  $A explain samples/*.jpg samples/*.jpeg samples/*.png samples/*.webp --method gradcam,guided,saliency --output results/explain || true
fi
