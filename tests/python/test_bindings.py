"""The package's foundations: the ABI table agrees with include/rlkd.h,
failures raise rlkd.Error, handles are freed once and never used after,
tensors cross to NumPy and (through DLPack) to PyTorch without copies, and
nothing leaks over thousands of create/destroy cycles."""
import ctypes
import gc
import os
import re

import numpy as np
import pytest

import rlkd
from rlkd import _ffi

HEADER = os.path.join(os.path.dirname(__file__), "..", "..", "include", "rlkd.h")


def header_functions():
    """{name: parameter count} of every RLKD_API function in rlkd.h."""
    text = re.sub(r"/\*.*?\*/", "", open(HEADER).read(), flags=re.S)
    functions = {}
    for match in re.finditer(r"RLKD_API\s+[^;()]*?\b(rlkd_\w+)\s*\(([^;]*?)\)\s*;", text,
                             flags=re.S):
        parameters = match.group(2).strip()
        functions[match.group(1)] = 0 if parameters in ("", "void") else \
            parameters.count(",") + 1
    return functions


def test_every_header_function_is_declared_with_its_arity():
    functions = header_functions()
    assert len(functions) > 150
    assert sorted(set(functions) - set(_ffi.SIGNATURES)) == []
    assert sorted(set(_ffi.SIGNATURES) - set(functions)) == []
    wrong = {name: (len(_ffi.SIGNATURES[name][1]), count)
             for name, count in functions.items() if len(_ffi.SIGNATURES[name][1]) != count}
    assert wrong == {}


@pytest.mark.parametrize("struct_type", list(_ffi.STRUCT_INITS), ids=lambda t: t.__name__)
def test_struct_sizes_match_the_library(struct_type):
    value = _ffi.initialized(struct_type)
    assert value.struct_size == ctypes.sizeof(struct_type)


def test_version_and_features():
    assert rlkd.version() == rlkd.__version__
    assert int(rlkd.version().split(".")[0]) == rlkd.ABI_MAJOR
    gpu_only = {"nvjpeg", "cudnn", "nccl"}
    assert {"openmp", "blas"} >= rlkd.features() - {"cuda"} - gpu_only
    assert not rlkd.features() & gpu_only or "cuda" in rlkd.features()
    # the names and bits of rlkd_feature in the header
    declared = {name.lower(): 1 << int(shift) for name, shift in
                re.findall(r"RLKD_FEATURE_(\w+)\s*=\s*1u << (\d+)", open(HEADER).read())}
    assert rlkd.FEATURES == declared
    assert os.path.exists(rlkd.library_path()) or rlkd.library_path().startswith("librlkd")


def test_a_library_of_another_major_version_is_refused(monkeypatch):
    monkeypatch.setattr(_ffi, "ABI_MAJOR", 7)
    with pytest.raises(ImportError, match="needs the 7.x ABI"):
        _ffi._Library(rlkd.library_path())


def test_a_missing_library_is_a_clear_import_error(monkeypatch, tmp_path):
    monkeypatch.setattr(_ffi, "_candidates", lambda: [str(tmp_path / "librlkd.so.0")])
    with pytest.raises(ImportError, match="librlkd not found.*absent"):
        _ffi._load()


def test_failures_raise_error_with_status_and_message():
    with rlkd.Context() as ctx:
        x = rlkd.Tensor.empty(ctx, (2, 3, 4, 4))
        w = rlkd.Tensor.empty(ctx, (5, 2, 3, 3))
        with pytest.raises(rlkd.Error) as caught:
            rlkd.ops.conv2d(x, w)
        error = caught.value
        assert error.status == 2 and error.status_name == "SHAPE"
        assert error.function == "rlkd_conv2d_forward"
        assert "expected [5,3,3,3]" in str(error)
        with pytest.raises(rlkd.Error, match="INVALID_ARGUMENT"):
            rlkd.Tensor.empty(ctx, (0, 3))
        with pytest.raises(rlkd.Error, match="IO"):
            rlkd.Net.load(ctx, "/nonexistent/net.safetensors")


