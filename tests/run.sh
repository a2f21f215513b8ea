#!/usr/bin/env bash
# Runs each test program given, counts the PASS/FAIL/SKIP lines they print,
# and ends with "N passed, N failed, N skipped". A program that exits non-zero
# (other than 77, "skipped") without printing a FAIL line counts as one
# failure, so a crash is never lost.
set -u
passed=0 failed=0 skipped=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for prog in "$@"; do
  name=$(basename "$prog")
  ${VALGRIND:-} "$prog" >"$log" 2>&1
  rc=$?
  cat "$log"
  p=$(grep -c '^PASS ' "$log") f=$(grep -c '^FAIL ' "$log") s=$(grep -c '^SKIP ' "$log")
  passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ "$f" -eq 0 ]; then
    echo "FAIL $name: exited with status $rc"
    failed=$((failed + 1))
  elif [ "$rc" -eq 77 ] && [ "$s" -eq 0 ]; then
    echo "SKIP $name: exited 77"
    skipped=$((skipped + 1))
  elif [ "$rc" -eq 0 ] && [ $((p + f + s)) -eq 0 ]; then
    echo "FAIL $name: ran no test case"
    failed=$((failed + 1))
  fi
done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
