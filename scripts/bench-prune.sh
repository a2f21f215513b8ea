#!/usr/bin/env bash
# The pruning baselines on Fashion-MNIST, on the CPU: the yardstick the RL
# search must beat. For each seed: a student (vgg_small at STUDENT_WIDTH)
# trained alone for EPOCHS, then pruned to FLOPS of its MACs and fine-tuned
# with the masks for FT_EPOCHS (every method the same budget), compacted,
# and tested:
#   uniform_l1, uniform_fpgm   one kept fraction for every layer, channels
#                              ranked by L1 norm or by FPGM
#   sfp                        soft filter pruning at that fraction (L2)
#                              through the fine-tuning, removed at its end
#   slimming                   half the fine-tuning under an L1 penalty on
#                              the batch-norm scales (1e-4), one global
#                              BN-scale threshold, the other half with masks
# (results/prune-2026-11-30 holds the runs measured for docs/results.md.)
# Every run appends one JSON line to $OUT_DIR/runs.jsonl and is skipped when
# that line is already there, so the script resumes after an interruption;
# at the end the table goes into docs/results.md (its pruning section).
# Runs: make -j2 && scripts/bench-prune.sh
#   SEEDS="1 2 3"  EPOCHS=8  FT_EPOCHS=4  TRAIN_LIMIT=0 (all 60,000)
#   VALIDATION=5000  STUDENT_WIDTH=0.5  FLOPS=0.4
#   OUT_DIR=build/bench-prune
set -euo pipefail
cd "$(dirname "$0")/.."
SEEDS=${SEEDS:-"1 2 3"}
EPOCHS=${EPOCHS:-8}
FT_EPOCHS=${FT_EPOCHS:-4}
TRAIN_LIMIT=${TRAIN_LIMIT:-0}
VALIDATION=${VALIDATION:-5000}
STUDENT_WIDTH=${STUDENT_WIDTH:-0.5}
FLOPS=${FLOPS:-0.4}
OUT_DIR=${OUT_DIR:-build/bench-prune}
. scripts/runs.sh
common=(--validation "$VALIDATION" --json)
[ "$TRAIN_LIMIT" -gt 0 ] && common+=(--train-limit "$TRAIN_LIMIT")

for seed in $SEEDS; do
  student="$OUT_DIR/student_$seed.safetensors"
  # The student file is the run's product: without it, train again.
  [ -f "$student" ] || sed -i "/\"tag\":\"student\",\"seed_run\":$seed,/d" "$RUNS"
  run_once student "$seed" --model vgg_small --width "$STUDENT_WIDTH" \
    --epochs "$EPOCHS" --warmup 1 --save "$student"
  prune=(--init "$student" --epochs "$FT_EPOCHS" --lr 0.01 --flops "$FLOPS")
  run_once uniform_l1 "$seed" "${prune[@]}" --prune uniform --criterion l1
  run_once uniform_fpgm "$seed" "${prune[@]}" --prune uniform --criterion fpgm
  run_once sfp "$seed" "${prune[@]}" --prune sfp
  run_once slimming "$seed" "${prune[@]}" --prune slimming
done

python3 - "$RUNS" "$SEEDS" "$EPOCHS" "$FT_EPOCHS" "$TRAIN_LIMIT" "$VALIDATION" \
  "$STUDENT_WIDTH" "$FLOPS" <<'PY'
import json, statistics, sys
runs_path, seeds, epochs, ft, limit, validation, width, flops = sys.argv[1:]
runs = [json.loads(line) for line in open(runs_path) if line.strip()]
rows = [("student", f"student vgg_small x{width}, trained alone ({epochs} epochs)"),
        ("uniform_l1", "uniform, L1 norm"),
        ("uniform_fpgm", "uniform, FPGM"),
        ("sfp", "SFP (soft filter pruning, L2)"),
        ("slimming", "network slimming (BN-scale L1 1e-4 for half the epochs, "
                     "global threshold)")]
out = ["<!-- pruning: begin (scripts/bench-prune.sh writes this section) -->", "",
       "## Pruning baselines on Fashion-MNIST, CPU", "",
       f"The student pruned to {flops} of its MACs, then fine-tuned with the masks "
       f"for {ft} epochs (SGD Nesterov, cosine from lr 0.01), every method the same "
       "budget, then compacted (`rlkd_net_prune_compact`) and tested on the 10,000 "
       "test images. Test top-1: mean and sample standard deviation over seeds "
       f"{seeds}; {validation} training images held out for validation"
       + (f"; only the first {limit} training images" if limit != "0" else "") + ".",
       f"Measured with `SEEDS=\"{seeds}\" EPOCHS={epochs} FT_EPOCHS={ft} "
       f"TRAIN_LIMIT={limit} VALIDATION={validation} STUDENT_WIDTH={width} "
       f"FLOPS={flops} scripts/bench-prune.sh` on 2 CPU cores.", "",
       "| run | seeds | test top-1 (%) | params | MACs (M) | MACs kept | kept per layer | s per run |",
       "|---|---|---|---|---|---|---|---|"]
for tag, label in rows:
    got = [r for r in runs if r["tag"] == tag]
    if not got:
        continue
    acc = [100 * r["test_top1"] for r in got]
    spread = statistics.stdev(acc) if len(acc) > 1 else 0.0
    kept = got[0]["macs"] / got[0]["macs_before"]
    per_layer = ("by BN scale" if tag == "slimming"
                 else f"{got[0]['kept_fraction']:.3f}")
    out.append(f"| {label} | {len(got)} | {statistics.mean(acc):.2f} ± {spread:.2f} | "
               f"{got[0]['params']:,} | {got[0]['macs'] / 1e6:.2f} | {kept:.3f} | "
               f"{per_layer} | {statistics.mean(r['seconds'] for r in got):.0f} |")
out += ["", "<!-- pruning: end -->"]
section = "\n".join(out) + "\n"
text = open("docs/results.md").read()
begin, end = text.find("<!-- pruning: begin"), text.find("<!-- pruning: end -->")
if begin >= 0 and end >= 0:
    text = text[:begin] + section + text[end + len("<!-- pruning: end -->\n"):]
else:
    text = text.rstrip("\n") + "\n\n" + section
open("docs/results.md", "w").write(text)
print(section)
PY