def test_context_properties():
    with rlkd.Context(seed=42, threads=1) as ctx:
        assert ctx.device == ("cpu", 0)
        assert ctx.seed == 42 and ctx.threads == 1
        ctx.seed, ctx.threads = 7, 2
        assert ctx.seed == 7 and ctx.threads == 2
        ctx.synchronize()
        with pytest.raises(rlkd.Error, match="CUDA"):
            ctx.set_cuda_stream(0)  # a CPU context has no stream
    if "cuda" not in rlkd.features():
        with pytest.raises(rlkd.Error, match="UNSUPPORTED|NO_DEVICE"):
            rlkd.Context("cuda")


def test_context_math():
    with rlkd.Context(math="tf32") as ctx:
        assert ctx.math == "tf32"
        ctx.math = "fp32"
        assert ctx.math == "fp32"
        with pytest.raises(ValueError, match="fp32, tf32, not 'fp16'"):
            ctx.math = "fp16"
        assert ctx.math == "fp32"


def test_context_engine(monkeypatch):
    monkeypatch.delenv("RLKD_CONV_ENGINE", raising=False)
    with rlkd.Context(engine="native") as ctx:
        assert ctx.engine == "native"
        with pytest.raises(rlkd.Error, match="needs a CUDA context.*UNSUPPORTED"):
            ctx.engine = "cudnn"  # cuDNN is for CUDA contexts
        assert ctx.engine == "native"
        with pytest.raises(ValueError, match="native, cudnn, not 'fast'"):
            ctx.engine = "fast"
    monkeypatch.setenv("RLKD_CONV_ENGINE", "cudnn")
    with rlkd.Context() as ctx:
        assert ctx.engine == "native"  # the variable names the CUDA engine
    monkeypatch.setenv("RLKD_CONV_ENGINE", "bogus")
    with pytest.raises(rlkd.Error, match="bogus.*INVALID_ARGUMENT"):
        rlkd.Context()


def test_tensors_round_trip_numpy_in_both_dtypes():
    with rlkd.Context() as ctx:
        floats = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
        t = rlkd.Tensor(ctx, floats)
        assert t.shape == (2, 3, 4) and t.dtype == np.float32 and t.size == 24
        np.testing.assert_array_equal(t.numpy(), floats)
        ints = rlkd.Tensor(ctx, [3, -1, 7])
        assert ints.dtype == np.int32
        np.testing.assert_array_equal(ints.numpy(), [3, -1, 7])
        t.copy_from(floats * 2)
        np.testing.assert_array_equal(t.numpy(), floats * 2)
        with pytest.raises(TypeError, match="float32 or int32"):
            rlkd.Tensor(ctx, floats, dtype=np.float64)
        with pytest.raises(rlkd.Error, match="count 5"):
            t.copy_from(np.zeros(5))


def test_fills_and_reshape():
    with rlkd.Context(seed=3) as ctx:
        t = rlkd.Tensor.empty(ctx, (100, 100))
        assert not t.numpy().any()
        assert (t.fill(2.5).numpy() == 2.5).all()
        values = t.fill_uniform(-1, 1).numpy()
        assert values.min() >= -1 and values.max() < 1 and abs(values.mean()) < 0.05
        values = t.fill_normal(3, 2).numpy()
        assert abs(values.mean() - 3) < 0.1 and abs(values.std() - 2) < 0.1
        t.reshape(10, 1000)
        assert t.shape == (10, 1000) and t.numpy().shape == (10, 1000)
        with pytest.raises(rlkd.Error):
            t.reshape(3, 3)
        assert t.shape == (10, 1000)


def test_array_interface_shares_host_memory():
    with rlkd.Context() as ctx:
        t = rlkd.Tensor(ctx, np.arange(6, dtype=np.float32).reshape(2, 3))
        view = np.asarray(t)
        assert view.shape == (2, 3) and view.dtype == np.float32
        view[1, 2] = 100
        assert t.numpy()[1, 2] == 100
        rlkd.ops.relu(rlkd.Tensor(ctx, -np.ones((2, 3))), out=t)
        assert not view.any()


