"""Training, distillation, evaluation (L3) and the whole compression
pipeline (L4's rlkd_compress)."""
from __future__ import annotations

import ctypes
import types
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional, Tuple

from ._core import CallbackErrors, Handle
from ._ffi import (COMPRESS_STAGE_FN, PROGRESS_FN, CompressOptions, CompressReport,
                   OptimizerOptions, ParallelOptions, Schedule as _ScheduleStruct,
                   TrainerOptions, fill, initialized, lib)
from .net import CRITERION, Net

if TYPE_CHECKING:
    from ._core import Context, PathLike, Tensor
    from .comm import Comm
    from .data import Loader

#: A progress callback: called with a namespace of rlkd_progress's fields.
ProgressFn = Callable[[types.SimpleNamespace], None]
#: A compress stage callback: stage(name, starting).
StageFn = Callable[[str, bool], None]

OPTIMIZER = {"sgd": 0, "adam": 1, "adamw": 2}
SCHEDULE = {"constant": 0, "step": 1, "multistep": 2, "cosine": 3}
METHOD = {"rlkd": 0, "amc": 1, "uniform": 2, "sfp": 3}
STAGES = ("distill", "search", "finetune", "compact", "evaluate")
REWARD = {"score": 0, "error_log_macs": 1}
#: Option names that take names rather than numbers, wherever they appear.
ENUMS = {"OptimizerOptions.kind": OPTIMIZER, "Schedule.kind": SCHEDULE, "method": METHOD,
         "criterion": CRITERION, "reward": REWARD}


def _as_namespace(struct: Any) -> types.SimpleNamespace:
    return types.SimpleNamespace(**{name: getattr(struct, name) for name, _ in struct._fields_
                                    if name != "struct_size"})


class Optimizer(Handle):
    """SGD, Adam or AdamW over a network's parameters; options are
    rlkd_optimizer_options' fields (momentum, nesterov, weight_decay,
    no_decay_bn_bias, beta1, beta2, eps)."""

    context: Context

    def __init__(self, net: Net, kind: str = "sgd", **options: Any) -> None:
        self.options = initialized(OptimizerOptions)
        fill(self.options, dict(options, kind=kind), ENUMS)
        out = ctypes.c_void_p()
        lib.rlkd_optimizer_create(net.handle, ctypes.byref(self.options), ctypes.byref(out))
        self.context = net.context
        self._adopt(out.value, lib.rlkd_optimizer_destroy, (net,))

    def step(self, lr: float) -> None:
        """Updates the parameters from their gradients."""
        lib.rlkd_optimizer_step(self.handle, lr)

    @property
    def step_count(self) -> int:
        steps = ctypes.c_int64()
        lib.rlkd_optimizer_step_count(self.handle, ctypes.byref(steps))
        return steps.value


class Schedule:
    """A learning-rate schedule (constant, step, multistep, cosine), with
    rlkd_schedule's fields as options (base_lr, final_lr, gamma,
    step_epochs, milestones, warmup_epochs, total_epochs)."""

    def __init__(self, kind: str = "cosine", **options: Any) -> None:
        self.struct = initialized(_ScheduleStruct)
        if "milestones" in options:
            options = dict(options, milestone_count=len(options["milestones"]))
        fill(self.struct, dict(options, kind=kind), ENUMS)

    def lr(self, epoch: float) -> float:
        """The rate at a fractional epoch."""
        lr = ctypes.c_float()
        lib.rlkd_schedule_lr(ctypes.byref(self.struct), epoch, ctypes.byref(lr))
        return lr.value


def _trainer_options(progress: Optional[ProgressFn], errors: CallbackErrors,
                     options: Dict[str, Any]) -> Tuple[Any, Any]:
    """rlkd_trainer_options from keyword options (nested dicts for
    optimizer and schedule); progress(report) gets a namespace."""
    struct = initialized(TrainerOptions)
    if "at_pairs" in options:
        options = dict(options, at_pair_count=len(options["at_pairs"]))
    fill(struct, options, ENUMS)
    callback = None
    if progress is not None:
        callback = PROGRESS_FN(errors.wrap(lambda report, user:
                                           progress(_as_namespace(report.contents))))
        struct.progress = callback
    return struct, callback


