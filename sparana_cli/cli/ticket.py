"""`sparana ticket`."""

from __future__ import annotations

from pathlib import Path

import click

from sparana_cli.cli.common import common_options, examples
from sparana_cli.errors import UserError
from sparana_cli.ui import table

EPILOG = examples(
    "sparana ticket configs/mnist.yaml model.hidden=[300,100] ticket.rounds=3 train.epochs=2",
    "sparana ticket configs/lenet-fashion.yaml ticket.criterion=maav train.rewind_step=100",
    "sparana ticket --summarize runs/lenet-fashion-sweep-20261205-083958 --out docs",
    page="sparse-training.md")


@click.command(epilog=EPILOG)
@click.argument("spec_file", metavar="[SPEC]", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.argument("overrides", metavar="[KEY=VALUE]...", nargs=-1)
@click.option("--summarize", "summarize", metavar="DIR", default=None, type=click.Path(file_okay=False, path_type=Path),
              help="Instead of training: average the ticket experiments DIR holds (a sweep folder of ticket runs, or one "
                   "experiment's dense run) over seeds, and write tickets.csv and tickets.png into --out.")
@click.option("--out", "out_dir", metavar="DIR", default=None, type=click.Path(file_okay=False, path_type=Path),
              help="With --summarize: where the table and picture go [default: DIR itself].")
@common_options
def ticket(spec_file, overrides, summarize, out_dir, root, console):
    """Find lottery tickets: train SPEC, then prune, rewind and retrain for ticket.rounds rounds, with controls.

    Each round prunes ticket.rate of every hidden layer's surviving weights (the output layer at half
    that) by ticket.criterion, rewinds the survivors to their initial values (or to those after
    train.rewind_step steps) and retrains with the same schedule. The reinit control keeps the mask on a
    fresh initialisation; the random control takes a random mask of the same per-layer sparsity.
    Every trained network is a run folder (phase ticket); the dense round's folder holds tickets.csv
    and tickets.png. KEY=VALUE items override the spec.
    """
    if summarize is not None:
        if spec_file is not None or overrides:
            raise UserError("--summarize DIR reads finished experiments: give no SPEC or KEY=VALUE with it")
        return _summarize(summarize, out_dir, console)
    if spec_file is None:
        raise UserError("missing SPEC: 'sparana ticket SPEC [KEY=VALUE]...' or 'sparana ticket --summarize DIR'")
    if out_dir is not None:
        raise UserError("--out goes with --summarize")
    from sparana_cli.phases.ticket import ticket as run_ticket
    from sparana_cli.spec import load_spec

    summary = run_ticket(load_spec(spec_file, overrides), root=root, console=console)
    console.result(summary, _rows_text(summary["rows"]) + f"\ntable and picture in: {summary['run']}")


def _summarize(folder: Path, out_dir: Path | None, console) -> None:
    from sparana_cli.phases.ticket import summarize
    from sparana_cli.plots import save_figures, ticket_figure
    from sparana_cli.store.sweepfolder import write_csv
    from sparana_cli.store.ticketfiles import TICKETS_PLOT, experiment_folders, read_tickets

    rows = [r for f in experiment_folders(folder) for r in read_tickets(f)]
    points = summarize(rows)
    out = out_dir or folder
    out.mkdir(parents=True, exist_ok=True)
    columns = list(points[0])
    write_csv(out / "tickets-summary.csv", columns, points)
    save_figures({TICKETS_PLOT: ticket_figure(points)}, out)
    text = table(["criterion", "variant", "round", "weights left", "n", "test accuracy", "early stop step"],
                 [[p["criterion"], p["variant"], p["round"], f"{100 * p['remaining']:.2f}%", p["n"],
                   f"{100 * p['test_accuracy_mean']:.2f} ± {100 * p['test_accuracy_std']:.2f}",
                   f"{p['early_stop_step_mean']:.0f} ± {p['early_stop_step_std']:.0f}"] for p in points])
    console.result({"points": points, "csv": str(out / "tickets-summary.csv"), "plot": str(out / TICKETS_PLOT)},
                   f"{text}\ntable: {out / 'tickets-summary.csv'}, picture: {out / TICKETS_PLOT}")


def _rows_text(rows: list[dict]) -> str:
    return table(["variant", "round", "weights left", "test accuracy", "early stop step", "run"],
                 [[r["variant"], r["round"], f"{100 * r['remaining']:.2f}%", f"{100 * r['test_accuracy']:.2f}%",
                   r["early_stop_step"], Path(r["run"]).name] for r in rows])
