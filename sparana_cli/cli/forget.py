"""`sparana forget`."""

from __future__ import annotations

from typing import get_args, get_type_hints

import click

from sparana_cli.cli.common import common_options, examples, pick_run
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


@click.command(epilog=examples(
    "sparana forget --class 7 --evaluate none",
    "sparana forget --class 3 --compare retrain,project,head",
    "sparana forget --class 3 --rescore every_step --repair sgd --overshoot 4", page="forgetting.md"))
@click.option("--class", "target_class", type=int, default=None, metavar="K",
              help="The class to forget [spec forget.target_class].")
@click.option("--run", "run", metavar="DIR", default=None,
              help="Run to start from: a folder or its name in the runs folder [default: the newest finished train run].")
@click.option("--score", type=click.Choice(SCORES), default=None,
              help="Which weights go first, the highest-scored (see README) [default: probe].")
@click.option("--layers", callback=_layer_list, default=None, metavar="I,J",
              help="Weight matrices to prune, 0-based [default: all but the output for the probe scores; the "
                   "hidden-to-hidden ones for the others].")
@click.option("--rescore", type=click.Choice(["never", "every_step"]), default=None,
              help="never: score the parent once and prune the shortest prefix of each layer's ranking that meets "
                   "--target; every_step: re-score after every step (the earlier default) [default: never].")
@click.option("--search-growth", type=float, default=None, metavar="G",
              help="--rescore never: grow the pruned fraction by G until --target is met, then bisect [default: 2].")
@click.option("--bisections", type=int, default=None, metavar="N",
              help="--rescore never: bisection steps between the last fraction that missed and the first that met "
                   "--target [default: 3].")
@click.option("--target-samples", type=int, default=None, metavar="N",
              help="--rescore never: score on N seeded training images of the class [default: 300; the spec's "
                   "null: all].")
@click.option("--repair", type=click.Choice(["features", "readout", "sgd", "none"]), default=None,
              help="After pruning, mend the other classes: features (refit the hidden layers above the first pruned "
                   "one by least squares on the scoring images, the class's images aimed at the classes they "
                   "resemble, then the output layer on the retained ones' labels), readout (the output layer alone, "
                   "toward the parent's outputs with the class's aimed at each image's lowest), sgd (--repair-steps "
                   "of fine-tuning, the earlier default), none [default: features]. With --rescore every_step only sgd "
                   "repairs; features and readout leave the pruned network as it is.")
@click.option("--shift", type=float, default=None, metavar="S",
              help="--repair features: move the class's images at each refit hidden layer S times the way from "
                   "the class's mean to the mixture of the classes they resemble [default: 1.5].")
@click.option("--step", type=int, default=None, metavar="N",
              help="Weights removed from each pruned layer per step (--rescore every_step; with never: the first "
                   "count tried, as a fraction of the smallest pruned layer); instead of --step-fraction.")
@click.option("--step-fraction", type=float, default=None, metavar="F",
              help="Fraction of each pruned layer removed per step (--rescore never: the first fraction tried) "
                   "[default: 0.0006].")
@click.option("--step-growth", type=float, default=None, metavar="G",
              help="--rescore every_step: multiply the step by G after every step until the target is met [default: 1].")
@click.option("--target", type=float, default=None, metavar="A",
              help="Stop rule: accuracy on the class's validation images at most A [default: 0.01].")
@click.option("--max-fraction", type=float, default=None, metavar="F",
              help="Never remove more than this fraction of the pruned layers [default: 0.05].")
@click.option("--overshoot", type=float, default=None, metavar="X",
              help="Once the target is met with R weights gone from a layer, go on until X*R are gone [default: 2].")
@click.option("--overshoot-steps", type=int, default=None, metavar="K",
              help="Remove the overshoot in K equal steps, re-scoring before each [default: 1].")
@click.option("--samples", type=int, default=None, metavar="N",
              help="Score on N seeded training images of each other class; the class itself always uses all of "
                   "its own [default: 300; the spec's null: all].")
@click.option("--repair-steps", type=int, default=None, metavar="S",
              help="--repair sgd: fine-tune S steps of 100 retained training images (never the class; masks held) "
                   "to mend the other classes; 0: none [default: 100].")
@click.option("--repair-rounds", type=int, default=None, metavar="R",
              help="While the repair gives the class back (Df on its validation images above --target), prune and "
                   "repair again, up to R rounds in all [default: 8].")
@click.option("--ratio-alpha", type=float, default=None, metavar="A",
              help="Score ratio: only weights with MAAV_target > A*MAAV_rest qualify [default: 1].")
@click.option("--evaluate", type=click.Choice(["none", "quick", "full"]), default=None,
              help="How the result is judged beside the untouched parent: quick (the last hidden layer's linear "
                   "probe, one draw of few-shot relearning), full (every hidden layer, the membership attack, three "
                   "draws), none [default: quick].")
@click.option("--probe-samples", type=int, default=None, metavar="N",
              help="Training images the linear probes are fit on [default: 10000].")
