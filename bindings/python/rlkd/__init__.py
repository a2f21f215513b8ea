"""rlkd for Python: a ctypes layer over the C ABI (librlkd.so).

This first layer loads the library, turns failing statuses into RlkdError
with the library's message, and wraps contexts and tensors; the full
Pythonic API (networks, training, search) builds on it.

    import rlkd
    ctx = rlkd.Context()
    x = rlkd.Tensor(ctx, numpy_array)
    y = rlkd.Tensor.zeros(ctx, x.shape)
    rlkd.call(ctx, "relu_forward", y, x)
"""
import ctypes
import os

import numpy as np

F32, I32 = 0, 1
DEVICE_CPU, DEVICE_CUDA = 0, 1


class RlkdError(RuntimeError):
    """A failed rlkd call: `status` is the rlkd_status code."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def load_library(path=None):
    """Loads librlkd: `path`, else $RLKD_LIBRARY, else the build tree's lib/,
    else the system's librlkd.so.0."""
    candidates = [path, os.environ.get("RLKD_LIBRARY")]
    here = os.path.dirname(os.path.abspath(__file__))
    candidates.append(os.path.join(here, "..", "..", "..", "lib", "librlkd.so.0"))
    candidates.append("librlkd.so.0")
    for candidate in candidates:
        if not candidate:
            continue
        if os.sep in candidate and not os.path.exists(candidate):
            continue
        library = ctypes.CDLL(candidate)
        library.rlkd_last_error.restype = ctypes.c_char_p
        library.rlkd_status_string.restype = ctypes.c_char_p
        library.rlkd_version_string.restype = ctypes.c_char_p
        library.rlkd_tensor_destroy.restype = None
        library.rlkd_context_destroy.restype = None
        library.rlkd_net_destroy.restype = None
        library.rlkd_zoo_options_init.restype = None
        library.rlkd_tensor_dim.restype = ctypes.c_int64
        library.rlkd_tensor_numel.restype = ctypes.c_int64
        library.rlkd_tensor_data.restype = ctypes.c_void_p
        return library
    raise OSError("librlkd not found: build it with `make`, or set RLKD_LIBRARY")


lib = None


def _library():
    global lib
    if lib is None:
        lib = load_library()
    return lib


def check(status, what):
    """Raises RlkdError for a non-zero rlkd_status."""
    if status != 0:
        library = _library()
        raise RlkdError(status, "%s: %s: %s" % (
            what, library.rlkd_status_string(status).decode(),
            library.rlkd_last_error().decode()))


def version():
    return _library().rlkd_version_string().decode()


class Context:
    """An rlkd_context; destroy it after its tensors (close() or with-block)."""

    def __init__(self, device=DEVICE_CPU, index=0, seed=None):
        self.handle = ctypes.c_void_p()
        check(_library().rlkd_context_create(ctypes.byref(self.handle), device, index),
              "rlkd_context_create")
        if seed is not None:
            check(lib.rlkd_context_set_seed(self.handle, ctypes.c_uint64(seed)),
                  "rlkd_context_set_seed")

    def close(self):
        if self.handle:
            lib.rlkd_context_destroy(self.handle)
            self.handle = ctypes.c_void_p()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Tensor:
    """An rlkd tensor holding a copy of a NumPy array (float32 or int32)."""

    def __init__(self, ctx, array, dtype=F32):
        array = np.ascontiguousarray(array, dtype=np.int32 if dtype == I32 else np.float32)
        self._create(ctx, array.shape, dtype)
        write = lib.rlkd_tensor_write_i32 if dtype == I32 else lib.rlkd_tensor_write
        check(write(self.handle, array.ctypes.data_as(ctypes.c_void_p),
                    ctypes.c_size_t(array.size)), "rlkd_tensor_write")

    @classmethod
    def zeros(cls, ctx, shape, dtype=F32):
        tensor = cls.__new__(cls)
        tensor._create(ctx, tuple(shape), dtype)
        return tensor

    def _create(self, ctx, shape, dtype):
        self.shape, self.dtype, self.handle = tuple(shape), dtype, ctypes.c_void_p()
        dims = (ctypes.c_int64 * len(shape))(*shape)
        check(_library().rlkd_tensor_create(ctx.handle, dtype, len(shape), dims,
                                            ctypes.byref(self.handle)),
              "rlkd_tensor_create")

    def numpy(self):
        out = np.empty(self.shape, dtype=np.int32 if self.dtype == I32 else np.float32)
        read = lib.rlkd_tensor_read_i32 if self.dtype == I32 else lib.rlkd_tensor_read
        check(read(self.handle, out.ctypes.data_as(ctypes.c_void_p), ctypes.c_size_t(out.size)),
              "rlkd_tensor_read")
        return out

    @classmethod
    def view(cls, handle):
        """A Tensor over a tensor the library owns (not destroyed here)."""
        library = _library()
        tensor = cls.__new__(cls)
        tensor.handle, tensor.owned = ctypes.c_void_p(handle), False
        tensor.dtype = library.rlkd_tensor_dtype(tensor.handle)
        ndim = library.rlkd_tensor_ndim(tensor.handle)
        tensor.shape = tuple(library.rlkd_tensor_dim(tensor.handle, i) for i in range(ndim))
        return tensor

    def __del__(self):
        if getattr(self, "handle", None) and getattr(self, "owned", True):
            lib.rlkd_tensor_destroy(self.handle)


