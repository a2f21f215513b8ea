"""The Python bindings' overhead, measured against the same calls from C.

The C side (bench/python/bench_bindings.c, a shared object loaded here)
runs on the very network and tensors the Python side uses, in the same
process, and the two alternate round after round; medians are kept:
  - the time of one call of the cheapest op (relu on one element) through
    rlkd.ops, through the raw ctypes function, and from C;
  - a training step of a small network (vgg_small at width 0.5, 28x28,
    batch 32, one thread) written out as its calls: forward, loss,
    zero_grad, backward, optimiser step. The bindings' share is
    (Python step - C step) / Python step, and, as a second view, the time
    the Python step spends outside the library's functions.

    python3 bench/python/bench_bindings.py --c build/bench/libbench_bindings.so
        [--rounds 7] [--markdown docs/python.md]

With --markdown the table replaces the text between the markers
<!-- bindings-bench: begin --> and <!-- bindings-bench: end --> of that file.
Run it through `make bench-python`, which builds the C side and sets
RLKD_LIBRARY to the library it links.
"""
import argparse
import ctypes
import os
import platform
import re
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "bindings", "python"))
import numpy as np  # noqa: E402

import rlkd  # noqa: E402
from rlkd import _ffi, lib  # noqa: E402


def relu_ns(ctx, calls):
    x, y = rlkd.Tensor.empty(ctx, (1,)), rlkd.Tensor.empty(ctx, (1,))
    start = time.perf_counter()
    for _ in range(calls):
        rlkd.ops.relu(x, out=y)
    pythonic = 1e9 * (time.perf_counter() - start) / calls
    ctx_handle, x_handle, y_handle = ctx.handle, x.handle, y.handle
    function = lib.rlkd_relu_forward
    start = time.perf_counter()
    for _ in range(calls):
        function(ctx_handle, y_handle, x_handle)
    raw = 1e9 * (time.perf_counter() - start) / calls
    return pythonic, raw


def step_ms(net, optimizer, images, labels, steps):
    start = time.perf_counter()
    for _ in range(steps):
        logits = net(images, training=True)
        loss, dlogits = rlkd.ops.softmax_cross_entropy(logits, labels)
        net.zero_grad()
        net.backward(dlogits)
        optimizer.step(0.01)
    return 1e3 * (time.perf_counter() - start) / steps


def attributed_step(net, optimizer, images, labels, steps):
    """(step ms, share of it spent outside the C library) in this process:
    every library function is wrapped to add up the time inside it, and
    whatever else the step took is the bindings' (the wrappers' own cost
    included, so the share is an upper bound)."""
    inside = [0.0]
    originals = {name: getattr(lib, name) for name in _ffi.SIGNATURES}

    def timed(function):
        def call(*args):
            start = time.perf_counter()
            try:
                return function(*args)
            finally:
                inside[0] += time.perf_counter() - start
        return call
    for name, function in originals.items():
        setattr(lib, name, timed(function))
    try:
        start = time.perf_counter()
        step_ms(net, optimizer, images, labels, steps)
        total = time.perf_counter() - start
    finally:
        for name, function in originals.items():
            setattr(lib, name, function)
    return 1e3 * total / steps, (total - inside[0]) / total


def c_side(path):
    """The C benchmark functions, declared."""
    c = ctypes.CDLL(path)
    c.bench_relu_ns.restype = c.bench_step_ms.restype = ctypes.c_double
    c.bench_relu_ns.argtypes = [ctypes.c_void_p] * 3 + [ctypes.c_int]
    c.bench_step_ms.argtypes = [ctypes.c_void_p] * 7 + [ctypes.c_int]
    return c


