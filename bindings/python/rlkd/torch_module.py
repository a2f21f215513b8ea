"""An rlkd network as a PyTorch module, from a file of rlkd_net_save.

The file's metadata carries the architecture (its layer list); the module
runs that graph with torch.nn.functional, one call per layer, exactly as a
hand-written PyTorch model of the same network would. It holds the file's
weights as parameters and buffers under the same names (nested submodules,
so `state_dict()` keys are rlkd's names, which are torchvision's for the zoo
networks). It is how rlkd's networks are compared with PyTorch (parity
tests, the CPU benchmark) and how a network trained in rlkd is handed to
PyTorch code (rlkd.export builds on it).

A pruned network may be saved with its masks (pruned but not compacted):
the module applies them where rlkd does, so its logits are rlkd's. A
compacted network (rlkd_net_prune_compact) is an ordinary file with fewer
channels.

    import rlkd.torch_module
    model = rlkd.torch_module.load("student.safetensors").eval()
    logits = model(images)

Needs PyTorch; the rest of the bindings do not.
"""
import json

import numpy as np
import torch
import torch.nn.functional as F

from . import safetensors


def _mlp(v, prefix, p):
    hidden = F.relu(F.linear(v, p[prefix + ".fc1.weight"], p[prefix + ".fc1.bias"]))
    return F.linear(hidden, p[prefix + ".fc2.weight"], p[prefix + ".fc2.bias"])


def _se(x, name, p):
    gate = torch.sigmoid(_mlp(x.mean((2, 3)), name, p))
    return x * gate[:, :, None, None]


# ECA and CBAM take their kernel size from the architecture when they can:
# under tracing (torch.onnx.export) a weight's shape is a tensor, which
# padding cannot be. Without it (kernel=None) they read it from the weight.

