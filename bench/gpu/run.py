"""The GPU benchmark, whole: writes the cases (cases.py), times rlkd and its
cuDNN engine on them (bench_gpu), then PyTorch (torch_peers.py), and
merges the two sides into OUT/gpu-bench.json and a Markdown table,
OUT/gpu-bench.md, for docs/benchmarks.md; prints the table as text.

    python3 bench/gpu/run.py --bench BUILD/bench/bench_gpu --library LIB/librlkd.so.0 \\
        --work DIR --out OUT [--device cuda|cpu] [--smoke] [--seconds S]

--seconds caps the whole run (0: no cap): bench_gpu gets 60% of what is
left after the cases are written, torch_peers the rest; each stops starting
cases when its share is spent and reports the rest "cut off", and is killed
if it runs 30 s past it. A ratio is peer ms / rlkd ms: above 1, rlkd is
faster. Run it with the python that has PyTorch (torch_peers.py runs under
the same one). Exit status 0 when both programs ran through (whatever their
cases' statuses), 1 otherwise.
"""
import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RLKD_SHARE = 0.6
KILL_GRACE_S = 30
# (kind, title, goal: the ratio aimed at, or None)
GROUPS = [("kd_loss", "Distillation loss, forward with the gradient", 3.0),
          ("attention", "Attention and its pooling, DenseNet-201's shapes (batch 32)", None),
          ("train_step", "Training steps with the KD loss (batch 256, SGD)", 1.0),
          ("conv", "Convolutions of VGG-16 and ResNet-50 (224x224, batch 32)", 0.8)]
CONV_DIRECTIONS = ("forward", "backward_data", "backward_filter")
PEER_NAMES = {"cudnn": "rlkd's cuDNN engine", "pytorch": "PyTorch"}


def read_lines(path):
    """({(id, side): line}, meta) of a program's JSON lines."""
    lines, meta = {}, {}
    if os.path.exists(path):
        with open(path) as f:
            for row in map(json.loads, filter(str.strip, f)):
                if "meta" in row:
                    meta = row["meta"]
                else:
                    lines[(row["id"], row["side"])] = row
    return lines, meta


def run_program(name, command, out_path, limit_s, notes, env=None):
    """Runs command with stdout to out_path; returns whether it ran through."""
    print("run.py: %s" % " ".join(command), file=sys.stderr, flush=True)
    with open(out_path, "w") as out:
        try:
            rc = subprocess.run(command, stdout=out, env=env,
                                timeout=limit_s + KILL_GRACE_S if limit_s else None).returncode
        except subprocess.TimeoutExpired:
            notes.append("%s: killed %d s after its time share ran out" % (name, KILL_GRACE_S))
            return False
    if rc != 0:
        notes.append("%s: exit status %d (see its messages above)" % (name, rc))
    return rc == 0


def side_of(lines, case_id, side, stopped):
    """A side's line, or why there is none."""
    return lines.get((case_id, side)) or {
        "status": "not run: %s stopped before it" % stopped}


def merge(cases, rlkd_lines, torch_lines):
    """One row per case: id, kind, rlkd_ms, peer, peer_ms, ratio, status."""
    rows = []
    for case in cases:
        mine = side_of(rlkd_lines, case["id"], "rlkd", "bench_gpu")
        theirs = (side_of(rlkd_lines, case["id"], "cudnn", "bench_gpu") if case["peer"] == "cudnn"
                  else side_of(torch_lines, case["id"], "pytorch", "torch_peers"))
        row = dict(id=case["id"], kind=case["kind"], peer=case["peer"],
                   rlkd_ms=mine.get("ms"), peer_ms=theirs.get("ms"), ratio=None)
        for key in ("direction", "engine", "net"):
            if key in case:
                row[key] = case[key]
        problems = ["%s %s%s" % (side, line["status"],
                                 " (%s)" % line["message"] if line.get("message") else "")
                    for side, line in (("rlkd", mine), (case["peer"], theirs))
                    if line["status"] != "ok"]
        row["status"] = "; ".join(problems) or "ok"
        if not problems:
            row["ratio"] = round(theirs["ms"] / mine["ms"], 3)
        rows.append(row)
    return rows


def goal_line(what, ratios, goal):
    measured = statistics.median(ratios) if ratios else None
    return dict(what=what, goal=goal, cases=len(ratios),
                median_ratio=round(measured, 3) if measured is not None else None,
                met=None if measured is None or goal is None else measured >= goal)


def goals(rows):
    """The summary: median ratios per group (and conv direction) against the goals."""
    ok = [row for row in rows if row["ratio"] is not None]
    out = []
    for kind, title, goal in GROUPS:
        ratios = [row["ratio"] for row in ok if row["kind"] == kind]
        if kind == "train_step":  # each network and engine on its own
            out += [goal_line(row["id"], [row["ratio"]] if row["ratio"] is not None else [],
                              goal) for row in rows if row["kind"] == kind]
            continue
        out.append(goal_line(kind + ": median over cases", ratios, goal))
        if kind == "conv":
            out += [goal_line("conv %s: median over shapes" % direction,
                              [row["ratio"] for row in ok
                               if row["kind"] == "conv" and row["direction"] == direction], goal)
                    for direction in CONV_DIRECTIONS]
    return out


def verdict(line):
    if line["median_ratio"] is None:
        return "not measured"
    if line["goal"] is None:
        return "no goal set"
    return "met" if line["met"] else "not met"


def ms_text(ms):
    return "-" if ms is None else "%.3f" % ms if ms < 10 else "%.1f" % ms


def ratio_text(ratio):
    return "-" if ratio is None else "%.2f" % ratio


