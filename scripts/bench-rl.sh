#!/usr/bin/env bash
# The paper's Table 3 on Fashion-MNIST, on the CPU: an unpruned student
# without and with distillation, and the student pruned to FLOPS of its
# MACs by uniform L1 pruning, SFP, AMC (the RL search, no distillation) and
# rlkd (the RL search with BN recalibration, teacher agreement and reward
# scaling, on the distilled student, fine-tuned with distillation). Every
# pruned run gets the same fine-tuning budget (FT_EPOCHS, cosine from
# lr 0.01). The teacher (densenet_small + ECA, TEACHER_EPOCHS) is trained
# once and shared by the seeds.
#
# Every run appends one JSON line to $OUT_DIR/runs.jsonl and is skipped when
# that line is already there, so the script resumes after an interruption
# (an RL search itself resumes from its saved state); at the end the table
# goes into docs/results.md (its RL section).
# Runs: make -j2 && scripts/bench-rl.sh
#   SEEDS="1 2 3"  EPOCHS=8  FT_EPOCHS=4  TEACHER_EPOCHS=10  VALIDATION=5000
#   STUDENT_WIDTH=0.5  FLOPS=0.4  EPISODES=300  WARMUP_EPISODES=100
#   SEARCH_IMAGES=2000  RECALIBRATE=10  ABLATION=0 (1: rlkd without each
#   ingredient, and rlkd from the student trained alone with and without
#   distillation in the fine-tuning; first seed)  THREADS (default: all cores)  OUT_DIR=build/bench-rl
# Two cores go further as two single-threaded runs of different seeds at
# once (SEEDS="1 3" THREADS=1 and SEEDS=2 THREADS=1, one OUT_DIR): each
# appends whole lines to runs.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
SEEDS=${SEEDS:-"1 2 3"}
EPOCHS=${EPOCHS:-8}
FT_EPOCHS=${FT_EPOCHS:-4}
TEACHER_EPOCHS=${TEACHER_EPOCHS:-10}
VALIDATION=${VALIDATION:-5000}
STUDENT_WIDTH=${STUDENT_WIDTH:-0.5}
FLOPS=${FLOPS:-0.4}
EPISODES=${EPISODES:-300}
WARMUP_EPISODES=${WARMUP_EPISODES:-100}
SEARCH_IMAGES=${SEARCH_IMAGES:-2000}
RECALIBRATE=${RECALIBRATE:-10}
ABLATION=${ABLATION:-0}
OUT_DIR=${OUT_DIR:-build/bench-rl}
. scripts/runs.sh
common=(--validation "$VALIDATION" --json)
[ -n "${THREADS:-}" ] && common+=(--threads "$THREADS")

# trained_once TAG SEED FILE ARGS...: run_once, training again when the
# network file that the run saves is missing.
trained_once() {
  local tag=$1 seed=$2 file=$3; shift 3
  [ -f "$file" ] || sed -i "/\"tag\":\"$tag\",\"seed_run\":$seed,/d" "$RUNS"
  run_once "$tag" "$seed" "$@" --save "$file"
}

teacher="$OUT_DIR/teacher.safetensors"
trained_once teacher 1 "$teacher" --model densenet_small --attention eca \
  --epochs "$TEACHER_EPOCHS" --warmup 1

# search_run TAG SEED ARGS...: an RL run with its episode log, policy and
# resumable search state beside runs.jsonl.
search_run() {
  local tag=$1 seed=$2; shift 2
  local base="$OUT_DIR/${tag}_$seed"
  run_once "$tag" "$seed" --episodes "$EPISODES" \
    --warmup-episodes "$WARMUP_EPISODES" --search-images "$SEARCH_IMAGES" \
    --search-log "$base.episodes.jsonl" --search-state "$base.state" \
    --policy "$base.policy.json" --report "$base.report" "$@"
}

for seed in $SEEDS; do
  student="$OUT_DIR/student_$seed.safetensors"
  student_kd="$OUT_DIR/student_kd_$seed.safetensors"
  trained_once student "$seed" "$student" --model vgg_small \
    --width "$STUDENT_WIDTH" --epochs "$EPOCHS" --warmup 1
  trained_once student_kd "$seed" "$student_kd" --model vgg_small \
    --width "$STUDENT_WIDTH" --epochs "$EPOCHS" --warmup 1 --teacher "$teacher"
  prune=(--epochs "$FT_EPOCHS" --lr 0.01 --flops "$FLOPS")
  run_once uniform_l1 "$seed" --init "$student" "${prune[@]}" --prune uniform \
    --criterion l1
  run_once sfp "$seed" --init "$student" "${prune[@]}" --prune sfp
  search_run amc "$seed" --init "$student" "${prune[@]}" --prune amc
  search_run rlkd "$seed" --init "$student_kd" --teacher "$teacher" \
    "${prune[@]}" --prune rlkd --recalibrate "$RECALIBRATE"
done

