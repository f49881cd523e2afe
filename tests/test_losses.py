"""Output activations and the loss pairs (the gradients themselves: tests/test_gradients.py)."""

import numpy as np
import pytest

from sparana_cli.engine.losses import activate_output, loss_and_delta, softmax


def test_softmax_of_huge_logits_is_finite_and_shift_invariant():
    z = np.array([[1000.0, 1001.0, 999.0], [-5.0, 0.0, 5.0]], dtype=np.float32)
    p = softmax(z)
    assert np.all(np.isfinite(p)) and p is not z
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(p[0], softmax(z[:1] - 1000.0)[0], rtol=1e-6)
    e = np.exp([-1.0, 0.0, -2.0])
    np.testing.assert_allclose(p[0], e / e.sum(), rtol=1e-6)


def test_the_output_activation_is_softmax_or_nothing():
    z = np.array([[2.0, -1.0, 0.5]], dtype=np.float32)
    linear = activate_output(z.copy(), "linear")
    np.testing.assert_array_equal(linear, z)
    soft = activate_output(z.copy(), "softmax")
    np.testing.assert_allclose(soft, softmax(z), rtol=1e-6)
    assert soft.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("output, loss", [("linear", "cross_entropy"), ("tanh", "quadratic")])
def test_a_pair_without_a_gradient_is_refused_naming_it(output, loss):
    z = np.zeros((2, 3), dtype=np.float32)
    with pytest.raises(ValueError) as refused:
        loss_and_delta(z, np.array([0, 1]), output=output, loss=loss, delta=np.empty_like(z))
    assert str(refused.value) == f"unsupported output/loss pair: {output}/{loss}"
