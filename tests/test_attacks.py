"""Adversarial attacks, detection scores and AUROC, checked against hand computations."""

import inspect
import itertools
import warnings
from pathlib import Path

import numpy as np
import pytest

from sparana_cli.analysis.attacks import (
    attack_objective,
    auroc,
    detection_score,
    fgsm,
    low_confidence,
    onehot_distance,
    perturb,
    pgd,
)
from sparana_cli.engine.losses import loss_and_delta
from sparana_cli.engine.network import Network
from sparana_cli.engine.training import Trainer
from sparana_cli.spec import AttackSpec, TrainSpec
from tests.conftest import make_images
from tests.test_gradients import H, reference_objective, small_net

PAIRS = [("linear", "quadratic"), ("softmax", "cross_entropy")]


def mean_loss(net, x, y, loss):
    z = net.activations(x)[-2] @ net.weights[-1] + net.biases[-1]
    return float(loss_and_delta(z, y, output=net.output, loss=loss, delta=np.empty_like(z))) / len(y)


@pytest.fixture(scope="module", params=PAIRS, ids=["LQ", "SCE"])
def trained(request):
    """A small ReLU network trained on the tiny image set: (net, loss, x_test, y_test)."""
    output, loss = request.param
    x, y = make_images(400, seed=1)
    xt, yt = make_images(200, seed=2)
    x, xt = (a.reshape(len(a), -1).astype(np.float32) / 255 for a in (x, xt))
    y, yt = y.astype(np.int64), yt.astype(np.int64)
    net = Network.xavier([36, 24, 16, 10], output=output, seed=5)
    trainer = Trainer(net, TrainSpec(lr=0.003, batch_size=40), loss=loss, seed=5)
    for epoch in range(16):
        trainer.epoch(x, y, epoch)
    assert (net.predict(xt).argmax(1) == yt).mean() > 0.95
    return net, loss, xt, yt


@pytest.mark.parametrize("output, model_loss, attack_loss", [(*pair, "model") for pair in PAIRS]
                         + [("linear", "quadratic", "cross_entropy"), ("softmax", "cross_entropy", "cross_entropy")])
def test_fgsm_steps_along_the_sign_of_the_finite_difference_gradient(output, model_loss, attack_loss):
    net = small_net(output)
    target, loss = attack_objective(net, model_loss, attack_loss)
    assert loss == (model_loss if attack_loss == "model" else "cross_entropy")
    assert all(a is b for a, b in zip(target.weights + target.biases, net.weights + net.biases))  # a view, no copy
    reference = Network(net.weights, net.biases, output="softmax" if loss == "cross_entropy" else "linear")
    rng = np.random.default_rng(3)
    x, y = rng.uniform(0.3, 0.7, (6, 5)), rng.integers(0, 4, 6)
    eps = 0.01
    step = fgsm(target, x, y, eps, loss=loss) - x
    for index in np.ndindex(x.shape):
        old = x[index]
        x[index] = old + H
        up = reference_objective(reference, x, y, loss)
        x[index] = old - H
        down = reference_objective(reference, x, y, loss)
        x[index] = old
        assert step[index] == pytest.approx(eps * np.sign(up - down), abs=1e-12), index
    assert net.output == output  # the model itself is untouched


def test_fgsm_is_the_exact_worst_case_for_a_linear_model_with_one_output():
    """L = 1/2 (x.w + b - 1)^2 over |d|_inf <= eps peaks at d = eps sign(r) sign(w), r the residual:
    the loss there is 1/2 (|r| + eps |w|_1)^2, and no corner of the box does better."""
    rng = np.random.default_rng(0)
    w, b = rng.normal(0, 1, (4, 1)), np.array([0.2])
    net = Network([w], [b], output="linear")
    x, y, eps = rng.uniform(0.3, 0.7, (5, 4)), np.zeros(5, dtype=np.int64), 0.05
    x_adv = fgsm(net, x, y, eps, loss="quadratic")
    r = x @ w[:, 0] + b[0] - 1
    np.testing.assert_array_equal(x_adv, x + eps * np.sign(r)[:, None] * np.sign(w[:, 0]))
    worst = 0.5 * (np.abs(r) + eps * np.abs(w).sum()) ** 2
    np.testing.assert_allclose(0.5 * (x_adv @ w[:, 0] + b[0] - 1) ** 2, worst, rtol=1e-12)
    for corner in itertools.product((-eps, eps), repeat=4):
        assert np.all(0.5 * ((x + corner) @ w[:, 0] + b[0] - 1) ** 2 <= worst + 1e-12)


