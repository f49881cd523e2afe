"""Dynamic sparse training: densities, the drop schedule, RigL's and SET's drop-and-grow, and trained runs' masks."""

import numpy as np
import pytest

from sparana_cli.analysis.dynamic_sparse import Rewirer, drop_and_grow, drop_fraction, initial_masks, layer_densities, live_count
from sparana_cli.engine.network import Network
from sparana_cli.engine.training import Trainer
from sparana_cli.errors import UserError
from sparana_cli.phases.train import train
from sparana_cli.spec import SparseSpec, TrainSpec, spec_from_mapping
from sparana_cli.store import runs
from sparana_cli.ui import Console
from tests.conftest import tiny_spec

SHAPES = [(784, 300), (300, 100), (100, 10)]


def test_erk_densities_hold_the_target_share_and_favour_small_layers():
    d = layer_densities(SHAPES, 0.05, "erk")
    sizes = [a * b for a, b in SHAPES]
    assert sum(di * s for di, s in zip(d, sizes)) == pytest.approx(0.05 * sum(sizes))
    assert d[0] < d[1] < d[2] <= 1.0
    ratio = [di * a * b / (a + b) for di, (a, b) in zip(d, SHAPES)]  # d proportional to (n_in + n_out)/(n_in n_out)
    assert ratio[0] == pytest.approx(ratio[1])


def test_erk_makes_a_layer_dense_that_would_exceed_one_and_spreads_the_rest():
    d = layer_densities(SHAPES, 0.2, "erk")
    sizes = [a * b for a, b in SHAPES]
    assert d[2] == 1.0 and all(x < 1 for x in d[:2])
    assert sum(di * s for di, s in zip(d, sizes)) == pytest.approx(0.2 * sum(sizes))


def test_uniform_and_given_densities():
    assert layer_densities(SHAPES, 0.1, "uniform") == [0.1] * 3
    assert layer_densities(SHAPES, 0.1, "erk", [0.2, 0.3, 1.0]) == [0.2, 0.3, 1.0]
    with pytest.raises(UserError, match="train.sparse.densities"):
        layer_densities(SHAPES, 0.1, "erk", [0.2])


def test_initial_masks_hold_exactly_the_density_and_depend_on_the_seed():
    masks = initial_masks(SHAPES, [0.1, 0.2, 1.0], seed=4)
    assert [int(m.sum()) for m in masks] == [live_count(0.1, 784 * 300), 6000, 1000]
    again, other = initial_masks(SHAPES, [0.1, 0.2, 1.0], seed=4), initial_masks(SHAPES, [0.1, 0.2, 1.0], seed=5)
    assert all(np.array_equal(a, b) for a, b in zip(masks, again))
    assert not np.array_equal(masks[0], other[0])


def test_drop_fraction_decays_by_a_cosine_to_zero_at_t_end():
    assert drop_fraction(0, 0.3, 100) == pytest.approx(0.3)
    assert drop_fraction(50, 0.3, 100) == pytest.approx(0.15)
    assert drop_fraction(100, 0.3, 100) == pytest.approx(0.0)


def test_rigl_drops_the_smallest_and_grows_the_largest_gradients_among_the_inactive():
    rng = np.random.default_rng(0)
    mask = rng.random((20, 15)) < 0.3
    w = (rng.standard_normal((20, 15)) * mask).astype(np.float32)
    grad = rng.standard_normal((20, 15)).astype(np.float32)
    k = 7
    kept, new = drop_and_grow(w, mask, np.abs(grad), k)
    live = np.flatnonzero(mask)
    smallest = live[np.argsort(np.abs(w.ravel()[live]), kind="stable")[:k]]
    assert set(np.flatnonzero(mask & ~kept)) == set(smallest)
    candidates = np.flatnonzero(~kept)
    largest = candidates[np.argsort(-np.abs(grad.ravel()[candidates]), kind="stable")[:k]]
    assert set(np.flatnonzero(new & ~kept)) == set(largest)
    assert new.sum() == mask.sum()


def _net_with_masks(seed=0):
    net = Network.xavier([12, 9, 4], seed=seed)
    net.masks = initial_masks([w.shape for w in net.weights], [0.3, 0.5], seed)
    net.apply_masks()
    return net


def test_a_rigl_step_keeps_each_layers_count_zeroes_grown_weights_and_their_optimizer_state():
    net = _net_with_masks()
    cfg = SparseSpec(method="rigl", update_every=1, drop_fraction=0.5, end_fraction=1.0)
    trainer = Trainer(net, TrainSpec(batch_size=8, lr=0.01), loss="quadratic", seed=0,
                      rewirer=Rewirer(cfg, [0.3, 0.5], total_steps=100, seed=0))
    x = np.random.default_rng(1).random((8, 12), dtype=np.float32)
    y = np.arange(8) % 4
    counts = [int(m.sum()) for m in net.masks]
    before = [m.copy() for m in net.masks]
    trainer.load_batch(x, np.arange(8))
    trainer.step(8, y)
    assert [int(m.sum()) for m in net.masks] == counts
    assert any(not np.array_equal(a, b) for a, b in zip(before, net.masks))
    for w, m in zip(net.weights, net.masks):
        assert not np.any(w[~m])
    # Adam's moments of the weights just grown were zeroed before this step: one step gives m = (1 - beta1) g
    m0 = trainer.optimizer.m[0]
    grown = net.masks[0] & ~before[0]
    np.testing.assert_allclose(m0[grown], 0.1 * trainer.grads[0][grown], rtol=1e-5, atol=1e-7)


