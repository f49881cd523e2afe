"""`sparana sweep`."""

from __future__ import annotations

import click

from sparana_cli.cli.common import common_options, examples
from sparana_cli.errors import RunStopped
from sparana_cli.ui import table


@click.command(epilog=examples(
    "sparana sweep configs/mnist.yaml seed=1..3 model.hidden=[300,100],[1000,800,400] --workers 2",
    "sparana sweep runs/mnist-20261121-153012 class=0..9 --command forget",
    "sparana sweep configs/mnist.yaml seed=1..8 --scheduler tcp://HOST:8786", page="sweeps.md"))
@click.argument("target", metavar="SPEC|RUN")
@click.argument("axes", metavar="KEY=V1,V2,...|KEY=A..B...", nargs=-1)
@click.option("--command", "command", default="train", show_default=True, metavar="NAME",
              help="The sparana command each point runs: train or ticket (on SPEC), prune or forget (on the trained RUN).")
@click.option("--workers", type=int, default=None, metavar="N",
              help="Run N points at a time as local processes [default: 1].")
@click.option("--scheduler", default=None, metavar="tcp://HOST:PORT",
              help="Submit the points to this Dask distributed scheduler instead (needs the 'distributed' extra).")
@common_options
def sweep(target, axes, command, workers, scheduler, root, console):
    """Run COMMAND for every combination of the axes' values; write a sweep folder with one CSV row per run.

    Each axis is KEY=V1,V2,... (values read as YAML; commas inside [] do not split) or KEY=A..B
    (integers A to B). For train and ticket the keys are spec keys; for prune and forget, which start from the
    trained RUN, they are the command's options (class=3 is --class 3, layers=[1,2] is --layers 1,2), e.g.

    \b
        sparana sweep configs/mnist.yaml seed=1..3 \\
            model.hidden=[300,100],[1000,800,400] --workers 2
        sparana sweep runs/mnist-20261121-153012 class=0..9 --command forget
        sparana sweep mnist-20261121-153012 method=maav,magnitude sparsity=0.5,0.9 --command prune

    Exit status: 0 when every run completed, 3 when some did not (the CSV says which), 130 when interrupted.
    """
    from sparana_cli.cli.sweep_commands import sweep_command
    from sparana_cli.phases.sweep import sweep as run_sweep

    try:
        summary = run_sweep(target, axes, command=command, cmd=sweep_command(command), workers=workers,
                            scheduler=scheduler, root=root, console=console)
    except RunStopped as err:
        if console.json_mode:
            console.result(err.summary, "")
        elif err.summary.get("rows"):
            console.say(_rows_text(err.summary))
        raise
    console.result(summary, _rows_text(summary))


def _rows_text(summary: dict) -> str:
    from sparana_cli.store.catalog import metric_text

    rows = summary["rows"]
    keys = [k for k in rows[0] if k not in ("point", "status", "run", "exit_code", "message")]
    order = list(rows[0])
    axes = set(order[1:order.index("status")])  # swept values as given (sparsity=0.5 stays 0.5); results in percent

    def cell(row, key):
        return row.get(key, "") if key in axes else metric_text(key, row.get(key, ""))

    body = table(["#", *keys, "status", "run"],
                 [[r["point"], *(cell(r, k) for k in keys), r["status"], r.get("run", "").rsplit("/", 1)[-1]] for r in rows])
    text = f"{body}\n{summary['completed']} of {summary['total']} runs completed; table: {summary['csv']}"
    if summary.get("points"):
        text += "\n\n" + _summary_text(summary)
    return text


def _summary_text(summary: dict) -> str:
    """The points over seeds: the other swept keys, n, and mean ± std of each headline metric."""
    from sparana_cli.store.catalog import is_share

    keys, metrics = summary["group_keys"], summary["metrics"]

    def cell(point, metric):
        mean, std = point[f"{metric}_mean"], point[f"{metric}_std"]
        if mean is None:
            return "n/a"
        if is_share(metric):  # in percent, as `sparana runs` shows the same runs
            return f"{100 * mean:.2f}%" + ("" if std is None else f" ± {100 * std:.2f}%")
        return f"{mean:.4f}" + ("" if std is None else f" ± {std:.4f}")

    body = table([*keys, "n", *(f"{m} (mean ± std)" for m in metrics)],
                 [[*(p[k] for k in keys), p["n"], *(cell(p, m) for m in metrics)] for p in summary["points"]])
    return f"{body}\nsummary: {', '.join(summary['summary_files'])}"
