#!/usr/bin/env bash
# The paper's three tables on CIFAR-100, with the rlkd command, for users
# with the data and a GPU (scripts/paper/tables.sh says what each table
# holds):
#
#   CIFAR100=/data/cifar-100-binary scripts/paper/cifar100.sh [table1|table2|table3|all]
#
# CIFAR100 is the folder of the binary version (train.bin, test.bin). The
# students are vgg16_cifar and resnet50 (at 32x32). Every run is skipped
# when its network file exists, and each training run keeps a checkpoint:
# run the script again to resume. Results: one JSON line per run in
# $OUT/results.jsonl, the tables in $OUT/table{1,2,3}.md, the plots
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
STUDENTS="vgg16_cifar resnet50"

case "$TABLES" in
  table1|table2|table3|all) ;;
  *) echo "usage: $0 [table1|table2|table3|all]" >&2; exit 2 ;;
esac
[ -x "$RLKD" ] || { echo "$0: $RLKD not found: run make first" >&2; exit 1; }
[ -s "$CIFAR100/train.bin" ] && [ -s "$CIFAR100/test.bin" ] ||
  { echo "$0: no train.bin and test.bin in $CIFAR100" >&2; exit 1; }

common=(--cifar100 "$CIFAR100" --device "$DEVICE" --seed "$SEED" --batch "$BATCH"
        --validation "$VALIDATION" --train-limit "$TRAIN_LIMIT" --test-limit "$TEST_LIMIT")
training=()
search=(--episodes "$EPISODES" --warmup-episodes "$WARMUP_EPISODES"
        --search-images "$SEARCH_IMAGES")

source scripts/paper/tables.sh
paper_tables "$TABLES"
