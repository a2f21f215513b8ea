#!/usr/bin/env bash
# The paper's three tables on ImageNet (ILSVRC-2012), with the rlkd
# command, for users with the data and GPUs (scripts/paper/tables.sh says
# what each table holds):
#
#   IMAGENET=/data/imagenet scripts/paper/imagenet.sh [table1|table2|table3|all]
#
# IMAGENET holds train/<class>/*.JPEG and val/<class>/*.JPEG (the
# validation images sorted into their class folders; see docs/cli.md,
# "Image folders"): the teacher DenseNet-201 and the students VGG-16
# (vgg16_bn) and ResNet-50 of the zoo read 224x224 crops, trained with
# torchvision's ImageNet recipe (RandomResizedCrop and flips; SGD with
# momentum 0.9 and weight decay 1e-4, the rate falling 10x every 30
# epochs; evaluation on Resize(256) + CenterCrop(224) of val/). Every run
# is skipped when its network file exists, and each training run keeps a
# checkpoint: run the script again to resume. Results: one JSON line per
# run in $OUT/results.jsonl, the tables in $OUT/table{1,2,3}.md, the plots
# ($OUT/accuracy-flops.svg and the rlkd searches' rewards and policies).
#
# Sizes (environment; the defaults are the paper-scale schedule, weeks of
# one GPU for all 14 runs): DEVICE (cuda), TEACHER_EPOCHS (90),
# STUDENT_EPOCHS (90), FINETUNE_EPOCHS (30), LR (0.1, for batch 256),
# STEP_EPOCHS (30), WEIGHT_DECAY (1e-4), BATCH (256), EPISODES (400),
# WARMUP_EPISODES (100), SEARCH_IMAGES (3000, AMC's reward set on
# ImageNet), VALIDATION (10000 training images held out), CROP (224),
# RESIZE (256), WORKERS (decoding threads per split; default one per core,
# at most 16), STUDENTS ("vgg16_bn resnet50"), TRAIN_LIMIT and TEST_LIMIT
# (0: all), SEED (1), OUT (build/paper/imagenet), RLKD (build/bin/rlkd).
set -euo pipefail
cd "$(dirname "$0")/../.."

TABLES=${1:-all}
IMAGENET=${IMAGENET:?set IMAGENET to the folder with train/ and val/}
RLKD=${RLKD:-build/bin/rlkd}
OUT=${OUT:-build/paper/imagenet}
DEVICE=${DEVICE:-cuda}
SEED=${SEED:-1}
TEACHER_EPOCHS=${TEACHER_EPOCHS:-90}
STUDENT_EPOCHS=${STUDENT_EPOCHS:-90}
FINETUNE_EPOCHS=${FINETUNE_EPOCHS:-30}
LR=${LR:-0.1}
STEP_EPOCHS=${STEP_EPOCHS:-30}
WEIGHT_DECAY=${WEIGHT_DECAY:-1e-4}
BATCH=${BATCH:-256}
EPISODES=${EPISODES:-400}
WARMUP_EPISODES=${WARMUP_EPISODES:-100}
SEARCH_IMAGES=${SEARCH_IMAGES:-3000}
VALIDATION=${VALIDATION:-10000}
CROP=${CROP:-224}
RESIZE=${RESIZE:-256}
WORKERS=${WORKERS:-}
TRAIN_LIMIT=${TRAIN_LIMIT:-0}
TEST_LIMIT=${TEST_LIMIT:-0}
STUDENTS=${STUDENTS:-vgg16_bn resnet50}

case "$TABLES" in
  table1|table2|table3|all) ;;
  *) echo "usage: $0 [table1|table2|table3|all]" >&2; exit 2 ;;
esac
[ -x "$RLKD" ] || { echo "$0: $RLKD not found: run make first" >&2; exit 1; }
[ -d "$IMAGENET/train" ] && [ -d "$IMAGENET/val" ] ||
  { echo "$0: no train/ and val/ folders in $IMAGENET" >&2; exit 1; }

common=(--folder "$IMAGENET" --crop "$CROP" --resize "$RESIZE" --device "$DEVICE"
        --seed "$SEED" --batch "$BATCH" --weight-decay "$WEIGHT_DECAY"
        --validation "$VALIDATION" --train-limit "$TRAIN_LIMIT" --test-limit "$TEST_LIMIT"
        ${WORKERS:+--workers "$WORKERS"})
training=(--schedule step --step-epochs "$STEP_EPOCHS")
search=(--episodes "$EPISODES" --warmup-episodes "$WARMUP_EPISODES"
        --search-images "$SEARCH_IMAGES")

source scripts/paper/tables.sh
paper_tables "$TABLES"
