#!/usr/bin/env bash
# The GPU check: everything rlkd runs on an NVIDIA GPU, in one command for
# a machine with a GPU, nvcc and (for the benchmarks) PyTorch, sized to end
# within about 6 minutes on one H200:
#
#   OUT=dir tests/gpu/check.sh
#
# 1. Finds cuDNN, cuBLAS, NCCL and nvJPEG: at CUDNN_HOME, CUBLAS_HOME,
#    NCCL_HOME, NVJPEG_HOME where set, else in the CUDA toolkit or /usr,
#    else in the NVIDIA wheels of the Python that has PyTorch (nvidia/cudnn,
#    nvidia/cu13, nvidia/nccl, ...). For a library outside a toolkit's
#    layout it makes a folder of links under $BUILD/deps (that library's
#    headers alone, its files with an unversioned name added), which the
#    build and the run path use. The run path puts the wheels' libraries
#    before the toolkit's, so that rlkd and PyTorch share one copy of each
#    in one process. What it cannot find it names, and builds without: the
#    engine's benchmarks then say "skipped: no cuDNN", the NCCL and nvJPEG
#    tests skip.
# 2. Checks the host libraries the build needs (OpenBLAS, cJSON, zlib,
#    libjpeg-turbo, libpng, DLPack). On a machine without them where nothing
#    can be installed, unpack their Debian packages somewhere (apt-get
#    download the -dev packages and their libraries, dpkg -x each into one
#    folder) and name it RLKD_HOST_PREFIX (from the repository's root).
# 3. Builds with CUDA for sm_90 alone (H100, H200; CUDA_ARCH overrides it)
#    on every core, in $BUILD (default build/gpu); a build with the optional
#    libraries that fails is done again without them ($BUILD-plain), saying
#    so.
# 4. Stops there where no GPU is present, saying so (exit status 3).
# 5. Runs tests/gpu/test_* (every CUDA op against the CPU reference, NCCL
#    between the GPUs, nvJPEG decoding) and the DLPack tests, in C and with
#    PyTorch CUDA tensors through the Python package.
# 6. The benchmarks (bench/gpu/run.py): rlkd's convolutions against its
#    cuDNN engine, the KD loss, attention and a small network's training
#    step against PyTorch, within RLKD_BENCH_SECONDS (default 150); cases
#    past it are reported cut off. Writes gpu-bench.json and gpu-bench.md.
# 7. compute-sanitizer: memcheck (out-of-bounds and misaligned accesses,
#    device memory leaks) on every GPU test program, racecheck (shared-memory
#    hazards) on the kernels' tests, with the time left, at most
#    RLKD_SANITIZER_SECONDS (default 120; 0 skips it); a run cut off is
#    reported as such (no verdict), not failed.
# 8. With RLKD_DEMO_SECONDS set (default 0: skipped), the demo on the GPU
#    (DEVICE=cuda scripts/demo.sh, its default sizes) within that many
#    seconds: its wall time, against about 10 minutes on 2 CPU cores. The
#    Fashion-MNIST files come from DATA_DIR (default build/fashion-data;
#    the four .gz files, ~30 MB) or Debian's package; a machine with
#    neither says so. Its table goes to $OUT/demo.
#
# The whole check, the build included, keeps within about
# RLKD_CHECK_SECONDS (default 330): steps 5 to 7 share what the build left.
# Writes the report to stdout and, with build.log, gpu-bench.json and
# gpu-bench.md, to $OUT (build/gpu-check when OUT is unset). PYTHON names
# the interpreter with PyTorch (default: the first of python3 and
# /usr/bin/python3 that imports torch). Exit status: 0 when the build, every
# GPU test, the benchmark programs and the sanitizers passed; 3 with no GPU;
# 1 otherwise.
set -u
results=${OUT:-$(dirname "$0")/../../build/gpu-check}
mkdir -p "$results" && results=$(cd "$results" && pwd) || exit 1
cd "$(dirname "$0")/../.." || exit 1
deadline=$((SECONDS + ${RLKD_CHECK_SECONDS:-330}))
arch=${CUDA_ARCH:--gencode arch=compute_90,code=sm_90}
build=${BUILD:-build/gpu}
deps=$build/deps
log=$results/build.log

say() { echo "== $*"; }
seconds_left() { echo $((deadline - SECONDS)); }
smaller() { echo $(($1 < $2 ? $1 : $2)); }

# The NVIDIA wheels' libraries: "NAME<tab>include dir<tab>library dir" for
# each of cudnn, cublas, nccl, nvjpeg, cudart found, then "libdir<tab>DIR"
# for every library folder of the wheels (cuDNN loads nvrtc from there).
# The nvidia package is a namespace package: its folders, not a __file__.
wheel_finder='
import glob, os, sys
roots = []
try:
    import nvidia
    roots += list(nvidia.__path__)
