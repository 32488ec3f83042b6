#!/usr/bin/env bash
# Installs everything this project needs on a Debian 12 machine, idempotently:
#   1. Debian packages (Bazel 4.2.3 and its rule packages, Abseil, Protobuf, GoogleTest,
#      Google Benchmark, libpng, libjpeg-turbo, Gloo headers, Fashion-MNIST);
#   2. LibTorch, from PyPI's torch==2.11.0 wheel, into a per-machine cache keyed by version;
#   3. the datasets (CIFAR-10, Penn-Fudan, a 1,000-image ImageNet sample), from a mirror folder or
#      their official sources.
#
# Usage: tools/setup.sh [--data-mirror DIR] [--skip-data] [--help]
# The cache lives in $MOCO_CACHE (default ~/.cache/moco-cpp); a second clone reuses it.
set -euo pipefail

TORCH_VERSION=2.11.0
TORCHVISION_VERSION=0.26.0
# Two CUDA header sets that LibTorch's CUDA headers include but the wheels torch pulls in lack:
# crt/ (cuda_runtime.h includes crt/host_config.h) and CCCL (cuda_fp16.h includes <nv/target>).
# These wheels carry them for the CUDA 13.0 of torch's cu130 build, so the CUDA configuration
# compiles on machines without NVIDIA's toolkit.
CUDA_CRT_VERSION=13.0.88
CUDA_CCCL_VERSION=13.0.85
PYCOCOTOOLS_VERSION=2.0.10  # the reference the detection AP is tested against
TENSORBOARD_VERSION=2.21.0  # its event reader checks the event files the runs write
CACHE="${MOCO_CACHE:-$HOME/.cache/moco-cpp}"
DATA_MIRROR=""
SKIP_DATA=0

usage() {
  sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
  case "$1" in
    --data-mirror) DATA_MIRROR="${2:?--data-mirror needs a folder}"; shift 2 ;;
    --data-mirror=*) DATA_MIRROR="${1#*=}"; shift ;;
    --skip-data) SKIP_DATA=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "setup.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

say() { printf '[setup] %s\n' "$*"; }
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

