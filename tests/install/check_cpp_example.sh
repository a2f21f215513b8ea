#!/usr/bin/env bash
# Builds examples/cpp/trainer.cpp against an installed rlkd the ways another
# project would: with pkg-config, and with CMake's find_package(rlkd) through
# rlkd::rlkd and rlkd::rlkd_static; runs each program (it exits 0 only when
# it trained, searched and compacted as it claims). Also checks the CMake
# package's version rule (SameMajorVersion) and that make uninstall removes
# every file. Run by `make test` with BUILD, LIBDIR, MAKE, CUDA, SAN and
# SAN_FLAGS set; prints PASS/FAIL/SKIP lines for tests/run.sh.
set -u
BUILD=${BUILD:-build} CXX=${CXX:-c++} SAN_FLAGS=${SAN_FLAGS:-}
status=0
pass() { echo "PASS install/$1"; }
fail() { echo "FAIL install/$1"; shift; [ $# -gt 0 ] && printf '%s\n' "$@" | tail -15 | sed 's/^/  /'; status=1; }

if ! command -v "$CXX" >/dev/null; then
  echo "SKIP install/cpp_example: no C++ compiler '$CXX' (apt-get install g++ cmake)"
  exit 77
fi
. tests/install/stage.sh
if ! stage_install stage; then
  fail stage_install "$STAGE_ERROR"
  exit 1
fi
out=$(cd "$BUILD" && pwd)/tests/install
rm -rf "$out"
mkdir -p "$out"
warnings="-Wall -Wextra -Werror -pedantic"

# run_trainer NAME PROGRAM: runs it against the staged library.
run_trainer() {
  local log
  if log=$(LD_LIBRARY_PATH="$STAGE/lib" "$2" 2>&1); then pass "$1: $(echo "$log" | tail -1)"
  else fail "$1" "$log"; fi
}

if $CXX -std=c++17 -O2 $warnings $SAN_FLAGS -o "$out/trainer_pkg_config" examples/cpp/trainer.cpp \
     $(stage_pkg_config --cflags --libs rlkd) >"$out/pkg_config.log" 2>&1; then
  pass cpp_pkg_config_build
  run_trainer cpp_pkg_config_run "$out/trainer_pkg_config"
else
  fail cpp_pkg_config_build "$(cat "$out/pkg_config.log")"
fi

if ! command -v cmake >/dev/null; then
  echo "SKIP install/cpp_cmake: no cmake (apt-get install cmake)"
  exit $status
fi

# The system's prefixes are not searched: only the staged copy may be found.
find_staged=(-DCMAKE_PREFIX_PATH="$STAGE" -DCMAKE_FIND_USE_CMAKE_SYSTEM_PATH=OFF)
for link in shared static; do
  dir=$out/cmake_$link
  static=OFF
  [ "$link" = static ] && static=ON
  if cmake -S examples/cpp -B "$dir" "${find_staged[@]}" -DTRAINER_STATIC=$static \
       -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS="$warnings $SAN_FLAGS" >"$dir.log" 2>&1 &&
     cmake --build "$dir" >>"$dir.log" 2>&1; then
    if [ "$link" = static ] && ldd "$dir/trainer" | grep -q librlkd; then
      fail cpp_cmake_static_build "rlkd::rlkd_static's program still needs librlkd.so"
    else
      pass "cpp_cmake_${link}_build"
      run_trainer "cpp_cmake_${link}_run" "$dir/trainer"
    fi
  else
    fail "cpp_cmake_${link}_build" "$(cat "$dir.log")"
  fi
done

# find_package(rlkd VERSION) against the installed version M.m.p: the same
# major version up to this one is compatible, another major or a later
# minor is not; no version at all finds it too.
read -r M m p < <(sed -n 's/^#define RLKD_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\).*/\2/p' \
                  include/rlkd.h | tr '\n' ' ')
mkdir -p "$out/version"
printf '%s\n' 'cmake_minimum_required(VERSION 3.13)' 'project(rlkd_version NONE)' \
  'find_package(rlkd ${REQUEST} QUIET)' 'message(STATUS "rlkd_FOUND=${rlkd_FOUND}")' \
  >"$out/version/CMakeLists.txt"
wrong=""
for case in "=1" "$M=1" "$M.$m=1" "$M.$m.$p=1" "$M.$((m + 1))=0" "$((M + 1)).0=0"; do
  request=${case%=*} expected=${case#*=}
  rm -rf "$out/version/build"
  found=$(cmake -S "$out/version" -B "$out/version/build" "${find_staged[@]}" \
            -DREQUEST="$request" 2>&1 | sed -n 's/^-- rlkd_FOUND=//p')
  [ "$found" = "$expected" ] || wrong="$wrong '$request' (found: '$found', expected $expected)"
done
if [ -z "$wrong" ]; then pass "cmake_same_major_version: $M.$m.$p"
else fail cmake_same_major_version "find_package(rlkd VERSION) wrong for:$wrong"; fi

if stage_make uninstall >"$out/uninstall.log" 2>&1 &&
   [ -z "$(find "$STAGE_DESTDIR" ! -type d)" ]; then
  pass uninstall_removes_every_file
else
  fail uninstall_removes_every_file "$(cat "$out/uninstall.log")" "left:" \
    "$(find "$STAGE_DESTDIR" ! -type d)"
fi
exit $status
