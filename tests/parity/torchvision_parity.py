"""Parity of rlkd's zoo networks with torchvision's, through safetensors.

For vgg16_bn, resnet50 and densenet201: torchvision builds the model with
random weights and random batch-norm statistics; its state_dict goes to a
safetensors file; rlkd builds the same zoo network and loads the file; the
logits for the same input must agree to 1e-4 relative (max |difference| over
max |logit|) in inference mode. Then rlkd trains one SGD step, saves with
rlkd_net_save, PyTorch loads that file (strict names and shapes) and must
reproduce rlkd's logits. Prints PASS/FAIL lines; exits 1 if any failed.

    python3 tests/parity/torchvision_parity.py path/to/librlkd.so [models...]
"""
import gc
import os
import sys
import tempfile
import time

import numpy as np
import torch
import torchvision

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "bindings", "python"))
import rlkd  # noqa: E402
from rlkd import safetensors  # noqa: E402

rlkd.lib = rlkd.load_library(sys.argv[1])
MODELS = sys.argv[2:] or ["vgg16_bn", "resnet50", "densenet201"]
RELATIVE = 1e-4
torch.manual_seed(0)
torch.set_num_threads(2)


def relative_error(got, want):
    return float(np.max(np.abs(got - want)) / np.max(np.abs(want)))


def randomised(model):
    """Random weights and batch-norm statistics, so inference is exercised."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 2.0)
                module.num_batches_tracked.fill_(3)
    return model.eval()


def state_dict_arrays(model):
    return {name: t.detach().numpy() for name, t in model.state_dict().items()}


def check_model(name, ctx, folder):
    model = randomised(getattr(torchvision.models, name)(num_classes=1000))
    path_in = os.path.join(folder, name + ".safetensors")
    safetensors.save(path_in, state_dict_arrays(model), {"format": "pt"})
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        want = model(x).numpy()

    net = rlkd.Net.zoo(ctx, name, num_classes=1000)
    try:
        net.load_weights(path_in)
        rx = rlkd.Tensor(ctx, x.numpy())
        got = net.forward(rx, training=False).numpy()
        error = relative_error(got, want)
        if error > RELATIVE:
            raise AssertionError(f"inference logits differ: relative error {error:.2e}")

        # One SGD step in rlkd, then PyTorch must load rlkd's file.
        labels = rlkd.Tensor(ctx, np.array([3, 7]), dtype=rlkd.I32)
        net.zero_grad()
        out = net.forward(rx, training=True)
        loss = rlkd.Tensor.zeros(ctx, (1,))
        dout = rlkd.Tensor.zeros(ctx, out.shape)
        rlkd.call(ctx, "softmax_cross_entropy_forward", loss, dout, out, labels, 0.0)
        net.backward(dout)
        for _, value, grad in net.params():
            rlkd.call(ctx, "sgd_step", value, None, grad, 0.01, 0.0, 0.0, 0)
        after = net.forward(rx, training=False).numpy()
        path_out = os.path.join(folder, name + ".rlkd.safetensors")
        net.save(path_out)
    finally:
        net.close()
    tensors, metadata = safetensors.load(path_out)
    if "rlkd_architecture" not in metadata:
        raise AssertionError("rlkd's file has no architecture in its metadata")
    model.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()}, strict=True)
    with torch.no_grad():
        reloaded = model.eval()(x).numpy()
    error = relative_error(reloaded, after)
    if error > RELATIVE:
        raise AssertionError(f"after one step, PyTorch's logits differ: relative error {error:.2e}")
    if relative_error(after, want) < 1e-6:
        raise AssertionError("the training step changed nothing")


failures = 0
ctx = rlkd.Context(seed=0)
with tempfile.TemporaryDirectory() as folder:
    for name in MODELS:
        start = time.time()
        try:
            check_model(name, ctx, folder)
            print(f"PASS parity/torchvision_{name} ({time.time() - start:.1f} s)")
        except Exception as error:  # report every model, keep going
            failures += 1
            print(f"FAIL parity/torchvision_{name}: {error}")
        gc.collect()
        sys.stdout.flush()
gc.collect()  # every tensor goes before its context
ctx.close()
sys.exit(1 if failures else 0)
