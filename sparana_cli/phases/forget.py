"""`sparana forget --class K`: prune the weights that serve one class, step by step, and write a child run.

Settings come from the command line over the parent spec's `forget:` section over the defaults.
Weights are scored on a scoring set of training images: every image of the target class and a
seeded sample of `samples` images of each other class; the layers before the first pruned one
never change, so their output on those images is computed once. Every step re-scores the current
network and removes the `step` highest-scored live weights of each pruned layer; the step grows by
`step_growth` after each step. The stop rule looks at the validation images of the target class
(never at the scored images, never at the test set): once at most `target` of them are still
recognised, R_i weights having gone from layer i, pruning goes on, in `overshoot_steps` equal
steps, until overshoot x R_i are gone. `max_fraction` of the pruned layers is the most that is
ever removed. Every step is measured on the test split for the record; that bookkeeping is not
part of the reported seconds. The result is then judged (analysis/judging.py) beside the untouched
parent and every comparator asked for, each comparator written as a child run of its own.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import io
import math
import time
from pathlib import Path

import numpy as np

from sparana_cli.analysis.forgetting import (
    PROBE_SCORES,
    forward_from,
    group_rows,
    layer_input,
    removed_contribution,
    select_removals,
)
from sparana_cli.analysis.judging import JudgeSettings, judge_rows
from sparana_cli.analysis.one_pass import (
    all_scores,
    counts_at,
    feature_refit,
    pinned_targets,
    prune_prefix,
    ranked,
    readout_refit,
    smallest_fraction,
)
from sparana_cli.analysis.pruning import chosen_matrices
from sparana_cli.engine.backend import to_host
from sparana_cli.engine.losses import activate_output
from sparana_cli.engine.metrics import confusion_matrix, evaluation_of, per_class_accuracy
from sparana_cli.engine.network import Network
from sparana_cli.engine.training import train_steps
from sparana_cli.errors import UserError
from sparana_cli.files import write_text_atomic
from sparana_cli.fitting import device_splits
from sparana_cli.phases.forget_compare import run_comparator
from sparana_cli.seeding import generator
from sparana_cli.spec import ForgetSpec, section_from_options
from sparana_cli.store import runs
from sparana_cli.store.reader import load_run_with_data
from sparana_cli.ui import Console, percent

DEFAULT_STEP_FRACTION = 0.0006
PLOT_FILE, COMPARE_FILE = "forget.png", "compare.csv"


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
    """Weight matrices to prune: --layers, else every one but the output layer for the probe scores (the first layer
    included: it holds much of what a class is), the hidden-to-hidden ones for the others (the seed's choice)."""
    default = list(range(n_layers - 1)) if settings.score in PROBE_SCORES else list(range(1, n_layers - 1))
    layers = chosen_matrices(settings.layers, n_layers, default, "forget.layers")
    if not layers:
        raise UserError(f"the network has no hidden-to-hidden weight matrix ({n_layers} layers): "
                        "name the layers to prune with --layers")
    if settings.score in PROBE_SCORES and max(layers) >= n_layers - 1:
        raise UserError(f"--score {settings.score} reads the last hidden layer, so it prunes only the layers below it "
                        f"(0..{n_layers - 2}); got --layers {','.join(map(str, layers))}")
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


def scoring_rows(y: np.ndarray, target: int, samples: int | None, seed: int, target_samples: int | None = None) -> np.ndarray:
    """Indices of the scoring set: the target's training images first (up to `target_samples`, seeded; None: all),
    then up to `samples` of each other class (seeded)."""
    rng = generator(seed, "forget-samples")
    picked = []
    for c in np.unique(y):
        rows = np.flatnonzero(y == c)
        limit = target_samples if c == target else samples
        if limit is not None and limit < len(rows):
            rows = np.sort(rng.choice(rows, limit, replace=False))
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


def class_accuracy(net: Network, h, first: int, target: int) -> float:
    """Fraction of rows h (inputs of layer `first`) that net's layers first.. classify as `target`."""
    return float((forward_from(net, h, first)[-1].argmax(axis=1) == target).mean())


def forget_steps(net: Network, settings: ForgetSpec, layers: list[int], h, y, groups: dict, target: int, first: int,
                 h_stop, record, already: dict | None = None) -> tuple[dict, bool, str]:
    """Prune net in place step by step; return the weights removed per layer, whether the target was met, why it stopped.

    h: the scoring rows as inputs of layer `first`, grouped by group_rows (target first); y their
    labels. h_stop: the stop rule's rows (held-out images of the target) as inputs of layer
    `first`. record(removed, stop_df) is called on every state, the starting one first, with
    stop_df a function giving the stop rule's accuracy: for the final state, once the overshoot is
    removed, nothing else needs it, so it is computed only if record asks (as bookkeeping).
    already: weights removed per layer by earlier rounds; they count towards --max-fraction and the
    returned totals, while the overshoot multiplies only what this call removes.
    """
    sizes = {i: int(net.masks[i].size) for i in layers}
    step = step_sizes(settings, sizes)
    budget = math.floor(settings.max_fraction * sum(sizes.values()))
    start = {i: (already or {}).get(i, 0) for i in layers}
    removed, goal = dict(start), None
    z_first = h @ net.weights[first] + net.biases[first]  # kept up to date as weights of layer `first` go

    def stop_accuracy() -> float:
        return class_accuracy(net, h_stop, first, target)

    while True:
        acts = forward_from(net, h, first, z_first=z_first)
        stop_df = stop_accuracy()
        record(dict(removed), lambda value=stop_df: value)
        if goal is None and stop_df <= settings.target:
            goal = {i: start[i] + math.ceil(settings.overshoot * (removed[i] - start[i])) for i in layers}
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
            record(dict(removed), stop_accuracy)
            return removed, True, "target"
        if goal is None:
            step = {i: max(k, round(k * settings.step_growth)) for i, k in step.items()}


def forget_network(net: Network, settings: ForgetSpec, layers: list[int], x_train, y_train, x_stop, target: int,
                   seed: int, backend, record, *, train_cfg, loss: str) -> tuple[dict, bool, str, float, int, dict | None]:
    """Forget `target` in net (in place) from the host training split; forget_steps's result, the seconds it all took,
    the rounds of pruning it took and (rescore never) the weights removed per layer when the target was first met.

    x_stop: the held-out host images of the target the stop rule watches (the validation split's).
    After pruning, `repair_steps` fine-tuning steps on retained training images (train_cfg's
    optimizer, batches of REPAIR_BATCH, masks held) mend what the pruning cost the other classes.
    The repair can give the class back: while the stop rule's images are recognised above the
    target after it, and fewer than `repair_rounds` rounds have run, pruning starts again from the
    repaired network (its overshoot relative to what the new round removes) and is repaired again.
    record(removed, stop_df, repaired) sees every state; repaired=True from the first repair on,
    since the repair moves the layers below `first` too, so figures must start from the network's
    input. The seconds cover everything the forgetting needs: choosing and moving the scoring
    images, their input to the first pruned layer, every step and repair (record's own time
    included: subtract it).
    """
    if settings.rescore == "never":
        return forget_once(net, settings, layers, x_train, y_train, x_stop, target, seed, backend, record,
                           train_cfg=train_cfg, loss=loss)
    _ = backend.sparse  # import the sparse module (a fifth of a second, once) before the clock starts
    backend.synchronize()
    started = time.perf_counter()
    rows = scoring_rows(y_train, target, settings.samples, seed)
    first = min(layers)
    _, groups = group_rows(y_train[rows], target)
    x_rows, y_rows = backend.asarray(x_train[rows], net.dtype), backend.asarray(y_train[rows])
    x_stop = backend.asarray(x_stop, net.dtype)
    removed, rounds = {}, 0
    h_stop = layer_input(net, x_stop, first)
    while True:
        h = layer_input(net, x_rows, first)
        step_record = record if rounds == 0 else functools.partial(record, repaired=True)
        removed, reached, stop = forget_steps(net, settings, layers, h, y_rows, groups, target, first, h_stop,
                                              step_record, already=removed)
        rounds += 1
        if settings.repair != "sgd" or not settings.repair_steps:
            break
        repair(net, x_train, y_train, target, settings.repair_steps, train_cfg=train_cfg, loss=loss, seed=seed,
               backend=backend, round_index=rounds - 1)
        h_stop = layer_input(net, x_stop, first)
        stop_df = class_accuracy(net, h_stop, first, target)
        if stop_df <= settings.target or rounds >= settings.repair_rounds or not reached:
            record(dict(removed), lambda value=stop_df: value, repaired=True)
            break
    backend.synchronize()
    return removed, reached, stop, time.perf_counter() - started, rounds, None


def forget_once(net: Network, settings: ForgetSpec, layers: list[int], x_train, y_train, x_stop, target: int, seed: int,
                backend, record, *, train_cfg, loss: str) -> tuple[dict, bool, str, float, int, dict]:
    """forget_network with --rescore never: score the parent once, prune the shortest prefix that forgets, repair.

    The fraction f of every pruned layer that first brings the stop rule's images to the target is
    found by analysis/one_pass.smallest_fraction; overshoot x f is pruned, then repaired (readout:
    the output layer refit on the scoring set's retained rows; sgd: repair()). While the repair
    gives the class back, f grows by search_growth and the parent is pruned and repaired again, up
    to repair_rounds rounds. record sees the parent and the final state; the weights removed per
    layer at the smallest fraction that met the target are returned last.
    """
    backend.synchronize()
    started = time.perf_counter()
    parent = net.copy()
    rows = scoring_rows(y_train, target, settings.samples, seed, settings.target_samples)
    first = min(layers)
    _, groups = group_rows(y_train[rows], target)
    y_rows = backend.asarray(y_train[rows])
    h = layer_input(parent, backend.asarray(x_train[rows], net.dtype), first)
    acts = forward_from(parent, h, first)
    order = ranked(all_scores(settings.score, parent, acts, first, layers, y_rows, groups, target,
                              alpha=settings.ratio_alpha))
    h_stop = layer_input(parent, backend.asarray(x_stop, net.dtype), first)
    sizes = {i: int(net.masks[i].size) for i in layers}
    ceiling = settings.max_fraction
    start = settings.step_fraction if settings.step_fraction is not None else DEFAULT_STEP_FRACTION
    if settings.step is not None:
        start = settings.step / min(sizes.values())
    record({}, lambda value=class_accuracy(parent, h_stop, first, target): value)

    def df_at(fraction: float) -> float:
        prune_prefix(net, parent, order, counts_at(fraction, sizes, order))
        return class_accuracy(net, h_stop, first, target)

    found, tried = smallest_fraction(lambda f: df_at(f) <= settings.target, min(start, ceiling),
                                     settings.search_growth, ceiling, settings.bisections)
    reached = found is not None
    fraction, rounds, stop = (found if reached else tried), 0, "target" if reached else "max_fraction"
    threshold = counts_at(fraction, sizes, order)
    if reached:
        fraction = min(ceiling, settings.overshoot * fraction)
    retained = slice(groups[target].stop, None)
    while True:
        rounds += 1
        counts = counts_at(fraction, sizes, order)
        net.load_state(parent)  # every round starts from the parent: an SGD repair moves every layer
        prune_prefix(net, parent, order, counts)
        if settings.repair == "features":
            feature_refit(net, parent, acts, first, y_rows, groups, target, settings.shift)
        elif settings.repair == "readout":
            readout_refit(net, forward_from(net, h[retained], first)[-2], pinned_targets(acts[-1][retained], target))
        elif settings.repair == "sgd" and settings.repair_steps:
            repair(net, x_train, y_train, target, settings.repair_steps, train_cfg=train_cfg, loss=loss, seed=seed,
                   backend=backend, round_index=rounds - 1)
        repaired = settings.repair == "sgd" and settings.repair_steps > 0
        stop_in = layer_input(net, backend.asarray(x_stop, net.dtype), first) if repaired else h_stop
        stop_df = class_accuracy(net, stop_in, first, target)
        if stop_df <= settings.target or rounds >= settings.repair_rounds or fraction >= ceiling or not reached:
            break
        fraction = min(ceiling, fraction * settings.search_growth)
    record(counts, lambda value=stop_df: value, repaired=repaired)  # record's own time is subtracted by the caller
    backend.synchronize()
    return counts, reached, stop, time.perf_counter() - started, rounds, threshold


REPAIR_BATCH = 100


def repair(net: Network, x_train, y_train, target: int, steps: int, *, train_cfg, loss: str, seed: int, backend,
           round_index: int = 0) -> None:
    """Fine-tune net in place for `steps` steps on seeded retained training images (never the target's), masks held.

    Each round of repair draws its own images and order (round 0's are those of a single repair).
    """
    suffix = f"-{round_index}" if round_index else ""
    retained = np.flatnonzero(y_train != target)
    rows = np.sort(generator(seed, "repair-rows" + suffix).permutation(retained)[:steps * REPAIR_BATCH])
    cfg = dataclasses.replace(train_cfg, batch_size=REPAIR_BATCH, dropout=0.0)
    train_steps(net, backend.asarray(x_train[rows], net.dtype), backend.asarray(y_train[rows]), cfg, loss=loss,
                steps=steps, seed=seed, stream="repair" + suffix)


def stored_test_confusion(run_dir: Path, attrs: dict, dataset) -> np.ndarray | None:
    """The test confusion matrix the run's metrics.h5 holds for its own network, when it was measured on the data read
    now (same checksum); else None."""
    if attrs.get("dataset_checksum") != dataset.checksum:
        return None
    arrays, _ = runs.read_metrics(run_dir)
    confusion = arrays.get("test", {}).get("confusion")
    n = dataset.n_classes
    if confusion is None or confusion.shape != (n, n) or int(confusion.sum()) != len(dataset.y_test):
        return None
    return np.asarray(confusion)


def check_stop_images(dataset, target: int) -> None:
    """The stop rule watches the validation images of the class: refuse a split that has none."""
    if not (dataset.y_val == target).any():
        raise UserError(f"--class {target}: the validation split holds no image of that class, and the stop rule "
                        "watches them (set data.validation above 0)")


def forget(run_dir: Path, options: dict, *, root: Path, console: Console, device: str = "auto") -> dict:
    """Make the run's network forget a class as the settings say, judge it, write a child run; return the summary."""
    started = time.perf_counter()
    run_dir = Path(run_dir).resolve()
    spec, parent, parent_attrs, dataset, backend = load_run_with_data(run_dir, console, device)
    settings = resolve_settings(spec.forget, options)
    target = check_class(settings.target_class, dataset)
    check_stop_images(dataset, target)
    layers = chosen_layers(settings, parent.n_layers)
    rows = scoring_rows(dataset.y_train, target, settings.samples, spec.seed,
                        settings.target_samples if settings.rescore == "never" else None)  # forget_network's own
    splits = device_splits(dataset, backend)
    first = min(layers)
    sizes = {i: int(parent.masks[i].size) for i in layers}
    console.say(f"forgetting class {target} of {run_dir.name}: {settings.score} scores on {len(rows)} training images, "
                f"pruning layer{'s' * (len(layers) > 1)} {', '.join(map(str, layers))} ({sum(sizes.values())} weights) "
                f"until Df on the class's validation images <= {percent(settings.target)}, "
                f"overshoot x{settings.overshoot:g}")

    x_test, y_test = splits["test"]
    x_test_rows = backend.asarray(x_test[:], parent.dtype)
    test_in = layer_input(parent, x_test_rows, first)  # the layers before `first` change only in the repair
    y_test_host = to_host(y_test)
    net = parent.copy()
    history: list[dict] = []
    spent = [0.0]  # seconds in record(): bookkeeping, not forgetting
    last_confusion = [None]

    on_target = y_test_host == target
    stored = stored_test_confusion(run_dir, parent_attrs, dataset)

    def record(removed: dict, stop_accuracy, repaired: bool = False) -> None:
        t0 = time.perf_counter()
        val_df = stop_accuracy()
        inputs = layer_input(net, x_test_rows, first) if repaired else test_in
        if not history and stored is not None:  # the parent's: its run measured it; only the class's outputs are new
            confusion = stored
            target_out = forward_from(net, inputs[backend.asarray(on_target)], first)[-1]
        else:
            out = forward_from(net, inputs, first)[-1]
            confusion = confusion_matrix(y_test, out.argmax(axis=1), dataset.n_classes)
            target_out = out[backend.asarray(on_target)]
        last_confusion[0] = confusion
        per_class = per_class_accuracy(confusion)
        right_rest = float(np.trace(confusion) - confusion[target, target])
        snapshot = {"removed": [removed.get(i, 0) for i in range(net.n_layers)],
                    "weights_removed": sum(removed.values()), "df_acc": float(per_class[target]),
                    "dr_acc": right_rest / float(confusion.sum() - confusion[target].sum()), "val_df": val_df,
                    "per_class_accuracy": per_class,
                    "target_outputs": to_host(activate_output(target_out, net.output).mean(axis=0))}
        repair_only = repaired and len(history) > 0 and history[-1]["weights_removed"] == snapshot["weights_removed"]
        history.append(snapshot)
        label = (f"  after repair ({settings.repair_steps} fine-tuning steps on retained images; no weight removed)"
                 if repair_only else "")  # only the SGD repair records a state of its own
        console.say(f"step {len(history) - 1:3d}: removed {snapshot['weights_removed']:6d} "
                    f"({100 * snapshot['weights_removed'] / sum(sizes.values()):.3f}%)  val Df {percent(val_df)}  "
                    f"test Df {percent(snapshot['df_acc'])}  Dr {percent(snapshot['dr_acc'])}{label}")
        backend.synchronize()
        spent[0] += time.perf_counter() - t0

    removed, reached, stop, seconds, rounds, threshold = forget_network(net, settings, layers, dataset.x_train, dataset.y_train,
                                                     dataset.x_val[dataset.y_val == target], target, spec.seed, backend,
                                                     record, train_cfg=spec.train, loss=spec.model.loss)
    seconds -= spent[0]
    final_df = history[-1]["val_df"]  # after the repair, which may finish what pruning alone could not
    if not reached and final_df > settings.target:
        console.warn(f"warning: Df on the class's validation images stayed above {percent(settings.target)}: "
                     f"{STOPS[stop]}")
    elif final_df > settings.target:
        console.warn(f"warning: after {rounds} round{'s' * (rounds > 1)} of pruning and repair, Df on the class's "
                     f"validation images is {percent(history[-1]['val_df'])}, above {percent(settings.target)}: "
                     "the repair gives part of the class back (more --repair-rounds, or fewer --repair-steps)")
    test = evaluation_of(last_confusion[0])  # record's last state is the final network
    before, after = history[0], history[-1]
    removed_fraction = sum(removed.values()) / sum(sizes.values())
    reached = final_df <= settings.target  # what the user asked of the forgotten network, not of the pruning alone
    method = f"forget ({settings.score})"
    models = [("parent", parent, 0, 0.0, "untouched (the no-op control)"),
              (method, net, sum(removed.values()), seconds, f"{100 * removed_fraction:.3f}% of layers "
                                                            f"{','.join(map(str, layers))}")]
    for name in settings.compare:
        console.say(f"comparator {name} ...")
        other, changed, other_seconds, setting = run_comparator(name, parent=parent, spec=spec, dataset=dataset,
                                                                backend=backend, splits=splits, target=target,
                                                                removed=removed, settings=settings, console=console)
        models.append((name, other, changed, other_seconds, setting))

    judged = JudgeSettings.of(settings, settings.evaluate)
    table_rows = []
    if settings.evaluate == "none" and not settings.compare:
        models = []
    else:
        console.say(f"judging {len(models)} models ({settings.evaluate}) ...")
    for row, model in zip(judge_rows([(m[0], m[1]) for m in models], splits=splits, target=target,
                                     n_classes=dataset.n_classes, train_cfg=spec.train, loss=spec.model.loss,
                                     seed=spec.seed, settings=judged), models):
        table_rows.append({**row, "weights_changed": int(model[2]), "seconds": float(model[3]), "setting": model[4]})

    child_spec = dataclasses.replace(spec, forget=settings)
    for row, model in zip(table_rows[2:], models[2:]):
        row["run"] = str(write_comparator_run(root, row, model[1], child_spec, dataset, run_dir, backend, target))
    arrays = {key: [h[key] for h in history] for key in history[0]}
    with runs.new_run(root, f"{spec.name}-forget", phase="forget") as run:
        runs.write_spec(run.tmp, child_spec)
        attrs = runs.run_attrs(child_spec, dataset, phase="forget", parent=run_dir, backend=backend)
        runs.save_model(run.tmp / runs.MODEL_FILE, net, attrs)
        forget_attrs = {"df_accuracy": after["df_acc"], "dr_accuracy": after["dr_acc"], "df_before": before["df_acc"],
                        "dr_before": before["dr_acc"], "target_class": target, "score": settings.score,
                        "method": method, "layers": layers, "removed_fraction": removed_fraction, "reached": reached,
                        "stop": stop, "rounds": rounds, "seconds": seconds, "scoring_images": len(rows),
                        **({"threshold_removed": [threshold.get(i, 0) for i in range(net.n_layers)]} if threshold else {}),
                        "evaluate": settings.evaluate}
        groups_out = {"forget": arrays, "test": {"per_class_accuracy": test.per_class, "confusion": test.confusion},
                      **({"forget/judge": judge_arrays(table_rows)} if table_rows else {})}
        runs.write_metrics(run.tmp / runs.METRICS_FILE, groups_out,
                           {"forget": forget_attrs, "test": {"accuracy": test.accuracy}})
        if table_rows:
            write_text_atomic(run.tmp / COMPARE_FILE, judge_csv(table_rows))
        if table_rows:  # with --evaluate none alone the figure is left to `sparana plot` (matplotlib costs a second)
            from sparana_cli.plots import forget_figure, save_figures

            marks = judge_arrays(table_rows[1:]) if settings.compare else None  # this forgetting, then each comparator
            save_figures({PLOT_FILE: forget_figure(arrays, target, compare=marks)}, run.tmp)
    child = next((r for r in table_rows if r["method"] == method), {})
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
        "probe_recall": child.get("probe_recall"),
        "relearn_steps": child.get("relearn_steps"),
        "anamnesis": child.get("anamnesis"),
        "removed": [removed.get(i, 0) for i in range(net.n_layers)],
        "removed_fraction": removed_fraction,
        "removed_fraction_per_layer": {str(i): removed[i] / sizes[i] for i in layers},
        "reached": reached,
        "stop": stop,
        "rounds": rounds,
        "threshold_removed": [threshold.get(i, 0) for i in range(net.n_layers)] if threshold else None,
        "scoring_images": len(rows),
        "seconds": seconds,
        "seconds_total": time.perf_counter() - started,
        "steps": [{"step": s, "weights_removed": h["weights_removed"], "val_df": h["val_df"], "df": h["df_acc"],
                   "dr": h["dr_acc"]} for s, h in enumerate(history)],
        "judge": [{k: v for k, v in r.items() if k != "relearn_curve"} for r in table_rows],
        "evaluate": settings.evaluate,
        "settings": dataclasses.asdict(settings),
    }


