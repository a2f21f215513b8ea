#!/usr/bin/env bash
# Runs each built example program; an example exits 0 only when it did what
# it claims (the trainer: it learned). Prints PASS/FAIL lines for run.sh.
set -u
BUILD=${BUILD:-build}
status=0
for prog in "$BUILD"/examples/*; do
  [ -x "$prog" ] || continue
  name=$(basename "$prog")
  if out=$("$prog" 2>&1); then
    echo "PASS examples/$name: $(echo "$out" | tail -1)"
  else
    echo "FAIL examples/$name"
    echo "$out" | tail -5 | sed 's/^/  /'
    status=1
  fi
done
exit $status
