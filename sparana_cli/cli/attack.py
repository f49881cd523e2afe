"""`sparana attack`."""

from __future__ import annotations

import click

from sparana_cli.cli.common import common_options, examples, pick_run
from sparana_cli.ui import percent, table


def _radii(ctx, param, value):
    """--eps 0.05,0.1,0.2 -> [0.05, 0.1, 0.2] (range checks are the spec's)."""
    if value is None:
        return None
    try:
        return [float(item) for item in value.split(",")]
    except ValueError:
        raise click.BadParameter(f"expected numbers separated by commas, e.g. 0.05,0.1,0.2; got {value!r}") from None


@click.command(epilog=examples(
    "sparana attack",
    "sparana attack runs/mnist-20261121-153012 --method pgd --eps 0.05,0.1,0.2 --steps 10",
    "sparana attack runs/lq-20261121-153012 --craft-on runs/sce-20261121-153544 --loss cross_entropy",
    page="attacks.md"))
@click.argument("run", required=False)
@click.option("--method", type=click.Choice(["fgsm", "pgd"]), default=None,
              help="fgsm: one signed gradient step; pgd: projected gradient descent [default: the run's attack.method, fgsm].")
@click.option("--eps", callback=_radii, metavar="E1,E2,...",
              help="L-infinity radii in pixel units (images lie in [0, 1]) [default: attack.eps, 0.05,0.1,0.2].")
@click.option("--loss", type=click.Choice(["model", "cross_entropy"]), default=None,
              help="Loss the attack raises: the model's own training loss, or softmax cross-entropy of the outputs "
                   "as logits (one objective for LQ and SCE) [default: attack.loss, model].")
@click.option("--steps", type=int, default=None, help="PGD steps [default: attack.steps, 10].")
@click.option("--step-scale", type=float, default=None,
              help="PGD step = step-scale * eps / steps [default: attack.step_scale, 2.5 (Madry et al.)].")
@click.option("--random-start/--no-random-start", default=None,
              help="Start PGD from a uniform random point of the eps-ball [default: attack.random_start, yes].")
@click.option("--samples", type=int, default=None,
              help="Attack a seeded random subset of this many test images [default: all].")
@click.option("--craft-on", "craft_on", metavar="SOURCE_RUN",
              help="Transfer attack: craft the adversarial images on SOURCE_RUN's network (trained on the same data; "
                   "its own loss, or --loss cross_entropy) and evaluate them on RUN's [default: craft on RUN].")
@click.option("--device", type=click.Choice(["auto", "cpu", "gpu"]), default="auto", show_default=True,
              help="Where to run the network.")
@common_options
def attack(run, method, eps, loss, steps, step_scale, random_start, samples, craft_on, device, root, console):
    """Accuracy of RUN's network under adversarial attack at each eps, and how well the output alone
    tells attacked from clean test images (detection AUROC). Writes a child run.

    The attack follows the gradient of the model's own training loss (quadratic for LQ models,
    cross-entropy for SCE models) unless --loss cross_entropy; with --craft-on the images are made on another
    run's network and only evaluated on RUN's (a transfer attack). Settings not given here come from the attack section
    of RUN's spec. RUN is a run folder or its name in the runs folder
    [default: the newest finished train run].
    """
    from sparana_cli.phases.attack import attack as run_attack
    from sparana_cli.store import runs

    source = None if craft_on is None else runs.resolve_run(root, craft_on)
    summary = run_attack(pick_run(root, run, console), root=root, console=console, device=device, craft_on=source,
                         method=method, eps=eps, loss=loss, steps=steps, step_scale=step_scale,
                         random_start=random_start, samples=samples)
    console.result(summary, _attack_text(summary))


def _attack_text(s: dict) -> str:
    rows = [[eps, percent(acc), percent(fooled), auc, fooled_auc]
            for eps, acc, fooled, auc, fooled_auc in zip(s["eps"], s["accuracy"], s["fooled_rate"], s["auroc"],
                                                          s["auroc_fooled"])]
    return "\n".join([
        f"{s['method']} raising the {s['attack_loss']} loss"
        f"{', crafted on ' + s['crafted_on'] + ' (transfer)' if s['crafted_on'] else ''}, "
        f"on {s['samples']} {s['dataset']} test images "
        f"({s['output']} output, trained on {s['loss']}); "
        f"clean accuracy {percent(s['clean_accuracy'])}",
        f"detection score: {s['score']} (AUROC of attacked vs clean; 'fooled' counts only images the attack turned wrong)",
        "",
        table(["eps", "accuracy", "fooled", "AUROC", "AUROC fooled"], rows),
        f"run: {s['run']}",
    ])