def checked(value):
    if value < 0:
        raise rlkd.Error(0, "C", "bench_bindings.c", lib.rlkd_last_error().decode())
    return value


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--c", required=True, help="the C side (libbench_bindings.so)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--calls", type=int, default=200000)
    parser.add_argument("--markdown", help="a file whose marked section gets the table")
    args = parser.parse_args()

    c = c_side(args.c)
    ctx = rlkd.Context(seed=1, threads=1)
    net = rlkd.Net.zoo(ctx, "vgg_small", num_classes=10, in_channels=1, in_height=28,
                       in_width=28, width_multiplier=0.5)
    optimizer = rlkd.Optimizer(net, "sgd")
    batch = 32
    images = rlkd.Tensor.empty(ctx, (batch, 1, 28, 28)).fill_normal(0, 1)
    labels = rlkd.Tensor(ctx, np.zeros(batch, np.int32))
    loss, dlogits = rlkd.Tensor.empty(ctx, (1,)), rlkd.Tensor.empty(ctx, (batch, 10))
    one_x, one_y = rlkd.Tensor.empty(ctx, (1,)), rlkd.Tensor.empty(ctx, (1,))
    step_ms(net, optimizer, images, labels, 2)  # warm-up
    c_relu, c_step, py_relu, raw_relu, py_step, outside = [], [], [], [], [], []
    for round_index in range(args.rounds):
        c_relu.append(checked(c.bench_relu_ns(ctx.handle, one_y.handle, one_x.handle,
                                              args.calls)))
        c_step.append(checked(c.bench_step_ms(ctx.handle, net.handle, optimizer.handle,
                                              images.handle, labels.handle, loss.handle,
                                              dlogits.handle, args.steps)))
        pythonic, raw = relu_ns(ctx, args.calls)
        py_relu.append(pythonic)
        raw_relu.append(raw)
        py_step.append(step_ms(net, optimizer, images, labels, args.steps))
        outside.append(attributed_step(net, optimizer, images, labels, args.steps)[1])
        print("round %d/%d: relu C %.0f ns, ctypes %.0f ns, rlkd.ops %.0f ns; step C %.3f ms, "
              "Python %.3f ms, %.3f %% of it outside C" % (
                  round_index + 1, args.rounds, c_relu[-1], raw_relu[-1], py_relu[-1],
                  c_step[-1], py_step[-1], 100 * outside[-1]), file=sys.stderr)
    median = statistics.median
    share = (median(py_step) - median(c_step)) / median(py_step)
    per_call_overhead_ns = median(py_relu) - median(c_relu)
    rows = [
        ("relu on 1 element, from C", "%.0f ns" % median(c_relu), "1.00"),
        ("the same through the ctypes function (lib.rlkd_relu_forward)",
         "%.0f ns" % median(raw_relu), "%.1f" % (median(raw_relu) / median(c_relu))),
        ("the same through rlkd.ops.relu(x, out=y)", "%.0f ns" % median(py_relu),
         "%.1f" % (median(py_relu) / median(c_relu))),
        ("training step of vgg_small x0.5, batch 32, from C", "%.3f ms" % median(c_step), "1.00"),
        ("the same step through the Python API", "%.3f ms" % median(py_step),
         "%.3f" % (median(py_step) / median(c_step))),
    ]
    lines = ["| what | median time | against C |", "|---|---:|---:|"]
    lines += ["| %s | %s | %s |" % row for row in rows]
    lines.append("")
    lines.append("The bindings' share of the training step: %.2f %% (goal: under 2 %%; rounds "
                 "from %+.2f to %+.2f %%); the time the Python step spends outside the "
                 "library's functions: %.2f %%. The Python overhead of one op call: about "
                 "%.1f us. Medians of %d alternating rounds of %d steps, both sides in one "
                 "process on the same network and tensors, one thread, rlkd %s, Python %s, "
                 "on %s."
                 % (100 * share, 100 * min((p - c) / p for p, c in zip(py_step, c_step)),
                    100 * max((p - c) / p for p, c in zip(py_step, c_step)),
                    100 * median(outside), per_call_overhead_ns / 1000, args.rounds,
                    args.steps, rlkd.version(), platform.python_version(), platform.machine()))
    table = "\n".join(lines)
    print(table)
    if args.markdown:
        text = open(args.markdown).read()
        begin, end = "<!-- bindings-bench: begin -->", "<!-- bindings-bench: end -->"
        if begin not in text or end not in text:
            sys.exit("%s: no %s ... %s section" % (args.markdown, begin, end))
        text = re.sub(re.escape(begin) + ".*?" + re.escape(end),
                      lambda _: begin + "\n" + table + "\n" + end, text, flags=re.S)
        open(args.markdown, "w").write(text)


if __name__ == "__main__":
    main()