def test_a_training_step_regrows_where_the_dense_gradient_of_its_batch_is_largest():
    """RigL inside Trainer.step: the growth scores are the batch's gradient of every weight, inactive ones included
    (the gradient before the masks zero it), taken at the masked network's weights."""
    net = _net_with_masks(seed=1)
    x = np.random.default_rng(2).random((8, 12), dtype=np.float32)
    y = np.arange(8) % 4
    dense = net.copy()
    dense.masks = [np.ones_like(m) for m in net.masks]
    probe = Trainer(dense, TrainSpec(batch_size=8, lr=0.01), loss="quadratic", seed=0)
    probe.load_batch(x, np.arange(8))
    probe.compute_gradients(8, y)
    dense_grads = [g.copy() for g in probe.ws.grad_w]
    assert all(np.any(g[~m] != 0) for g, m in zip(dense_grads, net.masks))
    cfg = SparseSpec(method="rigl", update_every=1, drop_fraction=0.5, end_fraction=1.0)
    rewirer = Rewirer(cfg, [0.3, 0.5], total_steps=100, seed=0)
    before_w, before_m = [w.copy() for w in net.weights], [m.copy() for m in net.masks]
    trainer = Trainer(net, TrainSpec(batch_size=8, lr=0.01), loss="quadratic", seed=0, rewirer=rewirer)
    trainer.load_batch(x, np.arange(8))
    trainer.step(8, y)
    for i, (w, m, g) in enumerate(zip(before_w, before_m, dense_grads)):
        k = int(np.floor(drop_fraction(1, 0.5, rewirer.t_end) * int(m.sum())))
        assert k > 0
        expected = drop_and_grow(w, m, np.abs(g), k)[1]
        assert np.array_equal(net.masks[i], expected), i


def test_set_grows_at_random_reproducibly_and_rigl_differs():
    cfg = SparseSpec(method="set", update_every=1, drop_fraction=0.4, end_fraction=1.0)
    net, other = _net_with_masks(), _net_with_masks()
    grads = [np.ones_like(w) for w in net.weights]
    a = Rewirer(cfg, [0.3, 0.5], 50, seed=2).new_masks(3, net, grads)
    b = Rewirer(cfg, [0.3, 0.5], 50, seed=2).new_masks(3, other, grads)
    assert all(np.array_equal(a[i], b[i]) for i in a)
    c = Rewirer(cfg, [0.3, 0.5], 50, seed=2).new_masks(4, net, grads)  # another step: other draws
    assert not np.array_equal(a[0], c[0])


def test_updates_come_every_delta_t_steps_until_t_end():
    r = Rewirer(SparseSpec(method="rigl", update_every=10, end_fraction=0.5), [0.1], total_steps=100, seed=0)
    assert [t for t in range(1, 101) if r.due(t)] == [10, 20, 30, 40]
    static = Rewirer(SparseSpec(method="static"), [0.1], total_steps=100, seed=0)
    assert not any(static.due(t) for t in range(1, 101))


@pytest.mark.parametrize("method", ["static", "set", "rigl"])
def test_a_sparse_run_keeps_each_layers_density_and_only_dynamic_methods_move_the_mask(method, idx_folder, tmp_path):
    sparse = {"method": method, "density": 0.2, "distribution": "uniform", "update_every": 4}
    spec = spec_from_mapping(tiny_spec(idx_folder, train={"sparse": sparse}), "s")
    summary = train(spec, root=tmp_path, console=Console(json_mode=True))
    net = runs.load_model(summary["run"])[0]
    start = initial_masks([w.shape for w in net.weights], [0.2] * 3, spec.seed)
    assert [int(m.sum()) for m in net.masks] == [int(m.sum()) for m in start]
    moved = any(not np.array_equal(a, b) for a, b in zip(start, net.masks))
    assert moved == (method != "static")


def test_sparse_training_with_a_trainable_subset_is_refused(idx_folder):
    with pytest.raises(UserError, match="sparse.method"):
        spec_from_mapping(tiny_spec(idx_folder, train={"sparse": {"method": "rigl"},
                                                        "trainable": {"method": "maav"}}), "s")


def test_erk_caps_layers_at_dense_until_none_exceeds_one():
    """At 10.95%, making the 10x10 layer dense lifts eps enough that the 100x100 layer exceeds 1 too: a second pass."""
    shapes = [(1000, 1000), (100, 100), (10, 10)]
    sizes = [a * b for a, b in shapes]
    first_eps = 0.1095 * sum(sizes) / sum((a + b) for a, b in shapes)
    assert first_eps * 0.02 < 1.0 < first_eps * 0.2  # only the smallest layer is over at first
    d = layer_densities(shapes, 0.1095, "erk")
    assert d[1:] == [1.0, 1.0] and 0 < d[0] < 1
    assert sum(di * s for di, s in zip(d, sizes)) == pytest.approx(0.1095 * sum(sizes))


def test_a_densities_list_of_the_wrong_length_is_refused_naming_both_counts():
    with pytest.raises(UserError) as refused:
        layer_densities(SHAPES, 0.1, "erk", [0.2, 0.3])
    assert str(refused.value) == "train.sparse.densities: 2 values for 3 weight matrices"


def test_a_layer_keeps_at_least_one_weight_and_dense_layers_are_never_rewired():
    assert live_count(1e-9, 100) == 1 and live_count(0.5, 100) == 50 and live_count(1.0, 100) == 100
    rewirer = Rewirer(SparseSpec(method="set"), [0.1, 1.0, 0.5], total_steps=100, seed=0)
    assert rewirer.layers == [0, 2]


def test_updates_stop_before_t_end_even_for_the_shortest_runs():
    def due(total):
        r = Rewirer(SparseSpec(method="set", update_every=1, end_fraction=0.75), [0.1], total_steps=total, seed=0)
        return [t for t in range(1, total + 1) if r.due(t)]

    assert due(1) == [] and due(4) == [1, 2]  # T_end = max(1, floor(0.75 x steps))
