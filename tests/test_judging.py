"""The measures that judge a forgetting: each checked where the answer is known, so that each can fail."""


from typing import get_args, get_type_hints

import numpy as np
import pytest

from sparana_cli.analysis.forgetting import group_rows, probe_direction
from sparana_cli.analysis.judging import (
    LEVELS,
    JudgeSettings,
    accuracy_figures,
    add_anamnesis,
    hidden_features,
    judge,
    judge_rows,
    membership_figure,
    output_probabilities,
    probe_layers,
)
from sparana_cli.analysis.membership import fit_logistic, member_rate, output_entropy
from sparana_cli.analysis.probe import fit_probe, probe_predictions, probe_score
from sparana_cli.analysis.relearn import anamnesis_index, few_shot_rows, relearn_curve, steps_to_reach
from sparana_cli.analysis.ssd import tuned_ssd
from sparana_cli.engine.losses import softmax
from sparana_cli.engine.network import Network
from sparana_cli.engine.training import train_steps
from sparana_cli.spec import ForgetSpec, TrainSpec


def test_probe_on_features_without_class_information_scores_chance():
    rng = np.random.default_rng(0)
    y_train, y_test = rng.integers(0, 10, 4000), rng.integers(0, 10, 4000)
    score = probe_score(rng.normal(size=(4000, 30)), y_train, rng.normal(size=(4000, 30)), y_test, 3, 10)
    assert 0.06 < score.accuracy < 0.14 and score.recall < 0.25


def test_probe_reads_a_class_the_features_carry():
    rng = np.random.default_rng(1)
    y_train, y_test = rng.integers(0, 4, 2000), rng.integers(0, 4, 2000)
    features = lambda y: np.eye(4)[y] + 0.3 * rng.normal(size=(len(y), 4))  # noqa: E731
    score = probe_score(features(y_train), y_train, features(y_test), y_test, 2, 4)
    assert score.recall > 0.95 and score.accuracy > 0.95


def test_probe_on_uninformative_features_falls_back_to_the_most_frequent_class():
    """With nothing in the features, the probe's intercept (the class frequencies) decides: every row is called
    the majority class, so its recall is 1 and the accuracy is that class's share of the test rows."""
    rng = np.random.default_rng(7)
    y_train, y_test = rng.choice(3, 2000, p=[0.7, 0.2, 0.1]), rng.choice(3, 2000, p=[0.7, 0.2, 0.1])
    majority = probe_score(rng.normal(size=(2000, 5)), y_train, rng.normal(size=(2000, 5)), y_test, 0, 3)
    assert majority.recall == 1.0 and majority.accuracy == pytest.approx((y_test == 0).mean())
    minority = probe_score(rng.normal(size=(2000, 5)), y_train, rng.normal(size=(2000, 5)), y_test, 2, 3)
    assert minority.recall == 0.0 and minority.accuracy == pytest.approx((y_test == 0).mean())


def test_probe_does_not_depend_on_the_units_of_each_feature():
    """The features are standardised with the training rows' mean and scale, so shifting and rescaling each
    column (training and test rows alike) gives the same predictions."""
    rng = np.random.default_rng(4)
    centres = rng.normal(0, 3, (3, 4))
    y_train, y_test = rng.integers(0, 3, 600), rng.integers(0, 3, 600)
    f_train, f_test = (centres[y] + rng.normal(size=(len(y), 4)) for y in (y_train, y_test))
    shift, scale = np.array([5.0, -3.0, 40.0, 0.5]), np.array([0.01, 3.0, 100.0, 1.0])
    plain = probe_predictions(fit_probe(f_train, y_train, 3), f_test)
    moved = probe_predictions(fit_probe(f_train * scale + shift, y_train, 3), f_test * scale + shift)
    np.testing.assert_array_equal(moved, plain)
    assert (plain == y_test).mean() > 0.9


