#!/usr/bin/env bash
# The API reference builds without a warning: `make docs` runs Doxygen over
# include/rlkd.h (docs/Doxyfile fails on a warning and is quiet otherwise).
# Run by `make test` with BUILD and MAKE set; prints a PASS/FAIL/SKIP line
# for tests/run.sh.
set -u
BUILD=${BUILD:-build} MAKE=${MAKE:-make}
if ! command -v doxygen >/dev/null; then
  echo "SKIP docs/api_reference: no doxygen (apt-get install doxygen)"
  exit 77
fi
html=$BUILD/docs/api/html
if log=$("$MAKE" -s --no-print-directory docs BUILD="$BUILD" 2>&1) && [ -z "$log" ] &&
   grep -q 'rlkd_search_create' "$html/rlkd_8h.html" 2>/dev/null; then
  echo "PASS docs/api_reference: make docs, no warnings, $html/index.html"
else
  echo "FAIL docs/api_reference: make docs warned, failed or left out the API"
  echo "$log" | head -20 | sed 's/^/  /'
  exit 1
fi
