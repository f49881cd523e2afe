"""`sparana plot`."""

from __future__ import annotations

from pathlib import Path

import click

from sparana_cli.cli.common import common_options, examples, pick_run
from sparana_cli.errors import UserError


@click.command(epilog=examples(
    "sparana plot",
    "sparana plot runs/mnist-forget-20261121-160301",
    "sparana plot runs/mnist-20261121-153012 --out figures/", page="runs.md"))
@click.argument("run", required=False)
@click.option("--out", "out_dir", metavar="DIR", default=None, type=click.Path(file_okay=False, path_type=Path),
              help="Write the PNGs into DIR instead of the run folder.")
@common_options
def plot(run, out_dir, root, console):
    """Draw PNGs of RUN's metrics: training curves, prune widths, forget and attack curves, per-class accuracy bars.

    RUN is a finished run folder or its name [default: the newest finished train run]. The PNGs go into
    the run folder: they are derived from metrics.h5 and replace only earlier PNGs of the same
    name, except the figures its phase drew (prune.png, forget.png), which are kept; spec.yaml,
    model.h5, metrics.h5 and status.json are never written.
    """
    from sparana_cli.plots import PHASE_FIGURES, figures, save_figures
    from sparana_cli.store import runs
    from sparana_cli.store.catalog import attack_series, parent_record
    from sparana_cli.store.reader import read_run

    folder = pick_run(root, run, console)
    if folder.is_symlink():
        raise UserError(f"{folder}: a symbolic link; give the run folder itself")
    record = read_run(folder, strict=True)
    parent = parent_record(record)
    spec_name = (record.spec or {}).get("name", "")
    figs = figures(record.arrays, (parent.name, parent.arrays) if parent else None, record.attrs,
                   title=f"{spec_name}: {record.attrs.get('prune', {}).get('method', '')} pruning",
                   attacks=attack_series(record, root) if record.phase == "attack" else None)
    if not figs:
        raise UserError(f"{folder / runs.METRICS_FILE}: nothing to plot (no training history, per-step curves "
                        "or per-class accuracy)")
    target = out_dir or folder
    kept = [name for name in PHASE_FIGURES if out_dir is None and name in figs and (folder / name).is_file()]
    for name in kept:
        del figs[name]
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"{target}: cannot create the folder ({err.strerror or err})") from None
    try:
        written = save_figures(figs, target)
    except OSError as err:  # a read-only place, a full disk: the figure being written is removed, earlier ones stay
        raise UserError(f"{target}: cannot write the figures there ({err.strerror or err})") from None
    console.result({"run": str(folder), "plots": [str(p) for p in written], "kept": [str(folder / n) for n in kept]},
                   "\n".join([*(f"wrote {p}" for p in written), *(f"kept {folder / n} (drawn by its phase)" for n in kept)]))
