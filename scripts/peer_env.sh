#!/usr/bin/env bash
# The Python peers of the benchmarks and of the fixture generator, in .cache/venv-peer: Python torch of exactly the
# engine's version (scripts/libtorch.lock), the torchvision built for it, timm (the Swin reference layout), ONNX Runtime (the INT8 CLIP peer) and Pillow.
# The product never imports Python; only `make bench` and `make fixtures` use this.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.cache/venv-peer
torch_version=$(awk '/^torch==/ { split($1, v, "=="); print v[2] }' scripts/libtorch.lock)
pins=("torch==$torch_version" "torchvision==0.29.2" "timm==1.0.31" "onnxruntime==1.32.0" "pillow" "numpy")
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import torch, torchvision, timm, onnxruntime, PIL, sys; sys.exit(torch.__version__.split('+')[0] != '$torch_version')" 2>/dev/null; then
  exit 0
fi
echo "peer_env: installing ${pins[*]} into $venv (several GB: the torch wheel brings its CUDA libraries)" >&2
/usr/bin/python3 -m venv "$venv"
# Reuse the wheels scripts/fetch_libtorch.sh already downloaded.
"$venv/bin/python" -m pip install -q --find-links .cache/wheels "${pins[@]}"
"$venv/bin/python" -c "import torch; print('peer_env: Python torch', torch.__version__, 'in $PWD/$venv')" >&2
