"""rlkd.torch_module against rlkd: the same saved network, the same logits.

For small zoo networks with each kind of layer the module runs (plain and
strided convolutions, batch norm, pooling, residual adds, DenseNet
concatenations, SE, ECA, CBAM, linear), rlkd saves the network with random
weights, rlkd.torch_module loads the file, and both compute logits for the
same input in inference and in training mode (batch statistics); they must
agree to 1e-5 relative (max |difference| over max |logit|). Prints PASS/FAIL
lines; exits 1 if any failed.

    python3 tests/parity/torch_module_parity.py path/to/librlkd.so
"""
import os
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "bindings", "python"))
import rlkd  # noqa: E402
import rlkd.torch_module  # noqa: E402

rlkd.lib = rlkd.load_library(sys.argv[1])
RELATIVE = 1e-5
FASHION = dict(num_classes=10, in_channels=1, in_height=28, in_width=28)
NETWORKS = [
    ("vgg_small", "none", dict(FASHION, width_multiplier=0.5)),
    ("densenet_small", "eca", FASHION),
    ("resnet_small", "se", FASHION),
    ("resnet_small", "cbam", FASHION),
]


def check(ctx, folder, name, attention, options):
    net = rlkd.Net.zoo(ctx, name, attention, **options)
    try:
        path = os.path.join(folder, "%s_%s.safetensors" % (name, attention))
        net.save(path)
        module = rlkd.torch_module.load(path)
        x = np.random.default_rng(0).standard_normal((3, 1, 28, 28)).astype(np.float32)
        for training in (False, True):
            got = net.forward(rlkd.Tensor(ctx, x), training=training).numpy()
            module.train(training)
            with torch.no_grad():
                want = module(torch.from_numpy(x)).numpy()
            error = float(np.max(np.abs(got - want)) / np.max(np.abs(want)))
            if error > RELATIVE:
                raise AssertionError("%s logits differ: relative error %.2e"
                                     % ("training" if training else "inference", error))
    finally:
        net.close()


def main():
    failed = 0
    with rlkd.Context(seed=1) as ctx, tempfile.TemporaryDirectory() as folder:
        for name, attention, options in NETWORKS:
            label = "parity/torch_module_%s_%s" % (name, attention)
            try:
                check(ctx, folder, name, attention, options)
                print("PASS " + label)
            except Exception as e:  # report every network, then fail
                print("FAIL %s: %s" % (label, e))
                failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
