"""Parity of rlkd's CPU ops with PyTorch, forward and backward.

Each case builds the same inputs for rlkd (through the ctypes bindings in
bindings/python) and for PyTorch (autograd), and compares outputs and gradients with
stated tolerances. Prints PASS/FAIL lines for tests/run.sh; exits 1 if any
case failed. Run through tests/python/run.sh, which finds an interpreter
that imports torch and skips with a message when there is none.

    python3 tests/parity/torch_parity.py path/to/librlkd.so
"""
import ctypes
import gc
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float32)
torch.manual_seed(0)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "bindings", "python"))
import rlkd  # noqa: E402  (after the path is set)

rlkd.lib = lib = rlkd.load_library(sys.argv[1])
ctx = rlkd.Context()
I32 = rlkd.I32
failures = 0


def Tensor(array=None, shape=None, dtype=rlkd.F32):
    if array is None:
        return rlkd.Tensor.zeros(ctx, shape, dtype)
    return rlkd.Tensor(ctx, array, dtype)


def call(name, *args):
    rlkd.call(ctx, name, *args)


def T(t):
    return Tensor(t.detach().numpy())


def zeros_like(t):
    return Tensor(shape=tuple(t.shape))


def leaf(*shape, scale=1.0):
    return (torch.randn(*shape) * scale).requires_grad_()


def close(what, got, want, atol, rtol):
    want = want.detach().numpy() if isinstance(want, torch.Tensor) else np.asarray(want)
    if not np.allclose(got, want, atol=atol, rtol=rtol):
        err = np.max(np.abs(got - want))
        raise AssertionError(f"{what}: max abs error {err:.3g} (atol {atol}, rtol {rtol})")


CASES = []


def case(fn):
    CASES.append(fn)
    return fn


# Tolerances: float32 on both sides, different summation orders (OpenBLAS vs
# MKL-DNN/THNN); errors grow with the reduction length, so 1e-4 relative with
# a small absolute floor covers every case here with margin.
ATOL, RTOL = 2e-5, 1e-4


