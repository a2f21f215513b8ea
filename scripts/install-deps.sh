#!/usr/bin/env bash
# Installs what rlkd needs to build and test on Debian 12 (run as root).
#   build-essential  the C compiler and make
#   pkg-config       the ABI test reads the installed rlkd.pc
#   g++, cmake       the C++ example (examples/cpp) is built against the installed
#                    library through pkg-config and CMake's find_package(rlkd)
#   doxygen          `make docs`, the API reference from include/rlkd.h
#   libopenblas-dev  the CPU backend's GEMMs (OpenBLAS)
#   libcjson-dev     safetensors headers and saved architectures (JSON)
#   zlib1g-dev       gzip-compressed IDX data sets (MNIST, Fashion-MNIST)
#   libdlpack-dev    DLPack's own header (dlpack/dlpack.h) for zero-copy tensor exchange
#   libturbojpeg0-dev  JPEG decoding of ImageFolder data sets (libjpeg-turbo's TurboJPEG API)
#   libpng-dev       PNG decoding of ImageFolder data sets
#   valgrind         `make test-valgrind` (memcheck over the unit tests)
#   clang, libclang-rt-14-dev, libomp-dev
#                    `make fuzz`: clang's libFuzzer and sanitizer runtimes
#                    (libclang_rt.fuzzer), and OpenMP for clang's builds
#   python3-numpy, python3-pytest
#                    the Python package's tests (pytest over tests/python)
#   python3-torch, python3-torchvision, python3-onnx
#                    PyTorch parity and export to PyTorch/ONNX (skipped, saying so, without them)
#   python3-pip, python3-setuptools, python3-wheel
#                    `make python` and the test that pip installs the package (offline)
#   dataset-fashion-mnist  the real data of the examples and results
# The CUDA toolkit (nvcc, cudart) is optional: when nvcc is on PATH or in
# /usr/local/cuda, `make` builds the CUDA backend too.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  build-essential pkg-config g++ cmake doxygen libopenblas-dev libcjson-dev zlib1g-dev libdlpack-dev libturbojpeg0-dev libpng-dev valgrind \
  clang libclang-rt-14-dev libomp-dev \
  python3-numpy python3-pytest python3-torch python3-torchvision python3-onnx \
  python3-pip python3-setuptools python3-wheel dataset-fashion-mnist >/dev/null
echo "rlkd dependencies installed"
