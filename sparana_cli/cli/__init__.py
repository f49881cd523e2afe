"""The `sparana` command line: parse, load the spec, call a phase, print a summary. Nothing else.

One module per command; this one gathers them into the `sparana` group.
"""

from __future__ import annotations

import click

from sparana_cli import __version__
from sparana_cli.cli.attack import attack
from sparana_cli.cli.common import SparanaGroup
from sparana_cli.cli.data import data_command
from sparana_cli.cli.evaluate import evaluate
from sparana_cli.cli.forget import forget
from sparana_cli.cli.plot import plot
from sparana_cli.cli.prune import prune
from sparana_cli.cli.runs import runs_command
from sparana_cli.cli.spec import show_spec
from sparana_cli.cli.sweep import sweep
from sparana_cli.cli.train import train


@click.group(cls=SparanaGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sparana")
def main():
    """Sparana: train small ReLU networks, prune them by MAAV, make them forget a class, and measure it.

    Each command reads a YAML spec or a run folder and writes a new run folder
    (runs/<name>-<time>/) holding spec.yaml, model.h5 and metrics.h5.
    """


for command in (train, evaluate, prune, forget, attack, show_spec, runs_command, plot, sweep, data_command):
    main.add_command(command)
