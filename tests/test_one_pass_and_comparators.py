"""One-pass forgetting and the literature comparators on tiny networks where the answer is known."""

import numpy as np
import pytest

from sparana_cli.analysis.forgetting import forward_from, group_rows, select_removals
from sparana_cli.analysis.one_pass import (
    RIDGE,
    all_scores,
    counts_at,
    feature_refit,
    pinned_targets,
    prune_prefix,
    ranked,
    readout_refit,
    resemblance,
    shifted_targets,
    smallest_fraction,
)
from sparana_cli.analysis.projection import input_basis, layer_bases, projected, scaled_projection
from sparana_cli.analysis.retained_tuning import random_other_labels, salient_weights, tuned_copies
from sparana_cli.engine.network import Network
from sparana_cli.spec import TrainSpec
from tests.test_forgetting import TARGET, small


def grouped(net, x, y):
    order, groups = group_rows(y, TARGET)
    return forward_from(net, x[order], 0), y[order], groups


@pytest.mark.parametrize("score", ["probe", "taylor_disc", "taylor", "diff"])
def test_scoring_once_ranks_as_the_stepwise_selection_chooses(score):
    """The top of all_scores' ranking is what select_removals (the fused kernel, or MAAV's) removes in one step."""
    net, x, y = small()
    layers = [0, 1, 2] if score in ("probe", "taylor_disc", "taylor") else [1, 2]
    acts, y_sorted, groups = grouped(net, x, y)
    order = ranked(all_scores(score, net, acts, 0, layers, y_sorted, groups, TARGET))
    counts = {i: 3 for i in layers}
    picks = select_removals(score, net, acts, 0, layers, y_sorted, groups, TARGET, counts)
    for i in layers:
        k = min(3, len(order[i]))
        assert set(np.flatnonzero(picks[i].ravel())) == set(order[i][:k].tolist())
        assert net.masks[i].ravel()[order[i]].all()


def test_prune_prefix_removes_exactly_the_first_counts_and_restores_the_rest():
    net, _, _ = small()
    parent = net.copy()
    order = {1: np.flatnonzero(parent.masks[1].ravel())[::-1]}
    prune_prefix(net, parent, order, {1: 4})
    gone = parent.masks[1] & ~net.masks[1]
    assert set(np.flatnonzero(gone.ravel())) == set(order[1][:4].tolist())
    assert np.all(net.weights[1][~net.masks[1]] == 0)
    prune_prefix(net, parent, order, {1: 1})  # a smaller prefix gives the others back
    assert int((parent.masks[1] & ~net.masks[1]).sum()) == 1
    np.testing.assert_array_equal(net.weights[1][net.masks[1]], parent.weights[1][net.masks[1]])
    assert counts_at(0.5, {1: 10}, {1: np.arange(3)}) == {1: 3}  # never more than the ranking holds
    assert counts_at(0.001, {1: 10}, {1: np.arange(5)}) == {1: 1}  # never fewer than one


@pytest.mark.parametrize("threshold", [0.0007, 0.01, 0.3])
def test_smallest_fraction_finds_a_monotone_threshold_within_the_bisection(threshold):
    calls = []

    def forgets(f):
        calls.append(f)
        return f >= threshold

    found, _ = smallest_fraction(forgets, 0.001, 2.0, 0.5, 6)
    assert threshold <= found <= threshold * 2 ** (1 / 2 ** 5)  # six geometric bisections of a factor 2
    assert len(calls) <= np.ceil(np.log2(max(threshold / 0.001, 1))) + 2 + 6
    assert smallest_fraction(lambda f: False, 0.001, 2.0, 0.05, 3) == (None, 0.05)


