"""The data loader benchmark, torchvision's side: the same folder through
ImageFolder with RandomResizedCrop(224), RandomHorizontalFlip, ToTensor and
Normalize, a DataLoader of shuffled batches of 64 with --workers worker
processes, counted as bench_data counts (after --warmup batches, whole
batches until --seconds have passed, and the CPU time of the main and the
worker processes meanwhile). Prints one JSON line.

    /usr/bin/python3 bench/data/peer_torchvision.py --workers 2 --seconds 10 build/bench-data/images
"""
import argparse
import json
import os
import time

import torch
from torchvision import datasets
from torchvision import transforms as T


def cpu_seconds(pids):
    """User and system time of these processes (from /proc, so workers
    count while they run)."""
    total = 0
    for pid in pids:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--crop", type=int, default=224)
    parser.add_argument("--warmup", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("folder")
    args = parser.parse_args()
    # The main process only collects batches, as rlkd's calling thread.
    torch.set_num_threads(1)
    transform = T.Compose([T.RandomResizedCrop(args.crop), T.RandomHorizontalFlip(),
                           T.ToTensor(), T.Normalize([0.485, 0.456, 0.406],
                                                     [0.229, 0.224, 0.225])])
    loader = torch.utils.data.DataLoader(
        datasets.ImageFolder(args.folder, transform), batch_size=args.batch, shuffle=True,
        num_workers=args.workers, drop_last=True, persistent_workers=args.workers > 0)
    batches = images = 0
    start = elapsed = cpu_start = 0.0
    while True:
        iterator = iter(loader)
        pids = [os.getpid()] + [worker.pid for worker in getattr(iterator, "_workers", [])]
        for _ in iterator:
            batches += 1
            if batches == args.warmup:
                start, cpu_start = time.perf_counter(), cpu_seconds(pids)
            elif batches > args.warmup:
                images += args.batch
                elapsed = time.perf_counter() - start
                if elapsed >= args.seconds:
                    cpu = cpu_seconds(pids) - cpu_start
                    print(json.dumps({"side": "torchvision", "workers": args.workers,
                                      "batch": args.batch, "crop": args.crop, "images": images,
                                      "seconds": round(elapsed, 3), "cpu_seconds": round(cpu, 3),
                                      "images_per_second": round(images / elapsed, 1)}))
                    return


if __name__ == "__main__":
    main()
