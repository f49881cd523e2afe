"""Forgetting scores against their definitions: slow per-sample MAAV, finite differences, set sizes, fast selection."""

import numpy as np
import pytest

import sparana_cli.analysis.forgetting as forgetting
from sparana_cli.analysis.forgetting import (
    PROBE_SCORES,
    SCORES,
    forget_scores,
    forward_from,
    group_rows,
    layer_input,
    select_removals,
    select_taylor,
)
from sparana_cli.analysis.pruning import remove_count
from sparana_cli.engine.network import Network

TARGET = 1


def small(seed=0, sizes=(6, 7, 5, 4, 3), rows=45):
    """A float64 network with varied biases and some masked weights, rows of inputs and labels of 3 classes."""
    rng = np.random.default_rng(seed)
    net = Network.xavier(list(sizes), seed=seed, dtype="float64")
    for b in net.biases:
        b[:] = rng.normal(0, 0.3, b.shape)
    net.masks[1] = rng.random(net.weights[1].shape) > 0.25
    net.apply_masks()
    x = rng.random((rows, sizes[0]))
    y = np.arange(rows) % sizes[-1]
    rng.shuffle(y)
    return net, x, y


def per_sample_inputs(net, x, layer):
    """The input of `layer` for each row, one row at a time."""
    out = []
    for row in x:
        a = row
        for i in range(layer):
            a = np.maximum(a @ net.weights[i] + net.biases[i], 0)
        out.append(a)
    return np.array(out)


def slow_maav(net, x, layer):
    """MAAV_ij = mean_n |a_ni W_ij| from per-sample outer products."""
    w = net.weights[layer]
    return np.mean([np.abs(np.outer(a, np.ones(w.shape[1])) * w) for a in per_sample_inputs(net, x, layer)], axis=0)


@pytest.mark.parametrize("layer", [0, 1, 2])
def test_maav_difference_equals_the_slow_definition(layer):
    net, x, y = small()
    scores = forget_scores("diff", net, x, y, TARGET, [layer], first=0)
    expected = slow_maav(net, x[y == TARGET], layer) - slow_maav(net, x[y != TARGET], layer)
    np.testing.assert_allclose(scores[layer], expected, rtol=1e-10, atol=1e-14)


def test_maxother_and_ratio_equal_their_definitions():
    net, x, y = small(1)
    layer = 2
    maav = {c: slow_maav(net, x[y == c], layer) for c in np.unique(y)}
    others = np.max([maav[c] for c in maav if c != TARGET], axis=0)
    got = forget_scores("maxother", net, x, y, TARGET, [layer], first=0)[layer]
    np.testing.assert_allclose(got, maav[TARGET] - others, rtol=1e-10, atol=1e-14)

    rest = slow_maav(net, x[y != TARGET], layer)
    ratio = forget_scores("ratio", net, x, y, TARGET, [layer], first=0, alpha=1.2)[layer]
    qualifies = maav[TARGET] > 1.2 * rest
    assert qualifies.any() and not qualifies.all()
    assert np.all(np.isneginf(ratio[~qualifies]))
    # the ratio itself, moved by at most the |W| tie-break
    np.testing.assert_allclose(ratio[qualifies], (maav[TARGET] / rest)[qualifies], rtol=1.01 * forgetting.RATIO_TIEBREAK)


@pytest.mark.parametrize("score", SCORES)
def test_duplicating_a_set_changes_no_score(score):
    """Every mean is a true mean over its own rows: twice the rest (or the target) gives the same scores."""
    net, x, y = small(2)
    layers = [0, 1, 2] if score in PROBE_SCORES else [1, 2, 3]  # the probe scores read the last hidden layer
    first = forget_scores(score, net, x, y, TARGET, layers, first=0)
    rest, target = y != TARGET, y == TARGET
    for extra in (rest, target):
        x2, y2 = np.concatenate([x, x[extra]]), np.concatenate([y, y[extra]])
        again = forget_scores(score, net, x2, y2, TARGET, layers, first=0)
        for i in first:
            np.testing.assert_allclose(again[i], first[i], rtol=1e-9, atol=1e-12)


def mean_output(net, x, c):
    """Y_c: the mean over the rows x of output c (the logit)."""
    return forward_from(net, x, 0)[-1][:, c].mean()


