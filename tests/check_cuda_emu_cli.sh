#!/usr/bin/env bash
# The rlkd command with --device cuda, end to end, on the CUDA emulator
# (mk/emu.mk): the command as built, with the emulated library found first,
# trains an ECA teacher, distils a student from it with attention transfer,
# fine-tunes it with Adam and evaluates it, every step on a CUDA context;
# then the same commands on the CPU. The CUDA kernels agree with the CPU
# reference to float rounding, so the two runs must report the same
# accuracies and losses to 3 decimals. What no unit test shows: that the
# trainer, the loader's copies to the device, the distillation pair, the
# checkpoints and the evaluation all work on a device context.
# Prints PASS/FAIL/SKIP lines for run.sh.
set -u
BUILD=${BUILD:-build}
RLKD=${RLKD:-$BUILD/bin/rlkd}
EMU_LIBDIR=${EMU_LIBDIR:-$BUILD/emu/lib}
PY=/usr/bin/python3
export OMP_WAIT_POLICY=passive
status=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

pass() { echo "PASS cuda-emu cli: $*"; }
fail() { echo "FAIL cuda-emu cli: $*"; status=1; }

if [ ! -x "$RLKD" ] || [ ! -e "$EMU_LIBDIR/librlkd.so" ]; then
  echo "FAIL cuda-emu cli: $RLKD or $EMU_LIBDIR/librlkd.so is not built"
  exit 1
fi
if ! "$PY" -c 'import gzip' 2>/dev/null; then
  echo "SKIP cuda-emu cli: no $PY to write the fake data set"
  exit 77
fi
# 96 training and 32 test images: the emulator runs a convolution's GPU
# threads one by one, a few images a second.
"$PY" tests/write_fake_idx.py "$tmp" 10 96 32

train=(--validation 32 --batch 32 --quiet --epochs 1)
# run DEVICE NAME ARGS...: rlkd ARGS on DEVICE; the JSON line goes to
# $tmp/DEVICE.jsonl. On cuda the emulated library comes first.
run() {
  local device=$1 name=$2
  shift 2
  local env=()
  [ "$device" = cuda ] && env=(env "LD_LIBRARY_PATH=$PWD/$EMU_LIBDIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
  if "${env[@]}" "$RLKD" "$@" --device "$device" --data "$tmp" --threads 1 \
       --json "$tmp/$device.jsonl" >"$tmp/out" 2>"$tmp/err"; then
    return 0
  fi
  fail "$name on $device: rlkd $* exited with an error:"
  tail -3 "$tmp/err" | sed 's/^/  /'
  return 1
}

# The figures of the JSON line of step `step` on a device, rounded.
figures() {
  sed -n "${2}p" "$tmp/$1.jsonl" | "$PY" -c '
import json, sys
line = json.loads(sys.stdin.read())
print(" ".join("%s=%.3f" % (key, line[key]) for key in sorted(line)
               if key in ("top1", "top5", "loss", "validation_top1",
                          "validation_loss")))'
}

for device in cuda cpu; do
  run "$device" train train "${train[@]}" --model vgg_small --attention eca \
      --width 0.25 --save "$tmp/$device-teacher.safetensors" &&
  run "$device" distill distill "${train[@]}" --model vgg_small --width 0.25 \
      --teacher "$tmp/$device-teacher.safetensors" --at-beta 100 \
      --at-pairs 13:15,20:23 \
      --save "$tmp/$device-student.safetensors" &&
  run "$device" finetune finetune "${train[@]}" \
      --init "$tmp/$device-student.safetensors" --optimizer adam --lr 0.001 \
      --save "$tmp/$device-tuned.safetensors" &&
  run "$device" eval eval --init "$tmp/$device-tuned.safetensors" --batch 32 \
      --quiet || break
done

if [ "$status" = 0 ]; then
  steps=(train distill finetune eval)
  for i in 1 2 3 4; do
    on_cuda=$(figures cuda "$i") on_cpu=$(figures cpu "$i")
    if [ -n "$on_cuda" ] && [ "$on_cuda" = "$on_cpu" ]; then
      pass "${steps[i - 1]} on the emulated GPU reports what the CPU does: $on_cuda"
    else
      fail "${steps[i - 1]}: cuda [$on_cuda], cpu [$on_cpu]"
    fi
  done
fi
exit $status
