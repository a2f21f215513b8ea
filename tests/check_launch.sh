#!/usr/bin/env bash
# scripts/launch.sh and the rlkd command under it: every rank gets its
# rank, local rank, world size and a fresh rendezvous; a failing rank stops
# the run with its status; and `rlkd train` on two ranks with synchronised
# batch norm saves (from rank 0 only) the network one process trains on
# the whole batch, to float tolerance. Run by `make test` with BUILD set;
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
# The two networks' tensors, compared (safetensors: a JSON header, then data).
if compare=$("$PY" - "$tmp/one.safetensors" "$tmp/two.safetensors" <<'EOF' 2>&1
import json, struct, sys
import numpy as np
def tensors(path):
    data = open(path, "rb").read()
    size = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + size])
    body = data[8 + size:]
    return {name: np.frombuffer(body[v["data_offsets"][0]:v["data_offsets"][1]],
                                dtype={"F32": np.float32, "I64": np.int64,
                                       "I32": np.int32}[v["dtype"]])
            for name, v in header.items() if name != "__metadata__"}
one, two = tensors(sys.argv[1]), tensors(sys.argv[2])
assert one.keys() == two.keys(), "different tensors"
worst = max(float(np.max(np.abs(one[k].astype(np.float64) - two[k]) /
                         (1e-3 + np.abs(one[k].astype(np.float64)))))
            for k in one)
print("worst relative difference %.2e over %d tensors" % (worst, len(one)))
sys.exit(0 if worst < 1e-2 else 1)
EOF
); then
  pass "two ranks (synchronised batch norm) train one process's network: $compare"
else
  fail "two ranks and one process differ: $compare"
fi
exit $status
