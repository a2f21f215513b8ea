"""Writes the case list of the CPU benchmark (make bench-cpu).

Saves the zoo networks the benchmark uses (rlkd_net_save, so both sides
load the same file), reads each network's convolution geometries from the
architecture in the file and the node shapes rlkd reports, and writes one
JSON list with everything bench_cpu (C) and peer_torch.py need per case.

    /usr/bin/python3 bench/cpu/cases.py LIBRLKD_SO OUT_DIR
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import case_list  # noqa: E402  (bench/, after the path is set)

OUT_DIR = case_list.out_dir_from_argv()
import rlkd  # noqa: E402  (after the path and the library are set)
import rlkd.torch_module  # noqa: E402

BATCH = 64
CIFAR = dict(num_classes=10, in_channels=3, in_height=32, in_width=32)

# key: (zoo name, attention, options)
NETWORKS = {
    "vgg16_cifar": ("vgg16_cifar", "none", CIFAR),
    "resnet20": ("resnet20", "none", CIFAR),
    "vgg_small_x0.5": ("vgg_small", "none", dict(case_list.FASHION, width_multiplier=0.5)),
    "densenet_small_eca": ("densenet_small", "eca", case_list.FASHION),
    "vgg_small_x0.25": ("vgg_small", "none", dict(case_list.FASHION, width_multiplier=0.25)),
}
# DenseNet's convolutions measured: an even pick of its distinct geometries.
DENSENET_CONV_CAP = 8
# Training steps: enough time for a dozen runs of the small networks; VGG-16
# gets its minimum of 3.
TRAIN_STEP_MIN_TIME_S = 1.0


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
        for direction, short in case_list.CONV_DIRECTIONS:
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
    return [case for shape in ([BATCH, 64, 16, 16], [BATCH, 128, 8, 8])
            for case in case_list.attention_cases(shape, ("se", "eca", "cbam"))]


def kd_loss_cases():
    return [case_list.kd_loss_case(shape) for shape in ([BATCH, 10], [256, 1000])]


def network_case(kind, key, path, batch, **extra):
    return dict(kind=kind, net=key, path=path, batch=batch,
                **case_list.network_fields(NETWORKS[key][2]), **extra)


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
    os.makedirs(OUT_DIR, exist_ok=True)
    with rlkd.Context(seed=0) as ctx:
        paths = case_list.save_networks(ctx, NETWORKS, OUT_DIR)
        cases = (conv_cases(ctx, paths) + bn_relu_cases() + attention_cases()
                 + kd_loss_cases() + train_step_cases(paths) + inference_cases(paths))
    case_list.write(OUT_DIR, cases)


if __name__ == "__main__":
    main()
