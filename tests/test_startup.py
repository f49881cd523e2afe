"""The command line starts light: importing it, and --help, load Click and the CLI's own modules, not the numerics.

Checked by the modules a fresh interpreter holds afterwards, not by a timing (bench/ has the timings).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("numpy", "h5py", "numba", "llvmlite", "matplotlib", "scipy", "dask", "distributed", "tqdm", "yaml",
         "mlxtend", "cupy")
CLI_CORE = {"sparana_cli", "sparana_cli.cli", "sparana_cli.cli.common", "sparana_cli.errors", "sparana_cli.profile",
            "sparana_cli.signals", "sparana_cli.ui"}


def loaded_after(code: str) -> dict:
    """Run `code` in a fresh interpreter; the top-level third-party packages and the sparana_cli modules it then holds."""
    probe = (f"import sys\n{code}\nimport json\n"
             "print(json.dumps({'packages': sorted({m.split('.')[0] for m in sys.modules}), "
             "'sparana': sorted(m for m in sys.modules if m.startswith('sparana_cli')), "
             "'modules': sorted(sys.modules)}))")
    env = {k: v for k, v in os.environ.items() if k != "SPARANA_PROFILE"}
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_importing_the_cli_loads_click_and_no_command():
    loaded = loaded_after("import sparana_cli.cli")
    assert "click" in loaded["packages"]
    assert [m for m in HEAVY if m in loaded["packages"]] == []
    assert set(loaded["sparana"]) == CLI_CORE  # no command module, no phase, no run store


def test_help_lists_every_command_without_the_numerics():
    loaded = loaded_after("from sparana_cli.cli import COMMANDS, main\n"
                          "main(['--help'], standalone_mode=False)")
    assert [m for m in HEAVY if m in loaded["packages"]] == []
    assert not [m for m in loaded["sparana"] if m.startswith(("sparana_cli.phases", "sparana_cli.engine",
                                                              "sparana_cli.analysis", "sparana_cli.data"))]
    assert "sparana_cli.store.runs" not in loaded["sparana"]
    assert [m for m in loaded["sparana"] if m.startswith("sparana_cli.cli.") and m != "sparana_cli.cli.common"] == []
    assert "importlib.metadata" not in loaded["modules"]


@pytest.mark.parametrize("limit", [30, 45, 74, 200])
def test_the_group_help_says_what_each_command_help_says(limit):
    """The summaries `sparana --help` lists without importing the commands are each command's own first line."""
    from click import Context

    from sparana_cli.cli import COMMANDS, SUMMARIES, main
    from sparana_cli.cli.common import summary_line

    assert SUMMARIES.keys() == COMMANDS.keys()
    for name in COMMANDS:
        command = main.get_command(Context(main), name)
        assert summary_line(SUMMARIES[name], limit) == command.get_short_help_str(limit), name


def test_a_command_help_loads_only_that_command():
    loaded = loaded_after("from sparana_cli.cli import main\nmain(['runs', '--help'], standalone_mode=False)")
    commands = [m for m in loaded["sparana"] if m.startswith("sparana_cli.cli.") and m != "sparana_cli.cli.common"]
    assert commands == ["sparana_cli.cli.runs"]
    assert [m for m in HEAVY if m in loaded["packages"]] == []


def test_the_installed_command_prints_help_without_the_numerics():
    """`sparana --help` as a user runs it: the console script, in its own process."""
    probe = ("import runpy, sys\nsys.argv = ['sparana', '--help']\n"
             "try:\n    runpy.run_module('sparana_cli', run_name='__main__')\nexcept SystemExit as e:\n"
             "    assert not e.code, e.code\n"
             "import json\nprint(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))")
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "forget" in result.stdout and "Commands:" in result.stdout
    packages = json.loads(result.stdout.splitlines()[-1])
    assert [m for m in HEAVY if m in packages] == []


@pytest.mark.parametrize("name", ["train", "evaluate", "prune", "forget", "attack", "spec", "runs", "plot", "sweep", "export",
                                  "import"])
def test_every_named_command_resolves(name):
    from click import Context

    from sparana_cli.cli import main

    command = main.get_command(Context(main), name)
    assert command is not None and command.name == name
