# Sourced by the benchmark scripts, after they set OUT_DIR: makes it, sets
# RUNS to its runs.jsonl and BIN to the trainer (unless set), and keeps idle
# OpenMP threads from spinning (they starve OpenBLAS's on 2 cores).
mkdir -p "$OUT_DIR"
RUNS="$OUT_DIR/runs.jsonl"
touch "$RUNS"
BIN=${BIN:-build/examples/fashion_mnist}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}

# run_once TAG SEED ARGS... runs
# "$BIN" "${common[@]}" --seed SEED ARGS... (a program that prints one JSON
# line last) unless $RUNS already holds TAG for SEED, and appends that line
# to $RUNS with the tag and seed in front: a script that calls it resumes
# where an interrupted run left off.
run_once() {
  local tag=$1 seed=$2; shift 2
  if grep -q "\"tag\":\"$tag\",\"seed_run\":$seed," "$RUNS"; then
    echo "== $tag seed $seed: done before"
    return
  fi
  echo "== $tag seed $seed"
  local line
  line=$("$BIN" "${common[@]}" --seed "$seed" "$@" | tail -1)
  echo "{\"tag\":\"$tag\",\"seed_run\":$seed,${line#\{}" >>"$RUNS"
  echo "$line"
}
