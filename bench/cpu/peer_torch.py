"""The PyTorch side of the CPU benchmark: the cases of bench_cpu, timed alike.

Each case runs what a PyTorch program does for the same work: the op's
functional call forward, torch.autograd.grad for backward (only the
gradients rlkd's call computes, the graph kept between runs), the unfused
Hinton loss, and torch.optim.SGD on the torch_module mirror for a training
step. 2 warm-up runs, then runs until at least --min-time seconds (a case's
"min_time_s" overrides it) and at least 3 runs; prints the fastest as
{"id": ..., "ms": ...} per line.

    /usr/bin/python3 bench/cpu/peer_torch.py --threads N --min-time S cases.json > torch.jsonl

With --rlkd BENCH_CPU --rlkd-out rlkd.jsonl it runs bench_cpu on each case
just before timing PyTorch on it, so that both sides of a row are measured
within seconds of each other (make bench-cpu does this).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "bindings", "python"))
import rlkd.torch_module  # noqa: E402  (after the path is set)

WARMUP_RUNS = 2
MIN_RUNS = 3
MAX_RUNS = 20000  # as bench_cpu: tiny ops stop here


def measure(run, min_time_s):
    """The fastest run's time in ms (the others measure the neighbours too)."""
    for _ in range(WARMUP_RUNS):
        run()
    times = []
    started = time.perf_counter()
    while (len(times) < MIN_RUNS or time.perf_counter() - started < min_time_s) \
            and len(times) < MAX_RUNS:
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return 1e3 * min(times)


def backward_run(output, inputs, doutput):
    """Backward through a kept graph to `inputs` alone, as rlkd's call does."""
    return lambda: torch.autograd.grad(output, inputs, doutput, retain_graph=True)


