"""`sparana runs` (list), `sparana runs compare`, `sparana runs diff`."""

from __future__ import annotations

import csv
import io
import json

import click

from sparana_cli import runstate
from sparana_cli.cli.common import common_options
from sparana_cli.errors import UserError
from sparana_cli.ui import _jsonable, table

CSV_COLUMNS = ("name", "phase", "parent", "dataset", "metric", "test_accuracy", "sparsity", "created", "status", "state", "run")


@click.group("runs", invoke_without_command=True)
@click.option("--csv", "csv_mode", is_flag=True, help="Print the list as CSV on stdout.")
@common_options
@click.pass_context
def runs_command(ctx, csv_mode, root, console):
    """List the run folders: name, phase, parent, dataset, key metric, sparsity, created, status.

    Finished runs are complete; unfinished ones (<name>-<time>.tmp) are incomplete: running,
    interrupted, failed, or killed (their process is gone); continue one with 'sparana train --resume'.
    """
    if ctx.invoked_subcommand is not None:
        return
    from sparana_cli.catalog import list_runs

    rows = list_runs(root)
    if csv_mode:
        out = io.StringIO()
        writer = csv.DictWriter(out, CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        click.echo(out.getvalue(), nl=False)
        return
    if console.json_mode:
        click.echo(json.dumps(_jsonable({"runs_dir": str(root), "runs": rows}), indent=2))
        return
    if not rows:
        console.say(f"no runs in {root}")
        return
    console.say(table(["run", "phase", "parent", "dataset", "metric", "sparsity", "created", "status"],
                      [[r["name"], r["phase"], r["parent"], r["dataset"], r["metric"], _sparsity(r["sparsity"]),
                        r["created"].replace("T", " ")[:16], _status(r)] for r in rows]))


def _sparsity(value) -> str:
    return "" if value is None else f"{100 * value:.1f}%"


def _status(row: dict) -> str:
    if row["status"] == "complete" and row["state"] == "completed":
        return "complete"
    detail = row["state"]
    if "progress" in row:
        p = row["progress"]
        detail += " " + runstate.position(p["epoch"], p["step"], p["epochs"])
    return f"{row['status']} ({detail})"


@runs_command.command()
@click.argument("run_names", metavar="RUN RUN [RUN]...", nargs=-1, required=True)
@common_options
def compare(run_names, root, console):
    """Metrics of finished runs side by side: summary numbers, last per-step values, per-class accuracy."""
    from sparana_cli import runs
    from sparana_cli.catalog import compare as compare_runs

    if len(run_names) < 2:
        raise UserError("runs compare: give at least two runs")
    folders = [runs.resolve_run(root, name) for name in run_names]
    values = compare_runs(folders)
    console.result({"run": [str(f) for f in folders], "metrics": values},
                   table(["metric", *[f.name for f in folders]],
                         [[name, *("" if v is None else v for v in row)] for name, row in values.items()]))


@runs_command.command()
@click.argument("run_a", metavar="RUN_A")
@click.argument("run_b", metavar="RUN_B")
@common_options
def diff(run_a, run_b, root, console):
    """The keys whose values differ between two runs' resolved specs."""
    from sparana_cli import runs
    from sparana_cli.catalog import diff_specs

    a, b = runs.resolve_run(root, run_a), runs.resolve_run(root, run_b)
    differences = diff_specs(a, b)
    human = (table(["key", a.name, b.name], [[k, _shown(va), _shown(vb)] for k, (va, vb) in differences.items()])
             if differences else f"the specs of {a.name} and {b.name} are identical")
    console.result({"run": [str(a), str(b)], "differences": {k: list(v) for k, v in differences.items()}}, human)


def _shown(value) -> str:
    return "(absent)" if value is None else json.dumps(value) if isinstance(value, (list, dict)) else str(value)
