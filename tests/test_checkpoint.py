"""store/checkpoint.py on its own: a training state written to checkpoint.h5 and read back, and damaged files refused."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest

from sparana_cli import __version__
from sparana_cli.engine.network import Network
from sparana_cli.engine.optimizers import SGD, Adam
from sparana_cli.engine.training import EpochProgress
from sparana_cli.errors import DiskFull
from sparana_cli.files import MARGIN
from sparana_cli.store import checkpoint
from tests.conftest import refused


def tiny_net() -> Network:
    """Two layers, 3 -> 2 -> 2, with one weight masked out in each layer."""
    w0 = np.array([[1, 2], [3, 0], [5, 6]], dtype=np.float32)
    w1 = np.array([[0, -1], [2, 4]], dtype=np.float32)
    m0 = w0 != 0
    m1 = w1 != 0
    return Network([w0, w1], [np.array([0.1, 0.2], np.float32), np.array([-0.5, 0.5], np.float32)], [m0, m1])


def adam_with_state(net: Network, t: int = 7) -> Adam:
    params = [p for pair in zip(net.weights, net.biases) for p in pair]
    opt = Adam(params, 0.01, beta1=0.9, beta2=0.999, eps=1e-8)
    for j, p in enumerate(params):
        opt.m[j][...] = np.arange(p.size).reshape(p.shape) + 10 * j
        opt.v[j][...] = (np.arange(p.size).reshape(p.shape) + 1) / (j + 1)
    opt.t = t
    return opt


HISTORY = {"loss": [2.0, 1.5], "train_accuracy": [0.5, 0.75], "val_accuracy": [0.4, 0.6], "seconds": [1.25, 1.0]}


def save(folder, net=None, opt=None, progress=None, history=None, **kwargs):
    net = net or tiny_net()
    opt = opt if opt is not None else adam_with_state(net)
    progress = progress or EpochProgress(2, 5, 3.5, 40, 0.75)
    kwargs = {"optimizer_name": "adam", "dataset_checksum": "sha256:ab12"} | kwargs
    return checkpoint.save_checkpoint(folder, net, opt, progress, HISTORY if history is None else history, **kwargs)


def load_error(folder) -> str:
    return refused(checkpoint.load_checkpoint, folder)


def edit(folder, change) -> None:
    with h5py.File(folder / "checkpoint.h5", "a") as f:
        change(f)


# saving and loading


def test_a_folder_without_a_checkpoint_has_none(tmp_path):
    assert checkpoint.load_checkpoint(tmp_path) is None


def test_save_checkpoint_writes_checkpoint_h5_in_the_folder(tmp_path):
    path = save(tmp_path)
    assert path == tmp_path / "checkpoint.h5"
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.h5"]  # no temporary file left behind


def test_the_network_comes_back_exactly(tmp_path):
    net = tiny_net()
    save(tmp_path, net=net)
    back = checkpoint.load_checkpoint(tmp_path).net
    for got, want in zip(back.weights + back.biases + back.masks, net.weights + net.biases + net.masks):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


def test_the_optimizer_state_comes_back_exactly(tmp_path):
    net = tiny_net()
    opt = adam_with_state(net, t=7)
    save(tmp_path, net=net, opt=opt)
    cp = checkpoint.load_checkpoint(tmp_path)
    assert cp.t == 7
    assert sorted(cp.slots) == ["m", "v"]
    for name in ("m", "v"):
        assert len(cp.slots[name]) == 4  # weights and bias of each of the two layers
        for got, want in zip(cp.slots[name], opt.state()[name]):
            np.testing.assert_array_equal(got, want)


def test_the_epoch_progress_and_names_come_back(tmp_path):
    save(tmp_path, progress=EpochProgress(2, 5, 3.5, 40, 0.75), optimizer_name="adam", dataset_checksum="sha256:ab12")
    cp = checkpoint.load_checkpoint(tmp_path)
    assert cp.progress == EpochProgress(2, 5, 3.5, 40, 0.75)
    assert (cp.optimizer, cp.dataset_checksum) == ("adam", "sha256:ab12")
    assert cp.history == HISTORY
    assert cp.trainable is None


def test_running_sums_held_as_0d_arrays_are_saved_as_plain_numbers(tmp_path):
    progress = EpochProgress(2, 5, np.array(3.5, dtype=np.float32), np.array(40), 0.75)
    save(tmp_path, progress=progress)
    back = checkpoint.load_checkpoint(tmp_path).progress
    assert back.loss_sum == 3.5 and isinstance(back.loss_sum, float)
    assert back.correct == 40 and isinstance(back.correct, int)


def test_the_history_is_kept_as_floats(tmp_path):
    save(tmp_path, history={"loss": [3, 2]})
    with h5py.File(tmp_path / "checkpoint.h5") as f:
        assert f["history/loss"].dtype == np.float64
    history = checkpoint.load_checkpoint(tmp_path).history
    assert history == {"loss": [3.0, 2.0]}
    assert all(isinstance(x, float) for x in history["loss"])


def test_the_checkpoint_records_the_writing_version(tmp_path):
    save(tmp_path)
    with h5py.File(tmp_path / "checkpoint.h5") as f:
        assert f.attrs["sparana_version"] == __version__


def test_an_optimizer_without_carried_arrays_saves_no_slots(tmp_path):
    net = tiny_net()
    save(tmp_path, net=net, opt=SGD([net.weights[0]], 0.1), optimizer_name="sgd")
    cp = checkpoint.load_checkpoint(tmp_path)
    assert cp.slots == {} and cp.optimizer == "sgd"


def test_a_checkpoint_before_the_first_epoch_ends_has_an_empty_history(tmp_path):
    save(tmp_path, progress=EpochProgress(0, 0), history={})
    cp = checkpoint.load_checkpoint(tmp_path)
    assert cp.progress == EpochProgress(0, 0, 0.0, 0, 0.0)
    assert cp.history == {}


def test_a_new_checkpoint_replaces_the_old_one(tmp_path):
    save(tmp_path, progress=EpochProgress(2, 5, 3.5, 40, 0.75))
    save(tmp_path, progress=EpochProgress(2, 9, 6.0, 70, 1.5))
    assert checkpoint.load_checkpoint(tmp_path).progress == EpochProgress(2, 9, 6.0, 70, 1.5)


def test_a_checkpoint_without_optimizer_or_history_groups_loads_empty(tmp_path):
    save(tmp_path, progress=EpochProgress(0, 3, 1.0, 2, 0.5), history={})
    edit(tmp_path, lambda f: (f.__delitem__("optimizer"), f.__delitem__("history")))
    cp = checkpoint.load_checkpoint(tmp_path)
    assert cp.slots == {} and cp.history == {}


# the space check before writing


def free_space(monkeypatch, free: int) -> None:
    usage = shutil.disk_usage("/")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage._replace(free=free))


def state_bytes() -> int:
    net = tiny_net()
    arrays = net.weights + net.biases + net.masks + [a for arrays in adam_with_state(net).state().values() for a in arrays]
    return sum(a.nbytes for a in arrays)


def test_save_checkpoint_counts_the_network_and_optimizer_arrays_against_the_free_space(tmp_path, monkeypatch):
    free_space(monkeypatch, state_bytes() + MARGIN - 1)
    with pytest.raises(DiskFull, match="no space left on the device"):
        save(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_save_checkpoint_writes_when_the_state_just_fits(tmp_path, monkeypatch):
    free_space(monkeypatch, state_bytes() + MARGIN)
    save(tmp_path)
    assert checkpoint.load_checkpoint(tmp_path) is not None


# training-weight indices (train.trainable)


def trainable_opt(trainable) -> Adam:
    return Adam([np.full(len(t), 0.5, np.float32) for t in trainable], 0.01, beta1=0.9, beta2=0.999, eps=1e-8)


def test_trainable_indices_and_their_gathered_slots_come_back(tmp_path):
    trainable = [np.array([0, 4], dtype=np.int32), np.array([1, 2, 3], dtype=np.int32)]
    save(tmp_path, opt=trainable_opt(trainable), trainable=trainable)
    with h5py.File(tmp_path / "checkpoint.h5") as f:
        assert f["trainable/0"].dtype == np.int64
    cp = checkpoint.load_checkpoint(tmp_path)
    assert [t.tolist() for t in cp.trainable] == [[0, 4], [1, 2, 3]]
    assert all(t.dtype == np.int64 for t in cp.trainable)
    assert [a.shape for a in cp.slots["m"]] == [(2,), (3,)]


def test_an_empty_trainable_layer_is_allowed(tmp_path):
    trainable = [np.array([], dtype=np.int64), np.array([3], dtype=np.int64)]
    save(tmp_path, opt=trainable_opt(trainable), trainable=trainable)
    assert [t.tolist() for t in checkpoint.load_checkpoint(tmp_path).trainable] == [[], [3]]


def test_unsigned_trainable_indices_are_accepted(tmp_path):
    trainable = [np.array([5], dtype=np.int64), np.array([1], dtype=np.int64)]
    save(tmp_path, opt=trainable_opt(trainable), trainable=trainable)
    edit(tmp_path, lambda f: (f.__delitem__("trainable/0"), f.create_dataset("trainable/0", data=np.array([5], np.uint32))))
    assert [t.tolist() for t in checkpoint.load_checkpoint(tmp_path).trainable] == [[5], [1]]


@pytest.mark.parametrize("indices", [np.array([[0, 1]]), np.array([0.0, 1.0]), np.array([-1]), np.array([6]),
                                     np.array([3]), np.array([0, 3])], ids=["2-D", "floats", "negative", "past the end",
                                                                          "masked weight", "one masked"])
def test_trainable_indices_that_are_not_live_weights_of_their_layer_are_refused(tmp_path, indices):
    trainable = [np.array([0], dtype=np.int64), np.array([1], dtype=np.int64)]  # layer 0 is 3x2: flat 3 is masked
    save(tmp_path, opt=trainable_opt(trainable), trainable=trainable)
    edit(tmp_path, lambda f: (f.__delitem__("trainable/0"), f.create_dataset("trainable/0", data=indices)))
    assert load_error(tmp_path) == (f"{tmp_path / 'checkpoint.h5'}: /trainable/0 must list live weights of layer 0 "
                                    "by flat index")


def test_the_last_weight_of_a_layer_can_be_trainable(tmp_path):
    trainable = [np.array([5], dtype=np.int64), np.array([3], dtype=np.int64)]  # flat 5 of 3x2, flat 3 of 2x2
    save(tmp_path, opt=trainable_opt(trainable), trainable=trainable)
    assert [t.tolist() for t in checkpoint.load_checkpoint(tmp_path).trainable] == [[5], [3]]


def test_a_missing_trainable_layer_is_refused(tmp_path):
    trainable = [np.array([0], dtype=np.int64), np.array([1], dtype=np.int64)]
    save(tmp_path, opt=trainable_opt(trainable), trainable=trainable)
    edit(tmp_path, lambda f: f.__delitem__("trainable/1"))
    assert load_error(tmp_path) == f"{tmp_path / 'checkpoint.h5'}: missing /trainable/1"


def test_with_trainable_indices_the_slots_must_have_the_gathered_shapes(tmp_path):
    trainable = [np.array([0, 1], dtype=np.int64), np.array([1], dtype=np.int64)]
    save(tmp_path, trainable=trainable)  # slots shaped as the whole layers
    assert load_error(tmp_path) == (f"{tmp_path / 'checkpoint.h5'}: /optimizer/m/0 is missing or does not match "
                                    "its parameter (2,)")


# damaged checkpoints


@pytest.mark.parametrize("name", ["epoch", "step", "loss_sum", "correct", "seconds", "t", "optimizer",
                                  "dataset_checksum"])
def test_a_checkpoint_missing_a_root_attribute_is_refused(tmp_path, name):
    save(tmp_path)
    edit(tmp_path, lambda f: f.attrs.__delitem__(name))
    assert load_error(tmp_path) == f"{tmp_path / 'checkpoint.h5'}: missing attribute {name}"


@pytest.mark.parametrize("epoch, step", [(-1, 0), (0, -1)])
def test_a_negative_epoch_or_step_is_refused(tmp_path, epoch, step):
    save(tmp_path, progress=EpochProgress(epoch, step), history={})
    assert load_error(tmp_path) == f"{tmp_path / 'checkpoint.h5'}: negative epoch or step"


def test_a_damaged_network_is_refused(tmp_path):
    save(tmp_path)
    edit(tmp_path, lambda f: f.__delitem__("layers"))
    assert load_error(tmp_path) == f"{tmp_path / 'checkpoint.h5'}: no /layers group"


def test_a_missing_optimizer_array_is_refused(tmp_path):
    save(tmp_path)
    edit(tmp_path, lambda f: f.__delitem__("optimizer/v/3"))
    assert load_error(tmp_path) == (f"{tmp_path / 'checkpoint.h5'}: /optimizer/v/3 is missing or does not match "
                                    "its parameter (2,)")


def test_an_optimizer_array_of_the_wrong_shape_is_refused(tmp_path):
    save(tmp_path)
    edit(tmp_path, lambda f: (f.__delitem__("optimizer/m/0"), f.create_dataset("optimizer/m/0", data=np.zeros((2, 3)))))
    assert load_error(tmp_path) == (f"{tmp_path / 'checkpoint.h5'}: /optimizer/m/0 is missing or does not match "
                                    "its parameter (3, 2)")


@pytest.mark.parametrize("bad", [np.zeros(2, dtype=np.int32), np.array([0.0, np.nan]), np.array([np.inf, 0.0])])
def test_an_optimizer_array_that_is_not_finite_floats_is_refused(tmp_path, bad):
    save(tmp_path)
    edit(tmp_path, lambda f: (f.__delitem__("optimizer/m/1"), f.create_dataset("optimizer/m/1", data=bad)))
    assert load_error(tmp_path) == f"{tmp_path / 'checkpoint.h5'}: /optimizer/m/1 must hold finite floats"


@pytest.mark.parametrize("entries", [1, 3])
def test_a_history_that_does_not_cover_the_finished_epochs_is_refused(tmp_path, entries):
    save(tmp_path, progress=EpochProgress(2, 0), history={"loss": [1.0] * 2, "seconds": [1.0] * entries})
    assert load_error(tmp_path) == f"{tmp_path / 'checkpoint.h5'}: history does not cover the 2 finished epochs"


@pytest.mark.parametrize("where", ["optimizer/m/1", "history/loss", "trainable/0"])
def test_a_dataset_claiming_more_than_the_file_holds_is_refused_by_name(tmp_path, where):
    trainable = [np.array([0], dtype=np.int64), np.array([1], dtype=np.int64)]
    save(tmp_path, trainable=trainable if where.startswith("trainable") else None)

    def plant(f):
        del f[where]
        f.create_dataset(where, shape=(10 ** 8,), dtype=np.float64)  # a header only: no data written

    edit(tmp_path, plant)
    assert load_error(tmp_path).startswith(f"{tmp_path / 'checkpoint.h5'}: /{where}: its header claims (100000000,) "
                                           "float64")


# a run on the GPU: device arrays are written as host data


def test_a_device_runs_state_is_saved_as_host_arrays(tmp_path, gpu):
    host = tiny_net()
    net = host.to(gpu)
    opt = Adam([p for pair in zip(net.weights, net.biases) for p in pair], 0.01, beta1=0.9, beta2=0.999, eps=1e-8)
    opt.load_state(7, adam_with_state(host).state())
    loss_sum, correct = gpu.xp.asarray(np.float32(3.5)).reshape(()), gpu.xp.asarray(40).reshape(())
    save(tmp_path, net=net, opt=opt, progress=EpochProgress(2, 5, loss_sum, correct, 0.75))
    cp = checkpoint.load_checkpoint(tmp_path)
    assert cp.progress == EpochProgress(2, 5, 3.5, 40, 0.75)
    np.testing.assert_array_equal(cp.net.weights[1], host.weights[1])
    np.testing.assert_array_equal(cp.slots["v"][3], adam_with_state(host).v[3])