def test_readout_refit_solves_least_squares_and_keeps_pruned_output_weights_at_zero():
    rng = np.random.default_rng(1)
    net = Network.xavier([5, 6, 3], seed=1, dtype="float64")
    h = rng.random((200, 6))
    truth_w, truth_b = rng.normal(size=(6, 3)), rng.normal(size=3)
    readout_refit(net, h, h @ truth_w + truth_b)
    np.testing.assert_allclose(net.weights[1], truth_w, atol=5e-2)  # the ridge shrinks a little
    np.testing.assert_allclose(net.biases[1], truth_b, atol=5e-2)
    net.masks[1][2, 0] = False
    readout_refit(net, h, h @ truth_w + truth_b)
    assert net.weights[1][2, 0] == 0 and not np.allclose(net.weights[1][:, 0], truth_w[:, 0], atol=5e-2)
    np.testing.assert_allclose(net.weights[1][:, 1:], truth_w[:, 1:], atol=5e-2)
    x = np.concatenate([h, np.ones((200, 1))], axis=1)  # column 0 alone, on its live inputs, with the documented ridge
    gram = x.T @ x
    gram += RIDGE * np.trace(gram) / gram.shape[0] * np.eye(7)
    keep = [0, 1, 3, 4, 5, 6]
    solved = np.linalg.solve(gram[np.ix_(keep, keep)], (x.T @ (h @ truth_w + truth_b))[keep, 0])
    np.testing.assert_allclose(net.weights[1][keep[:-1], 0], solved[:-1])
    np.testing.assert_allclose(net.biases[1][0], solved[-1])
    pinned = pinned_targets(np.array([[1.0, 5.0, -2.0], [0.5, 0.0, 3.0]]), target=1)
    np.testing.assert_array_equal(pinned[:, 1], [-2.0, 0.0])


def test_resemblance_weighs_the_other_classes_by_the_parents_positive_outputs():
    w = resemblance(np.array([[0.6, 0.3, -0.2, 0.2], [-0.5, 2.0, -1.0, -0.1], [1.5, 0, 0.5, 0]]), target=1)
    np.testing.assert_allclose(w, [[0.75, 0, 0, 0.25], [1 / 3, 0, 1 / 3, 1 / 3], [0.75, 0, 0.25, 0]])  # none positive: uniform


def test_shifted_targets_move_each_class_image_by_its_mixture_less_the_class_mean():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(9, 4))
    groups = {1: slice(0, 3), 0: slice(3, 6), 2: slice(6, 9)}  # target first, as group_rows orders them
    w = np.array([[1.0, 0, 0], [0.5, 0, 0.5], [0, 0, 1.0]])
    t = shifted_targets(z, groups, 1, w, 1.0)
    np.testing.assert_array_equal(t[3:], z[3:])
    mixture = w @ np.stack([z[3:6].mean(0), np.zeros(4), z[6:9].mean(0)])
    np.testing.assert_allclose(t[:3].mean(0), mixture.mean(0))
    np.testing.assert_allclose(t[:3] - z[:3], mixture - z[:3].mean(0))
    np.testing.assert_allclose(shifted_targets(z, groups, 1, w, 0.0), z)
    np.testing.assert_allclose(shifted_targets(z, groups, 1, w, 2.0)[:3] - z[:3], 2 * (t[:3] - z[:3]))


def test_feature_refit_reproduces_an_unpruned_hidden_layer_and_aims_the_class_at_what_it_resembles():
    """Unpruned and shift 0, the least-squares refit of layer 1 gives back the parent's pre-activations; shift 1 moves the
    class's mean pre-activation of layer 1 toward its mixture; pruned weights stay zero; the read-out learns the labels
    with the class's output at 0."""
    rng = np.random.default_rng(3)
    parent = Network.xavier([6, 10, 8, 3], seed=3, dtype="float64")
    y = rng.integers(0, 3, 600)
    x = rng.random((600, 6)) + np.eye(3, 6)[y]  # each class lights its own input
    acts, y_rows, groups = grouped(parent, x, y)
    net = parent.copy()
    feature_refit(net, parent, acts, 0, y_rows, groups, TARGET, 0.0)
    z_parent = acts[1] @ parent.weights[1] + parent.biases[1]
    misfit = acts[1] @ net.weights[1] + net.biases[1] - z_parent
    assert np.linalg.norm(misfit) < 0.02 * np.linalg.norm(z_parent)  # the ridge shrinks a little
    np.testing.assert_allclose(net.weights[0], parent.weights[0])
    retained = y_rows != TARGET
    out = forward_from(net, acts[0], 0)[-1]
    assert abs(out[retained, TARGET]).mean() < 0.2 * abs(out[retained]).max()

    own = groups[TARGET]
    aim = shifted_targets(z_parent, groups, TARGET, resemblance(acts[-1][own], TARGET), 1.0)[own].mean(0)
    net = parent.copy()
    feature_refit(net, parent, acts, 0, y_rows, groups, TARGET, 1.0)
    z_net = acts[1] @ net.weights[1] + net.biases[1]
    assert np.linalg.norm(z_net[own].mean(0) - aim) < 0.5 * np.linalg.norm(z_parent[own].mean(0) - aim)
    net = parent.copy()
    net.masks[1][0, :4] = False
    net.apply_masks()
    feature_refit(net, parent, acts, 0, y_rows, groups, TARGET, 1.0)
    assert not net.weights[1][0, :4].any() and net.weights[1][0, 4:].all()


