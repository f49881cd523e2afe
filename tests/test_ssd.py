"""Selective Synaptic Dampening on cases small enough to check by hand."""

import numpy as np

from sparana_cli.analysis.ssd import choice_key, dampen, importance, ssd
from sparana_cli.engine.network import Network


def test_dampen_by_hand():
    param = np.array([1.0, 2.0, 3.0, 4.0, -5.0])
    forget = np.array([5.0, 1.0, 100.0, 0.0, 40.0])
    full = np.array([1.0, 1.0, 1.0, 0.0, 10.0])
    # alpha 2: forget > 2 * full at 0 (5 > 2), 2 (100 > 2) and 4 (40 > 20); entry 3 (0 > 0) is not selected
    new, changed = dampen(param, forget, full, alpha=2, lam=1)
    np.testing.assert_allclose(new, [1 * 1 / 5, 2.0, 3 * 1 / 100, 4.0, -5 * 10 / 40])
    np.testing.assert_array_equal(changed, [True, False, True, False, True])
    # lambda 10: min(10 full / forget, 1) is 1 at entries 0 and 4, so only entry 2 changes
    new, changed = dampen(param, forget, full, alpha=2, lam=10)
    np.testing.assert_allclose(new, [1.0, 2.0, 3 * 10 / 100, 4.0, -5.0])
    np.testing.assert_array_equal(changed, [False, False, True, False, False])


def one_layer():
    """y = x W + b, linear output, quadratic loss: the loss gradient is x^T (y - t) / n."""
    w = np.array([[1.0, -1.0], [0.5, 2.0]])
    b = np.array([0.0, 0.25])
    return Network([w], [b], output="linear")


def test_importance_is_the_mean_over_minibatches_of_the_squared_gradient():
    net = one_layer()
    x = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    y = np.array([0, 1, 1])
    # by hand, batches of two rows: rows 0-1, then row 2
    grads_w, grads_b = [], []
    for rows in ([0, 1], [2]):
        out = x[rows] @ net.weights[0] + net.biases[0]
        err = out - np.eye(2)[y[rows]]
        grads_w.append(x[rows].T @ err / len(rows))
        grads_b.append(err.sum(axis=0) / len(rows))
    imp_w, imp_b = importance(net, x, y, batch=2, loss="quadratic")
    np.testing.assert_allclose(imp_w, (grads_w[0] ** 2 + grads_w[1] ** 2) / 2)
    np.testing.assert_allclose(imp_b, (grads_b[0] ** 2 + grads_b[1] ** 2) / 2)
    out = x @ net.weights[0] + net.biases[0]  # a batch larger than the rows (and the features): one minibatch
    whole = x.T @ (out - np.eye(2)[y]) / 3
    np.testing.assert_allclose(importance(net, x, y, batch=5, loss="quadratic")[0], whole ** 2)


def test_ssd_changes_only_the_selected_parameters():
    net = Network.xavier([5, 6, 3], seed=1, dtype="float64")
    net.masks[0][0, :] = False
    net.apply_masks()
    rng = np.random.default_rng(0)
    x, y = rng.random((30, 5)), np.arange(30) % 3
    forget_rows = y == 2
    before = [p.copy() for p in (*net.weights, *net.biases, *net.masks)]
    out, changed = ssd(net, x[forget_rows], y[forget_rows], x, y, alpha=1.5, lam=1, batch=8, loss="quadratic")
    for original, now in zip(before, (*net.weights, *net.biases, *net.masks)):
        np.testing.assert_array_equal(now, original)  # the original is untouched, value for value
    f = importance(net, x[forget_rows], y[forget_rows], batch=8, loss="quadratic")
    g = importance(net, x, y, batch=8, loss="quadratic")
    params = [p for pair in zip(net.weights, net.biases) for p in pair]
    new = [p for pair in zip(out.weights, out.biases) for p in pair]
    total = 0
    for p, q, fi, gi in zip(params, new, f, g):
        selected = fi > 1.5 * gi
        np.testing.assert_array_equal(q[~selected], p[~selected])
        np.testing.assert_allclose(q[selected], p[selected] * np.minimum(gi[selected] / fi[selected], 1))
        total += int((selected & (gi < fi)).sum())
    assert changed == total > 0
    assert np.all(out.weights[0][0, :] == 0)  # masked weights stay zero


def test_larger_alpha_selects_fewer():
    """alpha 1, 2, 4 on these data change 22, 19 and 0 weights: strictly fewer each time (0 with 0 proves nothing)."""
    net = Network.xavier([5, 6, 3], seed=2, dtype="float64")
    rng = np.random.default_rng(1)
    x, y = rng.random((30, 5)), np.arange(30) % 3
    counts = [ssd(net, x[y == 0], y[y == 0], x, y, alpha=alpha, lam=1, batch=10, loss="quadratic")[1]
              for alpha in (1, 2, 4)]
    assert counts[0] > counts[1] > counts[2], counts


def test_choice_key_ranks_dr_within_tolerance_first_then_the_lowest_df_then_the_higher_dr():
    parent = 0.90
    tried = {"kept, df 0.2": (0.2, 0.89), "kept, df 0.1": (0.1, 0.895), "kept, df 0.1, higher dr": (0.1, 0.90),
             "at the edge": (0.3, 0.89), "lost dr, higher": (0.0, 0.85), "lost dr, lower": (0.0, 0.80)}
    ranked = sorted(tried, key=lambda k: choice_key(*tried[k], parent))
    assert ranked == ["kept, df 0.1, higher dr", "kept, df 0.1", "kept, df 0.2", "at the edge", "lost dr, higher",
                      "lost dr, lower"]
    assert choice_key(0.5, 0.70, parent) > choice_key(0.9, 0.89, parent)  # any kept setting beats one that lost Dr


def test_the_tuning_grid_is_the_one_docs_forgetting_md_states():
    from pathlib import Path

    from sparana_cli.analysis import ssd as ssd_module

    doc = " ".join((Path(__file__).resolve().parents[1] / "docs" / "forgetting.md").read_text().split())

    def grid(values):
        return "{" + ", ".join(f"{v:g}" for v in values) + "}"

    assert f"α ∈ {grid(ssd_module.TUNING_ALPHAS)} × λ ∈ {grid(ssd_module.TUNING_LAMBDAS)}" in doc
