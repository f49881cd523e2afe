"""`sparana prune`: score a run's weights, remove the lowest-scored in one or more steps, write a child run.

Settings come from the command line over the parent spec's `prune:` section over the defaults;
the child's spec.yaml records the resolved section. Each step re-scores the current (masked)
network, removes weights, and optionally fine-tunes with the masks held. With shrink, dead hidden
units are then removed and the smaller network is checked to give the same test outputs.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from sparana_cli.analysis.pruning import chosen_matrices, remove_count, remove_to_sparsity, step_counts, target_sparsities
from sparana_cli.analysis.scores import score_layers
from sparana_cli.analysis.shrink import dense_size, live_units, shrink, surviving_weights
from sparana_cli.engine.backend import to_host
from sparana_cli.engine.metrics import accuracy, evaluate_network
from sparana_cli.engine.network import Network
from sparana_cli.engine.sparse import CSRNetwork
from sparana_cli.errors import UserError
from sparana_cli.fitting import device_splits, fit
from sparana_cli.seeding import generator
from sparana_cli.spec import PruneSpec, section_from_options
from sparana_cli.store import runs
from sparana_cli.store.reader import load_run_with_data
from sparana_cli.ui import Console, percent

DATA_METHODS = ("maav", "mav")  # scores that need the layers' inputs
SHRINK_TOLERANCE = 1e-5  # max |shrunk - masked| on the test outputs, relative to max(1, max |output|)
PLOT_FILE = "prune.png"


def resolve_settings(base: PruneSpec, options: dict) -> PruneSpec:
    """The prune section: options that were given (not None) over `base` (the parent spec's section).

    --sparsity and --count are one setting, the amount: giving either replaces both of base's.
    """
    settings = section_from_options(PruneSpec, base, options, "prune", alternatives=("sparsity", "count"))
    if settings.sparsity is None and settings.count is None:
        raise UserError("say how much to prune: --sparsity S or --count N (or prune.sparsity / prune.count in the spec)")
    return settings


def chosen_layers(settings: PruneSpec, n_layers: int) -> list[int]:
    """Weight matrices to prune: --layers, else every hidden layer; the output layer too with include_output."""
    last = n_layers - 1
    layers = chosen_matrices(settings.layers, n_layers, list(range(last)), "prune.layers")
    if settings.include_output and last not in layers:
        layers.append(last)
    if not layers:
        raise UserError("no layer to prune: name some with --layers, or add the output layer with --include-output")
    return layers


def _check_count(settings: PruneSpec, net: Network, layers: list[int]) -> None:
    """A count must not exceed the live weights it is taken from."""
    if settings.count is None:
        return
    live = [int(net.masks[i].sum()) for i in layers]
    if settings.scope == "global" and settings.count >= sum(live):
        raise UserError(f"--count {settings.count}: the pruned layers have only {sum(live)} live weights; "
                        "removing them all would delete the layers")
    for i, n in zip(layers, live):
        if settings.scope != "global" and settings.count >= n:
            raise UserError(f"--count {settings.count}: layer {i} has only {n} live weights; removing them all "
                            "would delete the layer")


def _check_nothing_deleted(settings: PruneSpec, net: Network) -> None:
    """Refuse a result without a whole layer: every weight of a matrix removed, or (shrink) every unit of a layer dead."""
    amount = f"--sparsity {settings.sparsity:g}" if settings.count is None else f"--count {settings.count}"
    for i, m in enumerate(net.masks):
        if not m.any():
            raise UserError(f"{amount}: would remove every weight of layer {i}, cutting the network's input from its "
                            "output; prune less")
    if settings.shrink:
        for i, alive in enumerate(live_units(net.masks)):
            if not alive.any():
                raise UserError(f"--shrink: would remove every unit of hidden layer {i + 1} (no path from input to "
                                f"output survives {amount}); prune less")


def check_options(run_dir: Path, options: dict) -> str:
    """Refuse options that cannot prune the run (UserError), reading only its spec and model; its child's run name."""
    spec = runs.load_run_spec(run_dir)
    net, _ = runs.load_model(run_dir)
    settings = resolve_settings(spec.prune, options)
    _check_count(settings, net, chosen_layers(settings, net.n_layers))
    return f"{spec.name}-prune"


def scoring_rows(n: int, settings: PruneSpec, seed: int) -> np.ndarray | None:
    """Which training images score the weights: None for all, else a seeded subset of `samples` of them."""
    if settings.samples is None:
        return None
    if settings.samples > n:
        raise UserError(f"--samples {settings.samples}: the training split has only {n} images")
    return np.sort(generator(seed, "prune-samples").choice(n, settings.samples, replace=False))


def _removals(settings: PruneSpec, scores: list, masks: list, step: int, plan: list) -> list:
    """Weights to remove at `step` (1-based) of the plan."""
    if settings.count is not None:
        return remove_count(scores, masks, plan[step - 1], scope=settings.scope)
    return remove_to_sparsity(scores, masks, plan[step - 1], scope=settings.scope)


def _snapshot(net: Network, x_test, y_test) -> dict:
    """What one step records: test accuracy, per-layer sparsity and live weights, widths and sizes once shrunk."""
    alive = live_units(net.masks)
    live = [int(m.sum()) for m in net.masks]
    sizes = [net.sizes[0], *(int(a.sum()) for a in alive), net.sizes[-1]]
    return {
        "accuracy": accuracy(net, x_test, y_test),
        "sparsity": [1 - n / m.size for n, m in zip(live, net.masks)],
        "nonzero": live,
        "dead_units": [int((~a).sum()) for a in alive] + [0],
        "widths": sizes[1:-1],
        "parameters": dense_size(sizes),  # weights and biases of the shrunk dense network
        "live_parameters": sum(surviving_weights(net.masks, alive)) + sum(sizes[1:]),  # its live weights and biases
    }


def run_schedule(net: Network, settings: PruneSpec, layers: list[int], spec, splits: dict, x_score,
                 console: Console) -> tuple[list[dict], list[list[int]]]:
    """Prune net in place step by step; return the per-step snapshots (step 0 first) and weights removed."""
    x_test, y_test = splits["test"]
    if settings.count is not None:
        plan = step_counts(settings.count, settings.steps)
    else:
        plan = target_sparsities([net.masks[i] for i in layers], settings.sparsity, settings.steps,
                                 pooled=settings.scope == "global")
    history, removed = [_snapshot(net, x_test, y_test)], [[0] * net.n_layers]
    bar = console.bar(settings.steps, "prune", unit="step")
    for step in range(1, settings.steps + 1):
        scores = score_layers(settings.method, net, x_score, seed=spec.seed)
        gone = _removals(settings, [scores[i] for i in layers], [net.masks[i] for i in layers], step, plan)
        counts = [0] * net.n_layers
        for i, g in zip(layers, gone):
            net.masks[i] = net.masks[i] & ~g
            counts[i] = int(g.sum())
        net.apply_masks()
        if settings.finetune_epochs:
            fit(net, spec, splits["train"], splits["val"], console, epochs=settings.finetune_epochs,
                label=f"step {step}/{settings.steps} fine-tune")
        history.append(_snapshot(net, x_test, y_test))
        removed.append(counts)
        bar.update(1)
        bar.set_postfix(accuracy=percent(history[-1]["accuracy"]))
        if bar.disable and settings.steps > 1:
            console.say(f"step {step}/{settings.steps}: removed {sum(counts)} weights, widths "
                        f"{'-'.join(map(str, history[-1]['widths']))}, test accuracy {percent(history[-1]['accuracy'])}")
    bar.close()
    return history, removed


def shrink_checked(net: Network, x_test) -> tuple[Network, dict]:
    """The shrunk network, after checking that it gives net's outputs on x_test; and what changed."""
    small = shrink(net)
    reference = to_host(net.predict(x_test))
    difference = float(np.abs(to_host(small.predict(x_test)) - reference).max(initial=0.0))
    if difference > SHRINK_TOLERANCE * max(1.0, float(np.abs(reference).max(initial=0.0))):
        raise RuntimeError(f"the shrunk network's outputs differ from the masked network's by {difference:.3g}")
    return small, {"widths_before": net.sizes[1:-1], "widths_after": small.sizes[1:-1],
                   "parameters_before": dense_size(net.sizes), "parameters_after": dense_size(small.sizes),
                   "max_abs_difference": difference}


def prune(run_dir: Path, options: dict, *, root: Path, console: Console, device: str = "auto") -> dict:
    """Prune the run's network as the settings say and write a child run; return the summary."""
    start_time = time.perf_counter()
    run_dir = Path(run_dir).resolve()
    spec, net, _, dataset, backend = load_run_with_data(run_dir, console, device)
    settings = resolve_settings(spec.prune, options)
    layers = chosen_layers(settings, net.n_layers)
    _check_count(settings, net, layers)
    rows = scoring_rows(len(dataset.y_train), settings, spec.seed)
    splits = device_splits(dataset, backend)
    x_score = None
    if settings.method in DATA_METHODS:
        x_score = splits["train"][0] if rows is None else backend.asarray(dataset.x_train[rows], net.dtype)

    amount = f"sparsity {settings.sparsity:g}" if settings.count is None else f"{settings.count} weights"
    console.say(f"pruning layers {', '.join(map(str, layers))} of {run_dir.name} by {settings.method} "
                f"({settings.scope} scope) to {amount} in {settings.steps} step{'s' * (settings.steps > 1)}")
    history, removed = run_schedule(net, settings, layers, spec, splits, x_score, console)
    _check_nothing_deleted(settings, net)
    final, shrink_report = shrink_checked(net, splits["test"][0]) if settings.shrink else (net, None)
    csr_layers = layers if settings.format == "csr" else []
    test = evaluate_network(CSRNetwork(final, csr_layers) if csr_layers else final, *splits["test"], dataset.n_classes)
    seconds = time.perf_counter() - start_time

    child_spec = dataclasses.replace(spec, prune=settings)
    arrays = {key: [h[key] for h in history] for key in history[0]}
    with runs.new_run(root, f"{spec.name}-prune", phase="prune") as run:
        runs.write_spec(run.tmp, child_spec)
        attrs = runs.run_attrs(child_spec, dataset, phase="prune", parent=run_dir, backend=backend)
        runs.save_model(run.tmp / runs.MODEL_FILE, final, attrs, csr_layers=csr_layers)
        runs.write_metrics(
            run.tmp / runs.METRICS_FILE,
            {"prune": {"step": list(range(settings.steps + 1)), "removed": removed, **arrays},
             "test": {"per_class_accuracy": test.per_class, "confusion": test.confusion}},
            {"prune": {"accuracy_before": history[0]["accuracy"], "accuracy_after": test.accuracy,
                       "method": settings.method, "scope": settings.scope, "layers": layers, "seconds": seconds,
                       **({"max_abs_difference": shrink_report["max_abs_difference"]} if shrink_report else {})},
             "test": {"accuracy": test.accuracy}},
        )
        if settings.steps > 1:
            from sparana_cli.plots import prune_figure, save_figures

            save_figures({PLOT_FILE: prune_figure(arrays, title=f"{spec.name}: {settings.method} pruning")}, run.tmp)
    return {
        "run": str(run.path),
        "parent": str(run_dir),
        "method": settings.method,
        "scope": settings.scope,
        "pruned_layers": layers,
        "accuracy_before": history[0]["accuracy"],
        "accuracy_after": test.accuracy,
        "layers": _layer_rows(net, final, layers, history[-1]["dead_units"]),
        "shrink": shrink_report,
        "format": settings.format,
        "settings": dataclasses.asdict(settings),
        "steps": [{"step": s, "accuracy": h["accuracy"], "sparsity": h["sparsity"], "widths": h["widths"],
                   "live_parameters": h["live_parameters"]} for s, h in enumerate(history)],
        "seconds": seconds,
    }


def _layer_rows(net: Network, final: Network, layers: list[int], dead: list[int]) -> list[dict]:
    """Per weight matrix of the pruned (masked) network: shape, live weights, sparsity, dead units."""
    rows = []
    for i, m in enumerate(net.masks):
        live = int(m.sum())
        rows.append({"layer": i, "shape": list(m.shape), "weights": int(m.size), "nonzero": live,
                     "sparsity": 1 - live / m.size, "dead_units": dead[i], "pruned": i in layers,
                     "shrunk_shape": list(final.weights[i].shape)})
    return rows