def test_feature_refit_above_a_first_pruned_layer_other_than_the_input_layer():
    """first = 1: layers 0 and 1 keep the parent's weights, layer 2 is refit to the parent's pre-activations."""
    rng = np.random.default_rng(5)
    parent = Network.xavier([6, 10, 9, 8, 3], seed=5, dtype="float64")
    y = rng.integers(0, 3, 500)
    x = rng.random((500, 6)) + np.eye(3, 6)[y]
    order, groups = group_rows(y, TARGET)
    h = parent.activations(x[order])[1]  # what enters layer 1
    acts = forward_from(parent, h, 1)
    net = parent.copy()
    feature_refit(net, parent, acts, 1, y[order], groups, TARGET, 0.0)
    for i in (0, 1):
        np.testing.assert_array_equal(net.weights[i], parent.weights[i])
    z_parent = acts[1] @ parent.weights[2] + parent.biases[2]
    misfit = acts[1] @ net.weights[2] + net.biases[2] - z_parent
    assert np.linalg.norm(misfit) < 0.02 * np.linalg.norm(z_parent)


def test_projection_importance_is_the_papers_scaled_energy():
    """Rows with singular values 3, 1 along two known axes: energies 1 and 1/9; importance alpha e / ((alpha-1) e + 1)."""
    a = np.array([[3.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    basis, energy = input_basis(a)
    np.testing.assert_allclose(energy, [1.0, 1 / 9])
    np.testing.assert_allclose(np.abs(basis), [[1, 0], [0, 1], [0, 0]], atol=1e-12)
    for alpha, weights in ((1.0, [1.0, 1 / 9]), (10.0, [1.0, (10 / 9) / (9 / 9 + 1)])):
        np.testing.assert_allclose(scaled_projection(basis, energy, alpha), np.diag(weights + [0.0]), atol=1e-12)


def test_projection_removes_a_planted_input_direction_and_keeps_the_retained_inputs():
    """Retained inputs live in coordinates 0-2; the class's add coordinate 3, which nothing else uses: projecting
    removes the first layer's response to coordinate 3 and leaves its response to the retained inputs."""
    rng = np.random.default_rng(0)
    net = Network.xavier([5, 8, 6, 3], seed=0, dtype="float64")
    x_retain = np.zeros((300, 5))
    x_retain[:, :3] = rng.random((300, 3))
    x_forget = x_retain[:100].copy()
    x_forget[:, 3] = 2 + rng.random(100)
    out = projected(net, layer_bases(net, x_forget, x_retain), alpha=1e6)
    planted = np.eye(5)[3]
    assert np.abs(planted @ net.weights[0]).max() > 0.1
    np.testing.assert_allclose(planted @ out.weights[0], 0, atol=1e-4)  # importance 1 - O(1/alpha)
    np.testing.assert_allclose(x_retain @ out.weights[0], x_retain @ net.weights[0], atol=1e-4)
    np.testing.assert_array_equal(out.biases[0], net.biases[0])
    weak = projected(net, layer_bases(net, x_forget, x_retain), alpha=1.0)  # low-energy directions count less
    assert np.abs(planted @ weak.weights[0]).max() > 1e-3


def test_salun_trains_only_the_salient_weights_and_labels_the_class_as_others():
    net, x, y = small(rows=60)
    on = y == TARGET
    chosen = salient_weights(net, x[on], y[on], 0.2, batch=16, loss="quadratic")
    for i, idx in enumerate(chosen):
        assert len(idx) == max(1, round(0.2 * int(net.masks[i].sum())))
    labels = random_other_labels(y[on], TARGET, 3, seed=0)
    assert set(labels.tolist()) <= {0, 2} and len(set(labels.tolist())) == 2
    cfg = TrainSpec(lr=1e-2, batch_size=16)
    (steps, tuned), = tuned_copies(net, x, y, cfg, loss="quadratic", seed=0, stream="t", checkpoints=[5],
                                   trainable=chosen)
    assert steps == 5
    for i, idx in enumerate(chosen):
        moved = np.flatnonzero((tuned.weights[i] != net.weights[i]).ravel())
        assert set(moved.tolist()) <= set(idx.tolist()) and len(moved) > 0
        np.testing.assert_array_equal(tuned.biases[i], net.biases[i])


def test_scoring_rows_take_target_samples_of_the_class_and_samples_of_each_other():
    from sparana_cli.phases.forget import scoring_rows

    y = np.repeat(np.arange(3), [20, 12, 4])
    rows = scoring_rows(y, 1, 3, seed=0, target_samples=5)
    assert np.bincount(y[rows]).tolist() == [3, 5, 3] and (y[rows[:5]] == 1).all()  # the class first
    assert np.bincount(y[scoring_rows(y, 1, 3, seed=0)]).tolist() == [3, 12, 3]  # None: all of the class
    assert np.bincount(y[scoring_rows(y, 1, 3, seed=0, target_samples=50)]).tolist() == [3, 12, 3]


def test_salun_saliency_is_the_magnitude_of_the_mean_gradient_whatever_the_batch():
    """|mean gradient| over the class's rows: equal batches of 5 choose what one batch of all 20 chooses (the mean of
    the batches' squared gradients would not)."""
    net, x, y = small(13, rows=60)
    on = y == TARGET
    x_f, y_f = x[on][:20], y[on][:20]
    whole = salient_weights(net, x_f, y_f, 0.3, batch=20, loss="quadratic")
    for got, want in zip(salient_weights(net, x_f, y_f, 0.3, batch=5, loss="quadratic"), whole):
        np.testing.assert_array_equal(got, want)


def test_comparator_settings_are_the_documented_grids():
    """docs/forgetting-one-pass.md states the grids the comparators choose from on validation."""
    from pathlib import Path

    from sparana_cli.analysis import retained_tuning as rt

    doc = " ".join((Path(__file__).resolve().parents[1] / "docs" / "forgetting-one-pass.md").read_text().split())

    def grid(values, fmt="{:g}"):
        return "{" + ", ".join(fmt.format(v) for v in values) + "}"

    fractions = grid([100 * f for f in rt.SALUN_FRACTIONS], "{:g}%")
    salun = (f"batches of {rt.TUNE_BATCH}, the parent's optimizer; fraction ∈ {fractions}, "
             f"learning rate ∈ {grid(rt.SALUN_LR_SCALES)} × the spec's, steps ∈ {grid(rt.SALUN_STEPS)}")
    finetune = f"learning rate ∈ {grid(rt.FINETUNE_LR_SCALES)} × the spec's and steps ∈ {grid(rt.FINETUNE_STEPS)}"
    assert salun in doc
    assert finetune in doc


def test_the_projections_alpha_grid_is_the_one_docs_forgetting_one_pass_md_states():
    from pathlib import Path

    from sparana_cli.analysis.projection import PROJECTION_ALPHAS

    doc = " ".join((Path(__file__).resolve().parents[1] / "docs" / "forgetting-one-pass.md").read_text().split())
    assert "α is **chosen on the validation split** from {" + ", ".join(f"{a:g}" for a in PROJECTION_ALPHAS) + "}" in doc
