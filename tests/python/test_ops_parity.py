"""rlkd.ops against PyTorch, forward and backward: the test of every function
in bindings/python/rlkd/ops.py.

Each case builds the same inputs for rlkd (through rlkd.ops) and for PyTorch
(autograd) and compares outputs and gradients with stated tolerances.
test_every_op_has_a_case fails when ops.py gains a function that no case
here calls.

    RLKD_LIBRARY=$PWD/lib/librlkd.so.0 /usr/bin/python3 -m pytest -q tests/python/test_ops_parity.py
"""
import inspect
import math

import numpy as np
import pytest

import rlkd
from rlkd import ops

torch = pytest.importorskip("torch")
F = torch.nn.functional

# Tolerances: float32 on both sides, different summation orders (OpenBLAS vs
# MKL-DNN/THNN); errors grow with the reduction length, so 1e-4 relative with
# a small absolute floor covers every case here with margin.
ATOL, RTOL = 2e-5, 1e-4


@pytest.fixture(scope="module")
def ctx():
    context = rlkd.Context(seed=0)
    yield context
    context.close()


@pytest.fixture(autouse=True)
def torch_seed():
    """Every case draws the same inputs however the cases are selected."""
    torch.manual_seed(0)


def tensor(ctx, value):
    """An rlkd tensor holding a torch tensor's (or array's) values; integer
    values (labels) become int32."""
    if isinstance(value, torch.Tensor):
        value = value.detach().numpy()
    return rlkd.Tensor(ctx, value)


def leaf(*shape, scale=1.0):
    return (torch.randn(*shape) * scale).requires_grad_()


def assert_close(what, got, want, atol, rtol):
    got = got.numpy() if isinstance(got, rlkd.Tensor) else np.asarray(got)
    want = want.detach().numpy() if isinstance(want, torch.Tensor) else np.asarray(want)
    assert got.shape == want.shape, "%s: shape %s, want %s" % (what, got.shape, want.shape)
    if not np.allclose(got, want, atol=atol, rtol=rtol):
        error = np.max(np.abs(got - want))
        raise AssertionError("%s: max abs error %.3g (atol %g, rtol %g)"
                             % (what, error, atol, rtol))


def test_every_op_has_a_case():
    public = [name for name, value in vars(ops).items()
              if inspect.isfunction(value) and value.__module__ == ops.__name__
              and not name.startswith("_")]
    with open(__file__) as source:
        text = source.read()
    missing = [name for name in public if "ops.%s(" % name not in text]
    assert not missing, "rlkd.ops functions without a parity case: %s" % missing


# --- geometry ----------------------------------------------------------------------

@pytest.mark.parametrize("size, kernel, stride, padding, dilation",
                         [(9, 3, 1, 1, 1), (11, 3, 2, 2, 2), (8, 3, 2, 1, 1), (5, 1, 1, 0, 1),
                          (7, 7, 2, 3, 1), (10, 2, 3, 0, 1)])
def test_window_output_size(size, kernel, stride, padding, dilation):
    x = torch.zeros(1, 1, size, size)
    want = F.conv2d(x, torch.zeros(1, 1, kernel, kernel), None, stride, padding, dilation)
    assert ops.window_output_size(size, kernel, stride, padding, dilation) == want.shape[2]


@pytest.mark.parametrize("channels", [1, 13, 64, 256, 512, 2048])
def test_eca_kernel_size(channels):
    # ECA-Net's formula (Wang et al. 2020) with gamma 2, b 1.
    t = int(abs((math.log2(channels) + 1) / 2))
    assert ops.eca_kernel_size(channels) == (t if t % 2 else t + 1)


def test_eca_kernel_size_known_values():
    # DESIGN.md: C=64 -> 3, C=256 -> 5, C=2048 -> 7.
    assert [ops.eca_kernel_size(c, 2, 1) for c in (64, 256, 2048)] == [3, 5, 7]


# --- convolution, linear, batch norm --------------------------------------------------

CONV_CASES = {
    # n, cin, cout, h, w, kernel, stride, padding, dilation, groups, bias
    "3x3_pad1_bias": (2, 3, 5, 9, 7, (3, 3), (1, 1), (1, 1), (1, 1), 1, True),
    "stride2_dilation2_groups": (3, 6, 4, 11, 10, (3, 3), (2, 2), (2, 2), (2, 2), 2, False),
    "depthwise_rect": (1, 7, 7, 8, 9, (3, 2), (2, 1), (1, 0), (1, 1), 7, True),
    "1x1": (2, 13, 5, 5, 5, (1, 1), (1, 1), (0, 0), (1, 1), 1, True),
}


