#!/usr/bin/env bash
# Unpacks nvJPEG from NVIDIA's PyPI wheel into DIR/include and DIR/lib,
# with the libnvjpeg.so link the linker looks for, so that `make
# NVJPEG_HOME=DIR` builds the loader's GPU decoding where the CUDA toolkit
# has no nvJPEG. Take the wheel of the toolkit's CUDA version, e.g. for
# CUDA 13.0: pip download --no-deps -d build/wheels 'nvidia-nvjpeg==13.0.*'
#
#   scripts/unpack-nvjpeg.sh build/wheels/nvidia_nvjpeg-13.0.*.whl /opt/nvjpeg
set -eu
if [ $# -ne 2 ]; then
  echo "usage: $0 WHEEL DIR" >&2
  exit 2
fi
wheel=$1 dir=$2
mkdir -p "$dir/include" "$dir/lib"
python3 - "$wheel" "$dir" <<'PY'
import os, shutil, sys, zipfile
wheel, dir = sys.argv[1:]
found = {"header": False, "library": None}
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        base = os.path.basename(name)
        if base == "nvjpeg.h":
            target, found["header"] = os.path.join(dir, "include", base), True
        elif base.startswith("libnvjpeg.so"):
            target = found["library"] = os.path.join(dir, "lib", base)
        else:
            continue
        with z.open(name) as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst)
if not found["header"] or not found["library"]:
    sys.exit("%s: no nvjpeg.h or libnvjpeg.so* in it" % wheel)
link = os.path.join(dir, "lib", "libnvjpeg.so")
if os.path.lexists(link):
    os.remove(link)
os.symlink(os.path.basename(found["library"]), link)
print("nvJPEG in %s: make NVJPEG_HOME=%s" % (dir, dir))
PY
