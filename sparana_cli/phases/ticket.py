"""`sparana ticket`: lottery tickets by iterative pruning with rewinding, with the reinit and random controls.

Round 0 trains the spec's dense network and keeps the weights to rewind to (the initial ones, or
those after train.rewind_step steps). Each later round prunes ticket.rate of every hidden layer's
surviving weights (the output layer at ticket.output_rate, by default rate/2) by ticket.criterion,
scored on the previous round's trained ticket, rewinds the survivors and retrains with the same
schedule. Every trained network is its own run folder (phase ticket) naming its parent: a round's
ticket names the previous round's ticket, and the controls of a round are its siblings. The dense
round's folder also holds rewind.h5 and the experiment's table and picture (tickets.csv, tickets.png).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from sparana_cli.analysis.scores import score_layers
from sparana_cli.analysis.tickets import layer_rates, next_masks, random_masks_like, reinitialised, remaining, rewound
from sparana_cli.data import load_dataset
from sparana_cli.engine.backend import resolve_backend
from sparana_cli.engine.metrics import accuracy, evaluate_network
from sparana_cli.engine.network import Network
from sparana_cli.errors import UserError
from sparana_cli.fitting import build_network, check_rewind_step, device_splits, fit
from sparana_cli.seeding import generator
from sparana_cli.spec import Spec
from sparana_cli.store import runs
from sparana_cli.store.rewind import write_rewind_point
from sparana_cli.store.ticketfiles import TICKETS_PLOT, write_tickets
from sparana_cli.ui import Console, percent

DATA_CRITERIA = ("maav", "mav")


def check_spec(spec: Spec) -> None:
    """Refuse a spec a ticket experiment cannot run."""
    if spec.train.sparse.method != "none":
        raise UserError("train.sparse.method: a ticket experiment prunes a dense network; set it to none")
    if spec.train.trainable.method != "all":
        raise UserError("train.trainable.method: a ticket experiment trains every surviving weight; set it to all")


def ticket(spec: Spec, *, root: Path, console: Console) -> dict:
    """Run the spec's ticket experiment; return its rows and the dense round's folder (which holds the table)."""
    started = time.perf_counter()
    check_spec(spec)
    backend = resolve_backend(spec.device)
    dataset = load_dataset(spec.data, spec.seed)
    if dataset.notice:
        console.warn(dataset.notice)
    check_rewind_step(spec, len(dataset.y_train))
    splits = device_splits(dataset, backend)
    cfg = spec.ticket
    x_score = None
    if cfg.criterion in DATA_CRITERIA:
        x_score = splits["train"][0]
        if cfg.samples is not None:
            n = len(dataset.y_train)
            if cfg.samples > n:
                raise UserError(f"ticket.samples: {cfg.samples} is more than the {n} training images")
            rows = np.sort(generator(spec.seed, "ticket-samples").choice(n, cfg.samples, replace=False))
            x_score = backend.asarray(dataset.x_train[rows], spec.model.dtype)

    net = build_network(spec, dataset, backend)
    k = spec.train.rewind_step or 0
    kept = {"init": net.copy()}

    def keep(t):
        if t == k:
            kept["step"] = net.copy()

    console.say(f"lottery tickets: {'-'.join(map(str, net.sizes))} on {dataset.name}, {cfg.rounds} rounds of "
                f"{cfg.criterion} pruning at {cfg.rate:g} per round, rewinding to step {k}, controls: "
                f"{', '.join(cfg.controls) or 'none'}")
    trainer = _RoundTrainer(spec, dataset, backend, splits, root, console)
    row, home = trainer.train(net, "dense", 0, parent=None, on_step=keep if k else None,
                              rewind=lambda: {"init": (0, kept["init"]), **({"step": (k, kept["step"])} if k else {})})
    rows = [row]
    write_tickets(home, rows)
    target = kept.get("step") or kept["init"]
    rates = layer_rates(net.n_layers, cfg.rate, cfg.output_rate)
    previous, parent = net, home
    for r in range(1, cfg.rounds + 1):
        scores = score_layers(cfg.criterion, previous, x_score, seed=spec.seed)
        masks = next_masks(scores, previous.masks, rates)
        ticket_net = rewound(target, masks)
        row, folder = trainer.train(ticket_net, "ticket", r, parent=parent)
        rows.append(row)
        for control in cfg.controls:
            if control == "reinit":
                other = reinitialised(target, masks, bias=spec.model.bias, seed=spec.seed, round_=r, backend=backend)
            else:
                other = rewound(target, random_masks_like(masks, seed=spec.seed, round_=r))
            rows.append(trainer.train(other, control, r, parent=parent)[0])
        write_tickets(home, rows)
        previous, parent = ticket_net, folder
    from sparana_cli.plots import save_figures, ticket_figure

    save_figures({TICKETS_PLOT: ticket_figure(summarize(rows))}, home)
    return {"run": str(home), "rows": rows, "criterion": cfg.criterion, "rounds": cfg.rounds,
            "dense_accuracy": rows[0]["test_accuracy"],
            "ticket_accuracy": rows[-1 - len(cfg.controls)]["test_accuracy"],
            "remaining": rows[-1 - len(cfg.controls)]["remaining"],
            "seconds": time.perf_counter() - started}


class _RoundTrainer:
    """Trains one network of the experiment with the spec's schedule and writes its run folder."""

    def __init__(self, spec: Spec, dataset, backend, splits, root: Path, console: Console):
        self.spec, self.dataset, self.backend, self.splits, self.root, self.console = (
            spec, dataset, backend, splits, root, console)
        self.steps_per_epoch = math.ceil(len(dataset.y_train) / spec.train.batch_size)

    def train(self, net: Network, variant: str, round_: int, *, parent: Path | None, on_step=None,
              rewind=None) -> tuple[dict, Path]:
        """Train net in place and write its run folder; its table row and the folder.

        rewind() (called once trained) gives the rewind points to keep in the folder: name -> (step, network).
        """
        spec, every = self.spec, self.spec.ticket.eval_every
        curve_steps, curve = [], []

        def step(t):
            if on_step is not None:
                on_step(t)
            if every and t % every == 0:
                curve_steps.append(t)
                curve.append(accuracy(net, *self.splits["val"]))

        history = fit(net, spec, self.splits["train"], self.splits["val"], self.console,
                      label=f"round {round_} {variant}", on_step=step)
        if not every:
            curve_steps = [self.steps_per_epoch * (e + 1) for e in range(len(history["val_accuracy"]))]
            curve = list(history["val_accuracy"])
        best = int(np.argmax(curve))  # the first best: the early-stopping iteration
        test = evaluate_network(net, *self.splits["test"], self.dataset.n_classes)
        left = remaining(net.masks)
        row = {"criterion": spec.ticket.criterion, "variant": variant, "round": round_, "remaining": left,
               "test_accuracy": test.accuracy, "best_val_accuracy": float(curve[best]),
               "early_stop_step": int(curve_steps[best]), "seed": spec.seed}
        with runs.new_run(self.root, f"{spec.name}-ticket-r{round_}-{variant}", phase="ticket") as run:
            runs.write_spec(run.tmp, spec)
            attrs = runs.run_attrs(spec, self.dataset, phase="ticket", parent=parent, backend=self.backend)
            runs.save_model(run.tmp / runs.MODEL_FILE, net, attrs)
            for name, (step_k, point) in (rewind() if rewind else {}).items():
                write_rewind_point(run.tmp, name, step_k, point)
            runs.write_metrics(
                run.tmp / runs.METRICS_FILE,
                {"train": history, "test": {"per_class_accuracy": test.per_class, "confusion": test.confusion},
                 "ticket": {"eval_step": curve_steps, "val_accuracy": curve}},
                {"train": {"test_accuracy": test.accuracy, "seconds": float(np.sum(history["seconds"])),
                           "epochs": spec.train.epochs},
                 "test": {"accuracy": test.accuracy},
                 "ticket": {k: v for k, v in row.items()}})
        row["run"] = str(run.path)
        self.console.say(f"round {round_} {variant}: {100 * left:.2f}% of weights left, test accuracy "
                         f"{percent(test.accuracy)}, early stop at step {row['early_stop_step']}")
        return row, run.path


def summarize(rows: list[dict]) -> list[dict]:
    """One point per (criterion, variant, round): n, mean remaining, and mean and std over seeds of accuracy and early stop.

    The dense round counts as round 0 of every variant, so each line starts at 100%.
    """
    groups: dict[tuple, list[dict]] = {}
    variants = sorted({r["variant"] for r in rows if r["variant"] != "dense"}) or ["dense"]
    for r in rows:
        for variant in (variants if r["variant"] == "dense" else [r["variant"]]):
            groups.setdefault((r["criterion"], variant, int(r["round"])), []).append(r)
    points = []
    for (criterion, variant, round_), members in sorted(groups.items()):
        point = {"criterion": criterion, "variant": variant, "round": round_, "n": len(members),
                 "remaining": float(np.mean([m["remaining"] for m in members]))}
        for key in ("test_accuracy", "early_stop_step"):
            values = np.asarray([float(m[key]) for m in members])
            point[f"{key}_mean"] = float(values.mean())
            point[f"{key}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
        points.append(point)
    return points
