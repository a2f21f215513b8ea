#!/usr/bin/env bash
# The rlkd command (cli/): every --help, the exit status and the single
# stderr line of usage and runtime errors, a --config file under a flag,
# and the whole pipeline on a small fake IDX data set this script writes:
# train -> distill (and its resume) -> prune -> finetune -> compact -> eval
# -> flops -> search amc (and its resume) -> compress rlkd -> bench -> plot
# -> an image folder in ImageNet's layout (train, eval, bad files) ->
# export. Prints PASS/FAIL/SKIP lines for run.sh.
set -u
BUILD=${BUILD:-build}
RLKD=${RLKD:-$BUILD/bin/rlkd}
PY=/usr/bin/python3
# Idle OpenMP threads must not spin against the working ones (2 cores).
export OMP_WAIT_POLICY=passive
status=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

pass() { echo "PASS cli: $*"; }
fail() { echo "FAIL cli: $*"; status=1; }

if [ ! -x "$RLKD" ]; then
  echo "FAIL cli: $RLKD is not built"
  exit 1
fi

# --- help -----------------------------------------------------------------
commands="train distill prune search finetune compact eval flops export compress bench plot"
bad_help=""
"$RLKD" --help >"$tmp/overview" 2>&1 || bad_help="rlkd --help"
for c in $commands; do
  grep -q "^  $c " "$tmp/overview" || bad_help="$bad_help rlkd --help (no $c)"
  # Each help has its usage, an example of the command and the common flags.
  if ! "$RLKD" "$c" --help >"$tmp/help" 2>&1 ||
     ! grep -q "^usage: rlkd $c " "$tmp/help" ||
     ! grep -q "^  rlkd $c " "$tmp/help" ||
     ! grep -q -- "--device DEV" "$tmp/help"; then
    bad_help="$bad_help rlkd $c --help"
  fi
done
if [ -z "$bad_help" ]; then
  pass "rlkd --help and the --help of all 12 commands"
else
  fail "help:$bad_help"
fi

# --- errors: exactly one line on stderr, nothing on stdout, the status ---
# expect_error WHAT STATUS PATTERN ARGS...
expect_error() {
  local what=$1 want=$2 pattern=$3
  shift 3
  "$RLKD" "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$? lines
  lines=$(wc -l <"$tmp/err")
  if [ "$rc" = "$want" ] && [ "$lines" = 1 ] && [ ! -s "$tmp/out" ] &&
     grep -q -- "$pattern" "$tmp/err"; then
    pass "$what: exit $rc, $(cat "$tmp/err")"
  else
    fail "$what: rlkd $* exited $rc (want $want) with $lines stderr lines (want 1 matching '$pattern'):"
    cat "$tmp/err" "$tmp/out" | head -5 | sed 's/^/  /'
  fi
}
# A --data that does not exist makes a check that fails end quickly.
nowhere=(--data "$tmp/nowhere")
expect_error "unknown flag" 2 "^rlkd train: unknown flag --epoch .*--help" \
  train "${nowhere[@]}" --epoch 3
expect_error "bad value" 2 "^rlkd train: --epochs: \"three\" is not a whole number.*--help" \
  train "${nowhere[@]}" --epochs three
expect_error "value out of range" 2 "^rlkd prune: --flops: \"1.5\" must be in (0, 1]" \
  prune --init x --flops 1.5
expect_error "unknown command" 2 "^rlkd: unknown command \"trian\"; the commands are train," \
  trian
expect_error "no command" 2 "^rlkd: give a command: train, distill,"
expect_error "missing required flag" 2 "^rlkd eval: --init FILE is required" eval
expect_error "missing network file" 1 "^rlkd eval: --init: .*$tmp/missing.safetensors" \
  eval "${nowhere[@]}" --init "$tmp/missing.safetensors"
expect_error "missing data" 1 "^rlkd train: --data $tmp/nowhere: .*No such file" \
  train "${nowhere[@]}"
echo '{"epochs": 1, "epoch": 2}' >"$tmp/typo.json"
expect_error "unknown config key" 2 "^rlkd train: unknown flag --epoch in --config" \
  train "${nowhere[@]}" --config "$tmp/typo.json"
echo '{"epochs": "x"}' >"$tmp/bad.json"
expect_error "bad config value" 2 "^rlkd train: --epochs (in --config .*): \"x\" is not a whole number" \
  train "${nowhere[@]}" --config "$tmp/bad.json"

# --- the pipeline on a fake data set ----------------------------------------
if [ ! -x "$PY" ]; then
  echo "SKIP cli: pipeline: no $PY to write the fake data set"
  exit $status
