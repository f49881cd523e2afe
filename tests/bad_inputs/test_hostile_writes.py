"""Hostile run folders and full disks: no write ever follows a planted link out of the runs folder, and a full disk
ends with one line, exit status 3, the training folder marked failed (other commands' folders removed), no .part left.

The full disk is simulated two ways that run anywhere: the free space the pre-write check sees, and an ENOSPC raised
half-way through an HDF5 write. A third test fills a real 1 MiB tmpfs where the test may mount one (root), and is
skipped elsewhere.
"""

from __future__ import annotations

import errno
import json
import shutil
import subprocess
import sys
from collections import namedtuple
from pathlib import Path

import pytest
from click.testing import CliRunner

from sparana_cli import files
from sparana_cli.cli import main
from sparana_cli.store import runs
from tests.test_bad_inputs import World, _snapshot, template  # noqa: F401  (template: the fixture World copies)

ROOT = Path(__file__).resolve().parents[2]


def invoke(world: World, *args):
    """Run a command on the world's runs folder (the data commands take none)."""
    runs_dir = [] if args[0] == "data" else ["--runs-dir", str(world.runs)]
    result = CliRunner().invoke(main, [*map(str, args), *runs_dir])
    lines = [line for line in result.stderr.strip().splitlines() if not line.startswith("run: ")]
    assert "Traceback" not in result.output, result.output
    return result, lines


def one_line(result, lines, code: int, names: str) -> str:
    assert result.exit_code == code, (result.exit_code, result.output, result.exception)
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and names in errors[0], result.stderr
    return errors[0]


