"""`sparana attack`: accuracy of a run's network under FGSM or PGD at several radii, and how
detectable the attacked inputs are from the output alone; written to a child run."""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import numpy as np

from sparana_cli.analysis.attacks import attack_objective, auroc, detection_score, perturb
from sparana_cli.errors import UserError
from sparana_cli.seeding import generator
from sparana_cli.spec import AttackSpec, Spec, section_from_options
from sparana_cli.store import runs
from sparana_cli.store.reader import load_run_with_data
from sparana_cli.ui import Console, percent


def resolve_attack(spec: Spec, **options) -> Spec:
    """The spec with its attack section updated by the options given (None leaves a setting as it is)."""
    return dataclasses.replace(spec, attack=section_from_options(AttackSpec, spec.attack, options, "attack"))


def images_to_attack(spec: Spec, dataset):
    """The test images and labels to attack: all of them, or a seeded random subset of attack.samples."""
    x, y, wanted = dataset.x_test, dataset.y_test, spec.attack.samples
    if wanted is None or wanted == len(y):
        return x[:], y  # float32 rows
    if wanted > len(y):
        raise UserError(f"attack.samples: {wanted} asked for, but {dataset.name} has {len(y)} test images")
    pick = np.sort(generator(spec.seed, "attack-samples").choice(len(y), wanted, replace=False))
    return x[pick], y[pick]


def crafting_network(source: Path, net, attrs: dict, backend, run_dir: Path):
    """The network of run `source` (a transfer attack crafts its images there) and its training loss,
    checked to read the same data as run_dir's network: same input and output widths, same data checksum."""
    source_net, source_attrs = runs.load_model(source, backend)
    if source_net.sizes[0] != net.sizes[0] or source_net.sizes[-1] != net.sizes[-1]:
        raise UserError(f"--craft-on {source}: its network maps {source_net.sizes[0]} inputs to {source_net.sizes[-1]} "
                        f"outputs, {run_dir.name}'s {net.sizes[0]} to {net.sizes[-1]}; a transfer attack needs the same data")
    if source_attrs.get("dataset_checksum") != attrs.get("dataset_checksum"):
        raise UserError(f"--craft-on {source}: trained on other data ({source_attrs.get('dataset')}) than "
                        f"{run_dir.name} ({attrs.get('dataset')}); a transfer attack needs the same data")
    return source_net, runs.load_run_spec(source).model.loss


def attack(run_dir: Path, *, root: Path, console: Console, device: str = "auto", craft_on: Path | None = None,
           **options) -> dict:
    """Attack the run's network at every eps and write a child run; return the summary.

    options are AttackSpec fields (method, eps, steps, samples, ...) that override the run's spec.
    craft_on: a transfer attack: the images are crafted on that run's network (its own loss, or
    cross-entropy with loss="cross_entropy") and evaluated on run_dir's; None crafts them on run_dir's.
    """
    spec = resolve_attack(runs.load_run_spec(run_dir), **options)
    _, net, attrs, dataset, backend = load_run_with_data(run_dir, console, device)
    cfg, xp = spec.attack, backend.xp
    x_host, y_host = images_to_attack(spec, dataset)
    x, y = backend.asarray(x_host, net.dtype), backend.asarray(y_host)
    n = len(y_host)

    clean_out = net.predict(x)
    clean_correct = clean_out.argmax(axis=1) == y
    score_name, clean_score = detection_score(net, clean_out)
    crafter, crafter_loss = (net, spec.model.loss) if craft_on is None else \
        crafting_network(craft_on, net, attrs, backend, run_dir)
    attacked_net, loss = attack_objective(crafter, crafter_loss, cfg.loss)
    crafted = "" if craft_on is None else f", crafted on {craft_on.name} (transfer)"
    console.say(f"{cfg.method} raising the {loss} loss of {(craft_on or run_dir).name}{crafted}, evaluated on "
                f"{run_dir.name} ({net.output} output, trained on "
                f"{spec.model.loss}): {n} {dataset.name} test images, clean accuracy "
                f"{percent(float(clean_correct.mean()))}; {backend.describe()}")

    keys = ("accuracy", "fooled_rate", "auroc", "auroc_fooled", "score_mean", "linf")
    per_eps = {key: [] for key in keys}
    bar = console.bar(len(cfg.eps) * math.ceil(n / cfg.batch_size), cfg.method, unit="batch")
    start = time.perf_counter()
    for eps in cfg.eps:
        bar.set_postfix(eps=eps)
        x_adv = perturb(cfg.method, attacked_net, x, y, eps, loss=loss, steps=cfg.steps, step_scale=cfg.step_scale,
                        random_start=cfg.random_start, seed=spec.seed, batch_size=cfg.batch_size,
                        on_batch=lambda rows: bar.update(1))
        out = net.predict(x_adv)
        correct = out.argmax(axis=1) == y
        fooled = clean_correct & ~correct
        _, score = detection_score(net, out)
        figures = (float(correct.mean()), float(fooled.sum()) / max(int(clean_correct.sum()), 1),
                   auroc(clean_score, score), auroc(clean_score, score[fooled]),
                   float(score.mean()), float(xp.abs(x_adv - x).max()))
        for key, value in zip(keys, figures):
            per_eps[key].append(value)
        if bar.disable:
            console.say(f"eps {eps:g}: accuracy {percent(figures[0])}, detection AUROC {figures[2]:.3f} "
                        f"(fooled only {figures[3]:.3f})")
    bar.close()
    backend.synchronize()
    seconds = time.perf_counter() - start

    clean_accuracy = float(clean_correct.mean())
    settings = {"method": cfg.method, "loss": spec.model.loss, "attack_loss": loss, "output": net.output,
                "score": score_name, "clean_accuracy": clean_accuracy, "clean_score_mean": float(clean_score.mean()),
                "samples": n, "steps": cfg.steps, "step_scale": cfg.step_scale, "random_start": cfg.random_start,
                "crafted_on": "" if craft_on is None else str(craft_on), "seconds": seconds}
    with runs.new_run(root, f"{spec.name}-{cfg.method}", phase="attack") as run:
        runs.write_spec(run.tmp, spec)
        attrs = runs.run_attrs(spec, dataset, phase="attack", parent=run_dir, backend=backend)
        runs.save_model(run.tmp / runs.MODEL_FILE, net, attrs)
        runs.write_metrics(run.tmp / runs.METRICS_FILE, {"attack": {"eps": cfg.eps, **per_eps}}, {"attack": settings})
    return {"run": str(run.path), "parent": str(run_dir), "dataset": dataset.name, "eps": list(cfg.eps),
            **per_eps, **settings}
