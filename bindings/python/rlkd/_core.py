"""Owned handles, contexts and tensors (L0), with NumPy and DLPack interop."""
from __future__ import annotations

import ctypes
import os
import threading
import weakref
from typing import (TYPE_CHECKING, Any, Callable, Dict, Iterable, Optional, Sequence, Tuple,
                    TypeVar, Union)

import numpy as np

from ._ffi import lib

if TYPE_CHECKING:
    import numpy.typing as npt

#: A file path: a str or an os.PathLike (pathlib.Path...).
PathLike = Union[str, os.PathLike]
#: A tensor shape.
Shape = Tuple[int, ...]
#: An rlkd dtype: F32 or I32, or a NumPy dtype (or anything np.dtype takes).
DType = Union[int, "npt.DTypeLike"]
#: A C pointer as ctypes gives it (c_void_p.value: an int, None for NULL).
Pointer = Optional[int]
#: A C destroy function, called with the object's pointer.
Destroy = Callable[[Pointer], None]
_H = TypeVar("_H", bound="Handle")

F32, I32 = 0, 1
DEVICE_CPU, DEVICE_CUDA = 0, 1
_DTYPES = {F32: np.dtype(np.float32), I32: np.dtype(np.int32)}
_DEVICE_NAMES = {"cpu": DEVICE_CPU, "cuda": DEVICE_CUDA}
#: rlkd_engine's values by name, in their order.
_ENGINES = ("native", "cudnn")
#: rlkd_math's values by name, in their order.
_MATHS = ("fp32", "tf32")


class _Owned:
    """One C object awaiting its destroy call, and its place in the tree."""
    __slots__ = ("destroy", "parents", "children", "released")

    def __init__(self, destroy: Destroy, parents: Tuple[Pointer, ...]) -> None:
        self.destroy, self.parents, self.children, self.released = destroy, parents, 0, False


# Every owned C object, by pointer. Python frees the objects of a garbage
# reference cycle in no particular order; this table makes the C objects go
# children first regardless: a released object is destroyed only once the
# objects made from it (a context's tensors, a data set's loaders) are.
_owned: Dict[Pointer, _Owned] = {}
_owned_lock = threading.RLock()


def _release(handle: Pointer) -> None:
    """Destroys `handle` now, or as soon as its last child is destroyed."""
    with _owned_lock:
        entry = _owned.get(handle)
        if entry is None:
            return
        entry.released = True
        if entry.children:
            return
        del _owned[handle]
        entry.destroy(handle)
        for parent in entry.parents:
            _owned[parent].children -= 1
            if _owned[parent].released:
                _release(parent)


