#!/usr/bin/env bash
# Kill and resume: `rlkd train --checkpoint`, `rlkd search --search-state`
# and `rlkd compress --search-state` on a small fake IDX data set, each run
# once uninterrupted and once killed (SIGKILL) at random moments and
# started again until it completes. The killed run must end exactly as the
# uninterrupted one: the same bytes in the saved networks, checkpoints,
# search states and policies, the same episode log (but its timings) and
# the same results. Saves are slowed down (tests/slow_save.c, preloaded)
# so that many kills land inside one and leave a part-written temporary
# file, which the next run must pass over. Then the --json and --markdown
# appends: a torn last line is cut off, a full file is an error that
# leaves it as it was.
#
# The delays come from bash's $RANDOM seeded with the seed this prints:
# KILL_SEED=N tests/check_kill_resume.sh replays a run. Prints PASS/FAIL
# lines for run.sh.
set -u
BUILD=${BUILD:-build}
RLKD=${RLKD:-$BUILD/bin/rlkd}
SLOW_SAVE=${SLOW_SAVE:-$BUILD/tests/slow_save.so}
PY=/usr/bin/python3
KILLS=${KILLS:-5}
# Idle OpenMP threads must not spin against the working ones (2 cores).
export OMP_WAIT_POLICY=passive
status=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

pass() { echo "PASS kill-resume: $*"; }
fail() { echo "FAIL kill-resume: $*"; status=1; }

for needed in "$RLKD" "$SLOW_SAVE"; do
  if [ ! -e "$needed" ]; then
    echo "FAIL kill-resume: $needed is not built"
    exit 1
  fi
done
# The runs start in folders of their own.
RLKD=$(realpath "$RLKD")
SLOW_SAVE=$(realpath "$SLOW_SAVE")
seed=${KILL_SEED:-$RANDOM}
RANDOM=$seed
echo "kill-resume: kill delays from seed $seed (KILL_SEED=$seed replays them)"

