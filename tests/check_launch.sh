#!/usr/bin/env bash
# scripts/launch.sh and the rlkd command under it: every rank gets its
# rank, local rank, world size and a fresh rendezvous; a failing rank stops
# the run with its status; `rlkd train` on two ranks with synchronised
# batch norm saves (from rank 0 only) the network one process trains on
# the whole batch, to float tolerance; and `rlkd compress` on two ranks
# searches as one process does and ends with its network. Run by `make test` with BUILD set;
# prints PASS/FAIL/SKIP lines for tests/run.sh.
set -u
BUILD=${BUILD:-build}
RLKD=${RLKD:-$BUILD/bin/rlkd}
PY=/usr/bin/python3
export OMP_WAIT_POLICY=passive
status=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass() { echo "PASS launch: $*"; }
fail() { echo "FAIL launch: $*"; status=1; }

out=$(scripts/launch.sh --nproc 3 -- sh -c \
  'echo "$RLKD_RANK $RLKD_LOCAL_RANK $RLKD_WORLD_SIZE ${RLKD_RENDEZVOUS:+set}"' | sort)
want=$(printf '[0] 0 0 3 set\n[1] 1 1 3 set\n[2] 2 2 3 set')
if [ "$out" = "$want" ]; then
  pass "3 ranks see their rank, local rank, world size and rendezvous"
else
  fail "the ranks saw: $out"
fi
out=$(scripts/launch.sh --nnodes 2 --node-rank 1 --nproc 2 --rendezvous "$tmp/r" -- \
  sh -c 'echo "$RLKD_RANK $RLKD_LOCAL_RANK $RLKD_WORLD_SIZE"' | sort)
if [ "$out" = "$(printf '[2] 2 0 4\n[3] 3 1 4')" ]; then
  pass "node 1 of 2 starts ranks 2 and 3 of 4"
else
  fail "node 1 of 2 started: $out"
fi
start=$SECONDS
scripts/launch.sh --nproc 2 -- sh -c '[ "$RLKD_RANK" = 1 ] && exit 3; sleep 60' \
  >/dev/null 2>&1
rc=$?
if [ "$rc" = 3 ] && [ $((SECONDS - start)) -lt 30 ]; then
  pass "a failing rank stops the others; the launcher exits with its status 3"
else
  fail "a failing rank: exit $rc after $((SECONDS - start)) s (want 3, at once)"
fi
scripts/launch.sh --nproc 0 -- true 2>/dev/null
if [ $? = 2 ]; then pass "--nproc 0 is a usage error"; else fail "--nproc 0 was taken"; fi

if [ ! -x "$RLKD" ] || [ ! -x "$PY" ] || ! "$PY" -c 'import numpy' 2>/dev/null; then
  echo "SKIP launch: rlkd train on two ranks: needs $RLKD and $PY with numpy"
  exit $status
fi
# 192 training images of 28x28 in 4 classes (a bright band per class).
"$PY" tests/write_fake_idx.py "$tmp" 4 192 32
train=(train --data "$tmp" --validation 32 --batch 32 --threads 1 --epochs 1
       --model vgg_small --width 0.25 --quiet)
if ! "$RLKD" "${train[@]}" --save "$tmp/one.safetensors" >"$tmp/one.out" 2>&1; then
  fail "rlkd train on one process failed:"; tail -3 "$tmp/one.out" | sed 's/^/  /'
  exit $status
fi
RLKD_SYNC_BATCHNORM=1 scripts/launch.sh --nproc 2 -- \
  "$RLKD" "${train[@]}" --save "$tmp/two.safetensors" >"$tmp/two.out" 2>&1
rc=$?
lines=$(grep -c 'test top-1' "$tmp/two.out")
if [ "$rc" = 0 ] && [ "$lines" = 1 ] && grep -q '^\[0\] train vgg_small' "$tmp/two.out"; then
  pass "rlkd train on two ranks: rank 0 alone reports ($(grep 'test top-1' "$tmp/two.out"))"
