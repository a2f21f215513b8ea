#!/usr/bin/env bash
# The paper-scale scripts on tiny fake data sets, with one-epoch schedules
# and two-episode searches on the CPU: scripts/paper/cifar100.sh on a
# CIFAR-100 in the real binary format (records of <coarse label><fine
# label><3072 pixel bytes>), scripts/paper/imagenet.sh on an ImageNet
# folder (train/ and val/ of 3 classes of small JPEGs, a CMYK one among
# them) at 32x32 crops. Each script is known to run, its three tables and
# the plots appear, a second run resumes without training again, and an
# unknown table is refused. The teacher is the paper's DenseNet-201 and
# the students its ResNet-50 and VGG-16; on the fake ImageNet the VGG-16 is
# vgg16_cifar (the same features, a pooled classifier), as vgg16_bn's
# classifier needs 224x224 crops and holds 120 M parameters. Prints
# PASS/FAIL/SKIP lines for run.sh.
set -u
BUILD=${BUILD:-build}
PY=/usr/bin/python3
export OMP_WAIT_POLICY=passive
if [ "${SAN:-0}" = 1 ]; then
  # The scripts' logic does not change under the sanitizers; the
  # paper-size networks would take minutes there.
  echo "SKIP paper: not under the sanitizers (the plain run checks the scripts)"
  exit 0
fi
if ! [ -x "$PY" ]; then
  echo "SKIP paper: $PY is needed to write the fake data sets"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0

# check_script NAME VGG ENV...: the three checks of scripts/paper/NAME.sh,
# whose VGG-16 student is VGG, run with the environment ENV (its data and
# sizes) and a tiny schedule, OUT=$tmp/NAME.
check_script() {
  local name=$1 vgg=$2 script=scripts/paper/$1.sh out=$tmp/$1
  shift 2
  local tiny=("$@" RLKD="$BUILD/bin/rlkd" OUT="$out" DEVICE=cpu TEACHER_EPOCHS=1
              STUDENT_EPOCHS=1 FINETUNE_EPOCHS=1 EPISODES=2 WARMUP_EPISODES=1)
  local runs
  if env "${tiny[@]}" "$script" all >"$tmp/log" 2>&1; then
    runs=$(wc -l <"$out/results.jsonl")
    if [ "$runs" = 14 ] && [ -s "$out/table1.md" ] && [ -s "$out/table2.md" ] &&
       [ -s "$out/table3.md" ] && [ -s "$out/accuracy-flops.svg" ] &&
       [ -s "$out/resnet50-rlkd-plots/policy.svg" ] &&
       grep -q "^| $vgg-rlkd | rlkd |" "$out/table3.md"; then
      echo "PASS paper/$name: 14 runs, the three tables and the plots"
    else
      echo "FAIL paper/$name: $runs runs (want 14) or a table or plot is missing"
      status=1
    fi
  else
    echo "FAIL paper/$name: the script failed:"
    tail -5 "$tmp/log" | sed 's/^/  /'
    status=1
  fi
  # Every run is done: a second pass trains nothing and adds no results.
  if env "${tiny[@]}" "$script" all >"$tmp/log2" 2>&1 &&
     [ "$(grep -c 'done already' "$tmp/log2")" = 14 ] &&
     [ "$(wc -l <"$out/results.jsonl")" = 14 ]; then
    echo "PASS paper/$name: a second run resumes (all 14 runs done already)"
  else
    echo "FAIL paper/$name: the second run did not skip the finished runs"
    status=1
  fi
  if env "${tiny[@]}" "$script" table4 >/dev/null 2>&1; then
    echo "FAIL paper/$name: an unknown table was accepted"
    status=1
  else
    echo "PASS paper/$name: an unknown table is refused"
  fi
}

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
check_script cifar100 vgg16_cifar CIFAR100="$tmp/cifar" BATCH=12 SEARCH_IMAGES=12 VALIDATION=12

if ! "$PY" -c 'import PIL' 2>/dev/null; then
  echo "SKIP paper/imagenet: $PY cannot import PIL to write the images (apt-get install python3-pil)"
  exit $status
fi
"$PY" - "$tmp/imagenet" <<'EOF'
import os, random, sys
from PIL import Image
root = sys.argv[1]
rng = random.Random(2)
for split, count in (("train", 6), ("val", 2)):
    for c, name in enumerate(("n01440764", "n01443537", "n01484850")):
        os.makedirs(os.path.join(root, split, name))
        for i in range(count):
            w, h = rng.randrange(36, 64), rng.randrange(36, 64)
            image = Image.frombytes("RGB", (w, h), os.urandom(w * h * 3))
            mode = "CMYK" if split == "train" and c == i == 1 else "RGB"
            image.convert(mode).save(os.path.join(root, split, name, "%d.JPEG" % i),
                                     quality=90)
EOF
check_script imagenet vgg16_cifar IMAGENET="$tmp/imagenet" CROP=32 RESIZE=36 WORKERS=1 BATCH=6 \
  SEARCH_IMAGES=6 VALIDATION=6 STUDENTS="vgg16_cifar resnet50"
exit $status