fi
# 400 training and 100 test images of 28x28 in 10 classes.
data="$tmp/data"
mkdir -p "$data"
"$PY" tests/write_fake_idx.py "$data"

results="$tmp/results.jsonl"
common=(--data "$data" --validation 100 --batch 32 --threads 1 --json "$results")
# step NAME ARGS...: runs rlkd ARGS, PASS with its last stdout line or FAIL.
step() {
  local name=$1
  shift
  "$RLKD" "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  if [ "$rc" = 0 ]; then
    pass "$name: $(tail -1 "$tmp/out")"
    return 0
  fi
  fail "$name: rlkd $* exited $rc"
  tail -5 "$tmp/err" | sed 's/^/  /'
  return 1
}
# A key's value in the last --json line (numbers and strings as text).
last() { tail -1 "$results" | sed -n "s/.*\"$1\":\"\{0,1\}\([^,\"}]*\).*/\1/p"; }

# A config file sets the epochs and the network; the command line
# overrides the epochs.
cat >"$tmp/config.json" <<EOF
{"epochs": 1, "width": 0.5, "attention": "se", "quiet": true, "lr": 0.05}
EOF
if step "train (teacher, --config)" train "${common[@]}" --config "$tmp/config.json" \
     --epochs 4 --save "$tmp/teacher.safetensors" &&
   [ "$(last epochs)" = 4 ] && [ "$(last width)" = 0.5 ] && [ "$(last attention)" = se ]; then
  pass "--config is read (width 0.5, attention se) and --epochs 4 overrides it"
else
  fail "--config: the JSON line has epochs $(last epochs), width $(last width), attention $(last attention) (want 4, 0.5, se)"
fi
distill=(distill "${common[@]}" --teacher "$tmp/teacher.safetensors" --width 0.25
         --epochs 3 --checkpoint "$tmp/student.ckpt" --save "$tmp/student.safetensors")
step "distill" "${distill[@]}"
# Running it again resumes from the checkpoint, whose epochs are done.
if step "distill again" "${distill[@]}" && grep -q "the 3 epochs are done" "$tmp/err"; then
  pass "distill resumes from --checkpoint"
else
  fail "distill did not resume from --checkpoint: $(tail -1 "$tmp/err")"
fi
step "prune uniform" prune "${common[@]}" --init "$tmp/student.safetensors" \
  --method uniform --flops 0.5 --save "$tmp/pruned.safetensors"
fraction=$(last macs_fraction)
if awk -v f="$fraction" 'BEGIN { exit !(f > 0 && f <= 0.5) }'; then
  pass "prune uniform keeps $fraction of the MACs (target 0.5)"
else
  fail "prune uniform keeps '$fraction' of the MACs (target 0.5)"
fi
step "prune sfp (trains)" prune "${common[@]}" --init "$tmp/student.safetensors" \
  --method sfp --flops 0.5 --epochs 1 --quiet
step "finetune" finetune "${common[@]}" --init "$tmp/pruned.safetensors" \
  --teacher "$tmp/teacher.safetensors" --epochs 1 --save "$tmp/finetuned.safetensors"
masked_macs=$(last macs)
step "compact" compact --init "$tmp/finetuned.safetensors" --save "$tmp/small.safetensors" \
  --json "$results"
# The compacted file holds fewer tensors' worth of bytes than the masked.
small_bytes=$(stat -c %s "$tmp/small.safetensors" 2>/dev/null || echo 0)
masked_bytes=$(stat -c %s "$tmp/finetuned.safetensors" 2>/dev/null || echo 0)
if [ "$(last macs)" = "$masked_macs" ] && [ "$(last params)" -lt "$(last params_before)" ] &&
   [ "$small_bytes" -gt 0 ] && [ "$small_bytes" -lt $((masked_bytes * 3 / 4)) ]; then
  pass "compact: the masked network's $masked_macs MACs, $(last params) of $(last params_before) parameters, $small_bytes of $masked_bytes bytes"
else
  fail "compact: $(last macs) MACs (masked: $masked_macs), $(last params) of $(last params_before) parameters, $small_bytes of $masked_bytes bytes"
fi
step "eval" eval --data "$data" --test-limit 50 --json "$results" \
  --init "$tmp/small.safetensors"
if step "flops" flops --init "$tmp/small.safetensors" --json "$results" &&
   grep -q "^total: .* MACs = .* FLOPs per 1x28x28 image" "$tmp/out" &&
   grep -q '"layers":\[{"node":1,' "$results"; then
  pass "flops: the per-layer table and the JSON line with the layers"
