"""`sparana evaluate`."""

from __future__ import annotations

import click

from sparana_cli.cli.common import common_options, examples, pick_run
from sparana_cli.ui import percent, table


@click.command(epilog=examples(
    "sparana evaluate",
    "sparana evaluate runs/mnist-prune-20261121-160301 --json",
    "sparana evaluate runs/mnist-forget-20261121-160301 --forget-class 7 --split val", page="commands.md"))
@click.argument("run", required=False)
@click.option("--device", type=click.Choice(["auto", "cpu", "gpu"]), default="auto", show_default=True,
              help="Where to run the network.")
@click.option("--forget-class", type=int, default=None, metavar="K",
              help="Judge RUN as a forgetting of class K: beside its parent and a retrained model, with linear "
                   "probes, few-shot relearning and (with --level full) the membership attack.")
@click.option("--retrain", "retrain", metavar="DIR", default=None,
              help="With --forget-class: the model retrained without the class [default: the retrain comparator "
                   "run of the same parent and class, if `sparana forget --compare retrain` wrote one].")
@click.option("--level", type=click.Choice(["quick", "full"]), default="quick", show_default=True,
              help="With --forget-class: how much judging runs (see sparana forget --evaluate).")
@click.option("--split", type=click.Choice(["test", "val"]), default=None,
              help="With --forget-class: the split the figures are measured on: test to report, val to choose "
                   "settings without looking at the test split [default: test].")
@common_options
def evaluate(run, device, forget_class, retrain, level, split, root, console):
    """Test accuracy, per-class accuracy, confusion matrix and parameter counts of RUN.

    RUN is a run folder or its name in the runs folder [default: the newest finished train run].
    With --forget-class K, RUN (a forget child) is judged as a forgetting of class K instead, so
    that earlier children can be re-judged:

        sparana evaluate runs/mnist-forget-20261121-160301 --forget-class 7
    """
    if forget_class is None:
        for name, value in (("--retrain", retrain), ("--split", split)):
            if value is not None:
                raise click.BadParameter("only with --forget-class", param_hint=name)
        from sparana_cli.phases.evaluate import evaluate as run_evaluate

        report = run_evaluate(pick_run(root, run, console), console=console, device=device)
        console.result(report, _evaluation_text(report))
        return
    from sparana_cli.cli.forget import judge_table
    from sparana_cli.phases.evaluate import judge_forgetting

    run_dir = pick_run(root, run, console).resolve()
    retrain_dir = pick_run(root, retrain, console).resolve() if retrain is not None else None
    report = judge_forgetting(run_dir, forget_class, root=root, retrain_run=retrain_dir, level=level, console=console,
                              device=device, split=split or "test")
    console.result(report, f"{run_dir.name} judged as forgetting class {forget_class} on the {report['split']} split\n"
                   + judge_table(report["judge"]))


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