def test_default_probe_ridge_is_light_enough_to_recall_a_rare_class():
    """The default ridge (1e-2 of the rows) barely shrinks the weights: a class that is 5% of the rows and
    clearly marked in the features is still recalled; a ridge of the order of the rows pulls the probe to
    the frequent classes."""
    rng = np.random.default_rng(0)
    y_train, y_test = (rng.choice(3, 2000, p=[0.475, 0.475, 0.05]) for _ in range(2))
    f_train, f_test = (np.eye(3)[y] + 0.25 * rng.normal(size=(len(y), 3)) for y in (y_train, y_test))
    assert probe_score(f_train, y_train, f_test, y_test, 2, 3).recall > 0.8
    assert probe_score(f_train, y_train, f_test, y_test, 2, 3, ridge=1.0).recall < 0.3


def test_probe_solves_the_ridge_normal_equations():
    rng = np.random.default_rng(2)
    f, y = rng.normal(size=(300, 7)) * [1, 2, 3, 4, 5, 6, 0], rng.integers(0, 3, 300)  # a constant column too
    mean, scale, w, b = fit_probe(f, y, 3, ridge=0.1)
    z = (f - mean) / scale
    residual = z @ w + b - np.eye(3)[y]
    gradient = z.T @ residual + 0.1 * 300 * w  # of 1/2 |zW + b - T|^2 + 1/2 ridge n |W|^2
    np.testing.assert_allclose(gradient, 0, atol=1e-8)
    np.testing.assert_allclose(residual.sum(axis=0), 0, atol=1e-8)  # the bias is the least-squares intercept
    assert np.all(w[6] == 0)


def test_probe_direction_points_along_the_feature_that_separates_the_class():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 600)
    h = rng.normal(size=(600, 5))
    h[:, 2] += 3.0 * (y == 1)
    order, groups = group_rows(y, 1)
    v = probe_direction(h[order], groups, 1)
    assert np.argmax(np.abs(v)) == 2 and v[2] > 0


def test_membership_rate_follows_output_entropy():
    confident = np.tile([0.97, 0.01, 0.01, 0.01], (200, 1))
    unsure = np.tile([0.25, 0.25, 0.25, 0.25], (200, 1))
    assert member_rate(confident, unsure, confident) == 1.0
    assert member_rate(confident, unsure, unsure) == 0.0
    assert output_entropy(unsure)[0] == pytest.approx(np.log(4))


def test_logistic_fit_zeroes_the_likelihood_gradient():
    rng = np.random.default_rng(4)
    x = np.concatenate([rng.normal(0, 1, 300), rng.normal(1, 1, 300)])
    label = np.concatenate([np.zeros(300), np.ones(300)])
    mean, scale, w, b = fit_logistic(x, label)
    z = (x - mean) / scale
    p = 1 / (1 + np.exp(-(w * z + b)))
    np.testing.assert_allclose([(p - label) @ z, (p - label).sum()], 0, atol=1e-9)  # Newton: converged to rounding
    assert w > 0


def test_logistic_fit_on_a_constant_feature_is_the_base_rate():
    label = np.array([1.0, 1.0, 1.0, 0.0] * 25)
    mean, scale, w, b = fit_logistic(np.full(100, 0.5), label)
    assert (mean, w) == (0.5, 0.0) and scale > 0
    assert b == pytest.approx(np.log(3))  # the log-odds of the 75% that are 1
    mean, scale, w, b = fit_logistic(np.full(100, 0.7), label)  # 0.7 is not exact in binary: std 2e-16, not 0
    assert scale == 1.0 and abs(w) < 1e-6 and b == pytest.approx(np.log(3))