class Handle:
    """A C object this package owns or views.

    close() frees it now, after closing what was made from it (a context's
    tensors and networks, a network's views of its parameters): a closed
    object raises ValueError when used, where the C library would read freed
    memory. Objects left to the garbage collector are freed by a finaliser,
    always after the objects made from them; `with` blocks free them at the
    block's end.
    """

    _handle: Optional[int] = None

    def _adopt(self, handle: Pointer, destroy: Optional[Destroy],
               parents: Iterable[Handle] = ()) -> None:
        """Takes `handle` (freed by `destroy`, or a view when destroy is
        None), made from `parents`."""
        self._handle = handle
        self._children: weakref.WeakSet[Handle] = weakref.WeakSet()
        self._parents = tuple(parents)
        for parent in self._parents:
            parent._children.add(self)
        self._finalizer: Optional[weakref.finalize] = None
        if destroy is not None:
            owners = tuple(p._handle for p in self._parents if p._handle in _owned)
            with _owned_lock:
                _owned[handle] = _Owned(destroy, owners)
                for owner in owners:
                    _owned[owner].children += 1
            self._finalizer = weakref.finalize(self, _release, handle)

    @property
    def handle(self) -> int:
        """The C pointer (an int); ValueError once closed."""
        if not self._handle:
            raise ValueError("this %s is closed" % type(self).__name__)
        return self._handle

    @property
    def closed(self) -> bool:
        return not self._handle

    def close(self) -> None:
        """Frees the object and everything made from it; safe to repeat."""
        if not self._handle:
            return
        for child in list(self._children):
            child.close()
        if self._finalizer is not None:
            self._finalizer()
        self._handle = None

    def __enter__(self: _H) -> _H:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class CallbackErrors:
    """A Python callback runs inside a C call that cannot unwind a Python
    exception: the first one is kept and raised when the C call returns
    (raise_pending, in a `finally` around the call), in place of the call's
    own failure if the callback made it fail."""

    def __init__(self) -> None:
        self.error: Optional[BaseException] = None

    def wrap(self, body: Callable[..., Any], failed: Optional[int] = None
             ) -> Callable[..., Optional[int]]:
        """`body` guarded. A callback whose status the C side checks gets
        `failed` (a non-zero rlkd_status, which stops the C call) to return
        when body raised, and 0 when it ran; a void callback (failed None)
        returns None, and does nothing more once an error is kept."""
        succeeded = None if failed is None else 0

        def guarded(*args: Any) -> Optional[int]:
            if self.error is not None and failed is None:
                return None
            try:
                body(*args)
                return succeeded
            except BaseException as error:  # noqa: B036 - raised again by raise_pending
                if self.error is None:
                    self.error = error
                return failed
        return guarded

    def raise_pending(self) -> None:
        if self.error is not None:
            error, self.error = self.error, None
            raise error


class Context(Handle):
    """Where tensors live and ops run: the CPU, or one CUDA device.

        with rlkd.Context() as ctx:                 # CPU
        ctx = rlkd.Context("cuda", index=0, seed=1)  # a GPU, if rlkd was built with CUDA
        ctx = rlkd.Context("cuda", engine="cudnn")   # convolutions on cuDNN
    """

    def __init__(self, device: Union[str, int] = "cpu", index: int = 0,
                 seed: Optional[int] = None, threads: Optional[int] = None,
                 engine: Optional[str] = None, math: Optional[str] = None) -> None:
        kind = _DEVICE_NAMES[device] if isinstance(device, str) else int(device)
        out = ctypes.c_void_p()
        lib.rlkd_context_create(ctypes.byref(out), kind, index)
        self._adopt(out.value, lib.rlkd_context_destroy)
        if seed is not None:
            self.seed = seed
        if threads is not None:
            self.threads = threads
        if engine is not None:
            self.engine = engine
        if math is not None:
            self.math = math

    @property
    def device(self) -> Tuple[str, int]:
        """("cpu" or "cuda", device index)."""
        kind, index = ctypes.c_int(), ctypes.c_int()
        lib.rlkd_context_device(self.handle, ctypes.byref(kind), ctypes.byref(index))
        return ("cuda" if kind.value == DEVICE_CUDA else "cpu"), index.value

    @property
    def seed(self) -> int:
        """The seed of the context's random streams (initialisation, dropout,
        shuffling); setting it restarts them."""
        value = ctypes.c_uint64()
        lib.rlkd_context_get_seed(self.handle, ctypes.byref(value))
        return value.value

    @seed.setter
    def seed(self, value: int) -> None:
        lib.rlkd_context_set_seed(self.handle, value)

    @property
    def threads(self) -> int:
        """CPU threads the ops use (0: the OpenMP default)."""
        value = ctypes.c_int()
        lib.rlkd_context_get_num_threads(self.handle, ctypes.byref(value))
        return value.value

    @threads.setter
    def threads(self, value: int) -> None:
        lib.rlkd_context_set_num_threads(self.handle, value)

    @property
    def engine(self) -> str:
        """What runs convolutions and linear layers: "native" (rlkd's own
        code) or "cudnn" (cuDNN and cuBLAS: a CUDA context, in a build with
        them). A new context starts with the one $RLKD_CONV_ENGINE names."""
        value = ctypes.c_int()
        lib.rlkd_context_get_engine(self.handle, ctypes.byref(value))
        return _ENGINES[value.value]

    @engine.setter
    def engine(self, name: str) -> None:
        if name not in _ENGINES:
            raise ValueError("engine is one of %s, not %r" % (", ".join(_ENGINES), name))
        lib.rlkd_context_set_engine(self.handle, _ENGINES.index(name))

    @property
    def math(self) -> str:
        """The arithmetic of the native CUDA convolutions and linear layers:
        "fp32" (the default; agrees with the CPU to float rounding) or "tf32"
        (tensor cores, TF32 inputs, float32 sums: faster, ~1e-3 relative).
        A CPU context accepts both and computes in float32."""
        value = ctypes.c_int()
        lib.rlkd_context_get_math(self.handle, ctypes.byref(value))
        return _MATHS[value.value]

    @math.setter
    def math(self, name: str) -> None:
        if name not in _MATHS:
            raise ValueError("math is one of %s, not %r" % (", ".join(_MATHS), name))
        lib.rlkd_context_set_math(self.handle, _MATHS.index(name))

    def set_cuda_stream(self, stream: int) -> None:
        """Runs the context's work on a CUDA stream (a cudaStream_t as an int,
        e.g. torch.cuda.current_stream().cuda_stream); 0 is the default stream."""
        lib.rlkd_context_set_cuda_stream(self.handle, stream)

    def synchronize(self) -> None:
        """Waits for the context's queued device work."""
        lib.rlkd_context_synchronize(self.handle)


