"""train.trainable: a chosen subset of weights trains (SDDMM gradients), everything else stays frozen bit for bit."""

import h5py
import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from sparana_cli.analysis.trainable import choose_trainable, describe_trainable, top_indices
from sparana_cli.cli import main
from sparana_cli.engine.backend import to_host
from sparana_cli.engine.network import Network
from sparana_cli.engine.training import Trainer
from sparana_cli.spec import TrainableSpec, TrainSpec
from tests.conftest import make_images, tiny_spec
from tests.test_gradients import batch, finite_difference, reference_objective, small_net


def data(n=400, seed=1):
    x, y = make_images(n, seed)
    return x.reshape(n, -1).astype(np.float32) / 255, y.astype(np.int64)


def test_top_indices_picks_the_highest_live_scores():
    scores = [np.arange(12.0).reshape(3, 4), np.array([[5.0, 1.0], [3.0, 2.0]])]
    masks = [np.ones((3, 4), bool), np.array([[False, True], [True, True]])]
    masks[0][2, 3] = False  # the best score of layer 0 is masked out
    chosen = top_indices(scores, masks, 0.25)
    assert chosen[0].tolist() == [8, 9, 10]  # round(0.25 * 11 live) = 3, best first: 10, 9, 8
    assert chosen[1].tolist() == [2]  # 1 of 3 live weights: the masked 5.0 is never chosen


def test_top_indices_counts_and_order():
    rng = np.random.default_rng(0)
    scores = [rng.random((30, 20))]
    masks = [rng.random((30, 20)) > 0.5]
    (chosen,) = top_indices(scores, masks, 0.1)
    live = np.flatnonzero(masks[0])
    assert chosen.size == round(0.1 * live.size)
    assert np.all(np.diff(chosen) > 0) and np.all(masks[0].ravel()[chosen])
    rest = np.setdiff1d(live, chosen)
    assert scores[0].ravel()[chosen].min() > scores[0].ravel()[rest].max()
    assert top_indices([np.zeros((2, 2))], [np.ones((2, 2), bool)], 1e-9)[0].size == 1  # at least one per layer


def test_all_trains_every_weight_and_the_line_says_how_many_train():
    net = Network.xavier([40, 30, 20], seed=0)  # 1,200 + 600 weights, 30 + 20 biases
    x, _ = data(20)
    assert choose_trainable(net, TrainableSpec(method="all", fraction=0.5), x[:, :40], seed=0) is None
    assert describe_trainable(net, None) == "all 1,800 weights and 50 biases train"
    chosen = choose_trainable(net, TrainableSpec(method="magnitude", fraction=0.5), x[:, :40], seed=0)
    assert describe_trainable(net, chosen) == \
        "900 of 1,800 weights train (600, 300 per layer); the others and all biases are frozen"


@pytest.mark.parametrize("output, loss", [("linear", "quadratic"), ("softmax", "cross_entropy")])
def test_subset_gradient_is_the_dense_gradient_at_the_chosen_coordinates(output, loss):
    net = small_net(output)
    x, y = batch()
    chosen = top_indices([np.random.default_rng(i).random(w.shape) for i, w in enumerate(net.weights)], net.masks, 0.3)
    cfg = TrainSpec(batch_size=len(y), l1=0.01, l2=0.02)
    dense = Trainer(net, cfg, loss=loss, seed=0)
    subset = Trainer(net, cfg, loss=loss, seed=0, trainable=chosen)
    for trainer in (dense, subset):
        trainer.ws.acts[0][:] = x
        trainer.compute_gradients(len(y), y)
    f = lambda: reference_objective(net, x, y, loss, 0.01, 0.02)  # noqa: E731
    for i, t in enumerate(chosen):
        np.testing.assert_allclose(subset.ws.grad_w[i], dense.ws.grad_w[i].ravel()[t], rtol=1e-12, atol=1e-14)
        for k in t[:5]:
            index = np.unravel_index(k, net.weights[i].shape)
            assert subset.ws.grad_w[i][list(t).index(k)] == pytest.approx(finite_difference(f, net.weights[i], index),
                                                                          rel=1e-5, abs=1e-8)


def subset_trained(backend, method="random", fraction=0.05, seed=0, **train):
    x, y = data()
    net = Network.xavier([36, 20, 16, 10], seed=seed, backend=backend)
    rng = np.random.default_rng(0)
    net.masks[1] = backend.asarray(rng.random((20, 16)) > 0.5)
    net.apply_masks()
    before = [to_host(p).copy() for p in net.weights + net.biases]
    chosen = choose_trainable(net, TrainableSpec(method=method, fraction=fraction), backend.asarray(x), seed=seed)
    trainer = Trainer(net, TrainSpec(batch_size=32, lr=0.01, **train), loss="quadratic", seed=seed, trainable=chosen)
    for epoch in range(2):
        trainer.epoch(backend.asarray(x), backend.asarray(y), epoch)
    return net, before, chosen


@pytest.mark.parametrize("method", ["maav", "magnitude", "random"])
@pytest.mark.parametrize("train", [{}, {"optimizer": "sgd", "momentum": 0.9, "l1": 1e-3, "l2": 1e-3, "clip": 1, "dropout": 0.2}])
def test_frozen_weights_and_biases_stay_bitwise_unchanged(backend, method, train):
    net, before, chosen = subset_trained(backend, method, **train)
    after = [to_host(p) for p in net.weights + net.biases]
    for i, t in enumerate(chosen):
        frozen = np.ones(after[i].size, bool)
        frozen[t] = False
        assert after[i].ravel()[frozen].tobytes() == before[i].ravel()[frozen].tobytes()
        assert np.any(after[i].ravel()[t] != before[i].ravel()[t])  # the chosen ones did train
        assert np.all(to_host(net.masks[i]).ravel()[t])  # never a masked weight
    for b_after, b_before in zip(after[len(chosen):], before[len(chosen):]):
        assert b_after.tobytes() == b_before.tobytes()
    assert np.all(after[1][~to_host(net.masks[1])] == 0.0)


def test_subset_training_is_reproducible():
    from sparana_cli.engine.backend import CPU

    a, _, _ = subset_trained(CPU, "maav", seed=4)
    b, _, _ = subset_trained(CPU, "maav", seed=4)
    assert all(wa.tobytes() == wb.tobytes() for wa, wb in zip(a.weights, b.weights))


def test_train_command_with_trainable_freezes_the_rest(tmp_path, idx_folder, runs_dir):
    spec = tiny_spec(idx_folder, train={"trainable": {"method": "maav", "fraction": 0.1}, "epochs": 2})
    path = tmp_path / "subset.yaml"
    path.write_text(yaml.safe_dump(spec))
    result = CliRunner().invoke(main, ["train", str(path), "--runs-dir", str(runs_dir), "--json"])
    assert result.exit_code == 0, result.output
    initial = Network.xavier([36, 24, 16, 10], seed=spec["seed"])
    (run,) = [p for p in runs_dir.iterdir() if p.is_dir()]
    with h5py.File(run / "model.h5") as f:
        for i, w0 in enumerate(initial.weights):
            changed = np.count_nonzero(f[f"layers/{i}/weights"][()] != w0)
            assert 0 < changed <= round(0.1 * w0.size)
            np.testing.assert_array_equal(f[f"layers/{i}/bias"][()], initial.biases[i])
    assert yaml.safe_load((run / "spec.yaml").read_text())["train"]["trainable"] == {"method": "maav", "fraction": 0.1}
