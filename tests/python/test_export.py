"""rlkd.export and rlkd.torch_module: a network handed to PyTorch and ONNX
computes what rlkd computes.

Every network here gets random batch-norm scales, shifts and running
statistics first (a fresh zoo network's are 1, 0, 0, 1, under which a
batch norm in inference maps a zeroed channel to zero again and so could
hide a mask applied in the wrong place). Masks are set through the C ABI on
a network loaded from its file (the Python bindings do not wrap pruning),
so these tests exchange networks with the bindings only as files.

    RLKD_LIBRARY=$PWD/lib/librlkd.so.0 /usr/bin/python3 -m pytest -q tests/python/test_export.py
"""
import ctypes
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import rlkd
from rlkd import safetensors

torch = pytest.importorskip("torch")
import rlkd.export  # noqa: E402  (needs torch)
import rlkd.torch_module  # noqa: E402

RELATIVE = 1e-4  # max |rlkd - torch| over max |rlkd logit|
FASHION = dict(num_classes=10, in_channels=1, in_height=28, in_width=28)
INPUT_SHAPE = (3, 1, 28, 28)


@pytest.fixture(scope="module")
def ctx():
    context = rlkd.Context(seed=7)
    yield context
    context.close()


@pytest.fixture
def images():
    return np.random.default_rng(0).standard_normal(INPUT_SHAPE).astype(np.float32)


def random_batchnorm(rng, name, channels):
    """{tensor name: value} of a batch norm with random scale, shift and
    running statistics."""
    return {name + "." + field: rng.uniform(low, high, channels).astype(np.float32)
            for field, low, high in (("weight", 0.5, 1.5), ("bias", -0.5, 0.5),
                                     ("running_mean", -0.3, 0.3), ("running_var", 0.5, 2.0))}


def save_zoo(ctx, folder, name, attention, **options):
    """A zoo network saved with random batch-norm parameters and statistics."""
    path = os.path.join(str(folder), "%s_%s.safetensors" % (name, attention))
    net = rlkd.Net.zoo(ctx, name, attention, **FASHION, **options)
    try:
        net.save(path)
    finally:
        net.close()
    tensors, metadata = safetensors.load(path)
    rng = np.random.default_rng(1)
    for layer in json.loads(metadata["rlkd_architecture"])["layers"]:
        if layer["kind"] == "batchnorm2d":
            channels = tensors[layer["name"] + ".weight"].shape[0]
            tensors.update(random_batchnorm(rng, layer["name"], channels))
    safetensors.save(path, tensors, metadata)
    return path


