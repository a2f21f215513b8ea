#!/usr/bin/env bash
# Installs what rlkd needs to build and test on Debian 12 (run as root).
#   build-essential  the C compiler and make
#   pkg-config       the ABI test reads the installed rlkd.pc
#   libopenblas-dev  the CPU backend's GEMMs (OpenBLAS)
#   libcjson-dev     safetensors headers and saved architectures (JSON)
#   zlib1g-dev       gzip-compressed IDX data sets (MNIST, Fashion-MNIST)
#   valgrind         `make test-valgrind` (memcheck over the unit tests)
#   python3-numpy, python3-torch, python3-torchvision
#                    the PyTorch parity tests (skipped, saying so, without them)
#   dataset-fashion-mnist  the real data of the examples and results
# The CUDA toolkit (nvcc, cudart) is optional: when nvcc is on PATH or in
# /usr/local/cuda, `make` builds the CUDA backend too.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  build-essential pkg-config libopenblas-dev libcjson-dev zlib1g-dev valgrind \
  python3-numpy python3-torch python3-torchvision dataset-fashion-mnist >/dev/null
echo "rlkd dependencies installed"
