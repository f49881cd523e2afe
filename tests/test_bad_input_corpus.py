"""The corpus in tests/bad_inputs/: hostile specs, sizes that cannot fit, data and run files that lie, commands and
sweeps that would fail late, a damaged resume. Each case (cases.yaml) must end with exit status 2, one line naming
the key or file, no traceback, no new folder and every existing run byte-identical.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from sparana_cli.cli import main
from sparana_cli.engine.sparse import csr_parts
from tests.test_bad_inputs import World, _snapshot, template  # noqa: F401  (template: the fixture World copies)
from tests.test_hdf5_links import point_elsewhere

CORPUS = Path(__file__).parent / "bad_inputs"
CASES = {case["case"]: case for case in yaml.safe_load((CORPUS / "cases.yaml").read_text())}
KINDS = {"spec", "size", "data", "run-file", "command", "sweep", "resume"}


def _run(world: World, name: str) -> Path:
    return {"finished": world.finished, "unfinished": world.unfinished}[name]


def _rewrite(dataset: h5py.Dataset, change: str) -> np.ndarray:
    value = dataset[()]
    if change == "float":
        return value.astype(np.float32)
    if change == "int8":
        return value.astype(np.int8)
    if change == "2d":
        return np.tile(value, (2, 1))
    value = value.copy()
    value.reshape(-1)[0] = np.nan if change == "nan" else np.inf
    return value


def _csr_with_shape(path: Path, columns: int) -> None:
    """Layer 0 stored as CSR whose shape attribute claims `columns` columns."""
    with h5py.File(path, "a") as f:
        g = f["layers/0"]
        w, m = g["weights"][()], g["mask"][()]
        del g["weights"], g["mask"]
        csr = g.create_group("csr")
        for name, array in zip(("data", "indices", "indptr"), csr_parts(w, m)):
            csr.create_dataset(name, data=array)
        csr.attrs["shape"] = np.asarray([w.shape[0], columns], np.int64)
        g.attrs["format"] = "csr"


def _damage(world: World, op: list) -> None:
    kind, *args = op
    if kind == "copy":
        shutil.copy(CORPUS / args[0], world.idx(args[1]))
    elif kind == "copy-into-run":
        shutil.copy(CORPUS / args[0], _run(world, args[1]) / args[2])
    elif kind == "attr":
        run, file, where, name, value = args
        with h5py.File(_run(world, run) / file, "a") as f:
            f[where].attrs[name] = value
    elif kind == "dataset":
        run, file, where, change = args
        with h5py.File(_run(world, run) / file, "a") as f:
            value = _rewrite(f[where], change)
            del f[where]
            f[where] = value
    elif kind == "elsewhere":  # the dataset moved to a file beside the runs folder, an HDF5 pointer left in its place
        run, file, where, how = args
        point_elsewhere(_run(world, run) / file, where, how, world.base / "elsewhere.h5")
    elif kind == "claims":  # the dataset replaced by a compressed one claiming ROWS rows, none of them written
        run, file, where, rows = args
        with h5py.File(_run(world, run) / file, "a") as f:
            shape, dtype = f[where].shape, f[where].dtype
            del f[where]
            f.create_dataset(where, shape=(rows, *shape[1:]), dtype=dtype, chunks=(1024, *shape[1:]), compression="gzip")
    elif kind == "csr-shape":
        _csr_with_shape(_run(world, args[0]) / "model.h5", args[1])
    elif kind == "finished-but-not-renamed":  # killed between writing everything and the rename
        tmp = _run(world, args[0])
        for name in ("model.h5", "metrics.h5"):
            shutil.copy(world.finished / name, tmp / name)
        raw = (tmp / "model.h5").read_bytes()
        (tmp / "model.h5").write_bytes(raw[: len(raw) // 2])
        (tmp / "checkpoint.h5").unlink()
        status = json.loads((tmp / "status.json").read_text())
        (tmp / "status.json").write_text(json.dumps({**status, "state": "completed", "message": ""}))
    else:
        raise AssertionError(f"unknown damage {kind}")


def _needs(need: str | None) -> None:
    if need == "no-gpu":
        from sparana_cli.engine.backend import resolve_backend

        if resolve_backend("auto").name == "gpu":
            pytest.skip("a GPU answers here: device=gpu is no bad input")
    elif need is not None and not Path(need).is_dir():
        pytest.skip(f"{need} does not exist on this machine")


def test_the_corpus_covers_every_kind_of_bad_input():
    assert {case["kind"] for case in CASES.values()} == KINDS
    assert len(CASES) >= 30


@pytest.mark.parametrize("name", CASES)
def test_corpus_case_is_refused_cleanly(name, template, tmp_path):  # noqa: F811
    case = CASES[name]
    _needs(case.get("needs"))
    world = World(tmp_path, template)
    if "damage" in case:
        _damage(world, case["damage"])
    fill = {"{corpus}": str(CORPUS), "{spec}": str(world.spec), "{data}": str(world.data),
            "{finished}": world.finished.name, "{unfinished}": world.unfinished.name}
    args = []
    for arg in case["args"]:
        for key, value in fill.items():
            arg = str(arg).replace(key, value)
        args.append(arg)
    args += ["--runs-dir", str(world.runs)]
    before, elsewhere = _snapshot(world.runs), sorted(p.name for p in world.base.iterdir())
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    lines = [line for line in result.stderr.strip().splitlines() if not line.startswith("run: ")]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    assert case["names"] in lines[0], lines[0]
    assert _snapshot(world.runs) == before  # no new or half-written folder, every run byte for byte as it was
    assert sorted(p.name for p in world.base.iterdir()) == elsewhere


def test_runs_lists_a_damaged_run_beside_the_others(template, tmp_path):  # noqa: F811
    """`sparana runs` shows the one bad run as damaged, naming its file and what is wrong, and lists the rest."""
    world = World(tmp_path, template)
    good = world.runs / (world.finished.name + "-2")
    shutil.copytree(world.finished, good)
    _damage(world, ["attr", "finished", "model.h5", "/", "created", 12345])
    result = CliRunner().invoke(main, ["runs", "--runs-dir", str(world.runs), "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["run"].rsplit("/", 1)[-1]: row for row in json.loads(result.stdout)["runs"]}
    assert rows[world.finished.name]["state"] == "damaged"
    assert "model.h5: attribute created must be a string" in rows[world.finished.name]["message"]
    assert rows[good.name]["state"] == "completed"
    assert rows[world.unfinished.name]["state"] == "interrupted"
