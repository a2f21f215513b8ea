#!/usr/bin/env python3
"""Export an rlkd network to PyTorch and ONNX, and check that the PyTorch
module computes rlkd's logits.

A zoo network (random weights) or a saved one, exported as it is, pruned
with masks (--prune: uniform L1 pruning to that fraction of the MACs), or
pruned and compacted (--prune with --compact).

    /usr/bin/python3 examples/export_torch_onnx.py
    /usr/bin/python3 examples/export_torch_onnx.py --net resnet_small --prune 0.5 --compact
    /usr/bin/python3 examples/export_torch_onnx.py --load student.safetensors --onnx student.onnx

Needs PyTorch (Debian's python3-torch belongs to /usr/bin/python3), and the
onnx package (python3-onnx) to check the file and list its operators. The
library is $RLKD_LIBRARY, else the build tree's lib/ (run `make` first).
"""
import argparse
import collections
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                "bindings", "python"))
import rlkd  # noqa: E402  (after the path is set)
import rlkd.export  # noqa: E402


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--net", default="vgg_small",
                        help="zoo network (default vgg_small; 28x28 ones: vgg_small, "
                             "resnet_small, densenet_small)")
    source.add_argument("--load", metavar="FILE", help="a file written by rlkd_net_save")
    parser.add_argument("--attention", default="none", choices=["none", "se", "eca", "cbam"],
                        help="attention of the zoo network")
    parser.add_argument("--width", type=float, default=0.5,
                        help="VGG width multiplier of the zoo network (default 0.5)")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--channels", type=int, default=1, help="zoo network input channels")
    parser.add_argument("--size", type=int, default=28, help="zoo network input height, width")
    parser.add_argument("--prune", type=float, metavar="FRACTION",
                        help="mask channels (uniform L1) down to this fraction of the MACs")
    parser.add_argument("--compact", action="store_true",
                        help="with --prune: export the compacted network instead of the masked one")
    parser.add_argument("--batch", type=int, default=8, help="random images compared")
    parser.add_argument("--onnx", metavar="PATH", help="where to write the ONNX file "
                        "(default: the network's name .onnx in the current folder)")
    parser.add_argument("--opset", type=int, default=13, help="ONNX opset (default 13)")
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args()


def main():
    args = parse_arguments()
    with rlkd.Context(seed=args.seed) as ctx:
        if args.load:
            net = rlkd.Net.load(ctx, args.load)
            label = os.path.splitext(os.path.basename(args.load))[0]
        else:
            options = dict(num_classes=args.classes, in_channels=args.channels,
                           in_height=args.size, in_width=args.size)
            if args.net.startswith("vgg"):
                options["width_multiplier"] = args.width
            net = rlkd.Net.zoo(ctx, args.net, args.attention, **options)
            label = args.net if args.attention == "none" else args.net + "_" + args.attention
        if args.prune:
            macs_before = net.cost()[1]
            kept = net.prune_uniform(args.prune)
            print("pruned: %.0f %% of the channels kept, %.0f %% of the MACs"
                  % (100 * kept, 100 * net.cost()[1] / macs_before))
            if args.compact:
                masked, net = net, net.compact()
                masked.close()
                label += "_compact"
            else:
                label += "_masked"
        try:
            module = rlkd.export.to_torch(net)
            shape = (args.batch, *module.architecture["input"])
            images = np.random.default_rng(args.seed).standard_normal(shape).astype(np.float32)
            want = net.forward(rlkd.Tensor(ctx, images)).numpy()
            with torch.no_grad():
                got = module(torch.from_numpy(images)).numpy()
            onnx_path = args.onnx or label + ".onnx"
            rlkd.export.to_onnx(net, onnx_path, shape, opset_version=args.opset)
        finally:
            net.close()

    parameters = sum(p.numel() for p in module.parameters())
    print("network: %s, %d layers, %s parameters, input %s" % (
        label, len(module.layers), format(parameters, ","),
        " x ".join(map(str, module.architecture["input"]))))
    print("PyTorch: max |logits difference| against rlkd on %d random images: %.3g "
          "(largest |logit| %.3g)" % (args.batch, np.max(np.abs(got - want)),
                                      np.max(np.abs(want))))
    if np.max(np.abs(got - want)) > 1e-4 * max(1.0, np.max(np.abs(want))):
        sys.exit("the PyTorch module does not compute rlkd's logits")
    print("ONNX: wrote %s (opset %d, input \"images\" [batch, %s], output \"logits\")" % (
        os.path.abspath(onnx_path), args.opset,
        ", ".join(map(str, module.architecture["input"]))))
    try:
        import onnx
    except ImportError:
        print("ONNX op types: install the onnx package (python3-onnx) to list them")
        return
    counts = collections.Counter(node.op_type for node in onnx.load(onnx_path).graph.node)
    print("ONNX op types: " + ", ".join("%s %d" % item for item in counts.most_common()))


if __name__ == "__main__":
    main()