class CLibrary:
    """librlkd through its C ABI alone, for what the bindings do not wrap."""

    class PruneGroup(ctypes.Structure):  # rlkd_prune_group
        _fields_ = [("struct_size", ctypes.c_size_t), ("name", ctypes.c_char_p),
                    ("channels", ctypes.c_int), ("kept", ctypes.c_int),
                    ("producers", ctypes.c_int), ("prunable", ctypes.c_int),
                    ("refusal", ctypes.c_char_p)]

    def __init__(self):
        here = os.path.dirname(os.path.abspath(__file__))
        path = os.environ.get("RLKD_LIBRARY") or os.path.join(here, "..", "..", "lib",
                                                               "librlkd.so.0")
        self.c = ctypes.CDLL(path)
        handle, handle_out = ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p)
        self.c.rlkd_last_error.restype = ctypes.c_char_p
        for name, arguments in {
                "rlkd_context_create": [handle_out, ctypes.c_int, ctypes.c_int],
                "rlkd_net_load": [handle, ctypes.c_char_p, handle_out],
                "rlkd_net_save": [handle, ctypes.c_char_p],
                "rlkd_net_prune_group_count": [handle, ctypes.POINTER(ctypes.c_int)],
                "rlkd_net_prune_group": [handle, ctypes.c_int, ctypes.POINTER(self.PruneGroup)],
                "rlkd_net_prune_set_prunable": [handle, ctypes.c_int, ctypes.c_int],
                "rlkd_net_prune_set_mask": [handle, ctypes.c_int, ctypes.c_void_p, ctypes.c_int],
                "rlkd_net_prune_compact": [handle, handle_out]}.items():
            getattr(self.c, name).argtypes = arguments
        for name in ("rlkd_net_destroy", "rlkd_context_destroy", "rlkd_prune_group_init"):
            getattr(self.c, name).restype = None

    def call(self, name, *arguments):
        status = getattr(self.c, name)(*arguments)
        assert status == 0, "%s: %s" % (name, self.c.rlkd_last_error().decode())

    def mask_and_compact(self, path, masked_path, compacted_path, seed=2):
        """Loads path, masks a random ~40% of the channels of every group
        that can be pruned (residual streams included), saves the masked
        network and its compacted form; returns the number of groups masked."""
        ctx, net, small = ctypes.c_void_p(), ctypes.c_void_p(), ctypes.c_void_p()
        rng = np.random.default_rng(seed)
        masked = 0
        try:
            self.call("rlkd_context_create", ctypes.byref(ctx), 0, 0)
            self.call("rlkd_net_load", ctx, path.encode(), ctypes.byref(net))
            count = ctypes.c_int()
            self.call("rlkd_net_prune_group_count", net, ctypes.byref(count))
            for index in range(count.value):
                group = self.PruneGroup()
                self.c.rlkd_prune_group_init(ctypes.byref(group))
                self.call("rlkd_net_prune_group", net, index, ctypes.byref(group))
                if group.refusal or group.channels < 2:
                    continue
                self.call("rlkd_net_prune_set_prunable", net, index, 1)
                keep = (rng.random(group.channels) < 0.6).astype(np.uint8)
                keep[rng.integers(group.channels)] = 1
                self.call("rlkd_net_prune_set_mask", net, index,
                          keep.ctypes.data_as(ctypes.c_void_p), group.channels)
                masked += int(keep.sum() < group.channels)
            self.call("rlkd_net_save", net, masked_path.encode())
            self.call("rlkd_net_prune_compact", net, ctypes.byref(small))
            self.call("rlkd_net_save", small, compacted_path.encode())
        finally:
            self.c.rlkd_net_destroy(small)
            self.c.rlkd_net_destroy(net)
            self.c.rlkd_context_destroy(ctx)
        return masked


def rlkd_logits(ctx, path, images, training=False):
    net = rlkd.Net.load(ctx, path)
    try:
        return net.forward(rlkd.Tensor(ctx, images), training=training).numpy()
    finally:
        net.close()


def torch_logits(module, images, training=False):
    module.train(training)
    with torch.no_grad():
        return module(torch.from_numpy(images)).numpy()


def relative_error(got, want):
    return float(np.max(np.abs(got - want)) / np.max(np.abs(want)))


def assert_parity(ctx, path, module, images):
    """Inference, then training mode (batch statistics). A training forward
    moves the running statistics: rlkd's net is loaded afresh each time, and
    the module's statistics have moved when this returns."""
    for training in (False, True):
        want = rlkd_logits(ctx, path, images, training)
        got = torch_logits(module, images, training)
        assert got.shape == want.shape
        error = relative_error(got, want)
        assert error < RELATIVE, "%s logits differ: relative error %.2e" % (
            "training" if training else "inference", error)


NETWORKS = [
    ("vgg_small", "none", dict(width_multiplier=0.5)),
    ("resnet_small", "se", {}),
    ("densenet_small", "se", {}),
    ("densenet_small", "eca", {}),
    ("densenet_small", "cbam", {}),
]


@pytest.mark.parametrize("name,attention,options", NETWORKS,
                         ids=["%s-%s" % (n, a) for n, a, _ in NETWORKS])
def test_to_torch_logits_equal_rlkd(ctx, tmp_path, images, name, attention, options):
    path = save_zoo(ctx, tmp_path, name, attention, **options)
    net = rlkd.Net.load(ctx, path)
    try:
        module = rlkd.export.to_torch(net)
    finally:
        net.close()
    assert not module.training  # eval mode, as rlkd's forward defaults to inference
    assert_parity(ctx, path, module, images)


