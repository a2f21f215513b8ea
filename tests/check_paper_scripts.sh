#!/usr/bin/env bash
# The paper-scale script (scripts/paper/cifar100.sh) on a tiny fake
# CIFAR-100 in the real binary format (records of <coarse label><fine
# label><3072 pixel bytes>), with one-epoch schedules and two-episode
# searches on the CPU: the script itself is known to run, its three tables
# and the plots appear, and a second run resumes without training again.
# The networks are the paper's (DenseNet-201, VGG-16, ResNet-50); only the
# data and the schedule are small. Prints PASS/FAIL/SKIP lines for run.sh.
set -u
BUILD=${BUILD:-build}
PY=/usr/bin/python3
export OMP_WAIT_POLICY=passive
if [ "${SAN:-0}" = 1 ]; then
  # The script's logic does not change under the sanitizers; the
  # paper-size networks would take minutes there.
  echo "SKIP paper/cifar100: not under the sanitizers (the plain run checks it)"
  exit 0
fi
if ! [ -x "$PY" ]; then
  echo "SKIP paper/cifar100: $PY is needed to write the fake data set"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0

"$PY" - "$tmp/cifar" <<'EOF'
import os, random, sys
folder = sys.argv[1]
os.makedirs(folder)
random.seed(1)
for name, count in (("train.bin", 72), ("test.bin", 24)):
    with open(os.path.join(folder, name), "wb") as f:
        for i in range(count):
            fine = i % 100
            f.write(bytes([fine // 5, fine]) + os.urandom(3072))
EOF

tiny=(CIFAR100="$tmp/cifar" RLKD="$BUILD/bin/rlkd" OUT="$tmp/out" DEVICE=cpu
      TEACHER_EPOCHS=1 STUDENT_EPOCHS=1 FINETUNE_EPOCHS=1 BATCH=12 EPISODES=2
      WARMUP_EPISODES=1 SEARCH_IMAGES=12 VALIDATION=12)
if env "${tiny[@]}" scripts/paper/cifar100.sh all >"$tmp/log" 2>&1; then
  runs=$(wc -l <"$tmp/out/results.jsonl")
  if [ "$runs" = 14 ] && [ -s "$tmp/out/table1.md" ] && [ -s "$tmp/out/table2.md" ] &&
     [ -s "$tmp/out/table3.md" ] && [ -s "$tmp/out/accuracy-flops.svg" ] &&
     [ -s "$tmp/out/resnet50-rlkd-plots/policy.svg" ] &&
     grep -q '^| vgg16_cifar-rlkd | rlkd |' "$tmp/out/table3.md"; then
    echo "PASS paper/cifar100: 14 runs, the three tables and the plots"
  else
    echo "FAIL paper/cifar100: $runs runs (want 14) or a table or plot is missing"
    status=1
  fi
else
  echo "FAIL paper/cifar100: the script failed:"
  tail -5 "$tmp/log" | sed 's/^/  /'
  status=1
fi
# Every run is done: a second pass trains nothing and adds no results.
if env "${tiny[@]}" scripts/paper/cifar100.sh all >"$tmp/log2" 2>&1 &&
   [ "$(grep -c 'done already' "$tmp/log2")" = 14 ] &&
   [ "$(wc -l <"$tmp/out/results.jsonl")" = 14 ]; then
  echo "PASS paper/cifar100: a second run resumes (all 14 runs done already)"
else
  echo "FAIL paper/cifar100: the second run did not skip the finished runs"
  status=1
fi
if env "${tiny[@]}" scripts/paper/cifar100.sh table4 >/dev/null 2>&1; then
  echo "FAIL paper/cifar100: an unknown table was accepted"
  status=1
else
  echo "PASS paper/cifar100: an unknown table is refused"
fi
exit $status
