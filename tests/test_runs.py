from datetime import datetime
from pathlib import Path

import h5py
import numpy as np
import pytest

from sparana_cli.engine.network import Network
from sparana_cli.errors import UserError
from sparana_cli.store import runs

NOW = datetime(2026, 11, 21, 15, 30, 12)


def masked_net():
    net = Network.xavier([6, 5, 3], output="softmax", seed=2)
    net.masks[0][0, :] = False
    net.apply_masks()
    return net


def test_model_round_trip_gives_the_same_outputs(tmp_path):
    net = masked_net()
    runs.save_model(tmp_path / "model.h5", net, {"phase": "train", "seed": 2})
    back, attrs = runs.load_model(tmp_path)
    x = np.random.default_rng(0).random((7, 6), dtype=np.float32)
    np.testing.assert_array_equal(back.predict(x), net.predict(x))
    for a, b in zip(net.masks + net.weights + net.biases, back.masks + back.weights + back.biases):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == b.dtype
    assert back.output == "softmax" and attrs["phase"] == "train" and attrs["seed"] == 2


def test_model_file_is_plain_h5py(tmp_path):
    net = masked_net()
    runs.save_model(tmp_path / "model.h5", net, {"phase": "train"})
    with h5py.File(tmp_path / "model.h5") as f:
        assert f["layers/0/weights"].shape == (6, 5) and f["layers/0/weights"].dtype == np.float32
        assert f["layers/0/mask"].dtype == bool
        assert f["layers/0"].attrs["activation"] == "relu" and f["layers/1"].attrs["activation"] == "softmax"


def test_names_never_collide(tmp_path):
    first = runs.reserve_run(tmp_path, "x", NOW)
    second = runs.reserve_run(tmp_path, "x", NOW)
    assert first.path.name == "x-20261121-153012" and second.path.name == "x-20261121-153012-2"
    first.tmp.rename(first.path)  # finished
    third = runs.reserve_run(tmp_path, "x", NOW)
    assert third.path.name == "x-20261121-153012-3"


def test_failed_run_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with runs.new_run(tmp_path, "x") as run:
            (run.tmp / "half.h5").write_bytes(b"half")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_finished_run_is_renamed(tmp_path):
    with runs.new_run(tmp_path, "x") as run:
        assert run.tmp.name == run.path.name + ".tmp"  # an unfinished run, as docs/run-folders.md says
        (run.tmp / "f").write_text("done")
    assert run.path.is_dir() and not run.tmp.exists() and (run.path / "f").read_text() == "done"


