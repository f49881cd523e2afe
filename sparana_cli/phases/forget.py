"""`sparana forget --class K`: prune the weights that serve one class, step by step, and write a child run.

Settings come from the command line over the parent spec's `forget:` section over the defaults.
Weights are scored on a scoring set of training images: every image of the target class and a
seeded sample of `samples` images of each other class; the layers before the first pruned one
never change, so their output on those images is computed once. Every step re-scores the current
network and removes the `step` highest-scored live weights of each pruned layer; the step grows by
`step_growth` after each step. The stop rule looks at every training image of the target class
(never at the test set): once at most `target` of them are still recognised, R_i weights having
gone from layer i, pruning goes on, in `overshoot_steps` equal steps, until overshoot x R_i are
gone — stopping at the first point only suppresses the class, and the relearn test brings it back.
`max_fraction` of the pruned layers is the most that is ever removed. Every step is measured on the
test split for the record; that bookkeeping is not part of the reported seconds.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import time
from pathlib import Path

import numpy as np

from sparana_cli import runs
from sparana_cli.analysis.forgetting import forward_from, group_rows, layer_input, removed_contribution, select_removals
from sparana_cli.analysis.pruning import chosen_matrices
from sparana_cli.engine.backend import to_host
from sparana_cli.engine.losses import activate_output
from sparana_cli.engine.metrics import confusion_matrix, evaluate_network, per_class_accuracy
from sparana_cli.engine.network import Network
from sparana_cli.errors import UserError
from sparana_cli.files import write_text_atomic
from sparana_cli.phases.evaluate import load_run_with_data
from sparana_cli.phases.forget_compare import measure, run_comparator, table_arrays
from sparana_cli.phases.train import device_splits
from sparana_cli.seeding import generator
from sparana_cli.spec import ForgetSpec, section_from_options
from sparana_cli.ui import Console, percent

DEFAULT_STEP_FRACTION = 0.0006
PLOT_FILE, COMPARE_FILE = "forget.png", "compare.csv"
COMPARE_COLUMNS = ("method", "df", "dr", "relearn_df", "weights_changed", "seconds")


def resolve_settings(base: ForgetSpec, options: dict) -> ForgetSpec:
    """The forget section: options that were given (not None) over `base` (the parent spec's section).

    --step and --step-fraction are one setting: giving either replaces both of base's.
    """
    settings = section_from_options(ForgetSpec, base, options, "forget", alternatives=("step", "step_fraction"),
                                    option_names={"target_class": "--class"})
    if settings.target_class is None:
        raise UserError("say which class to forget: --class K (or forget.target_class in the spec)")
    return settings


def chosen_layers(settings: ForgetSpec, n_layers: int) -> list[int]:
    """Weight matrices to prune: --layers, else the hidden-to-hidden ones (neither the first nor the output layer)."""
    layers = chosen_matrices(settings.layers, n_layers, list(range(1, n_layers - 1)), "forget.layers")
    if not layers:
        raise UserError(f"the network has no hidden-to-hidden weight matrix ({n_layers} layers): "
                        "name the layers to prune with --layers")
    return layers


def check_options(run_dir: Path, options: dict) -> str:
    """Refuse options that cannot work on the run (UserError), reading only its spec and model; its child's run name."""
    spec = runs.load_run_spec(run_dir)
    net, _ = runs.load_model(run_dir)
    settings = resolve_settings(spec.forget, options)
    if settings.target_class >= net.sizes[-1]:
        raise UserError(f"--class {settings.target_class}: no such class; the network has {net.sizes[-1]} outputs "
                        f"(classes 0..{net.sizes[-1] - 1})")
    chosen_layers(settings, net.n_layers)
    return f"{spec.name}-forget"


def check_class(target: int, dataset) -> int:
    """The class to forget, checked to exist in the data (in every split that must hold it)."""
    if not 0 <= target < dataset.n_classes:
        raise UserError(f"--class {target}: no such class; {dataset.name} has classes 0..{dataset.n_classes - 1}")
    for split, y in (("training", dataset.y_train), ("test", dataset.y_test)):
        if not (y == target).any():
            raise UserError(f"--class {target}: the {split} split holds no image of that class")
    if not (dataset.y_train != target).any():
        raise UserError(f"--class {target}: the training split holds no other class to keep")
    return target


def scoring_rows(y: np.ndarray, target: int, samples: int | None, seed: int) -> np.ndarray:
    """Indices of the scoring set: every training image of the target first, then up to `samples` of each other class (seeded)."""
    rng = generator(seed, "forget-samples")
    picked = []
    for c in np.unique(y):
        rows = np.flatnonzero(y == c)
        if c != target and samples is not None and samples < len(rows):
            rows = np.sort(rng.choice(rows, samples, replace=False))
        picked.append(rows)
    rows = np.concatenate(picked)
    order, _ = group_rows(y[rows], target)
    return rows[order]


def step_sizes(settings: ForgetSpec, sizes: dict) -> dict:
    """Weights removed per step from each pruned layer: --step, or --step-fraction of the layer (at least 1)."""
    if settings.step is not None:
        return {i: settings.step for i in sizes}
    fraction = settings.step_fraction if settings.step_fraction is not None else DEFAULT_STEP_FRACTION
    return {i: max(1, round(fraction * n)) for i, n in sizes.items()}


def within_budget(counts: dict, left: int) -> dict:
    """counts scaled down (floor, the remainder to the first layers) so that they add up to at most `left`."""
    total = sum(counts.values())
    if total <= left:
        return counts
    scaled = {i: c * left // total for i, c in counts.items()}
    for i in scaled:
        if sum(scaled.values()) >= left:
            break
        scaled[i] += counts[i] > scaled[i]
    return scaled


STOPS = {"target": "the target was met and the overshoot removed",
         "max_fraction": "--max-fraction of the pruned layers was removed",
         "no_positive_score": "no live weight has a positive score left"}


def forget_steps(net: Network, settings: ForgetSpec, layers: list[int], h, y, groups: dict, target: int, first: int,
                 record) -> tuple[dict, bool, str]:
    """Prune net in place step by step; return the weights removed per layer, whether the target was met, why it stopped.

    h: the scoring rows as inputs of layer `first`, grouped by group_rows (target first); y their
    labels. The stop rule looks at the target's rows. record(removed, train_df) is called on every
    state, step 0 (the parent) first, with train_df a function giving the stop rule's accuracy: for
    the final state, once the overshoot is removed, nothing else needs it, so it is computed only
    if record asks (as bookkeeping).
    """
    sizes = {i: int(net.masks[i].size) for i in layers}
    step = step_sizes(settings, sizes)
    budget = math.floor(settings.max_fraction * sum(sizes.values()))
    removed, goal = {i: 0 for i in layers}, None
    z_first = h @ net.weights[first] + net.biases[first]  # kept up to date as weights of layer `first` go

    def stop_accuracy(acts) -> float:
        return float((acts[-1][groups[target]].argmax(axis=1) == target).mean())

    while True:
        acts = forward_from(net, h, first, z_first=z_first)
        train_df = stop_accuracy(acts)
        record(dict(removed), lambda value=train_df: value)
        if goal is None and train_df <= settings.target:
            goal = {i: math.ceil(settings.overshoot * removed[i]) for i in layers}
            step = {i: max(1, math.ceil((goal[i] - removed[i]) / settings.overshoot_steps)) for i in layers}
        counts = step if goal is None else {i: min(step[i], goal[i] - removed[i]) for i in layers}
        if goal is not None and sum(counts.values()) <= 0:
            return removed, True, "target"
        counts = within_budget(counts, budget - sum(removed.values()))
        if sum(counts.values()) <= 0:
            return removed, goal is not None, "max_fraction"
        picks = select_removals(settings.score, net, acts, first, layers, y, groups, target, counts,
                                alpha=settings.ratio_alpha)
        gone = {i: int(picks[i].sum()) for i in layers}
        if not sum(gone.values()):
            return removed, goal is not None, "no_positive_score"
        done = goal is not None and all(removed[i] + gone[i] >= goal[i] for i in layers)
        if first in layers and not done:
            z_first -= removed_contribution(h, net.weights[first], picks[first])
        for i in layers:
            net.masks[i] = net.masks[i] & ~picks[i]
            net.weights[i] *= net.masks[i]
            removed[i] += gone[i]
        if done:
            record(dict(removed), lambda: stop_accuracy(forward_from(net, h, first)))
            return removed, True, "target"
        if goal is None:
            step = {i: max(k, round(k * settings.step_growth)) for i, k in step.items()}


def forget_network(net: Network, settings: ForgetSpec, layers: list[int], x_train, y_train, target: int, seed: int,
                   backend, record) -> tuple[dict, bool, str, float]:
    """Forget `target` in net (in place) from the host training split; forget_steps's result and the seconds it all took.

    The seconds cover everything the forgetting needs: choosing and moving the scoring images,
    their input to the first pruned layer, and every step (record's own time included: subtract it).
    """
    _ = backend.sparse  # import the sparse module (a fifth of a second, once) before the clock starts
    backend.synchronize()
    started = time.perf_counter()
    rows = scoring_rows(y_train, target, settings.samples, seed)
    first = min(layers)
    _, groups = group_rows(y_train[rows], target)
    h = layer_input(net, backend.asarray(x_train[rows], net.dtype), first)
    removed, reached, stop = forget_steps(net, settings, layers, h, backend.asarray(y_train[rows]), groups, target,
                                          first, record)
    backend.synchronize()
    return removed, reached, stop, time.perf_counter() - started


def forget(run_dir: Path, options: dict, *, root: Path, console: Console, device: str = "auto") -> dict:
    """Make the run's network forget a class as the settings say, write a child run; return the summary."""
    started = time.perf_counter()
    run_dir = Path(run_dir).resolve()
    spec, parent, _, dataset, backend = load_run_with_data(run_dir, console, device)
    settings = resolve_settings(spec.forget, options)
    target = check_class(settings.target_class, dataset)
    layers = chosen_layers(settings, parent.n_layers)
    rows = scoring_rows(dataset.y_train, target, settings.samples, spec.seed)  # (forget_network picks the same)
    splits = device_splits(dataset, backend)
    first = min(layers)
    sizes = {i: int(parent.masks[i].size) for i in layers}
    console.say(f"forgetting class {target} of {run_dir.name}: {settings.score} scores on {len(rows)} training images, "
                f"pruning layer{'s' * (len(layers) > 1)} {', '.join(map(str, layers))} ({sum(sizes.values())} weights) "
                f"until Df on the class's training images <= {percent(settings.target)}, overshoot x{settings.overshoot:g}")

    x_test, y_test = splits["test"]
    test_in = layer_input(parent, backend.asarray(x_test[:], parent.dtype), first)  # the layers before `first` never change
    y_test_host = to_host(y_test)
    net = parent.copy()
    history: list[dict] = []
    spent = [0.0]  # seconds in record(): bookkeeping, not forgetting

    def record(removed: dict, stop_accuracy) -> None:
        t0 = time.perf_counter()
        train_df = stop_accuracy()
        out = activate_output(forward_from(net, test_in, first)[-1], net.output)
        per_class = per_class_accuracy(confusion_matrix(y_test, out.argmax(axis=1), dataset.n_classes))
        right = to_host(out.argmax(axis=1)) == y_test_host
        on_target = y_test_host == target
        snapshot = {"removed": [removed.get(i, 0) for i in range(net.n_layers)],
                    "weights_removed": sum(removed.values()), "df_acc": float(right[on_target].mean()),
                    "dr_acc": float(right[~on_target].mean()), "train_df": train_df, "per_class_accuracy": per_class,
                    "target_outputs": to_host(out[backend.asarray(on_target)].mean(axis=0))}
        history.append(snapshot)
        console.say(f"step {len(history) - 1:3d}: removed {snapshot['weights_removed']:6d} "
                    f"({100 * snapshot['weights_removed'] / sum(sizes.values()):.3f}%)  train Df {percent(train_df)}  "
                    f"test Df {percent(snapshot['df_acc'])}  Dr {percent(snapshot['dr_acc'])}")
        backend.synchronize()
        spent[0] += time.perf_counter() - t0

    removed, reached, stop, seconds = forget_network(net, settings, layers, dataset.x_train, dataset.y_train, target,
                                                     spec.seed, backend, record)
    seconds -= spent[0]
    if not reached:
        console.warn(f"warning: Df on the class's training images stayed above {percent(settings.target)}: "
                     f"{STOPS[stop]}")

    test = evaluate_network(net, x_test, y_test, dataset.n_classes)
    before, after = history[0], history[-1]
    rows_table = [measure(f"forget ({settings.score})", net, sum(removed.values()), seconds, spec=spec, splits=splits,
                          target=target, relearn_epochs=settings.relearn_epochs, console=console)]
    for name in settings.compare:
        console.say(f"comparator {name} ...")
        other, changed, other_seconds = run_comparator(name, parent=parent, spec=spec, dataset=dataset, backend=backend,
                                                       splits=splits, target=target, removed=removed,
                                                       settings=settings, console=console)
        rows_table.append(measure(name, other, changed, other_seconds, spec=spec, splits=splits, target=target,
                                  relearn_epochs=settings.relearn_epochs, console=console))
    relearn_df = rows_table[0]["relearn_df"]
    removed_fraction = sum(removed.values()) / sum(sizes.values())

    child_spec = dataclasses.replace(spec, forget=settings)
    arrays = {key: [h[key] for h in history] for key in history[0]}
    with runs.new_run(root, f"{spec.name}-forget", phase="forget") as run:
        runs.write_spec(run.tmp, child_spec)
        attrs = runs.run_attrs(child_spec, dataset, phase="forget", parent=run_dir, backend=backend)
        runs.save_model(run.tmp / runs.MODEL_FILE, net, attrs)
        forget_attrs = {"df_accuracy": after["df_acc"], "dr_accuracy": after["dr_acc"], "df_before": before["df_acc"],
                        "dr_before": before["dr_acc"], "target_class": target, "score": settings.score,
                        "layers": layers, "removed_fraction": removed_fraction, "reached": reached, "stop": stop,
                        "seconds": seconds, "scoring_images": len(rows), "relearn_epochs": settings.relearn_epochs,
                        "relearn_df": relearn_df}
        groups_out = {"forget": arrays, "test": {"per_class_accuracy": test.per_class, "confusion": test.confusion}}
        if settings.compare:
            groups_out["forget/compare"] = table_arrays(rows_table)
        runs.write_metrics(run.tmp / runs.METRICS_FILE, groups_out,
                           {"forget": forget_attrs, "test": {"accuracy": test.accuracy}})
        if settings.compare:
            write_text_atomic(run.tmp / COMPARE_FILE, compare_csv(rows_table))
        from sparana_cli.plots import forget_figure, save_figures

        save_figures({PLOT_FILE: forget_figure(arrays, target)}, run.tmp)
    return {
        "run": str(run.path),
        "parent": str(run_dir),
        "class": target,
        "score": settings.score,
        "layers": layers,
        "df_before": before["df_acc"],
        "df_after": after["df_acc"],
        "dr_before": before["dr_acc"],
        "dr_after": after["dr_acc"],
        "relearn_df": relearn_df,
        "removed": [removed.get(i, 0) for i in range(net.n_layers)],
        "removed_fraction": removed_fraction,
        "removed_fraction_per_layer": {str(i): removed[i] / sizes[i] for i in layers},
        "reached": reached,
        "stop": stop,
        "scoring_images": len(rows),
        "seconds": seconds,
        "seconds_total": time.perf_counter() - started,
        "steps": [{"step": s, "weights_removed": h["weights_removed"], "train_df": h["train_df"], "df": h["df_acc"],
                   "dr": h["dr_acc"]} for s, h in enumerate(history)],
        **({"compare": rows_table} if settings.compare else {}),
        "settings": dataclasses.asdict(settings),
    }


def compare_csv(rows: list[dict]) -> str:
    """The comparison table as CSV text."""
    out = io.StringIO()
    writer = csv.DictWriter(out, COMPARE_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({key: row[key] for key in COMPARE_COLUMNS} for row in rows)
    return out.getvalue()
