"""Several processes: a communicator (rlkd_comm) that sums and shares
tensors between the ranks of a run, for data-parallel training
(Trainer.set_comm) and the parallel search (Search.set_comm).

One process per GPU (or several on CPUs), started by scripts/launch.sh or
any launcher that sets RLKD_RANK, RLKD_WORLD_SIZE, RLKD_LOCAL_RANK and
RLKD_RENDEZVOUS::

    ctx = rlkd.Context()
    with rlkd.Comm.from_env(ctx) as comm:
        trainer.set_comm(comm, sync_batchnorm=True)
        trainer.fit(train, validation)      # every rank, the same loader

docs/distributed.md says what is synchronised and what is not.
"""
from __future__ import annotations

import ctypes
from typing import TYPE_CHECKING, Any

from ._core import Handle
from ._ffi import CommOptions, fill, initialized, lib

if TYPE_CHECKING:
    from ._core import Context, Tensor

BACKEND = {"auto": 0, "cpu": 1, "nccl": 2}
REDUCE = {"sum": 0, "mean": 1}
_BACKEND_NAMES = {code: name for name, code in BACKEND.items()}


class Comm(Handle):
    """A communicator on a context: every rank makes one, with its own rank
    and the same world_size and rendezvous (a file path all ranks share, or
    "host:port" of rank 0), and it returns once all have come. Options are
    rlkd_comm_options' fields: rank, world_size, local_rank, rendezvous,
    backend ("auto", "cpu" or "nccl"), timeout_ms. Closing the context
    closes it; close it before the trainers and searches that use it."""

    context: Context

    def __init__(self, context: Context, *, from_env: bool = False, **options: Any) -> None:
        self.options = initialized(CommOptions)
        if from_env:
            lib.rlkd_comm_options_from_env(ctypes.byref(self.options))
        fill(self.options, options, {"backend": BACKEND})
        out = ctypes.c_void_p()
        lib.rlkd_comm_create(context.handle, ctypes.byref(self.options), ctypes.byref(out))
        self.context = context
        self._adopt(out.value, lib.rlkd_comm_destroy, (context,))

    @classmethod
    def from_env(cls, context: Context, **overrides: Any) -> "Comm":
        """The communicator the launcher's environment describes (RLKD_RANK,
        RLKD_WORLD_SIZE, RLKD_RENDEZVOUS, ...), with `overrides` on top."""
        return cls(context, from_env=True, **overrides)

    @property
    def rank(self) -> int:
        return lib.rlkd_comm_rank(self.handle)

    @property
    def world_size(self) -> int:
        return lib.rlkd_comm_world_size(self.handle)

    @property
    def backend(self) -> str:
        """"cpu" (TCP between the processes) or "nccl"."""
        return _BACKEND_NAMES[lib.rlkd_comm_backend_of(self.handle)]

    def all_reduce(self, tensor: Tensor, op: str = "sum") -> None:
        """Sums ("sum") or averages ("mean", float32 only) the tensor over the
        ranks, in place; every rank ends with the same bits."""
        if op not in REDUCE:
            raise ValueError("op: %r is not one of %s" % (op, sorted(REDUCE)))
        lib.rlkd_comm_all_reduce(self.handle, tensor.handle, REDUCE[op])

    def broadcast(self, tensor: Tensor, root: int = 0) -> None:
        """Copies rank `root`'s tensor into every rank's."""
        lib.rlkd_comm_broadcast(self.handle, tensor.handle, root)

    def barrier(self) -> None:
        """Returns when every rank has called it."""
        lib.rlkd_comm_barrier(self.handle)

    def _serve(self, user: Handle) -> None:
        """`user` (a trainer or search) runs over this communicator: closing
        the communicator closes it first, and it keeps the communicator
        alive."""
        self._children.add(user)