def test_membership_calls_follow_the_fitted_log_odds_between_two_entropy_levels():
    """With the fitting entropies at two levels only, the logistic fit reproduces the member share at each level
    exactly (9 of 10 rows at entropy 0, 16 of 40 at log 2), and its log-odds are linear in between: a queried row
    is called member exactly where that line is above zero (at 84% of the way to log 2)."""
    sure, split = [1.0, 0.0, 0.0, 0.0], [0.5, 0.5, 0.0, 0.0]
    members = np.array([sure] * 9 + [split] * 16)
    non_members = np.array([sure] * 1 + [split] * 24)
    q = np.linspace(0.5, 1.0, 201)
    queried = np.stack([q, 1 - q, 0 * q, 0 * q], axis=1)
    h = output_entropy(queried)
    log_odds = np.log(9 / 1) + (np.log(16 / 24) - np.log(9 / 1)) * h / np.log(2)
    assert 0.1 < (log_odds > 0).mean() < 0.9
    assert member_rate(members, non_members, queried) == pytest.approx((log_odds > 0).mean())
    assert member_rate(members, non_members, np.array([sure, split])) == 0.5


def test_steps_to_reach_and_the_anamnesis_index():
    curve = np.array([0.0, 0.1, 0.5, 0.3, 0.9])
    assert steps_to_reach(curve, 0.5) == 2 and steps_to_reach(curve, 0.0) == 0
    assert steps_to_reach(curve, 0.95) == 5  # never: one past the budget
    assert anamnesis_index(5, 5) == 1.0 and anamnesis_index(0, 8) == 0 and np.isnan(anamnesis_index(3, 0))


def test_few_shot_rows_are_seeded_and_hold_the_asked_counts():
    y = np.repeat(np.arange(5), 50)
    rows = few_shot_rows(y, 2, 10, 30, seed=1)
    assert (y[rows] == 2).sum() == 10 and len(rows) == 40
    np.testing.assert_array_equal(rows, few_shot_rows(y, 2, 10, 30, seed=1))
    assert not np.array_equal(rows, few_shot_rows(y, 2, 10, 30, seed=1, draw=1))



def test_few_shot_rows_are_distinct_rows():
    y = np.repeat(np.arange(5), 50)
    np.testing.assert_array_equal(few_shot_rows(y, 2, 50, 200, seed=4), np.arange(250))  # every row, once
    rows = few_shot_rows(y, 2, 30, 150, seed=4)
    assert len(np.unique(rows)) == len(rows) == 180

def blobs(seed, n=400, classes=4, features=12):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 2, (classes, features))
    y = rng.integers(0, classes, n)
    return (centres[y] + rng.normal(size=(n, features))).astype(np.float32), y


CFG = TrainSpec(lr=0.01, batch_size=50)


def trained(x, y, seed, steps=150):
    net = Network.xavier([12, 16, 4], seed=seed)
    train_steps(net, x, y, CFG, loss="quadratic", steps=steps, seed=seed, stream="test")
    return net


def test_relearning_brings_back_a_class_that_was_never_learned():
    x, y = blobs(0)
    never = trained(x[y != 1], y[y != 1], seed=0)
    curve = relearn_curve(never, x, y, x[y == 1], 1, cfg=CFG, loss="quadratic", steps=60, seed=0)
    assert curve[0] < 0.05 and curve[-1] > 0.8
    again = relearn_curve(never, x, y, x[y == 1], 1, cfg=CFG, loss="quadratic", steps=60, seed=0)
    np.testing.assert_array_equal(curve, again)  # seeded: the same steps every time


def test_judged_rows_the_parent_is_the_control_and_a_second_retrained_model_scores_one():
    x, y = blobs(5, n=900)
    splits = {"train": (x[:600], y[:600]), "val": (x[600:750], y[600:750]), "test": (x[750:], y[750:])}
    keep = splits["train"][1] != 2
    parent = trained(*splits["train"], seed=1)
    retrained = trained(splits["train"][0][keep], splits["train"][1][keep], seed=1)
    settings = JudgeSettings(level="full", probe_samples=600, shots=20, others=80, relearn_steps=30, relearn_batch=25)
    seen = []
    rows = judge_rows([("parent", parent), ("never saw it", retrained.copy()), ("retrain", retrained)], splits=splits,
                      target=2, n_classes=4, train_cfg=CFG, loss="quadratic", seed=0, settings=settings, on_row=seen.append)
    assert seen == rows
    by = {r["method"]: r for r in rows}
    assert by["parent"]["df"] > 0.9 and by["retrain"]["df"] < 0.1
    assert by["parent"]["relearn_steps"] == 0 and by["parent"]["anamnesis"] == 0  # the no-op control fails
    assert by["never saw it"]["anamnesis"] == 1.0 and by["retrain"]["relearn_steps"] > 0
    assert {"probe_recall_1", "mia"} <= by["parent"].keys() and len(by["parent"]["relearn_curve"]) == 31
    assert all(0 <= r["mia"] <= 1 for r in rows)


