#!/usr/bin/env bash
# The demo (`make demo`): from a fresh build to compressed networks, a table
# of the paper's Table 3 form and its pictures, on Fashion-MNIST, with the
# rlkd command. About 10-15 minutes on 2 CPU cores at the default sizes;
# DEVICE=cuda for a GPU.
#
#   1. the data (scripts/fashion-data.sh): Debian's dataset-fashion-mnist if
#      installed, else the official download into $DATA_DIR (needs curl,
#      wget or python3)
#   2. a teacher with attention: densenet_small + ECA
#   3. the student alone: vgg_small at width 0.5
#   4. the student distilled from the teacher
#   5. the student pruned to FLOPS of its FLOPs by uniform L1 pruning, by
#      AMC (the RL search on the student alone, fine-tuned without a
#      teacher) and by rlkd (the RL search on the distilled student with
#      the teacher's help, fine-tuned with distillation), each compacted
#   6. the table ($OUT/results.md), its JSON lines ($OUT/results.jsonl)
#      and SVG plots ($OUT/*.svg)
#
# Each stage is skipped when its output exists: run it again to resume.
# Sizes (environment): TRAIN_LIMIT, TEST_LIMIT, TEACHER_EPOCHS,
# STUDENT_EPOCHS, FINETUNE_EPOCHS, EPISODES, WARMUP_EPISODES,
# SEARCH_IMAGES, FLOPS, THREADS, DEVICE, SEED, OUT, RLKD.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-build/demo}
RLKD=${RLKD:-build/bin/rlkd}
DEVICE=${DEVICE:-cpu}
THREADS=${THREADS:-0}
SEED=${SEED:-1}
FLOPS=${FLOPS:-0.4}
TRAIN_LIMIT=${TRAIN_LIMIT:-20000}
TEST_LIMIT=${TEST_LIMIT:-0}
VALIDATION=${VALIDATION:-1000}
TEACHER_EPOCHS=${TEACHER_EPOCHS:-4}
STUDENT_EPOCHS=${STUDENT_EPOCHS:-6}
FINETUNE_EPOCHS=${FINETUNE_EPOCHS:-3}
EPISODES=${EPISODES:-60}
WARMUP_EPISODES=${WARMUP_EPISODES:-20}
SEARCH_IMAGES=${SEARCH_IMAGES:-500}

say() { printf '\n== %s\n' "$*" >&2; }

[ -x "$RLKD" ] || { echo "demo: $RLKD not found: run make first" >&2; exit 1; }
mkdir -p "$OUT"
say "data"
DATA=$(scripts/fashion-data.sh)
echo "Fashion-MNIST in $DATA" >&2

common=(--data "$DATA" --device "$DEVICE" --threads "$THREADS" --seed "$SEED"
        --train-limit "$TRAIN_LIMIT" --validation "$VALIDATION" --test-limit "$TEST_LIMIT")
rl=(--flops "$FLOPS" --episodes "$EPISODES" --warmup-episodes "$WARMUP_EPISODES"
    --search-images "$SEARCH_IMAGES")
student=(--model vgg_small --width 0.5)

stage() {  # stage NAME OUTPUT COMMAND...: runs COMMAND unless OUTPUT exists
  local name=$1 output=$2
  shift 2
  if [ -s "$output" ]; then
    echo "demo: $name: $output exists, skipped" >&2
    return
  fi
  say "$name"
  "$@"
}

stage "teacher: densenet_small + ECA" "$OUT/teacher.safetensors" \
  "$RLKD" train "${common[@]}" --model densenet_small --attention eca \
  --epochs "$TEACHER_EPOCHS" --checkpoint "$OUT/teacher.ckpt" \
  --save "$OUT/teacher.safetensors" --label "teacher (DenseNet + ECA)" \
  --json "$OUT/teacher.jsonl" --markdown "$OUT/teacher.md"
stage "student alone: vgg_small x0.5" "$OUT/student.safetensors" \
  "$RLKD" train "${common[@]}" "${student[@]}" --epochs "$STUDENT_EPOCHS" \
  --checkpoint "$OUT/student.ckpt" --save "$OUT/student.safetensors" \
  --label "student alone" --json "$OUT/student.jsonl" --markdown "$OUT/student.md"
stage "student distilled from the teacher" "$OUT/distilled.safetensors" \
  "$RLKD" distill "${common[@]}" "${student[@]}" --teacher "$OUT/teacher.safetensors" \
  --epochs "$STUDENT_EPOCHS" --checkpoint "$OUT/distilled.ckpt" \
  --save "$OUT/distilled.safetensors" --label "student + KD" \
  --json "$OUT/distilled.jsonl" --markdown "$OUT/distilled.md"
stage "uniform L1 pruning to $FLOPS of the FLOPs, fine-tuned" "$OUT/uniform.safetensors" \
  "$RLKD" compress "${common[@]}" --init "$OUT/student.safetensors" --method uniform \
  --flops "$FLOPS" --finetune-epochs "$FINETUNE_EPOCHS" --save "$OUT/uniform.safetensors" \
  --label "uniform L1" --json "$OUT/uniform.jsonl" --markdown "$OUT/uniform.md"
stage "AMC: the RL search without distillation" "$OUT/amc.safetensors" \
  "$RLKD" compress "${common[@]}" "${rl[@]}" --init "$OUT/student.safetensors" --method amc \
  --finetune-epochs "$FINETUNE_EPOCHS" --search-log "$OUT/amc-episodes.jsonl" \
  --policy "$OUT/amc-policy.json" --save "$OUT/amc.safetensors" \
  --label "AMC" --json "$OUT/amc.jsonl" --markdown "$OUT/amc.md"
stage "rlkd: the RL search with the teacher, fine-tuned with distillation" \
  "$OUT/rlkd.safetensors" \
  "$RLKD" compress "${common[@]}" "${rl[@]}" --init "$OUT/distilled.safetensors" \
  --teacher "$OUT/teacher.safetensors" --method rlkd --finetune-epochs "$FINETUNE_EPOCHS" \
  --search-log "$OUT/rlkd-episodes.jsonl" --policy "$OUT/rlkd-policy.json" \
  --save "$OUT/rlkd.safetensors" --label "rlkd" --json "$OUT/rlkd.jsonl" \
  --markdown "$OUT/rlkd.md"

say "results"
runs="teacher student distilled uniform amc rlkd"
for run in $runs; do cat "$OUT/$run.jsonl"; done > "$OUT/results.jsonl"
{
  head -2 "$OUT/teacher.md"
  for run in $runs; do tail -n +3 "$OUT/$run.md"; done
} > "$OUT/results.md"
"$RLKD" plot --results "$OUT/results.jsonl" --search-log "$OUT/rlkd-episodes.jsonl" \
  --policy "$OUT/rlkd-policy.json" --out "$OUT" --quiet
cat "$OUT/results.md"
echo >&2
echo "demo: the table is $OUT/results.md, the plots $OUT/accuracy-flops.svg," \
  "$OUT/search-reward.svg and $OUT/policy.svg" >&2