# Every rlkd run: saves slowed down; the sanitizers' runtime accepts the
# preloaded library before it.
export SLOW_SAVE_MS=${SLOW_SAVE_MS:-3}
slow=(env LD_PRELOAD="$SLOW_SAVE"
      ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0")

# --- data: 400 training and 100 test images of 10 classes -----------------
data="$tmp/data"
mkdir -p "$data"
"$PY" tests/write_fake_idx.py "$data"
common=(--data "$data" --validation 100 --batch 32 --threads 2 --quiet)

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# run_whole DIR ARGS...: rlkd ARGS in DIR (relative paths, so that both
# runs write the same bytes), uninterrupted; sets run_ms.
run_whole() {
  local dir=$1 start rc
  shift
  mkdir -p "$dir"
  start=$(now_ms)
  (cd "$dir" && "${slow[@]}" "$RLKD" "$@" >out 2>err)
  rc=$?
  run_ms=$(($(now_ms) - start))
  if [ "$rc" != 0 ]; then
    fail "rlkd $* exited $rc: $(tail -1 "$dir/err")"
    return 1
  fi
}

# temp_files DIR: the part-written temporary files of saves in DIR.
temp_files() { find "$1" -name '*.tmp.*' -size +0c | wc -l; }

# run_killed DIR MAX_MS ARGS...: rlkd ARGS in DIR, killed first inside its
# first save (saves slowed down further, the kill as soon as a temporary
# file has bytes in it), then up to KILLS times after a random delay below
# 2/3 of MAX_MS each (until a start runs to its end first), then run once
# more to its end (a run of a finished job changes nothing). Sets killed (the kills that hit a running process) and torn (of
# those, the ones inside a save: they left a temporary file).
run_killed() {
  local dir=$1 max_ms=$2 delay rc pid before waited=0
  shift 2
  mkdir -p "$dir"
  killed=0 torn=0
  before=$(temp_files "$dir")
  (cd "$dir" && SLOW_SAVE_MS=50 exec "${slow[@]}" "$RLKD" "$@" >out 2>err) &
  pid=$!
  while [ "$(temp_files "$dir")" = "$before" ] && kill -0 "$pid" 2>/dev/null &&
        [ "$waited" -lt 3000 ]; do
    sleep 0.01
    waited=$((waited + 1))
  done
  kill -KILL "$pid" 2>/dev/null
  { wait "$pid"; } 2>/dev/null
  rc=$?
  if [ "$rc" != 137 ] || [ "$(temp_files "$dir")" = "$before" ]; then
    fail "rlkd $*: not killed inside a save (exit $rc): $(tail -1 "$dir/err")"
    return 1
  fi
  killed=1 torn=1
  for _ in $(seq "$KILLS"); do
    before=$(temp_files "$dir")
    delay=$((RANDOM % (max_ms * 2 / 3 + 1)))
    { (cd "$dir" && exec timeout -s KILL "$((delay / 1000)).$(printf '%03d' $((delay % 1000)))" \
        "${slow[@]}" "$RLKD" "$@" >out 2>err); } 2>/dev/null
    rc=$?
    if [ "$rc" = 137 ]; then
      killed=$((killed + 1))
      [ "$(temp_files "$dir")" -gt "$before" ] && torn=$((torn + 1))
    elif [ "$rc" = 0 ]; then
      break
    else
      fail "rlkd $* (started again after a kill) exited $rc: $(tail -1 "$dir/err")"
      return 1
    fi
  done
  (cd "$dir" && "${slow[@]}" "$RLKD" "$@" >out 2>err)
  rc=$?
  if [ "$rc" != 0 ]; then
    fail "rlkd $* (the last start) exited $rc: $(tail -1 "$dir/err")"
    return 1
  fi
}

# same WHAT FILE...: each FILE is the same bytes in ref/ and killed/ of the
# current job.
same() {
  local what=$1 f differ=""
  shift
  for f in "$@"; do
    cmp -s "$job/ref/$f" "$job/killed/$f" || differ="$differ $f"
  done
  if [ -z "$differ" ]; then
    pass "$what: the same$(printf ' %s' "$@") after $killed kills ($torn inside a save)"
  else
    fail "$what: differ after $killed kills ($torn inside a save):$differ"
  fi
}

# The last stdout line without the run's time.
result_line() { tail -1 "$1" | sed 's/; [0-9.]* s$//'; }
# The episode log without the episodes' timings.
log_without_time() { sed 's/,"seconds":[^,}]*//' "$1"; }

# --- training ---------------------------------------------------------------
job="$tmp/train"
train=(train "${common[@]}" --width 0.25 --epochs 8 --checkpoint net.ckpt --save net.safetensors)
if run_whole "$job/ref" "${train[@]}"; then
  # A leftover of an earlier killed save under the checkpoint's name.
  mkdir -p "$job/killed"
  head -c 100 "$job/ref/net.ckpt" >"$job/killed/net.ckpt.tmp.1.0"
  if run_killed "$job/killed" "$run_ms" "${train[@]}"; then
    same "train --checkpoint killed and resumed" net.safetensors net.ckpt
    if [ "$(result_line "$job/ref/out")" = "$(result_line "$job/killed/out")" ]; then
      pass "train: the same result ($(result_line "$job/ref/out"))"
    else
      fail "train: results differ: '$(result_line "$job/ref/out")' and '$(result_line "$job/killed/out")'"
    fi
  fi
fi
student="$tmp/train/ref/net.safetensors"

# --- search -----------------------------------------------------------------
job="$tmp/search"
search=(search "${common[@]}" --init "$student" --method amc --flops 0.5
        --episodes 30 --warmup-episodes 10 --search-images 100
        --policy policy.json --search-log episodes.jsonl
        --search-state search.state --save searched.safetensors)
if [ -s "$student" ] && run_whole "$job/ref" "${search[@]}" &&
   run_killed "$job/killed" "$run_ms" "${search[@]}"; then
  same "search --search-state killed and resumed" searched.safetensors \
    search.state policy.json
  if [ "$(log_without_time "$job/ref/episodes.jsonl")" = \
       "$(log_without_time "$job/killed/episodes.jsonl")" ] &&
     [ "$(wc -l <"$job/ref/episodes.jsonl")" = 30 ] &&
     [ "$(result_line "$job/ref/out")" = "$(result_line "$job/killed/out")" ]; then
    pass "search: the same 30-episode log (but the timings) and result"
  else
    fail "search: the episode logs or the results differ"
  fi
fi

# --- compress: the search resumes, the fine-tuning starts again -------------
job="$tmp/compress"
compress=(compress "${common[@]}" --init "$student" --teacher "$student"
          --method rlkd --flops 0.5 --episodes 20 --warmup-episodes 5
          --search-images 100 --recalibrate 2 --finetune-epochs 2
          --search-state search.state --search-log episodes.jsonl
          --save compressed.safetensors)
if [ -s "$student" ] && run_whole "$job/ref" "${compress[@]}" &&
   run_killed "$job/killed" "$run_ms" "${compress[@]}"; then
  same "compress killed and resumed" compressed.safetensors search.state
  if [ "$(sed 's/; [0-9.]* s$//' "$job/ref/out")" = \
       "$(sed 's/; [0-9.]* s$//' "$job/killed/out")" ]; then
    pass "compress: the same report"
  else
    fail "compress: the reports differ"
  fi
fi

# --- the --json and --markdown appends ---------------------------------------
job="$tmp/append"
mkdir -p "$job"
flops=(flops --model vgg_small --width 0.25 --input 1,28,28 --classes 10)
# A torn last line (a run killed while appending) is cut off; a whole one
# without its newline (an edit) is kept.
printf '{"command":"flops"}\n{"command":"fl' >"$job/torn.jsonl"
printf '{"command":"edited"}' >"$job/edited.jsonl"
printf '| a | b |\n| c | d' >"$job/torn.md"
if "$RLKD" "${flops[@]}" --json "$job/torn.jsonl" --markdown "$job/torn.md" \
     >/dev/null 2>"$job/err" &&
   "$RLKD" "${flops[@]}" --json "$job/edited.jsonl" >/dev/null 2>&1 &&
   [ "$(wc -l <"$job/torn.jsonl")" = 2 ] &&
   "$PY" -c 'import json, sys; [json.loads(l) for l in open(sys.argv[1])]' "$job/torn.jsonl" &&
   [ "$(head -1 "$job/edited.jsonl")" = '{"command":"edited"}' ] &&
   [ "$(wc -l <"$job/edited.jsonl")" = 2 ] &&
   [ "$(sed -n 2p "$job/torn.md" | cut -c1-8)" = '| flops ' ] &&
   grep -q "cut off an incomplete last line" "$job/err"; then
  pass "--json and --markdown: a torn last line is cut off, an edited one kept"
else
  fail "--json and --markdown: a torn or edited last line was not repaired as it should"
fi
# A full file system (a file size limit of 1 KiB, SIGXFSZ ignored so that
# writes fail with EFBIG): one error line, the file as it was.
yes '{"command":"flops"}' | head -100 >"$job/full.jsonl"
cp "$job/full.jsonl" "$job/full.before"
(trap '' XFSZ; ulimit -f 1; exec "$RLKD" "${flops[@]}" --json "$job/full.jsonl") \
  >/dev/null 2>"$job/err"
rc=$?
if [ "$rc" = 1 ] && [ "$(wc -l <"$job/err")" = 1 ] &&
   grep -q "^rlkd flops: --json $job/full.jsonl: cannot append to it: File too large" "$job/err" &&
   cmp -s "$job/full.jsonl" "$job/full.before"; then
  pass "--json on a full file system: $(cat "$job/err")"
else
  fail "--json on a full file system: exit $rc, $(head -3 "$job/err")"
fi
exit $status