@click.option("--relearn-shots", type=int, default=None, metavar="N",
              help="Few-shot relearning: images of the class shown again [default: 100].")
@click.option("--relearn-others", type=int, default=None, metavar="M",
              help="Few-shot relearning: images of the other classes beside them [default: 900].")
@click.option("--relearn-steps", type=int, default=None, metavar="S",
              help="Few-shot relearning: fine-tuning steps of 100 images [default: 100].")
@click.option("--compare", callback=_comparators, is_flag=False, flag_value=",".join(COMPARATORS), default=None,
              metavar="M,..", help=f"Also run these comparators ({', '.join(COMPARATORS)}; alone: all of them; "
                                   "none: no comparator), write each as a child run and judge it in the same table.")
@click.option("--ssd-alpha", type=float, default=None, metavar="A",
              help="ssd_fixed: dampen parameters whose forget importance exceeds A x full importance [default: 10]; "
                   "ssd chooses alpha and lambda on the validation split.")
@click.option("--ssd-lambda", type=float, default=None, metavar="L",
              help="ssd_fixed: multiply them by min(L x full / forget importance, 1) [default: 1].")
@click.option("--device", type=click.Choice(["auto", "cpu", "gpu"]), default="auto", show_default=True,
              help="Where to score, prune, retrain and test.")
@common_options
def forget(run, device, root, console, **options):
    """Make a trained run forget one class by pruning the weights that serve it; write a child run.

    By default the parent is scored once and each pruned layer's highest-scored weights go, the
    pruned fraction growing (then bisected) until the class's validation images are no longer
    recognised; then --overshoot times as many go, and the layers above the first pruned one are
    refit in closed form (--repair features) to mend the other classes and aim what is left of the
    class at the classes it resembles. --rescore every_step --repair sgd --overshoot 4 is the
    earlier, slower default. The result is judged beside the untouched parent (--evaluate)
    and every comparator asked for (--compare). Options override the parent spec's `forget:`
    section, which overrides the defaults.
    For example:

        sparana forget --class 7 --compare
    """
    from sparana_cli.phases.forget import forget as run_forget

    summary = run_forget(pick_run(root, run, console), options, root=root, console=console, device=device)
    console.result(summary, forget_text(summary))


def forget_text(summary: dict) -> str:
    """The human summary: Df and Dr before and after, weights removed per layer, the judged table."""
    rows = [[f"layer {i}", summary["removed"][i], f"{100 * summary['removed_fraction_per_layer'][str(i)]:.3f}%"]
            for i in summary["layers"]]
    lines = ["", table(["pruned", "weights removed", "of the layer"], rows), "",
             f"class {summary['class']}: Df {percent(summary['df_before'])} -> {percent(summary['df_after'])}, "
             f"Dr {percent(summary['dr_before'])} -> {percent(summary['dr_after'])}; "
             f"{sum(summary['removed'])} weights removed ({100 * summary['removed_fraction']:.3f}% of the pruned layers) "
             f"in {summary['seconds']:.2f} s" + ("" if summary["reached"] else " (target not reached)")]
    if summary["judge"]:
        lines += ["", judge_table(summary["judge"])]
    lines.append(f"run: {summary['run']}")
    return "\n".join(lines)


def judge_table(rows: list[dict]) -> str:
    """The judged rows as a text table, with a legend for the columns."""
    probe_layers = sorted({int(k.rsplit("_", 1)[1]) for r in rows for k in r if k.startswith("probe_recall_")})
    steps = [int(k.rsplit("_", 1)[1]) for k in rows[0] if k.startswith("relearn_df_")][:1]
    headers = ["method", "Df", "Dr", *[f"probe L{layer}" for layer in probe_layers],
               *[f"relearn Df@{s}" for s in steps], "relearn steps", "anamnesis", "MIA", "changed", "seconds"]
    body = []
    for r in rows:
        body.append([r["method"], percent(r["df"]), percent(r["dr"]),
                     *[_cell(r.get(f"probe_recall_{layer}"), percent) for layer in probe_layers],
                     *[_cell(r.get(f"relearn_df_{s}"), percent) for s in steps],
                     _cell(r.get("relearn_steps"), lambda v: f"{v:g}"), _cell(r.get("anamnesis"), lambda v: f"{v:.2f}"),
                     _cell(r.get("mia"), percent), r["weights_changed"], round(r["seconds"], 2)])
    legend = ("probe L<l>: test recall of the class by a linear probe on hidden layer l; relearn: few-shot "
              "fine-tuning, Df after that many steps and the steps until Df is back at half the parent's; "
              "anamnesis: those steps over retrain's (~1 as good as retraining); MIA: forget images called "
              "training members")
    notes = [f"{r['method']}: {r['setting']}" for r in rows if r.get("setting") and r["method"] != "parent"]
    return "\n".join([table(headers, body), legend, *notes])


def _cell(value, show) -> str:
    return "-" if value is None or value != value else show(value)