def test_judging_a_model_reports_each_figure_from_its_own_measure():
    """The parent knows the class: its probe reads it and relearning (without the parent's regularisation) keeps
    it; the retrained model never saw it: relearning brings it back, counted in steps to half the parent's Df."""
    x, y = blobs(5, n=900)
    splits = {"train": (x[:600], y[:600]), "val": (x[600:750], y[600:750]), "test": (x[750:], y[750:])}
    keep = splits["train"][1] != 2
    parent = trained(*splits["train"], seed=1)
    retrained = trained(splits["train"][0][keep], splits["train"][1][keep], seed=1)
    common = dict(splits=splits, target=2, n_classes=4, loss="quadratic", seed=0, parent_df=1.0)
    regularised = TrainSpec(lr=0.01, batch_size=50, l1=1.0, l2=1.0, dropout=0.5)
    none = judge(parent, train_cfg=regularised, settings=JudgeSettings(level="none"), **common)
    assert none == accuracy_figures(parent, *splits["test"], 2, 4)  # the test split unless told otherwise
    settings = JudgeSettings(level="quick", probe_samples=600, shots=20, others=80, relearn_steps=100, relearn_batch=25)
    kept = judge(parent, train_cfg=regularised, settings=settings, **common)
    assert kept["probe_recall"] == kept["probe_recall_1"] > 0.9 and kept["probe_accuracy_1"] > 0.9
    assert min(kept["relearn_curve"]) > 0.9 and kept["relearn_steps"] == 0
    back = judge(retrained, train_cfg=CFG, settings=settings, **common)
    curve = np.array(back["relearn_curve"])
    assert len(curve) == 101 and curve[0] < 0.1 and back["relearn_steps"] == steps_to_reach(curve, 0.5)
    assert steps_to_reach(curve, 1 / 3) < steps_to_reach(curve, 0.5)  # half, not some other share
    assert {k: v for k, v in back.items() if k.startswith("relearn_df_")} == {
        f"relearn_df_{step}": curve[step] for step in (10, 25, 50, 100)}


def test_membership_figure_calls_the_class_by_where_its_training_images_fall():
    """A read-out of 10 x identity: a one-hot input gives a confident output, a zero input a uniform one. The
    retained training images (members) are 6 of 8 confident, the retained test images 2 of 8, so the fit calls
    confident outputs member and uniform ones not; the class's own test images are all confident (they are not
    part of the fit)."""
    net = Network([10 * np.eye(3)], [np.zeros(3)])
    sure, unsure = [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]
    retained_train = [sure] * 6 + [unsure] * 2
    retained_eval = [sure, unsure, unsure, unsure, sure, unsure, unsure, unsure]
    y_train, y_eval = np.array([0, 1] * 4 + [2] * 4), np.array([0, 1] * 4 + [2] * 4)
    x_eval = np.array(retained_eval + [sure] * 4)
    for class_rows, rate in ((unsure, 0.0), (sure, 1.0)):
        x_train = np.array(retained_train + [class_rows] * 4)
        assert membership_figure(net, (x_train, y_train), (x_eval, y_eval), 2, seed=0) == rate


