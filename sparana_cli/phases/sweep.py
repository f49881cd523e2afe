"""`sparana sweep`: run a command over the cartesian product of some spec keys; one CSV row per run.

The sweep folder (<name>-sweep-<time>/, reserved like a run; its files: store/sweepfolder.py) holds
sweep.yaml (what was swept), sweep.csv (rewritten atomically as each run ends), summary.csv and
summary.png (the headline metrics over seeds), status.json and provenance.json. The runs
themselves are ordinary run folders beside it in the runs folder, each naming the sweep.
"""

from __future__ import annotations

import os
from pathlib import Path

from sparana_cli import sweeps
from sparana_cli.errors import Interrupted, RunFailed, UserError
from sparana_cli.signals import graceful_stop
from sparana_cli.store import runs, runstate, sweepfolder
from sparana_cli.store.catalog import is_share
from sparana_cli.store.provenance import SWEEP_ENV
from sparana_cli.ui import Console

CSV_FILE = sweepfolder.CSV_FILE


def sweep(target: str, axis_items, *, command: str, cmd: sweeps.SweepCommand, workers: int | None,
          scheduler: str | None, root: Path, console: Console) -> dict:
    """Run `command` (how: `cmd`) once per point of the axes' product; return the summary (rows, counts, the CSV's path)."""
    axes = sweeps.parse_axes(axis_items)
    if not axes:
        raise UserError("nothing to sweep: give at least one axis, e.g. seed=1..3 or train.lr=0.01,0.1")
    if scheduler is not None and workers is not None:
        raise UserError("--workers and --scheduler exclude each other: the cluster's workers run a --scheduler sweep")
    if workers is not None and workers < 1:
        raise UserError(f"--workers: must be >= 1, got {workers}")
    if scheduler is not None:
        sweeps.check_scheduler(scheduler)
    points = sweeps.expand(axes)
    overrides = [[f"{key}={value}" for key, value in point.items()] for point in points]
    names = [_checked(cmd, target, items, root) for items in overrides]  # every point, before anything starts
    client = sweeps.connect(scheduler) if scheduler is not None else None  # a closed port: refused, nothing written
    # absolute paths: a worker (maybe on another machine) runs in cwd, the client's working folder
    target_arg = str(Path(target).absolute()) if Path(target).exists() else target
    jobs = [cmd.argv(target_arg, items) for items in overrides]
    root_abs, cwd = str(root.absolute()), os.getcwd()

    run = runs.reserve_run(root, f"{names[0]}-sweep", phase="sweep")
    keys = [a.key for a in axes]
    columns = ["point", *keys, "status", *cmd.columns, "run", "exit_code", "message"]
    rows = [{"point": i + 1, **point, "status": "pending"} for i, point in enumerate(points)]
    try:
        sweepfolder.write_plan(run.tmp, {
            "command": command, "target": target_arg, "axes": {a.key: list(a.values) for a in axes},
            "points": len(points), "workers": workers if scheduler is None else None, "scheduler": scheduler,
            "runs_dir": root_abs, "cwd": cwd})
        sweepfolder.write_rows(run.tmp, columns, rows)
        tag = {SWEEP_ENV: run.path.name}  # each run records the sweep that started it
        where = f"on {scheduler}" if scheduler else f"with {workers or 1} local worker{'s' if (workers or 1) > 1 else ''}"
        console.say(f"sweep of {len(points)} {command} runs {where}: {run.tmp}")
        with graceful_stop(on_signal=sweeps.interrupt_points if scheduler is None else None) as stop:
            if scheduler is None:
                outcomes = sweeps.run_local(jobs, root_abs, cwd, workers or 1, stop, env=tag)
            else:
                outcomes = sweeps.run_on_cluster(jobs, root_abs, cwd, client, stop, tag=run.path.name, env=tag)
            bar = console.bar(len(points), "sweep", unit="run")
            for done, (index, outcome) in enumerate(outcomes, 1):
                rows[index].update(_row(outcome, cmd.columns))
                sweepfolder.write_rows(run.tmp, columns, rows)
                bar.update(1)
                if bar.disable:
                    console.say(f"[{done}/{len(points)}] {' '.join(overrides[index])}: {_brief(rows[index], cmd.columns)}")
            bar.close()
    except KeyboardInterrupt:
        stop_signal = True
    except BaseException as err:
        if client is not None:
            client.close()
        runstate.mark_failed(run.tmp, f"{type(err).__name__}: {err}")
        run.release()
        raise
    else:
        stop_signal = stop()
    summary = {"run": str(run.tmp), "csv": str(run.tmp / CSV_FILE), "command": command, "rows": rows,
               "total": len(rows), "completed": sum(r["status"] == "completed" for r in rows)}
    if stop_signal:
        sweepfolder.write_rows(run.tmp, columns, rows)
        runstate.write_status(run.tmp, runstate.INTERRUPTED, message=f"{summary['completed']} of {len(rows)} runs completed")
        run.release()
        raise Interrupted(f"sweep stopped: {summary['completed']} of {len(rows)} runs completed, see {summary['csv']}; "
                          "continue an interrupted run with 'sparana train --resume RUN'", summary)
    metrics = list(cmd.headline or cmd.columns[:1])
    points = sweepfolder.summarize(rows, keys, metrics)
    written = sweepfolder.write_summary(run.tmp, points, keys, metrics, rows)
    runs.finish_run(run)
    summary.update(run=str(run.path), csv=str(run.path / CSV_FILE), metrics=metrics,
                   group_keys=[k for k in keys if k not in sweepfolder.SEED_KEYS], points=points,
                   summary_files=[str(run.path / p.name) for p in written])
    if summary["completed"] < len(rows):
        raise RunFailed(f"{len(rows) - summary['completed']} of {len(rows)} runs did not complete; see {summary['csv']}",
                        summary)
    return summary


def _checked(cmd: sweeps.SweepCommand, target: str, items: list[str], root: Path) -> str:
    """The run name of a point that passed its command's check; a UserError naming the point otherwise."""
    try:
        return cmd.check(target, items, root)
    except UserError as err:
        raise UserError(f"point {' '.join(items)}: {err}") from None


def _row(outcome: dict, columns) -> dict:
    summary = outcome["summary"]
    return {"status": sweeps.outcome_status(outcome), **{c: summary.get(c, "") for c in columns},
            "run": summary.get("run", ""), "exit_code": "" if outcome["exit_code"] is None else outcome["exit_code"],
            "message": outcome["message"]}


def _brief(row: dict, columns) -> str:
    first = columns[0] if columns else None
    value = row.get(first, "") if first else ""
    shown = ""
    if isinstance(value, float):  # a share in percent, as the tables below and `sparana runs` print it
        shown = f"  {first} {100 * value:.2f}%" if is_share(first) else f"  {first} {value:.4g}"
    return f"{row['status']}{shown}" + (f"  ({row['message']})" if row["status"] != "completed" and row["message"] else "")