except ImportError:
    pass
roots += [os.path.join(p, "nvidia") for p in sys.path if p]
roots = [r for i, r in enumerate(roots) if os.path.isdir(r) and r not in roots[:i]]
packages = [p for r in roots for p in sorted(glob.glob(os.path.join(r, "*")))]
for name, header in (("cudnn", "cudnn.h"), ("cublas", "cublas_v2.h"), ("nccl", "nccl.h"),
                     ("nvjpeg", "nvjpeg.h"), ("cudart", "cuda_runtime_api.h")):
    for p in packages:
        libs = sorted(glob.glob(os.path.join(p, "lib*", "lib%s.so*" % name)))
        if os.path.isfile(os.path.join(p, "include", header)) and libs:
            print(name, os.path.join(p, "include"), os.path.dirname(libs[0]), sep="\t")
            break
for p in packages:
    for d in sorted(glob.glob(os.path.join(p, "lib*"))):
        if glob.glob(os.path.join(d, "*.so*")):
            print("libdir", d, "", sep="\t")
'

# "include dir<tab>library dir" of library NAME (header HEADER) in the
# toolkit, /usr or the wheels, first found; nothing when none has it. The
# toolkit's come first: their headers match nvcc's.
locate() {
  local name=$1 header=$2 home dir
  for home in "$cuda_home" /usr; do
    [ -f "$home/include/$header" ] || continue
    for dir in "$home/lib64" "$home/lib" "$home"/lib/*-linux-gnu "$home"/targets/*/lib; do
      if compgen -G "$dir/lib$name.so*" >/dev/null; then
        printf '%s\t%s\n' "$home/include" "$dir"
        return
      fi
    done
  done
  if [ -n "${wheels[$name]:-}" ]; then
    echo "${wheels[$name]}"
  fi
}

# Links DIR/libNAME*.so* into folder TO, with an unversioned libNAME.so
# where DIR has only libNAME.so.N (a wheel).
link_libraries() {
  local name=$1 dir=$2 to=$3 file
  for file in "$dir/lib$name"*.so*; do ln -s "$file" "$to/"; done
  if [ ! -e "$to/lib$name.so" ]; then
    file=$(compgen -G "$dir/lib$name.so.*" | sort | head -1)
    ln -s "$file" "$to/lib$name.so"
  fi
}

# A home for the build (HOME/include, HOME/lib64/libNAME.so) of library NAME
# found at INCLUDE and LIBDIR: their own folder where they have that layout,
# else a folder of links under $deps. A wheel's include folder also holds
# CUDA runtime headers of its own version, which must not shadow the
# toolkit's: only NAME* is linked.
make_home() {
  local name=$1 include=$2 libdir=$3 home=$deps/$1 file
  if [ "$libdir" = "${include%/include}/lib64" ] && [ -e "$libdir/lib$name.so" ]; then
    echo "${include%/include}"
    return
  fi
  rm -rf "$home"
  mkdir -p "$home/include" "$home/lib"
  ln -s lib "$home/lib64"
  for file in "$include/$name"*; do ln -s "$file" "$home/include/"; done
  link_libraries "$name" "$libdir" "$home/lib"
  (cd "$home" && pwd)
}

