"""`sparana forget`."""

from __future__ import annotations

from typing import get_args, get_type_hints

import click

from sparana_cli.cli.common import common_options
from sparana_cli.cli.prune import _layer_list
from sparana_cli.spec import ForgetSpec
from sparana_cli.ui import percent, table

SCORES = get_args(get_type_hints(ForgetSpec)["score"])
COMPARATORS = get_args(get_args(get_type_hints(ForgetSpec)["compare"])[0])


def _comparators(ctx, param, value):
    if value is None:
        return None
    names = [part.strip() for part in value.split(",") if part.strip()]
    if names == ["none"]:
        return []
    unknown = [n for n in names if n not in COMPARATORS]
    if unknown or not names:
        raise click.BadParameter(f"expected some of {', '.join(COMPARATORS)} separated by commas (or none); got {value!r}")
    return list(dict.fromkeys(names))


@click.command()
@click.option("--class", "target_class", type=int, default=None, metavar="K",
              help="The class to forget [spec forget.target_class].")
@click.option("--run", "run", metavar="DIR", default=None,
              help="Run to start from: a folder or its name in the runs folder [default: the newest finished run].")
@click.option("--score", type=click.Choice(SCORES), default=None,
              help="Which weights go first, the highest-scored (see README) [default: taylor_disc].")
@click.option("--layers", callback=_layer_list, default=None, metavar="I,J",
              help="Weight matrices to prune, 0-based [default: the hidden-to-hidden ones, not the first or the output].")
@click.option("--step", type=int, default=None, metavar="N",
              help="Weights removed from each pruned layer per step (re-scoring after each); instead of --step-fraction.")
@click.option("--step-fraction", type=float, default=None, metavar="F",
              help="Fraction of each pruned layer removed per step [default: 0.0006].")
@click.option("--step-growth", type=float, default=None, metavar="G",
              help="Multiply the step by G after every step until the target is met [default: 1].")
@click.option("--target", type=float, default=None, metavar="A",
              help="Stop rule: accuracy on the class's training images at most A [default: 0.01].")
@click.option("--max-fraction", type=float, default=None, metavar="F",
              help="Never remove more than this fraction of the pruned layers [default: 0.05].")
@click.option("--overshoot", type=float, default=None, metavar="X",
              help="Once the target is met with R weights gone from a layer, go on until X*R are gone [default: 2].")
@click.option("--overshoot-steps", type=int, default=None, metavar="K",
              help="Remove the overshoot in K equal steps, re-scoring before each [default: 1].")
@click.option("--samples", type=int, default=None, metavar="N",
              help="Score on N seeded training images of each other class; the class itself always uses all of "
                   "its own [default: 10; the spec's null: all].")
@click.option("--ratio-alpha", type=float, default=None, metavar="A",
              help="Score ratio: only weights with MAAV_target > A*MAAV_rest qualify [default: 1].")
@click.option("--relearn-epochs", type=int, default=None, metavar="E",
              help="Relearn test: fine-tune a copy E epochs on the other classes, report Df again; 0: skip [default: 1].")
@click.option("--compare", callback=_comparators, is_flag=False, flag_value=",".join(COMPARATORS), default=None,
              metavar="M,..", help=f"Also run these comparators ({', '.join(COMPARATORS)}; alone: all of them; "
                                   "none: no comparator) and print one table.")
@click.option("--ssd-alpha", type=float, default=None, metavar="A",
              help="SSD: dampen parameters whose forget importance exceeds A x full importance [default: 10].")
@click.option("--ssd-lambda", type=float, default=None, metavar="L",
              help="SSD: multiply them by min(L x full / forget importance, 1) [default: 1].")
@click.option("--device", type=click.Choice(["auto", "cpu", "gpu"]), default="auto", show_default=True,
              help="Where to score, prune, retrain and test.")
@common_options
def forget(run, device, root, console, **options):
    """Make a trained run forget one class by pruning the weights that serve it; write a child run.

    Each step re-scores the current network and removes the highest-scored weights of each pruned
    layer, until the class's training images are no longer recognised, then as many again (the
    overshoot). Options override the parent spec's `forget:` section, which overrides the defaults.
    For example:

        sparana forget --class 7 --compare
    """
    from sparana_cli import runs
    from sparana_cli.phases.forget import forget as run_forget

    summary = run_forget(runs.resolve_run(root, run), options, root=root, console=console, device=device)
    console.result(summary, forget_text(summary))


def forget_text(summary: dict) -> str:
    """The human summary: Df and Dr before and after, weights removed per layer, the comparison table."""
    rows = [[f"layer {i}", summary["removed"][i], f"{100 * summary['removed_fraction_per_layer'][str(i)]:.3f}%"]
            for i in summary["layers"]]
    lines = ["", table(["pruned", "weights removed", "of the layer"], rows), "",
             f"class {summary['class']}: Df {percent(summary['df_before'])} -> {percent(summary['df_after'])}, "
             f"Dr {percent(summary['dr_before'])} -> {percent(summary['dr_after'])}; "
             f"{sum(summary['removed'])} weights removed ({100 * summary['removed_fraction']:.3f}% of the pruned layers) "
             f"in {summary['seconds']:.2f} s" + ("" if summary["reached"] else " (target not reached)")]
    if summary["relearn_df"] is not None and summary["relearn_df"] == summary["relearn_df"]:
        lines.append(f"relearn test: Df {percent(summary['relearn_df'])} after fine-tuning on the other classes")
    if summary.get("compare"):
        lines += ["", table(["method", "Df", "Dr", "relearned Df", "weights changed", "seconds"],
                            [[r["method"], percent(r["df"]), percent(r["dr"]), percent(r["relearn_df"]),
                              r["weights_changed"], round(r["seconds"], 3)] for r in summary["compare"]])]
    lines.append(f"run: {summary['run']}")
    return "\n".join(lines)