else
  fail "flops: no total line, or no layers in the JSON line"
fi
search=(search "${common[@]}" --init "$tmp/student.safetensors" --method amc --flops 0.5
        --episodes 4 --warmup-episodes 2 --search-images 100 --policy "$tmp/policy.json"
        --search-log "$tmp/episodes.jsonl" --search-state "$tmp/search.state"
        --save "$tmp/searched.safetensors")
step "search amc" "${search[@]}"
# Running it again reads the saved search, whose episodes are done: the
# log keeps its four episodes.
if step "search amc again" "${search[@]}" &&
   grep -q "search.state: the 4 episodes are done" "$tmp/err" &&
   [ "$(wc -l <"$tmp/episodes.jsonl")" = 4 ] && [ -s "$tmp/policy.json" ] &&
   [ "$(last episodes)" = 4 ]; then
  pass "search resumes from --search-state; its log has the 4 episodes, the policy is written"
else
  fail "search: no resume, or the log has $(wc -l <"$tmp/episodes.jsonl" 2>/dev/null) lines (want 4)"
fi
if step "compress rlkd" compress "${common[@]}" --init "$tmp/student.safetensors" \
     --teacher "$tmp/teacher.safetensors" --method rlkd --flops 0.5 --episodes 4 \
     --warmup-episodes 2 --search-images 100 --recalibrate 2 --finetune-epochs 1 \
     --markdown "$tmp/results.md" --label "rlkd at 50%" \
     --save "$tmp/compressed.safetensors" &&
   grep -q '^| rlkd | ' "$tmp/out" && [ "$(last method)" = rlkd ] &&
   [ "$(last label)" = "rlkd at 50%" ] &&
   grep -q '^| rlkd at 50% | rlkd | student.safetensors | ' "$tmp/results.md"; then
  pass "compress: the report table, the JSON line and the Markdown row, with the --label"
else
  fail "compress: a report is missing"
fi
step "bench" bench --init "$tmp/small.safetensors" --batch 8 --iterations 2 --threads 1
charts="$tmp/charts"
if step "plot" plot --results "$results" --search-log "$tmp/episodes.jsonl" \
     --policy "$tmp/policy.json" --out "$charts"; then
  for svg in accuracy-flops search-reward policy; do
    if "$PY" -c 'import xml.dom.minidom, sys; xml.dom.minidom.parse(sys.argv[1])' \
         "$charts/$svg.svg" 2>"$tmp/err"; then
      pass "plot: $svg.svg is well-formed XML"
    else
      fail "plot: $svg.svg is missing or not well-formed: $(tail -1 "$tmp/err")"
    fi
  done
fi

# --- an image folder in ImageNet's layout -------------------------------------
if ! "$PY" -c 'import PIL' 2>/dev/null; then
  echo "SKIP cli: --folder: $PY cannot import PIL to write the images (apt-get install python3-pil)"
else
  # train/ and val/ of 3 classes (12 and 4 images each): JPEGs of varied
  # sizes with the class's colour strongest, some PNG, grey and CMYK
  # JPEGs, and one text file named .JPEG among the training images.
  folder="$tmp/imagenet"
  "$PY" - "$folder" <<'EOF'
import os, random, sys
from PIL import Image
root = sys.argv[1]
rng = random.Random(3)
for split, count in (("train", 12), ("val", 4)):
    for c, name in enumerate(("n01443537", "n01484850", "n01491361")):
        os.makedirs(os.path.join(root, split, name))
        for i in range(count):
            w, h = rng.randrange(24, 90), rng.randrange(24, 90)
            image = Image.new("RGB", (w, h))
            image.putdata([tuple(rng.randrange(150, 256) if k == c else rng.randrange(0, 90)
                                 for k in range(3)) for _ in range(w * h)])
            path = os.path.join(root, split, name, "%s_%d" % (name, i))
            if i % 4 == 1:
                image.save(path + ".png")
            elif i % 4 == 2:
                image.convert("CMYK").save(path + ".JPEG", quality=90)
            elif i % 4 == 3 and split == "val":
                image.convert("L").save(path + ".JPEG", quality=90)
            else:
                image.save(path + ".JPEG", quality=90)
with open(os.path.join(root, "train", "n01484850", "broken.JPEG"), "w") as f:
    f.write("not a JPEG\n")