else
  fail "rlkd train on two ranks exited $rc with $lines result lines:"
  tail -5 "$tmp/two.out" | sed 's/^/  /'
fi
if compare=$("$PY" tests/compare_safetensors.py "$tmp/one.safetensors" \
               "$tmp/two.safetensors" 2>&1); then
  pass "two ranks (synchronised batch norm) train one process's network: $compare"
else
  fail "two ranks and one process differ: $compare"
fi

# rlkd compress on two ranks: the parallel search logs one process's
# episodes (rank 0 alone writes the log and the result line), and the
# data-parallel fine-tuning ends with one process's network.
compress=(compress --data "$tmp" --validation 32 --batch 32 --threads 1
          --model vgg_small --width 0.25 --quiet --method amc --flops 0.5
          --episodes 4 --warmup-episodes 2 --round-to 2 --finetune-epochs 1)
if ! "$RLKD" "${compress[@]}" --save "$tmp/one_c.safetensors" \
    --search-log "$tmp/one.log" --json "$tmp/one.jsonl" >"$tmp/one_c.out" 2>&1; then
  fail "rlkd compress on one process failed:"; tail -3 "$tmp/one_c.out" | sed 's/^/  /'
  exit $status
fi
# Each rank names its own log: only rank 0's may be written.
RLKD_SYNC_BATCHNORM=1 TMP_DIR=$tmp scripts/launch.sh --nproc 2 -- sh -c \
  '"$0" "$@" --search-log "$TMP_DIR/two.$RLKD_RANK.log"' \
  "$RLKD" "${compress[@]}" --save "$tmp/two_c.safetensors" \
  --json "$tmp/two.jsonl" >"$tmp/two_c.out" 2>&1
rc=$?
policies() { "$PY" -c 'import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    print(e["keep"], repr(e["reward"]))' "$1"; }
if [ "$rc" != 0 ]; then
  fail "rlkd compress on two ranks exited $rc:"; tail -5 "$tmp/two_c.out" | sed 's/^/  /'
elif [ -z "$(policies "$tmp/one.log")" ] ||
     [ "$(policies "$tmp/one.log")" != "$(policies "$tmp/two.0.log")" ]; then
  fail "the parallel search's episodes differ from one process's"
elif [ -e "$tmp/two.1.log" ]; then
  fail "rank 1 wrote a search log: it searched on its own"
elif [ "$(wc -l <"$tmp/two.jsonl")" != 1 ]; then
  fail "two ranks wrote $(wc -l <"$tmp/two.jsonl") result lines (want 1)"
elif compare=$("$PY" tests/compare_safetensors.py "$tmp/one_c.safetensors" \
               "$tmp/two_c.safetensors" 2>&1); then
  pass "rlkd compress on two ranks: one process's episodes and network: $compare"
else
  fail "rlkd compress: two ranks and one process differ: $compare"
fi

# rlkd search on two ranks: one process's episodes, rank 0's log alone.
search=(search --data "$tmp" --validation 32 --batch 32 --threads 1 --quiet
        --init "$tmp/one.safetensors" --method amc --flops 0.5 --episodes 4
        --warmup-episodes 2 --round-to 2)
"$RLKD" "${search[@]}" --search-log "$tmp/one_s.log" >"$tmp/one_s.out" 2>&1
TMP_DIR=$tmp scripts/launch.sh --nproc 2 -- sh -c \
  '"$0" "$@" --search-log "$TMP_DIR/two_s.$RLKD_RANK.log"' \
  "$RLKD" "${search[@]}" >"$tmp/two_s.out" 2>&1
rc=$?
if [ "$rc" = 0 ] && [ -n "$(policies "$tmp/one_s.log")" ] &&
   [ "$(policies "$tmp/one_s.log")" = "$(policies "$tmp/two_s.0.log")" ] &&
   [ ! -e "$tmp/two_s.1.log" ]; then
  pass "rlkd search on two ranks: one process's episodes, logged by rank 0"
else
  fail "rlkd search on two ranks (exit $rc):"; tail -3 "$tmp/two_s.out" | sed 's/^/  /'
fi
exit $status