def parts(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.part"))


# -- writes never follow a planted link ----------------------------------------------------------------------


def test_a_link_planted_as_the_temporary_name_is_never_written_through(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    folder = tmp_path / "run"
    folder.mkdir()
    for name in ("status.json.part", "model.h5.part"):
        (folder / name).symlink_to(victim)
    files.write_text_atomic(folder / "status.json", '{"state": "running"}')
    assert victim.read_text() == "precious"
    assert (folder / "status.json").read_text() == '{"state": "running"}' and not (folder / "status.json").is_symlink()


def test_a_link_planted_as_the_target_is_replaced_not_followed(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / "status.json").symlink_to(victim)
    files.write_text_atomic(tmp_path / "status.json", "new")
    assert victim.read_text() == "precious"
    assert not (tmp_path / "status.json").is_symlink() and (tmp_path / "status.json").read_text() == "new"


@pytest.mark.parametrize("planted", ["checkpoint.h5.part", "status.json.part", "metrics.h5", "lock"])
def test_resume_refuses_a_run_folder_holding_a_link(template, tmp_path, planted):  # noqa: F811
    world = World(tmp_path, template)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (world.unfinished / planted).unlink(missing_ok=True)
    (world.unfinished / planted).symlink_to(victim)
    before = _snapshot(world.runs)
    result, lines = invoke(world, "train", "--resume", world.unfinished.name)
    one_line(result, lines, 2, f"{planted}: a symbolic link inside the run folder")
    assert victim.read_text() == "precious" and _snapshot(world.runs) == before


def test_plot_writes_its_figures_past_planted_links(template, tmp_path):  # noqa: F811
    world = World(tmp_path, template)
    victim = tmp_path / "victim.png"
    victim.write_bytes(b"precious")
    (world.finished / "training.png.part").symlink_to(victim)
    (world.finished / "per_class.png").symlink_to(victim)
    result, _ = invoke(world, "plot", world.finished.name)
    assert result.exit_code == 0, result.output
    assert victim.read_bytes() == b"precious"
    written = [p for p in world.finished.glob("*.png") if not p.is_symlink()]
    assert written and all(p.read_bytes()[:4] == b"\x89PNG" for p in written)


def test_a_runs_index_planted_as_a_link_is_replaced_not_written_through(template, tmp_path):  # noqa: F811
    """The index is the one file of the runs folder itself: a link to another index (of this format) is never updated."""
    from sparana_cli.store.runs_index import INDEX_FILE

    world = World(tmp_path, template)
    result, _ = invoke(world, "runs")
    assert result.exit_code == 0 and (world.runs / INDEX_FILE).is_file(), result.output
    victim = tmp_path / "elsewhere.sqlite3"
    shutil.move(world.runs / INDEX_FILE, victim)
    (world.runs / INDEX_FILE).symlink_to(victim)
    added = world.finished.name.rsplit("-", 2)[0] + "-20991231-000001"
    shutil.copytree(world.finished, world.runs / added)  # a new folder: the index has news to store
    before = victim.read_bytes()
    result, _ = invoke(world, "runs")
    assert result.exit_code == 0 and added in result.output, result.output
    assert victim.read_bytes() == before
    assert not (world.runs / INDEX_FILE).is_symlink() and (world.runs / INDEX_FILE).is_file()


# -- a full disk ---------------------------------------------------------------------------------------------

Usage = namedtuple("Usage", "total used free")


@pytest.fixture
def full_disk(monkeypatch):
    """The pre-write check sees 64 KiB free: less than any run file with its margin."""
    monkeypatch.setattr(files.shutil, "disk_usage", lambda path: Usage(1 << 30, (1 << 30) - (1 << 16), 1 << 16))


def _enospc_mid_write(monkeypatch):
    """The disk fills half-way through writing a network into an HDF5 file."""
    real = runs.write_network

    def half_then_full(f, net, attrs, **kwargs):
        f.create_dataset("layers/0/weights", data=net.weights[0])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(runs, "write_network", half_then_full)
    return real


def _training_folder(world: World) -> Path:
    new = [p for p in world.runs.iterdir() if p.name.endswith(".tmp") and p != world.unfinished]
    assert len(new) == 1, new
    return new[0]


@pytest.mark.parametrize("how", ["pre-check", "mid-write"])
def test_train_on_a_full_disk_ends_in_one_line_with_its_folder_failed(template, tmp_path, monkeypatch, how,  # noqa: F811
                                                                       request):
    world = World(tmp_path, template)
    request.getfixturevalue("full_disk") if how == "pre-check" else _enospc_mid_write(monkeypatch)
    result, lines = invoke(world, "train", world.spec)
    line = one_line(result, lines, 3, "no space left on the device")
    folder = _training_folder(world)
    assert "sparana train --resume" in line and folder.name in line
    status = json.loads((folder / "status.json").read_text())
    assert status["state"] == "failed" and "no space left" in status["message"]
    assert parts(world.runs) == [] and not (folder / "model.h5").exists()


@pytest.mark.parametrize("how", ["pre-check", "mid-write"])
def test_prune_on_a_full_disk_ends_in_one_line_and_leaves_nothing(template, tmp_path, monkeypatch, how, request):  # noqa: F811
    world = World(tmp_path, template)
    before = _snapshot(world.runs)
    request.getfixturevalue("full_disk") if how == "pre-check" else _enospc_mid_write(monkeypatch)
    result, lines = invoke(world, "prune", "--sparsity", "0.5", "--run", world.finished.name)
    one_line(result, lines, 3, "no space left on the device")
    assert _snapshot(world.runs) == before  # the child's folder is removed whole; the parent is untouched


def test_a_full_disk_before_the_folder_is_written_is_exit_2(template, tmp_path, monkeypatch):  # noqa: F811
    world = World(tmp_path, template)
    before = _snapshot(world.runs)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.tempfile, "mkstemp", full)
    result, lines = invoke(world, "train", world.spec)
    one_line(result, lines, 2, "cannot write a run folder there")
    assert _snapshot(world.runs) == before


def test_resume_removes_the_part_files_a_crashed_write_left(template, tmp_path):  # noqa: F811
    """h5py can crash the process when the disk fills half-way through a write (or the process is killed -9): the
    .part file it leaves is removed when the run is resumed, never carried into the finished run."""
    world = World(tmp_path, template)
    (world.unfinished / "checkpoint.h5.k3x9q2af.part").write_bytes(b"\x89HDF\r\n\x1a\n half a file")
    result, _ = invoke(world, "train", "--resume", world.unfinished.name)
    assert result.exit_code == 0, result.output
    finished = world.runs / world.unfinished.name.removesuffix(".tmp")
    assert finished.is_dir() and parts(world.runs) == []


def _mount_tmpfs(where: Path, size: str) -> bool:
    if sys.platform != "linux" or shutil.which("mount") is None:
        return False
    where.mkdir()
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                          capture_output=True).returncode == 0


def test_train_on_a_real_full_tmpfs(tmp_path, idx_folder):
    """A 1 MiB tmpfs and a 36-400-400-10 network whose checkpoint needs about 2 MiB: a real ENOSPC path."""
    import yaml

    from tests.conftest import tiny_spec

    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, "1M"):
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        spec = tmp_path / "wide.yaml"
        spec.write_text(yaml.safe_dump(tiny_spec(idx_folder, model={"hidden": [400, 400]})))
        done = subprocess.run([sys.executable, "-m", "sparana_cli", "train", str(spec), "--runs-dir", str(disk / "runs")],
                              capture_output=True, text=True, cwd=ROOT, timeout=300)
        lines = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
        assert done.returncode == 3 and len(lines) == 1 and "no space left" in lines[0], done.stderr
        assert "Traceback" not in done.stderr and parts(disk) == []
        (folder,) = (disk / "runs").iterdir()
        assert json.loads((folder / "status.json").read_text())["state"] == "failed"
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)
