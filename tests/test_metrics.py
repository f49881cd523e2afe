"""engine/metrics: the accuracy measures every command prints, on cases small enough to count by hand."""

import math
import warnings

import numpy as np

from sparana_cli.engine.metrics import (
    accuracy,
    confusion_matrix,
    evaluate_network,
    evaluation_of,
    parameter_counts,
    per_class_accuracy,
)
from sparana_cli.engine.network import Network


def identity_net(n: int = 3) -> Network:
    """A one-layer read-out that predicts each one-hot row's own class."""
    return Network([np.eye(n)], [np.zeros(n)])


def test_confusion_matrix_counts_true_rows_against_predicted_columns():
    labels = np.array([0, 0, 1, 2, 2, 2])
    predicted = np.array([0, 1, 1, 2, 0, 2])
    np.testing.assert_array_equal(confusion_matrix(labels, predicted, 4),
                                  [[1, 1, 0, 0], [0, 1, 0, 0], [1, 0, 2, 0], [0, 0, 0, 0]])


def test_per_class_accuracy_is_the_diagonal_over_each_row_and_nan_without_samples():
    per_class = per_class_accuracy(np.array([[1, 1, 0, 0], [0, 3, 1, 0], [0, 0, 0, 0], [0, 0, 0, 1]]))
    np.testing.assert_allclose(per_class[[0, 1, 3]], [0.5, 0.75, 1.0])  # a class of one sample counts too
    assert math.isnan(per_class[2])


def test_accuracy_and_the_evaluation_of_a_known_read_out():
    net = identity_net()
    x = np.eye(3)[[0, 1, 2, 2, 1]]
    labels = np.array([0, 1, 2, 1, 0])
    assert accuracy(net, x, labels) == 3 / 5
    assert accuracy(net, x[:1], labels[:1]) == 1.0 and accuracy(net, x[3:4], labels[3:4]) == 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no rows: NaN, without NumPy's mean-of-empty warning
        assert math.isnan(accuracy(net, x[:0], labels[:0]))
    evaluation = evaluate_network(net, x, labels, 3)
    assert evaluation.accuracy == 3 / 5
    np.testing.assert_allclose(evaluation.per_class, [0.5, 0.5, 1.0])
    np.testing.assert_array_equal(evaluation.confusion, [[1, 1, 0], [0, 1, 1], [0, 0, 1]])
    assert evaluation.as_dict() == {"accuracy": 0.6, "per_class_accuracy": [0.5, 0.5, 1.0],
                                    "confusion": [[1, 1, 0], [0, 1, 1], [0, 0, 1]]}
    assert math.isnan(evaluation_of(np.zeros((2, 2), dtype=int)).accuracy)


def test_parameter_counts_per_layer_total_and_nonzero():
    net = Network([np.array([[1.0, 0.0, 2.0], [0.0, 0.0, 3.0]]), np.ones((3, 2))], [np.zeros(3), np.zeros(2)])
    counts = parameter_counts(net)
    assert counts["layers"] == [{"layer": 0, "shape": [2, 3], "weights": 6, "nonzero": 3, "biases": 3},
                                {"layer": 1, "shape": [3, 2], "weights": 6, "nonzero": 6, "biases": 2}]
    assert counts["total"] == 17 and counts["nonzero"] == 14