@pytest.mark.parametrize("damage", ["garbage", "empty", "no_layers", "no_mask", "bad_shape"])
def test_damaged_model_is_a_user_error(tmp_path, damage):
    path = tmp_path / "model.h5"
    runs.save_model(path, masked_net(), {})
    if damage == "garbage":
        path.write_bytes(b"not hdf5 at all" * 10)
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        with h5py.File(path, "a") as f:
            if damage == "no_layers":
                del f["layers"]
            elif damage == "no_mask":
                del f["layers/1/mask"]
            else:
                del f["layers/1/bias"]
                f["layers/1/bias"] = np.zeros(7, np.float32)
    with pytest.raises(UserError) as info:
        runs.load_model(tmp_path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_newest_finished_run(tmp_path):
    net = masked_net()
    for name in ("b", "a"):
        with runs.new_run(tmp_path, name) as run:
            runs.save_model(run.tmp / runs.MODEL_FILE, net, {"created": datetime.now().isoformat(timespec="microseconds"),
                                                             "phase": "train"})
    with runs.new_run(tmp_path, "d") as run:  # newer, but a child: not a default
        runs.save_model(run.tmp / runs.MODEL_FILE, net, {"created": datetime.now().isoformat(timespec="microseconds"),
                                                         "phase": "prune"})
    runs.reserve_run(tmp_path, "c")  # unfinished: never chosen
    assert runs.resolve_run(tmp_path, None).name.startswith("a-")
    with pytest.raises(UserError, match="no finished train run"):
        runs.resolve_run(tmp_path / "empty", None)
    with pytest.raises(UserError, match="no such folder"):
        runs.resolve_run(tmp_path, "nope")


def test_metrics_round_trip(tmp_path):
    runs.write_metrics(tmp_path / runs.METRICS_FILE, {"train": {"loss": [3.0, 2.0]}}, {"train": {"test_accuracy": 0.5}})
    arrays, attrs = runs.read_metrics(tmp_path)
    np.testing.assert_array_equal(arrays["train"]["loss"], [3.0, 2.0])
    assert attrs["train"]["test_accuracy"] == 0.5


def test_the_runs_folder_is_the_option_then_the_environment_then_runs(monkeypatch):
    from sparana_cli.store.names import runs_root

    monkeypatch.delenv("SPARANA_RUNS", raising=False)
    assert runs_root(None) == Path("runs")
    monkeypatch.setenv("SPARANA_RUNS", "elsewhere")
    assert runs_root(None) == Path("elsewhere")
    assert runs_root("mine") == Path("mine")


@pytest.mark.parametrize("option, named", [("runs-\udcff", "--runs-dir"), (None, "SPARANA_RUNS")])
def test_a_runs_folder_that_is_not_utf8_is_refused_naming_where_it_came_from(monkeypatch, option, named):
    from sparana_cli.store.names import runs_root

    monkeypatch.setenv("SPARANA_RUNS", "runs-\udcff")  # how Python hands over a non-UTF-8 byte of argv or environ
    with pytest.raises(UserError) as refused:
        runs_root(option)
    assert str(refused.value) == (f"{named} runs-\\xff: not valid UTF-8; name a folder whose path is UTF-8 text")


def test_the_run_folder_file_names_are_the_documented_ones():
    from sparana_cli.store import names

    documented = (Path(__file__).parents[1] / "docs" / "run-folders.md").read_text()
    for name in (names.SPEC_FILE, names.MODEL_FILE, names.METRICS_FILE):
        assert f"\n  {name} " in documented, name


def test_model_layout_counts_masked_weights_over_dense_and_csr_layers(tmp_path):
    from sparana_cli.store.h5read import model_layout

    net = Network.xavier([6, 5, 4, 3], seed=2)
    net.masks[0][:3, :] = False  # 15 of 30
    net.masks[1][0, :2] = False  # 2 of 20
    net.apply_masks()
    runs.save_model(tmp_path / "model.h5", net, {"phase": "train"}, csr_layers=(1,))
    formats, sparsity = model_layout(tmp_path)
    assert formats == ["dense", "csr", "dense"]
    assert sparsity == pytest.approx(17 / 62)
    with h5py.File(tmp_path / "model.h5", "a") as f:
        del f["layers/0"].attrs["live"]  # runs written before the count was kept: the mask is counted
    assert model_layout(tmp_path)[1] == pytest.approx(17 / 62)


@pytest.mark.parametrize("damage, message", [
    ("no layers", "{path}: no /layers group"),
    ("csr shape", "{path}: /layers/1/csr needs indptr and a shape attribute"),
    ("csr indptr", "{path}: /layers/1/csr needs indptr and a shape attribute"),
    ("no mask", "{path}: missing /layers/0/mask"),
])
def test_model_layout_refuses_a_file_that_lies_naming_what_is_missing(tmp_path, damage, message):
    from sparana_cli.store.h5read import model_layout

    path = tmp_path / "model.h5"
    runs.save_model(path, masked_net(), {"phase": "train"}, csr_layers=(1,))
    with h5py.File(path, "a") as f:
        if damage == "no layers":
            for key in list(f["layers"]):
                del f["layers"][key]
        elif damage == "csr shape":
            del f["layers/1/csr"].attrs["shape"]
        elif damage == "csr indptr":
            del f["layers/1/csr/indptr"]
        else:
            del f["layers/0/mask"]
    with pytest.raises(UserError) as refused:
        model_layout(tmp_path)
    assert str(refused.value) == message.format(path=path)


def test_open_h5_names_a_missing_an_unreadable_and_a_damaged_file(tmp_path):
    from sparana_cli.store.h5read import open_h5

    missing = tmp_path / "gone.h5"
    with pytest.raises(UserError) as refused, open_h5(missing):
        pass
    assert str(refused.value) == f"{missing}: file not found"
    text = tmp_path / "text.h5"
    text.write_text("not hdf5\nsecond line")
    with pytest.raises(UserError) as refused, open_h5(text):
        pass
    assert str(refused.value).startswith(f"{text}: not a readable HDF5 file (") and "\n" not in str(refused.value)
    good = tmp_path / "good.h5"
    with h5py.File(good, "w") as f:
        f["x"] = 1
    with pytest.raises(UserError) as refused, open_h5(good) as f:
        f["absent"]
    assert str(refused.value).startswith(f"{good}: damaged or incomplete (") and "absent" in str(refused.value)
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize("live", [True, 2.5, -1, 31])
def test_model_layout_refuses_a_live_count_that_is_no_count_of_the_layers_weights(tmp_path, live):
    from sparana_cli.store.h5read import model_layout

    net = Network.xavier([6, 5, 4], seed=2)  # layer 0: 30 weights
    runs.save_model(tmp_path / "model.h5", net, {"phase": "train"})
    with h5py.File(tmp_path / "model.h5", "a") as f:
        f["layers/0"].attrs["live"] = live
    with pytest.raises(UserError) as refused:
        model_layout(tmp_path)
    assert str(refused.value) == (f"{tmp_path / 'model.h5'}: /layers/0 attribute live must be a count of weights, "
                                  f"found {live!r}")


def test_model_layout_takes_the_live_count_from_its_attribute_and_accepts_none_and_all(tmp_path):
    from sparana_cli.store.h5read import model_layout

    net = Network.xavier([6, 5, 4], seed=2)  # 30 + 20 weights
    runs.save_model(tmp_path / "model.h5", net, {"phase": "train"})
    for live, sparsity in ((0, 30 / 50), (30, 0.0), (3, 27 / 50)):
        with h5py.File(tmp_path / "model.h5", "a") as f:
            f["layers/0"].attrs["live"] = live  # the count is read, the mask is not (fast over many runs)
        assert model_layout(tmp_path)[1] == pytest.approx(sparsity)


def test_model_layout_names_a_mask_that_is_not_boolean(tmp_path):
    from sparana_cli.store.h5read import model_layout

    runs.save_model(tmp_path / "model.h5", Network.xavier([6, 5, 4], seed=2), {"phase": "train"})
    with h5py.File(tmp_path / "model.h5", "a") as f:
        del f["layers/1/mask"]
        f["layers/1/mask"] = np.ones((5, 4), dtype=np.float32)
    with pytest.raises(UserError) as refused:
        model_layout(tmp_path)
    assert str(refused.value) == f"{tmp_path / 'model.h5'}: /layers/1/mask must be bool (which weights exist), found float32"
