"""rlkd.Net, rlkd.Dataset/Loader and the training API from Python: the
builder and the zoo, forward and backward against NumPy, weights on disk,
costs, pruning and compaction, data sets, optimisers, schedules, the
trainer (with distillation, checkpoints and progress), the pipeline."""
import gzip
import os
import struct

import numpy as np
import pytest

import rlkd


@pytest.fixture
def ctx():
    with rlkd.Context(seed=5, threads=1) as context:
        yield context


def mlp(ctx):
    """input [2,2,2] -> global average pool -> linear 3 -> relu -> linear 2."""
    net = rlkd.Net(ctx, (2, 2, 2))
    hidden = net.relu(net.linear(net.global_avgpool(0), 3, name="fc1"))
    net.linear(hidden, 2, name="fc2")
    return net


def band_images(count, seed, size=12):
    """Two classes: a bright top half (0) or a bright bottom half (1)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, count)
    images = rng.integers(0, 60, (count, 1, size, size)).astype(np.uint8)
    half = size // 2
    for i, label in enumerate(labels):
        images[i, 0, half * label:half * label + half] += 180
    return images, labels


def conv_net(ctx, width=16):
    net = rlkd.Net(ctx, (1, 12, 12))
    x = net.relu(net.batchnorm2d(net.conv2d(0, width, 3, padding=1, bias=False, name="c1"),
                                 name="b1"))
    x = net.maxpool2d(x, 2)
    x = net.relu(net.batchnorm2d(net.conv2d(x, width, 3, padding=1, bias=False, name="c2"),
                                 name="b2"))
    net.linear(net.global_avgpool(x), 2, name="fc")
    return net


def test_builder_forward_and_backward_match_numpy(ctx):
    net = mlp(ctx)
    params = {name: t.numpy() for name, t in net.parameters().items()}
    x = np.random.default_rng(1).standard_normal((4, 2, 2, 2)).astype(np.float32)
    pooled = x.mean((2, 3))
    pre = pooled @ params["fc1.weight"].T + params["fc1.bias"]
    want = np.maximum(pre, 0) @ params["fc2.weight"].T + params["fc2.bias"]
    out = net(rlkd.Tensor(ctx, x), training=True)  # no batch norm: the same function
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-5, atol=1e-6)
    net.zero_grad()
    dinput = rlkd.Tensor.empty(ctx, x.shape)
    net.backward(rlkd.Tensor(ctx, np.ones((4, 2), np.float32)), dinput)
    grads = {name: t.numpy() for name, t in net.gradients().items()}
    np.testing.assert_allclose(grads["fc2.bias"], [4, 4], rtol=1e-6)
    np.testing.assert_allclose(grads["fc2.weight"], np.tile(np.maximum(pre, 0).sum(0), (2, 1)),
                               rtol=1e-5)
    dpre = (pre > 0) * params["fc2.weight"].sum(0)
    dx = np.repeat(np.repeat((dpre @ params["fc1.weight"] / 4)[:, :, None, None], 2, 2), 2, 3)
    np.testing.assert_allclose(dinput.numpy(), dx, rtol=1e-5, atol=1e-6)


def test_backward_injects_gradients_at_inner_nodes(ctx):
    net = mlp(ctx)
    x = rlkd.Tensor(ctx, np.ones((1, 2, 2, 2), np.float32))
    net(x, training=True)
    hidden = net.node_value(2)
    assert hidden.shape == (1, 3) and net.node_shape(2) == (3, 1, 1)
    net.zero_grad()
    net.backward(rlkd.Tensor.empty(ctx, (1, 2)), node_grads={2: rlkd.Tensor(ctx, np.ones((1, 3)))})
    assert np.abs(net.gradients()["fc1.bias"].numpy()).sum() > 0
    assert not net.gradients()["fc2.bias"].numpy().any()


def test_every_builder_layer(ctx):
    net = rlkd.Net(ctx, (4, 8, 8))
    a = net.conv2d(0, 8, 3, padding=1, name="conv")
    b = net.se(net.relu(net.batchnorm2d(a, name="bn")), reduction=4, name="se")
    c = net.eca(b, name="eca")
    d = net.cbam(c, reduction=4, kernel=3, name="cbam")
    e = net.add(d, a)
    f = net.concat([e, a])
    g = net.avgpool2d(net.maxpool2d(f, 2), 2, count_include_pad=False)
    net.linear(net.dropout(net.global_avgpool(g), 0.5), 3, name="fc")
    assert net.node_count == 14 and net.node_shape(f) == (16, 8, 8)
    kinds = [layer.kind for layer in net.layers()]
    assert kinds[:4] == ["conv2d", "batchnorm2d", "relu", "se"] and "cbam" in kinds
    out = net(rlkd.Tensor(ctx, np.ones((2, 4, 8, 8))))
    assert out.shape == (2, 3) and np.isfinite(out.numpy()).all()
    with pytest.raises(rlkd.Error, match="name"):
        net.conv2d(0, 8, 3, name="conv")  # names are unique


def test_zoo_costs_and_flops(ctx):
    assert {"vgg16_bn", "resnet56", "densenet_bc"} <= set(rlkd.zoo_names())
    net = rlkd.Net.zoo(ctx, "resnet_small", attention="se", num_classes=10, in_channels=1,
                       in_height=28, in_width=28)
    params, macs = net.cost()
    assert params == sum(t.size for t in net.parameters().values())
    assert macs == sum(layer.macs for layer in net.layers()) and net.flops == 2 * macs
    with pytest.raises(TypeError, match="no_such_option"):
        rlkd.Net.zoo(ctx, "resnet_small", no_such_option=1)


def test_save_load_and_state_dict(ctx, tmp_path):
    net = conv_net(ctx)
    path = tmp_path / "net.safetensors"
    net.save(path)
    x = rlkd.Tensor(ctx, band_images(4, 2)[0].astype(np.float32) / 255)
    want = net(x).numpy()
    loaded = rlkd.Net.load(ctx, path)
    np.testing.assert_array_equal(loaded(x).numpy(), want)
    state = loaded.state_dict()
    assert set(state) == set(net.parameters()) | set(net.buffers())
    assert "b1.running_var" in state
    other = conv_net(ctx)
    assert not np.array_equal(other(x).numpy(), want)
    other.load_weights(path)
    np.testing.assert_array_equal(other(x).numpy(), want)
    (tmp_path / "bad.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(rlkd.Error, match="FORMAT"):
        rlkd.Net.load(ctx, tmp_path / "bad.safetensors")


def test_pruning_masks_scores_and_compaction(ctx):
    net = conv_net(ctx)
    groups = net.prune_groups()
    prunable = [g for g in groups if g.prunable]
    assert [g.name for g in prunable] == ["c1", "c2"] and groups[0].refusal
    first = prunable[0].index
    scores = net.prune_scores(first, "l1")
    weight = net.find("c1.weight").numpy()
    np.testing.assert_allclose(scores, np.abs(weight).sum((1, 2, 3)), rtol=1e-5)
    net.prune_keep(first, 4, "l1")
    mask = net.get_mask(first)
    assert mask.sum() == 4 and set(np.argsort(-scores)[:4]) == set(np.flatnonzero(mask))
    keep = np.zeros(16, bool)
    keep[:6] = True
    net.set_mask(first, keep)
    np.testing.assert_array_equal(net.get_mask(first), keep)
    x = rlkd.Tensor(ctx, band_images(4, 3)[0].astype(np.float32) / 255)
    masked = net(x).numpy()
    small = net.compact()
    assert small.prune_group(first).channels == 6
    assert small.cost()[1] < conv_net(ctx).cost()[1]
    np.testing.assert_allclose(small(x).numpy(), masked, rtol=1e-4, atol=1e-5)
    net.prune_clear()
    assert net.get_mask(first).all()
    assert 0 < net.prune_uniform(0.5, "l2") < 1
    net.prune_clear()
    net.prune_soft(0.5, "fpgm")
    assert net.prune_slimming(0.5) >= 0
    net.set_prunable(first, False)
    assert not net.prune_group(first).prunable


def write_idx(path, array, kind):
    magic = {"images": 0x803, "labels": 0x801}[kind]
    with gzip.open(path, "wb") as f:
        f.write(struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape))
        f.write(array.astype(np.uint8).tobytes())


def test_datasets(tmp_path):
    images, labels = band_images(10, 4)
    data = rlkd.Dataset.from_numpy(images, labels)
    assert len(data) == 10 and data.image_shape == (1, 12, 12) and data.classes == 2
    image, label = data[3]
    np.testing.assert_array_equal(image, images[3])
    assert label == labels[3] and data[-1][1] == labels[-1]
    with pytest.raises(IndexError):
        data[10]
    train, validation = data.split(4, seed=1)
    assert len(train) == 6 and len(validation) == 4
    subset = data.subset(2, 5)
    np.testing.assert_array_equal(subset[0][0], images[2])
    write_idx(tmp_path / "images.gz", images[:, 0], "images")
    write_idx(tmp_path / "labels.gz", labels, "labels")
    loaded = rlkd.Dataset.load_idx(tmp_path / "images.gz", tmp_path / "labels.gz")
    np.testing.assert_array_equal(loaded[7][0], images[7])
    record = np.concatenate([[1], np.arange(3072) % 256]).astype(np.uint8)
    (tmp_path / "batch.bin").write_bytes(np.tile(record, 3).tobytes())
    cifar = rlkd.Dataset.load_cifar([tmp_path / "batch.bin"])
    assert len(cifar) == 3 and cifar.image_shape == (3, 32, 32) and cifar[0][1] == 1
    with pytest.raises(ValueError, match="images must be"):
        rlkd.Dataset.from_numpy(images[0], labels)
    with pytest.raises(rlkd.Error, match="IO"):
        rlkd.Dataset.load_idx(tmp_path / "none.gz", tmp_path / "labels.gz")


def test_loader_batches(ctx):
    images, labels = band_images(10, 5)
    data = rlkd.Dataset.from_numpy(images, labels)
    loader = rlkd.Loader(ctx, data, batch_size=4, shuffle=False, mean=[0.5], std=[0.25])
    assert len(loader) == 3
    batches = list((x.numpy(), y.numpy()) for x, y in loader.epoch(0))
    assert [b[0].shape[0] for b in batches] == [4, 4, 2]
    np.testing.assert_allclose(batches[0][0], (images[:4] / 255.0 - 0.5) / 0.25, atol=1e-5)
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), labels)
    assert len(list(loader.epoch(1, first_batch=2))) == 1
    with pytest.raises(TypeError, match="batch_sise"):
        rlkd.Loader(ctx, data, batch_sise=4)


def test_optimizer_and_schedule(ctx):
    net = mlp(ctx)
    optimizer = rlkd.Optimizer(net, "sgd", momentum=0.0, weight_decay=0.0)
    before = net.find("fc2.bias").numpy()
    net.zero_grad()
    net(rlkd.Tensor(ctx, np.ones((1, 2, 2, 2))), training=True)
    net.backward(rlkd.Tensor(ctx, np.ones((1, 2))))
    optimizer.step(0.5)
    np.testing.assert_allclose(net.find("fc2.bias").numpy(), before - 0.5, rtol=1e-6)
    assert optimizer.step_count == 1
    assert rlkd.Optimizer(net, "adamw", beta2=0.99).options.beta2 == pytest.approx(0.99)
    with pytest.raises(ValueError, match="not one of"):
        rlkd.Optimizer(net, "cosine")
    cosine = rlkd.Schedule("cosine", base_lr=0.1, total_epochs=10)
    assert cosine.lr(0) == pytest.approx(0.1) and cosine.lr(5) == pytest.approx(0.05)
    steps = rlkd.Schedule("multistep", base_lr=1.0, gamma=0.1, milestones=[2, 4])
    assert [round(steps.lr(e), 6) for e in (0, 2, 4)] == [1.0, 0.1, 0.01]


def loaders(ctx, count=96):
    train = rlkd.Dataset.from_numpy(*band_images(count, 6))
    test = rlkd.Dataset.from_numpy(*band_images(48, 7))
    return (rlkd.Loader(ctx, train, batch_size=16, shuffle=True, seed=1),
            rlkd.Loader(ctx, test, batch_size=16))


def test_trainer_fits_resumes_and_reports(ctx, tmp_path):
    train, test = loaders(ctx)
    reports = []
    options = dict(epochs=3, schedule={"kind": "constant", "base_lr": 0.05},
                   optimizer={"kind": "sgd", "momentum": 0.9}, progress_every=2)
    net = conv_net(ctx)
    with rlkd.Trainer(net, progress=reports.append, **options) as trainer:
        trainer.fit(train, test)
        assert trainer.position == (3, 0)
        trainer.save(tmp_path / "trainer.ckpt")
    top1, top5, loss = rlkd.evaluate(net, test)
    assert top1 > 0.9 and top5 == 1.0 and loss < 0.5
    assert any(r.evaluating for r in reports) and reports[-1].epoch == 2
    resumed = conv_net(ctx)
    with rlkd.Trainer(resumed, **options) as trainer:
        trainer.resume(tmp_path / "trainer.ckpt")
        assert trainer.position == (3, 0)
    assert rlkd.evaluate(resumed, test)[0] == top1


def test_trainer_step_and_a_failing_progress_callback(ctx):
    train, test = loaders(ctx)
    net = conv_net(ctx)
    with rlkd.Trainer(net, epochs=1, schedule={"kind": "constant", "base_lr": 0.05}) as trainer:
        images, labels = next(train.epoch(0))
        loss, correct = trainer.step(images, labels, len(train))
        assert loss > 0 and 0 <= correct <= 16 and trainer.position == (0, 1)

    def broken(report):
        raise RuntimeError("progress bar fell over")
    with rlkd.Trainer(conv_net(ctx), progress=broken, epochs=1, progress_every=1) as trainer:
        with pytest.raises(RuntimeError, match="fell over"):
            trainer.fit(train)


def test_distill_from_a_teacher(ctx):
    train, test = loaders(ctx)
    teacher = conv_net(ctx, width=16)
    rlkd.Trainer(teacher, epochs=3, schedule={"kind": "constant", "base_lr": 0.05}).fit(train)
    student = conv_net(ctx, width=8)
    top1, _, _ = rlkd.distill(student, teacher, train, test, epochs=3, kd_alpha=0.5,
                              kd_temperature=2.0, at_beta=10.0, at_pairs=[(6, 6)],
                              schedule={"kind": "constant", "base_lr": 0.05})
    assert top1 > 0.85


def test_compress_pipeline(ctx):
    train, test = loaders(ctx)
    teacher = conv_net(ctx)
    rlkd.Trainer(teacher, epochs=2, schedule={"kind": "constant", "base_lr": 0.05}).fit(train)
    student = conv_net(ctx)
    stages = []
    compacted, report = rlkd.compress(
        student, teacher, train, test, test, method="uniform", distill_epochs=1,
        finetune_epochs=1, distill_lr=0.05, finetune_lr=0.02,
        search={"macs_fraction": 0.5}, stage=lambda name, starting: stages.append(
            (name, starting)))
    assert report.macs <= 0.55 * report.macs_before and compacted.cost()[1] == report.macs
    assert ("finetune", True) in stages and ("evaluate", False) in stages
    assert set(report.seconds) == {"distill", "search", "finetune", "compact", "evaluate"}
    assert 0 <= report.top1 <= 1 and os.path.basename(rlkd.library_path())