def _dtype_code(dtype: Any) -> int:
    if dtype in (F32, I32):
        return dtype
    dtype = np.dtype(dtype)
    for code, numpy_dtype in _DTYPES.items():
        if dtype == numpy_dtype:
            return code
    raise TypeError("rlkd tensors are float32 or int32, not %s" % dtype)


def _shape_array(shape: Sequence[int]) -> ctypes.Array[ctypes.c_int64]:
    return (ctypes.c_int64 * len(shape))(*shape)


class Tensor(Handle):
    """An rlkd tensor: float32 or int32, up to 8 dimensions, on a context.

    Tensor(ctx, array) copies a NumPy array (or anything np.asarray takes)
    in; numpy() copies it out. A CPU tensor is also a zero-copy NumPy array
    through the array interface (np.asarray(t) shares its memory), and any
    tensor crosses to PyTorch, CuPy, JAX or NumPy without a copy through
    DLPack (torch.from_dlpack(t), rlkd.from_dlpack(torch_tensor, ctx)).
    """

    context: Context

    def __init__(self, ctx: Context, array: npt.ArrayLike, dtype: Optional[DType] = None) -> None:
        array = np.asarray(array)
        if dtype is None:
            dtype = I32 if np.issubdtype(array.dtype, np.integer) else F32
        code = _dtype_code(dtype)
        array = np.ascontiguousarray(array, dtype=_DTYPES[code])
        self._create(ctx, array.shape, code)
        self.copy_from(array)

    @classmethod
    def empty(cls, ctx: Context, shape: Sequence[int], dtype: DType = F32) -> Tensor:
        """A tensor of zeros (the library zero-fills what it allocates)."""
        tensor = cls.__new__(cls)
        tensor._create(ctx, tuple(int(d) for d in shape), _dtype_code(dtype))
        return tensor

    def _create(self, ctx: Context, shape: Sequence[int], code: int) -> None:
        out = ctypes.c_void_p()
        lib.rlkd_tensor_create(ctx.handle, code, len(shape), _shape_array(shape),
                               ctypes.byref(out))
        self._set(out.value, lib.rlkd_tensor_destroy, ctx, shape, code)

    def _set(self, handle: Pointer, destroy: Optional[Destroy], parent: Any,
             shape: Sequence[int], code: int) -> None:
        self._adopt(handle, destroy, (parent,))
        self._shape, self._code = tuple(shape), code
        self.context = parent if isinstance(parent, Context) else parent.context

    @classmethod
    def _from_handle(cls, handle: Pointer, parent: Handle,
                     destroy: Optional[Destroy] = None) -> Tensor:
        """A Tensor over a C tensor the library made, its shape and dtype
        read from it. Without `destroy` it is a view of memory `parent` (a
        Net, a Loader...) keeps: closed with its parent, freeing nothing."""
        tensor = cls.__new__(cls)
        ndim = lib.rlkd_tensor_ndim(handle)
        shape = tuple(lib.rlkd_tensor_dim(handle, i) for i in range(ndim))
        tensor._set(handle, destroy, parent, shape, lib.rlkd_tensor_dtype(handle))
        return tensor

    @property
    def shape(self) -> Shape:
        return self._shape

    @property
    def ndim(self) -> int:
        return len(self._shape)

    @property
    def size(self) -> int:
        return int(np.prod(self._shape))

    @property
    def dtype(self) -> np.dtype:
        """numpy.float32 or numpy.int32 (as a numpy.dtype)."""
        return _DTYPES[self._code]

    @property
    def device(self) -> Tuple[str, int]:
        return self.context.device

    def __repr__(self) -> str:
        if self.closed:
            return "rlkd.Tensor(closed)"
        return "rlkd.Tensor(shape=%s, dtype=%s, device=%s:%d)" % (
            self._shape, self.dtype, *self.device)

    def copy_from(self, array: npt.ArrayLike) -> None:
        """Copies a NumPy array of the same number of elements in."""
        array = np.ascontiguousarray(array, dtype=self.dtype)
        write = lib.rlkd_tensor_write_i32 if self._code == I32 else lib.rlkd_tensor_write
        write(self.handle, array.ctypes.data, array.size)

    def numpy(self) -> np.ndarray:
        """A copy as a NumPy array (from any device)."""
        out = np.empty(self._shape, dtype=self.dtype)
        read = lib.rlkd_tensor_read_i32 if self._code == I32 else lib.rlkd_tensor_read
        read(self.handle, out.ctypes.data, out.size)
        return out

    @property
    def __array_interface__(self) -> Dict[str, Any]:
        """NumPy's zero-copy view of a CPU tensor (np.asarray(t)); the array
        keeps the tensor alive but not open: do not use it after close()."""
        if self.device[0] != "cpu":
            raise TypeError("a CUDA tensor has no host memory to view: use numpy() to copy it, "
                            "or DLPack to hand it to a GPU array library")
        return {"shape": self._shape, "typestr": self.dtype.str, "version": 3,
                "data": (lib.rlkd_tensor_data(self.handle), False)}

    def fill(self, value: float) -> Tensor:
        lib.rlkd_tensor_fill(self.handle, value)
        return self

    def fill_uniform(self, low: float, high: float) -> Tensor:
        """Fills from U[low, high) with the context's seeded stream."""
        lib.rlkd_tensor_fill_uniform(self.handle, low, high)
        return self

    def fill_normal(self, mean: float = 0.0, stddev: float = 1.0) -> Tensor:
        lib.rlkd_tensor_fill_normal(self.handle, mean, stddev)
        return self

    def reshape(self, *shape: Union[int, Sequence[int]]) -> Tensor:
        """Gives the tensor (in place: the C tensor is reshaped) a new shape
        with the same number of elements; returns self."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        lib.rlkd_tensor_reshape(self.handle, len(shape), _shape_array(shape))
        self._shape = tuple(int(d) for d in shape)
        return self

    def __dlpack_device__(self) -> Tuple[int, int]:
        kind, index = self.device
        return (_DL_CUDA if kind == "cuda" else _DL_CPU), index

    def __dlpack__(self, stream: Optional[int] = None) -> object:
        """A DLPack capsule sharing the tensor's memory. The export keeps the
        memory (and its context) alive until the consumer lets it go, even
        past this tensor's close(). On CUDA the context is synchronised first,
        so the consumer's stream sees finished data."""
        if self.device[0] == "cuda":
            self.context.synchronize()
        managed = ctypes.c_void_p()
        lib.rlkd_tensor_to_dlpack(self.handle, ctypes.byref(managed))
        return _capsule_new(managed.value, _DLTENSOR, _CAPSULE_DESTRUCTOR)

    @classmethod
    def from_dlpack(cls, ctx: Context, source: Any) -> Tensor:
        """A tensor sharing the memory of `source`: an object with __dlpack__
        (a PyTorch/CuPy/JAX tensor, a NumPy array) or a DLPack capsule. It
        must be float32 or int32, C-contiguous, on the context's device."""
        capsule = source.__dlpack__() if hasattr(source, "__dlpack__") else source
        managed = _capsule_get(capsule, _DLTENSOR)
        out = ctypes.c_void_p()
        lib.rlkd_tensor_from_dlpack(ctx.handle, managed, ctypes.byref(out))
        # The rlkd tensor now owns the DLManagedTensor: mark the capsule used
        # so that its destructor leaves the deleter to us.
        _capsule_set_name(capsule, _USED_DLTENSOR)
        return cls._from_handle(out.value, ctx, lib.rlkd_tensor_destroy)