def test_fgsm_on_a_linear_model_by_hand_with_pixel_clipping():
    rng = np.random.default_rng(1)
    w, b = rng.normal(0, 1, (6, 3)), rng.normal(0, 0.1, 3)
    net = Network([w], [b], output="linear")
    x = np.array([[0.0, 1.0, 0.5, 0.02, 0.99, 0.3], [1.0, 0.0, 0.0, 1.0, 0.6, 0.97]])
    y, eps = np.array([2, 0]), 0.1
    residual = x @ w + b - np.eye(3)[y]  # d(1/2 |xW + b - t|^2)/dx = (xW + b - t) W^T
    expected = np.clip(x + eps * np.sign(residual @ w.T), 0, 1)
    x_adv = fgsm(net, x, y, eps, loss="quadratic")
    np.testing.assert_array_equal(x_adv, expected)
    assert x_adv.min() >= 0 and x_adv.max() <= 1 and np.abs(x_adv - x).max() <= eps + 1e-15
    assert np.any(x_adv != x + eps * np.sign(residual @ w.T))  # some pixels were clipped


def one_output_model(n=6):
    """A linear model with one output whose residual x.w + b - 1 stays negative on [0, 1] images: the quadratic
    loss rises along -sign(w), the same direction at every point. w[2] = 0: the loss does not depend on pixel 2."""
    w = np.array([[0.8], [-1.3], [0.0], [0.4], [-0.2], [1.1]])[:n]
    return Network([w], [np.array([-5.0])], output="linear"), -np.sign(w[:, 0])


def test_pixels_the_loss_does_not_depend_on_are_left_alone():
    net, direction = one_output_model()
    x, y, eps = np.random.default_rng(2).uniform(0.3, 0.7, (4, 6)), np.zeros(4, dtype=np.int64), 0.05
    np.testing.assert_array_equal(fgsm(net, x, y, eps, loss="quadratic"), x + eps * direction)
    x_pgd = pgd(net, x, y, eps, loss="quadratic", steps=3, random_start=False)
    np.testing.assert_array_equal(x_pgd[:, 2], x[:, 2])


def test_pgd_walks_step_scale_times_eps_in_steps_of_a_fraction_of_it():
    """Without a random start and with a constant gradient sign, `steps` steps of step_scale * eps / steps add up
    to step_scale * eps: half the ball's radius for step_scale 0.5, so no projection is involved."""
    net, direction = one_output_model()
    x, y, eps = np.random.default_rng(3).uniform(0.3, 0.7, (4, 6)), np.zeros(4, dtype=np.int64), 0.08
    x_adv = pgd(net, x, y, eps, loss="quadratic", steps=4, step_scale=0.5, random_start=False)
    np.testing.assert_allclose(x_adv, x + 0.5 * eps * direction, rtol=0, atol=1e-15)


def test_pgd_random_start_is_uniform_over_the_eps_ball():
    """With steps too small to matter, PGD ends where it started: a uniform draw from the ball around each image,
    mean offset 0, mean |offset| eps/2, and (almost) nothing on the ball's surface."""
    net, _ = one_output_model()
    x, y, eps = np.random.default_rng(4).uniform(0.3, 0.7, (1000, 6)), np.zeros(1000, dtype=np.int64), 0.1
    d = (pgd(net, x, y, eps, loss="quadratic", steps=1, step_scale=1e-9, seed=3) - x) / eps
    assert abs(d.mean()) < 0.02 and abs(np.abs(d).mean() - 0.5) < 0.02
    assert (np.abs(d) > 1 - 1e-6).mean() < 0.01 and np.abs(d).max() <= 1 + 1e-6


def test_attack_function_defaults_are_the_spec_defaults():
    spec = AttackSpec()
    for function in (pgd, perturb):
        defaults = {k: v.default for k, v in inspect.signature(function).parameters.items()}
        assert (defaults["steps"], defaults["step_scale"], defaults["random_start"]) == (
            spec.steps, spec.step_scale, spec.random_start)
    assert inspect.signature(perturb).parameters["batch_size"].default == spec.batch_size
    docs = (Path(__file__).parents[1] / "docs" / "attacks.md").read_text()
    assert f"`step_scale`·eps/steps ({spec.step_scale}, as in Madry et al. 2018)" in " ".join(docs.split())


def test_perturb_reports_the_rows_of_each_batch():
    net, _ = one_output_model()
    x, y = np.random.default_rng(5).uniform(0, 1, (150, 6)), np.zeros(150, dtype=np.int64)
    for method in ("fgsm", "pgd"):
        done = []
        perturb(method, net, x, y, 0.1, loss="quadratic", steps=2, batch_size=64, on_batch=done.append)
        assert done == [64, 64, 22]


@pytest.mark.parametrize("method", ["fgsm", "pgd"])
def test_eps_zero_changes_nothing(trained, method):
    net, loss, x, y = trained
    x_adv = perturb(method, net, x, y, 0.0, loss=loss, steps=3, batch_size=64)
    assert x_adv.tobytes() == x.tobytes()


