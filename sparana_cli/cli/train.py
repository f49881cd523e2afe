"""`sparana train`."""

from __future__ import annotations

from pathlib import Path

import click

from sparana_cli.cli.common import common_options
from sparana_cli.ui import percent


@click.command()
@click.argument("spec_file", metavar="SPEC", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("overrides", metavar="[KEY=VALUE]...", nargs=-1)
@common_options
def train(spec_file, overrides, root, console):
    """Train the network SPEC describes and write a run folder.

    KEY=VALUE items override the spec, values read as YAML, e.g.

        sparana train configs/mnist.yaml train.epochs=3 model.hidden=[300,100] seed=4
    """
    from sparana_cli.phases.train import train as run_train
    from sparana_cli.spec import load_spec

    spec = load_spec(spec_file, overrides)
    summary = run_train(spec, root=root, console=console)
    console.result(summary, (
        f"test accuracy {percent(summary['test_accuracy'])} (validation {percent(summary['val_accuracy'])}) "
        f"after {summary['epochs']} epochs in {summary['seconds']:.1f} s ({summary['seconds_per_epoch']:.2f} s/epoch)\n"
        f"run: {summary['run']}"
    ))
