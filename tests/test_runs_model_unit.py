"""store/runs.py's files: model.h5 as write_network lays it out and read_network checks it, metrics.h5, spec.yaml
and model.h5's root attributes; each refusal is the one line a user sees, naming the file and the part."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace

import h5py
import numpy as np
import pytest

from sparana_cli.engine.backend import CPU, backend_of, to_host
from sparana_cli.engine.network import Network
from sparana_cli.spec import spec_from_mapping, spec_to_yaml
from sparana_cli.store import runs
from tests.conftest import refused, tiny_spec


def net_6_5_3():
    """A softmax network 6 -> 5 -> 3 whose first input row is masked out (5 of layer 0's 30 weights)."""
    net = Network.xavier([6, 5, 3], output="softmax", seed=2)
    net.masks[0][0, :] = False
    net.apply_masks()
    return net


# -- writing model.h5 -------------------------------------------------------------------------


def test_network_bytes_counts_weights_biases_and_masks():
    # float32 weights 6*5 + 5*3 = 45 -> 180 bytes, float32 biases 5 + 3 -> 32 bytes, bool masks 45 -> 45 bytes
    assert runs.network_bytes(net_6_5_3()) == 180 + 32 + 45


def test_write_network_lays_out_dense_layers_with_their_live_count(tmp_path):
    net = net_6_5_3()
    with h5py.File(tmp_path / "m.h5", "w") as f:
        runs.write_network(f, net, {"phase": "train", "seed": 2})
    with h5py.File(tmp_path / "m.h5", "r") as f:
        assert dict(f.attrs) == {"phase": "train", "seed": 2, "n_layers": 2, "output": "softmax"}
        assert sorted(f["layers"]) == ["0", "1"]
        for i, activation, live in ((0, "relu", 25), (1, "softmax", 15)):
            g = f["layers"][str(i)]
            assert sorted(g) == ["bias", "mask", "weights"]
            np.testing.assert_array_equal(g["weights"][()], net.weights[i])
            np.testing.assert_array_equal(g["mask"][()], net.masks[i])
            np.testing.assert_array_equal(g["bias"][()], net.biases[i])
            assert g["mask"].compression == "gzip"
            assert g.attrs["live"] == live and g.attrs["activation"] == activation and g.attrs["format"] == "dense"
            assert list(g.attrs["shape"]) == list(net.weights[i].shape) and g.attrs["shape"].dtype == np.int64


def test_write_network_can_leave_masks_uncompressed(tmp_path):
    with h5py.File(tmp_path / "m.h5", "w") as f:
        runs.write_network(f, net_6_5_3(), {}, compress_masks=False)
        assert f["layers/0/mask"].compression is None


def test_write_network_stores_a_csr_layer_as_its_mask_entries_row_by_row(tmp_path):
    net = Network.xavier([3, 2, 2], seed=1)
    net.masks[0][:] = [[True, False], [False, False], [True, True]]
    net.apply_masks()
    w = net.weights[0]
    with h5py.File(tmp_path / "m.h5", "w") as f:
        runs.write_network(f, net, {}, csr_layers=(0,))
    with h5py.File(tmp_path / "m.h5", "r") as f:
        g = f["layers/0"]
        assert sorted(g) == ["bias", "csr"] and "live" not in g.attrs
        np.testing.assert_array_equal(g["csr/data"][()], [w[0, 0], w[2, 0], w[2, 1]])
        np.testing.assert_array_equal(g["csr/indices"][()], [0, 0, 1])
        np.testing.assert_array_equal(g["csr/indptr"][()], [0, 1, 1, 3])
        assert list(g["csr"].attrs["shape"]) == [3, 2] and g["csr"].attrs["shape"].dtype == np.int64
        assert g.attrs["format"] == "csr" and g.attrs["activation"] == "relu" and list(g.attrs["shape"]) == [3, 2]
        assert f["layers/1"].attrs["format"] == "dense"


def test_run_attrs_record_where_the_weights_came_from(tmp_path):
    spec = spec_from_mapping(tiny_spec(tmp_path / "data"), "tiny.yaml")
    data = SimpleNamespace(name="mnist", checksum="abc123", source="https://example.org/mnist")
    attrs = runs.run_attrs(spec, data, phase="prune", parent=tmp_path / "parent", backend=CPU)
    created = attrs.pop("created")
    assert attrs == {"sparana_version": runs.__version__, "seed": 3, "phase": "prune", "parent": str(tmp_path / "parent"),
                     "dataset": "mnist", "dataset_checksum": "abc123", "dataset_source": "https://example.org/mnist",
                     "device": "cpu", "device_name": CPU.describe()}
    assert abs((datetime.fromisoformat(created) - datetime.now()).total_seconds()) < 60 and len(created) == 26
    assert runs.run_attrs(spec, data, phase="train", parent=None, backend=CPU)["parent"] == ""


# -- reading model.h5 -------------------------------------------------------------------------


def test_a_model_with_a_csr_layer_of_one_column_reads_back_the_same(tmp_path):
    net = Network.xavier([6, 5, 1], seed=2)
    net.masks[1][2, 0] = False
    net.apply_masks()
    runs.save_model(tmp_path / runs.MODEL_FILE, net, {"phase": "train"}, csr_layers=(1,))
    back, attrs = runs.load_model(tmp_path)
    for a, b in zip(net.weights + net.masks + net.biases, back.weights + back.masks + back.biases):
        np.testing.assert_array_equal(a, b)
    assert back.output == "linear" and attrs["phase"] == "train"
    assert runs.layer_formats(tmp_path) == ["dense", "csr"]


def test_a_model_loaded_onto_another_backend_holds_its_arrays_there(tmp_path, gpu):
    net = net_6_5_3()
    runs.save_model(tmp_path / runs.MODEL_FILE, net, {})
    on_host, _ = runs.load_model(tmp_path)
    assert type(on_host.weights[0]) is np.ndarray
    back, _ = runs.load_model(tmp_path, gpu)
    assert backend_of(back.weights[0]).name == "gpu"
    np.testing.assert_array_equal(to_host(back.weights[1]), net.weights[1])


def saved(tmp_path, net=None, **kwargs):
    path = tmp_path / runs.MODEL_FILE
    runs.save_model(path, net or net_6_5_3(), {"phase": "train"}, **kwargs)
    return path


def replace(f, key, array):
    del f[key]
    f[key] = array


def test_a_model_without_an_output_attribute_is_linear(tmp_path):
    path = saved(tmp_path)
    with h5py.File(path, "a") as f:
        del f.attrs["output"]
    assert runs.load_model(tmp_path)[0].output == "linear"


def test_a_model_whose_output_activation_is_unknown_is_refused(tmp_path):
    path = saved(tmp_path)
    with h5py.File(path, "a") as f:
        f.attrs["output"] = "tanh"
        assert refused(runs.read_network, f, path) == f"{path}: unknown output activation 'tanh'"


def test_a_model_with_no_layers_or_an_empty_layers_group_is_refused(tmp_path):
    path = saved(tmp_path)
    with h5py.File(path, "a") as f:
        del f["layers/0"], f["layers/1"]
        del f.attrs["n_layers"]
    assert refused(runs.load_model, tmp_path) == f"{path}: no /layers group"
    with h5py.File(path, "a") as f:
        del f["layers"]
    assert refused(runs.load_model, tmp_path) == f"{path}: no /layers group"


def test_a_model_missing_a_layer_in_the_numbering_is_refused(tmp_path):
    path = saved(tmp_path)
    with h5py.File(path, "a") as f:
        f.move("layers/1", "layers/2")
    assert refused(runs.load_model, tmp_path) == f"{path}: missing /layers/1"


@pytest.mark.parametrize("key, csr_layers", [
    ("layers/0/weights", ()), ("layers/0/mask", ()), ("layers/1/bias", ()), ("layers/1/bias", (1,))])
def test_a_model_missing_a_dataset_of_a_layer_is_refused_naming_it(tmp_path, key, csr_layers):
    path = saved(tmp_path, csr_layers=csr_layers)
    with h5py.File(path, "a") as f:
        del f[key]
    assert refused(runs.load_model, tmp_path) == f"{path}: missing /{key}"


@pytest.mark.parametrize("key, shape, dtype, claim", [
    ("layers/0/weights", (600, 500), np.float32, "(600, 500) float32 (1.2 MB)"),
    ("layers/0/mask", (1200, 1000), bool, "(1200, 1000) bool (1.2 MB)"),
    ("layers/0/bias", (300_000,), np.float32, "(300000,) float32 (1.2 MB)"),
    ("layers/1/csr/data", (300_000,), np.float32, "(300000,) float32 (1.2 MB)"),
])
def test_a_layer_dataset_whose_header_claims_more_than_the_file_holds_is_refused_naming_it(tmp_path, key, shape, dtype,
                                                                                           claim):
    path = saved(tmp_path, csr_layers=(1,))
    with h5py.File(path, "a") as f:
        del f[key]
        f.create_dataset(key, shape=shape, dtype=dtype)  # a header and no data: a truncated file
    assert refused(runs.load_model, tmp_path) == (
        f"{path}: /{key}: its header claims {claim}, but the file holds only 0 bytes for it; the file is damaged")


def test_a_layer_holding_a_nan_weight_is_refused_naming_it(tmp_path):
    path = saved(tmp_path)
    with h5py.File(path, "a") as f:
        f["layers/1/weights"][2, 1] = np.nan
    assert refused(runs.load_model, tmp_path) == f"{path}: /layers/1/weights holds NaN or infinite values"


def test_a_layer_whose_mask_does_not_fit_its_weights_is_refused_with_the_shapes(tmp_path):
    path = saved(tmp_path)
    with h5py.File(path, "a") as f:
        replace(f, "layers/0/mask", np.ones((6, 4), bool))
    assert refused(runs.load_model, tmp_path) == (
        f"{path}: /layers/0 has inconsistent shapes (weights (6, 5), bias (5,), mask (6, 4))")


def test_a_layer_that_does_not_take_the_previous_layers_outputs_is_refused(tmp_path):
    path = saved(tmp_path)
    with h5py.File(path, "a") as f:
        replace(f, "layers/1/weights", np.zeros((4, 3), np.float32))
        replace(f, "layers/1/mask", np.ones((4, 3), bool))
    assert refused(runs.load_model, tmp_path) == f"{path}: /layers/1 takes 4 inputs but layer 0 gives 5"


def test_a_csr_layer_missing_a_part_is_refused_naming_it(tmp_path):
    path = saved(tmp_path, csr_layers=(1,))
    with h5py.File(path, "a") as f:
        del f["layers/1/csr/indices"]
    assert refused(runs.load_model, tmp_path) == f"{path}: /layers/1/csr: missing indices"


@pytest.mark.parametrize("shape", [None, [5, 3, 1], [5.0, 3.0], [5, 0]])
def test_a_csr_layer_without_a_shape_of_two_positive_integers_is_refused(tmp_path, shape):
    path = saved(tmp_path, csr_layers=(1,))
    with h5py.File(path, "a") as f:
        if shape is None:
            del f["layers/1/csr"].attrs["shape"]
        else:
            f["layers/1/csr"].attrs["shape"] = np.asarray(shape)
    assert refused(runs.load_model, tmp_path) == (
        f"{path}: /layers/1/csr: needs a shape attribute of two positive integers (rows, columns)")


def test_a_csr_layer_whose_parts_disagree_is_refused_saying_how(tmp_path):
    path = saved(tmp_path, csr_layers=(1,))
    with h5py.File(path, "a") as f:
        replace(f, "layers/1/csr/indptr", np.asarray([0, 1], np.int32))
    assert refused(runs.load_model, tmp_path) == f"{path}: /layers/1/csr: indptr has 2 entries, expected 6"


def test_a_csr_layer_is_refused_when_its_dense_weights_and_mask_would_not_fit_in_memory(tmp_path, monkeypatch):
    path = saved(tmp_path, csr_layers=(1,))
    needed = 5 * 3 * (4 + 1)  # 5 x 3 float32 weights and a bool mask
    monkeypatch.setattr(runs, "host_free_memory", lambda: needed)
    assert runs.load_model(tmp_path)[0].sizes == [6, 5, 3]
    monkeypatch.setattr(runs, "host_free_memory", lambda: needed - 1)
    assert refused(runs.load_model, tmp_path) == (
        f"{path}: /layers/1/csr: the 5 x 3 layer its shape attribute claims needs about 75 bytes, more than the "
        "74 bytes of memory available; make it smaller")


# -- metrics.h5, spec.yaml --------------------------------------------------------------------


def test_metrics_are_added_to_a_metrics_file_replacing_arrays_of_the_same_name(tmp_path):
    path = tmp_path / runs.METRICS_FILE
    runs.write_metrics(path, {"train": {"loss": [3.0, 2.0], "seconds": [1.0]}}, {"train": {"epochs": 2}})
    runs.write_metrics(path, {"train": {"loss": [1.0]}, "test": {"per_class_accuracy": [0.5, 1.0]}})
    arrays, attrs = runs.read_metrics(tmp_path)
    np.testing.assert_array_equal(arrays["train"]["loss"], [1.0])
    np.testing.assert_array_equal(arrays["train"]["seconds"], [1.0])
    np.testing.assert_array_equal(arrays["test"]["per_class_accuracy"], [0.5, 1.0])
    assert attrs["train"] == {"epochs": 2}


def test_metrics_ask_for_the_space_of_their_arrays_first(tmp_path, monkeypatch):
    asked = []
    monkeypatch.setattr(runs, "require_space", lambda folder, nbytes, what: asked.append((folder, nbytes, what)))
    path = tmp_path / runs.METRICS_FILE
    runs.write_metrics(path, {"train": {"loss": [3.0, 2.0]}, "test": {"confusion": np.zeros((2, 2), np.int64)}})
    assert asked == [(tmp_path, 2 * 8 + 4 * 8, str(path))]


def test_metrics_are_never_written_through_a_symbolic_link(tmp_path):
    target = tmp_path / "elsewhere.h5"
    target.write_bytes(b"untouched")
    (tmp_path / runs.METRICS_FILE).symlink_to(target)
    assert refused(runs.write_metrics, tmp_path / runs.METRICS_FILE, {"train": {"loss": [1.0]}}) == (
        f"{tmp_path / runs.METRICS_FILE}: a symbolic link; a run's files are never written through a link")
    assert target.read_bytes() == b"untouched"


def test_a_spec_written_to_a_run_folder_reads_back_as_written(tmp_path):
    spec = spec_from_mapping(tiny_spec(tmp_path / "data"), "tiny.yaml")
    runs.write_spec(tmp_path, spec)
    assert runs.read_spec_text(tmp_path) == spec_to_yaml(spec)
    assert runs.load_run_spec(tmp_path) == spec


def test_a_missing_spec_is_refused_with_the_system_reason(tmp_path):
    assert refused(runs.read_spec_text, tmp_path) == f"{tmp_path / runs.SPEC_FILE}: cannot read (No such file or directory)"