class Trainer(Handle):
    """Trains a student, distilling from a teacher when one is given.

    Options are rlkd_trainer_options' fields: epochs, optimizer={kind,
    momentum, weight_decay, ...}, schedule={kind, base_lr, total_epochs,
    ...}, label_smoothing, kd_alpha, kd_temperature, at_beta, at_pairs
    [(student node, teacher node)], checkpoint_path, progress_every,
    sfp_keep_fraction, bn_l1. progress(report) is called every
    progress_every steps and after each validation with a namespace of
    rlkd_progress's fields (epoch, step, loss, accuracy, lr, eta_seconds...).

        with rlkd.Trainer(student, teacher, epochs=10,
                          schedule={"kind": "cosine", "base_lr": 0.05}) as trainer:
            trainer.fit(train_loader, validation_loader)
    """

    context: Context

    def __init__(self, student: Net, teacher: Optional[Net] = None,
                 progress: Optional[ProgressFn] = None, **options: Any) -> None:
        self._errors = CallbackErrors()
        self.options, self._progress = _trainer_options(progress, self._errors, options)
        out = ctypes.c_void_p()
        lib.rlkd_trainer_create(student.handle, None if teacher is None else teacher.handle,
                                ctypes.byref(self.options), ctypes.byref(out))
        self.context = student.context
        parents = (student,) if teacher is None else (student, teacher)
        self._adopt(out.value, lib.rlkd_trainer_destroy, parents)

    def fit(self, train: Loader, validation: Optional[Loader] = None) -> None:
        """Trains from the trainer's position to the last epoch, evaluating on
        `validation` after every epoch when given. An exception raised by the
        progress callback is raised here when the C call returns."""
        try:
            lib.rlkd_trainer_fit(self.handle, train.handle,
                                 None if validation is None else validation.handle)
        finally:
            self._errors.raise_pending()

    def step(self, images: Tensor, labels: Tensor, steps_per_epoch: int) -> Tuple[float, int]:
        """One step of your own loop -> (loss, correct top-1 in the batch)."""
        loss, correct = ctypes.c_float(), ctypes.c_int64()
        lib.rlkd_trainer_step(self.handle, images.handle, labels.handle, steps_per_epoch,
                              ctypes.byref(loss), ctypes.byref(correct))
        return loss.value, correct.value

    @property
    def position(self) -> Tuple[int, int]:
        """(epoch, step) the next step trains."""
        epoch, step = ctypes.c_int64(), ctypes.c_int64()
        lib.rlkd_trainer_position(self.handle, ctypes.byref(epoch), ctypes.byref(step))
        return epoch.value, step.value

    def save(self, path: PathLike) -> None:
        """A checkpoint to resume from (weights, optimiser, position)."""
        lib.rlkd_trainer_save(self.handle, str(path).encode())

    def resume(self, path: PathLike) -> None:
        lib.rlkd_trainer_resume(self.handle, str(path).encode())

    def set_comm(self, comm: Optional[Comm], sync_batchnorm: bool = False,
                 bucket_bytes: Optional[int] = None) -> None:
        """Trains data-parallel over a communicator (every rank calls this,
        with the same networks and loaders): rank 0's weights go to every
        rank, each rank computes on its rows of every batch, gradients are
        summed, only rank 0 writes checkpoints. sync_batchnorm: batch norm
        over the whole batch of all ranks. None: one process again."""
        options = initialized(ParallelOptions)
        options.sync_batchnorm = int(sync_batchnorm)
        if bucket_bytes is not None:
            options.bucket_bytes = bucket_bytes
        lib.rlkd_trainer_set_comm(self.handle, None if comm is None else comm.handle,
                                  ctypes.byref(options))
        self._comm = comm
        if comm is not None:
            comm._serve(self)


def evaluate(net: Net, loader: Loader) -> Tuple[float, float, float]:
    """(top-1, top-5, mean cross-entropy) of a network over a loader's epoch 0."""
    top1, top5, loss = ctypes.c_double(), ctypes.c_double(), ctypes.c_double()
    lib.rlkd_evaluate(net.handle, loader.handle, ctypes.byref(top1), ctypes.byref(top5),
                      ctypes.byref(loss))
    return top1.value, top5.value, loss.value


def distill(student: Net, teacher: Net, train: Loader, validation: Optional[Loader] = None,
            progress: Optional[ProgressFn] = None,
            **options: Any) -> Optional[Tuple[float, float, float]]:
    """Trains `student` against `teacher` (Hinton's loss; options as
    Trainer's) and returns evaluate(student, validation) when validation is
    given, else None."""
    with Trainer(student, teacher, progress, **options) as trainer:
        trainer.fit(train, validation)
    return None if validation is None else evaluate(student, validation)


def compress(student: Net, teacher: Optional[Net], train: Loader, validation: Loader,
             test: Loader, method: str = "rlkd", stage: Optional[StageFn] = None,
             comm: Optional[Comm] = None, sync_batchnorm: bool = False,
             **options: Any) -> Tuple[Net, types.SimpleNamespace]:
    """The whole pipeline (rlkd_compress): distil, search, fine-tune with
    masks, compact, evaluate. Returns (the compacted network, a report
    namespace: student_top1, top1, top5, params/macs before and after,
    search_reward, kept_fraction, episodes, seconds {stage: s}).

    Options are rlkd_compress_options' fields: distill_epochs,
    finetune_epochs, distill_lr, finetune_lr, train={trainer options},
    search={search options, e.g. macs_fraction, episodes}, env={criterion,
    recalibrate_batches, teacher_weight, max_images}, rlkd_defaults,
    criterion. stage(name, starting) is told when each stage starts and ends.
    teacher may be None for the methods without distillation. With comm
    every rank calls this alike: the trainings run data-parallel
    (sync_batchnorm as in Trainer.set_comm), the search in parallel, and
    every rank gets the same network and report.
    """
    errors = CallbackErrors()
    struct = initialized(CompressOptions)
    fill(struct, dict(options, method=method), ENUMS)
    if stage is not None:
        callback = COMPRESS_STAGE_FN(errors.wrap(
            lambda index, starting, user: stage(STAGES[index], bool(starting))))
        struct.stage = callback
    parallel = initialized(ParallelOptions)
    if comm is not None:
        parallel.sync_batchnorm = int(sync_batchnorm)
        struct.comm = comm.handle
        struct.parallel = ctypes.cast(ctypes.byref(parallel), ctypes.c_void_p)
    report = CompressReport(struct_size=ctypes.sizeof(CompressReport))
    out = ctypes.c_void_p()
    try:
        lib.rlkd_compress(student.handle, None if teacher is None else teacher.handle,
                          train.handle, validation.handle, test.handle, ctypes.byref(struct),
                          ctypes.byref(out), ctypes.byref(report))
    finally:
        errors.raise_pending()
    summary = _as_namespace(report)
    summary.seconds = dict(zip(STAGES, report.seconds))
    return Net._from_handle(student.context, out.value), summary