def conv_case(n, cin, cout, h, w, k, stride, pad, dil, groups, bias):
    x = leaf(n, cin, h, w)
    wt = leaf(cout, cin // groups, k[0], k[1], scale=0.3)
    b = leaf(cout) if bias else None
    y = F.conv2d(x, wt, b, stride, pad, dil, groups)
    dy = torch.randn_like(y)
    y.backward(dy)
    ry = zeros_like(y)
    call("conv2d_forward", ry, T(x), T(wt), T(b) if bias else None, stride[0], stride[1],
         pad[0], pad[1], dil[0], dil[1], groups)
    close("y", ry.numpy(), y, ATOL, RTOL)
    dx, dw = zeros_like(x), zeros_like(wt)
    db = Tensor(shape=(cout,)) if bias else None
    call("conv2d_backward", dx, dw, db, T(dy), T(x), T(wt), stride[0], stride[1], pad[0],
         pad[1], dil[0], dil[1], groups)
    close("dx", dx.numpy(), x.grad, ATOL, RTOL)
    close("dw", dw.numpy(), wt.grad, 1e-4, RTOL)
    if bias:
        close("db", db.numpy(), b.grad, 1e-4, RTOL)


@case
def conv2d_3x3_pad1_bias():
    conv_case(2, 3, 5, 9, 7, (3, 3), (1, 1), (1, 1), (1, 1), 1, True)


@case
def conv2d_stride2_dilation2_groups():
    conv_case(3, 6, 4, 11, 10, (3, 3), (2, 2), (2, 2), (2, 2), 2, False)


@case
def conv2d_depthwise_rect():
    conv_case(1, 7, 7, 8, 9, (3, 2), (2, 1), (1, 0), (1, 1), 7, True)


@case
def conv2d_1x1():
    conv_case(2, 13, 5, 5, 5, (1, 1), (1, 1), (0, 0), (1, 1), 1, True)


@case
def linear():
    x, w, b = leaf(4, 3, 2, 2), leaf(5, 12), leaf(5)
    y = F.linear(x.flatten(1), w, b)
    dy = torch.randn_like(y)
    y.backward(dy)
    ry = zeros_like(y)
    call("linear_forward", ry, T(x), T(w), T(b))
    close("y", ry.numpy(), y, ATOL, RTOL)
    dx, dw, db = zeros_like(x), zeros_like(w), zeros_like(b)
    call("linear_backward", dx, dw, db, T(dy), T(x), T(w))
    close("dx", dx.numpy(), x.grad, ATOL, RTOL)
    close("dw", dw.numpy(), w.grad, ATOL, RTOL)
    close("db", db.numpy(), b.grad, ATOL, RTOL)


@case
def batchnorm2d_training_and_inference():
    n, c, h, w = 3, 5, 4, 3
    x, g, b = leaf(n, c, h, w), leaf(c), leaf(c)
    rm, rv = torch.randn(c), torch.rand(c) + 0.5
    rrm, rrv = Tensor(rm.numpy()), Tensor(rv.numpy())
    y = F.batch_norm(x, rm, rv, g, b, training=True, momentum=0.1, eps=1e-5)
    dy = torch.randn_like(y)
    y.backward(dy)
    ry, sm, si = zeros_like(y), Tensor(shape=(c,)), Tensor(shape=(c,))
    call("batchnorm2d_forward", ry, sm, si, rrm, rrv, T(x), T(g), T(b), 1, 0.1, 1e-5)
    close("y", ry.numpy(), y, ATOL, RTOL)
    close("running_mean", rrm.numpy(), rm, ATOL, RTOL)
    close("running_var", rrv.numpy(), rv, ATOL, RTOL)
    dx, dg, db = zeros_like(x), zeros_like(g), zeros_like(b)
    call("batchnorm2d_backward", dx, dg, db, T(dy), T(x), T(g), sm, si, 1)
    close("dx", dx.numpy(), x.grad, 1e-4, 1e-3)
    close("dgamma", dg.numpy(), g.grad, 1e-4, RTOL)
    close("dbeta", db.numpy(), b.grad, 1e-4, RTOL)
    y_eval = F.batch_norm(x, rm, rv, g, b, training=False, eps=1e-5)
    call("batchnorm2d_forward", ry, None, None, rrm, rrv, T(x), T(g), T(b), 0, 0.1, 1e-5)
    close("y (inference)", ry.numpy(), y_eval, ATOL, RTOL)


def pool_case(kind, k, s, p, count_include_pad=True):
    x = leaf(2, 3, 9, 8)
    if kind == "max":
        y = F.max_pool2d(x, k, s, p)
    else:
        y = F.avg_pool2d(x, k, s, p, count_include_pad=count_include_pad)
    dy = torch.randn_like(y)
    y.backward(dy)
    ry, dx = zeros_like(y), zeros_like(x)
    if kind == "max":
        call("maxpool2d_forward", ry, T(x), k[0], k[1], s[0], s[1], p[0], p[1])
        call("maxpool2d_backward", dx, T(dy), T(x), k[0], k[1], s[0], s[1], p[0], p[1])
    else:
        call("avgpool2d_forward", ry, T(x), k[0], k[1], s[0], s[1], p[0], p[1],
             int(count_include_pad))
        call("avgpool2d_backward", dx, T(dy), k[0], k[1], s[0], s[1], p[0], p[1],
             int(count_include_pad))
    close("y", ry.numpy(), y, ATOL, RTOL)
    close("dx", dx.numpy(), x.grad, ATOL, RTOL)


@case
def maxpool2d_overlapping_padded():
    pool_case("max", (3, 3), (2, 2), (1, 1))


@case
def maxpool2d_rect():
    pool_case("max", (2, 3), (2, 1), (0, 1))


@case
def avgpool2d_count_include_pad():
    pool_case("avg", (3, 3), (2, 2), (1, 1), True)


@case
def avgpool2d_exclude_pad():
    pool_case("avg", (3, 2), (2, 2), (1, 1), False)


@case
def global_avgpool():
    x = leaf(2, 5, 3, 7)
    y = x.mean((2, 3))
    dy = torch.randn_like(y)
    y.backward(dy)
    ry, dx = zeros_like(y), zeros_like(x)
    call("global_avgpool_forward", ry, T(x))
    call("global_avgpool_backward", dx, T(dy))
    close("y", ry.numpy(), y, ATOL, RTOL)
    close("dx", dx.numpy(), x.grad, ATOL, RTOL)


@case
def softmax_cross_entropy_label_smoothing():
    z = leaf(6, 7, scale=3.0)
    labels = torch.randint(0, 7, (6,))
    loss = F.cross_entropy(z, labels, label_smoothing=0.1)
    loss.backward()
    rl, dz = Tensor(shape=(1,)), zeros_like(z)
    call("softmax_cross_entropy_forward", rl, dz, T(z),
         Tensor(labels.numpy(), dtype=I32), 0.1)
    close("loss", rl.numpy()[0], loss, ATOL, RTOL)
    close("dlogits", dz.numpy(), z.grad, ATOL, RTOL)


@case
def kd_loss_hinton():
    s, t = leaf(5, 10, scale=2.0), torch.randn(5, 10) * 2
    labels = torch.randint(0, 10, (5,))
    alpha, temp = 0.7, 4.0
    kl = F.kl_div(F.log_softmax(s / temp, 1), F.softmax(t / temp, 1), reduction="batchmean")
    loss = alpha * temp * temp * kl + (1 - alpha) * F.cross_entropy(s, labels)
    loss.backward()
    rl, ds = Tensor(shape=(1,)), zeros_like(s)
    call("kd_loss_forward", rl, ds, T(s), T(t), Tensor(labels.numpy(), dtype=I32), alpha, temp)
    close("loss", rl.numpy()[0], loss, ATOL, RTOL)
    close("dstudent", ds.numpy(), s.grad, ATOL, RTOL)


@case
def attention_transfer_loss():
    s, t = leaf(3, 4, 5, 6), torch.randn(3, 7, 5, 6)

    def at(f):
        return F.normalize(f.pow(2).mean(1).view(f.size(0), -1))

    loss = (at(s) - at(t)).pow(2).mean()
    loss.backward()
    rl, ds = Tensor(shape=(1,)), zeros_like(s)
    call("attention_transfer_loss_forward", rl, ds, T(s), T(t))
    close("loss", rl.numpy()[0], loss, 1e-6, RTOL)
    close("dstudent", ds.numpy(), s.grad, 1e-6, 1e-3)


def mlp(v, w1, b1, w2, b2):
    return F.linear(F.relu(F.linear(v, w1, b1)), w2, b2)


@case
def se_module():
    c, hidden = 6, 2
    x, w1, b1, w2, b2 = leaf(2, c, 5, 4), leaf(hidden, c), leaf(hidden), leaf(c, hidden), leaf(c)
    s = torch.sigmoid(mlp(x.mean((2, 3)), w1, b1, w2, b2))
    y = x * s[:, :, None, None]
    dy = torch.randn_like(y)
    y.backward(dy)
    ry = zeros_like(y)
    call("se_forward", ry, T(x), T(w1), T(b1), T(w2), T(b2))
    close("y", ry.numpy(), y, ATOL, RTOL)
    grads = [zeros_like(v) for v in (x, w1, b1, w2, b2)]
    call("se_backward", *grads, T(dy), T(x), T(w1), T(b1), T(w2), T(b2))
    for name, got, v in zip(("dx", "dw1", "db1", "dw2", "db2"), grads, (x, w1, b1, w2, b2)):
        close(name, got.numpy(), v.grad, ATOL, 1e-3)


@case
def eca_module():
    c = 13
    k = lib.rlkd_eca_kernel_size(c, 2, 1)
    x, w = leaf(2, c, 4, 5), leaf(k)
    v = x.mean((2, 3))[:, None, :]
    s = torch.sigmoid(F.conv1d(v, w.view(1, 1, k), padding=(k - 1) // 2))[:, 0, :]
    y = x * s[:, :, None, None]
    dy = torch.randn_like(y)
    y.backward(dy)
    ry, dx, dw = zeros_like(y), zeros_like(x), zeros_like(w)
    call("eca_forward", ry, T(x), T(w))
    call("eca_backward", dx, dw, T(dy), T(x), T(w))
    close("y", ry.numpy(), y, ATOL, RTOL)
    close("dx", dx.numpy(), x.grad, ATOL, 1e-3)
    close("dw", dw.numpy(), w.grad, ATOL, 1e-3)


@case
def cbam_module():
    c, hidden, k = 8, 2, 7
    x = leaf(2, c, 9, 8)
    w1, b1, w2, b2 = leaf(hidden, c), leaf(hidden), leaf(c, hidden), leaf(c)
    ws, bs = leaf(1, 2, k, k, scale=0.2), leaf(1)
    mc = torch.sigmoid(mlp(x.mean((2, 3)), w1, b1, w2, b2) + mlp(x.amax((2, 3)), w1, b1, w2, b2))
    x1 = x * mc[:, :, None, None]
    pooled = torch.cat([x1.mean(1, keepdim=True), x1.amax(1, keepdim=True)], 1)
    ms = torch.sigmoid(F.conv2d(pooled, ws, bs, padding=(k - 1) // 2))
    y = x1 * ms
    dy = torch.randn_like(y)
    y.backward(dy)
    params = (w1, b1, w2, b2, ws, bs)
    ry = zeros_like(y)
    call("cbam_forward", ry, T(x), *[T(p) for p in params])
    close("y", ry.numpy(), y, ATOL, RTOL)
    grads = [zeros_like(v) for v in (x,) + params]
    call("cbam_backward", *grads, T(dy), T(x), *[T(p) for p in params])
    names = ("dx", "dw1", "db1", "dw2", "db2", "dws", "dbs")
    for name, got, v in zip(names, grads, (x,) + params):
        close(name, got.numpy(), v.grad, 1e-4, 1e-3)


@case
def channel_mask_and_add_and_concat():
    a, b = leaf(2, 3, 4, 5), leaf(2, 3, 4, 5)
    mask = torch.tensor([1.0, 0.0, 1.0])
    y = torch.cat([a * mask[None, :, None, None] + b, b], 1)
    ra, rb, rm = T(a), T(b), T(mask)
    masked, summed, cat = zeros_like(a), zeros_like(a), Tensor(shape=(2, 6, 4, 5))
    call("channel_mask_forward", masked, ra, rm)
    call("add_forward", summed, masked, rb)
    inputs = (ctypes.c_void_p * 2)(summed.handle, rb.handle)
    call("concat_forward", cat, inputs, 2)
    close("y", cat.numpy(), y, ATOL, RTOL)


def optimiser_case(name, make_torch, step_fn, steps=5):
    p = torch.randn(7, 3)
    torch_p = p.clone().requires_grad_()
    opt = make_torch([torch_p])
    rp, s1, s2 = Tensor(p.numpy()), Tensor(shape=p.shape), Tensor(shape=p.shape)
    for i in range(1, steps + 1):
        g = torch.randn_like(p)
        opt.zero_grad()
        torch_p.grad = g.clone()
        opt.step()
        step_fn(rp, s1, s2, Tensor(g.numpy()), i)
    close(name, rp.numpy(), torch_p, 1e-6, 1e-5)


@case
def sgd_nesterov_weight_decay():
    optimiser_case(
        "param",
        lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3),
        lambda p, buf, _, g, i: call("sgd_step", p, buf, g, 0.1, 0.9, 1e-3, 1))


@case
def adam():
    optimiser_case(
        "param",
        lambda ps: torch.optim.Adam(ps, lr=1e-2, betas=(0.9, 0.99), eps=1e-8, weight_decay=1e-2),
        lambda p, m, v, g, i: call("adam_step", p, m, v, g, 1e-2, 0.9, 0.99, 1e-8, 1e-2, 0,
                                   ctypes.c_int64(i)))


@case
def adamw():
    optimiser_case(
        "param",
        lambda ps: torch.optim.AdamW(ps, lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1),
        lambda p, m, v, g, i: call("adam_step", p, m, v, g, 1e-2, 0.9, 0.999, 1e-8, 0.1, 1,
                                   ctypes.c_int64(i)))


for fn in CASES:
    try:
        fn()
        print(f"PASS parity/{fn.__name__}")
    except Exception as error:  # report every case, keep going
        failures += 1
        print(f"FAIL parity/{fn.__name__}: {error}")
    sys.stdout.flush()

gc.collect()  # every tensor goes before its context
ctx.close()
sys.exit(1 if failures else 0)