@pytest.mark.parametrize("eps", [0.02, 0.1, 0.3])
@pytest.mark.parametrize("step_scale, random_start", [(2.5, True), (10.0, False)])
def test_pgd_stays_in_the_eps_ball_and_the_pixel_range(trained, eps, step_scale, random_start):
    net, loss, x, y = trained
    x_adv = pgd(net, x, y, eps, loss=loss, steps=5, step_scale=step_scale, random_start=random_start, seed=1)
    assert x_adv.dtype == x.dtype
    assert np.abs(x_adv - x).max() <= eps * (1 + 1e-6)
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    assert np.abs(x_adv - x).max() >= 0.9 * eps  # it moved as far as it may


def test_pgd_does_at_least_as_well_as_fgsm(trained):
    net, loss, x, y = trained
    eps = 0.25
    x_fgsm = perturb("fgsm", net, x, y, eps, loss=loss, batch_size=64)
    x_pgd = perturb("pgd", net, x, y, eps, loss=loss, steps=10, batch_size=64, seed=2)
    accuracy = [float((net.predict(a).argmax(1) == y).mean()) for a in (x, x_fgsm, x_pgd)]
    assert accuracy[2] <= accuracy[1] < accuracy[0]
    assert mean_loss(net, x_pgd, y, loss) >= mean_loss(net, x_fgsm, y, loss) > mean_loss(net, x, y, loss)


def test_batches_do_not_change_fgsm_and_seeds_fix_pgd(trained):
    net, loss, x, y = trained
    one = perturb("fgsm", net, x, y, 0.1, loss=loss, batch_size=len(y))
    np.testing.assert_array_equal(one, perturb("fgsm", net, x, y, 0.1, loss=loss, batch_size=7))
    a, b, c = (perturb("pgd", net, x, y, 0.1, loss=loss, steps=3, batch_size=50, seed=s) for s in (4, 4, 5))
    assert a.tobytes() == b.tobytes() and a.tobytes() != c.tobytes()


def test_onehot_distance_and_low_confidence_by_hand():
    y = np.array([[0.2, 0.9, -0.1], [0.0, 0.0, 1.0], [0.5, 0.5, 0.5]])
    np.testing.assert_allclose(onehot_distance(y), [np.sqrt(0.04 + 0.01 + 0.01), 0.0, np.sqrt(0.25 * 3)])
    p = np.array([[0.7, 0.2, 0.1], [1.0, 0.0, 0.0], [0.25, 0.5, 0.25]])
    np.testing.assert_allclose(low_confidence(p), [0.3, 0.0, 0.5])
    wide = np.array([[0.1, 0.0, 0.3, 0.8], [0.5, 0.0, 0.0, 0.0]])  # more classes than rows
    np.testing.assert_allclose(onehot_distance(wide), [np.sqrt(0.01 + 0.09 + 0.04), 0.5])


def test_detection_score_follows_the_kind_of_output():
    """The names are those recorded in metrics.h5 (docs/run-folders.md: onehot_distance | 1-max_softmax)."""
    outputs = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    name, score = detection_score(small_net("linear"), outputs)
    assert name == "onehot_distance"
    np.testing.assert_allclose(score, onehot_distance(outputs))
    name, score = detection_score(small_net("softmax"), outputs)
    assert name == "1-max_softmax"
    np.testing.assert_allclose(score, [0.3, 0.2])
    documented = (Path(__file__).parents[1] / "docs" / "run-folders.md").read_text()
    assert "score (onehot_distance | 1-max_softmax)" in documented


def test_auroc_by_hand():
    negatives = np.array([0.1, 0.4, 0.35, 0.8])
    positives = np.array([0.8, 0.9, 0.4])
    # pairs won by the positive, ties count half: 0.8 -> 3 + 0.5, 0.9 -> 4, 0.4 -> 2 + 0.5; of 3 * 4 pairs
    assert auroc(negatives, positives) == pytest.approx(10 / 12)
    assert auroc(positives, negatives) == pytest.approx(2 / 12)
    assert auroc(np.array([0.0, 0.1]), np.array([0.5, 0.7, 0.6])) == 1.0
    assert auroc(np.array([0.5, 0.7]), np.array([0.1])) == 0.0
    assert auroc(np.full(5, 0.3), np.full(3, 0.3)) == 0.5
    assert auroc(np.array([0.5]), np.array([0.1, 0.9])) == 0.5  # one negative is enough
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # NaN for an empty set, without a 0/0
        assert np.isnan(auroc(np.array([0.1]), np.array([]))) and np.isnan(auroc(np.array([]), np.array([0.1])))


def test_auroc_matches_pair_counting():
    rng = np.random.default_rng(9)
    negatives, positives = rng.integers(0, 6, 40).astype(float), rng.integers(2, 8, 30).astype(float)
    wins = (positives[:, None] > negatives[None, :]).sum() + 0.5 * (positives[:, None] == negatives[None, :]).sum()
    assert auroc(negatives, positives) == pytest.approx(wins / (40 * 30))
