#!/usr/bin/env bash
# The paper's three tables on CIFAR-100, with the rlkd command, for users
# with the data and a GPU (Liu et al., Mathematics 2023, 11(22), 4589):
#
#   table1  the teacher DenseNet-201 trained alone and with SE, CBAM, ECA
#   table2  the students VGG-16 and ResNet-50 trained alone and distilled
#           from the best teacher (ECA, as in the paper)
#   table3  each student pruned at the paper's FLOPs ratios: AMC (the RL
#           search on the student alone, no distillation), SFP, and rlkd
#           (the RL search on the distilled student with the teacher's help,
#           fine-tuned with distillation); the unpruned distilled student
#           is the table's first column
#   all     the three in order (the default)
#
#   CIFAR100=/data/cifar-100-binary scripts/paper/cifar100.sh all
#
# CIFAR100 is the folder of the binary version (train.bin, test.bin). Every
# run is skipped when its network file exists, and each training run keeps
# a checkpoint: run the script again to resume. Results: one JSON line per
# run in $OUT/results.jsonl, the tables in $OUT/table{1,2,3}.md, the plots
# ($OUT/accuracy-flops.svg and the rlkd searches' rewards and policies).
#
# Sizes (environment; defaults are the paper-scale schedule, about a day on
# one modern GPU for everything): DEVICE (cuda), TEACHER_EPOCHS (200),
# STUDENT_EPOCHS (200), FINETUNE_EPOCHS (40), LR (0.1), BATCH (128),
# EPISODES (400), WARMUP_EPISODES (100), SEARCH_IMAGES (5000), VALIDATION
# (5000), TRAIN_LIMIT and TEST_LIMIT (0: all), SEED (1), OUT
# (build/paper/cifar100), RLKD (build/bin/rlkd).
set -euo pipefail
cd "$(dirname "$0")/../.."

TABLES=${1:-all}
CIFAR100=${CIFAR100:?set CIFAR100 to the folder with train.bin and test.bin}
RLKD=${RLKD:-build/bin/rlkd}
OUT=${OUT:-build/paper/cifar100}
DEVICE=${DEVICE:-cuda}
SEED=${SEED:-1}
TEACHER_EPOCHS=${TEACHER_EPOCHS:-200}
STUDENT_EPOCHS=${STUDENT_EPOCHS:-200}
FINETUNE_EPOCHS=${FINETUNE_EPOCHS:-40}
LR=${LR:-0.1}
BATCH=${BATCH:-128}
EPISODES=${EPISODES:-400}
WARMUP_EPISODES=${WARMUP_EPISODES:-100}
SEARCH_IMAGES=${SEARCH_IMAGES:-5000}
VALIDATION=${VALIDATION:-5000}
TRAIN_LIMIT=${TRAIN_LIMIT:-0}
TEST_LIMIT=${TEST_LIMIT:-0}

# The students as the zoo names them, and the FLOPs the paper keeps:
# its Table 3 divided by the unpruned student's FLOPs.
STUDENTS="vgg16_cifar resnet50"
declare -A AMC_FLOPS=([vgg16_cifar]=0.438 [resnet50]=0.499)
declare -A SFP_FLOPS=([vgg16_cifar]=0.425 [resnet50]=0.416)
declare -A RLKD_FLOPS=([vgg16_cifar]=0.366 [resnet50]=0.391)

case "$TABLES" in
  table1|table2|table3|all) ;;
  *) echo "usage: $0 [table1|table2|table3|all]" >&2; exit 2 ;;
esac
[ -x "$RLKD" ] || { echo "$0: $RLKD not found: run make first" >&2; exit 1; }
[ -s "$CIFAR100/train.bin" ] && [ -s "$CIFAR100/test.bin" ] ||
  { echo "$0: no train.bin and test.bin in $CIFAR100" >&2; exit 1; }
mkdir -p "$OUT"

common=(--cifar100 "$CIFAR100" --device "$DEVICE" --seed "$SEED" --batch "$BATCH"
        --validation "$VALIDATION" --train-limit "$TRAIN_LIMIT" --test-limit "$TEST_LIMIT")
search=(--episodes "$EPISODES" --warmup-episodes "$WARMUP_EPISODES"
        --search-images "$SEARCH_IMAGES")

# run NAME TABLE COMMAND...: one run, unless $OUT/NAME.safetensors exists;
# its result joins $OUT/results.jsonl and the table's Markdown.
run() {
  local name=$1 table=$2
  shift 2
  if [ -s "$OUT/$name.safetensors" ]; then
    echo "$0: $name: done already ($OUT/$name.safetensors)" >&2
    return
  fi
  echo "== $name" >&2
  "$RLKD" "$@" "${common[@]}" --save "$OUT/$name.safetensors" --label "$name" \
    --json "$OUT/results.jsonl" --markdown "$OUT/$table.md"
}

table1() {
  local attention
  for attention in none se cbam eca; do
    run "densenet201-$attention" table1 train --model densenet201 --attention "$attention" \
      --epochs "$TEACHER_EPOCHS" --lr "$LR" --checkpoint "$OUT/densenet201-$attention.ckpt"
  done
}

table2() {
  local student
  for student in $STUDENTS; do
    run "$student-alone" table2 train --model "$student" --epochs "$STUDENT_EPOCHS" \
      --lr "$LR" --checkpoint "$OUT/$student-alone.ckpt"
    run "$student-kd" table2 distill --model "$student" \
      --teacher "$OUT/densenet201-eca.safetensors" --epochs "$STUDENT_EPOCHS" --lr "$LR" \
      --checkpoint "$OUT/$student-kd.ckpt"
  done
}

table3() {
  local student
  for student in $STUDENTS; do
    run "$student-amc" table3 compress --method amc --init "$OUT/$student-alone.safetensors" \
      --flops "${AMC_FLOPS[$student]}" "${search[@]}" --finetune-epochs "$FINETUNE_EPOCHS" \
      --search-state "$OUT/$student-amc.state" --search-log "$OUT/$student-amc-episodes.jsonl" \
      --policy "$OUT/$student-amc-policy.json"
    run "$student-sfp" table3 compress --method sfp --init "$OUT/$student-alone.safetensors" \
      --flops "${SFP_FLOPS[$student]}" --finetune-epochs "$FINETUNE_EPOCHS"
    run "$student-rlkd" table3 compress --method rlkd --init "$OUT/$student-kd.safetensors" \
      --teacher "$OUT/densenet201-eca.safetensors" --flops "${RLKD_FLOPS[$student]}" \
      "${search[@]}" --finetune-epochs "$FINETUNE_EPOCHS" \
      --search-state "$OUT/$student-rlkd.state" \
      --search-log "$OUT/$student-rlkd-episodes.jsonl" --policy "$OUT/$student-rlkd-policy.json"
    "$RLKD" plot --quiet --search-log "$OUT/$student-rlkd-episodes.jsonl" \
      --policy "$OUT/$student-rlkd-policy.json" --out "$OUT/$student-rlkd-plots"
  done
}

case "$TABLES" in
  table1) table1 ;;
  table2) table2 ;;
  table3) table3 ;;
  all) table1; table2; table3 ;;
esac
"$RLKD" plot --quiet --results "$OUT/results.jsonl" --out "$OUT"
for table in table1 table2 table3; do
  if [ -s "$OUT/$table.md" ]; then
    printf '\n%s:\n' "$table"
    cat "$OUT/$table.md"
  fi
done
echo "$0: results in $OUT (results.jsonl, table*.md, accuracy-flops.svg)" >&2