if [ "$ABLATION" = 1 ]; then
  seed=${SEEDS%% *}
  base=(--init "$OUT_DIR/student_kd_$seed.safetensors" --teacher "$teacher"
        --epochs "$FT_EPOCHS" --lr 0.01 --flops "$FLOPS" --prune rlkd)
  search_run rlkd_no_recalibration "$seed" "${base[@]}" --recalibrate 0
  search_run rlkd_no_teacher_score "$seed" "${base[@]}" \
    --recalibrate "$RECALIBRATE" --teacher-weight 0
  search_run rlkd_no_reward_scaling "$seed" "${base[@]}" \
    --recalibrate "$RECALIBRATE" --reward-scaling 0
  # Where distillation helps or hurts: rlkd's search on the student trained
  # alone, fine-tuned with distillation, and by cross-entropy (alpha 0).
  alone=(--init "$OUT_DIR/student_$seed.safetensors" --teacher "$teacher"
         --epochs "$FT_EPOCHS" --lr 0.01 --flops "$FLOPS" --prune rlkd
         --recalibrate "$RECALIBRATE")
  search_run rlkd_from_alone "$seed" "${alone[@]}"
  search_run rlkd_search_ce "$seed" "${alone[@]}" --alpha 0
fi

python3 - "$RUNS" "$SEEDS" "$EPOCHS" "$FT_EPOCHS" "$TEACHER_EPOCHS" \
  "$VALIDATION" "$STUDENT_WIDTH" "$FLOPS" "$EPISODES" "$WARMUP_EPISODES" \
  "$SEARCH_IMAGES" "$RECALIBRATE" "$ABLATION" <<'PY'
import json, statistics, sys
(runs_path, seeds, epochs, ft, teacher_epochs, validation, width, flops,
 episodes, warmup, images, recalibrate, ablation) = sys.argv[1:]
runs = [json.loads(line) for line in open(runs_path) if line.strip()]
rows = [
    ("teacher", f"teacher densenet_small + ECA ({teacher_epochs} epochs)"),
    ("student", f"student vgg_small x{width}, trained alone ({epochs} epochs)"),
    ("student_kd", f"student distilled from the teacher ({epochs} epochs)"),
    ("uniform_l1", "uniform L1 (from the student trained alone)"),
    ("sfp", "SFP (from the student trained alone)"),
    ("amc", "AMC: RL search, accuracy reward, fine-tuned without KD"),
    ("rlkd", "rlkd: RL search on the distilled student, BN recalibration, "
             "teacher agreement, reward scaling, fine-tuned with KD"),
    ("rlkd_no_recalibration", "rlkd without BN recalibration"),
    ("rlkd_no_teacher_score", "rlkd without teacher agreement in the score"),
    ("rlkd_no_reward_scaling", "rlkd without reward scaling"),
    ("rlkd_from_alone", "rlkd on the student trained alone (search and KD "
                        "fine-tuning as rlkd)"),
    ("rlkd_search_ce", "rlkd's search on the student trained alone, "
                       "fine-tuned by cross-entropy (no KD)"),
]
out = ["<!-- rl: begin (scripts/bench-rl.sh writes this section) -->", "",
       "## RL pruning against the baselines on Fashion-MNIST, CPU", "",
       f"The paper's Table 3 on data we have: the student pruned to {flops} of "
       f"its MACs and fine-tuned with the masks for {ft} epochs (SGD Nesterov, "
       "cosine from lr 0.01; every method the same budget), compacted, and "
       "tested on the 10,000 test images. The RL searches run "
       f"{episodes} episodes ({warmup} of them random), each scored on "
       f"{images} of the {validation} held-out training images (never the "
       f"test set); rlkd recalibrates batch norm on {recalibrate} training "
       "batches per episode, scores with teacher agreement (weight 0.5) and "
       "scales rewards, and fine-tunes with distillation (alpha 0.9, T 4). "
       f"Test top-1: mean and sample standard deviation over seeds {seeds}.",
       f"Measured with `SEEDS=\"{seeds}\" EPOCHS={epochs} FT_EPOCHS={ft} "
       f"TEACHER_EPOCHS={teacher_epochs} VALIDATION={validation} "
       f"STUDENT_WIDTH={width} FLOPS={flops} EPISODES={episodes} "
       f"WARMUP_EPISODES={warmup} SEARCH_IMAGES={images} "
       f"RECALIBRATE={recalibrate} ABLATION={ablation} scripts/bench-rl.sh` "
       "on 2 CPU cores.", "",
       "| run | seeds | test top-1 (%) | MACs (M) | FLOPs (M) | MACs kept | "
       "params | search s | s per run |",
       "|---|---|---|---|---|---|---|---|---|"]
for tag, label in rows:
    got = [r for r in runs if r["tag"] == tag]
    if not got:
        continue
    acc = [100 * r["test_top1"] for r in got]
    spread = statistics.stdev(acc) if len(acc) > 1 else 0.0
    macs = statistics.mean(r["macs"] for r in got)
    before = got[0]["macs_before"]
    search = statistics.mean(r.get("search_seconds", 0) for r in got)
    out.append(f"| {label} | {len(got)} | {statistics.mean(acc):.2f} ± "
               f"{spread:.2f} | {macs / 1e6:.2f} | {2 * macs / 1e6:.2f} | "
               f"{macs / before:.3f} | {statistics.mean(r['params'] for r in got):,.0f} | "
               f"{search:.0f} | {statistics.mean(r['seconds'] for r in got):.0f} |")
out += ["", "<!-- rl: end -->"]
section = "\n".join(out) + "\n"
text = open("docs/results.md").read()
begin, end = text.find("<!-- rl: begin"), text.find("<!-- rl: end -->")
if begin >= 0 and end >= 0:
    text = text[:begin] + section + text[end + len("<!-- rl: end -->\n"):]
else:
    text = text.rstrip("\n") + "\n\n" + section
open("docs/results.md", "w").write(text)
print(section)
PY
