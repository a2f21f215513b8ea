"""Parity of rlkd's zoo networks with torchvision's, through safetensors.

For vgg16_bn, resnet50 and densenet201: torchvision builds the model with
random weights and random batch-norm statistics; its state_dict goes to a
safetensors file; rlkd builds the same zoo network and loads the file; the
logits for the same input must agree to 1e-4 relative (max |difference| over
max |logit|) in inference mode. Then rlkd trains one SGD step, saves with
rlkd_net_save, PyTorch loads that file (strict names and shapes) and must
reproduce rlkd's logits.

RLKD_TORCHVISION_MODELS (comma-separated) picks the models, all three by
default: the sanitizer runs check resnet50 alone to stay short.

    RLKD_LIBRARY=$PWD/lib/librlkd.so.0 RLKD_TORCHVISION_MODELS=resnet50 \
        /usr/bin/python3 -m pytest -q tests/python/test_torchvision_parity.py
"""
import os

import numpy as np
import pytest

import rlkd
from rlkd import ops, safetensors

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

ALL_MODELS = "vgg16_bn,resnet50,densenet201"
MODELS = [name.strip() for name in
          os.environ.get("RLKD_TORCHVISION_MODELS", ALL_MODELS).split(",") if name.strip()]
RELATIVE = 1e-4


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


@pytest.mark.parametrize("name", MODELS)
def test_zoo_network_matches_torchvision(tmp_path, name):
    torch.manual_seed(0)
    model = randomised(getattr(torchvision.models, name)(num_classes=1000))
    path_in = tmp_path / (name + ".safetensors")
    safetensors.save(path_in, state_dict_arrays(model), {"format": "pt"})
    # The classifier's bias (every model's last parameter) checks the step.
    bias_name, bias = list(model.named_parameters())[-1]
    bias_before = bias.detach().numpy().copy()
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        want = model(x).numpy()

    with rlkd.Context(seed=0) as ctx:
        net = rlkd.Net.zoo(ctx, name, num_classes=1000)
        net.load_weights(path_in)
        rx = rlkd.Tensor(ctx, x.numpy())
        error = relative_error(net.forward(rx, training=False).numpy(), want)
        assert error <= RELATIVE, "inference logits differ: relative error %.2e" % error

        # One SGD step in rlkd, then PyTorch must load rlkd's file.
        labels = np.array([3, 7])
        net.zero_grad()
        logits = net.forward(rx, training=True)
        training_logits = logits.numpy()
        _, dlogits = ops.softmax_cross_entropy(logits, rlkd.Tensor(ctx, labels))
        net.backward(dlogits)
        gradients = net.gradients()
        for param, value in net.parameters().items():
            ops.sgd_step(value, None, gradients[param], 0.01, momentum=0.0)
        after = net.forward(rx, training=False).numpy()
        path_out = tmp_path / (name + ".rlkd.safetensors")
        net.save(path_out)

    tensors, metadata = safetensors.load(path_out)
    assert "rlkd_architecture" in metadata, "rlkd's file has no architecture in its metadata"
    model.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()}, strict=True)
    with torch.no_grad():
        reloaded = model.eval()(x).numpy()
    error = relative_error(reloaded, after)
    assert error <= RELATIVE, "after one step, PyTorch's logits differ: relative error %.2e" % error
    # The step itself: the bias's gradient is mean(softmax(logits) - onehot(labels)).
    probabilities = np.exp(training_logits - training_logits.max(1, keepdims=True))
    probabilities /= probabilities.sum(1, keepdims=True)
    probabilities[np.arange(len(labels)), labels] -= 1
    np.testing.assert_allclose(tensors[bias_name],
                               bias_before - 0.01 * probabilities.mean(0), rtol=1e-5, atol=1e-8)
