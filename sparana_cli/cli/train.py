"""`sparana train`."""

from __future__ import annotations

from pathlib import Path

import click

from sparana_cli.cli.common import common_options, examples
from sparana_cli.errors import RunStopped, UserError
from sparana_cli.store import runstate
from sparana_cli.ui import percent


@click.command(epilog=examples(
    "sparana train configs/mnist.yaml",
    "sparana train configs/mnist.yaml train.epochs=3 model.hidden=[300,100] seed=4",
    "sparana train --resume runs/mnist-20261121-153012.tmp", page="training.md"))
@click.argument("spec_file", metavar="[SPEC]", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.argument("overrides", metavar="[KEY=VALUE]...", nargs=-1)
@click.option("--resume", "resume", metavar="RUN", default=None,
              help="Continue the unfinished run RUN (its <name>-<time>.tmp folder, or that name in the runs folder) "
                   "from its last checkpoint; takes no SPEC or KEY=VALUE.")
@common_options
def train(spec_file, overrides, resume, root, console):
    """Train the network SPEC describes and write a run folder.

    KEY=VALUE items override the spec, values read as YAML, e.g.

        sparana train configs/mnist.yaml train.epochs=3 model.hidden=[300,100] seed=4

    A checkpoint is written every epoch. Ctrl-C (or SIGTERM) finishes the current step, writes a
    checkpoint and exits with status 130; 'sparana train --resume RUN' continues the run and ends
    with the weights an uninterrupted run would have had.
    """
    from sparana_cli.phases.train import train as run_train
    from sparana_cli.spec import load_spec

    if resume is not None and (spec_file is not None or overrides):
        raise UserError("--resume RUN continues the run's own spec.yaml: give no SPEC or KEY=VALUE with it")
    if resume is None and spec_file is None:
        raise UserError("missing SPEC: 'sparana train SPEC [KEY=VALUE]...' or 'sparana train --resume RUN'")
    spec = load_spec(spec_file, overrides) if resume is None else None
    try:
        summary = run_train(spec, root=root, console=console, resume=resume)
    except RunStopped as err:
        if console.json_mode:
            console.result(err.summary, "")
        raise
    resumed = summary.get("resumed_at")
    console.result(summary, (
        (f"resumed {runstate.position(resumed['epoch'], resumed['step'], summary['epochs'])}\n" if resumed else "")
        + f"test accuracy {percent(summary['test_accuracy'])} (validation {percent(summary['val_accuracy'])}) "
        f"after {summary['epochs']} epochs in {summary['seconds']:.1f} s ({summary['seconds_per_epoch']:.2f} s/epoch)\n"
        f"run: {summary['run']}"
    ))
