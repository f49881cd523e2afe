"""`sparana --profile` / SPARANA_PROFILE=1: the breakdown of a command's wall time on stderr."""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from sparana_cli.profile import Profile
from tests.test_cli import invoke, trained_tiny_run

ROOT = Path(__file__).resolve().parent.parent
LINE = re.compile(r"^  (.+?)\s+(\d+\.\d+) s\s+(\d+\.\d+)%$")


def breakdown(stderr: str) -> tuple[dict, float]:
    """{section: seconds} and the wall time from the profile's lines."""
    lines = stderr[stderr.index("profile: where the wall time went"):].splitlines()[1:]
    sections = {m.group(1): float(m.group(2)) for m in map(LINE.match, lines) if m}
    wall = float(re.search(r"wall time\s+(\d+\.\d+) s", stderr).group(1))
    return sections, wall


def test_inner_sections_are_not_counted_twice():
    profile = Profile()
    profile.enable()
    try:
        with profile.section("outer"):
            time.sleep(0.05)
            with profile.section("inner"):
                time.sleep(0.15)
    finally:
        profile.disable()
    assert 0.04 < profile.totals["outer"] < 0.14 < profile.totals["inner"]


def test_imports_are_credited_to_imports_unless_the_section_keeps_them(tmp_path):
    (tmp_path / "slow_module_a.py").write_text("import time\ntime.sleep(0.1)\n")
    (tmp_path / "slow_module_b.py").write_text("import time\ntime.sleep(0.1)\n")
    sys.path.insert(0, str(tmp_path))
    profile = Profile()
    profile.enable()
    try:
        with profile.section("work"):
            import slow_module_a  # noqa: F401
        with profile.section("starting a library", keep_imports=True):
            import slow_module_b  # noqa: F401
    finally:
        profile.disable()
        sys.path.remove(str(tmp_path))
    assert profile.totals["imports"] >= 0.1 and profile.totals["work"] < 0.05
    assert profile.totals["starting a library"] >= 0.1


def test_profile_flag_prints_the_breakdown_of_a_command(tmp_path):
    run = trained_tiny_run(tmp_path)
    result = invoke("--profile", "evaluate", run, "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 0
    sections, wall = breakdown(result.stderr)
    assert {"model load", "data load", "compute (the command's own work)"} <= sections.keys()
    assert abs(sum(sections.values()) - wall) < 0.01 * wall + 0.005  # the lines add up to the wall time
    assert "profile:" not in invoke("evaluate", run, "--runs-dir", tmp_path / "runs").stderr


def test_environment_variable_profiles_a_forget_process_with_numba_and_run_writing(tmp_path):
    run = trained_tiny_run(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SPARANA_PROFILE": "1"}
    def profiled(*options):
        result = subprocess.run([sys.executable, "-m", "sparana_cli", "forget", "--class", "3", "--run", str(run),
                                 "--evaluate", "none", *options, "--runs-dir", str(tmp_path / "runs")],
                                cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        return breakdown(result.stderr)

    sections, wall = profiled("--rescore", "every_step", "--repair", "sgd")  # the earlier default runs a Numba kernel
    for name in ("process start (interpreter, before the CLI)", "imports", "numba: import",
                 "numba: start-up, kernel typing and cache load (or compile)", "data load", "model load",
                 "forgetting: scoring and choosing weights", "run writing (files of the run folder)"):
        assert sections.get(name, 0) > 0, name
    assert abs(sum(sections.values()) - wall) < 0.01 * wall + 0.005
    sections, wall = profiled()  # the default: scored once in NumPy, no Numba at all
    assert sections.get("data load", 0) > 0 and sections.get("model load", 0) > 0
    assert not any(name.startswith("numba") for name in sections), sections
    assert abs(sum(sections.values()) - wall) < 0.01 * wall + 0.005


def test_numba_compiles_outside_a_profiled_command_leave_the_profile_alone():
    import numpy as np
    from numba import njit

    from sparana_cli.profile import PROFILE, watch_numba

    PROFILE.enable()
    try:
        watch_numba()
    finally:
        PROFILE.disable()
    before = dict(PROFILE.totals)
    njit(lambda v: v + 1)(np.float32(1))  # the listener sees this compile while profiling is off
    assert PROFILE._stack == [] and PROFILE.totals == before
