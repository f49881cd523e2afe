"""Judging a forgetting: figures that tell removal from suppression, for any model on the same tests.

Every model of a forgetting table (the untouched parent, the forgotten child, the comparators) is
judged with the same images and seeds: Df and Dr, a linear probe per hidden layer, few-shot
relearning and membership inference on the forget set. `level` sets how much runs: "quick" is
the last hidden layer's probe and one draw of few-shot relearning; "full" adds every hidden
layer's probe, the membership attack and three draws.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from sparana_cli.analysis.membership import member_rate
from sparana_cli.analysis.probe import probe_score
from sparana_cli.analysis.relearn import anamnesis_index, few_shot_rows, relearn_curve, steps_to_reach
from sparana_cli.engine.backend import to_host
from sparana_cli.engine.losses import softmax
from sparana_cli.engine.metrics import confusion_matrix, per_class_accuracy
from sparana_cli.engine.network import PREDICT_CHUNK, Network
from sparana_cli.seeding import generator

LEVELS = ("none", "quick", "full")


@dataclass(frozen=True)
class JudgeSettings:
    """How a forgetting is judged (see the README, "Judging a forgetting")."""

    level: str = "quick"  # none | quick | full
    probe_samples: int = 10_000  # seeded training images the probes are fit on (all classes)
    shots: int = 100  # few-shot relearning: training images of the forgotten class ...
    others: int = 900  # ... and of the other classes
    relearn_steps: int = 100  # fine-tuning steps (batches of relearn_batch, Adam as the parent's spec says)
    relearn_batch: int = 100
    draws: int | None = None  # draws of the few-shot images; None: 1 for quick, 3 for full

    @classmethod
    def of(cls, forget_spec, level: str) -> JudgeSettings:
        """The settings a spec's forget section names, judged at `level`."""
        return cls(level=level, probe_samples=forget_spec.probe_samples, shots=forget_spec.relearn_shots,
                   others=forget_spec.relearn_others, relearn_steps=forget_spec.relearn_steps)

    @property
    def n_draws(self) -> int:
        return self.draws if self.draws is not None else (3 if self.level == "full" else 1)


def probe_layers(net: Network, level: str) -> list[int]:
    """Hidden layers (1-based: layer l is the output of weight matrix l-1) that the probes read."""
    hidden = list(range(1, net.n_layers))
    return hidden if level == "full" else hidden[-1:]


def hidden_features(net: Network, x, layers: list[int], chunk: int = PREDICT_CHUNK) -> dict:
    """{l: activations of hidden layer l} for rows x, computed in chunks."""
    parts = {layer: [] for layer in layers}
    for start in range(0, x.shape[0], chunk):
        acts = net.activations(x[start:start + chunk])
        for layer in layers:
            parts[layer].append(acts[layer])
    xp = net.xp
    return {layer: xp.concatenate(p) for layer, p in parts.items()}


def output_probabilities(net: Network, x) -> np.ndarray:
    """The network's outputs as probabilities on the host (softmax of a linear output)."""
    out = net.predict(x)
    return to_host(out if net.output == "softmax" else softmax(out))


def accuracy_figures(net: Network, x, y, target: int, n_classes: int) -> dict:
    """Df (accuracy on the class), Dr (on every other class), overall and per-class accuracy."""
    predicted = net.predict(x).argmax(axis=1)
    right = to_host(predicted == y)
    on_target = to_host(y) == target
    per_class = per_class_accuracy(confusion_matrix(y, predicted, n_classes))
    return {"df": float(right[on_target].mean()), "dr": float(right[~on_target].mean()),
            "accuracy": float(right.mean()), "per_class_accuracy": per_class.tolist()}


def judge(net: Network, *, splits: dict, target: int, n_classes: int, train_cfg, loss: str, seed: int,
          parent_df: float, settings: JudgeSettings, split: str = "test") -> dict:
    """Every figure of one model for forgetting `target`, measured on `split` (test to report, val to choose).

    parent_df: the parent's accuracy on the class in that split; relearning counts the steps until
    the class is back at half of it. Returns a flat dict of floats (and per_class_accuracy, curve).
    """
    figures = accuracy_figures(net, *splits[split], target, n_classes)
    if settings.level == "none":
        return figures
    figures.update(probe_figures(net, splits["train"], splits[split], target, n_classes, seed, settings))
    cfg = dataclasses.replace(train_cfg, batch_size=settings.relearn_batch, dropout=0.0, l1=0.0, l2=0.0, clip=None)
    figures.update(relearn_figures(net, splits["train"], splits[split], target, parent_df, cfg, loss, seed, settings))
    if settings.level == "full":
        figures["mia"] = membership_figure(net, splits["train"], splits[split], target, seed)
    return figures


