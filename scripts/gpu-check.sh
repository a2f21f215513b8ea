#!/usr/bin/env bash
# The GPU check: on a machine with an NVIDIA GPU and the CUDA toolkit, build
# with CUDA and run every test in tests/gpu (each compares CUDA ops with the
# CPU reference), the DLPack tests (C, and PyTorch CUDA tensors through the
# Python package where torch sees the GPU). Writes the report to stdout and, if $OUT is set, to
# $OUT/gpu-report.txt. Exit status: 0 when every GPU test passed.
set -u
cd "$(dirname "$0")/.."
report=${OUT:+$OUT/gpu-report.txt}
{
  echo "== rlkd GPU check, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1
  nvcc --version | tail -1
  make -j"$(nproc)" CUDA=1 BUILD=build/gpu LIBDIR=build/gpu/lib \
    $(ls tests/gpu/test_*.c | sed 's|tests/gpu/\(.*\)\.c|build/gpu/tests/gpu/\1|') \
    build/gpu/tests/test_dlpack \
    >build-gpu.log 2>&1 || { echo "build failed:"; tail -30 build-gpu.log; exit 1; }
  tests/run.sh build/gpu/tests/gpu/test_* build/gpu/tests/test_dlpack
  status=$?
  RLKD_LIBRARY=$PWD/$(ls build/gpu/lib/librlkd.so.*.*.* | head -1) /usr/bin/python3 -m pytest \
    -q -rs -p no:cacheprovider tests/python/test_bindings.py -k gpu || status=1
  exit "$status"
} 2>&1 | tee ${report:-/dev/null}
exit "${PIPESTATUS[0]}"
