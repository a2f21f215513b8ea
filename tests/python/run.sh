#!/usr/bin/env bash
# Runs the Python tests (pytest over tests/python) with the first interpreter
# that imports numpy and pytest (Debian's python3-numpy, python3-pytest and
# python3-torch belong to /usr/bin/python3, which may not be the python3
# first on PATH), against the library just built. pytest's summary lines
# become the PASS/FAIL/SKIP lines tests/run.sh counts. Tests that need
# PyTorch, torchvision or onnx skip, saying so, where they do not import.
set -u
LIBDIR=${LIBDIR:-lib}
so=$(ls "$LIBDIR"/librlkd.so.*.*.* 2>/dev/null | head -1)
for py in /usr/bin/python3 python3; do
  "$py" -c 'import numpy, pytest' 2>/dev/null || continue
  export RLKD_LIBRARY="$PWD/$so" RLKD_CHECK_COVERAGE=1
  if [ "${SAN:-0}" = 1 ]; then
    # An ASan build's library can only be loaded with the runtime preloaded;
    # one torchvision network (the same load, train, save path) keeps the
    # run short, the plain run checks all three.
    export LD_PRELOAD="$(${CC:-cc} -print-file-name=libasan.so) $(${CC:-cc} -print-file-name=libubsan.so)"
    export ASAN_OPTIONS=detect_leaks=0 RLKD_TORCHVISION_MODELS=resnet50 RLKD_TEST_SANITIZED=1
  fi
  "$py" -m pytest -q -rA -p no:cacheprovider tests/python | sed -u \
    -e 's/^PASSED \(.*\)$/PASS python\/\1/' \
    -e 's/^FAILED \(.*\)$/FAIL python\/\1/' \
    -e 's/^ERROR \(.*\)$/FAIL python\/\1/' \
    -e 's/^SKIPPED \[[0-9]*\] \(.*\)$/SKIP python\/\1/'
  exit "${PIPESTATUS[0]}"
done
echo "SKIP python: no Python interpreter here imports numpy and pytest (apt-get install python3-numpy python3-pytest)"
exit 77
