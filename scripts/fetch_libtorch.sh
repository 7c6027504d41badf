#!/usr/bin/env bash
# Fetches aidetect's engine: the LibTorch inside the pinned PyPI `torch` wheel (headers, libtorch_cpu, libc10, the
# wheel's own OpenMP runtime) and the two small CUDA runtime libraries that libtorch_cpu.so names even on a machine
# without a GPU (libcudart, libcupti), into .cache/libtorch/. No Python import is needed: the wheels are fetched with
# `pip download` (hashes checked against scripts/libtorch.lock) and unzipped. Package.swift compiles and links
# against .cache/libtorch (or $AIDETECT_LIBTORCH) and records it as the binaries' run path.
#   scripts/fetch_libtorch.sh          the CPU engine (about 560 MB of wheels, 470 MB unpacked)
#   scripts/fetch_libtorch.sh cuda     + libtorch_cuda and the CUDA libraries the wheel depends on (cuBLAS, cuDNN,
#                                        NCCL, ...; several GB), so that a machine with an NVIDIA GPU and driver runs on it
# The layout mirrors the wheel (torch/include, torch/lib, nvidia/*/lib), so the wheel's own run paths resolve.
set -euo pipefail
cd "$(dirname "$0")/.."
root=${AIDETECT_LIBTORCH:-.cache/libtorch}
lock=scripts/libtorch.lock
wheels=.cache/wheels
want_cuda=0
for a in "$@"; do
  case "$a" in
    cuda) want_cuda=1 ;;
    *) echo "fetch_libtorch: unknown argument '$a' (cuda)" >&2; exit 64 ;;
  esac
done

# The stamp says which lock (and which groups) the unpacked tree came from; a changed pin re-fetches.
stamp="$(sha256sum "$lock" | cut -c1-16) cuda=$want_cuda"
if [ -f "$root/STAMP" ] && { [ "$(cat "$root/STAMP")" = "$stamp" ] ||
     { [ $want_cuda -eq 0 ] && [ "$(cat "$root/STAMP")" = "${stamp% *} cuda=1" ]; }; }; then
  exit 0
fi

pip_download() {  # group: lines of the lock tagged with it
  local req
  req=$(mktemp)
  awk -v g="$1" '$1 == "#group" { on = ($2 == g) ; next } on && NF' "$lock" > "$req"
  # The wheels carry native libraries only; pin the platform so that the interpreter doing the download does not matter.
  python3 -m pip download -q --no-deps --require-hashes --only-binary=:all: --python-version 3.11 \
    --implementation cp --abi cp311 --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_25_x86_64 --platform manylinux_2_18_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux_2_12_x86_64 \
    --platform manylinux2010_x86_64 --platform manylinux_2_5_x86_64 --platform manylinux1_x86_64 \
    -d "$wheels" -r "$req" || { rm -f "$req"; return 1; }
  rm -f "$req"
}

mkdir -p "$wheels"
echo "fetch_libtorch: fetching the pinned torch wheel (LibTorch) from PyPI into $wheels" >&2
pip_download cpu
[ $want_cuda -eq 1 ] && pip_download cuda

tmp="$root.partial"
rm -rf "$tmp"
mkdir -p "$tmp"
torch_whl=$(ls "$wheels"/torch-"$(awk '/^torch==/ { split($1, v, "=="); print v[2] }' "$lock")"-cp311-*.whl)
cpu_libs=('torch/lib/libtorch_cpu.so' 'torch/lib/libc10.so' 'torch/lib/libgomp.so.1')
cuda_libs=('torch/lib/libtorch_cuda.so' 'torch/lib/libc10_cuda.so' 'torch/lib/libtorch_cuda_linalg.so'
           'torch/lib/libtorch_nvshmem.so' 'torch/lib/libcaffe2_nvrtc.so')
members=('torch/include/*' 'torch/version.py' "${cpu_libs[@]}")
[ $want_cuda -eq 1 ] && members+=("${cuda_libs[@]}")
unzip -q -o "$torch_whl" "${members[@]}" -d "$tmp"
for w in "$wheels"/nvidia_cuda_runtime-*.whl "$wheels"/nvidia_cuda_cupti-*.whl; do
  unzip -q -o "$w" 'nvidia/*' -d "$tmp"
done
if [ $want_cuda -eq 1 ]; then
  awk '$1 == "#group" { on = ($2 == "cuda"); next } on && NF { split($1, v, "=="); print v[1] }' "$lock" |
    while read -r name; do
      for w in "$wheels"/"$(echo "$name" | tr - _)"-*.whl; do unzip -q -o "$w" 'nvidia/*' -d "$tmp" 2>/dev/null || true; done
    done
fi
version=$(sed -n "s/^__version__ = '\(.*\)'/\1/p" "$tmp/torch/version.py")
rm -rf "$root"
mv "$tmp" "$root"
echo "$stamp" > "$root/STAMP"
echo "fetch_libtorch: LibTorch $version in $root ($(du -sh "$root" | cut -f1))" >&2
