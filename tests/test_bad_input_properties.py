"""Property-based tests (Hypothesis): generated malformed specs, IDX headers and run files always meet the promise.

The promise: exit status 2, one line naming the key or file, no traceback, no new folder, every existing
run byte-identical. Examples are derandomized (the same ones every run, so CI cannot flake) and few enough to
keep the three tests to about a minute on 2 cores.
"""

from __future__ import annotations

import dataclasses
import shutil
import struct
import tempfile
import typing
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sparana_cli import spec as spec_module
from sparana_cli.cli import main
from sparana_cli.data import load_dataset
from sparana_cli.data.idx import read_idx
from sparana_cli.errors import UserError
from sparana_cli.spec import Spec, spec_from_mapping
from tests.conftest import IDX_NAMES, tiny_spec, write_idx_folder
from tests.test_bad_inputs import _snapshot, template  # noqa: F401  (template: a finished and an interrupted run)

SETTINGS = settings(max_examples=120, deadline=None, database=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _leaves(cls=Spec, path=""):
    """(key path, type) of every value of the spec."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        key = f"{path}.{f.name}" if path else f.name
        if dataclasses.is_dataclass(hints[f.name]):
            yield from _leaves(hints[f.name], key)
        else:
            yield key, hints[f.name]


LEAVES = sorted(_leaves())
WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=12)
JUNK = st.one_of(st.lists(st.integers(), min_size=1, max_size=3), st.dictionaries(WORDS, st.integers(), min_size=1,
                                                                                       max_size=2))


def _wrong_value(tp) -> st.SearchStrategy:
    """Values that can never fit type `tp` (a list or mapping for a scalar, a word for a number, ...)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, __import__("types").UnionType):
        inner = [a for a in args if a is not type(None)]
        if str in inner:  # int | str: only containers are wrong
            return JUNK
        return st.one_of(*(_wrong_value(a) for a in inner)).filter(lambda v: v is not None)
    if origin is typing.Literal:
        return st.one_of(WORDS.filter(lambda w: w not in args), JUNK)
    if origin is list:
        return st.one_of(st.integers(), WORDS, st.lists(JUNK, min_size=1, max_size=2))
    if tp is bool:
        return st.one_of(st.integers(2, 9), WORDS.filter(lambda w: w not in ("y", "n")), JUNK)
    if tp in (int, float):
        return st.one_of(WORDS.filter(lambda w: w not in ("inf", "nan", "e")), JUNK, st.booleans())
    if tp is str:
        return st.one_of(st.integers(), st.floats(allow_nan=False), JUNK)
    raise AssertionError(tp)


@st.composite
def malformed_specs(draw):
    """(raw spec mapping, the key path its error must name): a good spec with one value made wrong, or one key unknown."""
    raw = tiny_spec(Path("/data"))
    if draw(st.booleans()):
        key, tp = draw(st.sampled_from(LEAVES))
        value = draw(_wrong_value(tp))
    else:
        section = draw(st.sampled_from(["", "data.", "model.", "train.", "prune.", "forget.", "attack."]))
        key = section + draw(WORDS.filter(lambda w: w not in {k.rsplit(".", 1)[-1] for k, _ in LEAVES}))
        value = draw(st.one_of(st.integers(), WORDS))
    node, *path = key.split(".")
    target = raw
    for part in [node, *path][:-1]:
        target = target.setdefault(part, {})
    target[key.split(".")[-1]] = value
    return raw, key


def _invoke(args: list[str]):
    result = CliRunner().invoke(main, args)
    lines = [line for line in result.stderr.strip().splitlines() if not line.startswith("run: ")]
    return result, lines


def _refused(result, lines, names: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert len(lines) == 1 and lines[0].startswith("error: ") and names in lines[0], (lines, names)
    assert "Traceback" not in result.output


@SETTINGS
@given(case=malformed_specs())
def test_a_malformed_spec_is_refused_by_key_before_anything_is_written(case, tmp_path_factory):
    raw, key = case
    base = tmp_path_factory.mktemp("spec")
    (base / "s.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(UserError, match=key.replace(".", r"\.")):
        spec_from_mapping(raw, "s.yaml")
    result, lines = _invoke(["train", str(base / "s.yaml"), "--runs-dir", str(base / "runs")])
    _refused(result, lines, key)
    assert not (base / "runs").exists()


@st.composite
def idx_files(draw):
    """Bytes of an IDX file whose header may lie: magic, type, dimension count and sizes, and payload length."""
    zero = draw(st.sampled_from([b"\x00\x00", b"\x00\x01", b"\x1f\x00"]))
    code = draw(st.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x07]))
    ndim = draw(st.integers(0, 4))
    dims = draw(st.lists(st.one_of(st.integers(0, 8), st.integers(0, 2**32 - 1)), min_size=ndim, max_size=ndim))
    payload = draw(st.binary(max_size=600))
    return zero + bytes([code, ndim]) + struct.pack(f">{ndim}I", *dims) + payload, tuple(dims), code


