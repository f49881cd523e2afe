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


def attack(run_dir: Path, *, root: Path, console: Console, device: str = "auto", **options) -> dict:
    """Attack the run's network at every eps and write a child run; return the summary.

    options are AttackSpec fields (method, eps, steps, samples, ...) that override the run's spec.
    """
    spec = resolve_attack(runs.load_run_spec(run_dir), **options)
    _, net, _, dataset, backend = load_run_with_data(run_dir, console, device)
    cfg, xp = spec.attack, backend.xp
    x_host, y_host = images_to_attack(spec, dataset)
    x, y = backend.asarray(x_host, net.dtype), backend.asarray(y_host)
    n = len(y_host)

    clean_out = net.predict(x)
    clean_correct = clean_out.argmax(axis=1) == y
    score_name, clean_score = detection_score(net, clean_out)
    attacked_net, loss = attack_objective(net, spec.model.loss, cfg.loss)
    console.say(f"{cfg.method} raising the {loss} loss of {run_dir.name} ({net.output} output, trained on "
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
                "seconds": seconds}
    with runs.new_run(root, f"{spec.name}-{cfg.method}", phase="attack") as run:
        runs.write_spec(run.tmp, spec)
        attrs = runs.run_attrs(spec, dataset, phase="attack", parent=run_dir, backend=backend)
        runs.save_model(run.tmp / runs.MODEL_FILE, net, attrs)
        runs.write_metrics(run.tmp / runs.METRICS_FILE, {"attack": {"eps": cfg.eps, **per_eps}}, {"attack": settings})
    return {"run": str(run.path), "parent": str(run_dir), "dataset": dataset.name, "eps": list(cfg.eps),
            **per_eps, **settings}
