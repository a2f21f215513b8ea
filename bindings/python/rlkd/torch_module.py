"""An rlkd network as a PyTorch module, from a file of rlkd_net_save.

The file's metadata carries the architecture (its layer list); the module
runs that graph with torch.nn.functional, one call per layer, exactly as a
hand-written PyTorch model of the same network would, and holds the file's
weights as parameters and buffers under the same names. It is how rlkd's
networks are compared with PyTorch (parity tests, the CPU benchmark) and how
a network trained in rlkd is handed to PyTorch code.

    import rlkd.torch_module
    model = rlkd.torch_module.load("student.safetensors")
    logits = model(images)

Needs PyTorch; the rest of the bindings do not.
"""
import json

import torch
import torch.nn.functional as F

from . import safetensors


def _mlp(v, prefix, p):
    hidden = F.relu(F.linear(v, p[prefix + ".fc1.weight"], p[prefix + ".fc1.bias"]))
    return F.linear(hidden, p[prefix + ".fc2.weight"], p[prefix + ".fc2.bias"])


def _se(x, name, p):
    gate = torch.sigmoid(_mlp(x.mean((2, 3)), name, p))
    return x * gate[:, :, None, None]


def _eca(x, name, p):
    w = p[name + ".conv.weight"].reshape(1, 1, -1)
    pooled = x.mean((2, 3))[:, None, :]
    gate = torch.sigmoid(F.conv1d(pooled, w, padding=(w.shape[-1] - 1) // 2))[:, 0, :]
    return x * gate[:, :, None, None]


def _cbam(x, name, p):
    gate = torch.sigmoid(_mlp(x.mean((2, 3)), name, p) + _mlp(x.amax((2, 3)), name, p))
    x = x * gate[:, :, None, None]
    pooled = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], 1)
    w = p[name + ".spatial.weight"]
    spatial = F.conv2d(pooled, w, p[name + ".spatial.bias"], padding=(w.shape[-1] - 1) // 2)
    return x * torch.sigmoid(spatial)


class Net(torch.nn.Module):
    """The graph of an rlkd architecture (the dict of its JSON)."""

    def __init__(self, architecture, tensors):
        super().__init__()
        self.architecture = architecture
        self.layers = architecture["layers"]
        buffers = {n for n in tensors if n.endswith(("running_mean", "running_var",
                                                      "num_batches_tracked"))}
        self._params = torch.nn.ParameterDict()
        self._names = {}
        for i, name in enumerate(sorted(tensors)):
            value = torch.from_numpy(tensors[name])
            key = f"t{i}"  # ParameterDict keys may not contain dots
            self._names[name] = key
            if name in buffers:
                self.register_buffer(key, value)
            else:
                self._params[key] = torch.nn.Parameter(value)

    def tensor(self, name):
        key = self._names[name]
        return self._params[key] if key in self._params else getattr(self, key)

    def named_tensors(self):
        """{rlkd name: tensor}, parameters and buffers."""
        return {name: self.tensor(name) for name in self._names}

    def _run(self, layer, inputs):
        kind, name = layer["kind"], layer["name"]
        p = _Lookup(self)
        x = inputs[0]
        if kind == "conv2d":
            return F.conv2d(x, p[name + ".weight"], p.get(name + ".bias") if layer["bias"] else None,
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
                            p.get(name + ".bias") if layer["bias"] else None)
        if kind == "dropout":
            return F.dropout(x, layer["p"], self.training)
        if kind == "add":
            return x + inputs[1]
        if kind == "concat":
            return torch.cat(inputs, 1)
        if kind == "se":
            return _se(x, name, p)
        if kind == "eca":
            return _eca(x, name, p)
        if kind == "cbam":
            return _cbam(x, name, p)
        raise ValueError(f"layer {name}: kind {kind!r} has no PyTorch form here")

    def forward(self, x):
        values = [x]
        for layer in self.layers:
            values.append(self._run(layer, [values[i] for i in layer["inputs"]]))
        return values[-1]


class _Lookup:
    """name -> tensor of a Net, as the layer functions read them."""

    def __init__(self, net):
        self.net = net

    def __getitem__(self, name):
        return self.net.tensor(name)

    def get(self, name):
        return self.net.tensor(name) if name in self.net._names else None


def load(path):
    """The Net of a file written by rlkd_net_save (or Net.save in Python)."""
    tensors, metadata = safetensors.load(path)
    if "rlkd_architecture" not in metadata:
        raise ValueError(f"{path}: no rlkd_architecture in its metadata "
                         "(not written by rlkd_net_save)")
    if "rlkd_prune_masks" in metadata:
        raise ValueError(f"{path}: the network has pruning masks, which this module does "
                         "not apply; save its compacted form (rlkd_net_prune_compact)")
    return Net(json.loads(metadata["rlkd_architecture"]), tensors)
