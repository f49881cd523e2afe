"""`sparana runs` (list, filter, sort), `runs show`, `runs compare`, `runs diff`, `runs rm`."""

from __future__ import annotations

import csv
import io
import json

import click

from sparana_cli.cli.common import common_options, examples
from sparana_cli.errors import UserError
from sparana_cli.ui import _jsonable, table

CSV_COLUMNS = ("name", "phase", "parent", "dataset", "metric", "test_accuracy", "sparsity", "created", "status", "state",
               "sweep", "run")


@click.group("runs", invoke_without_command=True, epilog=examples(
    "sparana runs --phase forget --sort -metric",
    "sparana runs --where model.hidden=[300,100] --csv",
    "sparana runs show mnist-20261121-153012", page="runs.md"))
@click.option("--csv", "csv_mode", is_flag=True, help="Print the list as CSV on stdout.")
@click.option("--phase", default=None, metavar="PHASE", help="Only runs of this phase (train, prune, forget, attack, ticket).")
@click.option("--dataset", default=None, metavar="NAME", help="Only runs on this dataset.")
@click.option("--parent", default=None, metavar="RUN", help="Only the children of this run.")
@click.option("--state", default=None, metavar="STATE",
              help="Only complete or incomplete runs, or those in one state (running, interrupted, failed, killed, damaged).")
@click.option("--where", "where", multiple=True, metavar="KEY=VALUE",
              help="Only runs whose resolved spec has this value (read as YAML), e.g. --where model.hidden=[300,100]; "
                   "repeatable.")
@click.option("--sort", default=None, metavar="COLUMN",
              help="Sort by created, name, phase, parent, dataset, metric, test_accuracy, sparsity or state; "
                   "-COLUMN reverses [default: created, oldest first; sweeps grouped].")
