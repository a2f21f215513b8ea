#!/usr/bin/env bash
# Runs the Python tests with the first interpreter that imports numpy
# (Debian's python3-numpy and python3-torch belong to /usr/bin/python3,
# which may not be the python3 first on PATH): the bindings' own tests, then
# the PyTorch parity checks where torch imports (the ops, rlkd.torch_module,
# the torchvision zoo networks where torchvision imports). Skips, saying so,
# what it cannot run.
set -u
LIBDIR=${LIBDIR:-lib}
so=$(ls "$LIBDIR"/librlkd.so.*.*.* 2>/dev/null | head -1)
for py in /usr/bin/python3 python3; do
  "$py" -c 'import numpy' 2>/dev/null || continue
  # An ASan build's library can only be loaded with the runtime preloaded.
  if [ "${SAN:-0}" = 1 ]; then
    export LD_PRELOAD="$(${CC:-cc} -print-file-name=libasan.so) $(${CC:-cc} -print-file-name=libubsan.so)"
    export ASAN_OPTIONS=detect_leaks=0
  fi
  "$py" tests/python/test_search.py "$so"
  status=$?
  if ! "$py" -c 'import torch' 2>/dev/null; then
    echo "SKIP parity/torch: $py cannot import torch (apt-get install python3-torch)"
    exit $status
  fi
  "$py" tests/parity/torch_parity.py "$so" || status=1
  "$py" tests/parity/torch_module_parity.py "$so" || status=1
  if "$py" -c 'import torchvision' 2>/dev/null; then
    # Under the sanitizers one network (the same load, train, save path)
    # keeps the run short; the plain run checks all three.
    models=""
    [ "${SAN:-0}" = 1 ] && models=resnet50
    "$py" tests/parity/torchvision_parity.py "$so" $models || status=1
  else
    echo "SKIP parity/torchvision: $py cannot import torchvision (apt-get install python3-torchvision)"
  fi
  exit $status
done
echo "SKIP python: no Python interpreter here imports numpy (apt-get install python3-numpy)"
exit 77