def call(ctx, op, *args):
    """Calls rlkd_<op>(ctx, *args): a Tensor passes its handle, None NULL,
    an int a C int, a float a C float; ctypes objects pass as they are.
    Raises RlkdError when the call fails."""
    converted = []
    for arg in args:
        if isinstance(arg, Tensor):
            converted.append(arg.handle)
        elif arg is None:
            converted.append(ctypes.c_void_p())
        elif isinstance(arg, (bool, int)):
            converted.append(ctypes.c_int(int(arg)))
        elif isinstance(arg, float):
            converted.append(ctypes.c_float(arg))
        else:
            converted.append(arg)
    check(getattr(_library(), "rlkd_" + op)(ctx.handle, *converted), "rlkd_" + op)


ATTENTION = {"none": 0, "se": 1, "eca": 2, "cbam": 3}


class ZooOptions(ctypes.Structure):
    """rlkd_zoo_options."""
    _fields_ = [("struct_size", ctypes.c_size_t), ("num_classes", ctypes.c_int),
                ("in_channels", ctypes.c_int), ("in_height", ctypes.c_int),
                ("in_width", ctypes.c_int), ("attention", ctypes.c_int),
                ("attention_reduction", ctypes.c_int), ("width_multiplier", ctypes.c_float),
                ("densenet_depth", ctypes.c_int), ("densenet_growth", ctypes.c_int)]


class Net:
    """An rlkd_net: build one with Net.zoo or Net.load; close() it before
    its context."""

    def __init__(self, ctx, handle):
        self.ctx, self.handle = ctx, handle

    @classmethod
    def zoo(cls, ctx, name, attention="none", **options):
        opts = ZooOptions()
        _library().rlkd_zoo_options_init(ctypes.byref(opts))
        opts.attention = ATTENTION[attention]
        for key, value in options.items():
            setattr(opts, key, value)
        handle = ctypes.c_void_p()
        check(lib.rlkd_zoo_create(ctx.handle, name.encode(), ctypes.byref(opts),
                                  ctypes.byref(handle)), "rlkd_zoo_create")
        return cls(ctx, handle)

    @classmethod
    def load(cls, ctx, path):
        handle = ctypes.c_void_p()
        check(_library().rlkd_net_load(ctx.handle, str(path).encode(), ctypes.byref(handle)),
              "rlkd_net_load")
        return cls(ctx, handle)

    def forward(self, x, training=False):
        out = ctypes.c_void_p()
        check(lib.rlkd_net_forward(self.handle, x.handle, int(training), ctypes.byref(out)),
              "rlkd_net_forward")
        return Tensor.view(out.value)

    def backward(self, doutput, dinput=None):
        check(lib.rlkd_net_backward(self.handle, doutput.handle,
                                    dinput.handle if dinput else None), "rlkd_net_backward")

    def zero_grad(self):
        check(lib.rlkd_net_zero_grad(self.handle), "rlkd_net_zero_grad")

    def save(self, path):
        check(lib.rlkd_net_save(self.handle, str(path).encode()), "rlkd_net_save")

    def load_weights(self, path):
        check(lib.rlkd_net_load_weights(self.handle, str(path).encode()),
              "rlkd_net_load_weights")

    def params(self):
        """[(name, value, grad)] as Tensor views."""
        count = ctypes.c_int()
        check(lib.rlkd_net_param_count(self.handle, ctypes.byref(count)), "rlkd_net_param_count")
        out = []
        for i in range(count.value):
            name, value, grad = ctypes.c_char_p(), ctypes.c_void_p(), ctypes.c_void_p()
            check(lib.rlkd_net_param(self.handle, i, ctypes.byref(name), ctypes.byref(value),
                                     ctypes.byref(grad)), "rlkd_net_param")
            out.append((name.value.decode(), Tensor.view(value.value), Tensor.view(grad.value)))
        return out

    def cost(self):
        """(parameters, MACs per image); FLOPs = 2 x MACs."""
        params, macs = ctypes.c_int64(), ctypes.c_int64()
        check(lib.rlkd_net_cost(self.handle, ctypes.byref(params), ctypes.byref(macs)),
              "rlkd_net_cost")
        return params.value, macs.value

    def close(self):
        if self.handle:
            lib.rlkd_net_destroy(self.handle)
            self.handle = None