def test_to_torch_module_owns_its_weights(ctx, tmp_path, images):
    path = save_zoo(ctx, tmp_path, "resnet_small", "none")
    net = rlkd.Net.load(ctx, path)
    module = rlkd.export.to_torch(net)
    want = net.forward(rlkd.Tensor(ctx, images)).numpy()
    net.close()
    assert relative_error(torch_logits(module, images), want) < RELATIVE


def test_state_dict_names_are_rlkd_names(ctx, tmp_path):
    path = save_zoo(ctx, tmp_path, "resnet_small", "cbam")
    tensors, _ = safetensors.load(path)
    state = rlkd.torch_module.load(path).state_dict()
    assert sorted(state) == sorted(tensors)
    for name, value in tensors.items():
        np.testing.assert_array_equal(state[name].numpy(), value, err_msg=name)


MASKED = [("vgg_small", "none", dict(width_multiplier=0.5)),
          ("resnet_small", "se", {}),
          ("densenet_small", "none", {})]


@pytest.mark.parametrize("name,attention,options", MASKED,
                         ids=["%s-%s" % (n, a) for n, a, _ in MASKED])
def test_masked_and_compacted_networks_equal_rlkd(ctx, tmp_path, images, name, attention,
                                                  options):
    path = save_zoo(ctx, tmp_path, name, attention, **options)
    masked_path = str(tmp_path / "masked.safetensors")
    compacted_path = str(tmp_path / "compacted.safetensors")
    assert CLibrary().mask_and_compact(path, masked_path, compacted_path) > 0
    masked_tensors, metadata = safetensors.load(masked_path)
    assert "rlkd_prune_masks" in metadata

    assert_parity(ctx, masked_path, rlkd.torch_module.load(masked_path), images)

    # The masks change these logits, so parity above is the masks' doing.
    unmasked_path = str(tmp_path / "unmasked.safetensors")
    del metadata["rlkd_prune_masks"]
    safetensors.save(unmasked_path, masked_tensors, metadata)
    unmasked = torch_logits(rlkd.torch_module.load(unmasked_path).eval(), images)
    assert relative_error(unmasked, rlkd_logits(ctx, masked_path, images)) > 100 * RELATIVE

    # The compacted network: an ordinary file with fewer channels that
    # computes what the masked one computes.
    compacted_tensors, compacted_metadata = safetensors.load(compacted_path)
    assert "rlkd_prune_masks" not in compacted_metadata
    assert sum(t.size for t in compacted_tensors.values()) < sum(
        t.size for t in masked_tensors.values())
    compacted = rlkd.Net.load(ctx, compacted_path)
    try:
        compacted_module = rlkd.export.to_torch(compacted)
    finally:
        compacted.close()
    error = relative_error(torch_logits(compacted_module, images),
                           rlkd_logits(ctx, masked_path, images))
    assert error < RELATIVE
    assert_parity(ctx, compacted_path, compacted_module, images)