def finite_difference(net, x, c, layer, eps=1e-6):
    """dY_c/dW for one layer by central differences."""
    w = net.weights[layer]
    grad = np.zeros_like(w)
    for idx in np.ndindex(w.shape):
        keep = w[idx]
        w[idx] = keep + eps
        up = mean_output(net, x, c)
        w[idx] = keep - eps
        down = mean_output(net, x, c)
        w[idx] = keep
        grad[idx] = (up - down) / (2 * eps)
    return grad


@pytest.mark.parametrize("layer", [1, 3])
def test_taylor_scores_equal_finite_differences_of_the_class_outputs(layer):
    net, x, y = small(3)
    t_rows = x[y == TARGET]
    own = {c: net.weights[layer] * finite_difference(net, x[y == c], c, layer) for c in np.unique(y)}  # T_c
    protect = np.max([np.abs(own[c]) for c in own if c != TARGET], axis=0)
    rest_grad = finite_difference(net, x[y != TARGET], TARGET, layer)
    target_grad = finite_difference(net, t_rows, TARGET, layer)
    taylor = forget_scores("taylor", net, x, y, TARGET, [layer], first=0)[layer]
    disc = forget_scores("taylor_disc", net, x, y, TARGET, [layer], first=0)[layer]
    np.testing.assert_allclose(taylor, own[TARGET] - protect, atol=1e-7)
    np.testing.assert_allclose(disc, net.weights[layer] * (target_grad - rest_grad) - protect, atol=1e-7)


def test_taylor_term_is_the_exact_drop_for_an_output_weight():
    """In the output layer the class output is linear in each weight: T_c is exactly Y_c - Y_c(without it)."""
    net, x, y = small(4)
    layer, (i, j) = 3, (2, TARGET)
    rows = x[y == TARGET]
    before = mean_output(net, rows, TARGET)
    t_c = net.weights[layer][i, j] * finite_difference(net, rows, TARGET, layer)[i, j]
    net.weights[layer][i, j] = 0
    assert before - mean_output(net, rows, TARGET) == pytest.approx(t_c, rel=1e-6)


def top_positive(scores, live, k):
    """The k highest positive scores among the live weights (fewer if fewer are positive), by plain ranking."""
    qualifying = live & (scores > 0)
    return remove_count([scores], [qualifying], min(k, int(qualifying.sum())), highest=True)[0]


def test_fast_taylor_selection_equals_ranking_the_dense_scores():
    for seed in range(12):
        rng = np.random.default_rng(seed)
        net, x, y = small(seed, sizes=(7, 40, 30, 20, 4), rows=60)
        target = int(rng.integers(0, 4))
        layers = [1, 2] if seed % 2 else [0, 1, 2, 3]
        first = min(layers)
        order, groups = group_rows(y, target)
        h, labels = layer_input(net, x[order], first), y[order]
        acts = forward_from(net, h, first)
        for score in ("taylor", "taylor_disc"):
            dense = forget_scores(score, net, h, labels, target, layers, first=first)
            counts = {i: int(rng.integers(1, 12)) if seed % 3 else 10**6 for i in layers}  # some: every positive one
            fast = select_taylor(score, net, acts, first, layers, labels, groups, target, counts)
            for i in layers:
                np.testing.assert_array_equal(fast[i], top_positive(dense[i], net.masks[i], counts[i]))
                assert not (fast[i] & ~net.masks[i]).any()


@pytest.mark.parametrize("score", ["ratio", "diff", "maxother"])
def test_selection_takes_only_live_positive_weights(score):
    net, x, y = small(5)
    order, groups = group_rows(y, TARGET)
    acts = forward_from(net, x[order], 0)
    scores = forget_scores(score, net, x, y, TARGET, [1], first=0, alpha=1.1)[1]
    for k in (3, 10**6):
        picked = select_removals(score, net, acts, 0, [1], y[order], groups, TARGET, {1: k}, alpha=1.1)[1]
        np.testing.assert_array_equal(picked, top_positive(scores, net.masks[1], k))
        assert not (picked & ~(scores > 0)).any()