def conv_run(case):
    n, cin, cout, k = case["batch"], case["cin"], case["cout"], case["kernel"]
    x = torch.randn(n, cin, case["h"], case["w"])
    w = torch.randn(cout, cin // case["groups"], k, k) * 0.05
    bias = torch.randn(cout) * 0.1 if case["bias"] else None
    geometry = dict(stride=case["stride"], padding=case["padding"],
                    dilation=case["dilation"], groups=case["groups"])
    direction = case["direction"]
    if direction == "forward":
        def forward():
            with torch.no_grad():
                F.conv2d(x, w, bias, **geometry)
        return forward
    # bias gets no gradient: rlkd's timed call passes dbias NULL
    wanted = x if direction == "backward_data" else w
    wanted.requires_grad_()
    y = F.conv2d(x, w, bias, **geometry)
    return backward_run(y, [wanted], torch.randn_like(y))


def bn_relu_run(case):
    x = torch.randn(*case["shape"])
    channels = case["shape"][1]
    gamma, beta = torch.ones(channels), torch.zeros(channels)
    running_mean, running_var = torch.zeros(channels), torch.ones(channels)

    def forward():
        return F.relu(F.batch_norm(x, running_mean, running_var, gamma, beta, True,
                                   case["momentum"], case["eps"]))
    if case["direction"] == "forward":
        def forward_no_grad():
            with torch.no_grad():
                forward()
        return forward_no_grad
    for t in (x, gamma, beta):
        t.requires_grad_()
    y = forward()
    return backward_run(y, [x, gamma, beta], torch.randn_like(y))


def attention_run(case):
    n, channels, height, width = case["shape"]
    x = torch.randn(n, channels, height, width)
    module = case["module"]
    name = "attention"
    if module == "eca":
        params = {name + ".conv.weight": torch.randn(1, 1, case["kernel"]) * 0.5}
        apply = rlkd.torch_module._eca
    else:
        hidden = max(1, channels // case["reduction"])
        params = {name + ".fc1.weight": torch.randn(hidden, channels) * 0.1,
                  name + ".fc1.bias": torch.randn(hidden) * 0.1,
                  name + ".fc2.weight": torch.randn(channels, hidden) * 0.1,
                  name + ".fc2.bias": torch.randn(channels) * 0.1}
        apply = rlkd.torch_module._se
        if module == "cbam":
            k = case["kernel"]
            params[name + ".spatial.weight"] = torch.randn(1, 2, k, k) * 0.1
            params[name + ".spatial.bias"] = torch.randn(1) * 0.1
            apply = rlkd.torch_module._cbam
    if case["direction"] == "forward":
        def forward():
            with torch.no_grad():
                apply(x, name, params)
        return forward
    inputs = [x] + list(params.values())
    for t in inputs:
        t.requires_grad_()
    y = apply(x, name, params)
    return backward_run(y, inputs, torch.randn_like(y))


def hinton_loss(student, teacher, labels, t, alpha):
    """alpha T^2 KL(softmax(teacher/T) || softmax(student/T)) + (1 - alpha) CE,
    unfused, as a PyTorch program writes it."""
    kl = F.kl_div(F.log_softmax(student / t, 1), F.softmax(teacher / t, 1),
                  reduction="batchmean")
    return alpha * t * t * kl + (1 - alpha) * F.cross_entropy(student, labels)


def kd_loss_run(case):
    n, classes = case["shape"]
    student = (torch.randn(n, classes) * 3).requires_grad_()
    teacher = torch.randn(n, classes) * 3
    labels = torch.arange(n) % classes
    t, alpha = case["temperature"], case["alpha"]

    def forward_backward():
        torch.autograd.grad(hinton_loss(student, teacher, labels, t, alpha), [student])
    return forward_backward


def images_and_labels(case):
    n = case["batch"]
    return torch.randn(n, *case["input"]), torch.arange(n) % case["classes"]


def train_step_run(case):
    model = rlkd.torch_module.load(case["path"]).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=case["lr"], momentum=case["momentum"],
                                weight_decay=case["weight_decay"])
    images, labels = images_and_labels(case)

    def step():
        optimizer.zero_grad()
        F.cross_entropy(model(images), labels).backward()
        optimizer.step()
    return step


def inference_run(case):
    model = rlkd.torch_module.load(case["path"]).eval()
    images, _ = images_and_labels(case)

    def forward():
        with torch.inference_mode():
            model(images)
    return forward


RUNS = {"conv": conv_run, "bn_relu": bn_relu_run, "attention": attention_run,
        "kd_loss": kd_loss_run, "train_step": train_step_run, "inference": inference_run}


def rlkd_time(bench_cpu, case, threads, min_time_s, folder):
    """bench_cpu's line for one case, run now: the two sides of a row are
    measured one right after the other, in the same weather on a shared
    machine, not minutes apart."""
    path = os.path.join(folder, "case.json")
    with open(path, "w") as f:
        json.dump([case], f)
    out = subprocess.run([bench_cpu, "--threads", str(threads), "--min-time", str(min_time_s),
                          path], check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         text=True).stdout
    return json.loads(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--min-time", type=float, default=0.5)
    parser.add_argument("--rlkd", metavar="BENCH_CPU",
                        help="time each case with this bench_cpu too, just before PyTorch")
    parser.add_argument("--rlkd-out", metavar="FILE", help="where --rlkd's lines go")
    parser.add_argument("cases")
    args = parser.parse_args()
    if bool(args.rlkd) != bool(args.rlkd_out):
        parser.error("--rlkd and --rlkd-out go together")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    with open(args.cases) as f:
        cases = json.load(f)
    print("peer_torch: torch %s, %d threads, %d cases"
          % (torch.__version__, torch.get_num_threads(), len(cases)), file=sys.stderr)
    rlkd_out = open(args.rlkd_out, "w") if args.rlkd_out else None
    with tempfile.TemporaryDirectory() as folder:
        for index, case in enumerate(cases, 1):
            print("[%d/%d] %s" % (index, len(cases), case["id"]), file=sys.stderr)
            min_time_s = case.get("min_time_s", args.min_time)
            if rlkd_out:
                line = rlkd_time(args.rlkd, case, args.threads, min_time_s, folder)
                print(json.dumps(line), file=rlkd_out, flush=True)
            run = RUNS[case["kind"]](case)
            ms = measure(run, min_time_s)
            print(json.dumps({"id": case["id"], "ms": ms}), flush=True)
    if rlkd_out:
        rlkd_out.close()


if __name__ == "__main__":
    main()