def test_closing_a_context_closes_what_was_made_on_it():
    ctx = rlkd.Context()
    t = rlkd.Tensor.empty(ctx, (4,))
    net = rlkd.Net.zoo(ctx, "vgg_small", num_classes=10, in_channels=1, in_height=28,
                       in_width=28)
    weights = net.parameters()
    ctx.close()
    assert ctx.closed and t.closed and net.closed
    assert all(w.closed for w in weights.values())
    with pytest.raises(ValueError, match="Tensor is closed"):
        t.numpy()
    with pytest.raises(ValueError, match="Context is closed"):
        rlkd.Tensor.empty(ctx, (4,))
    ctx.close()  # twice is harmless
    t.close()


def test_views_are_closed_with_their_network_but_never_free_it():
    with rlkd.Context() as ctx:
        net = rlkd.Net.zoo(ctx, "vgg_small", num_classes=10, in_channels=1, in_height=28,
                           in_width=28)
        first = net.parameters()
        del first
        gc.collect()
        weights = net.parameters()
        assert len(weights) == 26
        name = next(iter(weights))
        np.testing.assert_array_equal(weights[name].numpy(), net.find(name).numpy())
        net.close()
        assert weights[name].closed


def test_the_collector_frees_children_before_parents():
    def make():
        ctx = rlkd.Context()
        return rlkd.Tensor.empty(ctx, (8,))
    t = make()  # the context lives on through the tensor
    assert t.numpy().shape == (8,)
    del t
    gc.collect()


def test_garbage_cycles_free_children_before_parents():
    class Holder:
        pass
    for _ in range(50):
        holder = Holder()
        holder.itself = holder  # a reference cycle: only the collector frees it
        holder.ctx = rlkd.Context()
        holder.tensor = rlkd.Tensor.empty(holder.ctx, (64,))
        holder.dataset = rlkd.Dataset.from_numpy(np.zeros((4, 1, 4, 4), np.uint8), [0, 1, 0, 1])
        holder.loader = rlkd.Loader(holder.ctx, holder.dataset, batch_size=2)
        del holder
        gc.collect()  # a context destroyed before its tensor would crash here


# ASan keeps freed memory in quarantine, so the process grows under the
# sanitizers without a leak: the plain run measures growth.
measures_memory = pytest.mark.skipif(os.environ.get("RLKD_TEST_SANITIZED") == "1",
                                     reason="ASan's quarantine holds freed memory")


def rss_kib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


@measures_memory
def test_no_leak_over_ten_thousand_create_destroy_cycles():
    def cycle(count):
        for _ in range(count):
            with rlkd.Context() as ctx:
                t = rlkd.Tensor(ctx, np.ones((16, 16), np.float32))
                rlkd.ops.relu(t)
                net = rlkd.Net(ctx, (1, 4, 4))
                net.linear(net.global_avgpool(0), 2, name="fc")
                net.parameters()
    cycle(500)  # allocator and interpreter warm-up
    gc.collect()
    before = rss_kib()
    cycle(10000)
    gc.collect()
    grown = rss_kib() - before
    # A leak of one 1 KiB tensor per cycle would be 10 MiB.
    assert grown < 2048, "RSS grew %d KiB over 10,000 cycles" % grown


# --- DLPack ----------------------------------------------------------------------------

def test_dlpack_to_numpy_shares_memory():
    with rlkd.Context() as ctx:
        t = rlkd.Tensor(ctx, np.arange(12, dtype=np.float32).reshape(3, 4))
        assert t.__dlpack_device__() == (1, 0)
        array = np.from_dlpack(t)
        np.testing.assert_array_equal(array, np.arange(12).reshape(3, 4))
        t.fill(5)
        assert (array == 5).all()


