#!/usr/bin/env bash
# The paper's Tables 1 and 2 on Fashion-MNIST, on the CPU:
#   1. a small CNN (vgg_small) trained alone on the whole training set
#      (goal: >= 91% test top-1);
#   2. the teacher, a small DenseNet-BC, with ECA attention and without;
#   3. the student, a narrow small VGG (STUDENT_WIDTH), trained alone and
#      distilled from the ECA teacher of the same seed.
# Every run appends one JSON line to $OUT_DIR/runs.jsonl and is skipped when
# that line is already there, so the script resumes after an interruption;
# at the end the table (mean and spread over the seeds) goes to
# docs/results.md. Runs: make -j2 && scripts/bench-fashion.sh
#
# The defaults are the sizes measured in docs/results.md (about two hours on
# 2 cores: the small CNN half an hour, each teacher a quarter of an hour);
# the full-size schedule for users with more time is EPOCHS=30
# TEACHER_EPOCHS=60 TRAIN_LIMIT=0 VALIDATION=5000.
#   SEEDS="1 2 3"       the seeds (default three)
#   SMALL_EPOCHS=10     the small CNN's epochs
#   SMALL_TRAIN_LIMIT=0 its training images (0: all 60,000)
#   SMALL_VALIDATION=5000  of which this many are held out
#   EPOCHS=5            epochs of every other run but the teachers'
#   TEACHER_EPOCHS=15   the teachers' epochs: distillation helps only a
#                       teacher clearly stronger than the student (a pilot,
#                       seed 1, TRAIN_LIMIT=12000: a 15-epoch ECA teacher at
#                       88.9% lifts the x0.25 student from 81.8% to 82.8% with
#                       KD_ALPHA=0.5, 82.2% with 0.9; the 5-epoch teacher at
#                       84% lowers it)
#   KD_ALPHA=0.5        the distillation weight (alpha; T is 4)
#   TRAIN_LIMIT=12000   use only this many training images (0: all 60,000)
#   VALIDATION=2000     of which this many are held out for validation
#   STUDENT_WIDTH=0.25  the student's width multiplier
#   TAGS="small_cnn teacher_plain teacher_eca student_alone student_kd"
#                       the runs to make (student_kd needs teacher_eca)
#   OUT_DIR=build/bench-fashion   where runs.jsonl and the teachers go
#                       (results/fashion-2026-12-01 holds the runs measured
#                       for docs/results.md)
set -euo pipefail
cd "$(dirname "$0")/.."
SEEDS=${SEEDS:-"1 2 3"}
SMALL_EPOCHS=${SMALL_EPOCHS:-10}
SMALL_TRAIN_LIMIT=${SMALL_TRAIN_LIMIT:-0}
SMALL_VALIDATION=${SMALL_VALIDATION:-5000}
EPOCHS=${EPOCHS:-5}
TEACHER_EPOCHS=${TEACHER_EPOCHS:-15}
KD_ALPHA=${KD_ALPHA:-0.5}
TRAIN_LIMIT=${TRAIN_LIMIT:-12000}
VALIDATION=${VALIDATION:-2000}
STUDENT_WIDTH=${STUDENT_WIDTH:-0.25}
TAGS=${TAGS:-"small_cnn teacher_plain teacher_eca student_alone student_kd"}
OUT_DIR=${OUT_DIR:-build/bench-fashion}
. scripts/runs.sh
common=(--epochs "$EPOCHS" --warmup 1 --validation "$VALIDATION" --json)
[ "$TRAIN_LIMIT" -gt 0 ] && common+=(--train-limit "$TRAIN_LIMIT")
start=$(date +%s)

# run TAG SEED ARGS...: run_once for the tags in $TAGS. Tags carry what
# makes another run: the small CNN's epochs and training images, the width
# (students), the teachers' epochs when they differ from EPOCHS (teachers,
# distilled students), alpha when not 0.9.
run() {
  local tag=$1 seed=$2; shift 2
  case " $TAGS " in *" $tag "*) ;; *) return ;; esac
  local teacher_mark=""
  [ "$TEACHER_EPOCHS" != "$EPOCHS" ] && teacher_mark="_e$TEACHER_EPOCHS"
  case $tag in
    small_cnn) tag="${tag}_e$SMALL_EPOCHS"
               [ "$SMALL_TRAIN_LIMIT" -gt 0 ] && tag="${tag}_n$SMALL_TRAIN_LIMIT" ;;
    teacher_*) tag="$tag$teacher_mark" ;;
    student_kd) tag="${tag}_w$STUDENT_WIDTH$teacher_mark"
                [ "$KD_ALPHA" != 0.9 ] && tag="${tag}_a$KD_ALPHA" ;;
    student_*) tag="${tag}_w$STUDENT_WIDTH" ;;
  esac
  run_once "$tag" "$seed" "$@"
}
teachers=$OUT_DIR/teacher_eca
[ "$TEACHER_EPOCHS" != "$EPOCHS" ] && teachers="${teachers}_e$TEACHER_EPOCHS"

