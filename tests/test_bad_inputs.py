"""The bad-input corpus: every command, every kind of bad input -> exit 2, one line naming the key or file,
no traceback, and the runs folder exactly as it was.

A row is `"command: what is wrong": Bad(args, names)`: `args(world)` prepares the damage in a fresh
World and returns the command line (without --runs-dir, which is added); `names` must appear in the
error line. Add a row to cover a new command or a new way to be wrong.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import h5py
import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from sparana_cli.cli import main
from sparana_cli.data.idx import write_idx
from sparana_cli.errors import Interrupted
from sparana_cli.phases.train import train
from sparana_cli.spec import spec_from_mapping
from sparana_cli.store import runs
from sparana_cli.ui import Console
from tests.conftest import IDX_NAMES, tiny_spec, write_idx_folder


class World:
    """A fresh folder: good data, a good spec, and a runs folder with a finished and an interrupted run."""

    def __init__(self, base: Path, template: Path):
        self.base = base
        self.data = base / "data"
        shutil.copytree(template / "data", self.data)
        self.runs = base / "runs"
        shutil.copytree(template / "runs", self.runs)
        for spec_path in self.runs.glob("*/spec.yaml"):  # point the copied runs at this world's data
            spec = yaml.safe_load(spec_path.read_text())
            spec["data"]["path"] = str(self.data)
            spec_path.write_text(yaml.safe_dump(spec))
        self.finished = next(p for p in self.runs.iterdir() if p.is_dir() and not p.name.endswith(".tmp"))
        self.unfinished = next(p for p in self.runs.iterdir() if p.name.endswith(".tmp"))
        self.spec = self.write("good.yaml", yaml.safe_dump(tiny_spec(self.data)))

    def write(self, name: str, text: str | bytes) -> Path:
        path = self.base / name
        path.write_bytes(text) if isinstance(text, bytes) else path.write_text(text)
        return path

    def spec_with(self, **sections) -> Path:
        return self.write("s.yaml", yaml.safe_dump(tiny_spec(self.data, **sections)))

    def idx(self, role: str) -> Path:
        return self.data / (IDX_NAMES[role] + ".gz")

    def edit_spec(self, run: Path, change: Callable[[dict], None]) -> None:
        spec = yaml.safe_load((run / "spec.yaml").read_text())
        change(spec)
        (run / "spec.yaml").write_text(yaml.safe_dump(spec))


@dataclass(frozen=True)
class Bad:
    args: Callable[[World], list]  # damages the world as needed; returns the command line
    names: str | Callable[[World], str]  # what the one error line must contain (a key, a file, an option)


def after(_effect, args: list) -> list:
    """The command line, once the damage (evaluated as the first argument) is done."""
    return args


def _truncate(path: Path) -> Path:
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    return path


def _garble(path: Path) -> Path:
    path.write_bytes(b"\x00\x00\x99\x03" + path.read_bytes()[4:])
    return path


def _unfinished_name(w: World) -> str:
    return w.unfinished.name


def _symlink_to_unfinished(w: World) -> list:
    link = w.base / "elsewhere" / "tiny-20260101-000000.tmp"
    link.parent.mkdir()
    link.symlink_to(w.unfinished, target_is_directory=True)
    return ["train", "--resume", link]


def _other_data_same_shape(w: World) -> list:
    x = np.zeros((300, 6, 6), np.uint8)
    write_idx(w.idx("train_images"), x)  # a valid file, but not the data the run started on
    return ["train", "--resume", w.unfinished.name]


def _checkpoint_without_optimizer(w: World) -> list:
    with h5py.File(w.unfinished / "checkpoint.h5", "a") as f:
        del f["optimizer/m"]
    return ["train", "--resume", w.unfinished.name]


def _unfinished_run_of_another_phase(w: World) -> list:
    other = runs.reserve_run(w.runs, "pruned", phase="prune")
    shutil.copy(w.finished / "spec.yaml", other.tmp / "spec.yaml")
    other.release()  # as if its process had been killed
    return ["train", "--resume", other.tmp.name]


def _model_that_does_not_fit_the_data(w: World) -> list:
    wide = write_idx_folder(w.base / "wide")
    write_idx(wide / (IDX_NAMES["train_images"] + ".gz"), np.zeros((300, 8, 8), np.uint8))
    write_idx(wide / (IDX_NAMES["test_images"] + ".gz"), np.zeros((100, 8, 8), np.uint8))
    w.edit_spec(w.finished, lambda s: s["data"].__setitem__("path", str(wide)))
    return ["evaluate", w.finished.name]


def _labels_out_of_range(w: World) -> list:
    write_idx(w.idx("test_labels"), np.full(100, 12, np.uint8))
    return ["train", w.spec]


def _own_csv_with_a_word(w: World) -> list:
    w.write("cells.csv", "label,a,b\n0,1,2\n1,2,three\n")
    return ["train", w.spec_with(data={"name": "cells", "format": "csv", "path": str(w.base / "cells.csv")})]


def _own_npz_without_y_test(w: World) -> list:
    np.savez(w.base / "cells.npz", x_train=np.ones((6, 2)), y_train=np.arange(6) % 2, x_test=np.ones((2, 2)))
    return ["train", w.spec_with(data={"name": "cells", "format": "npz", "path": str(w.base / "cells.npz")})]


CASES: dict[str, Bad] = {
    # -- train: the spec -------------------------------------------------------------------------
    "train: spec file missing": Bad(lambda w: ["train", w.base / "nope.yaml"], "nope.yaml"),
    "train: malformed YAML": Bad(lambda w: ["train", w.write("bad.yaml", "model: [1, 2\n")], "bad.yaml"),
    "train: spec is a list": Bad(lambda w: ["train", w.write("bad.yaml", "- 1\n- 2\n")], "bad.yaml"),
    "train: spec is not UTF-8": Bad(lambda w: ["train", w.write("bad.yaml", b"\xff\xfe\x00model")], "bad.yaml"),
    "train: unknown key in the file": Bad(lambda w: ["train", w.spec_with(train={"epoch": 3})], "train.epoch"),
    "train: unknown section override": Bad(lambda w: ["train", w.spec, "modle.hidden=[3]"], "modle"),
    "train: wrong type": Bad(lambda w: ["train", w.spec, "train.epochs=many"], "train.epochs"),
    "train: hidden is not a list": Bad(lambda w: ["train", w.spec, "model.hidden=12"], "model.hidden"),
    "train: zero epochs": Bad(lambda w: ["train", w.spec, "train.epochs=0"], "train.epochs"),
    "train: negative learning rate": Bad(lambda w: ["train", w.spec, "train.lr=-0.1"], "train.lr"),
    "train: zero learning rate": Bad(lambda w: ["train", w.spec, "train.lr=0"], "train.lr"),
    "train: zero batch size": Bad(lambda w: ["train", w.spec, "train.batch_size=0"], "train.batch_size"),
    "train: zero-width hidden layer": Bad(lambda w: ["train", w.spec, "model.hidden=[24,0]"], "model.hidden[1]"),
    "train: negative L2": Bad(lambda w: ["train", w.spec, "train.l2=-1"], "train.l2"),
    "train: dropout of 1": Bad(lambda w: ["train", w.spec, "train.dropout=1"], "train.dropout"),
    "train: validation too large": Bad(lambda w: ["train", w.spec, "data.validation=0.9"], "data.validation"),
    "train: NaN learning rate": Bad(lambda w: ["train", w.spec, "train.lr=.nan"], "train.lr"),
    "train: unknown device": Bad(lambda w: ["train", w.spec, "device=tpu"], "device"),
    "train: cross entropy on a linear output": Bad(lambda w: ["train", w.spec, "model.loss=cross_entropy"], "model.output"),
    "train: name escapes the runs folder": Bad(lambda w: ["train", w.spec, "name=../../escape"], "name"),
    "train: name with a slash in the file": Bad(lambda w: ["train", w.spec_with(name="a/b")], "name"),
    "train: hidden name": Bad(lambda w: ["train", w.spec, "name=.hidden"], "name"),
    "train: override without =": Bad(lambda w: ["train", w.spec, "train.epochs"], "train.epochs"),
    "train: unknown option": Bad(lambda w: ["train", w.spec, "--epochs", "3"], "--epochs"),
    # -- train: the data -------------------------------------------------------------------------
    "train: data folder missing": Bad(lambda w: ["train", w.spec, f"data.path={w.base / 'absent'}"], "data.path"),
    "train: truncated IDX images": Bad(lambda w: after(_truncate(w.idx("train_images")), ["train", w.spec]),
                                       IDX_NAMES["train_images"]),
    "train: IDX labels with a bad magic number": Bad(lambda w: after(_garble(w.idx("test_labels")), ["train", w.spec]),
                                                     IDX_NAMES["test_labels"]),
    "train: IDX file that is not gzip data": Bad(lambda w: after(w.idx("test_images").write_bytes(b"\x1f\x8bjunk"), ["train",
                                                            w.spec]), IDX_NAMES["test_images"]),
    "train: labels out of range": Bad(_labels_out_of_range, IDX_NAMES["test_labels"]),
    "train: one IDX file missing": Bad(lambda w: after(w.idx("train_labels").unlink(), ["train", w.spec]),
                                       IDX_NAMES["train_labels"]),
    # -- train --resume ----------------------------------------------------------------------------
    "resume: SPEC and --resume together": Bad(lambda w: ["train", w.spec, "--resume", w.unfinished.name], "--resume"),
    "resume: neither SPEC nor --resume": Bad(lambda w: ["train"], "SPEC"),
    "resume: a finished run": Bad(lambda w: ["train", "--resume", w.finished], lambda w: w.finished.name),
    "resume: no such run": Bad(lambda w: ["train", "--resume", "tiny-20200101-000000"], "tiny-20200101-000000"),
    "resume: not a run folder name": Bad(lambda w: ["train", "--resume", "nothing"], "nothing"),
    "resume: the parent folder": Bad(lambda w: ["train", "--resume", ".."], ".."),
    "resume: a folder outside the runs": Bad(lambda w: ["train", "--resume", w.data], "not a run folder"),
    "resume: path that escapes": Bad(lambda w: ["train", "--resume", "../../x-20200101-000000.tmp"], "../../x"),
    "resume: a symbolic link": Bad(_symlink_to_unfinished, "symbolic link"),
    "resume: truncated checkpoint": Bad(lambda w: after(_truncate(w.unfinished / "checkpoint.h5"), ["train", "--resume",
                                                   w.unfinished.name]), "checkpoint.h5"),
    "resume: checkpoint without optimizer state": Bad(_checkpoint_without_optimizer, "checkpoint.h5"),
    "resume: damaged status.json": Bad(lambda w: after((w.unfinished / "status.json").write_text("{oops"), ["train",
                                                  "--resume", w.unfinished.name]), "status.json"),
    "resume: spec.yaml missing": Bad(lambda w: after((w.unfinished / "spec.yaml").unlink(), ["train", "--resume",
                                                w.unfinished.name]), "spec.yaml"),
    "resume: spec.yaml edited to another shape": Bad(lambda w: after(w.edit_spec(w.unfinished, lambda s: s["model"].update(
        hidden=[5])), ["train", "--resume", w.unfinished.name]), "checkpoint.h5"),
    "resume: spec.yaml edited to another optimizer": Bad(lambda w: after(w.edit_spec(w.unfinished, lambda s: s["train"].update(
        optimizer="sgd")), ["train", "--resume", w.unfinished.name]), "checkpoint.h5"),
    "resume: data changed since the run started": Bad(_other_data_same_shape, "checkpoint.h5"),
    "resume: an unfinished run of another phase": Bad(_unfinished_run_of_another_phase, "a prune run"),
    # -- evaluate ----------------------------------------------------------------------------------
    "evaluate: no such run": Bad(lambda w: ["evaluate", "nope"], "nope"),
    "evaluate: run path that escapes": Bad(lambda w: ["evaluate", "../../nope"], "../../nope"),
    "evaluate: no runs at all": Bad(lambda w: after(shutil.rmtree(w.runs), ["evaluate"]), "runs"),
    "evaluate: an unfinished run": Bad(lambda w: ["evaluate", w.unfinished], ".tmp"),
    "evaluate: garbage model.h5": Bad(lambda w: after((w.finished / "model.h5").write_bytes(b"garbage"), ["evaluate",
                                                 w.finished.name]), "model.h5"),
    "evaluate: truncated model.h5": Bad(lambda w: after(_truncate(w.finished / "model.h5"), ["evaluate", w.finished.name]),
                                        "model.h5"),
    "evaluate: model.h5 missing": Bad(lambda w: after((w.finished / "model.h5").unlink(), ["evaluate", w.finished.name]),
                                      "model.h5"),
    "evaluate: spec.yaml missing": Bad(lambda w: after((w.finished / "spec.yaml").unlink(), ["evaluate", w.finished.name]),
                                       "spec.yaml"),
    "evaluate: model shapes do not fit the data": Bad(_model_that_does_not_fit_the_data, "model.h5"),
    "evaluate: bad --device": Bad(lambda w: ["evaluate", w.finished.name, "--device", "tpu"], "--device"),
    # -- prune -------------------------------------------------------------------------------------
    "prune: no amount": Bad(lambda w: ["prune", "--run", w.finished.name], "--sparsity"),
    "prune: sparsity of 1": Bad(lambda w: ["prune", "--run", w.finished.name, "--sparsity", "1"], "--sparsity"),
    "prune: unknown method": Bad(lambda w: ["prune", "--run", w.finished.name, "--method", "biggest", "--sparsity",
                                            "0.5"], "--method"),
    "prune: layer out of range": Bad(lambda w: ["prune", "--run", w.finished.name, "--sparsity", "0.5", "--layers", "5"],
                                     "--layers"),
    "prune: count above the live weights": Bad(lambda w: ["prune", "--run", w.finished.name, "--count", "100000"],
                                               "--count"),
    "prune: missing run": Bad(lambda w: ["prune", "--run", "nope", "--sparsity", "0.5"], "nope"),
    "prune: an unfinished run": Bad(lambda w: ["prune", "--run", w.unfinished, "--sparsity", "0.5"], ".tmp"),
    "prune: bad prune section in the parent spec": Bad(lambda w: after(w.edit_spec(w.finished, lambda s: s.update(
        prune={"method": "biggest"})), ["prune", "--run", w.finished.name, "--sparsity", "0.5"]), "prune.method"),
    # -- forget ------------------------------------------------------------------------------------
    "forget: class out of range": Bad(lambda w: ["forget", "--run", w.finished.name, "--class", "10"], "--class 10"),
    "forget: negative class": Bad(lambda w: ["forget", "--run", w.finished.name, "--class", "-2"], "--class"),
    "forget: no class": Bad(lambda w: ["forget", "--run", w.finished.name], "--class"),
    "forget: negative step": Bad(lambda w: ["forget", "--run", w.finished.name, "--class", "1", "--step", "-5"], "--step"),
    "forget: zero step fraction": Bad(lambda w: ["forget", "--run", w.finished.name, "--class", "1", "--step-fraction",
                                                "0"], "--step-fraction"),
    "forget: step and step fraction": Bad(lambda w: ["forget", "--run", w.finished.name, "--class", "1", "--step", "3",
                                                    "--step-fraction", "0.1"], "--step-fraction"),
    "forget: unknown score": Bad(lambda w: ["forget", "--run", w.finished.name, "--class", "1", "--score", "biggest"],
                                 "--score"),
    "forget: layer out of range": Bad(lambda w: ["forget", "--run", w.finished.name, "--class", "1", "--layers", "3"],
                                      "--layers"),
    "forget: target above 1": Bad(lambda w: ["forget", "--run", w.finished.name, "--class", "1", "--target", "2"],
                                  "--target"),
    "forget: max fraction of 0": Bad(lambda w: ["forget", "--run", w.finished.name, "--class", "1", "--max-fraction",
                                               "0"], "--max-fraction"),
    "forget: overshoot below 1": Bad(lambda w: ["forget", "--run", w.finished.name, "--class", "1", "--overshoot", "0.5"],
                                     "--overshoot"),
    "forget: zero relearn steps": Bad(lambda w: ["forget", "--run", w.finished.name, "--class", "1",
                                                   "--relearn-steps", "0"], "--relearn-steps"),
    "forget: unknown comparator": Bad(lambda w: ["forget", "--run", w.finished.name, "--class", "1", "--compare",
                                                 "retrain,oracle"], "--compare"),
    "forget: missing run": Bad(lambda w: ["forget", "--run", "nope", "--class", "1"], "nope"),
    "forget: no runs at all": Bad(lambda w: after(shutil.rmtree(w.runs), ["forget", "--class", "1"]), "runs"),
    "forget: garbage model.h5": Bad(lambda w: after((w.finished / "model.h5").write_bytes(b"garbage"), [
        "forget", "--run", w.finished.name, "--class", "1"]), "model.h5"),
    "forget: bad forget section in the parent spec": Bad(lambda w: after(w.edit_spec(w.finished, lambda s: s.update(
        forget={"overshoot": 0})), ["forget", "--run", w.finished.name, "--class", "1"]), "forget.overshoot"),
    "sweep: forget point with a class out of range": Bad(lambda w: ["sweep", w.finished.name, "class=0,10", "--command",
                                                                    "forget"], "--class 10"),
    "sweep: forget axis that is no option": Bad(lambda w: ["sweep", w.finished.name, "klass=1", "--command", "forget"],
                                                "klass"),
    "sweep: prune point with a bad sparsity": Bad(lambda w: ["sweep", w.finished.name, "sparsity=0.5,1.5", "--command",
                                                             "prune"], "--sparsity"),
    # -- spec --------------------------------------------------------------------------------------
    "spec: file missing": Bad(lambda w: ["spec", w.base / "nope.yaml"], "nope.yaml"),
    "spec: out-of-range override": Bad(lambda w: ["spec", w.spec, "train.momentum=1"], "train.momentum"),
    # -- runs --------------------------------------------------------------------------------------
    "runs: runs folder is a file": Bad(lambda w: ["runs", "--runs-dir", w.spec], "good.yaml"),
    "runs compare: a single run": Bad(lambda w: ["runs", "compare", w.finished.name], "at least two"),
    "runs compare: no such run": Bad(lambda w: ["runs", "compare", w.finished.name, "nope"], "nope"),
    "runs compare: corrupt metrics.h5": Bad(lambda w: after(_truncate(w.finished / "metrics.h5"), ["runs", "compare",
                                                       w.finished.name, w.finished]), "metrics.h5"),
    "runs diff: malformed spec.yaml": Bad(lambda w: after((w.finished / "spec.yaml").write_text("a: ["), [
        "runs", "diff", w.finished.name, w.finished.name]), "spec.yaml"),
    "runs diff: second run missing": Bad(lambda w: ["runs", "diff", w.finished.name], "RUN_B"),
    "runs: unknown sort column": Bad(lambda w: ["runs", "--sort", "colour"], "--sort colour"),
    "runs: unknown state": Bad(lambda w: ["runs", "--state", "sleeping"], "--state sleeping"),
    "runs: --where without =": Bad(lambda w: ["runs", "--where", "model.hidden"], "--where"),
    "runs show: no such run": Bad(lambda w: ["runs", "show", "nope"], "nope"),
    "runs show: corrupt model.h5": Bad(lambda w: after(_truncate(w.finished / "model.h5"), ["runs", "show",
                                                  w.finished.name]), "model.h5"),
    "runs rm: nothing named": Bad(lambda w: ["runs", "rm", "--yes"], "--incomplete"),
    "runs rm: no such run": Bad(lambda w: ["runs", "rm", "nope", "--yes"], "nope"),
    "runs rm: a running run": Bad(lambda w: after(setattr(w, "live", runs.reserve_run(w.runs, "live", phase="train")),
                                                  ["runs", "rm", w.live.tmp.name, "--yes"]), "still running"),
    # -- plot --------------------------------------------------------------------------------------
    "plot: no such run": Bad(lambda w: ["plot", "nope"], "nope"),
    "plot: an unfinished run": Bad(lambda w: ["plot", w.unfinished], ".tmp"),
    "plot: metrics.h5 missing": Bad(lambda w: after((w.finished / "metrics.h5").unlink(), ["plot", w.finished.name]),
                                    "metrics.h5"),
    "plot: metrics.h5 not HDF5": Bad(lambda w: after((w.finished / "metrics.h5").write_bytes(b"\x89HDF"), ["plot",
                                                w.finished.name]), "metrics.h5"),
    "plot: --out is a file": Bad(lambda w: ["plot", w.finished.name, "--out", w.spec], "good.yaml"),
    # -- attack ------------------------------------------------------------------------------------
    "attack: no such run": Bad(lambda w: ["attack", "nope"], "nope"),
    "attack: an unfinished run": Bad(lambda w: ["attack", w.unfinished], ".tmp"),
    "attack: negative eps": Bad(lambda w: ["attack", w.finished.name, "--eps=-0.1"], "attack.eps"),
    "attack: eps above one": Bad(lambda w: ["attack", w.finished.name, "--eps", "0.1,1.5"], "attack.eps[1]"),
    "attack: eps not a number": Bad(lambda w: ["attack", w.finished.name, "--eps", "0.1,big"], "--eps"),
    "attack: unknown method": Bad(lambda w: ["attack", w.finished.name, "--method", "cw"], "--method"),
    "attack: zero steps": Bad(lambda w: ["attack", w.finished.name, "--steps", "0"], "attack.steps"),
    "attack: more samples than test images": Bad(lambda w: ["attack", w.finished.name, "--samples", "5000"],
                                                 "attack.samples"),
    # -- own data and data fetch -------------------------------------------------------------------
    "train: own CSV with a word among the features": Bad(_own_csv_with_a_word, "cells.csv: line 3: 'three'"),
    "train: own NPZ without y_test": Bad(_own_npz_without_y_test, "cells.npz: no array 'y_test'"),
    "train: own data format without a path": Bad(lambda w: ["train", w.spec, "data.format=npz", "data.path=null"],
                                                 "data.path"),
    "data: fetch an unknown set": Bad(lambda w: ["data", "fetch", "mnist-9"], "mnist-9"),
    # -- sweep -------------------------------------------------------------------------------------
    "sweep: unknown --command": Bad(lambda w: ["sweep", w.spec, "seed=1,2", "--command", "frobnicate"], "--command"),
    "sweep: a command that is not sweepable": Bad(lambda w: ["sweep", w.spec, "seed=1,2", "--command", "evaluate"],
                                                  "--command evaluate"),
    "sweep: spec file missing": Bad(lambda w: ["sweep", w.base / "nope.yaml", "seed=1,2"], "nope.yaml"),
    "sweep: no axes": Bad(lambda w: ["sweep", w.spec], "axis"),
    "sweep: axis without =": Bad(lambda w: ["sweep", w.spec, "seed"], "seed"),
    "sweep: axis with no values": Bad(lambda w: ["sweep", w.spec, "seed="], "seed"),
    "sweep: empty range": Bad(lambda w: ["sweep", w.spec, "seed=3..1"], "seed"),
    "sweep: an empty value": Bad(lambda w: ["sweep", w.spec, "seed=1,,2"], "seed"),
    "sweep: unbalanced brackets": Bad(lambda w: ["sweep", w.spec, "model.hidden=[8,[4]"], "model.hidden"),
    "sweep: axis given twice": Bad(lambda w: ["sweep", w.spec, "seed=1,2", "seed=3"], "seed"),
    "sweep: unknown axis key": Bad(lambda w: ["sweep", w.spec, "train.lrr=0.1,0.2"], "train.lrr"),
    "sweep: one bad value among good ones": Bad(lambda w: ["sweep", w.spec, "train.lr=0.1,-1"], "train.lr"),
    "sweep: zero workers": Bad(lambda w: ["sweep", w.spec, "seed=1,2", "--workers", "0"], "--workers"),
    "sweep: workers and scheduler": Bad(lambda w: ["sweep", w.spec, "seed=1,2", "--workers", "2", "--scheduler",
                                                   "tcp://127.0.0.1:8786"], "--scheduler"),
    "sweep: scheduler address": Bad(lambda w: ["sweep", w.spec, "seed=1,2", "--scheduler", "my laptop"], "--scheduler"),
}


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """Data, a finished run and an interrupted run (with a mid-epoch checkpoint), made once."""
    base = tmp_path_factory.mktemp("template")
    data = write_idx_folder(base / "data")
    spec = spec_from_mapping(tiny_spec(data), "template")
    console = Console(json_mode=True)
    train(spec, root=base / "runs", console=console)
    calls = [0]

    def stop():
        calls[0] += 1
        return calls[0] == 3

    with pytest.raises(Interrupted):
        train(spec, root=base / "runs", console=console, stop=stop)
    return base


def test_the_corpus_is_large_and_spans_every_command():
    commands = {name.split(":")[0].split()[0] for name in CASES}
    assert len(CASES) >= 30
    assert {"train", "resume", "evaluate", "attack", "spec", "runs", "plot", "sweep", "prune", "forget", "data"} <= commands


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_refused_cleanly(case, template, tmp_path):
    world = World(tmp_path, template)
    bad = CASES[case]
    args = [str(a) for a in bad.args(world)]
    takes_runs_dir = any(p.name == "runs_dir" for p in main.commands[args[0]].params)
    if takes_runs_dir and "--runs-dir" not in args:
        args += ["--runs-dir", str(world.runs)]
    before = _snapshot(world.runs)
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    lines = [line for line in result.stderr.strip().splitlines() if not line.startswith("run: ")]  # the default RUN, said
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    expected = bad.names(world) if callable(bad.names) else bad.names
    assert expected in lines[0], lines[0]
    assert _snapshot(world.runs) == before


def _snapshot(folder: Path):
    """Every path under folder with its bytes and modification time (None when folder is absent).

    The runs index (a cache that any listing may bring up to date) is left out.
    """
    if not folder.exists():
        return None
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if not p.name.startswith(".runs-index")}


def test_snapshot_notices_a_change(template, tmp_path):
    """The corpus's main check can fail: a changed status.json is seen."""
    world = World(tmp_path, template)
    before = _snapshot(world.runs)
    status = json.loads((world.unfinished / "status.json").read_text())
    (world.unfinished / "status.json").write_text(json.dumps({**status, "state": "failed"}))
    assert _snapshot(world.runs) != before
