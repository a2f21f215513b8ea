"""rlkd.Comm: a communicator of one rank is the identity and plugs into a
trainer and a search; options come from the launcher's environment (and a
missing variable is an rlkd.Error); rlkd.compress takes one; two
processes sum a tensor in rank order and train to the same weights."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import rlkd
import rlkd.search as search
from test_search import CHANNELS, cost, layers, score

PACKAGE = os.path.join(os.path.dirname(__file__), "..", "..", "bindings", "python")


def small_net(ctx):
    net = rlkd.Net(ctx, (1, 6, 6))
    node = net.conv2d(0, 4, 3, padding=1, bias=False, name="conv")
    node = net.batchnorm2d(node, name="bn")
    node = net.global_avgpool(net.relu(node))
    net.linear(node, 3, name="fc")
    return net


def band_loader(ctx, batch=8):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 60, size=(24, 1, 6, 6), dtype=np.uint8)
    labels = np.arange(24) % 3
    for i in range(24):
        images[i, 0, 2 * labels[i]:2 * labels[i] + 2, :] = 250
    data = rlkd.Dataset.from_numpy(images, labels)
    return rlkd.Loader(ctx, data, batch_size=batch, shuffle=True, seed=4)


def test_one_rank_is_the_identity():
    with rlkd.Context() as ctx, rlkd.Comm(ctx) as comm:
        assert (comm.rank, comm.world_size, comm.backend) == (0, 1, "cpu")
        values = np.arange(6, dtype=np.float32)
        t = rlkd.Tensor(ctx, values)
        comm.all_reduce(t)
        comm.all_reduce(t, "mean")
        comm.broadcast(t, 0)
        comm.barrier()
        assert np.array_equal(t.numpy(), values)
        with pytest.raises(rlkd.Error, match="root 1"):
            comm.broadcast(t, 1)
        with pytest.raises(ValueError):
            comm.all_reduce(t, "max")


def test_options_from_the_environment(monkeypatch):
    for name in ("RLKD_RANK", "RLKD_WORLD_SIZE", "RLKD_LOCAL_RANK", "RLKD_RENDEZVOUS"):
        monkeypatch.delenv(name, raising=False)
    with rlkd.Context() as ctx:
        with pytest.raises(rlkd.Error, match="RLKD_WORLD_SIZE is not set") as error:
            rlkd.Comm.from_env(ctx)
        assert error.value.status_name == "INVALID_ARGUMENT"
        monkeypatch.setenv("RLKD_WORLD_SIZE", "1")
        monkeypatch.setenv("RLKD_RANK", "0")
        with rlkd.Comm.from_env(ctx, timeout_ms=5000) as comm:
            assert comm.world_size == 1 and comm.options.timeout_ms == 5000
        with pytest.raises(rlkd.Error, match="CUDA context"):
            rlkd.Comm(ctx, backend="nccl")


def test_trainer_and_search_take_a_communicator():
    with rlkd.Context(seed=1) as ctx, rlkd.Comm(ctx) as comm:
        net = small_net(ctx)
        loader = band_loader(ctx)
        trainer = rlkd.Trainer(net, epochs=1)
        trainer.set_comm(comm, sync_batchnorm=True, bucket_bytes=1024)
        trainer.fit(loader, loader)
        trainer.set_comm(None)
        s = search.Search(layers(), cost, score, episodes=4, warmup_episodes=2,
                          hidden1=8, hidden2=8, macs_fraction=0.5)
        s.set_comm(comm)
        s.run()
        assert s.episodes() == 4
        # Closing the communicator closes what runs over it first.
        comm.close()
        assert trainer.closed and s.closed


def test_compress_takes_a_communicator():
    """One rank: the pipeline over a communicator is the pipeline alone."""
    runs = []
    for over_comm in (False, True):
        with rlkd.Context(seed=1) as ctx, rlkd.Comm(ctx) as comm:
            loader = band_loader(ctx)
            compacted, report = rlkd.compress(
                small_net(ctx), None, loader, loader, loader, method="uniform",
                finetune_epochs=1, search={"macs_fraction": 0.5},
                comm=comm if over_comm else None, sync_batchnorm=True)
            runs.append((list(compacted.state_dict().values()), report.top1))
    (alone, top1_alone), (together, top1) = runs
    assert top1 == top1_alone
    assert all(np.array_equal(a, b) for a, b in zip(alone, together))


RANK_SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    import rlkd
    with rlkd.Context() as ctx, rlkd.Comm.from_env(ctx, timeout_ms=60000) as comm:
        t = rlkd.Tensor(ctx, np.full(5, 0.1 + comm.rank, dtype=np.float32))
        comm.all_reduce(t)
        comm.broadcast(t, 1)
        sys.stdout.write(" ".join(repr(float(v)) for v in t.numpy()))
""")


def test_two_processes(tmp_path):
    """Two ranks as a launcher starts them (this test spawns both)."""
    env = dict(os.environ, RLKD_WORLD_SIZE="2",
               RLKD_RENDEZVOUS=str(tmp_path / "rendezvous"),
               PYTHONPATH=os.pathsep.join([PACKAGE, os.environ.get("PYTHONPATH", "")]))
    ranks = [subprocess.Popen([sys.executable, "-c", RANK_SCRIPT], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=dict(env, RLKD_RANK=str(r)))
             for r in range(2)]
    outputs = [p.communicate(timeout=120) for p in ranks]
    for p, (out, err) in zip(ranks, outputs):
        assert p.returncode == 0, err.decode()
    want = np.float32(0.1) + np.float32(1.1)
    for out, _ in outputs:
        assert [np.float32(v) for v in out.decode().split()] == [want] * 5
