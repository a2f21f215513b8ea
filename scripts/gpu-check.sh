#!/usr/bin/env bash
# The GPU check: on a machine with an NVIDIA GPU and the CUDA toolkit, build
# with CUDA and run every test in tests/gpu (each compares CUDA ops with the
# CPU reference), the DLPack tests (C, and PyTorch CUDA tensors through the
# Python package where torch sees the GPU), then the GPU test programs under
# compute-sanitizer where the toolkit has it. Writes the report to stdout and, if $OUT is set, to
# $OUT/gpu-report.txt. Exit status: 0 when every GPU test passed and the
# sanitizers found nothing.
set -u
cd "$(dirname "$0")/.."
report=${OUT:+$OUT/gpu-report.txt}
{
  echo "== rlkd GPU check, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1
  nvcc --version | tail -1
  # The loader's GPU decoding (tests/gpu/test_image_decode_gpu) needs
  # nvJPEG: the toolkit's, or NVJPEG_HOME's (scripts/unpack-nvjpeg.sh makes
  # one of the PyPI wheel nvidia-nvjpeg); without it that test skips.
  if [ -n "${NVJPEG_HOME:-}" ]; then
    echo "== nvJPEG: NVJPEG_HOME=$NVJPEG_HOME"
  elif [ -f "${CUDA_HOME:-/usr/local/cuda}/include/nvjpeg.h" ]; then
    echo "== nvJPEG: the CUDA toolkit's"
  else
    echo "== nvJPEG: none (set NVJPEG_HOME): GPU decoding is not tested"
  fi
  # The communicators' test (tests/gpu/test_comm_gpu) runs NCCL between
  # the GPUs, one rank per GPU, where there are two or more; on one GPU it
  # runs NCCL with one rank and the CPU backend on CUDA tensors only.
  gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')
  if [ "$gpus" -gt 1 ]; then
    echo "== NCCL: $gpus GPUs, one rank each (test_comm_gpu)"
  else
    echo "== NCCL between GPUs: skipped: one GPU"
  fi
  make -j"$(nproc)" CUDA=1 BUILD=build/gpu LIBDIR=build/gpu/lib \
    $(ls tests/gpu/test_*.c | sed 's|tests/gpu/\(.*\)\.c|build/gpu/tests/gpu/\1|') \
    build/gpu/tests/test_dlpack \
    >build-gpu.log 2>&1 || { echo "build failed:"; tail -30 build-gpu.log; exit 1; }
  tests/run.sh build/gpu/tests/gpu/test_* build/gpu/tests/test_dlpack
  status=$?
  RLKD_LIBRARY=$PWD/$(ls build/gpu/lib/librlkd.so.*.*.* | head -1) /usr/bin/python3 -m pytest \
    -q -rs -p no:cacheprovider tests/python/test_bindings.py -k gpu || status=1

  # compute-sanitizer: memcheck (out-of-bounds and misaligned accesses,
  # device memory leaks) on every GPU test program, racecheck (shared-memory
  # hazards) on the kernels' tests. What they find fails the check. They are
  # slow, so together they get RLKD_SANITIZER_SECONDS (default 180; 0 skips
  # them): a run is cut off where that time ends, and reported as cut off
  # (no verdict) rather than failed, so the whole check keeps its budget.
  sanitizer=$(command -v compute-sanitizer ||
              echo "${CUDA_HOME:-/usr/local/cuda}/bin/compute-sanitizer")
  deadline=$((SECONDS + ${RLKD_SANITIZER_SECONDS:-180}))
  sanitize() { # tool, program, extra options...
    local tool=$1 program=$2 left=$((deadline - SECONDS))
    shift 2
    if [ "$left" -lt 10 ]; then
      echo "== compute-sanitizer $tool $(basename "$program"): no time left, skipped"
      return
    fi
    echo "== compute-sanitizer $tool $(basename "$program") (at most ${left}s)"
    timeout -k 5 "$left" "$sanitizer" --tool "$tool" --error-exitcode 3 "$@" "$program"
    local rc=$?
    case $rc in
      0 | 77) ;;
      124 | 137) echo "   cut off after ${left}s: no verdict" ;;
      *) echo "   FAIL: exit status $rc under compute-sanitizer $tool"; status=1 ;;
    esac
  }
  if [ ! -x "$sanitizer" ]; then
    echo "== compute-sanitizer: not found, skipped"
  else
    "$sanitizer" --version | tail -1
    # test_comm_gpu is left out: its kernels are NCCL's, not rlkd's, and
    # its ranks are processes the sanitizer would follow one by one.
    for program in build/gpu/tests/gpu/test_* build/gpu/tests/test_dlpack; do
      [ "${program##*/}" = test_comm_gpu ] && continue
      sanitize memcheck "$program" --leak-check full
    done
    for program in build/gpu/tests/gpu/test_*; do
      [ "${program##*/}" = test_comm_gpu ] && continue
      sanitize racecheck "$program"
    done
  fi
  exit "$status"
} 2>&1 | tee ${report:-/dev/null}
exit "${PIPESTATUS[0]}"
