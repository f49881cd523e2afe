"""The Network's bookkeeping: its checks, Xavier initialisation, copies, masks and the forward pass by layer and chunk."""

import math

import numpy as np
import pytest

from sparana_cli.engine.backend import CPU
from sparana_cli.engine.network import Network, Workspace, forward_train, skip_dropout


def layers(sizes=(5, 4, 3), dtype=np.float32):
    rng = np.random.default_rng(0)
    ws = [rng.standard_normal((a, b)).astype(dtype) for a, b in zip(sizes[:-1], sizes[1:])]
    return ws, [rng.standard_normal(b).astype(dtype) for b in sizes[1:]]


@pytest.mark.parametrize("break_it, says", [("no layers", ""), ("bias shape", "layer 1 shapes"), ("mask shape", "layer 0 shapes"),
                                            ("bias dtype", "layer 0 dtypes"), ("mask dtype", "layer 1 dtypes"),
                                            ("chain", "layer 1 does not follow layer 0")])
def test_a_network_whose_arrays_do_not_fit_together_is_refused(break_it, says):
    weights, biases = layers()
    masks = [np.ones(w.shape, dtype=bool) for w in weights]
    if break_it == "no layers":
        weights, biases, masks = [], [], []
    elif break_it == "bias shape":
        biases[1] = biases[1][:2]
    elif break_it == "mask shape":
        masks[0] = masks[0][:, :3]
    elif break_it == "bias dtype":
        biases[0] = biases[0].astype(np.float64)
    elif break_it == "mask dtype":
        masks[1] = masks[1].astype(np.float32)
    else:
        weights[1], masks[1] = weights[1][:3], masks[1][:3]
    with pytest.raises((AssertionError, IndexError)) as refused:
        Network(weights, biases, masks)
    assert str(refused.value) == says or break_it == "no layers"
    assert Network(*layers()).output == "linear"  # the unbroken arrays are accepted, one layer too
    assert Network(*layers((5, 3))).n_layers == 1


def test_xavier_draws_glorot_uniform_weights_and_constant_biases_from_a_named_stream():
    sizes = [30, 20, 10]
    net = Network.xavier(sizes, seed=3)
    assert net.dtype == np.float32 and net.output == "linear" and net.sizes == sizes
    for w, (fan_in, fan_out) in zip(net.weights, zip(sizes[:-1], sizes[1:])):
        limit = math.sqrt(6.0 / (fan_in + fan_out))
        assert w.shape == (fan_in, fan_out) and np.abs(w).max() <= limit and np.abs(w).max() > 0.9 * limit
        assert w.min() < -0.5 * limit and w.max() > 0.5 * limit
    assert all(np.all(b == np.float32(0.1)) for b in net.biases)
    assert all(m.all() and m.dtype == bool for m in net.masks)
    same = Network.xavier(sizes, seed=3, stream="init")
    assert all(np.array_equal(a, b) for a, b in zip(net.weights, same.weights))
    assert np.array_equal(Network.xavier(sizes).weights[0], Network.xavier(sizes, seed=0).weights[0])
    assert not np.array_equal(net.weights[0], Network.xavier(sizes, seed=3, stream="other").weights[0])
    assert not np.array_equal(net.weights[0], Network.xavier(sizes, seed=4).weights[0])
    wide = Network.xavier(sizes, seed=3, bias=-0.5, dtype="float64", output="softmax")
    assert wide.dtype == np.float64 and np.all(wide.biases[1] == -0.5) and wide.output == "softmax"


def test_hidden_layers_are_relu_and_the_output_layer_is_the_networks_activation():
    net = Network.xavier([4, 6, 5, 3], output="softmax", seed=0)
    assert [net.activation(i) for i in range(3)] == ["relu", "relu", "softmax"]
    x = np.random.default_rng(1).standard_normal((7, 4)).astype(np.float32)
    hidden = net.layer(0, x)
    np.testing.assert_allclose(hidden, np.maximum(x @ net.weights[0] + net.biases[0], 0), rtol=1e-6)
    net.biases[2][:] = -5.0
    out = net.layer(2, np.ones((2, 5), dtype=np.float32))
    assert np.all(out < 0)  # the output layer's pre-activation is not clipped
    nan = net.layer(0, np.full((1, 4), np.nan, dtype=np.float32))
    assert np.all(np.isnan(nan))  # NaN stays NaN through the ReLU


