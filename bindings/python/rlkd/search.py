"""The RL pruning search from Python: rlkd_search over your own environment.

A caller with their own trainer describes the prunable layers and gives two
functions, the MACs of a policy and its score; the C library's DDPG agent
does the rest (see docs/search.md):

    import rlkd.search
    layers = [rlkd.search.Layer(channels=64, in_channels=3, kernel=3, macs=...)]
    def cost(keep): return sum(...)            # MACs of the kept counts
    def score(keep, ratios): return accuracy   # higher is better
    with rlkd.search.Search(layers, cost, score, episodes=300,
                            macs_fraction=0.4) as s:
        s.run()
        keep, reward, score, macs = s.best()

An exception raised by cost or score stops the run and is raised again by
run().
"""
from __future__ import annotations

import ctypes
import types
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from ._core import CallbackErrors, Handle
from ._ffi import (SEARCH_COST_FN, SEARCH_PROGRESS_FN, SEARCH_SCORE_FN, NetEnvOptions,
                   SearchEpisode, SearchLayer, SearchOptions, fill, initialized, lib)
from .train import ENUMS

if TYPE_CHECKING:
    from ._core import PathLike
    from .comm import Comm
    from .data import Loader
    from .net import Net

#: cost(keep) -> the MACs of the kept channel counts.
CostFn = Callable[[List[int]], int]
#: score(keep, ratios) -> a score, or (score, accuracy); higher is better.
ScoreFn = Callable[[List[int], List[float]], Union[float, Tuple[float, float]]]
#: progress(episode): a namespace copy of rlkd_search_episode's fields.
EpisodeFn = Callable[[types.SimpleNamespace], None]

_ERR_INVALID_ARGUMENT = 1


def Layer(**fields: Any) -> ctypes.Structure:
    """An rlkd_search_layer (name, channels, in_channels, kernel, stride,
    kind, params, macs)."""
    layer = initialized(SearchLayer)
    fill(layer, fields)
    return layer


def _episode_copy(e: Any) -> types.SimpleNamespace:
    """The episode as plain Python values (the C struct and its arrays live
    only during the callback)."""
    fields = {name: getattr(e, name) for name, _ in SearchEpisode._fields_
              if name not in ("struct_size", "keep", "ratios")}
    fields["keep"] = [e.keep[i] for i in range(e.layers)]
    fields["ratios"] = [e.ratios[i] for i in range(e.layers)]
    return types.SimpleNamespace(**fields)


