"""rlkd for Python: RL pruning and knowledge distillation of CNNs, over the
C library (librlkd.so) through ctypes; no compiled extension.

    import rlkd
    with rlkd.Context(seed=1) as ctx:
        teacher = rlkd.Net.load(ctx, "teacher.safetensors")
        student = rlkd.Net.zoo(ctx, "vgg_small", num_classes=10, in_channels=1,
                               in_height=28, in_width=28)
        train = rlkd.Loader(ctx, rlkd.Dataset.load_idx(images, labels), batch_size=128,
                            shuffle=True)
        rlkd.distill(student, teacher, train, epochs=5)
        x = rlkd.Tensor(ctx, numpy_images)     # or rlkd.from_dlpack(torch_tensor, ctx)
        logits = student(x).numpy()

Every failing call raises rlkd.Error (its status and the library's
message). Objects are freed by close() or a with-block (a context closes
everything made on it), and by the garbage collector otherwise.

Modules: rlkd.ops (L1 ops as functions), rlkd.search (the RL search over
your own environment or an rlkd network), rlkd.comm (several processes:
data-parallel training and the parallel search), rlkd.export (to PyTorch
and ONNX), rlkd.safetensors (weights files with NumPy alone).
"""
from __future__ import annotations

from typing import Set

from . import ops
from ._core import (DEVICE_CPU, DEVICE_CUDA, F32, I32, Context, Handle, Tensor,
                    from_dlpack)
from ._ffi import ABI_MAJOR, Error, lib
from .comm import Comm
from .data import Dataset, Loader
from .net import Group, Layer, Net, zoo_names
from .train import Optimizer, Schedule, Trainer, compress, distill, evaluate

__version__ = "0.1.0"

FEATURES = {"openmp": 1, "blas": 2, "cuda": 4, "nvjpeg": 8, "cudnn": 16, "nccl": 32}


def version() -> str:
    """The loaded library's version string, e.g. "0.1.0"."""
    return lib.rlkd_version_string().decode()


def library_path() -> str:
    """The librlkd the package loaded."""
    return lib.path


def features() -> Set[str]:
    """The optional parts the library was built with: a set of "openmp",
    "blas", "cuda", "nvjpeg", "cudnn", "nccl"."""
    bits = lib.rlkd_build_features()
    return {name for name, bit in FEATURES.items() if bits & bit}


__all__ = ["ABI_MAJOR", "DEVICE_CPU", "DEVICE_CUDA", "F32", "I32", "Comm", "Context", "Dataset",
           "Error", "Group", "Handle", "Layer", "Loader", "Net", "Optimizer", "Schedule",
           "Tensor", "Trainer", "compress", "distill", "evaluate", "features",
           "from_dlpack", "library_path", "ops", "version", "zoo_names"]