@measures_memory
def test_unconsumed_exports_are_freed():
    def export_and_drop(count):
        with rlkd.Context() as ctx:
            for _ in range(count):
                t = rlkd.Tensor.empty(ctx, (256, 256))  # 256 KiB
                capsule = t.__dlpack__()
                t.close()  # the export alone keeps the memory now
                del capsule  # its destructor must free it
    export_and_drop(20)
    gc.collect()
    before = rss_kib()
    export_and_drop(400)
    gc.collect()
    assert rss_kib() - before < 4096


def test_dlpack_import_rejects_what_rlkd_cannot_hold():
    with rlkd.Context() as ctx:
        with pytest.raises(rlkd.Error, match="dtype"):
            rlkd.from_dlpack(np.zeros(4, np.float64), ctx)
        with pytest.raises(rlkd.Error, match="strid"):
            rlkd.from_dlpack(np.zeros((4, 4), np.float32)[:, ::2], ctx)


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


@pytest.mark.parametrize("dtype", ["float32", "int32"])
def test_dlpack_round_trips_with_pytorch(torch, dtype):
    torch_dtype = getattr(torch, dtype)
    with rlkd.Context() as ctx:
        source = torch.arange(24, dtype=torch_dtype).reshape(2, 3, 4)
        imported = rlkd.from_dlpack(source, ctx)
        assert imported.shape == (2, 3, 4) and imported.dtype == np.dtype(dtype)
        source[0, 0, 0] = 99
        assert imported.numpy()[0, 0, 0] == 99  # shared, not copied
        exported = torch.from_dlpack(imported)
        assert exported.data_ptr() == source.data_ptr()
        np.testing.assert_array_equal(exported.numpy(), source.numpy())


def test_pytorch_keeps_an_export_alive_past_close(torch):
    ctx = rlkd.Context()
    t = rlkd.Tensor(ctx, np.full((64, 64), 3, np.float32))
    shared = torch.from_dlpack(t)
    t.close()
    ctx.close()
    assert float(shared.sum()) == 3 * 64 * 64
    del shared
    gc.collect()


def test_an_imported_tensor_keeps_the_producer_alive(torch):
    with rlkd.Context() as ctx:
        imported = rlkd.from_dlpack(torch.full((1000,), 2.0), ctx)  # the only reference
        gc.collect()
        assert float(rlkd.ops.relu(imported).numpy().sum()) == 2000


def test_a_rejected_capsule_stays_with_its_producer(torch):
    with rlkd.Context() as ctx:
        capsule = torch.utils.dlpack.to_dlpack(torch.zeros(3, dtype=torch.float64))
        with pytest.raises(rlkd.Error, match="dtype"):
            rlkd.from_dlpack(capsule, ctx)
        # Still unconsumed: PyTorch can take it, and it is freed once.
        assert torch.utils.dlpack.from_dlpack(capsule).shape == (3,)


def cuda_context_or_skip():
    if "cuda" not in rlkd.features():
        pytest.skip("this library was built without CUDA")
    try:
        return rlkd.Context("cuda")
    except rlkd.Error as error:
        pytest.skip("no usable CUDA device: %s" % error)


def test_dlpack_round_trips_with_pytorch_on_the_gpu(torch):
    if not torch.cuda.is_available():
        pytest.skip("PyTorch sees no CUDA device")
    with cuda_context_or_skip() as ctx:
        source = torch.arange(-6, 6, dtype=torch.float32, device="cuda").reshape(3, 4)
        imported = rlkd.from_dlpack(source, ctx)
        assert imported.device == ("cuda", 0)
        rectified = rlkd.ops.relu(imported)
        back = torch.from_dlpack(rectified)
        assert back.device.type == "cuda"
        assert back.data_ptr() == rlkd.lib.rlkd_tensor_data(rectified.handle)
        assert torch.equal(back, torch.relu(source))
        source[0, 0] = 5.0
        assert imported.numpy()[0, 0] == 5.0  # shared, not copied
        with pytest.raises(rlkd.Error, match="DEVICE_MISMATCH"):
            rlkd.from_dlpack(source, rlkd.Context())
