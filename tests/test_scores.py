"""Closed-form scores against their definitions computed the slow way."""

import numpy as np
import pytest

from sparana_cli.analysis.pruning import remove_count
from sparana_cli.analysis.scores import METHODS, layer_input_means, score_layers
from sparana_cli.engine.network import Network


def net_and_data(seed=0):
    net = Network.xavier([6, 5, 4, 3], seed=seed, dtype="float64")
    rng = np.random.default_rng(seed)
    net.masks[1] = rng.random(net.weights[1].shape) > 0.3
    net.apply_masks()
    return net, rng.random((37, 6))


def slow_layer_inputs(net, x):
    """Per-sample inputs of each layer, one sample at a time."""
    per_layer = [[] for _ in range(net.n_layers)]
    for row in x:
        a = row
        for i, (w, b) in enumerate(zip(net.weights, net.biases)):
            per_layer[i].append(a.copy())
            a = np.maximum(a @ w + b, 0) if i < net.n_layers - 1 else a @ w + b
    return [np.array(p) for p in per_layer]


def test_maav_equals_the_definition():
    net, x = net_and_data()
    fast = score_layers("maav", net, x)
    for w, inputs, score in zip(net.weights, slow_layer_inputs(net, x), fast):
        # MAAV_ij = mean_n |a_ni * W_ij|, from per-sample outer products
        slow = np.mean([np.abs(np.outer(a, np.ones(w.shape[1])) * w) for a in inputs], axis=0)
        np.testing.assert_allclose(score, slow, rtol=1e-6)
        assert np.all(score[w == 0] == 0)


def test_mav_equals_the_definition():
    net, x = net_and_data(1)
    for w, inputs, score in zip(net.weights, slow_layer_inputs(net, x), score_layers("mav", net, x)):
        slow = np.mean([np.outer(a, np.ones(w.shape[1])) * w for a in inputs], axis=0)
        np.testing.assert_allclose(score, slow, rtol=1e-6, atol=1e-12)


def test_means_do_not_depend_on_chunking():
    net, x = net_and_data(2)
    whole = layer_input_means(net, x)
    pieces = layer_input_means(net, x, chunk=5)
    for a, b in zip(whole, pieces):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_means_of_every_layer_input_absolute_by_default_and_of_a_single_row():
    """Inputs of the first layer are the data themselves: with negative pixels the mean |input| and the mean
    input differ; there is one (in,) mean per weight matrix; one row is its own mean."""
    net, _ = net_and_data(5)
    x = np.array([[1.0, -2.0, 0.5, -0.5, 3.0, 0.0], [-1.0, 4.0, 0.5, 0.5, -1.0, 2.0]])
    means, signed = layer_input_means(net, x), layer_input_means(net, x, absolute=False)
    assert [m.shape for m in means] == [(6,), (5,), (4,)]
    np.testing.assert_allclose(means[0], [1.0, 3.0, 0.5, 0.5, 2.0, 1.0])
    np.testing.assert_allclose(signed[0], [0.0, 1.0, 0.5, 0.0, 1.0, 1.0])
    for mean, inputs in zip(means, slow_layer_inputs(net, x)):
        np.testing.assert_allclose(mean, np.abs(inputs).mean(axis=0), rtol=1e-12)
    for mean, inputs in zip(layer_input_means(net, x[:1]), slow_layer_inputs(net, x[:1])):
        np.testing.assert_allclose(mean, np.abs(inputs[0]), rtol=1e-12)


def test_maav_scores_with_mean_absolute_inputs_and_mav_with_signed_ones():
    """On inputs of both signs the two differ: MAAV is never negative, MAV follows the sign of W times the mean."""
    net, _ = net_and_data(6)
    x = np.random.default_rng(6).normal(size=(40, 6))
    w0 = net.weights[0]
    np.testing.assert_allclose(score_layers("maav", net, x)[0], np.abs(w0) * np.abs(x).mean(axis=0)[:, None])
    np.testing.assert_allclose(score_layers("mav", net, x)[0], w0 * x.mean(axis=0)[:, None])


def test_simple_scores():
    net, _ = net_and_data(3)
    for w, s in zip(net.weights, score_layers("magnitude", net)):
        np.testing.assert_array_equal(s, np.abs(w))
    for w, s in zip(net.weights, score_layers("negative", net)):
        np.testing.assert_array_equal(s, -w)
    for w, s in zip(net.weights, score_layers("positive", net)):
        np.testing.assert_array_equal(s, w)
        assert s is not w  # a copy: pruning by it cannot change the weights
    a, b = score_layers("random", net, seed=1), score_layers("random", net, seed=1)
    assert all(np.array_equal(p, q) for p, q in zip(a, b))
    assert not np.array_equal(a[0], score_layers("random", net, seed=2)[0])
    with pytest.raises(ValueError):
        score_layers("maav", net)
    with pytest.raises(ValueError, match="expected one of magnitude, maav, mav, random, positive, negative"):
        score_layers("wanda", net)


@pytest.mark.parametrize("scope", ["layer", "row", "column"])
def test_maav_selection_matches_the_slow_definition(scope):
    """The weights a scope removes by closed-form MAAV are the lowest of the per-sample definition, group by group."""
    net, x = net_and_data(4)
    layer, k = 1, 6
    w, mask = net.weights[layer], net.masks[layer]
    (chosen,) = remove_count([score_layers("maav", net, x)[layer]], [mask], k, scope=scope)
    inputs = slow_layer_inputs(net, x)[layer]
    slow = np.mean([np.abs(np.outer(a, np.ones(w.shape[1])) * w) for a in inputs], axis=0)
    groups = {"layer": [np.ones(w.shape, bool)],
              "row": [np.arange(w.shape[0])[:, None] == r for r in range(w.shape[0])],
              "column": [np.arange(w.shape[1])[None, :] == c for c in range(w.shape[1])]}[scope]
    expected = np.zeros(w.shape, bool)
    live_per_group = [int((mask & g).sum()) for g in groups]
    taken = [0] * len(groups)
    for _ in range(k):  # the slow way: one weight at a time, the group that has given least first
        best = None
        for gi, g in enumerate(groups):
            if taken[gi] == live_per_group[gi]:
                continue
            candidates = np.flatnonzero(g & mask & ~expected)
            j = candidates[np.argmin(slow.ravel()[candidates])]
            key = (taken[gi], slow.ravel()[j], j) if scope != "layer" else (0, slow.ravel()[j], j)
            best = min(best, (key, gi, j)) if best else (key, gi, j)
        _, gi, j = best
        expected.ravel()[j] = True
        taken[gi] += 1
    np.testing.assert_array_equal(chosen, expected)


def test_spec_choices_match_the_code():
    from typing import get_args, get_type_hints

    from sparana_cli.analysis.pruning import SCOPES
    from sparana_cli.spec import PruneSpec

    hints = get_type_hints(PruneSpec)
    assert set(get_args(hints["method"])) == set(METHODS) and get_args(hints["scope"]) == SCOPES