class Search(Handle):
    """An rlkd_search over Python callbacks: cost(keep) -> MACs and
    score(keep, ratios) -> float or (score, accuracy); keep is a list of
    kept channel counts, one per layer. progress(episode) runs after every
    episode with a copy of its rlkd_search_episode (episode, warmup, keep,
    ratios, macs, score, accuracy, reward, best_reward, sigma, ...).
    Options are rlkd_search_options' fields; paths are str. close() it, or
    use it in a with-block."""

    def __init__(self, layers: Sequence[ctypes.Structure], cost: CostFn, score: ScoreFn,
                 progress: Optional[EpisodeFn] = None, **options: Any) -> None:
        self.layers = (SearchLayer * len(layers))(*layers)
        self.count = len(layers)
        self._errors = CallbackErrors()
        self.options = _options(options)
        # The callbacks must outlive the search: kept on self.
        stop = _ERR_INVALID_ARGUMENT  # a failed callback's status ends the run
        self._cost = SEARCH_COST_FN(self._errors.wrap(self._call_cost(cost), stop))
        self._score = SEARCH_SCORE_FN(self._errors.wrap(self._call_score(score), stop))
        self._progress = _progress(self.options, progress, self._errors)
        out = ctypes.c_void_p()
        lib.rlkd_search_create(self.layers, self.count, self._cost, self._score, None,
                               ctypes.byref(self.options), ctypes.byref(out))
        self._adopt(out.value, lib.rlkd_search_destroy)

    @staticmethod
    def _call_cost(cost: CostFn) -> Callable[..., None]:
        def body(user, keep, count, macs):
            macs[0] = int(cost([keep[i] for i in range(count)]))
        return body

    @staticmethod
    def _call_score(score: ScoreFn) -> Callable[..., None]:
        def body(user, keep, ratios, count, out_score, out_accuracy):
            got = score([keep[i] for i in range(count)], [ratios[i] for i in range(count)])
            if isinstance(got, tuple):
                out_score[0], out_accuracy[0] = float(got[0]), float(got[1])
            else:
                out_score[0] = float(got)
        return body

    def run(self, episodes: Optional[int] = None) -> None:
        """Runs until `episodes` have run in all (default: the options').
        An exception raised by a callback is raised here."""
        total = self.options.episodes if episodes is None else episodes
        try:
            lib.rlkd_search_run(self.handle, total)
        finally:
            self._errors.raise_pending()

    def episodes(self) -> int:
        count = ctypes.c_int64()
        lib.rlkd_search_episode_count(self.handle, ctypes.byref(count))
        return count.value

    def best(self) -> Tuple[List[int], float, float, int]:
        """(keep counts, reward, score, MACs) of the best policy so far."""
        keep = (ctypes.c_int * self.count)()
        reward, score, macs = ctypes.c_double(), ctypes.c_double(), ctypes.c_int64()
        lib.rlkd_search_best(self.handle, keep, self.count, ctypes.byref(reward),
                             ctypes.byref(score), ctypes.byref(macs))
        return list(keep), reward.value, score.value, macs.value

    def save(self, path: PathLike) -> None:
        lib.rlkd_search_save(self.handle, str(path).encode())

    def resume(self, path: PathLike) -> None:
        lib.rlkd_search_resume(self.handle, str(path).encode())

    def set_comm(self, comm: Optional[Comm]) -> None:
        """Runs the search over a communicator (every rank calls this, then
        run(), alike): rank 0's agent chooses each policy, every rank scores
        it (a network search scores its share of the validation batches),
        rank 0's score counts, and only rank 0 writes files. None: one
        process again."""
        lib.rlkd_search_set_comm(self.handle, None if comm is None else comm.handle)
        self._comm = comm
        if comm is not None:
            comm._serve(self)


class NetSearch(Search):
    """The search over an rlkd network (rlkd_search_create_net): each
    episode masks the network, optionally recalibrates batch norm on
    `recalibration`, and scores it on `validation` (agreement with
    `teacher`'s top-1 weighted by env's teacher_weight). env holds
    rlkd_net_env_options' fields (criterion, recalibrate_batches,
    teacher_weight, max_images); the rest are search options.
    apply_best() leaves the best policy's masks on the network."""

    def __init__(self, net: Net, validation: Loader, teacher: Optional[Net] = None,
                 recalibration: Optional[Loader] = None, progress: Optional[EpisodeFn] = None,
                 env: Optional[Dict[str, Any]] = None, **options: Any) -> None:
        self._errors = CallbackErrors()
        self.options = _options(options)
        self.env = initialized(NetEnvOptions)
        fill(self.env, env or {}, ENUMS)
        self.count = sum(1 for group in net.prune_groups() if group.prunable)
        self._progress = _progress(self.options, progress, self._errors)
        out = ctypes.c_void_p()
        lib.rlkd_search_create_net(net.handle, None if teacher is None else teacher.handle,
                                   validation.handle,
                                   None if recalibration is None else recalibration.handle,
                                   ctypes.byref(self.env), ctypes.byref(self.options),
                                   ctypes.byref(out))
        parents = [p for p in (net, teacher, validation, recalibration) if p is not None]
        self._adopt(out.value, lib.rlkd_search_destroy, parents)

    def apply_best(self) -> None:
        lib.rlkd_search_apply_best(self.handle)


def _options(options: Dict[str, Any]) -> Any:
    struct = initialized(SearchOptions)
    fill(struct, options, ENUMS)
    return struct


def _progress(struct: Any, progress: Optional[EpisodeFn], errors: CallbackErrors) -> Any:
    """Sets struct.progress to call progress(episode copy); returns the
    ctypes callback, which must be kept alive as long as the search."""
    if progress is None:
        return None
    callback = SEARCH_PROGRESS_FN(errors.wrap(
        lambda e, user: progress(_episode_copy(e.contents))))
    struct.progress = callback
    return callback
