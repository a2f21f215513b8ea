# Sourced by the benchmark scripts. run_once TAG SEED ARGS... runs
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
