"""The data loader benchmark (make bench-data): decoded-and-augmented images
per second of rlkd's loader (bench_data, C) against torchvision's
DataLoader (peer_torchvision.py) on the same folder of JPEGs and the same
cores, and, where there is a GPU and rlkd has nvJPEG, rlkd's loader
decoding on the GPU (bench_data --device cuda). Not a test: the numbers are
the machine's.

For each worker count W the two sides run pinned to the same W cores
(sched_setaffinity; W worker threads or processes, the main thread or
process waiting for batches on those cores too), alternately, --repeats
times each; the table keeps each side's median. Besides images per second
of wall time, each side reports the CPU time its threads or processes
spent, so images per CPU-second show the work per image even where other
programs share the cores. The folder is read once before, so both decode
from the page cache.

The Markdown table goes into its own section of --markdown, between the
lines BEGIN and END below; bench/cpu/report.py rewrites that file up to
its end-of-table marker and keeps what follows, so the section goes after
it, and each report leaves the other's text alone.

    /usr/bin/python3 bench/data/run.py --bench build/bench/bench_data \\
        --images build/bench-data/images --markdown docs/benchmarks.md
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import textwrap

import PIL
import torch
import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_images  # noqa: E402  (after the path is set)

BEGIN = "<!-- bench-data: begin (bench/data/run.py writes this section) -->"
END = "<!-- bench-data: end -->"
CPU_END_MARKER = "<!-- end of generated table -->"


def pinned(cores):
    return lambda: os.sched_setaffinity(0, cores)


def run_side(command, cores):
    out = subprocess.run(command, check=True, capture_output=True, text=True,
                         preexec_fn=pinned(cores))
    return json.loads(out.stdout.strip().splitlines()[-1])


def gpu_probe(bench, images):
    """(GPU name, None) when bench_data decodes on the GPU here, else
    (None, why not)."""
    out = subprocess.run([bench, "--device", "cuda", "--seconds", "0.2", "--warmup", "1",
                          images], capture_output=True, text=True)
    if out.returncode == 77:
        return None, out.stderr.strip().split("skipped: ", 1)[-1]
    if out.returncode != 0:
        sys.exit("run.py: bench_data --device cuda failed: " + out.stderr.strip())
    try:
        name = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                              capture_output=True, text=True).stdout.splitlines()[0]
    except (OSError, IndexError):
        name = "a GPU"
    return name, None


def cpu_model():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def turbojpeg_version():
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "libturbojpeg0"],
                             capture_output=True, text=True)
        return out.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def section(rows, args, mean_kb, load, gpu, gpu_skipped):
    lines = [BEGIN, "", "## Data loading: rlkd's loader against torchvision's DataLoader", "",
             "Images per second through the ImageNet training transform "
             "(RandomResizedCrop(224), horizontal flip, ToTensor, Normalize) in shuffled "
             "batches of %d: rlkd's loader with W decoding threads (`bench/data/bench_data.c`) "
             "and torchvision's `ImageFolder` + `DataLoader` with `num_workers` W "
             "(`bench/data/peer_torchvision.py`), both pinned to the same W cores, on %d "
             "JPEGs of ImageNet's usual sizes (mostly 500 x 375, quality 90, %.0f KB on "
             "average) from the page cache. Median of %d runs of %g s each; per core = "
             "images/s / W; per CPU-second = images / (user + system time of all the "
             "threads or processes), the work per image whatever else ran on the cores."
             % (args.batch, args.count, mean_kb, args.repeats, args.seconds),
             "",
             "| cores (W) | rlkd images/s | rlkd per core | torchvision images/s "
             "| torchvision per core | rlkd / torchvision | images per CPU-second: rlkd "
             "| torchvision |" + (" rlkd, GPU decoding: images/s | per CPU-second |"
                                  if gpu else ""),
             "|---|---|---|---|---|---|---|---|" + ("---|---|" if gpu else "")]
    for workers, ours, theirs, our_cpu, their_cpu, on_gpu, on_gpu_cpu in rows:
        lines.append("| %d | %.0f | %.0f | %.0f | %.0f | %.2f | %.0f | %.0f |" % (
            workers, ours, ours / workers, theirs, theirs / workers, ours / theirs,
            our_cpu, their_cpu) + (" %.0f | %.0f |" % (on_gpu, on_gpu_cpu) if gpu else ""))
    lines += ["",
              "Both decode with libjpeg-turbo at its default settings and resize with PIL's "
              "antialiased bilinear filter (rlkd reimplements Pillow's fixed-point "
              "resampling), so they do the same work and give the same pixels "
              "(`tests/python/test_image_folder_parity.py`); torchvision adds Python per "
              "image, a PIL image object, ToTensor's conversion and the worker processes' "
              "pickling of each batch.",
              "",
              ("rlkd, GPU decoding: the same loader with `decode_device` "
               "RLKD_DEVICE_CUDA on %s: the W workers read each file and run "
               "libjpeg's entropy decoding over it (so bad files are found as on the "
               "CPU), nvJPEG decodes the batch on the GPU and rlkd's kernels crop, "
               "resize, flip and normalise it into the batch tensor; each batch is "
               "waited for, so its GPU time counts." % gpu) if gpu else
              ("GPU decoding (`bench_data --device cuda`): not measured here (%s)."
               % gpu_skipped),
              "",
              "Machine: %s, %d CPUs, %s; libjpeg-turbo %s, Pillow %s, PyTorch %s, "
              "torchvision %s. Load average (1 minute) before and after the runs: %.1f "
              "and %.1f; where it exceeds the CPUs, other programs took cores from both "
              "sides and images per CPU-second are the figures to compare." % (
                  cpu_model(), os.cpu_count(), platform.platform(), turbojpeg_version(),
                  PIL.__version__, torch.__version__, torchvision.__version__, *load),
              "",
              "Command: `make bench-data` (`BENCH_DATA_WORKERS`, `BENCH_DATA_IMAGES`, "
              "`BENCH_DATA_SECONDS`, `BENCH_DATA_REPEATS` set the worker counts, the "
              "images, the seconds and the runs).",
              "", END]
    wrapped = [line if line.startswith(("|", "<!--", "#")) or not line
               else textwrap.fill(line, 76, break_on_hyphens=False) for line in lines]
    return "\n".join(wrapped) + "\n"


def write_section(path, text):
    """Replaces the section between BEGIN and END, or adds it at the end."""
    old = open(path).read() if os.path.exists(path) else ""
    if BEGIN in old and END in old:
        head, rest = old.split(BEGIN, 1)
        new = head + text.rstrip("\n") + rest.split(END, 1)[1]
    else:
        if old and CPU_END_MARKER not in old:
            print("run.py: %s has no %s line: the CPU report may overwrite this section"
                  % (path, CPU_END_MARKER), file=sys.stderr)
        new = old.rstrip("\n") + ("\n\n" if old else "") + text
    with open(path, "w") as f:
        f.write(new)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bench", required=True, help="the bench_data program")
    parser.add_argument("--images", required=True, help="the folder of JPEGs (made if missing)")
    parser.add_argument("--count", type=int, default=1500)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--markdown")
    args = parser.parse_args()

    make_images.write(args.images, args.count)
    files = [os.path.join(d, f) for d, _, names in os.walk(args.images) for f in names
             if f.endswith(".JPEG")]
    total = 0
    for path in files:
        with open(path, "rb") as f:
            total += len(f.read())
    gpu, gpu_skipped = gpu_probe(args.bench, args.images)
    print("run.py: GPU decoding: %s" % (gpu or "skipped: " + gpu_skipped), flush=True)
    load_before = os.getloadavg()[0]
    available = sorted(os.sched_getaffinity(0))
    rows = []
    for workers in (int(w) for w in args.workers.split(",")):
        if workers > len(available):
            print("run.py: %d workers: only %d cores here, skipped" % (workers, len(available)))
            continue
        cores = set(available[:workers])
        common = ["--workers", str(workers), "--batch", str(args.batch),
                  "--seconds", str(args.seconds), args.images]
        sides = [("rlkd", [args.bench]),
                 ("torchvision", [sys.executable, os.path.join(HERE, "peer_torchvision.py")])]
        if gpu:
            sides.append(("rlkd GPU", [args.bench, "--device", "cuda"]))
        rates = {side: [] for side, _ in sides}
        per_cpu = {side: [] for side, _ in sides}
        for _ in range(args.repeats):
            for side, command in sides:
                result = run_side(command + common, cores)
                rates[side].append(result["images_per_second"])
                per_cpu[side].append(result["images"] / result["cpu_seconds"])
                print("%-11s W=%d: %7.1f images/s, %7.1f per CPU-second" % (
                    side, workers, rates[side][-1], per_cpu[side][-1]), flush=True)
        rows.append((workers, statistics.median(rates["rlkd"]),
                     statistics.median(rates["torchvision"]),
                     statistics.median(per_cpu["rlkd"]),
                     statistics.median(per_cpu["torchvision"]),
                     statistics.median(rates["rlkd GPU"]) if gpu else None,
                     statistics.median(per_cpu["rlkd GPU"]) if gpu else None))
    text = section(rows, args, total / len(files) / 1024, (load_before, os.getloadavg()[0]),
                   gpu, gpu_skipped)
    print(text)
    if args.markdown:
        write_section(args.markdown, text)


if __name__ == "__main__":
    main()