def gpu_name(torch_meta):
    """PyTorch's name of the device, else nvidia-smi's."""
    if "device_name" in torch_meta:
        return torch_meta["device_name"]
    try:
        names = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                               capture_output=True, text=True).stdout.split("\n")
    except OSError:
        names = []
    return names[0].strip() or "unknown" if names else "unknown"


def git_commit():
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE,
                              capture_output=True, text=True).stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def markdown(report):
    out = ["### Measured on %s" % report["gpu"], "",
           "Measured by `tests/gpu/check.sh` (bench/gpu/) on %s, rlkd %s (commit %s), "
           "PyTorch %s; time cap %s s. Each side: 2 warm-up runs, then 10 runs ended by a "
           "device synchronisation, and the median (fewer runs after 3 s). The ratio is "
           "peer ms / rlkd ms: above 1, rlkd is faster."
           % (report["date"], report["rlkd"], report["commit"], report["torch"],
              report["seconds"] or "no"), ""]
    out += ["| measure | goal (ratio) | median ratio | cases | verdict |",
            "|---|---:|---:|---:|---|"]
    out += ["| %s | %s | %s | %d | %s |" % (line["what"], ratio_text(line["goal"]),
                                            ratio_text(line["median_ratio"]), line["cases"],
                                            verdict(line)) for line in report["goals"]]
    out.append("")
    for kind, title, _ in GROUPS:
        rows = [row for row in report["cases"] if row["kind"] == kind]
        out += ["#### " + title, "", "| case | rlkd ms | peer | peer ms | ratio | status |",
                "|---|---:|---|---:|---:|---|"]
        out += ["| %s | %s | %s | %s | %s | %s |" % (
            row["id"], ms_text(row["rlkd_ms"]), PEER_NAMES[row["peer"]],
            ms_text(row["peer_ms"]), ratio_text(row["ratio"]), row["status"]) for row in rows]
        out.append("")
    if report["notes"]:
        out += ["Notes: " + "; ".join(report["notes"]) + ".", ""]
    return "\n".join(out)


def text_table(report):
    width = max(len(row["id"]) for row in report["cases"])
    line = "%-*s  %9s  %8s  %9s  %6s  %s"
    out = ["GPU benchmark on %s (%s)" % (report["gpu"], report["date"]),
           line % (width, "case", "rlkd ms", "peer", "peer ms", "ratio", "status")]
    for row in report["cases"]:
        out.append(line % (width, row["id"], ms_text(row["rlkd_ms"]), row["peer"],
                           ms_text(row["peer_ms"]), ratio_text(row["ratio"]),
                           row["status"]))
    out.append("")
    out += ["%s: median ratio %s over %d (goal %s): %s"
            % (g["what"], ratio_text(g["median_ratio"]), g["cases"], ratio_text(g["goal"]),
               verdict(g)) for g in report["goals"]]
    out += ["note: " + note for note in report["notes"]]
    return "\n".join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bench", required=True, help="the bench_gpu program")
    parser.add_argument("--library", required=True, help="the librlkd it is linked with")
    parser.add_argument("--work", required=True, help="a folder for the cases and raw lines")
    parser.add_argument("--out", required=True, help="where gpu-bench.json and .md go")
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--seconds", type=float, default=0.0)
    args = parser.parse_args()
    started = time.monotonic()
    os.makedirs(args.work, exist_ok=True)
    os.makedirs(args.out, exist_ok=True)
    library = os.path.abspath(args.library)
    subprocess.run([sys.executable, os.path.join(HERE, "cases.py"), library, args.work],
                   check=True)
    cases_path = os.path.join(args.work, "cases.json")
    with open(cases_path) as f:
        cases = json.load(f)

    def share(fraction):
        if not args.seconds:
            return 0.0
        return max(1.0, fraction * (args.seconds - (time.monotonic() - started)))

    notes = []
    flags = ["--device", args.device] + (["--smoke"] if args.smoke else [])
    rlkd_path, torch_path = (os.path.join(args.work, name) for name in ("rlkd.jsonl",
                                                                        "torch.jsonl"))
    limit = share(RLKD_SHARE)
    ran = run_program("bench_gpu", [args.bench] + flags + ["--seconds", "%.1f" % limit,
                                                           cases_path],
                      rlkd_path, limit, notes)
    limit = share(1.0)
    ran &= run_program("torch_peers", [sys.executable, os.path.join(HERE, "torch_peers.py")]
                       + flags + ["--seconds", "%.1f" % limit, cases_path],
                       torch_path, limit, notes, env=dict(os.environ, RLKD_LIBRARY=library))
    rlkd_lines, rlkd_meta = read_lines(rlkd_path)
    torch_lines, torch_meta = read_lines(torch_path)
    if rlkd_meta.get("cudnn", "available") != "available":
        notes.append("no cuDNN engine: " + rlkd_meta["cudnn"])
    rows = merge(cases, rlkd_lines, torch_lines)
    report = dict(
        gpu=gpu_name(torch_meta),
        date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        device=args.device, smoke=args.smoke, seconds=args.seconds,
        rlkd=rlkd_meta.get("rlkd", "unknown"), commit=git_commit(),
        torch=torch_meta.get("torch", "unknown"), torch_cudnn=torch_meta.get("cudnn"),
        cudnn_engine=rlkd_meta.get("cudnn", "unknown"), notes=notes,
        goals=goals(rows), cases=rows)
    with open(os.path.join(args.out, "gpu-bench.json"), "w") as f:
        json.dump(report, f, indent=1)
    with open(os.path.join(args.out, "gpu-bench.md"), "w") as f:
        f.write(markdown(report))
    print(text_table(report))
    print("wrote %s and %s" % (os.path.join(args.out, "gpu-bench.json"),
                               os.path.join(args.out, "gpu-bench.md")))
    return 0 if ran else 1


if __name__ == "__main__":
    sys.exit(main())
