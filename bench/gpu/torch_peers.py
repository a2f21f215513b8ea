"""The PyTorch side of the GPU benchmark: the cases of bench/gpu/cases.py
whose peer is "pytorch", timed as bench_gpu times rlkd.

Each case runs what a PyTorch program runs for the same work, written once
for the CPU benchmark (bench/cpu/peer_torch.py): functional ops, autograd
for the gradients rlkd's call computes, the unfused Hinton loss; a training
step is the same network in eager mode (rlkd.torch_module, from the file
cases.py wrote) with the Hinton loss against fixed teacher logits and
torch.optim.SGD. On CUDA: float32 throughout (TF32 off, as rlkd's engines)
and cuDNN's autotuner on (its search falls in the warm-up runs).

Timing as bench_gpu: 2 warm-up runs, then 10 runs, each ended by
torch.cuda.synchronize, and the median; a case stops early after 3 s (and
3 runs), and once --seconds (counted from this program's start) are spent
(after 1 run); a case that would start after that is "cut off". Prints a
{"meta": ...} line, then per case
{"id": ..., "side": "pytorch", "status": "ok", "ms": ..., "runs": n}, or a
status "error" with the exception.

    python3 bench/gpu/torch_peers.py [--device cuda|cpu] [--smoke] [--seconds S] cases.json > torch.jsonl

--smoke runs each case's "smoke" values with 1 warm-up and 2 runs (the
tests, on a CPU). Needs the rlkd package's library (RLKD_LIBRARY) only to
import rlkd.torch_module.
"""
import time

STARTED = time.perf_counter()  # before the imports: --seconds counts them

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cpu"))
import peer_torch  # noqa: E402  (it puts the bindings on the path)
import rlkd.torch_module  # noqa: E402

CASE_SECONDS = 3.0
MIN_RUNS = 3
WARMUP_RUNS, TIMED_RUNS = 2, 10
SMOKE_WARMUP_RUNS, SMOKE_TIMED_RUNS = 1, 2


class Timer:
    def __init__(self, device, smoke, seconds):
        self.sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
        self.warmup, self.runs = (SMOKE_WARMUP_RUNS, SMOKE_TIMED_RUNS) if smoke \
            else (WARMUP_RUNS, TIMED_RUNS)
        self.deadline = STARTED + seconds if seconds > 0 else None

    def past_deadline(self):
        return self.deadline is not None and time.perf_counter() >= self.deadline

    def measure(self, run):
        """(median ms, runs)."""
        for _ in range(self.warmup):
            run()
        self.sync()
        times = []
        started = time.perf_counter()
        while len(times) < self.runs:
            t0 = time.perf_counter()
            run()
            self.sync()
            times.append(time.perf_counter() - t0)
            if (len(times) >= MIN_RUNS and time.perf_counter() - started > CASE_SECONDS) \
                    or self.past_deadline():
                break
        return 1e3 * statistics.median(times), len(times)


def gap_run(case):
    x = torch.randn(*case["shape"])
    if case["direction"] == "forward":
        def forward():
            with torch.no_grad():
                F.adaptive_avg_pool2d(x, 1)
        return forward
    x.requires_grad_()
    y = F.adaptive_avg_pool2d(x, 1)
    return peer_torch.backward_run(y, [x], torch.randn_like(y))


def attention_run(case):
    return gap_run(case) if case["module"] == "gap" else peer_torch.attention_run(case)


def train_step_run(case, device):
    """The Hinton loss against fixed teacher logits ("loss": "kd") or, as
    bench_gpu reads a case without "loss", cross-entropy alone."""
    distil = "loss" in case
    if distil and case["loss"] != "kd":
        raise ValueError("a training step's loss must be \"kd\" (or absent: cross-entropy)")
    model = rlkd.torch_module.load(case["path"]).to(device).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=case["lr"], momentum=case["momentum"],
                                weight_decay=case["weight_decay"])
    images, labels = peer_torch.images_and_labels(case)
    teacher = torch.randn(case["batch"], case["classes"]) * 3

    def loss_of(logits):
        if distil:
            return peer_torch.hinton_loss(logits, teacher, labels, case["temperature"],
                                          case["alpha"])
        return F.cross_entropy(logits, labels)

    def step():
        optimizer.zero_grad()
        loss_of(model(images)).backward()
        optimizer.step()
    return step


def run_of(case, device):
    if case["kind"] == "train_step":
        return train_step_run(case, device)
    return {"attention": attention_run, "kd_loss": peer_torch.kd_loss_run}[case["kind"]](case)


def float32_only():
    """TF32 off in cuDNN and cuBLAS, through the API this PyTorch has: the
    newer one alone where it exists (it refuses a mix of the two), conv and
    rnn alike."""
    cudnn = torch.backends.cudnn
    if hasattr(cudnn, "conv") and hasattr(cudnn.conv, "fp32_precision"):
        cudnn.conv.fp32_precision = cudnn.rnn.fp32_precision = "ieee"
        torch.backends.cuda.matmul.fp32_precision = "ieee"
    else:
        cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False


def work_key(case):
    """Cases that differ only in rlkd's engine are the same work here."""
    return json.dumps({k: v for k, v in case.items() if k not in ("id", "engine")},
                      sort_keys=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--seconds", type=float, default=0.0,
                        help="the time cap of the whole run (0: none)")
    parser.add_argument("cases")
    args = parser.parse_args()
    if args.device == "cuda":
        if not torch.cuda.is_available():
            sys.exit("torch_peers: torch %s sees no GPU" % torch.__version__)
        torch.set_default_device("cuda")
        torch.backends.cudnn.benchmark = True
        float32_only()
    torch.manual_seed(0)
    timer = Timer(args.device, args.smoke, args.seconds)
    with open(args.cases) as f:
        cases = [case for case in json.load(f) if case["peer"] == "pytorch"]
    meta = dict(torch=torch.__version__, device=args.device,
                device_name=torch.cuda.get_device_name(0) if args.device == "cuda" else "CPU",
                cudnn=torch.backends.cudnn.version() if args.device == "cuda" else None)
    print(json.dumps({"meta": meta}), flush=True)
    print("torch_peers: torch %s on %s, %d cases" % (meta["torch"], meta["device_name"],
                                                    len(cases)), file=sys.stderr)
    done = {}
    for index, case in enumerate(cases, 1):
        if args.smoke:
            case.update(case["smoke"])
        print("[%d/%d] %s" % (index, len(cases), case["id"]), file=sys.stderr)
        line = {"id": case["id"], "side": "pytorch"}
        key = work_key(case)
        if key in done:
            line.update(done[key])
        elif timer.past_deadline():
            line["status"] = "cut off"
        else:
            try:
                ms, runs = timer.measure(run_of(case, args.device))
                done[key] = dict(status="ok", ms=ms, runs=runs)
            except Exception as e:  # the case fails, the run goes on
                done[key] = dict(status="error", message="%s: %s" % (type(e).__name__, e))
            line.update(done[key])
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
