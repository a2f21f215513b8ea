"""rlkd.search: a search over Python callbacks runs and meets its budget, an
exception in a callback comes back from run(), save/resume continues a
run exactly, and the search over an rlkd network drives the library's own
environment."""
import os

import numpy as np
import pytest

import rlkd
import rlkd.search as search


CHANNELS = [32, 64, 64, 128]
BEST = [0.9, 0.7, 0.5, 0.3]


def layers():
    return [search.Layer(name="layer%d" % i, channels=c, in_channels=c, kernel=3,
                         macs=100 * c) for i, c in enumerate(CHANNELS)]


def cost(keep):
    return sum(100 * k for k in keep)


def score(keep, ratios):
    return 1.0 - sum((r - b) ** 2 for r, b in zip(ratios, BEST)), sum(ratios) / len(ratios)


def test_runs_within_budget():
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


def test_callback_error_comes_back():
    def broken(keep, ratios):
        raise ValueError("no score today")
    with search.Search(layers(), cost, broken, episodes=4, warmup_episodes=2,
                       hidden1=8, hidden2=8) as s:
        with pytest.raises(ValueError, match="no score today"):
            s.run()
        assert s.episodes() == 0


def test_save_and_resume(tmp_path):
    path = os.path.join(tmp_path, "search.state")
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
        with pytest.raises(rlkd.Error, match="other layers or options"):
            other.resume(path)


def small_network(ctx):
    """Two 3x3 convolutions over 12x12 images of two classes."""
    net = rlkd.Net(ctx, (1, 12, 12))
    x = net.relu(net.batchnorm2d(net.conv2d(0, 16, 3, padding=1, bias=False, name="c1"),
                                 name="b1"))
    x = net.relu(net.batchnorm2d(net.conv2d(x, 16, 3, padding=1, bias=False, name="c2"),
                                 name="b2"))
    net.linear(net.global_avgpool(x), 2, name="fc")
    return net


def band_images(count, seed):
    """Class 0: a bright top half; class 1: a bright bottom half."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, count)
    images = rng.integers(0, 60, (count, 1, 12, 12)).astype(np.uint8)
    for i, label in enumerate(labels):
        images[i, 0, 6 * label:6 * label + 6] += 180
    return images, labels


def test_net_search_applies_a_policy_within_budget():
    with rlkd.Context(seed=4) as ctx:
        net = small_network(ctx)
        data = rlkd.Dataset.from_numpy(*band_images(64, 1))
        validation = rlkd.Loader(ctx, data, batch_size=32)
        seen = []
        with search.NetSearch(net, validation, progress=seen.append, episodes=6,
                              warmup_episodes=3, hidden1=8, hidden2=8, macs_fraction=0.5,
                              round_to=4, env={"recalibrate_batches": 0}) as s:
            s.run()
            keep, reward, score, macs = s.best()
            assert len(keep) == s.count == 2 and len(seen) == 6
            _, macs_before = net.cost()
            assert macs <= 0.5 * macs_before
            s.apply_best()
            assert [g.kept for g in net.prune_groups() if g.prunable] == keep
            assert net.cost()[1] == macs