def test_activations_and_chunked_predictions_agree_with_the_layer_by_layer_definition():
    net = Network.xavier([4, 6, 5, 3], output="softmax", seed=2)
    x = np.random.default_rng(1).standard_normal((11, 4)).astype(np.float32)
    a = x
    expected = [x]
    for i in range(3):
        a = a @ net.weights[i] + net.biases[i]
        if i < 2:
            a = np.maximum(a, 0)
        expected.append(a)
    e = np.exp(a - a.max(axis=1, keepdims=True))
    expected[-1] = e / e.sum(axis=1, keepdims=True)
    acts = net.activations(x)
    assert len(acts) == 4 and acts[0] is x
    for got, want in zip(acts, expected):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
    for k, chunk in enumerate((1, 3, 11, 50)):  # other rows each time: a chunk left out cannot show stale values
        np.testing.assert_allclose(net.predict(x[k:], chunk=chunk), expected[-1][k:], rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(net.predict(x), net.predict(x, chunk=4))


def test_a_network_of_one_layer_knows_its_device_and_predicts_its_output_activation():
    from sparana_cli.engine.backend import backend_of

    net = Network.xavier([4, 3], output="softmax", seed=2)  # no hidden layer: a softmax classifier
    assert net.xp is np and net.kernels is backend_of(net.weights[0]).kernels
    x = np.random.default_rng(1).standard_normal((5, 4)).astype(np.float32)
    z = x @ net.weights[0] + net.biases[0]
    e = np.exp(z - z.max(axis=1, keepdims=True))
    np.testing.assert_allclose(net.predict(x), e / e.sum(axis=1, keepdims=True), rtol=1e-5, atol=1e-7)


def test_copies_loads_moves_and_masks():
    net = Network.xavier([4, 6, 3], seed=0)
    net.masks[0][0] = False
    twin = net.copy()
    assert twin.output == net.output
    twin.weights[0][1, 1] = 9.0
    assert net.weights[0][1, 1] != 9.0  # a copy shares no array
    other = Network.xavier([4, 6, 3], seed=5)
    other.masks[1][:, 0] = False
    net.load_state(other)
    for a, b in zip(net.weights + net.biases + net.masks, other.weights + other.biases + other.masks):
        np.testing.assert_array_equal(a, b)
    moved = net.to(CPU)
    assert all(np.array_equal(a, b) for a, b in zip(moved.weights + moved.masks, net.weights + net.masks))
    net.apply_masks()
    assert np.all(net.weights[1][:, 0] == 0) and np.all(net.weights[1][:, 1:] == other.weights[1][:, 1:])


def test_a_workspace_for_chosen_weights_splits_their_flat_indices_into_rows_and_columns():
    net = Network.xavier([4, 6, 3], seed=0)
    ws = Workspace(net, 8, trainable=[np.array([0, 7, 23]), np.array([2, 17])])
    np.testing.assert_array_equal(ws.rows[0], [0, 1, 3])
    np.testing.assert_array_equal(ws.cols[0], [0, 1, 5])
    np.testing.assert_array_equal(ws.rows[1], [0, 5])
    np.testing.assert_array_equal(ws.cols[1], [2, 2])
    assert [g.shape for g in ws.grad_w] == [(3,), (2,)] and ws.grad_b == []
    assert [a.shape for a in ws.acts] == [(8, 4), (8, 6), (8, 3)] and ws.batch == 8
    assert Workspace(net, 8).delta[0] is None and Workspace(net, 8, input_grad=True).delta[0].shape == (8, 4)


def test_skipping_dropout_draws_what_the_skipped_steps_drew_and_nothing_without_dropout():
    net = Network.xavier([4, 6, 5, 3], seed=0)
    x = np.ones((8, 4), dtype=np.float32)
    ws = Workspace(net, 8, dropout=0.5)
    taken = np.random.default_rng(3)
    for _ in range(2):
        ws.acts[0][:] = x
        forward_train(net, ws, 8, taken)
    skipped = np.random.default_rng(3)
    skip_dropout(ws, 8, 2, skipped)
    assert taken.random() == skipped.random()
    plain, untouched = np.random.default_rng(3), np.random.default_rng(3)
    skip_dropout(Workspace(net, 8), 8, 2, plain)
    assert plain.random() == untouched.random()
