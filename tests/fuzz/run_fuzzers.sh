#!/usr/bin/env bash
# Runs fuzz targets built by `make fuzz`, JOBS at a time, each for SECONDS
# over a fresh copy of its seeds and regressions (the committed corpus is
# never written), and writes BUILD/summary.md: per target the seconds run,
# the executions, the corpus it ended with and the crashes found. A crash,
# leak, timeout or allocation over the limits leaves its input in
# BUILD/crashes/<target>/ and fails the run.
#
#   tests/fuzz/run_fuzzers.sh BUILD SECONDS JOBS TARGET...
set -u
if [ $# -lt 4 ]; then
  echo "usage: $0 BUILD SECONDS JOBS TARGET..." >&2
  exit 2
fi
build=$1 seconds=$2 jobs=$3
shift 3
here=$(cd "$(dirname "$0")" && pwd)

# Longest input per target: a little above its largest seed.
max_len() {
  case $1 in
    checkpoint) echo 32768 ;;
    architecture) echo 16384 ;;
    search) echo 16384 ;;
    cifar) echo 10000 ;;
    decode) echo 8192 ;;
    idx | plot) echo 4096 ;;
    config | masks | list) echo 2048 ;;
    *) echo 4096 ;;
  esac
}

run_one() {
  local name=$1
  local corpus=$build/corpus/$name crashes=$build/crashes/$name
  rm -rf "$corpus" "$crashes"
  mkdir -p "$corpus" "$crashes" "$build/logs"
  cp "$here/corpus/$name/"* "$corpus/"
  if [ -d "$here/regressions/$name" ]; then
    cp "$here/regressions/$name/"* "$corpus/" 2>/dev/null
  fi
  local began=$(date +%s)
  # -rss_limit_mb and -malloc_limit_mb make an allocation sized by an
  # unchecked header value a finding; -timeout one input that hangs.
  "$build/fuzz_$name" -max_total_time="$seconds" -max_len="$(max_len "$name")" \
    -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 -artifact_prefix="$crashes/" "$corpus" \
    >"$build/logs/$name.log" 2>&1
  echo $? >"$build/logs/$name.status"
  echo $(( $(date +%s) - began )) >"$build/logs/$name.seconds"
}

start=$(date +%s)
running=0
for name in "$@"; do
  if [ ! -x "$build/fuzz_$name" ]; then
    echo "fuzz: no target $build/fuzz_$name" >&2
    exit 2
  fi
  run_one "$name" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n
    running=$((running - 1))
  fi
done
wait

summary=$build/summary.md
failed=0
{
  echo "| target | seconds | executions | exec/s | corpus | crashes |"
  echo "|---|---:|---:|---:|---:|---:|"
  for name in "$@"; do
    log=$build/logs/$name.log
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    took=$(cat "$build/logs/$name.seconds")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    files=$(find "$build/corpus/$name" -type f | wc -l)
    crashes=$(find "$build/crashes/$name" -type f | wc -l)
    status=$(cat "$build/logs/$name.status")
    if [ "$status" -ne 0 ] || [ "$crashes" -ne 0 ]; then
      failed=1
    fi
    echo "| $name | $took | ${runs:-?} | ${rate:-?} | $files | $crashes |"
  done
  echo
  echo "$# targets, $seconds s each, $jobs at a time: $(( $(date +%s) - start )) s in all."
} >"$summary"
cat "$summary"
if [ "$failed" -ne 0 ]; then
  for name in "$@"; do
    if [ "$(cat "$build/logs/$name.status")" -ne 0 ]; then
      echo
      echo "== $name failed (exit $(cat "$build/logs/$name.status")); the end of $build/logs/$name.log:"
      tail -n 40 "$build/logs/$name.log"
      echo "inputs: $(find "$build/crashes/$name" -type f | tr '\n' ' ')"
    fi
  done
  exit 1
fi
