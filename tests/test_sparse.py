"""CSR weights: the stored arrays, inference through scipy.sparse, and model.h5 round trips."""

import h5py
import numpy as np
import pytest

from sparana_cli.engine.network import Network
from sparana_cli.engine.sparse import CSRNetwork, csr_parts, dense_from_csr
from sparana_cli.errors import UserError
from sparana_cli.store import runs


def pruned_net(output="linear", sparsity=0.8, seed=0):
    net = Network.xavier([30, 25, 20, 10], output=output, seed=seed)
    rng = np.random.default_rng(seed)
    for i in range(3):
        net.masks[i] = rng.random(net.weights[i].shape) > sparsity
    net.masks[0][:, 3] = False  # an empty column
    net.masks[1][5] = False  # an empty row
    net.apply_masks()
    return net


def test_csr_arrays_hold_exactly_the_mask():
    net = pruned_net()
    w, m = net.weights[0], net.masks[0]
    data, indices, indptr = csr_parts(w, m)
    assert data.shape == (m.sum(),) and indptr[-1] == m.sum() and indptr.shape == (31,)
    back_w, back_m = dense_from_csr(data, indices, indptr, w.shape)
    np.testing.assert_array_equal(back_w, w)
    np.testing.assert_array_equal(back_m, m)


@pytest.mark.parametrize("output", ["linear", "softmax"])
def test_csr_inference_equals_dense(output):
    net = pruned_net(output)
    x = np.random.default_rng(1).random((333, 30), dtype=np.float32)
    for layers in ([0, 1, 2], [1], [2]):
        sparse = CSRNetwork(net, layers)
        np.testing.assert_allclose(sparse.predict(x, chunk=100), net.predict(x), rtol=1e-5, atol=1e-6)


def test_model_h5_with_csr_layers_round_trips(tmp_path):
    net = pruned_net()
    runs.save_model(tmp_path / "model.h5", net, {"phase": "prune"}, csr_layers=[0, 2])
    with h5py.File(tmp_path / "model.h5") as f:
        assert set(f["layers/0"]) == {"csr", "bias"} and set(f["layers/0/csr"]) == {"data", "indices", "indptr"}
        assert list(f["layers/0/csr"].attrs["shape"]) == [30, 25] and f["layers/0"].attrs["format"] == "csr"
        assert "weights" in f["layers/1"] and f["layers/1"].attrs["format"] == "dense"
    assert runs.layer_formats(tmp_path) == ["csr", "dense", "csr"]
    back, _ = runs.load_model(tmp_path)
    for a, b in zip(net.weights + net.masks + net.biases, back.weights + back.masks + back.biases):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == b.dtype


@pytest.mark.parametrize("damage", ["indptr", "indices", "shape", "missing"])
def test_damaged_csr_is_a_user_error(tmp_path, damage):
    runs.save_model(tmp_path / "model.h5", pruned_net(), {"phase": "prune"}, csr_layers=[1])
    with h5py.File(tmp_path / "model.h5", "a") as f:
        g = f["layers/1/csr"]
        if damage == "indptr":
            del g["indptr"]
            g["indptr"] = np.arange(5)
        elif damage == "indices":
            indices = g["indices"][()]
            indices[0] = 99
            g["indices"][...] = indices
        elif damage == "shape":
            g.attrs["shape"] = [3]
        else:
            del g["data"]
    with pytest.raises(UserError, match="layers/1/csr"):
        runs.load_model(tmp_path)


def test_csr_indices_are_32_bit_for_any_matrix_that_fits():
    mask = np.zeros((70, 3), dtype=bool)
    mask[::2, 1] = True
    data, indices, indptr = csr_parts(np.ones((70, 3), np.float32), mask)
    assert indices.dtype == np.int32 and indptr.dtype == np.int32 and data.shape == (35,)


@pytest.mark.parametrize("change, message", [
    (lambda d, i, p: (d, i, p[:-1]), "indptr has 4 entries, expected 5"),
    (lambda d, i, p: (d, i, np.stack([p, p])), "indptr has (2, 5) entries, expected 5"),
    (lambda d, i, p: (d[:-1], i, p), "data (4,) and indices (5,) must be 1-D and of one length"),
    (lambda d, i, p: (d.reshape(5, 1), i.reshape(5, 1), p), "data (5, 1) and indices (5, 1) must be 1-D and of one length"),
    (lambda d, i, p: (d, i.astype(np.float64), p), "indices and indptr must be integers"),
    (lambda d, i, p: (d, i, p.astype(np.float64)), "indices and indptr must be integers"),
    (lambda d, i, p: (d, i, np.array([1, 2, 3, 4, 5])), "indptr must rise from 0 to the number of stored entries"),
    (lambda d, i, p: (d, i, np.array([0, 2, 3, 4, 4])), "indptr must rise from 0 to the number of stored entries"),
    (lambda d, i, p: (d, i, np.array([0, 3, 2, 4, 5])), "indptr must rise from 0 to the number of stored entries"),
    (lambda d, i, p: (d, np.array([0, 1, 3, 0, 2]), p), "column indices must lie in [0, 3)"),
    (lambda d, i, p: (d, np.array([0, 1, -1, 0, 2]), p), "column indices must lie in [0, 3)"),
    (lambda d, i, p: (d, np.array([0, 0, 2, 0, 2]), p), "a position is stored twice"),
])
def test_inconsistent_csr_arrays_are_refused_naming_what_is_wrong(change, message):
    mask = np.array([[1, 1, 0], [0, 0, 1], [1, 0, 0], [0, 0, 1]], dtype=bool)  # indices 0 1 | 2 | 0 | 2
    parts = csr_parts(np.arange(12, dtype=np.float32).reshape(4, 3), mask)
    with pytest.raises(ValueError) as refused:
        dense_from_csr(*change(*parts), (4, 3))
    assert str(refused.value) == message


def test_csr_network_holds_the_chosen_layers_as_csr_and_predicts_any_rows_in_chunks():
    import scipy.sparse

    net = pruned_net()
    sparse = CSRNetwork(net, [2, 0, 0])
    assert sparse.csr_layers == [0, 2] and sparse.n_layers == 3
    assert [scipy.sparse.issparse(m) for m in sparse.matrices] == [True, False, True]
    x = np.random.default_rng(2).random((40, 30), dtype=np.float32)
    for k, chunk in enumerate((1, 7, 64)):  # other rows each time: a chunk left out cannot show stale values
        got = sparse.predict(x[k:], chunk=chunk)
        assert got.shape == (40 - k, 10)
        np.testing.assert_allclose(got, net.predict(x[k:]), rtol=1e-5, atol=1e-6)


def test_a_network_of_one_layer_goes_csr_and_predicts_as_dense():
    net = Network.xavier([30, 10], output="softmax", seed=1)  # no hidden layer: a softmax classifier
    net.masks[0] = np.random.default_rng(1).random((30, 10)) > 0.5
    net.apply_masks()
    x = np.random.default_rng(2).random((50, 30), dtype=np.float32)
    np.testing.assert_allclose(CSRNetwork(net, [0]).predict(x), net.predict(x), rtol=1e-5, atol=1e-6)
