#!/usr/bin/env bash
# ABI checks, run by `make test` with CC, BUILD, LIBDIR, MAKE and SAN_FLAGS
# set: only rlkd_* exported, the soname, an install, and a pure C99 program
# built against the installed header and linked against the shared and the
# static library. Prints PASS/FAIL lines for tests/run.sh.
set -u
CC=${CC:-cc} BUILD=${BUILD:-build} LIBDIR=${LIBDIR:-lib} MAKE=${MAKE:-make}
SAN_FLAGS=${SAN_FLAGS:-}
status=0
pass() { echo "PASS abi/$1"; }
fail() { echo "FAIL abi/$1"; shift; [ $# -gt 0 ] && printf '  %s\n' "$@"; status=1; }

major=$(sed -n 's/^#define RLKD_VERSION_MAJOR \([0-9]*\).*/\1/p' include/rlkd.h)
so=$(ls "$LIBDIR"/librlkd.so.*.*.* 2>/dev/null | head -1)
if [ -z "$so" ]; then
  fail shared_library_built "no $LIBDIR/librlkd.so.X.Y.Z"
  exit 1
fi

leaked=$(nm -D --defined-only "$so" | awk '$2 != "A" && $3 !~ /^rlkd_/ {print $3}')
if [ -z "$leaked" ]; then pass exports_only_rlkd_symbols
else fail exports_only_rlkd_symbols "exported outside rlkd_*:" $leaked; fi

count=$(nm -D --defined-only "$so" | awk '$3 ~ /^rlkd_/' | wc -l)
header_count=$(grep -o 'rlkd_[a-z0-9_]*(' include/rlkd.h | sort -u | wc -l)
if [ "$count" -eq "$header_count" ]; then pass exports_match_header
else fail exports_match_header "$count exported, $header_count declared in rlkd.h"; fi

# The library never exits, aborts or prints: it must not even reference the
# C library's functions for that, nor the standard streams (it writes files,
# so fwrite and write themselves are fine).
banned=$(nm -D --undefined-only "$so" | awk '{print $2}' | sed 's/@.*//' |
  grep -xE 'exit|_exit|_Exit|abort|__assert_fail|printf|vprintf|puts|putchar|perror|stdout|stderr|_IO_2_1_stdout_|_IO_2_1_stderr_' || true)
if [ -z "$banned" ]; then pass never_exits_or_prints
else fail never_exits_or_prints "librlkd references:" $banned; fi

# cuDNN and cuBLAS are opened when a context first picks their engine
# (kernels/engine_libraries.cu): a program that never does runs without them.
heavy=$(readelf -d "$so" | sed -n 's/.*NEEDED.*\[\(libcu\(dnn\|blas\)[^]]*\)\].*/\1/p')
if [ -z "$heavy" ]; then pass loads_without_cudnn_and_cublas
else fail loads_without_cudnn_and_cublas "librlkd needs at load time:" $heavy; fi

soname=$(readelf -d "$so" | sed -n 's/.*SONAME.*\[\(.*\)\].*/\1/p')
if [ "$soname" = "librlkd.so.$major" ]; then pass soname
else fail soname "soname is '$soname', expected librlkd.so.$major"; fi

. tests/install/stage.sh
if stage_install stage; then
  pass install
else
  fail install "$STAGE_ERROR"
  exit 1
fi
stage=$STAGE

strict="-std=c99 -pedantic -Wall -Wextra -Werror"
bin="$BUILD/tests/abi"
mkdir -p "$bin"
if $CC $strict $SAN_FLAGS -I"$stage/include" -o "$bin/c99_shared" tests/abi/c99_consumer.c \
     -L"$stage/lib" -lrlkd -Wl,-rpath,"$stage/lib" 2>"$bin/shared.log"; then
  pass c99_build_shared
  "$bin/c99_shared" | sed 's/^\(PASS\|FAIL\) abi\//\1 abi\/shared_/' || status=1
else
  fail c99_build_shared "$(cat "$bin/shared.log")"
fi

private=$(stage_pkg_config --static --libs rlkd | sed 's/-lrlkd//')
if $CC $strict $SAN_FLAGS -I"$stage/include" -o "$bin/c99_static" tests/abi/c99_consumer.c \
     "$stage/lib/librlkd.a" $private 2>"$bin/static.log"; then
  if ldd "$bin/c99_static" | grep -q librlkd; then
    fail c99_build_static "the static build still needs librlkd.so"
  else
    pass c99_build_static
  fi
  "$bin/c99_static" | sed 's/^\(PASS\|FAIL\) abi\//\1 abi\/static_/' || status=1
else
  fail c99_build_static "$(cat "$bin/static.log")"
fi

if echo '#include <rlkd.h>' | c++ -x c++ -std=c++11 -pedantic -Wall -Wextra -Werror \
     -I"$stage/include" -fsyntax-only - 2>"$bin/cxx.log"; then
  pass header_compiles_as_cxx
else
  fail header_compiles_as_cxx "$(cat "$bin/cxx.log")"
fi
exit $status
