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
import ctypes
import types

from . import RlkdError, _library, check

REWARD = {"score": 0, "error_log_macs": 1}
_ERR_INVALID_ARGUMENT = 1


class Layer(ctypes.Structure):
    """rlkd_search_layer; keyword arguments set its fields."""
    _fields_ = [("struct_size", ctypes.c_size_t), ("name", ctypes.c_char_p),
                ("channels", ctypes.c_int), ("in_channels", ctypes.c_int),
                ("kernel", ctypes.c_int), ("stride", ctypes.c_int),
                ("kind", ctypes.c_int), ("params", ctypes.c_int64),
                ("macs", ctypes.c_int64)]

    def __init__(self, **fields):
        super().__init__()
        _library().rlkd_search_layer_init(ctypes.byref(self))
        for key, value in fields.items():
            setattr(self, key, value.encode() if key == "name" else value)


class Episode(ctypes.Structure):
    """rlkd_search_episode, as the progress callback receives it."""
    _fields_ = [("struct_size", ctypes.c_size_t), ("episode", ctypes.c_int64),
                ("episodes", ctypes.c_int64), ("warmup", ctypes.c_int),
                ("layers", ctypes.c_int), ("keep", ctypes.POINTER(ctypes.c_int)),
                ("ratios", ctypes.POINTER(ctypes.c_double)),
                ("macs", ctypes.c_int64), ("macs_before", ctypes.c_int64),
                ("score", ctypes.c_double), ("accuracy", ctypes.c_double),
                ("reward", ctypes.c_double), ("best_reward", ctypes.c_double),
                ("sigma", ctypes.c_double), ("seconds", ctypes.c_double)]


PROGRESS_FN = ctypes.CFUNCTYPE(None, ctypes.POINTER(Episode), ctypes.c_void_p)
COST_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(ctypes.c_int),
                           ctypes.c_int, ctypes.POINTER(ctypes.c_int64))
SCORE_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(ctypes.c_int),
                            ctypes.POINTER(ctypes.c_double), ctypes.c_int,
                            ctypes.POINTER(ctypes.c_double),
                            ctypes.POINTER(ctypes.c_double))


class Options(ctypes.Structure):
    """rlkd_search_options (AMC's defaults from rlkd_search_options_init)."""
    _fields_ = [("struct_size", ctypes.c_size_t), ("macs_fraction", ctypes.c_double),
                ("lbound", ctypes.c_double), ("rbound", ctypes.c_double),
                ("round_to", ctypes.c_int), ("fill_budget", ctypes.c_int),
                ("episodes", ctypes.c_int), ("warmup_episodes", ctypes.c_int),
                ("hidden1", ctypes.c_int), ("hidden2", ctypes.c_int),
                ("actor_lr", ctypes.c_float), ("critic_lr", ctypes.c_float),
                ("tau", ctypes.c_float), ("discount", ctypes.c_float),
                ("buffer_size", ctypes.c_int), ("batch_size", ctypes.c_int),
                ("sigma", ctypes.c_float), ("sigma_decay", ctypes.c_float),
                ("baseline_alpha", ctypes.c_float), ("reward", ctypes.c_int),
                ("reward_scaling", ctypes.c_int), ("seed", ctypes.c_uint64),
                ("log_path", ctypes.c_char_p), ("state_path", ctypes.c_char_p),
                ("save_every", ctypes.c_int), ("policy_path", ctypes.c_char_p),
                ("progress", PROGRESS_FN), ("progress_user", ctypes.c_void_p)]


def _episode_copy(e):
    """The episode as plain Python values (the C struct and its arrays live
    only during the callback)."""
    fields = {name: getattr(e, name) for name, _ in Episode._fields_
              if name not in ("struct_size", "keep", "ratios")}
    fields["keep"] = [e.keep[i] for i in range(e.layers)]
    fields["ratios"] = [e.ratios[i] for i in range(e.layers)]
    return types.SimpleNamespace(**fields)


