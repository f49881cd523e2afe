"""The measures that judge a forgetting: each checked where the answer is known, so that each can fail."""


import numpy as np
import pytest

from sparana_cli.analysis.forgetting import group_rows, probe_direction
from sparana_cli.analysis.judging import JudgeSettings, accuracy_figures, judge_rows, probe_layers
from sparana_cli.analysis.membership import fit_logistic, member_rate, output_entropy
from sparana_cli.analysis.probe import fit_probe, probe_score
from sparana_cli.analysis.relearn import anamnesis_index, few_shot_rows, relearn_curve, steps_to_reach
from sparana_cli.analysis.ssd import tuned_ssd
from sparana_cli.engine.network import Network
from sparana_cli.engine.training import train_steps
from sparana_cli.spec import TrainSpec


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
    np.testing.assert_allclose([(p - label) @ z, (p - label).sum()], 0, atol=1e-3)
    assert w > 0


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
    rows = judge_rows([("parent", parent), ("never saw it", retrained.copy()), ("retrain", retrained)], splits=splits,
                      target=2, n_classes=4, train_cfg=CFG, loss="quadratic", seed=0, settings=settings)
    by = {r["method"]: r for r in rows}
    assert by["parent"]["df"] > 0.9 and by["retrain"]["df"] < 0.1
    assert by["parent"]["relearn_steps"] == 0 and by["parent"]["anamnesis"] == 0  # the no-op control fails
    assert by["never saw it"]["anamnesis"] == 1.0 and by["retrain"]["relearn_steps"] > 0
    assert {"probe_recall_1", "mia"} <= by["parent"].keys() and len(by["parent"]["relearn_curve"]) == 31


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
    documented = JudgeSettings()  # docs/forgetting.md, "Judging a forgetting"
    assert (documented.level, documented.probe_samples, documented.shots, documented.others,
            documented.relearn_steps, documented.relearn_batch) == ("quick", 10_000, 100, 900, 100, 100)
