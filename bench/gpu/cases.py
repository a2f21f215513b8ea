"""Writes the case list of the GPU benchmark (tests/gpu/check.sh).

One JSON list that bench_gpu (C) and torch_peers.py both read, in the order
they run it, cheap and most wanted first, so that a run cut off by its time
cap loses the least:

- the Hinton KD loss, forward with its gradient (peer: PyTorch's unfused loss);
- global average pooling, SE, ECA and CBAM, forward and backward, on the
  shapes where DenseNet-201 (224x224, batch 32) puts its attention, after
  each dense block (peer: PyTorch's ops);
- a training step with the KD loss of two small zoo networks at batch 256,
  and of VGG-16 and ResNet-50 in CIFAR form (32x32, 10 classes) at batch
  128 with the KD loss (fixed teacher logits) and with cross-entropy alone,
  on the native and on the cuDNN engine (peer: the same network in PyTorch
  eager, rlkd.torch_module, loaded from the file written here);
- every distinct convolution of VGG-16 and ResNet-50 (224x224, batch 32),
  forward, backward-data and backward-filter, rlkd's own kernels against its
  cuDNN engine (peer: "cudnn", timed by bench_gpu itself).

Each case's "smoke" object holds tiny values for its fields: with --smoke,
both programs run those instead (the tests' run on a CPU).

    python3 bench/gpu/cases.py LIBRLKD_SO OUT_DIR
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import case_list  # noqa: E402  (bench/, after the path is set)

OUT_DIR = case_list.out_dir_from_argv()
import rlkd  # noqa: E402  (after the path and the library are set)

CONV_BATCH = 32
ATTENTION_BATCH = 32
CIFAR = dict(num_classes=10, in_channels=3, in_height=32, in_width=32)
# key: (zoo name, attention, options)
NETWORKS = {
    "vgg_small+se": ("vgg_small", "se", case_list.FASHION),
    "densenet_small+eca": ("densenet_small", "eca", case_list.FASHION),
    "vgg16_cifar": ("vgg16_cifar", "none", CIFAR),
    "resnet50 32x32": ("resnet50", "none", CIFAR),
}
# key: (batch, losses): "kd" against fixed teacher logits, "ce" alone
TRAIN_STEPS = {
    "vgg_small+se": (256, ("kd",)),
    "densenet_small+eca": (256, ("kd",)),
    "vgg16_cifar": (128, ("kd", "ce")),
    "resnet50 32x32": (128, ("kd", "ce")),
}
SMOKE_CONV_SIZE = 8  # at most this many channels and pixels a side
SMOKE_ATTENTION_SHAPE = [2, 32, 5, 5]
SMOKE_BATCH = 4


def kd_loss_cases():
    return [case_list.kd_loss_case([n, k], peer="pytorch", smoke=dict(shape=[SMOKE_BATCH, k]))
            for n in (256, 4096) for k in (10, 100, 1000)]


def attention_cases():
    # DenseNet-201's dense block outputs at 224x224: 64 + 6*32 channels at
    # 56x56, 128 + 12*32 at 28x28, 256 + 48*32 at 14x14, 896 + 32*32 at 7x7
    return [case for channels, size in ((256, 56), (512, 28), (1792, 14), (1920, 7))
            for case in case_list.attention_cases(
                [ATTENTION_BATCH, channels, size, size], ("gap", "se", "eca", "cbam"),
                peer="pytorch", smoke=dict(shape=SMOKE_ATTENTION_SHAPE))]


def train_step_cases():
    with rlkd.Context(seed=0) as ctx:
        paths = case_list.save_networks(ctx, NETWORKS, OUT_DIR)
    cases = []
    for key, (_, _, options) in NETWORKS.items():
        batch, losses = TRAIN_STEPS[key]
        for loss in losses:
            # bench_gpu and torch_peers.py read cross-entropy from a case
            # without "loss"
            fields = dict(loss="kd", **case_list.KD) if loss == "kd" else {}
            for engine in ("native", "cudnn"):
                cases.append(dict(
                    id="train step %s %s batch %d %s" % (loss, key, batch, engine),
                    kind="train_step", peer="pytorch", engine=engine, net=key,
                    path=paths[key], batch=batch, **case_list.network_fields(options),
                    lr=0.01, momentum=0.9, weight_decay=5e-4, smoke=dict(batch=SMOKE_BATCH),
                    **fields))
    return cases


def vgg16_convs():
    """(cin, cout, size, kernel, stride, padding, bias) of torchvision's VGG-16."""
    convs, cin, size = [], 3, 224
    for width in (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
                  512, 512, 512):
        if width == "M":
            size //= 2
        else:
            convs.append((cin, width, size, 3, 1, 1, True))
            cin = width
    return convs


def resnet50_convs():
    """The same of torchvision's ResNet-50 (v1.5: the stride on the 3x3)."""
    convs, cin, size = [(3, 64, 224, 7, 2, 3, False)], 64, 56
    for planes, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
        for block in range(blocks):
            s = stride if block == 0 else 1
            convs += [(cin, planes, size, 1, 1, 0, False),
                      (planes, planes, size, 3, s, 1, False),
                      (planes, 4 * planes, size // s, 1, 1, 0, False)]
            if block == 0:
                convs.append((cin, 4 * planes, size, 1, s, 0, False))
            cin, size = 4 * planes, size // s
    return convs


def conv_cases():
    cases, seen = [], set()
    for net, convs in (("vgg16", vgg16_convs()), ("resnet50", resnet50_convs())):
        for geometry in convs:
            if geometry in seen:
                continue
            seen.add(geometry)
            cin, cout, size, kernel, stride, padding, bias = geometry
            small = min(size, SMOKE_CONV_SIZE)
            for direction, short in case_list.CONV_DIRECTIONS:
                cases.append(dict(
                    id="conv %s %d>%d %dx%d k%d s%d p%d %s" % (
                        short, cin, cout, size, size, kernel, stride, padding, net),
                    kind="conv", peer="cudnn", net=net, direction=direction,
                    batch=CONV_BATCH, cin=cin, cout=cout, h=size, w=size, kernel=kernel,
                    stride=stride, padding=padding, dilation=1, groups=1, bias=int(bias),
                    smoke=dict(batch=2, cin=min(cin, SMOKE_CONV_SIZE),
                               cout=min(cout, SMOKE_CONV_SIZE), h=small, w=small)))
    return cases


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    case_list.write(OUT_DIR, kd_loss_cases() + attention_cases() + train_step_cases()
                    + conv_cases())


if __name__ == "__main__":
    main()