def write_comparator_run(root: Path, row: dict, net: Network, spec, dataset, parent_dir: Path, backend,
                         target: int) -> Path:
    """A comparator's network as a forget run of its own (its parent named), with its judged figures; its folder."""
    method = row["method"]
    with runs.new_run(root, f"{spec.name}-forget-{method.replace('_', '-')}", phase="forget") as run:
        runs.write_spec(run.tmp, spec)
        runs.save_model(run.tmp / runs.MODEL_FILE, net,
                        runs.run_attrs(spec, dataset, phase="forget", parent=parent_dir, backend=backend))
        attrs = {"df_accuracy": row["df"], "dr_accuracy": row["dr"], "target_class": target, "method": method,
                 "setting": row["setting"], "seconds": row["seconds"], "weights_changed": row["weights_changed"]}
        runs.write_metrics(run.tmp / runs.METRICS_FILE,
                           {"test": {"per_class_accuracy": np.asarray(row["per_class_accuracy"])},
                            "forget/judge": judge_arrays([row])},
                           {"forget": attrs, "test": {"accuracy": row["accuracy"]}})
    return run.path


JUDGE_COLUMNS = ("method", "df", "dr", "probe_recall", "relearn_df_10", "relearn_steps", "anamnesis", "mia",
                 "weights_changed", "seconds", "setting")


def judge_arrays(rows: list[dict]) -> dict:
    """The judged table as metrics.h5 arrays: one entry per row, NaN where a figure was not measured."""
    keys = dict.fromkeys(k for r in rows for k in r if k not in ("run", "per_class_accuracy", "relearn_curve"))
    out = {}
    for key in keys:
        values = [r.get(key, float("nan")) for r in rows]
        out[key] = np.asarray(values, dtype="S") if isinstance(values[0], str) else np.asarray(values, dtype=float)
    out["per_class_accuracy"] = np.asarray([r["per_class_accuracy"] for r in rows])
    curves = [r["relearn_curve"] for r in rows if "relearn_curve" in r]
    if len(curves) == len(rows):
        out["relearn_curve"] = np.asarray(curves)
    return out


def judge_csv(rows: list[dict]) -> str:
    """The judged table as CSV text (empty cells where a figure was not measured)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, JUDGE_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({key: row.get(key, "") for key in JUDGE_COLUMNS} for row in rows)
    return out.getvalue()
