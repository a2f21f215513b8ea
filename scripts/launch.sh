#!/usr/bin/env bash
# Starts a data-parallel rlkd run, as torchrun does: N processes on this
# machine (one per GPU, or several on CPUs), each with RLKD_RANK,
# RLKD_LOCAL_RANK, RLKD_WORLD_SIZE and RLKD_RENDEZVOUS in its environment
# (rlkd_comm_options_from_env reads them; the rlkd command runs train,
# distill and finetune data-parallel under them). docs/distributed.md
# explains the run.
#
# One machine, 4 processes:
#   scripts/launch.sh --nproc 4 -- build/bin/rlkd train --device cuda --model vgg_small ...
# Several machines: the same command on each, with its --node-rank and a
# rendezvous all of them reach (a file on a shared file system, or
# HOST:PORT of node 0, where rank 0 listens):
#   scripts/launch.sh --nnodes 2 --node-rank 0 --nproc 8 --rendezvous node0:29500 -- CMD...
#   scripts/launch.sh --nnodes 2 --node-rank 1 --nproc 8 --rendezvous node0:29500 -- CMD...
# or from one machine over ssh (the same path to this checkout on every host):
#   scripts/launch.sh --hosts node0,node1 --nproc 8 --rendezvous node0:29500 -- CMD...
#
# Each line of output is prefixed with its rank ([3] ...). When one rank
# fails the others are stopped, and the launcher exits with the first
# failure's status. RLKD_SYNC_BATCHNORM=1 in the environment makes the rlkd
# command's batch norm synchronised; other RLKD_* settings pass through.
set -u

usage() {
  sed -n '2,/^$/s/^# \{0,1\}//p' "$0" >&2
  echo "usage: $0 [--nproc N] [--nnodes M --node-rank K | --hosts H1,H2,...]" \
       "[--rendezvous PATH|HOST:PORT] [--cpu-threads T] -- COMMAND [ARGS...]" >&2
  exit 2
}

nproc=1 nnodes=1 node_rank=0 rendezvous="" hosts="" threads=""
while [ $# -gt 0 ]; do
  case $1 in
    --nproc) nproc=${2:-}; shift 2 ;;
    --nnodes) nnodes=${2:-}; shift 2 ;;
    --node-rank) node_rank=${2:-}; shift 2 ;;
    --rendezvous) rendezvous=${2:-}; shift 2 ;;
    --hosts) hosts=${2:-}; shift 2 ;;
    --cpu-threads) threads=${2:-}; shift 2 ;;
    -h | --help) usage ;;
    --) shift; break ;;
    *) echo "$0: unknown option $1" >&2; usage ;;
  esac
done
[ $# -gt 0 ] || { echo "$0: no command after --" >&2; usage; }
for n in "$nproc" "$nnodes" "$node_rank" ${threads:+"$threads"}; do
  case $n in '' | *[!0-9]*) echo "$0: '$n' is not a number" >&2; usage ;; esac
done
[ "$nproc" -ge 1 ] && [ "$nnodes" -ge 1 ] && [ "$node_rank" -lt "$nnodes" ] ||
  { echo "$0: need --nproc >= 1, --nnodes >= 1, 0 <= --node-rank < --nnodes" >&2; exit 2; }

# Several hosts from here: this script on each, over ssh.
if [ -n "$hosts" ]; then
  [ -n "$rendezvous" ] ||
    { echo "$0: --hosts needs --rendezvous (HOST:PORT of the first host, or a shared file)" >&2; exit 2; }
  IFS=, read -r -a list <<<"$hosts"
  here=$(cd "$(dirname "$0")/.." && pwd)
  pids=()
  for k in "${!list[@]}"; do
    remote=$(printf '%q ' "$here/scripts/launch.sh" --nproc "$nproc" --nnodes "${#list[@]}" \
      --node-rank "$k" --rendezvous "$rendezvous" ${threads:+--cpu-threads "$threads"} -- "$@")
    ssh "${list[$k]}" "cd $(printf '%q' "$here") && $remote" 2>&1 |
      sed -u "s/^/${list[$k]}: /" &
    pids+=($!)
  done
  status=0
  for pid in "${pids[@]}"; do wait "$pid" || status=1; done
  exit $status
fi

# One machine and no rendezvous given: a fresh file (rank 0 writes it and
# removes it once every rank has arrived).
made=""
if [ -z "$rendezvous" ]; then
  [ "$nnodes" -eq 1 ] ||
    { echo "$0: several machines need --rendezvous (a shared file or HOST:PORT)" >&2; exit 2; }
  made=$(mktemp -d "${TMPDIR:-/tmp}/rlkd-launch.XXXXXX")
  rendezvous=$made/rendezvous
fi

world=$((nnodes * nproc))
# Each rank in its own process group (job control), so that stopping it
# stops its whole pipeline.
set -m
pids=()
stop() {
  for pid in "${pids[@]}"; do kill -- "-$pid" 2>/dev/null; done
}
trap 'stop; [ -n "$made" ] && rm -rf "$made"; exit 130' INT TERM
for ((local = 0; local < nproc; local++)); do
  rank=$((node_rank * nproc + local))
  (
    set -o pipefail
    export RLKD_RANK=$rank RLKD_LOCAL_RANK=$local RLKD_WORLD_SIZE=$world \
           RLKD_RENDEZVOUS=$rendezvous
    # Several CPU processes share the cores: each takes its part.
    [ -n "$threads" ] && export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads
    "$@" 2>&1 | sed -u "s/^/[$rank] /"
  ) &
  pids+=($!)
done

# The first failure stops the others (they would fail anyway, when their
# next collective finds its peer gone, but may be busy computing first).
status=0
remaining=${#pids[@]}
while [ "$remaining" -gt 0 ]; do
  wait -n
  rc=$?
  remaining=$((remaining - 1))
  if [ "$rc" -ne 0 ] && [ "$status" -eq 0 ]; then
    status=$rc
    echo "launch.sh: a rank exited with status $rc; stopping the others" >&2
    stop
  fi
done
[ -n "$made" ] && rm -rf "$made"
exit $status