def from_dlpack(source: Any, ctx: Context) -> Tensor:
    """rlkd.Tensor.from_dlpack(ctx, source)."""
    return Tensor.from_dlpack(ctx, source)


# --- DLPack capsules (https://dmlc.github.io/dlpack/latest/python_spec.html) --
# The C library makes and takes DLManagedTensor structs; Python's side is the
# capsule named "dltensor" around one, renamed "used_dltensor" by whoever
# consumes it. Names are module-level bytes: a capsule keeps the pointer.

_DL_CPU, _DL_CUDA = 1, 2
_DLTENSOR, _USED_DLTENSOR = b"dltensor", b"used_dltensor"
_capsule_new = ctypes.PYFUNCTYPE(ctypes.py_object, ctypes.c_void_p, ctypes.c_char_p,
                                 ctypes.c_void_p)(("PyCapsule_New", ctypes.pythonapi))
_capsule_get = ctypes.PYFUNCTYPE(ctypes.c_void_p, ctypes.py_object, ctypes.c_char_p)(
    ("PyCapsule_GetPointer", ctypes.pythonapi))
_capsule_set_name = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.py_object, ctypes.c_char_p)(
    ("PyCapsule_SetName", ctypes.pythonapi))
# The destructor runs while the capsule is being freed: it takes the raw
# pointer (a py_object argument would resurrect the dying capsule).
_capsule_is_valid_raw = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p)(
    ("PyCapsule_IsValid", ctypes.pythonapi))