EOF
  folder_common=(--folder "$folder" --crop 32 --resize 36 --validation 6 --batch 8
                 --threads 1 --json "$results")
  if step "train --folder" train "${folder_common[@]}" --model vgg_small --epochs 2 \
       --workers 2 --save "$tmp/folder.safetensors" &&
     [ "$(last data)" = folder ] && [ "$(last train_images)" = 30 ] &&
     grep -q "/imagenet/train: 36 images of 3 classes" "$tmp/err" &&
     grep -q "/imagenet/train: 1 bad file left out" "$tmp/err" &&
     grep -q "imagenet/train/n01484850/broken.JPEG: not a JPEG or PNG file" "$tmp/err"; then
    pass "--folder: 30 training images (6 held out, the bad file left out and named on stderr)"
  else
    fail "--folder: data $(last data), train_images $(last train_images) (want folder, 30), or no bad-file report:"
    sed 's/^/  /' "$tmp/err" | head -5
  fi
  if step "eval --folder" eval --folder "$folder" --crop 32 --resize 36 --json "$results" \
       --init "$tmp/folder.safetensors" && [ "$(last test_images)" = 12 ]; then
    pass "eval --folder: the 12 images of val/ (CMYK and grey JPEGs, PNGs)"
  else
    fail "eval --folder: test_images $(last test_images) (want 12)"
  fi
  expect_error "--folder with --bad-files fail" 1 \
    "^rlkd train: --folder .*: rlkd_dataset_open_folder: .*train/n01484850/broken.JPEG: not a JPEG or PNG file" \
    train "${folder_common[@]}" --bad-files fail --quiet
  # GPU decoding: this build has no nvJPEG, or this is a CPU context.
  expect_error "--folder --decode-device cuda on a CPU context" 1 \
    "^rlkd train: data loader: rlkd_loader_create: options->decode_device .*RLKD_DEVICE_CUDA" \
    train "${folder_common[@]}" --decode-device cuda --quiet
  expect_error "--decode-device without --folder" 2 \
    "^rlkd train: --decode-device goes with --folder" \
    train "${common[@]}" --decode-device cuda --quiet
  cp -r "$folder" "$tmp/other"
  mkdir "$tmp/other/val/n00000000"
  cp "$folder/val/n01443537/n01443537_0.JPEG" "$tmp/other/val/n00000000/"
  expect_error "--folder with other classes in val/" 1 \
    "^rlkd train: --folder .*/other: class 0 is \"n01443537\" in train/ but \"n00000000\" in val/" \
    train --folder "$tmp/other" --crop 32 --quiet
  expect_error "--crop without --folder" 2 "^rlkd train: --crop goes with --folder" \
    train "${nowhere[@]}" --crop 32
fi

# --- export -----------------------------------------------------------------
# Without Python, or without PyTorch: one clear line, status 1.
RLKD_PYTHON="$tmp/nopython" expect_error "export without Python" 1 \
  "^rlkd export: cannot run $tmp/nopython: .*RLKD_PYTHON" \
  export --init "$tmp/small.safetensors" --onnx "$tmp/x.onnx"
printf '#!/bin/sh\necho "ModuleNotFoundError: No module named '"'torch'"'" >&2\nexit 1\n' \
  >"$tmp/notorch"
chmod +x "$tmp/notorch"
RLKD_PYTHON="$tmp/notorch" expect_error "export without PyTorch" 1 \
  "^rlkd export: $tmp/notorch has no PyTorch (Debian: apt-get install python3-torch" \
  export --init "$tmp/small.safetensors" --onnx "$tmp/x.onnx"
if [ "${SAN:-0}" = 1 ]; then
  echo "SKIP cli: export: Python cannot load a sanitizer-built librlkd"
elif ! "$PY" -c 'import torch' 2>/dev/null; then
  echo "SKIP cli: export: $PY cannot import torch (apt-get install python3-torch)"
elif RLKD_PYTHON="$PY" step "export" export --init "$tmp/small.safetensors" \
       --onnx "$tmp/small.onnx" --torchscript "$tmp/small.pt" &&
     "$PY" -c 'import sys, torch; print(torch.jit.load(sys.argv[1])(torch.zeros(2, 1, 28, 28)).shape)' \
       "$tmp/small.pt" >"$tmp/shape" 2>&1 &&
     grep -q "torch.Size(\[2, 10\])" "$tmp/shape" && [ -s "$tmp/small.onnx" ]; then
  pass "export: the ONNX file, and the TorchScript file loads and gives [2, 10] logits"
else
  fail "export: $(tail -1 "$tmp/shape" 2>/dev/null)"
fi
exit $status