main() {
  local status=0 gpus py=
  say "rlkd GPU check, $(date -u +%Y-%m-%dT%H:%M:%SZ), in $PWD"
  if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1
  else
    say "nvidia-smi: not found"
  fi

  # The Python that has PyTorch: the benchmarks' peer, the DLPack tests,
  # and where the NVIDIA wheels PyTorch loads are.
  for candidate in ${PYTHON:-} python3 /usr/bin/python3; do
    if "$candidate" -c 'import torch' 2>/dev/null; then
      py=$candidate
      break
    fi
  done
  if [ -n "$py" ]; then
    say "Python: $(command -v "$py") with $("$py" -c 'import torch
print("torch", torch.__version__, "CUDA", torch.version.cuda, "GPUs", torch.cuda.device_count())' 2>&1)"
  else
    py=$(command -v python3 || echo /usr/bin/python3)
    say "Python: none here imports torch (set PYTHON): the PyTorch sides of the" \
      "benchmarks and the DLPack tests with PyTorch are skipped"
  fi

  # The CUDA toolkit: nvcc, and libcudart for the link.
  local nvcc cuda_home
  nvcc=$(command -v nvcc || echo "${CUDA_HOME:-/usr/local/cuda}/bin/nvcc")
  if [ ! -x "$nvcc" ]; then
    say "nvcc: not found (on PATH or at \$CUDA_HOME/bin): cannot build the CUDA backend"
    return 1
  fi
  nvcc=$(readlink -f "$nvcc")
  cuda_home=${CUDA_HOME:-$(dirname "$(dirname "$nvcc")")}
  say "CUDA: $nvcc ($("$nvcc" --version | tail -1)), CUDA_HOME=$cuda_home, CUDA_ARCH=$arch"

  # The wheels of that Python alone: one set of versions, PyTorch's.
  local -A wheels=()
  local run_path=() kind a b
  while IFS=$'\t' read -r kind a b; do
    if [ "$kind" = libdir ]; then
      run_path+=("$a")
    else
      wheels[$kind]="$a"$'\t'"$b"
    fi
  done < <("$py" -c "$wheel_finder" 2>/dev/null)

  # A library under $deps, made here, goes first on the run path: it is a
  # wheel's, the copy PyTorch loads too; a toolkit's goes after the wheels'
  # (a newer minor version of the same library serves either).
  local make_args=(CUDA=1 "CUDA_ARCH=$arch" "NVCC=$nvcc") optional=() late_path=()
  if [ -e "$cuda_home/lib64/libcudart.so" ]; then
    make_args+=("CUDA_HOME=$cuda_home")
  else
    # the toolkit's headers and nvcc, the runtime library found elsewhere
    local found home=$deps/cuda
    found=$(locate cudart cuda_runtime_api.h)
    if [ -z "$found" ]; then
      say "libcudart: not in $cuda_home/lib64 nor in a wheel: cannot link the CUDA backend"
      return 1
    fi
    rm -rf "$home"
    mkdir -p "$home/lib64"
    ln -s "$cuda_home/include" "$home/include"
    ln -s "$cuda_home/bin" "$home/bin"
    link_libraries cudart "${found#*$'\t'}" "$home/lib64"
    home=$(cd "$home" && pwd)
    make_args+=("CUDA_HOME=$home")
    run_path=("$home/lib64" "${run_path[@]}")
    say "libcudart: ${found#*$'\t'} (as CUDA_HOME=$home)"
  fi

  # The optional libraries.
  local var name title header switch without home
  local -A have=()
  while IFS='|' read -r var name title header switch without; do
    if [ -n "${!var:-}" ]; then
      home=${!var}
      say "$title: $var=$home (given)"
    else
      local found
      found=$(locate "$name" "$header")
      if [ -z "$found" ]; then
        say "$title: NOT FOUND ($var unset; no $header with lib$name.so* in $cuda_home," \
          "/usr or the nvidia wheels of $py): $without"
        continue
      fi
      home=$(make_home "$name" "${found%%$'\t'*}" "${found#*$'\t'}")
      say "$title: ${found%%$'\t'*} and ${found#*$'\t'} (as $var=$home)"
    fi
    have[$name]=1
    make_args+=("$var=$home")
    case $home in
      "$PWD/$deps"/*) run_path=("$home/lib" "${run_path[@]}") ;;
      *) late_path+=("$home/lib64" "$home/lib") ;;
    esac
    [ "$switch" = ENGINES ] || optional+=("$switch=1")
  done <<'EOF'
CUDNN_HOME|cudnn|cuDNN|cudnn.h|ENGINES|built without the cuDNN engine: its benchmarks say "skipped: no cuDNN"
CUBLAS_HOME|cublas|cuBLAS|cublas_v2.h|ENGINES|built without the cuDNN/cuBLAS engine: its benchmarks say "skipped: no cuDNN"
NCCL_HOME|nccl|NCCL|nccl.h|NCCL|built without NCCL: test_comm_gpu tests the CPU communicator on CUDA tensors alone
NVJPEG_HOME|nvjpeg|nvJPEG|nvjpeg.h|NVJPEG|built without GPU decoding: test_image_decode_gpu skips
EOF
  # the engine needs both libraries; every switch explicit, so that make
  # builds what is said here or fails
  if [ -n "${have[cudnn]:-}" ] && [ -n "${have[cublas]:-}" ]; then
    optional+=(ENGINES=1)
  else
    optional+=(ENGINES=0)
  fi
  [ -n "${have[nccl]:-}" ] || optional+=(NCCL=0)
  [ -n "${have[nvjpeg]:-}" ] || optional+=(NVJPEG=0)
  run_path+=("${late_path[@]}" "$cuda_home/lib64")

  # The host libraries every build needs.
  if [ -n "${RLKD_HOST_PREFIX:-}" ]; then
    local prefix multiarch=x86_64-linux-gnu
    prefix=$(cd "$RLKD_HOST_PREFIX" && pwd) || return 1
    export CPATH="$prefix/usr/include:$prefix/usr/include/$multiarch:$prefix/usr/include/$multiarch/openblas-pthread${CPATH:+:$CPATH}"
    export LIBRARY_PATH="$prefix/usr/lib/$multiarch:$prefix/usr/lib/$multiarch/openblas-pthread${LIBRARY_PATH:+:$LIBRARY_PATH}"
    run_path+=("$prefix/usr/lib/$multiarch" "$prefix/usr/lib/$multiarch/openblas-pthread")
    say "host libraries: also under RLKD_HOST_PREFIX=$prefix"
  fi
  local probe=$build/host-probe missing=() lib package
  mkdir -p "$build"
  while IFS='|' read -r header lib package; do
    printf '#include <%s>\nint main(void) { return 0; }\n' "$header" >"$probe.c"
    "${CC:-cc}" "$probe.c" -o "$probe" ${lib:+-l"$lib"} 2>/dev/null ||
      missing+=("$header${lib:+ and lib$lib} ($package)")
  done <<'EOF'
cblas.h|openblas|libopenblas-dev
cjson/cJSON.h|cjson|libcjson-dev
zlib.h|z|zlib1g-dev
turbojpeg.h|turbojpeg|libturbojpeg0-dev
png.h|png|libpng-dev
dlpack/dlpack.h||libdlpack-dev
EOF
  if [ ${#missing[@]} -gt 0 ]; then
    say "host libraries MISSING: ${missing[*]}: cannot build (see RLKD_HOST_PREFIX in $0)"
    return 1
  fi
  say "host libraries: OpenBLAS, cJSON, zlib, libjpeg-turbo, libpng, DLPack"

  # The build (sm_90 alone, every core) into folder $1, with the make
  # arguments after it.
  build_into() {
    local into=$1 targets=("$1/bench/bench_gpu" "$1/tests/test_dlpack") source
    shift
    for source in tests/gpu/test_*.c; do
      source=${source#tests/gpu/}
      targets+=("$into/tests/gpu/${source%.c}")
    done
    make -j"$(nproc)" "${make_args[@]}" "$@" BUILD="$into" LIBDIR="$into/lib" \
      "${targets[@]}" >>"$log" 2>&1
  }
  say "building in $build (${make_args[*]} ${optional[*]}; log: $log)"
  : >"$log"
  if ! build_into "$build" "${optional[@]}"; then
    tail -30 "$log"
    build=$build-plain
    say "the build FAILED (above); once more without cuDNN, cuBLAS, NCCL and nvJPEG, in $build"
    status=1
    if ! build_into "$build" ENGINES=0 NCCL=0 NVJPEG=0; then
      tail -30 "$log"
      say "the build without them FAILED too (above)"
      return 1
    fi
  fi
  local library
  library=$(compgen -G "$PWD/$build/lib/librlkd.so.*.*.*" | head -1)
  local joined='' dir
  for dir in "${run_path[@]}"; do
    if [ -d "$dir" ] && [[ ":$joined:" != *":$dir:"* ]]; then
      joined+=${joined:+:}$dir
    fi
  done
  export LD_LIBRARY_PATH=$joined${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  say "run path: LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
  say "built $library; its optional libraries (cuDNN and cuBLAS are opened on first use):"
  ldd "$library" | grep -E 'nccl|nvjpeg|cudart|not found' || echo "   (none)"
  "$build/bin/rlkd" --version || true

  # A GPU? nvidia-smi, or PyTorch where there is no nvidia-smi.
  if command -v nvidia-smi >/dev/null; then
    gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')
  else
    gpus=$("$py" -c 'import torch; print(torch.cuda.device_count())' 2>/dev/null || echo 0)
  fi
  if [ "${gpus:-0}" -lt 1 ]; then
    say "NO GPU PRESENT (nvidia-smi lists none, or is missing and PyTorch sees none):" \
      "built for the GPU, but the GPU tests, the benchmarks and compute-sanitizer need" \
      "one. Exit status 3."
    return 3
  fi
  if [ "$gpus" -gt 1 ]; then
    say "NCCL: $gpus GPUs, one rank each (test_comm_gpu)"
  else
    say "NCCL between GPUs: skipped: one GPU"
  fi

  # The tests.
  local programs=("$build"/tests/gpu/test_* "$build/tests/test_dlpack")
  # at most 4 minutes, less as the time runs out, but never under one
  local test_seconds
  test_seconds=$(smaller 240 "$(seconds_left)")
  [ "$test_seconds" -ge 60 ] || test_seconds=60
  say "GPU tests (at most ${test_seconds}s)"
  timeout -k 5 "$test_seconds" tests/run.sh "${programs[@]}" || status=1
  if "$py" -c 'import pytest, numpy' 2>/dev/null; then
    RLKD_LIBRARY=$library timeout -k 5 120 "$py" -m pytest -q -rs -p no:cacheprovider \
      tests/python/test_bindings.py -k gpu || status=1
  else
    say "DLPack with PyTorch: skipped: $py lacks pytest or numpy"
  fi

  # The benchmarks, within their time cap and what is left.
  local bench_seconds
  bench_seconds=$(smaller "${RLKD_BENCH_SECONDS:-150}" $(($(seconds_left) - 30)))
  if [ "$bench_seconds" -lt 30 ]; then
    say "benchmarks: SKIPPED: $(seconds_left)s left of RLKD_CHECK_SECONDS, too little for them"
    status=1
  else
    say "benchmarks (at most ${bench_seconds}s)"
    timeout -k 5 $((bench_seconds + 90)) "$py" bench/gpu/run.py --bench "$build/bench/bench_gpu" \
      --library "$library" --work "$build/bench-gpu" --out "$results" \
      --seconds "$bench_seconds" || status=1
  fi

  # compute-sanitizer, with the time left.
  local sanitizer sanitizer_deadline
  sanitizer=$(command -v compute-sanitizer || echo "$cuda_home/bin/compute-sanitizer")
  sanitizer_deadline=$((SECONDS + $(smaller "${RLKD_SANITIZER_SECONDS:-120}" "$(seconds_left)")))
  sanitize() { # tool, program, extra options...
    local tool=$1 program=$2 left=$((sanitizer_deadline - SECONDS)) out=$build/sanitizer.out
    shift 2
    if [ "$left" -lt 10 ]; then
      echo "== compute-sanitizer $tool $(basename "$program"): no time left, skipped"
      return 0
    fi
    echo "== compute-sanitizer $tool $(basename "$program") (at most ${left}s)"
    timeout -k 5 "$left" "$sanitizer" --tool "$tool" --error-exitcode 3 "$@" "$program" >"$out" 2>&1
    local rc=$?
    cat "$out"
    if grep -q 'Device not supported' "$out"; then
      echo "   compute-sanitizer cannot run on this machine's GPU: skipped"
      return 1
    fi
    case $rc in
      0 | 77) ;;
      124 | 137) echo "   cut off after ${left}s: no verdict" ;;
      *) echo "   FAIL: exit status $rc under compute-sanitizer $tool"; status=1 ;;
    esac
  }
  if [ ! -x "$sanitizer" ]; then
    say "compute-sanitizer: not found, skipped"
  else
    "$sanitizer" --version | tail -1
    # test_comm_gpu is left out: its kernels are NCCL's, not rlkd's, and
    # its ranks are processes the sanitizer would follow one by one.
    local program tool
    for tool in memcheck racecheck; do
      for program in "${programs[@]}"; do
        case "${program##*/} $tool" in
          "test_comm_gpu "* | "test_dlpack racecheck") continue ;;
        esac
        if [ "$tool" = memcheck ]; then
          sanitize memcheck "$program" --leak-check full || break 2
        else
          sanitize racecheck "$program" || break 2
        fi
      done
    done
  fi

  # The demo on the GPU, when asked for.
  local demo_seconds=${RLKD_DEMO_SECONDS:-0}
  if [ "$demo_seconds" -gt 0 ]; then
    say "demo: DEVICE=cuda scripts/demo.sh (at most ${demo_seconds}s)"
    local demo_start=$SECONDS
    DEVICE=cuda OUT="$results/demo" RLKD="$build/bin/rlkd" \
      DATA_DIR=${DATA_DIR:-build/fashion-data} FASHION_APT=0 \
      timeout -k 5 "$demo_seconds" scripts/demo.sh >"$build/demo.log" 2>&1
    local rc=$?
    tail -25 "$build/demo.log"
    case $rc in
      0) say "demo: done in $((SECONDS - demo_start))s on the GPU (table: $results/demo/results.md)" ;;
      124 | 137) say "demo: cut off after ${demo_seconds}s (it resumes where it stopped)" ;;
      *) say "demo: FAILED (exit status $rc; $build/demo.log)"; status=1 ;;
    esac
  fi
  say "done in ${SECONDS}s: exit status $status"
  return "$status"
}

main 2>&1 | tee "$results/gpu-report.txt"
exit "${PIPESTATUS[0]}"
