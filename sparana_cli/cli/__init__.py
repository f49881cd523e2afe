"""The `sparana` command line: parse, load the spec, call a phase, print a summary. Nothing else.

One module per command; this one names them for the `sparana` group, which imports a command's
module only when that command runs (or `sparana --help` lists it). Importing this package loads
Click and nothing else that is heavy: NumPy, h5py, Numba, Matplotlib and SciPy load inside the
commands that use them (tests/test_startup.py checks it).
"""

from __future__ import annotations

# isort: off
from sparana_cli.profile import ENV, PROFILE  # first: its import time marks where the CLI starts
# isort: on

import click  # noqa: E402

from sparana_cli import __version__  # noqa: E402
from sparana_cli.cli.common import SparanaGroup  # noqa: E402

COMMANDS = {  # name -> module:attribute
    "train": "sparana_cli.cli.train:train",
    "evaluate": "sparana_cli.cli.evaluate:evaluate",
    "prune": "sparana_cli.cli.prune:prune",
    "forget": "sparana_cli.cli.forget:forget",
    "attack": "sparana_cli.cli.attack:attack",
    "spec": "sparana_cli.cli.spec:show_spec",
    "runs": "sparana_cli.cli.runs:runs_command",
    "plot": "sparana_cli.cli.plot:plot",
    "sweep": "sparana_cli.cli.sweep:sweep",
    "ticket": "sparana_cli.cli.ticket:ticket",
    "data": "sparana_cli.cli.data:data_command",
}


def _start_profile(ctx, param, value):
    if value:
        PROFILE.enable()


@click.group(cls=SparanaGroup, lazy_commands=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sparana")
@click.option("--profile", is_flag=True, is_eager=True, expose_value=False, envvar=ENV,
              callback=_start_profile,
              help="Print on stderr where the command's time went: process start, imports, Numba, data and model "
                   "load, compute, run writing [also: SPARANA_PROFILE=1].")
def main():
    """Sparana: train small ReLU networks, prune them by MAAV, make them forget a class, and measure it.

    Each command reads a YAML spec or a run folder and writes a new run folder
    (runs/<name>-<time>/) holding spec.yaml, model.h5 and metrics.h5.
    """
