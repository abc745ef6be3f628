#!/usr/bin/env bash
# Installs agreid's build and run dependencies from Debian 12 packages (idempotent; as root).
# Only what is missing is installed; nothing is downloaded from anywhere but the package
# registry.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git
  libtorch-dev libopenblas0-pthread
  libopenmpi-dev openmpi-bin
  libhdf5-dev libssl-dev libtomlplusplus-dev nlohmann-json3-dev
  libgtest-dev libturbojpeg0-dev libjpeg62-turbo-dev zlib1g-dev libtiff-dev libpng-dev
  python3 python3-torch python3-torchvision python3-h5py python3-numpy python3-pil
  clang-format
)
if [[ "${AGREID_WITH_SLURM:-0}" == 1 ]]; then
  packages+=(slurm-wlm slurm-client munge libpmix-dev)
fi
# The test suite's sanitizer and fuzzing stage: clang with its sanitizer and libFuzzer runtimes.
if [[ "${AGREID_WITH_CLANG:-0}" == 1 ]]; then
  packages+=(clang libclang-rt-14-dev llvm-14)  # llvm-14: llvm-symbolizer for readable reports
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: missing packages and not root; run: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian's LibTorch runs on the reference BLAS (about 20x slower) unless the OpenBLAS pthread
# variant is the selected libblas.so.3.
if [[ $(id -u) -eq 0 ]]; then
  alt=$(ls /usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3 2>/dev/null || true)
  if [[ -n "$alt" ]]; then
    update-alternatives --set libblas.so.3-x86_64-linux-gnu "$alt" >/dev/null 2>&1 || true
  fi
fi
echo "install-deps: all dependencies present"
