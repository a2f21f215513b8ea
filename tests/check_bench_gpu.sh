#!/usr/bin/env bash
# The GPU benchmark's code, here on the CPU, so that none of it runs first
# on the rare GPU (tests/gpu/check.sh runs it there): bench/gpu/run.py with
# --device cpu --smoke (cases.py, bench_gpu, torch_peers.py and the merge,
# every case with tiny shapes), then gpu-bench.json is checked: well-formed,
# every case of the case file in order, times where the CPU has the op, the
# cuDNN sides skipped; a spent time cap reports the cases it leaves "cut
# off"; and bench_gpu's CUDA side runs on the CUDA emulator where make has
# built it. Run by `make test` with BUILD and LIBDIR set; prints PASS/FAIL/
# SKIP lines for tests/run.sh.
set -u
BUILD=${BUILD:-build}
LIBDIR=${LIBDIR:-lib}
PY=/usr/bin/python3
if ! "$PY" -c 'import numpy, torch' 2>/dev/null; then
  echo "SKIP bench_gpu: $PY does not import numpy and torch (apt-get install python3-numpy python3-torch)"
  exit 77
fi
if [ "${SAN:-0}" = 1 ]; then
  # the sanitized library loads into Python only after its runtime
  LD_PRELOAD="$(${CC:-cc} -print-file-name=libasan.so) $(${CC:-cc} -print-file-name=libubsan.so)"
  export LD_PRELOAD ASAN_OPTIONS=detect_leaks=0
fi
status=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass() { echo "PASS bench_gpu: $*"; }
fail() { echo "FAIL bench_gpu: $*"; status=1; }

libs=("$LIBDIR"/librlkd.so.*.*.*)
lib=${libs[0]}
bench=$BUILD/bench/bench_gpu
if "$PY" bench/gpu/run.py --bench "$bench" --library "$lib" --work "$tmp/work" \
    --out "$tmp/out" --device cpu --smoke --seconds 600 >"$tmp/log" 2>&1; then
  pass "run.py --device cpu --smoke: cases, bench_gpu, torch_peers.py and the merge ran"
else
  fail "run.py --device cpu --smoke failed:"
  tail -20 "$tmp/log"
fi

"$PY" - "$tmp/work/cases.json" "$tmp/out/gpu-bench.json" "$tmp/out/gpu-bench.md" <<'EOF' || status=1
import json
import sys

cases_path, report_path, markdown_path = sys.argv[1:]
failed = False


def check(ok, what):
    global failed
    print("%s bench_gpu: %s" % ("PASS" if ok else "FAIL", what))
    failed |= not ok


cases = json.load(open(cases_path))
report = json.load(open(report_path))
rows = report["cases"]
check([row["id"] for row in rows] == [case["id"] for case in cases],
      "gpu-bench.json has every one of the %d cases, in order" % len(cases))
check(all(set(row) >= {"id", "rlkd_ms", "peer", "peer_ms", "ratio", "status"} for row in rows),
      "every row has id, rlkd_ms, peer, peer_ms, ratio and status")
check(all(report[key] for key in ("gpu", "date", "rlkd", "torch", "goals")),
      "the report names the device, date, versions and goals")
kinds = {case["kind"] for case in cases}
check(kinds == {"conv", "kd_loss", "attention", "train_step"},
      "the cases cover conv, kd_loss, attention and train_step")
check({case["module"] for case in cases if case["kind"] == "attention"}
      == {"gap", "se", "eca", "cbam"}, "attention: global average pooling, SE, ECA and CBAM")
by_id = {case["id"]: case for case in cases}
native = [row for row in rows if by_id[row["id"]].get("engine", "native") == "native"]
check(all(isinstance(row["rlkd_ms"], float) and row["rlkd_ms"] > 0 for row in native),
      "the CPU timed every case on the native engine")
torch_rows = [row for row in rows if row["peer"] == "pytorch"]
check(all(isinstance(row["peer_ms"], float) and row["peer_ms"] > 0 for row in torch_rows),
      "PyTorch timed every case it is the peer of")