@pytest.mark.parametrize("geometry", CONV_CASES.values(), ids=CONV_CASES.keys())
def test_conv2d(ctx, geometry):
    n, cin, cout, h, w, kernel, stride, padding, dilation, groups, bias = geometry
    x = leaf(n, cin, h, w)
    weight = leaf(cout, cin // groups, *kernel, scale=0.3)
    b = leaf(cout) if bias else None
    y = F.conv2d(x, weight, b, stride, padding, dilation, groups)
    dy = torch.randn_like(y)
    y.backward(dy)
    rx, rw = tensor(ctx, x), tensor(ctx, weight)
    geometry = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    ry = ops.conv2d(rx, rw, tensor(ctx, b) if bias else None, **geometry)
    assert_close("y", ry, y, ATOL, RTOL)
    dx, dw, db = ops.conv2d_backward(tensor(ctx, dy), rx, rw, bias=bias, **geometry)
    assert_close("dx", dx, x.grad, ATOL, RTOL)
    assert_close("dw", dw, weight.grad, 1e-4, RTOL)
    if bias:
        assert_close("db", db, b.grad, 1e-4, RTOL)
    else:
        assert db is None


def test_conv2d_backward_without_input_gradient(ctx):
    # A network's first convolution: no dx asked for, the weight gradients alone.
    x, weight, b = leaf(2, 3, 6, 6), leaf(4, 3, 3, 3, scale=0.3), leaf(4)
    y = F.conv2d(x, weight, b, 2, 1)
    dy = torch.randn_like(y)
    y.backward(dy)
    dx, dw, db = ops.conv2d_backward(tensor(ctx, dy), tensor(ctx, x), tensor(ctx, weight),
                                     stride=2, padding=1, input_grad=False)
    assert dx is None
    assert_close("dw", dw, weight.grad, 1e-4, RTOL)
    assert_close("db", db, b.grad, 1e-4, RTOL)


def test_linear(ctx):
    x, weight, b = leaf(4, 3, 2, 2), leaf(5, 12), leaf(5)  # [N,C,H,W] flattened, as after pooling
    y = F.linear(x.flatten(1), weight, b)
    dy = torch.randn_like(y)
    y.backward(dy)
    rx, rw = tensor(ctx, x), tensor(ctx, weight)
    assert_close("y", ops.linear(rx, rw, tensor(ctx, b)), y, ATOL, RTOL)
    dx, dw, db = ops.linear_backward(tensor(ctx, dy), rx, rw)
    assert_close("dx", dx, x.grad, ATOL, RTOL)
    assert_close("dw", dw, weight.grad, ATOL, RTOL)
    assert_close("db", db, b.grad, ATOL, RTOL)


def test_linear_without_bias(ctx):
    x, weight = leaf(3, 7), leaf(2, 7)
    y = F.linear(x, weight)
    dy = torch.randn_like(y)
    y.backward(dy)
    rx, rw = tensor(ctx, x), tensor(ctx, weight)
    assert_close("y", ops.linear(rx, rw), y, ATOL, RTOL)
    dx, dw, db = ops.linear_backward(tensor(ctx, dy), rx, rw, bias=False)
    assert db is None
    assert_close("dx", dx, x.grad, ATOL, RTOL)
    assert_close("dw", dw, weight.grad, ATOL, RTOL)


def test_batchnorm2d_training_and_inference(ctx):
    n, c, h, w = 3, 5, 4, 3
    x, gamma, beta = leaf(n, c, h, w), leaf(c), leaf(c)
    running_mean, running_var = torch.randn(c), torch.rand(c) + 0.5
    r_mean, r_var = tensor(ctx, running_mean), tensor(ctx, running_var)
    y = F.batch_norm(x, running_mean, running_var, gamma, beta, training=True, momentum=0.1,
                     eps=1e-5)
    dy = torch.randn_like(y)
    y.backward(dy)
    rx, rgamma, rbeta = tensor(ctx, x), tensor(ctx, gamma), tensor(ctx, beta)
    ry, save_mean, save_invstd = ops.batchnorm2d(rx, rgamma, rbeta, r_mean, r_var,
                                                 training=True, momentum=0.1, eps=1e-5)
    assert_close("y", ry, y, ATOL, RTOL)
    assert_close("running_mean", r_mean, running_mean, ATOL, RTOL)
    assert_close("running_var", r_var, running_var, ATOL, RTOL)
    dx, dgamma, dbeta = ops.batchnorm2d_backward(tensor(ctx, dy), rx, rgamma, save_mean,
                                                 save_invstd, training=True)
    assert_close("dx", dx, x.grad, 1e-4, 1e-3)
    assert_close("dgamma", dgamma, gamma.grad, 1e-4, RTOL)
    assert_close("dbeta", dbeta, beta.grad, 1e-4, RTOL)
    y_eval = F.batch_norm(x, running_mean, running_var, gamma, beta, training=False, eps=1e-5)
    trained_mean = r_mean.numpy()
    ry_eval = ops.batchnorm2d(rx, rgamma, rbeta, r_mean, r_var, training=False, eps=1e-5,
                              out=ry)[0]
    assert ry_eval is ry
    assert_close("y (inference)", ry_eval, y_eval, ATOL, RTOL)
    assert_close("running_mean (unchanged by inference)", r_mean, trained_mean, 0, 0)


def test_batchnorm2d_frozen_backward(ctx):
    # Inference statistics are constants: the gradient of a frozen batch norm.
    n, c, h, w = 2, 4, 3, 5
    x, gamma, beta = leaf(n, c, h, w), leaf(c), leaf(c)
    running_mean, running_var = torch.randn(c), torch.rand(c) + 0.5
    y = F.batch_norm(x, running_mean, running_var, gamma, beta, training=False, eps=1e-5)
    dy = torch.randn_like(y)
    y.backward(dy)
    rx, rgamma = tensor(ctx, x), tensor(ctx, gamma)
    ry, save_mean, save_invstd = ops.batchnorm2d(
        rx, rgamma, tensor(ctx, beta), tensor(ctx, running_mean), tensor(ctx, running_var),
        training=False, eps=1e-5)
    assert_close("y", ry, y, ATOL, RTOL)
    dx, dgamma, dbeta = ops.batchnorm2d_backward(tensor(ctx, dy), rx, rgamma, save_mean,
                                                 save_invstd, training=False)
    assert_close("dx", dx, x.grad, 1e-4, 1e-3)
    assert_close("dgamma", dgamma, gamma.grad, 1e-4, RTOL)
    assert_close("dbeta", dbeta, beta.grad, 1e-4, RTOL)


# --- activations and pooling -----------------------------------------------------------

def test_relu(ctx):
    x = leaf(2, 3, 4, 5)
    y = F.relu(x)
    dy = torch.randn_like(y)
    y.backward(dy)
    out = rlkd.Tensor.empty(ctx, x.shape)
    ry = ops.relu(tensor(ctx, x), out=out)
    assert ry is out
    assert_close("y", ry, y, 0, 0)
    assert_close("dx", ops.relu_backward(tensor(ctx, dy), ry), x.grad, 0, 0)


POOL_CASES = {
    # kind, kernel, stride, padding, count_include_pad
    "maxpool2d_overlapping_padded": ("max", (3, 3), (2, 2), (1, 1), True),
    "maxpool2d_rect": ("max", (2, 3), (2, 1), (0, 1), True),
    "avgpool2d_count_include_pad": ("avg", (3, 3), (2, 2), (1, 1), True),
    "avgpool2d_exclude_pad": ("avg", (3, 2), (2, 2), (1, 1), False),
}


@pytest.mark.parametrize("geometry", POOL_CASES.values(), ids=POOL_CASES.keys())
def test_pool2d(ctx, geometry):
    kind, kernel, stride, padding, count_include_pad = geometry
    x = leaf(2, 3, 9, 8)
    if kind == "max":
        y = F.max_pool2d(x, kernel, stride, padding)
    else:
        y = F.avg_pool2d(x, kernel, stride, padding, count_include_pad=count_include_pad)
    dy = torch.randn_like(y)
    y.backward(dy)
    rx, rdy = tensor(ctx, x), tensor(ctx, dy)
    if kind == "max":
        ry = ops.maxpool2d(rx, kernel, stride, padding)
        dx = ops.maxpool2d_backward(rdy, rx, kernel, stride, padding)
    else:
        ry = ops.avgpool2d(rx, kernel, stride, padding, count_include_pad)
        dx = ops.avgpool2d_backward(rdy, x.shape, kernel, stride, padding, count_include_pad)
    assert_close("y", ry, y, ATOL, RTOL)
    assert_close("dx", dx, x.grad, ATOL, RTOL)


def test_pool2d_default_stride_is_kernel(ctx):
    x = torch.randn(1, 2, 6, 6)
    rx = tensor(ctx, x)
    assert_close("max", ops.maxpool2d(rx, 2), F.max_pool2d(x, 2), ATOL, RTOL)
    assert_close("avg", ops.avgpool2d(rx, 3), F.avg_pool2d(x, 3), ATOL, RTOL)


def test_global_avgpool(ctx):
    x = leaf(2, 5, 3, 7)
    y = x.mean((2, 3), keepdim=True)
    dy = torch.randn_like(y)
    y.backward(dy)
    assert_close("y", ops.global_avgpool(tensor(ctx, x)), y, ATOL, RTOL)
    assert_close("dx", ops.global_avgpool_backward(tensor(ctx, dy), x.shape), x.grad, ATOL, RTOL)


# --- masks, sums, concatenation, dropout -----------------------------------------------

def test_channel_mask_add_concat(ctx):
    # y = cat(mask(a) + b, b): forward, then each backward back to a and b.
    a, b = leaf(2, 3, 4, 5), leaf(2, 3, 4, 5)
    mask = torch.tensor([1.0, 0.0, 1.0])
    y = torch.cat([a * mask[None, :, None, None] + b, b], 1)
    dy = torch.randn_like(y)
    y.backward(dy)
    rb, rmask = tensor(ctx, b), tensor(ctx, mask)
    summed = ops.add(ops.channel_mask(tensor(ctx, a), rmask), rb)
    assert_close("y", ops.concat([summed, rb]), y, ATOL, RTOL)
    dsummed, db_direct = ops.concat_backward(tensor(ctx, dy), [3, 3])
    dmasked, db_sum = ops.add_backward(dsummed)
    assert_close("da", ops.channel_mask_backward(dmasked, rmask), a.grad, ATOL, RTOL)
    assert_close("db", db_sum.numpy() + db_direct.numpy(), b.grad, ATOL, RTOL)


def test_concat_unequal_channels(ctx):
    parts = [leaf(2, c, 3, 3) for c in (1, 4, 2)]
    y = torch.cat(parts, 1)
    dy = torch.randn_like(y)
    y.backward(dy)
    assert_close("y", ops.concat([tensor(ctx, p) for p in parts]), y, 0, 0)
    for i, (got, part) in enumerate(zip(ops.concat_backward(tensor(ctx, dy), [1, 4, 2]),
                                        parts)):
        assert_close("dx%d" % i, got, part.grad, 0, 0)


def test_dropout(ctx):
    # PyTorch's draw differs from rlkd's: check rlkd's mask is inverted
    # dropout's (0 or 1/(1-p), about p of it zero), then forward and backward
    # through that mask against autograd.
    p = 0.3
    x = leaf(8, 16, 6, 6)
    ry, rmask = ops.dropout(tensor(ctx, x), p)
    mask = torch.from_numpy(rmask.numpy())
    values = set(np.unique(mask.numpy()).tolist())
    assert values <= {0.0, float(np.float32(1 / (1 - p)))}, values
    dropped = float((mask == 0).float().mean())
    assert abs(dropped - p) < 0.03, "dropped %.3f of the elements, want about %g" % (dropped, p)
    y = x * mask
    dy = torch.randn_like(y)
    y.backward(dy)
    assert_close("y", ry, y, 0, 0)
    assert_close("dx", ops.dropout_backward(tensor(ctx, dy), rmask), x.grad, 0, 0)


def test_dropout_inference_is_identity(ctx):
    x = torch.randn(2, 3, 4, 4)
    y, mask = ops.dropout(tensor(ctx, x), 0.5, training=False)
    assert_close("y", y, x, 0, 0)
    assert_close("mask", mask, torch.ones_like(x), 0, 0)


# --- losses -----------------------------------------------------------------------------

@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_softmax_cross_entropy(ctx, label_smoothing):
    z = leaf(6, 7, scale=3.0)
    labels = torch.randint(0, 7, (6,))
    loss = F.cross_entropy(z, labels, label_smoothing=label_smoothing)
    loss.backward()
    rz, rlabels = tensor(ctx, z), tensor(ctx, labels)
    got, dz = ops.softmax_cross_entropy(rz, rlabels, label_smoothing)
    assert_close("loss", got, loss, ATOL, RTOL)
    assert_close("dlogits", dz, z.grad, ATOL, RTOL)
    dloss = 0.5
    assert_close("dlogits * dloss",
                 ops.softmax_cross_entropy_backward(rz, rlabels, label_smoothing, dloss),
                 z.grad * dloss, ATOL, RTOL)


def kd_reference(s, t, labels, alpha, temperature):
    kl = F.kl_div(F.log_softmax(s / temperature, 1), F.softmax(t / temperature, 1),
                  reduction="batchmean")
    loss = alpha * temperature * temperature * kl
    if labels is not None:
        loss = loss + (1 - alpha) * F.cross_entropy(s, labels)
    return loss


@pytest.mark.parametrize("alpha, temperature, with_labels",
                         [(0.7, 4.0, True), (1.0, 2.0, False)], ids=["hinton", "kl_only"])
def test_kd_loss(ctx, alpha, temperature, with_labels):
    s, t = leaf(5, 10, scale=2.0), torch.randn(5, 10) * 2
    labels = torch.randint(0, 10, (5,)) if with_labels else None
    loss = kd_reference(s, t, labels, alpha, temperature)
    loss.backward()
    rs, rt = tensor(ctx, s), tensor(ctx, t)
    rlabels = tensor(ctx, labels) if with_labels else None
    got, ds = ops.kd_loss(rs, rt, rlabels, alpha, temperature)
    assert_close("loss", got, loss, ATOL, RTOL)
    assert_close("dstudent", ds, s.grad, ATOL, RTOL)
    dloss = 2.5
    assert_close("dstudent * dloss",
                 ops.kd_loss_backward(rs, rt, rlabels, alpha, temperature, dloss),
                 s.grad * dloss, ATOL, RTOL)


def test_attention_transfer_loss(ctx):
    s, t = leaf(3, 4, 5, 6), torch.randn(3, 7, 5, 6)

    def attention_map(f):
        return F.normalize(f.pow(2).mean(1).view(f.size(0), -1))

    loss = (attention_map(s) - attention_map(t)).pow(2).mean()
    loss.backward()
    rs, rt = tensor(ctx, s), tensor(ctx, t)
    got, ds = ops.attention_transfer_loss(rs, rt)
    assert_close("loss", got, loss, 1e-6, RTOL)
    assert_close("dstudent", ds, s.grad, 1e-6, 1e-3)
    dloss = 3.0
    assert_close("dstudent * dloss", ops.attention_transfer_loss_backward(rs, rt, dloss),
                 s.grad * dloss, 1e-6, 1e-3)


# --- channel attention ---------------------------------------------------------------------

def mlp(v, w1, b1, w2, b2):
    return F.linear(F.relu(F.linear(v, w1, b1)), w2, b2)


def test_se(ctx):
    c, hidden = 6, 2
    x, w1, b1, w2, b2 = leaf(2, c, 5, 4), leaf(hidden, c), leaf(hidden), leaf(c, hidden), leaf(c)
    s = torch.sigmoid(mlp(x.mean((2, 3)), w1, b1, w2, b2))
    y = x * s[:, :, None, None]
    dy = torch.randn_like(y)
    y.backward(dy)
    inputs = [tensor(ctx, v) for v in (x, w1, b1, w2, b2)]
    assert_close("y", ops.se(*inputs), y, ATOL, RTOL)
    grads = ops.se_backward(tensor(ctx, dy), *inputs)
    for name, got, v in zip(("dx", "dw1", "db1", "dw2", "db2"), grads, (x, w1, b1, w2, b2)):
        assert_close(name, got, v.grad, ATOL, 1e-3)


def test_se_without_biases(ctx):
    c, hidden = 4, 2
    x, w1, w2 = leaf(2, c, 3, 3), leaf(hidden, c), leaf(c, hidden)
    y = x * torch.sigmoid(mlp(x.mean((2, 3)), w1, None, w2, None))[:, :, None, None]
    dy = torch.randn_like(y)
    y.backward(dy)
    rx, rw1, rw2 = tensor(ctx, x), tensor(ctx, w1), tensor(ctx, w2)
    assert_close("y", ops.se(rx, rw1, None, rw2, None), y, ATOL, RTOL)
    dx, dw1, db1, dw2, db2 = ops.se_backward(tensor(ctx, dy), rx, rw1, None, rw2, None)
    assert db1 is None and db2 is None
    for name, got, v in (("dx", dx, x), ("dw1", dw1, w1), ("dw2", dw2, w2)):
        assert_close(name, got, v.grad, ATOL, 1e-3)


def test_eca(ctx):
    c = 13
    k = ops.eca_kernel_size(c)
    x, w = leaf(2, c, 4, 5), leaf(k)
    v = x.mean((2, 3))[:, None, :]
    s = torch.sigmoid(F.conv1d(v, w.view(1, 1, k), padding=(k - 1) // 2))[:, 0, :]
    y = x * s[:, :, None, None]
    dy = torch.randn_like(y)
    y.backward(dy)
    rx, rw = tensor(ctx, x), tensor(ctx, w)
    assert_close("y", ops.eca(rx, rw), y, ATOL, RTOL)
    dx, dw = ops.eca_backward(tensor(ctx, dy), rx, rw)
    assert_close("dx", dx, x.grad, ATOL, 1e-3)
    assert_close("dw", dw, w.grad, ATOL, 1e-3)


def test_cbam(ctx):
    c, hidden, k = 8, 2, 7
    x = leaf(2, c, 9, 8)
    w1, b1, w2, b2 = leaf(hidden, c), leaf(hidden), leaf(c, hidden), leaf(c)
    ws, bs = leaf(1, 2, k, k, scale=0.2), leaf(1)
    gate = torch.sigmoid(mlp(x.mean((2, 3)), w1, b1, w2, b2)
                         + mlp(x.amax((2, 3)), w1, b1, w2, b2))
    x1 = x * gate[:, :, None, None]
    pooled = torch.cat([x1.mean(1, keepdim=True), x1.amax(1, keepdim=True)], 1)
    y = x1 * torch.sigmoid(F.conv2d(pooled, ws, bs, padding=(k - 1) // 2))
    dy = torch.randn_like(y)
    y.backward(dy)
    leaves = (x, w1, b1, w2, b2, ws, bs)
    inputs = [tensor(ctx, v) for v in leaves]
    assert_close("y", ops.cbam(*inputs), y, ATOL, RTOL)
    grads = ops.cbam_backward(tensor(ctx, dy), *inputs)
    for name, got, v in zip(("dx", "dw1", "db1", "dw2", "db2", "dws", "dbs"), grads, leaves):
        assert_close(name, got, v.grad, 1e-4, 1e-3)


# --- optimiser steps -----------------------------------------------------------------------

def optimiser_case(ctx, make_torch, rlkd_step, steps=5):
    """`steps` steps of the same gradients in PyTorch and in rlkd; rlkd_step
    (param, state1, state2, grad, step) updates param in place."""
    p = torch.randn(7, 3)
    torch_p = p.clone().requires_grad_()
    optimiser = make_torch([torch_p])
    rp = tensor(ctx, p)
    state1, state2 = rlkd.Tensor.empty(ctx, p.shape), rlkd.Tensor.empty(ctx, p.shape)
    for step in range(1, steps + 1):
        g = torch.randn_like(p)
        optimiser.zero_grad()
        torch_p.grad = g.clone()
        optimiser.step()
        rlkd_step(rp, state1, state2, tensor(ctx, g), step)
    assert_close("param", rp, torch_p, 1e-6, 1e-5)


def test_sgd_nesterov_weight_decay(ctx):
    optimiser_case(
        ctx,
        lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3),
        lambda p, buf, _, g, step: ops.sgd_step(p, buf, g, 0.1, momentum=0.9,
                                                weight_decay=1e-3, nesterov=True))


def test_sgd_plain(ctx):
    # No momentum: no buffer.
    optimiser_case(
        ctx, lambda ps: torch.optim.SGD(ps, lr=0.05),
        lambda p, _, __, g, step: ops.sgd_step(p, None, g, 0.05, momentum=0.0))


def test_adam(ctx):
    optimiser_case(
        ctx,
        lambda ps: torch.optim.Adam(ps, lr=1e-2, betas=(0.9, 0.99), eps=1e-8, weight_decay=1e-2),
        lambda p, m, v, g, step: ops.adam_step(p, m, v, g, 1e-2, step, beta1=0.9, beta2=0.99,
                                               eps=1e-8, weight_decay=1e-2))


def test_adamw(ctx):
    optimiser_case(
        ctx,
        lambda ps: torch.optim.AdamW(ps, lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1),
        lambda p, m, v, g, step: ops.adam_step(p, m, v, g, 1e-2, step, beta1=0.9, beta2=0.999,
                                               eps=1e-8, weight_decay=0.1, decoupled=True))
