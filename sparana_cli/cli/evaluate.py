"""`sparana evaluate`."""

from __future__ import annotations

import click

from sparana_cli.cli.common import common_options
from sparana_cli.ui import percent, table


@click.command()
@click.argument("run", required=False)
@click.option("--device", type=click.Choice(["auto", "cpu", "gpu"]), default="auto", show_default=True,
              help="Where to run the network.")
@common_options
def evaluate(run, device, root, console):
    """Test accuracy, per-class accuracy, confusion matrix and parameter counts of RUN.

    RUN is a run folder or its name in the runs folder [default: the newest finished run].
    """
    from sparana_cli import runs
    from sparana_cli.phases.evaluate import evaluate as run_evaluate

    report = run_evaluate(runs.resolve_run(root, run), console=console, device=device)
    console.result(report, _evaluation_text(report))


def _evaluation_text(report: dict) -> str:
    k = len(report["per_class_accuracy"])
    params = report["parameters"]
    layer_rows = [[r["layer"], "x".join(map(str, r["shape"])), r["weights"], r["nonzero"],
                   f"{100 * (1 - r['nonzero'] / r['weights']):.2f}%", r["biases"], kind]
                  for r, kind in zip(params["layers"], report["formats"])]
    return "\n".join([
        f"run: {report['run']}  ({report['phase']}{', parent ' + report['parent'] if report['parent'] else ''})",
        f"test accuracy {percent(report['accuracy'])} on {report['test_samples']} {report['dataset']} test images",
        "",
        table(["class", "accuracy"], [[c, percent(a)] for c, a in enumerate(report["per_class_accuracy"])]),
        "",
        "confusion matrix (rows: true class, columns: predicted)",
        table(["", *map(str, range(k))], [[c, *row] for c, row in enumerate(report["confusion"])]),
        "",
        table(["layer", "shape", "weights", "nonzero", "sparsity", "biases", "stored"], layer_rows),
        f"parameters: {params['total']} total, {params['nonzero']} nonzero",
    ])
