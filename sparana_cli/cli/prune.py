"""`sparana prune`."""

from __future__ import annotations

from typing import get_args, get_type_hints

import click

from sparana_cli.cli.common import common_options, examples, pick_run
from sparana_cli.spec import PruneSpec
from sparana_cli.ui import percent, table

_CHOICES = {name: get_args(tp) for name, tp in get_type_hints(PruneSpec).items()}  # the spec's Literal fields


def _layer_list(ctx, param, value):
    if value is None:
        return None
    try:
        return [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter(f"expected layer numbers separated by commas, e.g. 1,2; got {value!r}") from None


@click.command(epilog=examples(
    "sparana prune --method maav",
    "sparana prune --method magnitude --sparsity 0.95 --steps 5 --finetune-epochs 1",
    "sparana prune --count 5000 --layers 1,2 --scope column --shrink --format csr", page="pruning.md"))
@click.option("--run", "run", metavar="DIR", default=None,
              help="Run to prune: a folder or its name in the runs folder [default: the newest finished train run].")
@click.option("--method", type=click.Choice(_CHOICES["method"]), default=None,
              help="Score; the lowest-scored live weights go [spec prune.method, else maav].")
@click.option("--sparsity", type=float, default=None, metavar="S",
              help="Fraction of each pruned layer that is zero afterwards, in [0, 1); earlier pruning counts.")
@click.option("--count", type=int, default=None, metavar="N",
              help="Weights to remove from each pruned layer (in all, with --scope global); instead of --sparsity.")
@click.option("--layers", callback=_layer_list, default=None, metavar="I,J",
              help="Weight matrices to prune, 0-based [default: every hidden layer, not the output layer].")
@click.option("--include-output/--no-include-output", default=None,
              help="Prune the output layer's weights too.")
@click.option("--scope", type=click.Choice(_CHOICES["scope"]), default=None,
              help="Rank scores within each layer, across all pruned layers, per input row, or per output column "
                   "(Wanda's grouping) [default: layer].")
@click.option("--samples", type=int, default=None, metavar="N",
              help="Score on a seeded subset of N training images [default: the whole training split].")
@click.option("--steps", type=int, default=None, metavar="K",
              help="Reach the target in K equal steps, re-scoring after each [default: 1].")
@click.option("--finetune-epochs", type=int, default=None, metavar="E",
              help="Train E epochs after each step, pruned weights held at zero [default: 0].")
@click.option("--shrink/--no-shrink", default=None,
              help="Remove dead hidden units, folding constant ones into the next layer's bias.")
@click.option("--format", "format", type=click.Choice(_CHOICES["format"]), default=None,
              help="Store the pruned layers dense or as CSR (scipy.sparse inference) [default: dense].")
@click.option("--device", type=click.Choice(["auto", "cpu", "gpu"]), default="auto", show_default=True,
              help="Where to score, prune and fine-tune.")
@common_options
def prune(run, device, root, console, **options):
    """Prune a trained run by a weight score and write a child run (the parent is never changed).

    Options override the parent spec's `prune:` section, which overrides the defaults; the child's
    spec.yaml records the settings used. For example:

        sparana prune --method maav --sparsity 0.9 --steps 5 --finetune-epochs 1
    """
    from sparana_cli.phases.prune import prune as run_prune

    summary = run_prune(pick_run(root, run, console), options, root=root, console=console, device=device)
    console.result(summary, _prune_text(summary))


def _prune_text(summary: dict) -> str:
    shrunk = summary["shrink"] is not None
    headers = ["layer", "shape", "nonzero", "sparsity", "dead units"] + (["shrunk shape"] if shrunk else [])
    rows = [[r["layer"], "x".join(map(str, r["shape"])), r["nonzero"], f"{100 * r['sparsity']:.2f}%", r["dead_units"]]
            + (["x".join(map(str, r["shrunk_shape"]))] if shrunk else []) for r in summary["layers"]]
    lines = [table(headers, rows), "",
             f"test accuracy {percent(summary['accuracy_before'])} before, {percent(summary['accuracy_after'])} after"]
    if shrunk:
        s = summary["shrink"]
        lines.append(f"shrunk hidden widths {'-'.join(map(str, s['widths_before']))} -> {'-'.join(map(str, s['widths_after']))}, "
                     f"{s['parameters_before']} -> {s['parameters_after']} dense parameters; "
                     f"outputs differ by at most {s['max_abs_difference']:.2g} on the test set")
    lines.append(f"run: {summary['run']}")
    return "\n".join(lines)