def test_group_rows_puts_the_target_first():
    order, groups = group_rows(np.array([2, 0, 1, 2, 1, 0]), 2)
    np.testing.assert_array_equal(order, [0, 3, 1, 5, 2, 4])
    assert groups == {2: slice(0, 2), 0: slice(2, 4), 1: slice(4, 6)}


def test_pre_activation_kept_up_to_date_equals_a_fresh_forward():
    """Subtracting the removed weights' contribution (a sparse product) gives what recomputing gives."""
    from sparana_cli.analysis.forgetting import removed_contribution

    net, x, _ = small(6, sizes=(6, 30, 20, 3), rows=25)
    rng = np.random.default_rng(0)
    h = layer_input(net, x, 1)
    z = h @ net.weights[1] + net.biases[1]
    for _ in range(3):
        picks = net.masks[1] & (rng.random(net.masks[1].shape) < 0.1)
        z -= removed_contribution(h, net.weights[1], picks)
        net.masks[1] &= ~picks
        net.apply_masks()
    np.testing.assert_allclose(z, h @ net.weights[1] + net.biases[1], rtol=1e-12, atol=1e-12)
    incremental = forward_from(net, h, 1, z_first=z)
    for got, want in zip(incremental, forward_from(net, h, 1)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def reference_probe(h, is_target, ridge):
    """The class-balanced ridge probe as a least-squares problem: rows weighted 1/2 per class in all, features
    standardised by the weighted mean and spread, the ridge as extra rows; returned in h's units."""
    w = np.where(is_target, 0.5 / is_target.sum(), 0.5 / (~is_target).sum())
    mean = w @ h
    spread = np.sqrt(w @ (h - mean) ** 2)
    spread[spread <= 1e-12] = 1.0
    z = (h - mean) / spread
    a = np.vstack([np.sqrt(w)[:, None] * z, np.sqrt(ridge) * np.eye(h.shape[1])])
    b = np.concatenate([np.sqrt(w) * (is_target - 0.5), np.zeros(h.shape[1])])
    return np.linalg.lstsq(a, b, rcond=None)[0] / spread


@pytest.mark.parametrize("ridge", [1e-2, 0.3])
def test_probe_direction_is_the_class_balanced_ridge_least_squares_fit(ridge):
    from sparana_cli.analysis.forgetting import probe_direction

    rng = np.random.default_rng(7)
    y = np.repeat([1, 0, 2], [9, 25, 16])  # grouped: the target first, far fewer rows than the rest
    h = rng.normal(size=(50, 4)) * [0.1, 1.0, 10.0, 3.0] + [0.0, 5.0, -2.0, 1.0]
    h[:, 1] += 0.8 * (y == TARGET)
    h[:, 3] = 2.5  # a constant feature: no weight
    groups = {1: slice(0, 9), 0: slice(9, 34), 2: slice(34, 50)}
    v = probe_direction(h, groups, TARGET, ridge=ridge)
    np.testing.assert_allclose(v, reference_probe(h, y == TARGET, ridge), rtol=1e-9, atol=1e-12)
    assert abs(v[3]) < 1e-20


def finite_differences(f, w):
    """d f()/dW for every entry of w (changed in place and restored) by central differences; f returns an array."""
    from tests.test_gradients import finite_difference

    out = None
    for idx in np.ndindex(w.shape):
        d = finite_difference(f, w, idx)
        if out is None:
            out = np.zeros(w.shape + np.shape(d))
        out[idx] = d
    return out


@pytest.mark.parametrize("score", ["probe", "taylor_probe"])
def test_probe_scores_equal_finite_differences_of_the_probe_and_output_margins(score):
    """probe: W dP_t/dW / P_t - max_k |T_k|, with P_t the margin of the parent's probe on the last hidden layer held
    fixed; taylor_probe adds W d(Y_t - R_t)/dW / (Y_t - R_t). Rows in any order."""
    from sparana_cli.analysis.forgetting import probe_direction

    net, x, y = small(8)
    hidden = net.n_layers - 1
    order, groups = group_rows(y, TARGET)
    last = forward_from(net, x[order], 0)[hidden]
    assert (last == 0).any() and (last > 0).any()  # some units off: their relu' is 0
    v = probe_direction(last, groups, TARGET)
    t, classes = y == TARGET, np.unique(y)

    def measures():
        acts = forward_from(net, x, 0)
        p, out = acts[hidden] @ v, acts[-1]
        return np.array([p[t].mean() - p[~t].mean(), out[t, TARGET].mean() - out[~t, TARGET].mean()]
                        + [out[y == c, c].mean() for c in classes])

    margins = measures()
    scores = forget_scores(score, net, x, y, TARGET, [0, 1, 2], first=0)
    for i in (0, 1, 2):
        w = net.weights[i]
        d = finite_differences(measures, w)
        gain = w * d[..., 0] / abs(margins[0])
        if score == "taylor_probe":
            gain += w * d[..., 1] / abs(margins[1])
        protect = np.max([np.abs(w * d[..., 2 + k]) for k, c in enumerate(classes) if c != TARGET], axis=0)
        np.testing.assert_allclose(scores[i], gain - protect, atol=1e-6)


@pytest.mark.parametrize("score", SCORES)
def test_rows_entering_at_a_higher_layer_give_the_same_scores_and_choices(score):
    net, x, y = small(30)  # a seed where every score has positive weights in both layers
    layers = [1, 2]
    h = layer_input(net, x, 1)
    kwargs = {"alpha": 1.1} if score == "ratio" else {}
    from_input = forget_scores(score, net, x, y, TARGET, layers, first=0, **kwargs)
    from_h = forget_scores(score, net, h, y, TARGET, layers, first=1, **kwargs)
    order, groups = group_rows(y, TARGET)
    counts = {1: 6, 2: 4}
    picks = {}
    for first, rows in ((0, x), (1, h)):
        acts = forward_from(net, rows[order], first)
        picks[first] = select_removals(score, net, acts, first, layers, y[order], groups, TARGET, counts, **kwargs)
    for i in layers:
        np.testing.assert_allclose(from_h[i], from_input[i], rtol=1e-10, atol=1e-12)
        np.testing.assert_array_equal(picks[1][i], picks[0][i])
        np.testing.assert_array_equal(picks[0][i], top_positive(from_input[i], net.masks[i], counts[i]))
        assert picks[0][i].sum() > 0


def test_every_score_the_spec_accepts_is_scored_and_selected():
    import typing

    from sparana_cli.spec import ForgetSpec

    accepted = typing.get_args(typing.get_type_hints(ForgetSpec)["score"])
    assert sorted(SCORES) == sorted(accepted)
    assert set(forgetting.TAYLOR_SCORES) | set(forgetting.MAAV_SCORES) == set(SCORES)


def test_a_class_with_one_scoring_row_and_inputs_of_either_sign():
    """Means over a single row are that row; layer 0's MAAV takes |x| of inputs that can be negative."""
    net, _, _ = small(10)
    rng = np.random.default_rng(10)
    x = rng.normal(size=(13, 6))
    y = np.array([0, 2, 0, 2, 0, 2, 1, 0, 2, 0, 2, 0, 2])  # the target has one row
    for layer in (0, 2):
        expected = slow_maav(net, x[y == TARGET], layer) - slow_maav(net, x[y != TARGET], layer)
        np.testing.assert_allclose(forget_scores("diff", net, x, y, TARGET, [layer], first=0)[layer], expected,
                                   rtol=1e-10, atol=1e-14)
    layer = 2
    own = {c: net.weights[layer] * finite_difference(net, x[y == c], c, layer) for c in (0, 1, 2)}
    protect = np.maximum(np.abs(own[0]), np.abs(own[2]))
    np.testing.assert_allclose(forget_scores("taylor", net, x, y, TARGET, [layer], first=0)[layer],
                               own[TARGET] - protect, atol=1e-7)


def ratio_case():
    """Inputs whose per-class means give known ratios m_t / m_rest (target 1): a unit that is never on, one on only
    for the class, one equally on for every class, ratios 3 and 2; and weights of every size up to 4."""
    x = np.zeros((12, 5))
    y = np.arange(12) % 3
    t = y == TARGET
    x[t, 1] = 1.0
    x[:, 2] = 2.0
    x[:, 3] = np.where(t, 3.0, 1.0)
    x[:, 4] = np.where(t, 2.0, 1.0)
    net = Network.xavier([5, 3, 3], seed=0, dtype="float64")
    net.weights[0][:] = [[1.0, -2.0, 0.5], [0.3, 4.0, -1.0], [2.0, 1.0, -3.0], [-0.05, 0.2, 1.5], [4.0, -3.0, 0.1]]
    return net, x, y


def test_ratio_follows_the_ratio_of_means_and_orders_a_row_by_weight_size():
    from sparana_cli.analysis.forgetting import group_means, maav_score

    net, x, y = ratio_case()
    w = net.weights[0]
    s = forget_scores("ratio", net, x, y, TARGET, [0], first=0)[0]  # default alpha: 1 (docs/forgetting.md)
    assert np.all(np.isneginf(s[0])) and np.all(np.isneginf(s[2]))  # never on; as on for the others as for the class
    assert np.all(np.isposinf(s[1]))  # on only for the class: removed first
    for row, ratio in ((3, 3.0), (4, 2.0)):
        assert np.all(s[row] >= ratio) and np.all(s[row] <= ratio * (1 + forgetting.RATIO_TIEBREAK))
        np.testing.assert_array_equal(np.argsort(s[row]), np.argsort(np.abs(w[row])))  # the larger |W| first
    assert s[3].min() > s[4].max()  # |W| only breaks near-ties: it never reorders ratios 3 and 2
    net.weights[0] *= 10  # the ratio of means knows nothing of the weights' scale
    np.testing.assert_allclose(forget_scores("ratio", net, x, y, TARGET, [0], first=0)[0], s, rtol=1e-12)
    net.weights[0] /= 10
    order, groups = group_rows(y, TARGET)
    acts = forward_from(net, x[order], 0)
    np.testing.assert_array_equal(maav_score("ratio", w, group_means(x[order], groups), groups, TARGET), s)
    picked = select_removals("ratio", net, acts, 0, [0], y[order], groups, TARGET, {0: 100})[0]
    np.testing.assert_array_equal(picked, s > -np.inf)
    assert np.all(np.isneginf(forget_scores("ratio", net, x, y, TARGET, [0], first=0, alpha=2.0)[0][4]))  # 2 > 2 fails


def test_scoring_rows_without_the_class_or_without_any_other_and_unknown_scores_are_refused():
    net, x, y = small(11)
    with pytest.raises(ValueError, match="no row of class 1"):
        forget_scores("diff", net, x[y != TARGET], y[y != TARGET], TARGET, [1], first=0)
    with pytest.raises(ValueError, match="no row of another class"):
        forget_scores("diff", net, x[y == TARGET], y[y == TARGET], TARGET, [1], first=0)
    with pytest.raises(ValueError, match="probe reads the last hidden layer"):  # its layer 3: the output layer's input
        forget_scores("probe", net, x, y, TARGET, [2, 3], first=0)
    expected = "; expected one of " + ", ".join(SCORES)
    with pytest.raises(ValueError, match=f"unknown forgetting score 'mean'{expected}"):
        forget_scores("mean", net, x, y, TARGET, [1], first=0)
    order, groups = group_rows(y, TARGET)
    with pytest.raises(ValueError, match=f"unknown forgetting score 'mean'{expected}"):
        select_removals("mean", net, forward_from(net, x[order], 0), 0, [1], y[order], groups, TARGET, {1: 1})


def test_highest_positive_never_takes_zero_or_negative_entries():
    from sparana_cli.analysis.forgetting import highest_positive

    values = np.array([0.0, 3.0, -1.0, 0.0, 1.0, 3.0, -np.inf, 2.0])
    assert highest_positive(values, 2).tolist() == [1, 5]
    assert highest_positive(values, 10).tolist() == [1, 4, 5, 7]
    assert highest_positive(values, 0).tolist() == []


def test_profiled_selection_is_its_own_section():
    from sparana_cli.profile import PROFILE

    net, x, y = small(12)
    order, groups = group_rows(y, TARGET)
    acts = forward_from(net, x[order], 0)
    PROFILE.enable()
    try:
        select_removals("diff", net, acts, 0, [1], y[order], groups, TARGET, {1: 3})
        sections = dict(PROFILE.totals)
    finally:
        PROFILE.disable()
    assert sections.get("forgetting: scoring and choosing weights", 0) > 0  # as `sparana --profile` names it