class Search:
    """An rlkd_search over Python callbacks: cost(keep) -> MACs and
    score(keep, ratios) -> float or (score, accuracy); keep is a list of
    kept channel counts, one per layer. progress(episode) runs after every
    episode with a copy of its rlkd_search_episode (episode, warmup, keep,
    ratios, macs, score, accuracy, reward, best_reward, sigma, ...). Options are rlkd_search_options' fields; paths are
    str. close() it, or use it in a with-block."""

    def __init__(self, layers, cost, score, progress=None, **options):
        library = _library()
        self.layers = (Layer * len(layers))(*layers)
        self.count = len(layers)
        self.error = None
        self.options = Options()
        library.rlkd_search_options_init(ctypes.byref(self.options))
        for key, value in options.items():
            if key == "reward":
                value = REWARD[value]
            elif key.endswith("_path"):
                value = str(value).encode()
            setattr(self.options, key, value)
        # The callbacks must outlive the search: kept on self.
        self._cost = COST_FN(self._call_cost(cost))
        self._score = SCORE_FN(self._call_score(score))
        if progress:
            self._progress = PROGRESS_FN(lambda e, user: progress(_episode_copy(e.contents)))
            self.options.progress = self._progress
        self.handle = ctypes.c_void_p()
        check(library.rlkd_search_create(self.layers, self.count, self._cost, self._score,
                                         None, ctypes.byref(self.options),
                                         ctypes.byref(self.handle)),
              "rlkd_search_create")

    def _guard(self, body):
        """A callback body whose exception is kept for run() to raise."""
        def guarded(*args):
            try:
                body(*args)
                return 0
            except BaseException as error:  # noqa: B036 - re-raised by run()
                self.error = error
                return _ERR_INVALID_ARGUMENT
        return guarded

    def _call_cost(self, cost):
        def body(user, keep, count, macs):
            macs[0] = int(cost([keep[i] for i in range(count)]))
        return self._guard(body)

    def _call_score(self, score):
        def body(user, keep, ratios, count, out_score, out_accuracy):
            got = score([keep[i] for i in range(count)], [ratios[i] for i in range(count)])
            if isinstance(got, tuple):
                out_score[0], out_accuracy[0] = float(got[0]), float(got[1])
            else:
                out_score[0] = float(got)
        return self._guard(body)

    def _checked(self, status, what):
        if self.error is not None:
            error, self.error = self.error, None
            raise error
        check(status, what)

    def run(self, episodes=None):
        """Runs until `episodes` have run in all (default: the options')."""
        total = self.options.episodes if episodes is None else episodes
        self._checked(_library().rlkd_search_run(self.handle, ctypes.c_int64(total)),
                      "rlkd_search_run")

    def episodes(self):
        count = ctypes.c_int64()
        check(_library().rlkd_search_episode_count(self.handle, ctypes.byref(count)),
              "rlkd_search_episode_count")
        return count.value

    def best(self):
        """(keep counts, reward, score, MACs) of the best policy so far."""
        keep = (ctypes.c_int * self.count)()
        reward, score, macs = ctypes.c_double(), ctypes.c_double(), ctypes.c_int64()
        check(_library().rlkd_search_best(self.handle, keep, self.count, ctypes.byref(reward),
                                          ctypes.byref(score), ctypes.byref(macs)),
              "rlkd_search_best")
        return list(keep), reward.value, score.value, macs.value

    def save(self, path):
        check(_library().rlkd_search_save(self.handle, str(path).encode()), "rlkd_search_save")

    def resume(self, path):
        check(_library().rlkd_search_resume(self.handle, str(path).encode()),
              "rlkd_search_resume")

    def close(self):
        if self.handle:
            _library().rlkd_search_destroy(self.handle)
            self.handle = ctypes.c_void_p()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


__all__ = ["Layer", "Episode", "Options", "Search", "RlkdError"]
