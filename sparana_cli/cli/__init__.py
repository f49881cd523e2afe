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
    "export": "sparana_cli.cli.export:export",
    "import": "sparana_cli.cli.import_model:import_model",
}
# name -> the first paragraph of its help: `sparana --help` lists the commands without importing one
# (tests/test_startup.py checks that each still says what the command's own help says)
SUMMARIES = {
    "train": "Train the network SPEC describes and write a run folder.",
    "evaluate": "Test accuracy, per-class accuracy, confusion matrix and parameter counts of RUN.",
    "prune": "Prune a trained run by a weight score and write a child run (the parent is never changed).",
    "forget": "Make a trained run forget one class by pruning the weights that serve it; write a child run.",
    "attack": "Accuracy of RUN's network under adversarial attack at each eps, and how well the output alone tells "
              "attacked from clean test images (detection AUROC). Writes a child run.",
    "spec": "Print SPEC fully resolved (defaults and overrides applied), or every key with its doc.",
    "runs": "List the run folders: name, phase, parent, dataset, key metric, sparsity, created, status.",
    "plot": "Draw PNGs of RUN's metrics: training curves, prune widths, forget and attack curves, per-class accuracy bars.",
    "sweep": "Run COMMAND for every combination of the axes' values; write a sweep folder with one CSV row per run.",
    "data": "Download the standard data sets into $SPARANA_DATA (default ~/.cache/sparana) and list what is there.",
    "ticket": "Find lottery tickets: train SPEC, then prune, rewind and retrain for ticket.rounds rounds, with controls.",
    "export": "Write RUN's network to a model file other tools read, with its metadata.",
    "import": "Make a train-phase run from a network trained elsewhere, so that evaluate, prune, forget and attack work on it.",
}


def _start_profile(ctx, param, value):
    if value:
        PROFILE.enable()


@click.group(cls=SparanaGroup, lazy_commands=COMMANDS, summaries=SUMMARIES,
             context_settings={"help_option_names": ["-h", "--help"]})
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
