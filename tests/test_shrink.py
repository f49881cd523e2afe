"""Removing dead units: a hand-worked case, cascades, and equality with the masked network."""

import numpy as np

from sparana_cli.analysis.pruning import remove_to_sparsity
from sparana_cli.analysis.scores import score_layers
from sparana_cli.analysis.shrink import dense_size, live_units, shrink, surviving_weights
from sparana_cli.engine.network import Network


def hand_built():
    """3 inputs -> 4 -> 2 -> 2 outputs, float64, with masks that kill units in both hidden layers."""
    w0 = np.array([[0.2, 0.4, -0.3, 0.1],
                   [0.6, -0.5, 0.8, 0.2],
                   [-0.1, 0.9, 0.7, -0.4]])
    m0 = np.array([[0, 0, 1, 1],
                   [0, 0, 1, 1],
                   [0, 0, 0, 1]], bool)  # hidden units 0 and 1 get no input: constant relu(b)
    b0 = np.array([0.5, -0.2, 0.3, 0.7])
    w1 = np.array([[1.0, 2.0],
                   [3.0, 4.0],
                   [0.5, -1.0],
                   [9.0, 9.0]])
    m1 = np.array([[1, 1],
                   [1, 1],
                   [1, 0],   # unit 2 feeds only hidden2 unit 0
                   [0, 0]], bool)  # unit 3 feeds nothing: removed without folding
    b1 = np.array([0.1, 0.2])
    w2 = np.array([[1.5, -0.5],
                   [2.0, 1.0]])
    b2 = np.array([0.0, 0.3])
    net = Network([w0, w1, w2], [b0, b1, b2], [m0, m1, np.ones((2, 2), bool)])
    net.apply_masks()
    return net


def test_hand_built_network_folds_by_hand():
    net = hand_built()
    alive = live_units(net.masks)
    np.testing.assert_array_equal(alive[0], [False, False, True, False])
    # hidden2 unit 1 hears only from the dead units 0 and 1, so it dies too (a cascade)
    np.testing.assert_array_equal(alive[1], [True, False])
    small = shrink(net)
    assert small.sizes == [3, 1, 1, 2]
    # b1 += relu(0.5) * [1, 2] + relu(-0.2) * [3, 4] = [0.1 + 0.5, 0.2 + 1.0]; unit 3's row is masked
    np.testing.assert_allclose(small.biases[1], [0.6])  # only hidden2 unit 0 stays
    # hidden2 unit 1 is the constant relu(1.2): b2 += 1.2 * [2.0, 1.0]
    np.testing.assert_allclose(small.biases[2], [2.4, 1.5])
    np.testing.assert_allclose(small.biases[0], [0.3])
    np.testing.assert_allclose(small.weights[0], [[-0.3], [0.8], [0.0]])
    np.testing.assert_allclose(small.weights[1], [[0.5]])
    np.testing.assert_allclose(small.weights[2], [[1.5, -0.5]])
    np.testing.assert_array_equal(small.masks[0], [[True], [True], [False]])
    x = np.random.default_rng(0).random((50, 3))
    np.testing.assert_allclose(small.predict(x), net.predict(x), atol=1e-12)
    assert surviving_weights(net.masks, alive) == [2, 1, 2]


def test_shrink_leaves_the_original_alone():
    net = hand_built()
    before = [a.copy() for a in net.weights + net.biases + net.masks]
    shrink(net)
    for a, b in zip(before, net.weights + net.biases + net.masks):
        np.testing.assert_array_equal(a, b)


def test_a_layer_with_no_input_collapses_to_a_constant():
    net = hand_built()
    net.masks[0][:] = False
    net.apply_masks()
    small = shrink(net)
    assert small.sizes == [3, 0, 0, 2]
    x = np.random.default_rng(1).random((5, 3))
    np.testing.assert_allclose(small.predict(x), net.predict(x), atol=1e-12)


def test_shrunk_outputs_equal_masked_outputs_after_maav_pruning():
    rng = np.random.default_rng(4)
    net = Network.xavier([40, 60, 50, 30, 10], seed=4)
    net.biases = [rng.normal(0, 0.3, b.shape).astype(np.float32) for b in net.biases]  # some negative: relu(b) = 0
    x = rng.random((300, 40), dtype=np.float32)
    for target in (0.5, 0.8, 0.95):
        scores = score_layers("maav", net, x)
        gone = remove_to_sparsity(scores[:3], net.masks[:3], target)
        net.masks[:3] = [m & ~g for m, g in zip(net.masks[:3], gone)]
        net.apply_masks()
    small = shrink(net)
    assert sum(small.sizes) < sum(net.sizes)
    assert np.abs(small.predict(x) - net.predict(x)).max() <= 1e-5


def test_a_unit_left_without_outputs_by_a_later_removal_is_removed_too():
    masks = [np.ones((2, 2), bool), np.array([[True, True], [False, True]]), np.array([[True, True], [False, False]])]
    # hidden unit 1 of the second layer feeds nothing, so it goes; then unit 1 of the first layer, which fed
    # only it, feeds nothing either: removal runs until nothing changes, not one pass over the layers
    alive = live_units(masks)
    assert [a.tolist() for a in alive] == [[True, False], [True, False]]
    assert surviving_weights(masks, alive) == [2, 1, 2]


def test_dense_size_counts_weights_and_biases():
    assert dense_size([784, 300, 100, 10]) == 266_610  # LeNet-300-100
    assert dense_size([3, 2]) == 8