check(all(row["ratio"] == round(row["peer_ms"] / row["rlkd_ms"], 3)
          for row in rows if row["status"] == "ok"), "ratio = peer ms / rlkd ms")
cudnn_sides = [row for row in rows if row["peer"] == "cudnn"
               or by_id[row["id"]].get("engine") == "cudnn"]
check(cudnn_sides and all("skipped: no cuDNN" in row["status"] and row["ratio"] is None
                          for row in cudnn_sides),
      "the cuDNN sides say 'skipped: no cuDNN' on the CPU")
markdown = open(markdown_path).read()
check(all("| %s |" % case["id"] in markdown for case in cases),
      "gpu-bench.md has a row for every case")
sys.exit(failed)
EOF

# A spent time cap: the cases after it are reported, not run (the cuDNN
# sides are skipped before that).
"$bench" --device cpu --smoke --seconds 0.000001 "$tmp/work/cases.json" >"$tmp/capped.jsonl" 2>/dev/null
"$PY" - "$tmp/work/cases.json" "$tmp/capped.jsonl" <<'EOF' || status=1
import json
import sys

cases = json.load(open(sys.argv[1]))
lines = [json.loads(line) for line in open(sys.argv[2])][1:]
sides = sum(1 + (case["peer"] == "cudnn") for case in cases)
cut = [line for line in lines if line["status"] == "cut off"]
run = [line for line in lines if line["status"] not in ("cut off", "skipped: no cuDNN")]
# the first case may start before the clock has moved
ok = len(lines) == sides and len(run) <= 1 and lines[-2]["status"] == "cut off"
print("%s bench_gpu: --seconds spent: %d of %d sides reported cut off, none missing"
      % ("PASS" if ok else "FAIL", len(cut), sides))
sys.exit(not ok)
EOF
# The CUDA backend's side of bench_gpu, on the CUDA emulator's library
# (mk/emu.mk; not in sanitized builds): one case of each kind, module and
# direction, each side ok, unsupported (an op the backend lacks) or skipped
# (no cuDNN in that build), none failing or missing.
emu=$BUILD/emu/lib
if [ ! -e "$emu/librlkd.so.0" ]; then
  echo "SKIP bench_gpu: on the CUDA emulator: no $emu/librlkd.so.0 (make test-cuda-emu builds it)"
  exit "$status"
fi
"$PY" - "$tmp/work/cases.json" "$tmp/pick.json" <<'EOF'
import json
import sys

picked = {}
for case in json.load(open(sys.argv[1])):
    picked.setdefault((case["kind"], case.get("module"), case.get("direction"),
                       case.get("engine")), case)
json.dump(list(picked.values()), open(sys.argv[2], "w"))
EOF
LD_LIBRARY_PATH=$emu "$bench" --device cuda --smoke "$tmp/pick.json" >"$tmp/emu.jsonl" 2>"$tmp/emu.log"
"$PY" - "$tmp/pick.json" "$tmp/emu.jsonl" <<'EOF' || status=1
import json
import sys

cases = json.load(open(sys.argv[1]))
lines = [json.loads(line) for line in open(sys.argv[2])]
sides = {(line["id"], line["side"]): line for line in lines[1:]}
wanted = [(case["id"], "rlkd") for case in cases] + \
         [(case["id"], "cudnn") for case in cases if case["peer"] == "cudnn"]
problems = ["%s %s: %s" % (case_id, side, sides[(case_id, side)].get("message", sides[(case_id, side)]["status"])
                           if (case_id, side) in sides else "missing")
            for case_id, side in wanted if (case_id, side) not in sides
            or sides[(case_id, side)]["status"] not in ("ok", "unsupported", "skipped: no cuDNN")]
ok = lines[0]["meta"]["device"] == "cuda" and not problems
print("%s bench_gpu: on the CUDA emulator, %d cases (%d sides timed): every side ok, unsupported or skipped%s"
      % ("PASS" if ok else "FAIL", len(cases), sum(line["status"] == "ok" for line in sides.values()),
         "".join("\n  " + problem for problem in problems)))
sys.exit(not ok)
EOF
exit "$status"