def test_probabilities_and_hidden_features_in_chunks():
    net = Network.xavier([4, 5, 6, 3], seed=1)
    x = np.random.default_rng(1).random((11, 4))
    features = hidden_features(net, x, [1, 2], chunk=3)
    for layer in (1, 2):
        np.testing.assert_allclose(features[layer], net.activations(x)[layer], rtol=1e-6)
    np.testing.assert_allclose(output_probabilities(net, x), softmax(net.predict(x)), rtol=1e-6)
    as_softmax = Network(net.weights, net.biases, output="softmax")
    np.testing.assert_allclose(output_probabilities(as_softmax, x), as_softmax.predict(x), rtol=1e-6)
    np.testing.assert_allclose(output_probabilities(as_softmax, x).sum(axis=1), 1, rtol=1e-6)


def test_anamnesis_needs_a_retrain_row_that_relearned():
    rows = [{"method": "parent", "relearn_steps": 0.0}, {"method": "ours", "relearn_steps": 4.0}]
    add_anamnesis(rows)
    assert all("anamnesis" not in r for r in rows)
    rows = [{"method": "retrain", "relearn_steps": 8.0}, {"method": "ours", "relearn_steps": 4.0}, {"method": "none"}]
    add_anamnesis(rows)
    assert [r.get("anamnesis") for r in rows] == [1.0, 0.5, None]


def test_tuned_ssd_takes_the_lowest_df_among_settings_that_keep_dr():
    x, y = blobs(6)
    net = trained(x, y, seed=2)
    figures = iter([(0.9, 0.80)] + [(0.5, 0.70), (0.1, 0.795), (0.0, 0.60), (0.3, 0.80)] + [(0.9, 0.8)] * 100)
    _, _, alpha, lam = tuned_ssd(net, x[y == 0], y[y == 0], x, y, lambda _: next(figures), batch=50, loss="quadratic",
                                 alphas=(1.0, 2.0), lambdas=(0.1, 1.0))
    assert (alpha, lam) == (1.0, 1.0)  # Df 0.1 with Dr 0.795: within 1 pt of 0.80; Df 0.0 lost 20 pts


def test_accuracy_figures_split_the_class_from_the_rest():
    """An identity read-out predicts each one-hot row's own class: Df and Dr count the right rows of each part."""
    net = Network([np.eye(3)], [np.zeros(3)])
    predicted = np.array([0, 0, 1, 2, 2, 1, 1, 0])
    y = np.array([0, 1, 1, 2, 2, 2, 0, 0])
    figures = accuracy_figures(net, np.eye(3)[predicted], y, 0, 3)
    assert figures["df"] == pytest.approx(2 / 3)  # class 0: rows 0, 6, 7; right on 0 and 7
    assert figures["dr"] == pytest.approx(3 / 5)  # the rest: rows 1-5; wrong on rows 1 and 5
    assert figures["accuracy"] == pytest.approx(5 / 8)
    assert figures["per_class_accuracy"] == pytest.approx([2 / 3, 1 / 2, 2 / 3])


def test_quick_judging_probes_the_last_hidden_layer_and_full_every_one_with_three_draws():
    net = Network.xavier([4, 5, 6, 7, 2], seed=0)
    assert probe_layers(net, "quick") == [3] and probe_layers(net, "full") == [1, 2, 3]
    assert JudgeSettings(level="quick").n_draws == 1 and JudgeSettings(level="full").n_draws == 3
    assert JudgeSettings(level="full", draws=2).n_draws == 2
    assert LEVELS == get_args(get_type_hints(ForgetSpec)["evaluate"])
    forget = ForgetSpec(probe_samples=300, relearn_shots=7, relearn_others=70, relearn_steps=40)
    assert JudgeSettings.of(forget, "full") == JudgeSettings(level="full", probe_samples=300, shots=7, others=70,
                                                              relearn_steps=40)
    documented = JudgeSettings()  # docs/forgetting.md, "Judging a forgetting"
    assert (documented.level, documented.probe_samples, documented.shots, documented.others,
            documented.relearn_steps, documented.relearn_batch) == ("quick", 10_000, 100, 900, 100, 100)
