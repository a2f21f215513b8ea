"""Writes the case list of the CPU benchmark (make bench-cpu).

Saves the zoo networks the benchmark uses (rlkd_net_save, so both sides
load the same file), reads each network's convolution geometries from the
architecture in the file and the node shapes rlkd reports, and writes one
JSON list with everything bench_cpu (C) and peer_torch.py need per case.

    /usr/bin/python3 bench/cpu/cases.py LIBRLKD_SO OUT_DIR
"""
import json
import os
import sys

if len(sys.argv) != 3:
    sys.exit("usage: cases.py LIBRLKD_SO OUT_DIR")
# rlkd loads its library when imported, from $RLKD_LIBRARY: the one named here.
os.environ["RLKD_LIBRARY"] = os.path.abspath(sys.argv[1])
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "bindings", "python"))
import rlkd  # noqa: E402  (after the path and the library are set)
import rlkd.torch_module  # noqa: E402

BATCH = 64
CIFAR = dict(num_classes=10, in_channels=3, in_height=32, in_width=32)
FASHION = dict(num_classes=10, in_channels=1, in_height=28, in_width=28)

# key: (zoo name, attention, options)
NETWORKS = {
    "vgg16_cifar": ("vgg16_cifar", "none", CIFAR),
    "resnet20": ("resnet20", "none", CIFAR),
    "vgg_small_x0.5": ("vgg_small", "none", dict(FASHION, width_multiplier=0.5)),
    "densenet_small_eca": ("densenet_small", "eca", FASHION),
    "vgg_small_x0.25": ("vgg_small", "none", dict(FASHION, width_multiplier=0.25)),
}
# DenseNet's convolutions measured: an even pick of its distinct geometries.
DENSENET_CONV_CAP = 8
# Training steps: enough time for a dozen runs of the small networks; VGG-16
# gets its minimum of 3.
TRAIN_STEP_MIN_TIME_S = 1.0


def save_networks(ctx, out_dir):
    """{key: path of the saved network}."""
    paths = {}
    for key, (name, attention, options) in NETWORKS.items():
        path = os.path.join(out_dir, key + ".safetensors")
        with rlkd.Net.zoo(ctx, name, attention, **options) as net:
            net.save(path)
        paths[key] = path
    return paths


def conv_geometries(ctx, path):
    """The distinct conv2d geometries of a saved network, in network order."""
    layers = rlkd.torch_module.load(path).layers
    geometries = []
    with rlkd.Net.load(ctx, path) as net:
        for layer in layers:
            if layer["kind"] != "conv2d":
                continue
            cin, h, w = net.node_shape(layer["inputs"][0])
            geometry = dict(cin=cin, cout=layer["out_channels"], h=h, w=w,
                            kernel=layer["kernel"], stride=layer["stride"],
                            padding=layer["padding"], dilation=layer["dilation"],
                            groups=layer["groups"], bias=layer["bias"])
            if geometry not in geometries:
                geometries.append(geometry)
    return geometries


def even_pick(items, count):
    if len(items) <= count:
        return items
    return [items[round(i * (len(items) - 1) / (count - 1))] for i in range(count)]


def conv_cases(ctx, paths):
    """Every distinct geometry of the CIFAR and Fashion-MNIST networks,
    DenseNet's (dozens: each layer's input grows) as an even pick."""
    chosen, seen = [], []
    for key in ("vgg16_cifar", "resnet20", "vgg_small_x0.5", "densenet_small_eca"):
        geometries = conv_geometries(ctx, paths[key])
        if key == "densenet_small_eca":
            geometries = even_pick(geometries, DENSENET_CONV_CAP)
        for geometry in geometries:
            if geometry not in seen:
                seen.append(geometry)
                chosen.append((key, geometry))
    cases = []
    for key, g in chosen:
        name = "%d>%d %dx%d k%d s%d p%d%s%s %s" % (
            g["cin"], g["cout"], g["h"], g["w"], g["kernel"], g["stride"], g["padding"],
            " g%d" % g["groups"] if g["groups"] > 1 else "", " +bias" if g["bias"] else "", key)
        for direction, short in (("forward", "fwd"), ("backward_data", "bwd-data"),
                                 ("backward_filter", "bwd-filter")):
            cases.append(dict(id="conv %s %s" % (short, name), kind="conv", direction=direction,
                              batch=BATCH, **g))
    return cases


def bn_relu_cases():
    cases = []
    for shape in ([BATCH, 16, 28, 28], [BATCH, 64, 32, 32], [BATCH, 256, 8, 8]):
        for direction, short in (("forward", "fwd"), ("backward", "bwd")):
            cases.append(dict(id="bn+relu %s %s" % (short, "x".join(map(str, shape))),
                              kind="bn_relu", direction=direction, shape=shape,
                              momentum=0.1, eps=1e-5))
    return cases


def attention_cases():
    cases = []
    for shape in ([BATCH, 64, 16, 16], [BATCH, 128, 8, 8]):
        channels = shape[1]
        modules = (("se", dict(reduction=16)),
                   ("eca", dict(kernel=rlkd.ops.eca_kernel_size(channels))),
                   ("cbam", dict(reduction=16, kernel=7)))
        for module, params in modules:
            for direction, short in (("forward", "fwd"), ("backward", "bwd")):
                cases.append(dict(id="%s %s %s" % (module, short, "x".join(map(str, shape))),
                                  kind="attention", module=module, direction=direction,
                                  shape=shape, **params))
    return cases


def kd_loss_cases():
    return [dict(id="kd_loss fwd+bwd %dx%d" % tuple(shape), kind="kd_loss",
                 direction="forward_backward", shape=shape, temperature=4.0, alpha=0.9)
            for shape in ([BATCH, 10], [256, 1000])]


def network_case(kind, key, path, batch, **extra):
    options = NETWORKS[key][2]
    return dict(kind=kind, net=key, path=os.path.abspath(path), batch=batch,
                input=[options["in_channels"], options["in_height"], options["in_width"]],
                classes=options["num_classes"], **extra)


def train_step_cases(paths):
    # lr small enough that a few steps on random data stay finite
    return [dict(network_case("train_step", key, paths[key], BATCH, lr=0.01, momentum=0.9,
                              weight_decay=5e-4, min_time_s=TRAIN_STEP_MIN_TIME_S),
                 id="train step %s batch %d" % (key, BATCH))
            for key in ("densenet_small_eca", "vgg_small_x0.5", "vgg16_cifar")]


def inference_cases(paths):
    return [dict(network_case("inference", "vgg_small_x0.25", paths["vgg_small_x0.25"], batch),
                 id="inference vgg_small_x0.25 batch %d" % batch)
            for batch in (1, 64)]


def main():
    out_dir = sys.argv[2]
    os.makedirs(out_dir, exist_ok=True)
    with rlkd.Context(seed=0) as ctx:
        paths = save_networks(ctx, out_dir)
        cases = (conv_cases(ctx, paths) + bn_relu_cases() + attention_cases()
                 + kd_loss_cases() + train_step_cases(paths) + inference_cases(paths))
    path = os.path.join(out_dir, "cases.json")
    with open(path, "w") as f:
        json.dump(cases, f, indent=1)
    print("%s: %d cases" % (path, len(cases)), file=sys.stderr)


if __name__ == "__main__":
    main()
