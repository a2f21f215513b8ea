"""The search's Python bindings: the structs match the C library's, a search
over Python callbacks runs and meets its budget, an exception in a
callback comes back from run(), and save/resume works. Prints PASS/FAIL
lines for tests/run.sh; argument: the library's path."""
import ctypes
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bindings", "python"))
import rlkd  # noqa: E402
import rlkd.search as search  # noqa: E402

failed = 0


def case(name, fn):
    global failed
    try:
        fn()
        print("PASS python/" + name)
    except Exception as error:  # a failed case is reported, not fatal
        failed += 1
        print("FAIL python/%s: %s: %s" % (name, type(error).__name__, error))


CHANNELS = [32, 64, 64, 128]
BEST = [0.9, 0.7, 0.5, 0.3]


def layers():
    return [search.Layer(name="layer%d" % i, channels=c, in_channels=c, kernel=3,
                         macs=100 * c) for i, c in enumerate(CHANNELS)]


def cost(keep):
    return sum(100 * k for k in keep)


def score(keep, ratios):
    return 1.0 - sum((r - b) ** 2 for r, b in zip(ratios, BEST)), sum(ratios) / len(ratios)


def structs_match():
    options = search.Options()
    rlkd._library().rlkd_search_options_init(ctypes.byref(options))
    assert options.struct_size == ctypes.sizeof(search.Options), \
        "rlkd_search_options: C %d, Python %d" % (options.struct_size,
                                                   ctypes.sizeof(search.Options))
    assert options.episodes == 400 and abs(options.macs_fraction - 0.4) < 1e-12
    layer = search.Layer()
    assert layer.struct_size == ctypes.sizeof(search.Layer)


def runs_within_budget():
    seen = []
    with search.Search(layers(), cost, score, progress=seen.append, episodes=12,
                       warmup_episodes=6, hidden1=16, hidden2=16, macs_fraction=0.5,
                       seed=3) as s:
        s.run()
        assert s.episodes() == 12 and len(seen) == 12
        target = int(0.5 * cost(CHANNELS))
        assert all(e.macs <= target for e in seen), [e.macs for e in seen]
        keep, reward, best_score, macs = s.best()
        assert len(keep) == 4 and macs == cost(keep) <= target
        assert all(k % 8 == 0 for k in keep), keep
        assert reward == best_score == max(e.reward for e in seen)


def callback_error_comes_back():
    def broken(keep, ratios):
        raise ValueError("no score today")
    with search.Search(layers(), cost, broken, episodes=4, warmup_episodes=2,
                       hidden1=8, hidden2=8) as s:
        try:
            s.run()
        except ValueError as error:
            assert "no score today" in str(error)
        else:
            raise AssertionError("run() did not raise the callback's error")
        assert s.episodes() == 0


def save_and_resume():
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "search.state")
        options = dict(episodes=10, warmup_episodes=4, hidden1=16, hidden2=16, seed=9)
        with search.Search(layers(), cost, score, **options) as whole:
            whole.run()
            expected = whole.best()
        with search.Search(layers(), cost, score, **options) as first:
            first.run(5)
            first.save(path)
        with search.Search(layers(), cost, score, **options) as second:
            second.resume(path)
            assert second.episodes() == 5
            second.run()
            assert second.best() == expected, (second.best(), expected)
        with search.Search(layers(), cost, score, **dict(options, seed=10)) as other:
            try:
                other.resume(path)
            except rlkd.RlkdError as error:
                assert "other layers or options" in str(error)
            else:
                raise AssertionError("another search's state was accepted")


if len(sys.argv) > 1:
    rlkd.lib = rlkd.load_library(sys.argv[1])
case("search/structs_match", structs_match)
case("search/runs_within_budget", runs_within_budget)
case("search/callback_error_comes_back", callback_error_comes_back)
case("search/save_and_resume", save_and_resume)
sys.exit(1 if failed else 0)