def conv(name, inputs, out, kernel=3, groups=1, bias=0, stride=1):
    return dict(kind="conv2d", name=name, inputs=inputs, out_channels=out, kernel=kernel,
                stride=stride, padding=kernel // 2, dilation=1, groups=groups, bias=bias)


def batchnorm(name, inputs):
    return dict(kind="batchnorm2d", name=name, inputs=inputs, eps=1e-5, momentum=0.1)


def test_masks_through_depthwise_add_and_concat(ctx, tmp_path, images):
    """A graph that no zoo network has: a depthwise convolution passing its
    input's channels on, a residual add uniting two convolutions' groups,
    and a concatenation carrying one group twice."""
    layers = [conv("stem", [0], 6), batchnorm("stem_bn", [1]),
              dict(kind="relu", name="relu", inputs=[2]),
              conv("dw", [3], 6, groups=6, bias=1), batchnorm("dw_bn", [4]),
              conv("branch", [3], 6, kernel=1), batchnorm("branch_bn", [6]),
              dict(kind="add", name="add", inputs=[5, 7]),
              dict(kind="concat", name="concat", inputs=[8, 3]),
              conv("mix", [9], 5, stride=2), batchnorm("mix_bn", [10]),
              dict(kind="relu", name="relu2", inputs=[11]),
              dict(kind="global_avgpool", name="pool", inputs=[12]),
              dict(kind="linear", name="fc", inputs=[13], out_features=4, bias=1)]
    rng = np.random.default_rng(3)
    tensors = {}
    channels = [1]
    for layer in layers:
        inputs = [channels[k] for k in layer["inputs"]]
        if layer["kind"] == "conv2d":
            k, out = layer["kernel"], layer["out_channels"]
            tensors[layer["name"] + ".weight"] = rng.standard_normal(
                (out, inputs[0] // layer["groups"], k, k)).astype(np.float32)
            if layer["bias"]:
                tensors[layer["name"] + ".bias"] = rng.standard_normal(out).astype(np.float32)
            channels.append(out)
        elif layer["kind"] == "batchnorm2d":
            tensors.update(random_batchnorm(rng, layer["name"], inputs[0]))
            tensors[layer["name"] + ".num_batches_tracked"] = np.zeros(1, np.int64)
            channels.append(inputs[0])
        elif layer["kind"] == "linear":
            tensors["fc.weight"] = rng.standard_normal((4, inputs[0])).astype(np.float32)
            tensors["fc.bias"] = rng.standard_normal(4).astype(np.float32)
            channels.append(4)
        else:
            channels.append(sum(inputs) if layer["kind"] == "concat" else inputs[0])
    architecture = dict(version=1, input=list(INPUT_SHAPE[1:]), layers=layers)
    path = str(tmp_path / "graph.safetensors")
    safetensors.save(path, tensors, {"rlkd_architecture": json.dumps(architecture)})
    masked_path = str(tmp_path / "masked.safetensors")
    compacted_path = str(tmp_path / "compacted.safetensors")
    assert CLibrary().mask_and_compact(path, masked_path, compacted_path, seed=4) > 0
    masks = json.loads(safetensors.load(masked_path)[1]["rlkd_prune_masks"])
    assert set(masks) == {"stem", "mix"}  # "stem" is the residual stream's first producer
    factors = rlkd.torch_module.output_masks(architecture, masks)
    # stem, stem_bn, dw, dw_bn, branch, branch_bn carry the stream; mix and mix_bn theirs.
    assert sorted(factors) == [0, 1, 3, 4, 5, 6, 9, 10]
    assert_parity(ctx, masked_path, rlkd.torch_module.load(masked_path), images)
    assert_parity(ctx, compacted_path, rlkd.torch_module.load(compacted_path), images)


def test_load_without_architecture_is_refused(tmp_path):
    path = str(tmp_path / "plain.safetensors")
    safetensors.save(path, {"conv.weight": np.zeros((2, 1, 3, 3), np.float32)})
    with pytest.raises(ValueError, match="no rlkd_architecture"):
        rlkd.torch_module.load(path)


@pytest.mark.parametrize("masks, message", [
    ({"no.such.layer": "01"}, "no.such.layer"),
    ({"features.0": "0110"}, "features.0.*characters of 0 and 1"),
], ids=["unknown_group", "wrong_length"])
def test_bad_masks_are_refused(ctx, tmp_path, masks, message):
    path = save_zoo(ctx, tmp_path, "vgg_small", "none", width_multiplier=0.5)
    tensors, metadata = safetensors.load(path)
    metadata["rlkd_prune_masks"] = json.dumps(masks)
    safetensors.save(path, tensors, metadata)
    with pytest.raises(ValueError, match=message):
        rlkd.torch_module.load(path)


def test_to_onnx_graph(ctx, tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import numpy_helper
    path = save_zoo(ctx, tmp_path, "densenet_small", "cbam")
    onnx_path = str(tmp_path / "net.onnx")
    net = rlkd.Net.load(ctx, path)
    try:
        rlkd.export.to_onnx(net, onnx_path, INPUT_SHAPE)
    finally:
        net.close()
    model = onnx.load(onnx_path)
    onnx.checker.check_model(model)
    graph = model.graph
    assert [i.name for i in graph.input] == ["images"]
    assert [o.name for o in graph.output] == ["logits"]

    def dims(value):
        return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]

    assert dims(graph.input[0]) == ["batch", 1, 28, 28]
    assert dims(graph.output[0]) == ["batch", 10]

    initializers = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    tensors, metadata = safetensors.load(path)
    convolutions = [layer["name"] + ".weight"
                    for layer in json.loads(metadata["rlkd_architecture"])["layers"]
                    if layer["kind"] == "conv2d"]
    assert len(convolutions) > 10
    for name in convolutions + ["classifier.weight"]:
        assert name in initializers, name
        np.testing.assert_array_equal(initializers[name], tensors[name], err_msg=name)
    kinds = {node.op_type for node in graph.node}
    assert {"Conv", "BatchNormalization", "Concat", "ReduceMax", "Gemm"} <= kinds


def export_masked_onnx(ctx, tmp_path, model, attention, batch):
    """A zoo network masked (by the C library), saved and exported to ONNX
    with a traced batch of `batch`: (the masked file, the ONNX file)."""
    path = save_zoo(ctx, tmp_path, model, attention)
    masked_path = str(tmp_path / "masked.safetensors")
    CLibrary().mask_and_compact(path, masked_path, str(tmp_path / "compacted.safetensors"))
    onnx_path = str(tmp_path / "masked.onnx")
    net = rlkd.Net.load(ctx, masked_path)
    try:
        rlkd.export.to_onnx(net, onnx_path, (batch, 1, 28, 28))
    finally:
        net.close()
    return masked_path, onnx_path


def test_to_onnx_masked_network(ctx, tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import numpy_helper
    masked_path, onnx_path = export_masked_onnx(ctx, tmp_path, "resnet_small", "none", 1)
    graph = onnx.load(onnx_path).graph
    # Every masked layer's output is multiplied by its 0/1 mask, a constant.
    constants = {node.output[0]: numpy_helper.to_array(node.attribute[0].t)
                 for node in graph.node if node.op_type == "Constant"}
    multiplied = sorted(constants[name].flatten().tolist() for node in graph.node
                        if node.op_type == "Mul" for name in node.input
                        if name in constants and constants[name].ndim == 4)
    architecture = json.loads(safetensors.load(masked_path)[1]["rlkd_architecture"])
    masks = json.loads(safetensors.load(masked_path)[1]["rlkd_prune_masks"])
    want = sorted(m.tolist() for m in rlkd.torch_module.output_masks(architecture,
                                                                      masks).values())
    assert want and multiplied == want


def test_onnx_runtime_logits_equal_rlkd(ctx, tmp_path):
    """Where ONNX Runtime imports: the exported file computes rlkd's logits,
    masks included, for a batch size other than the one traced."""
    onnxruntime = pytest.importorskip("onnxruntime")
    masked_path, onnx_path = export_masked_onnx(ctx, tmp_path, "densenet_small", "se", 2)
    images = np.random.default_rng(5).standard_normal((5, 1, 28, 28)).astype(np.float32)
    session = onnxruntime.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    (logits,) = session.run(["logits"], {"images": images})
    assert relative_error(logits, rlkd_logits(ctx, masked_path, images)) < RELATIVE


def test_to_onnx_refuses_another_image_size(ctx, tmp_path):
    path = save_zoo(ctx, tmp_path, "vgg_small", "none", width_multiplier=0.5)
    net = rlkd.Net.load(ctx, path)
    try:
        with pytest.raises(ValueError, match=r"\(batch, 1, 28, 28\)"):
            rlkd.export.to_onnx(net, str(tmp_path / "net.onnx"), (1, 1, 32, 32))
    finally:
        net.close()


def test_the_example_prunes_compacts_and_exports(tmp_path):
    pytest.importorskip("torch")
    example = os.path.join(os.path.dirname(__file__), "..", "..", "examples",
                           "export_torch_onnx.py")
    run = subprocess.run([sys.executable, example, "--net", "resnet_small", "--prune", "0.5",
                          "--compact", "--onnx", str(tmp_path / "small.onnx")],
                         capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "resnet_small_compact" in run.stdout and (tmp_path / "small.onnx").stat().st_size