def probe_figures(net: Network, train_xy, eval_xy, target: int, n_classes: int, seed: int,
                  settings: JudgeSettings) -> dict:
    """probe_recall_<l> and probe_accuracy_<l> of each probed hidden layer l; probe_recall: the last one's."""
    (x_train, y_train), (x_eval, y_eval) = train_xy, eval_xy
    rows = generator(seed, "probe-rows").permutation(len(to_host(y_train)))[:settings.probe_samples]
    rows = net.xp.asarray(np.sort(rows))
    layers = probe_layers(net, settings.level)
    train_features = hidden_features(net, x_train[rows], layers)
    eval_features = hidden_features(net, x_eval, layers)
    figures = {}
    for layer in layers:
        score = probe_score(train_features[layer], y_train[rows], eval_features[layer], y_eval, target, n_classes)
        figures[f"probe_recall_{layer}"] = score.recall
        figures[f"probe_accuracy_{layer}"] = score.accuracy
    figures["probe_recall"] = figures[f"probe_recall_{layers[-1]}"]
    return figures


def relearn_figures(net: Network, train_xy, eval_xy, target: int, parent_df: float, cfg, loss: str, seed: int,
                    settings: JudgeSettings) -> dict:
    """Few-shot relearning over settings.n_draws draws: the mean curve, the mean steps to half the parent's Df,
    and Df after 10, 25, 50 and 100 steps (those within the budget)."""
    (x_train, y_train), (x_eval, y_eval) = train_xy, eval_xy
    x_class = x_eval[net.xp.asarray(np.flatnonzero(to_host(y_eval) == target))]
    curves = []
    for draw in range(settings.n_draws):
        few = net.xp.asarray(few_shot_rows(to_host(y_train), target, settings.shots, settings.others, seed, draw))
        curves.append(relearn_curve(net, x_train[few], y_train[few], x_class, target, cfg=cfg, loss=loss,
                                    steps=settings.relearn_steps, seed=seed + draw))
    curve = np.mean(curves, axis=0)
    figures = {"relearn_curve": curve.tolist(),
               "relearn_steps": float(np.mean([steps_to_reach(c, parent_df / 2) for c in curves]))}
    figures.update({f"relearn_df_{step}": float(curve[step]) for step in (10, 25, 50, 100)
                    if step <= settings.relearn_steps})
    return figures


def membership_figure(net: Network, train_xy, eval_xy, target: int, seed: int) -> float:
    """The membership attack's rate on the class's training images (fit: retained training vs retained eval images)."""
    (x_train, y_train), (x_eval, y_eval) = train_xy, eval_xy
    y_train_host, y_eval_host = to_host(y_train), to_host(y_eval)
    eval_retain = np.flatnonzero(y_eval_host != target)
    members = generator(seed, "membership").permutation(np.flatnonzero(y_train_host != target))[:len(eval_retain)]
    put = net.xp.asarray
    return member_rate(output_probabilities(net, x_train[put(members)]),
                       output_probabilities(net, x_eval[put(eval_retain)]),
                       output_probabilities(net, x_train[put(np.flatnonzero(y_train_host == target))]))


def judge_rows(models: list[tuple[str, Network]], *, splits: dict, target: int, n_classes: int, train_cfg, loss: str,
               seed: int, settings: JudgeSettings, split: str = "test", on_row=None) -> list[dict]:
    """judge() of every (method, network), the untouched parent first; each row with its method name.

    The relearning level is half of the parent's accuracy on the class; when a row named
    "retrain" is present every row gets its Anamnesis index (relearn steps over retrain's).
    on_row(row) is called as each row is done.
    """
    if not models:
        return []
    parent_df = accuracy_figures(models[0][1], *splits[split], target, n_classes)["df"]
    rows = []
    for method, net in models:
        row = {"method": method, **judge(net, splits=splits, target=target, n_classes=n_classes, train_cfg=train_cfg,
                                          loss=loss, seed=seed, parent_df=parent_df, settings=settings, split=split)}
        rows.append(row)
        if on_row is not None:
            on_row(row)
    add_anamnesis(rows)
    return rows


def add_anamnesis(rows: list[dict]) -> None:
    """Give every row its Anamnesis index against the row named "retrain" (when there is one and relearning ran)."""
    reference = next((r for r in rows if r["method"] == "retrain" and "relearn_steps" in r), None)
    for row in rows:
        if reference is not None and "relearn_steps" in row:
            row["anamnesis"] = anamnesis_index(row["relearn_steps"], reference["relearn_steps"])
