"""What the benchmarks' case writers share (bench/cpu/cases.py,
bench/gpu/cases.py): rlkd loaded from the library their command line names,
the zoo networks they save, the cases of the kinds both time, and the case
file, OUT_DIR/cases.json. Functions that need rlkd import it themselves:
it may load only after out_dir_from_argv has named its library.

    python3 bench/<cpu|gpu>/cases.py LIBRLKD_SO OUT_DIR
"""
import json
import os
import sys

FASHION = dict(num_classes=10, in_channels=1, in_height=28, in_width=28)
KD = dict(temperature=4.0, alpha=0.9)
CONV_DIRECTIONS = (("forward", "fwd"), ("backward_data", "bwd-data"),
                   ("backward_filter", "bwd-filter"))


def out_dir_from_argv():
    """OUT_DIR of the command line, after pointing `import rlkd` at its
    LIBRLKD_SO (rlkd loads its library when imported, from $RLKD_LIBRARY)."""
    if len(sys.argv) != 3:
        sys.exit("usage: cases.py LIBRLKD_SO OUT_DIR")
    os.environ["RLKD_LIBRARY"] = os.path.abspath(sys.argv[1])
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                    "bindings", "python"))
    return sys.argv[2]


def save_networks(ctx, networks, out_dir):
    """{key: absolute path of the saved network} of networks
    {key: (zoo name, attention, options)}, saved as OUT_DIR/key.safetensors."""
    import rlkd
    paths = {}
    for key, (name, attention, options) in networks.items():
        path = os.path.abspath(os.path.join(out_dir, key + ".safetensors"))
        with rlkd.Net.zoo(ctx, name, attention, **options) as net:
            net.save(path)
        paths[key] = path
    return paths


def network_fields(options):
    """A network case's input shape and class count, from its zoo options."""
    return dict(input=[options["in_channels"], options["in_height"], options["in_width"]],
                classes=options["num_classes"])


def kd_loss_case(shape, **fields):
    """The Hinton KD loss, forward with its gradient, on logits of shape [N, K]."""
    return dict(id="kd_loss fwd+bwd %dx%d" % tuple(shape), kind="kd_loss",
                direction="forward_backward", shape=shape, **fields, **KD)


def attention_cases(shape, modules, **fields):
    """Forward and backward of each of modules ("gap": global average
    pooling, "se", "eca", "cbam", set up as the zoo does for the channels) on
    shape [N, C, H, W]."""
    import rlkd
    params = dict(gap={}, se=dict(reduction=16),
                  eca=dict(kernel=rlkd.ops.eca_kernel_size(shape[1])),
                  cbam=dict(reduction=16, kernel=7))
    return [dict(id="%s %s %s" % (module, short, "x".join(map(str, shape))), kind="attention",
                 module=module, direction=direction, shape=shape, **fields, **params[module])
            for module in modules
            for direction, short in (("forward", "fwd"), ("backward", "bwd"))]


def write(out_dir, cases):
    """OUT_DIR/cases.json, the list the benchmark's programs read."""
    path = os.path.join(out_dir, "cases.json")
    with open(path, "w") as f:
        json.dump(cases, f, indent=1)
    print("%s: %d cases" % (path, len(cases)), file=sys.stderr)