# --- 1. Debian packages -----------------------------------------------------------------
PACKAGES=(
  build-essential g++ git ca-certificates curl python3 python3-venv pkg-config
  bazel-bootstrap bazel-rules-java bazel-platforms
  libabsl-dev libprotobuf-dev protobuf-compiler
  libgtest-dev libgmock-dev libbenchmark-dev
  libpng-dev libjpeg62-turbo-dev libgloo-dev zlib1g-dev
  nlohmann-json3-dev libtinyxml2-dev gnuplot-nox
  dataset-fashion-mnist
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  say "Debian packages: all ${#PACKAGES[@]} present"
fi

# --- 2. LibTorch from the torch wheel ------------------------------------------------------
VENV="$CACHE/torch-$TORCH_VERSION"
STAMP="$VENV/.moco-installed-crt$CUDA_CRT_VERSION-cccl$CUDA_CCCL_VERSION-coco$PYCOCOTOOLS_VERSION-tb$TENSORBOARD_VERSION"
if [ -f "$STAMP" ]; then
  say "LibTorch $TORCH_VERSION: cached in $VENV"
else
  say "installing torch==$TORCH_VERSION torchvision==$TORCHVISION_VERSION into $VENV (about 4.7 GB, a few minutes)"
  mkdir -p "$CACHE"
  [ -x "$VENV/bin/pip" ] || /usr/bin/python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check \
    "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION" "nvidia-cuda-crt==$CUDA_CRT_VERSION" \
    "nvidia-cuda-cccl==$CUDA_CCCL_VERSION" "pycocotools==$PYCOCOTOOLS_VERSION" \
    "tensorboard==$TENSORBOARD_VERSION"
  "$VENV/bin/python" -c "import torch; print('[setup] torch', torch.__version__)"
  touch "$STAMP"
fi
TORCH_DIR=$(ls -d "$VENV"/lib/python3*/site-packages/torch | head -1)
say "LibTorch headers and libraries: $TORCH_DIR"

# --- 3. Datasets ---------------------------------------------------------------------------
DATA="$CACHE/data"
CIFAR_SHA=45b041e867f5a40f79bfde38d3dd1fd511103d50068c1afecf6445e25234d4db
PENN_SHA=e2993bee0a93dcdf669855b6940ffb2fed6c13273177224389bb37a89687eac7
CIFAR_BIN_MD5=c32a1d4ab5d03f1284b67883e8d87530
IMAGENET_SAMPLE_SHA=7b4004ab95d857215af1f6d91826e69594bd6fcf7c801fb8f04d42f99cd0d228
IMAGENET_SAMPLE_COMMIT=bc69043e2862758a1906c6a24a792bb28c6bb2ff

# fetch_from_mirror NAME SHA256 DEST MARKER: copies NAME from the mirror, checks its
# checksum and unpacks it into $DATA/DEST, unless $DATA/MARKER already exists.
fetch_from_mirror() {
  local name="$1" sha="$2" dest="$3" marker="$4"
  if [ -e "$DATA/$marker" ]; then say "dataset $name: present"; return; fi
  local src="$DATA_MIRROR/$name"
  [ -f "$src" ] || { echo "setup.sh: $src not found in --data-mirror" >&2; exit 1; }
  say "dataset $name: verifying and unpacking from $DATA_MIRROR"
  echo "$sha  $src" | sha256sum --check --quiet - \
    || { echo "setup.sh: checksum mismatch for $src" >&2; exit 1; }
  # Unpack beside the destination and rename, so an interrupted run leaves no half dataset.
  rm -rf "$DATA/.partial" && mkdir -p "$DATA/.partial"
  tar -xzf "$src" -C "$DATA/.partial"
  mkdir -p "$(dirname "$DATA/$dest")"
  rm -rf "$DATA/$dest" && mv "$DATA/.partial" "$DATA/$dest"
}

# imagenet_sample_folders FLAT: lays the 1,000 ImageNet sample JPEGs of FLAT
# (<wnid>_<name>.JPEG) out as $DATA/imagenet-sample/train/<wnid>/<file>, one class folder per
# wnid (the smoke tests' ImageFolder; its test split is the same folder), and removes FLAT.
imagenet_sample_folders() {
  local flat="$1" out="$DATA/imagenet-sample"
  rm -rf "$out.partial" && mkdir -p "$out.partial/train"
  local f name
  for f in "$flat"/*.JPEG; do
    name=$(basename "$f")
    mkdir -p "$out.partial/train/${name%%_*}"
    mv "$f" "$out.partial/train/${name%%_*}/$name"
  done
  [ "$(ls "$out.partial/train" | wc -l)" -eq 1000 ] \
    || { echo "setup.sh: the ImageNet sample does not hold 1,000 classes" >&2; exit 1; }
  rm -rf "$flat" "$out" && mv "$out.partial" "$out"
}

fetch_official() {
  # CIFAR-10 in its official binary format and Penn-Fudan from its authors' site.
  if [ ! -e "$DATA/cifar-10-batches-bin/test_batch.bin" ]; then
    say "dataset CIFAR-10: downloading the official binary version"
    curl -fL --retry 3 -o "$DATA/cifar-10-binary.tar.gz" \
      https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz
    echo "$CIFAR_BIN_MD5  $DATA/cifar-10-binary.tar.gz" | md5sum --check --quiet -
    tar -xzf "$DATA/cifar-10-binary.tar.gz" -C "$DATA" && rm "$DATA/cifar-10-binary.tar.gz"
  else
    say "dataset CIFAR-10 (binary): present"
  fi
  if [ ! -e "$DATA/pennfudan/PennFudanPed/Annotation" ]; then
    say "dataset Penn-Fudan: downloading from its authors' site"
    mkdir -p "$DATA/pennfudan"
    curl -fL --retry 3 -o "$DATA/pennfudan/PennFudanPed.zip" \
      https://www.cis.upenn.edu/~jshi/ped_html/PennFudanPed.zip
    (cd "$DATA/pennfudan" && python3 -m zipfile -e PennFudanPed.zip . && rm PennFudanPed.zip)
  else
    say "dataset Penn-Fudan: present"
  fi
  if [ ! -e "$DATA/imagenet-sample/train" ]; then
    say "dataset ImageNet sample (1,000 JPEGs, one per class): downloading"
    curl -fL --retry 3 -o "$DATA/imagenet-sample.tar.gz" \
      "https://github.com/EliSchwartz/imagenet-sample-images/archive/$IMAGENET_SAMPLE_COMMIT.tar.gz"
    rm -rf "$DATA/.partial" && mkdir -p "$DATA/.partial"
    tar -xzf "$DATA/imagenet-sample.tar.gz" -C "$DATA/.partial" && rm "$DATA/imagenet-sample.tar.gz"
    imagenet_sample_folders "$DATA/.partial/imagenet-sample-images-$IMAGENET_SAMPLE_COMMIT"
  else
    say "dataset ImageNet sample: present"
  fi
}

if [ "$SKIP_DATA" -eq 1 ]; then
  say "datasets: skipped (--skip-data)"
else
  mkdir -p "$DATA"
  if [ -n "$DATA_MIRROR" ]; then
    fetch_from_mirror cifar10-jpeg.tar.gz "$CIFAR_SHA" cifar10-jpeg cifar10-jpeg/test
    fetch_from_mirror pennfudan.tar.gz "$PENN_SHA" pennfudan pennfudan/PennFudanPed/Annotation
    if [ ! -e "$DATA/imagenet-sample/train" ]; then
      fetch_from_mirror imagenet-sample.tar.gz "$IMAGENET_SAMPLE_SHA" imagenet-sample-flat imagenet-sample/train
      imagenet_sample_folders "$DATA/imagenet-sample-flat/imagenet-sample"
      rm -rf "$DATA/imagenet-sample-flat"
    else
      say "dataset imagenet-sample.tar.gz: present"
    fi
  else
    fetch_official
  fi
  rm -rf "$DATA/.partial"
  say "datasets in $DATA; Fashion-MNIST in /usr/share/datasets/fashion-mnist"
fi
say "done"