@SETTINGS
@given(case=idx_files(), role=st.sampled_from(list(IDX_NAMES)))
def test_an_idx_file_that_lies_is_refused_naming_it(case, role):
    raw, dims, code = case
    with tempfile.TemporaryDirectory() as folder:
        data = write_idx_folder(Path(folder) / "data", n_train=30, n_test=10, gz=False)
        path = data / IDX_NAMES[role]
        path.write_bytes(raw)
        try:
            array = read_idx(path)
        except UserError as err:
            assert str(path) in str(err)
        else:
            assert array.shape == dims  # a header that told the truth: exactly the array it describes
        spec = spec_from_mapping(tiny_spec(data), "tiny")
        try:
            load_dataset(spec.data, spec.seed)
        except UserError as err:
            assert str(data) in str(err)  # the file (or its folder's set) is named


SIZES = [36, 24, 16, 10]  # the template's finished run: tiny_spec's 24-16 hidden layers on 6x6 images, 10 classes
SHAPES = {f"/layers/{i}/{name}": shape for i, (a, b) in enumerate(zip(SIZES[:-1], SIZES[1:]))
          for name, shape in (("weights", (a, b)), ("bias", (b,)), ("mask", (a, b)))}
ATTR_VALUES = st.one_of(st.integers(-2**40, 2**40), st.floats(), WORDS, st.booleans(),
                        st.lists(st.integers(0, 9), min_size=1, max_size=4), st.sampled_from(["linear", "softmax",
                                                                                              "2026-11-30T18:00:00"]))


def _attr_fits(name: str, value) -> bool:
    """Whether model.h5's documented layout allows `value` for root attribute `name` (README "Run folders")."""
    if name == "output":
        return value in ("linear", "softmax")
    if name == "created":
        return value == "2026-11-30T18:00:00"
    if name in ("seed", "n_layers"):
        return isinstance(value, int) and not isinstance(value, bool) and (name == "seed" or value == len(SIZES) - 1)
    return isinstance(value, str)


def _dataset_fits(where: str, array: np.ndarray) -> bool:
    if where.endswith("mask"):  # the trained weights are all nonzero, and masked weights must be exactly 0
        return array.dtype == np.bool_ and array.shape == SHAPES[where] and bool(array.all())
    return array.dtype == np.float32 and array.shape == SHAPES[where] and bool(np.isfinite(array).all())


@st.composite
def damaged_models(draw):
    """(kind, where, name, value, fits): a root attribute of model.h5 set to a random value, or a dataset replaced by
    a random array; `fits` says whether the documented layout allows it (then the run must still evaluate)."""
    if draw(st.booleans()):
        name = draw(st.sampled_from(["created", "seed", "phase", "output", "n_layers", "parent", "dataset"]))
        value = draw(ATTR_VALUES)
        return ("attr", "/", name, value, _attr_fits(name, value))
    where = draw(st.sampled_from(sorted(SHAPES)))
    dtype = draw(st.sampled_from(["float32", "float64", "int8", "uint8", "bool", "int64"]))
    shape = draw(st.one_of(st.just(SHAPES[where]), st.lists(st.integers(0, 40), max_size=3).map(tuple)))
    fill = draw(st.sampled_from([0.0, 1.0, 0.5, np.nan, np.inf, -7.0]))
    with np.errstate(invalid="ignore"):
        array = np.full(shape, bool(fill == 1.0)) if dtype == "bool" else np.full(shape, fill).astype(dtype)
    return ("dataset", where, None, array, _dataset_fits(where, array))


@SETTINGS
@given(damage=damaged_models())
def test_a_run_file_that_lies_is_refused_and_runs_still_lists(damage, template):  # noqa: F811
    kind, where, name, value, fits = damage
    with tempfile.TemporaryDirectory() as folder:
        runs = Path(folder) / "runs"
        shutil.copytree(template / "runs", runs)
        finished = next(p for p in runs.iterdir() if p.is_dir() and not p.name.endswith(".tmp"))
        spec = yaml.safe_load((finished / "spec.yaml").read_text())
        spec["data"]["path"] = str(template / "data")
        (finished / "spec.yaml").write_text(yaml.safe_dump(spec))
        with h5py.File(finished / "model.h5", "a") as f:
            if kind == "attr":
                f[where].attrs[name] = value
            else:
                del f[where]
                f[where] = value
        before = _snapshot(runs)
        result, lines = _invoke(["evaluate", finished.name, "--runs-dir", str(runs)])
        if fits:
            assert result.exit_code == 0, (damage, result.output)
        else:
            _refused(result, lines, "model.h5")
        listing = CliRunner().invoke(main, ["runs", "--runs-dir", str(runs), "--json"])
        assert listing.exit_code == 0, listing.output
        states = {Path(row["run"]).name: row["state"] for row in yaml.safe_load(listing.stdout)["runs"]}
        assert len(states) == 2  # the other run is listed whatever this one holds
        if kind == "attr":
            assert (states[finished.name] == "damaged") == (not fits), (damage, states)
        assert _snapshot(runs) == before


def test_the_spec_leaves_cover_every_section():
    assert {key.split(".")[0] for key, _ in LEAVES} >= {"data", "model", "train", "prune", "forget", "attack", "seed"}
    assert spec_module.MAX_SEED == 2**32 - 1