for seed in $SEEDS; do
  run small_cnn "$seed" --model vgg_small --epochs "$SMALL_EPOCHS" \
    --train-limit "$SMALL_TRAIN_LIMIT" --validation "$SMALL_VALIDATION"
  run teacher_plain "$seed" --model densenet_small --epochs "$TEACHER_EPOCHS"
  run teacher_eca "$seed" --model densenet_small --attention eca \
    --epochs "$TEACHER_EPOCHS" --save "${teachers}_$seed.safetensors"
  run student_alone "$seed" --model vgg_small --width "$STUDENT_WIDTH"
  run student_kd "$seed" --model vgg_small --width "$STUDENT_WIDTH" \
    --teacher "${teachers}_$seed.safetensors" --alpha "$KD_ALPHA"
done
elapsed=$(( $(date +%s) - start ))

# The table: mean and sample standard deviation of test top-1 per tag. The
# pruning section (scripts/bench-prune.sh) is kept.
pruning=$(sed -n '/^<!-- pruning: begin/,$p' docs/results.md 2>/dev/null || true)
python3 - "$RUNS" "$EPOCHS" "$TRAIN_LIMIT" "$SEEDS" "$VALIDATION" "$TEACHER_EPOCHS" \
  "$KD_ALPHA" "$SMALL_EPOCHS" "$SMALL_TRAIN_LIMIT" "$SMALL_VALIDATION" <<'EOF' >docs/results.md
import json, statistics, sys
(runs_path, epochs, limit, seeds, validation, teacher_epochs, alpha,
 small_epochs, small_limit, small_validation) = sys.argv[1:]
runs = [json.loads(line) for line in open(runs_path) if line.strip()]
# the tags of this configuration (see run() in the script)
teacher_mark = f"_e{teacher_epochs}" if teacher_epochs != epochs else ""
alpha_mark = f"_a{alpha}" if alpha != "0.9" else ""
small_tag = f"small_cnn_e{small_epochs}" + (f"_n{small_limit}" if small_limit != "0" else "")
rows = [(small_tag, "small CNN (vgg_small) alone"),
        ("teacher_plain" + teacher_mark, "teacher DenseNet-BC (densenet_small), no attention"),
        ("teacher_eca" + teacher_mark, "teacher DenseNet-BC (densenet_small) + ECA")]
widths = sorted({r["tag"].split("_w", 1)[1].split("_")[0] for r in runs
                 if r["tag"].startswith("student_")}, key=float, reverse=True)
for w in widths:
    rows.append((f"student_alone_w{w}", f"student vgg_small x{w}, trained alone"))
    rows.append((f"student_kd_w{w}{teacher_mark}{alpha_mark}",
                 f"student vgg_small x{w}, distilled from the ECA teacher"))
print("# Results\n")
print("## Fashion-MNIST, CPU (the paper's Tables 1 and 2 on data we have)\n")
print("Test top-1 on the 10,000 test images; mean and sample standard deviation")
print(f"over seeds {seeds}; SGD with Nesterov momentum,")
print("cosine schedule with one warm-up epoch, random crop (padding 2) and")
print("horizontal flip; distillation alpha {alpha}, T 4.".format(alpha=alpha))
def images(limit, validation):
    used = f"the first {limit}" if limit != "0" else "all 60,000"
    return f"{used} training images, {validation} of them held out for validation"
print(f"The small CNN: {small_epochs} epochs on {images(small_limit, small_validation)}.")
print(f"The others: {epochs} epochs ({teacher_epochs} for the teachers) on "
      f"{images(limit, validation)}.")
command = (f"SEEDS=\"{seeds}\" SMALL_EPOCHS={small_epochs} SMALL_TRAIN_LIMIT={small_limit} "
           f"SMALL_VALIDATION={small_validation} EPOCHS={epochs} TEACHER_EPOCHS={teacher_epochs} "
           f"KD_ALPHA={alpha} TRAIN_LIMIT={limit} VALIDATION={validation} STUDENT_WIDTH=<w> "
           "scripts/bench-fashion.sh")
tags = {tag for tag, _ in rows}
total = sum(r["seconds"] for r in runs if r["tag"] in tags)
print(f"Measured with `{command}`, once per student width, on 2 CPU cores;")
print(f"the runs in this table took {total / 60:.0f} min of wall time in all (as measured:")
print("a run that shared the cores with other work counts the time it waited).\n")
print("| run | seeds | test top-1 (%) | params | MACs (M) | s per run |")
print("|---|---|---|---|---|---|")
for tag, label in rows:
    got = [r for r in runs if r["tag"] == tag]
    if not got:
        continue
    acc = [100 * r["test_top1"] for r in got]
    spread = f" ± {statistics.stdev(acc):.2f}" if len(acc) > 1 else ""
    print(f"| {label} | {len(got)} | {statistics.mean(acc):.2f}{spread} | "
          f"{got[0]['params']:,} | {got[0]['macs'] / 1e6:.2f} | "
          f"{statistics.mean(r['seconds'] for r in got):.0f} |")
EOF
[ -z "$pruning" ] || printf '\n%s\n' "$pruning" >>docs/results.md
echo "table written to docs/results.md ($elapsed s)"
