"""`sparana plot`."""

from __future__ import annotations

from pathlib import Path

import click

from sparana_cli.cli.common import common_options
from sparana_cli.errors import UserError


@click.command()
@click.argument("run", required=False)
@click.option("--out", "out_dir", metavar="DIR", default=None, type=click.Path(file_okay=False, path_type=Path),
              help="Write the PNGs into DIR instead of the run folder.")
@common_options
def plot(run, out_dir, root, console):
    """Draw PNGs of RUN's metrics: training curves, prune/forget trade-off curves, per-class accuracy bars.

    RUN is a finished run folder or its name [default: the newest finished run]. The PNGs go into
    the run folder: they are derived from metrics.h5 and replace only earlier PNGs of the same
    name; spec.yaml, model.h5, metrics.h5 and status.json are never written.
    """
    from sparana_cli import runs
    from sparana_cli.catalog import read_parent_metrics
    from sparana_cli.plots import figures, save_figures

    folder = runs.resolve_run(root, run)
    if folder.is_symlink():
        raise UserError(f"{folder}: a symbolic link; give the run folder itself")
    arrays, attrs = runs.read_metrics(folder)
    parent = read_parent_metrics(folder)
    figs = figures(arrays, (parent[0].name, parent[1]) if parent else None, attrs)
    if not figs:
        raise UserError(f"{folder / runs.METRICS_FILE}: nothing to plot (no training history, per-step curves "
                        "or per-class accuracy)")
    target = out_dir or folder
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"{target}: cannot create the folder ({err.strerror or err})") from None
    written = save_figures(figs, target)
    console.result({"run": str(folder), "plots": [str(p) for p in written]},
                   "\n".join(f"wrote {p}" for p in written))
