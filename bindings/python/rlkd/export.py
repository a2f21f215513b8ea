"""Hands an rlkd network to PyTorch and to ONNX.

    import rlkd, rlkd.export
    module = rlkd.export.to_torch(net)                      # torch.nn.Module, eval mode
    rlkd.export.to_onnx(net, "student.onnx", (1, 1, 28, 28))

Both go through the network's checkpoint (rlkd_net_save), read back by
rlkd.torch_module: the architecture, the weights and the pruning masks of a
masked network, so what PyTorch and ONNX get computes what rlkd's forward
computes. Needs PyTorch; the ONNX check needs the onnx package (skipped
when it does not import).
"""
import os
import tempfile
from typing import Sequence

import torch

from . import torch_module


def to_torch(net) -> torch_module.Net:
    """A PyTorch module computing what `net` (an rlkd.Net) computes.

    The module owns copies of the weights (it does not need `net` after
    this returns) and is in eval mode, as rlkd's forward defaults to
    inference; call .train() to fine-tune it in PyTorch.
    """
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "net.safetensors")
        net.save(path)
        return torch_module.load(path).eval()


def to_onnx(net, path: str, input_shape: Sequence[int], opset_version: int = 13) -> None:
    """Writes `net` (an rlkd.Net) as an ONNX model to `path`.

    `input_shape` is (batch, channels, height, width) of the example input
    traced; channels, height and width must be the network's (rlkd networks
    are built for one image size), the batch axis is dynamic ("batch"). The
    graph's input is "images" and its output "logits". Each rlkd layer
    becomes its ONNX operators one to one: batch norms stay
    BatchNormalization (inference form) instead of being folded into the
    convolutions, so the initializers are rlkd's tensors under rlkd's names
    (runtimes fold them when they load the model); a masked network's masks
    are Mul nodes by constant [1, C, 1, 1] tensors. When the onnx package
    imports, the written model must pass onnx.checker.check_model.
    """
    module = to_torch(net)
    expected = tuple(module.architecture["input"])
    if len(input_shape) != 4 or tuple(input_shape[1:]) != expected:
        raise ValueError(f"input_shape {tuple(input_shape)} must be (batch, {expected[0]}, "
                         f"{expected[1]}, {expected[2]}), the network's input")
    images = torch.zeros(tuple(input_shape))
    batch = {0: "batch"}
    # PRESERVE on an eval-mode module exports inference batch norms without
    # the EVAL mode's conv+BN fusion (which would rewrite the conv weights);
    # constant folding stays off so that no pass rewrites a parameter.
    torch.onnx.export(module, images, path, input_names=["images"], output_names=["logits"],
                      dynamic_axes={"images": batch, "logits": batch},
                      opset_version=opset_version,
                      training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
    try:
        import onnx
    except ImportError:
        return
    onnx.checker.check_model(onnx.load(path))


def main(argv=None) -> None:
    """The command line: `python3 -m rlkd.export NET.safetensors --onnx
    OUT.onnx --torchscript OUT.pt`, as `rlkd export` runs it. Prints one
    line per file written; a failure exits non-zero with its reason as the
    last line of stderr."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python3 -m rlkd.export",
        description="Writes a network saved by rlkd (rlkd_net_save: `rlkd train/prune/compact "
                    "--save`) as ONNX and/or TorchScript. Masked networks keep their masks.")
    parser.add_argument("network", help="the network file (.safetensors)")
    parser.add_argument("--onnx", metavar="OUT.onnx", help="write an ONNX model here")
    parser.add_argument("--torchscript", metavar="OUT.pt",
                        help="write a traced TorchScript module here (torch.jit.load reads it "
                             "without rlkd)")
    parser.add_argument("--batch", type=int, default=1,
                        help="batch of the traced example input; ONNX's batch axis stays dynamic "
                             "(default 1)")
    parser.add_argument("--opset", type=int, default=13, help="ONNX opset (default 13)")
    args = parser.parse_args(argv)
    if not args.onnx and not args.torchscript:
        parser.error("nothing to write: give --onnx and/or --torchscript")
    if args.batch < 1:
        parser.error("--batch must be at least 1")

    import rlkd

    with rlkd.Context() as ctx:
        net = rlkd.Net.load(ctx, args.network)
        module = to_torch(net)
        shape = (args.batch,) + tuple(module.architecture["input"])
        if args.onnx:
            to_onnx(net, args.onnx, shape, opset_version=args.opset)
            print(f"wrote {args.onnx} (ONNX opset {args.opset}, input \"images\" "
                  f"[batch, {', '.join(map(str, shape[1:]))}], output \"logits\")")
        if args.torchscript:
            with torch.no_grad():
                traced = torch.jit.trace(module, torch.zeros(shape))
            traced.save(args.torchscript)
            print(f"wrote {args.torchscript} (TorchScript, input [{', '.join(map(str, shape))}])")


if __name__ == "__main__":
    main()
