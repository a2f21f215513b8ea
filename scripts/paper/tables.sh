# The paper's three tables with the rlkd command (Liu et al., Mathematics
# 2023, 11(22), 4589), whatever the data: sourced by cifar100.sh and
# imagenet.sh, which set before it
#
#   RLKD, OUT, TEACHER_EPOCHS, STUDENT_EPOCHS, FINETUNE_EPOCHS, LR
#   common    the data, device, seed, batch and split flags of every run
#   training  further flags of the teacher's and the students' training
#   search    the RL search's flags
#   STUDENTS  the students' zoo names (a VGG-16 and a ResNet-50)
#
# and then call `paper_tables TABLES` (table1, table2, table3 or all):
#
#   table1  the teacher DenseNet-201 trained alone and with SE, CBAM, ECA
#   table2  the students trained alone and distilled from the best teacher
#           (ECA, as in the paper)
#   table3  each student pruned at the paper's FLOPs ratios: AMC (the RL
#           search on the student alone, no distillation), SFP, and rlkd
#           (the RL search on the distilled student with the teacher's
#           help, fine-tuned with distillation); the unpruned distilled
#           student is the table's first column
#
# Every run is skipped when its network file exists, and each training run
# keeps a checkpoint: running the script again resumes. Results: one JSON
# line per run in $OUT/results.jsonl, the tables in $OUT/table{1,2,3}.md,
# the plots ($OUT/accuracy-flops.svg and the rlkd searches' rewards and
# policies).

# The fraction of its FLOPs a student keeps for a method: the paper's
# Table 3 divided by the unpruned student's FLOPs (the same ratios on
# CIFAR-100 and ImageNet, whose table repeats CIFAR-100's FLOPs).
paper_flops() {
  local method=$1 student=$2
  case "$method:$student" in
    amc:vgg*) echo 0.438 ;;
    amc:resnet*) echo 0.499 ;;
    sfp:vgg*) echo 0.425 ;;
    sfp:resnet*) echo 0.416 ;;
    rlkd:vgg*) echo 0.366 ;;
    rlkd:resnet*) echo 0.391 ;;
    *) echo "$0: no FLOPs budget for $method on $student" >&2; exit 1 ;;
  esac
}

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
      --epochs "$TEACHER_EPOCHS" --lr "$LR" "${training[@]}" \
      --checkpoint "$OUT/densenet201-$attention.ckpt"
  done
}

table2() {
  local student
  for student in $STUDENTS; do
    run "$student-alone" table2 train --model "$student" --epochs "$STUDENT_EPOCHS" \
      --lr "$LR" "${training[@]}" --checkpoint "$OUT/$student-alone.ckpt"
    run "$student-kd" table2 distill --model "$student" \
      --teacher "$OUT/densenet201-eca.safetensors" --epochs "$STUDENT_EPOCHS" --lr "$LR" \
      "${training[@]}" --checkpoint "$OUT/$student-kd.ckpt"
  done
}

table3() {
  local student
  for student in $STUDENTS; do
    run "$student-amc" table3 compress --method amc --init "$OUT/$student-alone.safetensors" \
      --flops "$(paper_flops amc "$student")" "${search[@]}" \
      --finetune-epochs "$FINETUNE_EPOCHS" --search-state "$OUT/$student-amc.state" \
      --search-log "$OUT/$student-amc-episodes.jsonl" --policy "$OUT/$student-amc-policy.json"
    run "$student-sfp" table3 compress --method sfp --init "$OUT/$student-alone.safetensors" \
      --flops "$(paper_flops sfp "$student")" --finetune-epochs "$FINETUNE_EPOCHS"
    run "$student-rlkd" table3 compress --method rlkd --init "$OUT/$student-kd.safetensors" \
      --teacher "$OUT/densenet201-eca.safetensors" --flops "$(paper_flops rlkd "$student")" \
      "${search[@]}" --finetune-epochs "$FINETUNE_EPOCHS" \
      --search-state "$OUT/$student-rlkd.state" \
      --search-log "$OUT/$student-rlkd-episodes.jsonl" --policy "$OUT/$student-rlkd-policy.json"
    "$RLKD" plot --quiet --search-log "$OUT/$student-rlkd-episodes.jsonl" \
      --policy "$OUT/$student-rlkd-policy.json" --out "$OUT/$student-rlkd-plots"
  done
}

# paper_tables TABLES: the tables asked for, the accuracy-FLOPs plot, and
# the tables printed.
paper_tables() {
  mkdir -p "$OUT"
  case "$1" in
    table1) table1 ;;
    table2) table2 ;;
    table3) table3 ;;
    all) table1; table2; table3 ;;
  esac
  "$RLKD" plot --quiet --results "$OUT/results.jsonl" --out "$OUT"
  local table
  for table in table1 table2 table3; do
    if [ -s "$OUT/$table.md" ]; then
      printf '\n%s:\n' "$table"
      cat "$OUT/$table.md"
    fi
  done
  echo "$0: results in $OUT (results.jsonl, table*.md, accuracy-flops.svg)" >&2
}
