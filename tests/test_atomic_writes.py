"""A crash part-way through writing a file leaves the file as it was: no half file, no temporary left behind."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from sparana_cli.engine.network import Network
from sparana_cli.files import atomic_path, write_text_atomic
from sparana_cli.store import runs


class Crash(Exception):
    pass


def test_a_crash_mid_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "status.json"
    write_text_atomic(path, '{"state": "running"}')
    with pytest.raises(Crash):
        with atomic_path(path) as part:
            with open(part, "w") as f:
                f.write('{"state": "comp')  # half of the new content is on disk
                f.flush()
                raise Crash
    assert path.read_text() == '{"state": "running"}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["status.json"]


def test_a_crash_mid_model_write_keeps_the_old_model(tmp_path, monkeypatch):
    path = tmp_path / "model.h5"
    old = Network.xavier([4, 3, 2], seed=0)
    runs.save_model(path, old, {"phase": "train"})
    before = path.read_bytes()

    def half_then_crash(f, net, attrs, **kwargs):
        f.create_dataset("layers/0/weights", data=net.weights[0])
        raise Crash

    monkeypatch.setattr(runs, "write_network", half_then_crash)
    with pytest.raises(Crash):
        runs.save_model(path, Network.xavier([4, 3, 2], seed=1), {"phase": "train"})
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.h5"]
    with h5py.File(path) as f:
        np.testing.assert_array_equal(f["layers/0/weights"][()], old.weights[0])