_capsule_get_raw = ctypes.PYFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, ctypes.c_char_p)(
    ("PyCapsule_GetPointer", ctypes.pythonapi))


class _DLManagedTensorHead(ctypes.Structure):
    """DLManagedTensor up to its deleter: DLTensor (data, device, ndim,
    dtype, shape, strides, byte_offset), manager_ctx, deleter."""
    _fields_ = [("data", ctypes.c_void_p), ("device_type", ctypes.c_int32),
                ("device_id", ctypes.c_int32), ("ndim", ctypes.c_int32),
                ("dtype_code", ctypes.c_uint8), ("dtype_bits", ctypes.c_uint8),
                ("dtype_lanes", ctypes.c_uint16), ("shape", ctypes.c_void_p),
                ("strides", ctypes.c_void_p), ("byte_offset", ctypes.c_uint64),
                ("manager_ctx", ctypes.c_void_p),
                ("deleter", ctypes.CFUNCTYPE(None, ctypes.c_void_p))]


@ctypes.PYFUNCTYPE(None, ctypes.c_void_p)
def _capsule_destructor(capsule: Optional[int]) -> None:
    """An export nobody consumed: its DLManagedTensor is freed here."""
    if _capsule_is_valid_raw(capsule, _DLTENSOR):
        managed = _capsule_get_raw(capsule, _DLTENSOR)
        head = _DLManagedTensorHead.from_address(managed)
        if head.deleter:
            head.deleter(managed)


_CAPSULE_DESTRUCTOR = ctypes.cast(_capsule_destructor, ctypes.c_void_p)
