#!/usr/bin/env bash
# Runs each example program with quick arguments; an example exits 0 only
# when it did what it claims (the tiny trainer: it learned). Prints
# PASS/FAIL/SKIP lines for run.sh.
set -u
BUILD=${BUILD:-build}
FASHION=/usr/share/datasets/fashion-mnist
status=0
check() {
  local name=$1; shift
  if out=$("$BUILD/examples/$name" "$@" 2>&1); then
    echo "PASS examples/$name: $(echo "$out" | tail -1)"
  else
    echo "FAIL examples/$name $*"
    echo "$out" | tail -5 | sed 's/^/  /'
    status=1
  fi
}
check train_tiny_cnn
if [ -f "$FASHION/train-images-idx3-ubyte.gz" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  # A teacher, then a student distilled from it, on a slice of the data.
  quick=(--train-limit 1500 --validation 500 --epochs 1 --batch 64)
  check fashion_mnist "${quick[@]}" --model densenet_small --attention eca \
    --save "$tmp/teacher.safetensors"
  check fashion_mnist "${quick[@]}" --model vgg_small --width 0.25 \
    --teacher "$tmp/teacher.safetensors" --checkpoint "$tmp/student.ckpt" \
    --save "$tmp/student.safetensors"
  # The pipeline: an rlkd search, fine-tuning, compaction, with its files.
  check fashion_mnist "${quick[@]}" --init "$tmp/student.safetensors" \
    --teacher "$tmp/teacher.safetensors" --prune rlkd --flops 0.5 \
    --episodes 4 --warmup-episodes 2 --search-images 100 --recalibrate 2 \
    --search-log "$tmp/episodes.jsonl" --search-state "$tmp/search.state" \
    --policy "$tmp/policy.json" --report "$tmp/report"
  if [ "$(wc -l <"$tmp/episodes.jsonl" 2>/dev/null)" = 4 ] &&
     [ -s "$tmp/policy.json" ] && [ -s "$tmp/search.state" ] &&
     grep -q '^| rlkd |' "$tmp/report.md" 2>/dev/null &&
     grep -q '"method":"rlkd"' "$tmp/report.json" 2>/dev/null; then
    echo "PASS examples/fashion_mnist --prune rlkd: episode log, policy, state and report written"
  else
    echo "FAIL examples/fashion_mnist --prune rlkd: a file is missing or wrong"
    status=1
  fi
else
  echo "SKIP examples/fashion_mnist: no Fashion-MNIST in $FASHION (apt-get install dataset-fashion-mnist)"
fi
exit $status
