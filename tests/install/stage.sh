# Sourced by the checks that build programs against an installed rlkd
# (tests/abi/check_abi.sh, tests/install/check_cpp_example.sh), with MAKE,
# BUILD, LIBDIR, CUDA and SAN as `make test` sets them.
#
# The install is staged as a packager stages it, DESTDIR=$BUILD/NAME with a
# PREFIX that exists nowhere: a program built against the staged copy can
# only have found it where it lies, in $STAGE, so the checks also show that
# the installed files work away from their PREFIX (the CMake package finds
# its prefix itself; stage_pkg_config tells pkg-config where it is).
STAGE_PREFIX=/nonexistent/rlkd

# make TARGET... with this build's settings and the staging DESTDIR/PREFIX.
stage_make() {
  "${MAKE:-make}" -s "$@" DESTDIR="$STAGE_DESTDIR" PREFIX="$STAGE_PREFIX" \
    BUILD="${BUILD:-build}" LIBDIR="${LIBDIR:-lib}" CUDA="${CUDA:-0}" SAN="${SAN:-0}"
}

# stage_install NAME: a fresh install into $BUILD/NAME. Sets STAGE_DESTDIR
# and STAGE (where the files lie); answers 1 with STAGE_ERROR saying why
# when the install failed or left a file out.
stage_install() {
  local major file log missing=""
  major=$(sed -n 's/^#define RLKD_VERSION_MAJOR \([0-9]*\).*/\1/p' include/rlkd.h)
  STAGE_DESTDIR=$(cd "${BUILD:-build}" && pwd)/$1
  STAGE=$STAGE_DESTDIR$STAGE_PREFIX
  rm -rf "$STAGE_DESTDIR"
  if ! log=$(stage_make install 2>&1); then
    STAGE_ERROR="make install DESTDIR=$STAGE_DESTDIR PREFIX=$STAGE_PREFIX failed: $log"
    return 1
  fi
  for file in include/rlkd.h lib/librlkd.a "lib/librlkd.so.$major" lib/librlkd.so \
              lib/pkgconfig/rlkd.pc lib/cmake/rlkd/rlkdConfig.cmake \
              lib/cmake/rlkd/rlkdConfigVersion.cmake; do
    [ -e "$STAGE/$file" ] || missing="$missing $file"
  done
  if [ -n "$missing" ]; then
    STAGE_ERROR="make install did not lay out:$missing (under $STAGE)"
    return 1
  fi
}

# pkg-config on the staged rlkd.pc, its prefix set to where the files lie.
stage_pkg_config() {
  PKG_CONFIG_PATH="$STAGE/lib/pkgconfig" pkg-config --define-variable=prefix="$STAGE" "$@"
}