def _eca(x, name, p, kernel=None):
    w = p[name + ".conv.weight"].reshape(1, 1, -1)
    k = kernel or w.shape[-1]
    pooled = x.mean((2, 3))[:, None, :]
    gate = torch.sigmoid(F.conv1d(pooled, w, padding=(k - 1) // 2))[:, 0, :]
    return x * gate[:, :, None, None]


def _cbam(x, name, p, kernel=None):
    gate = torch.sigmoid(_mlp(x.mean((2, 3)), name, p) + _mlp(x.amax((2, 3)), name, p))
    x = x * gate[:, :, None, None]
    pooled = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], 1)
    w = p[name + ".spatial.weight"]
    k = kernel or w.shape[-1]
    spatial = F.conv2d(pooled, w, p[name + ".spatial.bias"], padding=(k - 1) // 2)
    return x * torch.sigmoid(spatial)


def output_masks(architecture, masks):
    """The per-channel factors rlkd multiplies layer outputs by, from a
    checkpoint's masks: {layer index: float32 [C] of 0 and 1}.

    `masks` is the "rlkd_prune_masks" metadata decoded: {group name: string
    of 0/1 per channel of the group}, a group being named by its first
    producing convolution. This mirrors lib/nets/prune.c: every node's
    channels are segments of channel groups (a convolution starts a group; a
    depthwise convolution, batch norm, ReLU, pooling, dropout and attention
    pass their input's segments on; a concatenation joins its inputs'; a
    residual add whose inputs line up whole makes their groups one), and
    every convolution and batch norm whose output carries a masked-off
    channel multiplies that output by its [C] mask. Raises ValueError for a
    group the architecture does not have or a mask of the wrong length.
    """
    layers = architecture["layers"]
    parent, channels, producer = [], [], []  # per group; producer: first layer or None

    def new_group(count, layer):
        parent.append(len(parent))
        channels.append(count)
        producer.append(layer)
        return [(len(parent) - 1, 0, 0, count)]  # (group, start, offset, count)

    def find(g):
        while parent[g] != g:
            parent[g] = parent[parent[g]]
            g = parent[g]
        return g

    def width(segments):
        return sum(s[3] for s in segments)

    def unite(x, y):
        # Groups merge only where both inputs carry whole groups at the same
        # places; rlkd refuses to prune any other, so it never has a mask.
        aligned = len(x) == len(y) and all(
            (s_start, s_count) == (t_start, t_count) and s_offset == t_offset == 0
            and channels[find(s_group)] == s_count == channels[find(t_group)]
            for (s_group, s_start, s_offset, s_count), (t_group, t_start, t_offset, t_count)
            in zip(x, y))
        if not aligned:
            return
        for s, t in zip(x, y):
            g, h = sorted((find(s[0]), find(t[0])))
            if g != h:
                parent[h] = g
                firsts = [p for p in (producer[g], producer[h]) if p is not None]
                producer[g] = min(firsts) if firsts else None

    nodes = [new_group(architecture["input"][0], None)]
    for i, layer in enumerate(layers):
        kind, x = layer["kind"], nodes[layer["inputs"][0]]
        if kind == "conv2d":
            groups, out = layer["groups"], layer["out_channels"]
            depthwise = groups != 1 and groups == width(x) == out
            nodes.append(x if depthwise else new_group(out, i))
        elif kind == "linear":
            nodes.append(new_group(layer["out_features"], None))
        elif kind == "concat":
            joined, start = [], 0
            for k in layer["inputs"]:
                joined += [(g, start + s, offset, n) for g, s, offset, n in nodes[k]]
                start += width(nodes[k])
            nodes.append(joined)
        else:
            if kind == "add":
                unite(x, nodes[layer["inputs"][1]])
            nodes.append(x)

    named = {}
    for g in range(len(parent)):
        root = find(g)
        if root == g and producer[g] is not None:
            named.setdefault(layers[producer[g]]["name"], g)
    keep = {}
    for name, bits in masks.items():
        if name not in named:
            raise ValueError(f"the pruning masks name a group {name!r} the network does not have")
        g = named[name]
        if (not isinstance(bits, str) or len(bits) != channels[g] or set(bits) - {"0", "1"}
                or "1" not in bits):
            raise ValueError(f"the pruning mask of group {name!r} must be {channels[g]} "
                             "characters of 0 and 1 with at least one 1")
        keep[g] = np.frombuffer(bits.encode(), dtype=np.uint8) == ord("1")

    factors = {}
    for i, layer in enumerate(layers):
        segments = nodes[i + 1]
        if layer["kind"] not in ("conv2d", "batchnorm2d") or not any(
                find(g) in keep for g, _, _, _ in segments):
            continue
        mask = np.ones(width(segments), dtype=np.float32)
        for g, start, offset, count in segments:
            if find(g) in keep:
                mask[start:start + count] = keep[find(g)][offset:offset + count]
        factors[i] = mask
    return factors


class Net(torch.nn.Module):
    """The graph of an rlkd architecture (the dict of its JSON), with its
    tensors ({rlkd name: ndarray}) and optionally the output masks of
    output_masks()."""

    def __init__(self, architecture, tensors, masks=None):
        super().__init__()
        self.architecture = architecture
        self.layers = architecture["layers"]
        self._owners = {}  # rlkd name -> (submodule, attribute): a cheap lookup per layer
        for name in sorted(tensors):
            *path, leaf = name.split(".")
            owner = self
            for part in path:
                if part not in owner._modules:
                    owner.add_module(part, torch.nn.Module())
                owner = owner._modules[part]
            value = torch.from_numpy(tensors[name])
            if name.endswith(("running_mean", "running_var", "num_batches_tracked")):
                owner.register_buffer(leaf, value)
            else:
                owner.register_parameter(leaf, torch.nn.Parameter(value))
            self._owners[name] = (owner, leaf)
        # Not in state_dict(): the masks are the file's metadata, not weights.
        self._mask_names = {}
        for i, mask in (masks or {}).items():
            self._mask_names[i] = f"_output_mask_{i}"
            self.register_buffer(self._mask_names[i],
                                 torch.from_numpy(mask).reshape(1, -1, 1, 1), persistent=False)

    def tensor(self, name):
        owner, leaf = self._owners[name]
        return getattr(owner, leaf)

    def named_tensors(self):
        """{rlkd name: tensor}, parameters and buffers."""
        return {name: self.tensor(name) for name in self._owners}

    def _run(self, layer, inputs):
        kind, name = layer["kind"], layer["name"]
        p = _Lookup(self)
        x = inputs[0]
        if kind == "conv2d":
            return F.conv2d(x, p[name + ".weight"], p[name + ".bias"] if layer["bias"] else None,
                            layer["stride"], layer["padding"], layer["dilation"], layer["groups"])
        if kind == "batchnorm2d":
            return F.batch_norm(x, p[name + ".running_mean"], p[name + ".running_var"],
                                p[name + ".weight"], p[name + ".bias"], self.training,
                                layer["momentum"], layer["eps"])
        if kind == "relu":
            return F.relu(x)
        if kind == "maxpool2d":
            return F.max_pool2d(x, layer["kernel"], layer["stride"], layer["padding"])
        if kind == "avgpool2d":
            return F.avg_pool2d(x, layer["kernel"], layer["stride"], layer["padding"],
                                count_include_pad=bool(layer["count_include_pad"]))
        if kind == "global_avgpool":
            return F.adaptive_avg_pool2d(x, 1)
        if kind == "linear":
            return F.linear(torch.flatten(x, 1), p[name + ".weight"],
                            p[name + ".bias"] if layer["bias"] else None)
        if kind == "dropout":
            return F.dropout(x, layer["p"], self.training)
        if kind == "add":
            return x + inputs[1]
        if kind == "concat":
            return torch.cat(inputs, 1)
        if kind == "se":
            return _se(x, name, p)
        if kind == "eca":
            return _eca(x, name, p, layer["kernel"])
        if kind == "cbam":
            return _cbam(x, name, p, layer["kernel"])
        raise ValueError(f"layer {name}: kind {kind!r} has no PyTorch form here")

    def forward(self, x):
        values = [x]
        for i, layer in enumerate(self.layers):
            y = self._run(layer, [values[k] for k in layer["inputs"]])
            if i in self._mask_names:  # as rlkd_net_forward: after the layer, before its readers
                y = y * getattr(self, self._mask_names[i])
            values.append(y)
        return values[-1]


class _Lookup:
    """name -> tensor of a Net, as the layer functions read them."""

    def __init__(self, net):
        self.net = net

    def __getitem__(self, name):
        return self.net.tensor(name)


def load(path):
    """The Net of a file written by rlkd_net_save (or Net.save in Python),
    with its pruning masks applied when it has them."""
    tensors, metadata = safetensors.load(path)
    if "rlkd_architecture" not in metadata:
        raise ValueError(f"{path}: no rlkd_architecture in its metadata "
                         "(not written by rlkd_net_save)")
    architecture = json.loads(metadata["rlkd_architecture"])
    masks = json.loads(metadata.get("rlkd_prune_masks", "{}"))
    try:
        factors = output_masks(architecture, masks)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
    return Net(architecture, tensors, factors)
