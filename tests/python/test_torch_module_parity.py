"""rlkd.torch_module against rlkd: the same saved network, the same logits.

For small zoo networks with each kind of layer the module runs (plain and
strided convolutions, batch norm, pooling, residual adds, DenseNet
concatenations, SE, ECA, CBAM, linear), rlkd saves the network with random
weights, rlkd.torch_module loads the file, and both compute logits for the
same input in inference and in training mode (batch statistics); they must
agree to 1e-5 relative (max |difference| over max |logit|).

    RLKD_LIBRARY=$PWD/lib/librlkd.so.0 /usr/bin/python3 -m pytest -q tests/python/test_torch_module_parity.py
"""
import numpy as np
import pytest

import rlkd

torch = pytest.importorskip("torch")
import rlkd.torch_module  # noqa: E402  (needs torch)

RELATIVE = 1e-5
FASHION = dict(num_classes=10, in_channels=1, in_height=28, in_width=28)
NETWORKS = [
    ("vgg_small", "none", dict(FASHION, width_multiplier=0.5)),
    ("densenet_small", "eca", FASHION),
    ("resnet_small", "se", FASHION),
    ("resnet_small", "cbam", FASHION),
]


@pytest.mark.parametrize("name, attention, options", NETWORKS,
                         ids=["%s_%s" % (name, attention) for name, attention, _ in NETWORKS])
def test_same_logits(tmp_path, name, attention, options):
    x = np.random.default_rng(0).standard_normal((3, 1, 28, 28)).astype(np.float32)
    with rlkd.Context(seed=1) as ctx:
        net = rlkd.Net.zoo(ctx, name, attention, **options)
        path = tmp_path / ("%s_%s.safetensors" % (name, attention))
        net.save(path)
        module = rlkd.torch_module.load(path)
        for training in (False, True):
            got = net.forward(rlkd.Tensor(ctx, x), training=training).numpy()
            module.train(training)
            with torch.no_grad():
                want = module(torch.from_numpy(x)).numpy()
            error = float(np.max(np.abs(got - want)) / np.max(np.abs(want)))
            assert error <= RELATIVE, "%s logits differ: relative error %.2e" % (
                "training" if training else "inference", error)