@common_options
@click.pass_context
def runs_command(ctx, csv_mode, phase, dataset, parent, state, where, sort, root, console):
    """List the run folders: name, phase, parent, dataset, key metric, sparsity, created, status.

    Finished runs are complete; unfinished ones (<name>-<time>.tmp) are incomplete: running,
    interrupted, failed, or killed (their process is gone); continue one with 'sparana train --resume'.
    The runs a sweep started are listed under it.
    """
    if ctx.invoked_subcommand is not None:
        return
    from sparana_cli.store.listing import list_runs, records, sweeps

    found = records(root, specs=bool(where))
    rows = list_runs(root, phase=phase, dataset=dataset, parent=parent, state=state, where=where, sort=sort,
                     all_records=found)
    groups = sweeps(found)
    if csv_mode:
        out = io.StringIO()
        writer = csv.DictWriter(out, CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        click.echo(out.getvalue(), nl=False)
        return
    if console.json_mode:
        click.echo(json.dumps(_jsonable({"runs_dir": str(root), "runs": [_public(r) for r in rows], "sweeps": groups}),
                              indent=2))
        return
    if not rows:
        console.say(f"no runs in {root}" if not found else f"no runs in {root} match")
        return
    console.say(table(["run", "phase", "parent", "dataset", "metric", "sparsity", "created", "status"],
                      [[name, r["phase"], r["parent"], r["dataset"], r["metric"], _sparsity(r["sparsity"]),
                        r["created"].replace("T", " ")[:16], _status(r)] for name, r in _grouped(rows, groups, sort)]))


def _public(row: dict) -> dict:
    return {k: v for k, v in row.items() if k != "spec"}


def _grouped(rows: list[dict], groups: list[dict], sort: str | None) -> list[tuple[str, dict]]:
    """(shown name, row) in order; without --sort a sweep's runs follow a line for the sweep, indented."""
    if sort is not None or not groups:
        return [(r["name"], r) for r in rows]
    member_of = {name: g for g in groups for name in g["runs"]}
    out, shown = [], set()
    for r in rows:
        group = member_of.get(r["name"])
        if group is None:
            out.append((r["name"], r))
            continue
        if group["name"] not in shown:
            shown.add(group["name"])
            members = [m for m in rows if member_of.get(m["name"]) is group]
            done = sum(m["status"] == "complete" for m in members)
            header = {**{k: "" for k in r if k != "progress"}, "phase": "sweep", "sparsity": None, "created": group["created"],
                      "metric": f"{done}/{len(group['runs'])} runs", "status": group["status"], "state": group["state"]}
            out.append((group["name"], header))
            out += [("  " + m["name"], m) for m in members]
    return out


def _sparsity(value) -> str:
    return "" if value is None else f"{100 * value:.1f}%"


def _status(row: dict) -> str:
    from sparana_cli.store import runstate

    if row["status"] == "complete" and row["state"] == "completed":
        return "complete"
    detail = row["state"]
    if detail == "damaged" and row.get("message"):  # which file, and what is wrong with it
        detail += ": " + row["message"].rpartition("/")[2]
    if "progress" in row:
        p = row["progress"]
        detail += " " + runstate.position(p["epoch"], p["step"], p["epochs"])
    return f"{row['status']} ({detail})"


@runs_command.command(epilog=examples("sparana runs show mnist-20261121-153012",
                                      "sparana runs show runs/mnist-forget-20261121-160301 --json", page="runs.md"))
@click.argument("run_name", metavar="RUN")
@common_options
def show(run_name, root, console):
    """One run: its spec, provenance (command, versions, git commit, host, device, times), lineage and headline metrics.

    RUN may be unfinished (a .tmp folder): its state and provenance say what became of it.
    """
    from sparana_cli.store import runs
    from sparana_cli.store.catalog import lineage, locate, metric_table, metric_text
    from sparana_cli.store.listing import key_metric, records
    from sparana_cli.store.provenance import PROVENANCE_FILE
    from sparana_cli.store.record import read_run

    folder = locate(root, run_name)
    record = read_run(folder, strict=not folder.name.endswith(runs.TMP_SUFFIX))
    if record.phase == "sweep":
        raise UserError(f"{folder}: a sweep folder; its table is {folder / 'sweep.csv'} (and summary.csv)")
    family = lineage(record, records(root))
    headline = ({k: v for k, v in metric_table(record).items() if "[" not in k and "(last)" not in k}
                if record.finished else {})
    summary = {"run": str(record.path), "phase": record.phase, "parent": record.parent, "dataset": record.dataset,
               "created": record.created, "state": record.state, "formats": record.formats, "sparsity": record.sparsity,
               "metric": key_metric(record.phase, record.attrs), "metrics": headline, "lineage": family,
               "provenance": record.provenance, "spec": record.spec}
    p = record.provenance
    if p is None and (record.path / PROVENANCE_FILE).exists():  # there, but no JSON object: not an older run's
        made = [f"  damaged   {PROVENANCE_FILE}: not a JSON object of UTF-8 text, not shown"]
    elif p is None:
        made = ["  (not recorded: this run was written before sparana kept provenance.json)"]
    else:
        git = p.get("git")
        made = [f"  command   {' '.join(p.get('argv') or [])}",
                f"  sparana   {p.get('sparana_version')}"
                + (f", git {git['commit'][:12]}{' (dirty)' if git.get('dirty') else ''}" if git else ", not a git checkout"),
                "  versions  " + ", ".join(f"{k} {p.get(k)}" for k in ("python", "numpy", "numba", "h5py", "scipy", "cupy")
                                           if p.get(k)),
                f"  host      {p.get('host')} ({p.get('platform')}), pid {p.get('pid')}",
                f"  device    {p.get('device') or '(none)'}",
                f"  data      {(p.get('data') or {}).get('source') or '(not recorded)'}",
                f"  time      {p.get('started')} -> {p.get('ended') or '(not ended)'}"]
        made += [f"  sweep     {p['sweep']}"] if p.get("sweep") else []
        imported = p.get("imported") if isinstance(p.get("imported"), dict) else None
        made += [f"  imported  {imported.get('file')} ({imported.get('format')}, sha256 {imported.get('sha256')})"
                 ] if imported else []
        made += [f"  resumed   {s.get('started')}: {' '.join(s.get('argv') or [])}" for s in p.get("sessions", [])]
        if "damaged" in p:
            made.append(f"  damaged   provenance.json: {', '.join(p['damaged'])} of the wrong shape, not shown")
    spec_text = runs.read_spec_text(record.path) if record.spec is not None else "(no spec.yaml)"
    state = record.state + (f": {record.message}" if record.message and not record.finished else "")
    lines = [f"run: {record.path}", f"  phase {record.phase}, dataset {record.dataset}, {state}, created "
             f"{record.created.replace('T', ' ')[:19]}"
             + (f"; layers {', '.join(record.formats)}; sparsity {_sparsity(record.sparsity)}" if record.finished else ""),
             "", "lineage:",
             f"  parents   {' <- '.join(family['ancestors']) or '(none: a training run)'}",
             f"  children  {', '.join(family['descendants']) or '(none)'}",
             "", "made by:", *made, "", f"metrics: {summary['metric']}",
             table(["metric", "value"], [[k, metric_text(k, v)] for k, v in headline.items()]), "", "spec:",
             spec_text.rstrip()]
    console.result(summary, "\n".join(lines))


@runs_command.command(epilog=examples("sparana runs compare mnist-20261121-153012 mnist-prune-20261121-160301",
                                      "sparana runs compare mnist-forget-20261121-160301 mnist-forget-20261121-161507 --json",
                                      page="runs.md"))
@click.argument("run_names", metavar="RUN RUN [RUN]...", nargs=-1, required=True)
@common_options
def compare(run_names, root, console):
    """Metrics of finished runs side by side: summary numbers, last per-step values, per-class accuracy."""
    from sparana_cli.store import runs
    from sparana_cli.store.catalog import compare as compare_runs
    from sparana_cli.store.catalog import metric_text

    if len(run_names) < 2:
        raise UserError("runs compare: give at least two runs")
    folders = [runs.resolve_run(root, name) for name in run_names]
    values = compare_runs(folders)
    console.result({"run": [str(f) for f in folders], "metrics": values},
                   table(["metric", *[f.name for f in folders]],
                         [[name, *(metric_text(name, v) for v in row)] for name, row in values.items()]))


@runs_command.command(epilog=examples("sparana runs diff mnist-20261121-153012 mnist-20261121-160344", page="runs.md"))
@click.argument("run_a", metavar="RUN_A")
@click.argument("run_b", metavar="RUN_B")
@common_options
def diff(run_a, run_b, root, console):
    """The keys whose values differ between two runs' resolved specs."""
    from sparana_cli.store import runs
    from sparana_cli.store.catalog import ABSENT, diff_specs

    a, b = runs.resolve_run(root, run_a), runs.resolve_run(root, run_b)
    differences = diff_specs(a, b)
    human = (table(["key", a.name, b.name], [[k, _shown(va), _shown(vb)] for k, (va, vb) in differences.items()])
             if differences else f"the specs of {a.name} and {b.name} are identical")
    console.result({"run": [str(a), str(b)], "differences": {k: [None if v is ABSENT else v for v in pair]
                                                             for k, pair in differences.items()}}, human)


def _shown(value) -> str:
    from sparana_cli.store.catalog import ABSENT

    if value is ABSENT:
        return "(absent)"
    return json.dumps(value) if value is None or isinstance(value, (list, dict)) else str(value)


@runs_command.command("rm", epilog=examples("sparana runs rm mnist-20261121-153012 --recursive",
                                                "sparana runs rm --incomplete --yes", page="runs.md"))
@click.argument("run_names", metavar="[RUN]...", nargs=-1)
@click.option("--recursive", is_flag=True, help="Also remove the runs made from these (children, grandchildren, ...) "
                                                "and, for a sweep folder, the runs it started.")
@click.option("--incomplete", is_flag=True,
              help="Also remove every unfinished (.tmp) folder whose process is gone: killed, interrupted or failed.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask: remove at once.")
@common_options
def remove(run_names, recursive, incomplete, yes, root, console):
    """Remove run folders: prints what it will remove and asks first (--yes skips the question).

    A run that other runs were made from is refused unless --recursive; a running run is always refused.
    """
    from sparana_cli.store.catalog import removal_plan
    from sparana_cli.store.catalog import remove as remove_folders

    if not run_names and not incomplete:
        raise UserError("runs rm: name the runs to remove, or give --incomplete")
    plan = removal_plan(root, list(run_names), recursive=recursive, incomplete=incomplete)
    summary = {"run": [str(r.path) for r in plan], "removed": False}
    if not plan:
        console.result(summary, "nothing to remove")
        return
    listing = "\n".join(f"  {r.path}  ({r.phase or 'run'}, {r.state})" for r in plan)
    click.echo(f"will remove {len(plan)} folder{'s' * (len(plan) > 1)}:\n{listing}", err=True)
    if not yes:
        try:
            answer = click.confirm("remove them?", default=False, err=True)
        except click.Abort:  # stdin closed (a script, CI) or Ctrl-C at the question
            click.echo(err=True)  # end the question's line
            raise UserError("nothing removed: no answer to the question; give --yes to remove without asking") from None
        if not answer:
            console.result(summary, "nothing removed")
            return
    remove_folders(plan)
    summary["removed"] = True
    console.result(summary, f"removed {len(plan)} folder{'s' * (len(plan) > 1)}")
