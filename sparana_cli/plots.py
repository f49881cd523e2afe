"""PNG figures of a run's metrics: training curves, prune widths, forget and attack curves, per-class accuracy bars.

The one home of plotting: the phases (prune.png, forget.png), `sparana plot` and `sparana sweep`
(summary.png) draw with these functions. They take metrics as arrays and never read a run folder.

Figures are derived files: a pure function of metrics.h5 (and the parent run's), so writing them
into a finished run folder changes none of its results. Each is written to a temporary name and
os.replace'd, so a figure is either the old one or the new one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure  # the object API needs no display and no pyplot state
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter

from sparana_cli.files import atomic_path

X_AXES = ("weights_removed", "removed", "pruned", "ratio", "sparsity", "step")  # a per-step x axis, if a group has one
SKIP_GROUPS = ("train", "test")  # drawn by their own figures
PHASE_FIGURES = ("prune.png", "forget.png")  # drawn by their phase when the run is written
PRUNE_KEYS = {"widths", "live_parameters", "accuracy"}
FORGET_KEYS = {"weights_removed", "df_acc", "dr_acc", "target_outputs"}


def comparator_marks(arrays: dict) -> dict | None:
    """The rows of a forget run's table to mark on forget.png: the forgetting itself first, then each comparator."""
    judge = arrays.get("forget/judge")
    if judge is not None:  # the untouched parent's row comes first; it is the curves' first point
        return {name: values[1:] for name, values in judge.items()}
    return arrays.get("forget/compare")  # runs written before the judged table


def figures(arrays: dict, parent: tuple[str, dict] | None = None, attrs: dict | None = None, *,
            title: str = "", attacks: dict[str, tuple[dict, dict]] | None = None) -> dict[str, Figure]:
    """file name -> figure for every kind of metric present.

    arrays and attrs: metrics.h5's /group/name arrays and its groups' attributes (nested groups keyed
    "forget/compare"). attacks: label -> (attack arrays, attack attrs) of runs to draw beside this
    one's attack curves (e.g. the SCE model's beside the LQ model's).
    """
    out, attrs = {}, attrs or {}
    if "loss" in arrays.get("train", {}):
        out["training.png"] = training_figure(arrays["train"])
    for group, items in sorted(arrays.items()):
        if "/" in group:
            continue  # a part of its parent group's figure
        if group == "forget" and FORGET_KEYS <= items.keys():
            out["forget.png"] = forget_figure(items, attrs.get("forget", {}).get("target_class"),
                                              compare=comparator_marks(arrays))
        elif group == "prune" and PRUNE_KEYS <= items.keys():
            out["prune.png"] = prune_figure(items, title=title or f"{attrs.get('prune', {}).get('method', '')} pruning")
        elif group == "attack" and {"eps", "accuracy"} <= items.keys():
            settings = attrs.get("attack", {})
            out["attack.png"] = attack_figure(attacks or {attack_label(settings): (items, settings)})
        elif group not in SKIP_GROUPS:
            fig = tradeoff_figure(group, items)
            if fig is not None:
                out[f"{group}.png"] = fig
    per_class = arrays.get("test", {}).get("per_class_accuracy")
    if per_class is not None:
        parent_bars = None
        if parent is not None and "per_class_accuracy" in parent[1].get("test", {}):
            parent_bars = (parent[0], parent[1]["test"]["per_class_accuracy"])
        out["per_class.png"] = per_class_figure(per_class, parent_bars)
    return out


def training_figure(train: dict) -> Figure:
    """Loss, and train and validation accuracy, per epoch."""
    fig = Figure(figsize=(9, 3.6), layout="constrained")
    loss_ax, acc_ax = fig.subplots(1, 2)
    epochs = np.arange(1, len(train["loss"]) + 1)
    loss_ax.plot(epochs, train["loss"], marker="o", ms=3)
    loss_ax.set(xlabel="epoch", ylabel="training loss", title="loss")
    for key, label in (("train_accuracy", "train (batches as seen)"), ("val_accuracy", "validation")):
        if key in train and len(train[key]) == len(epochs):
            acc_ax.plot(epochs, 100 * np.asarray(train[key]), marker="o", ms=3, label=label)
    acc_ax.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    acc_ax.legend(loc="lower right")
    for ax in (loss_ax, acc_ax):
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return fig


def tradeoff_figure(group: str, items: dict) -> Figure | None:
    """Every per-step curve of a phase (e.g. forget: df_acc and dr_acc) against its x axis; None if it has none."""
    curves = {k: np.asarray(v) for k, v in items.items()
              if np.ndim(v) == 1 and len(v) >= 2 and np.issubdtype(np.asarray(v).dtype, np.number)
              and not k.startswith("per_class")}
    x_name = next((name for name in X_AXES if name in curves), None)
    x = curves.pop(x_name) if x_name else None
    curves = {k: v for k, v in curves.items() if x is None or len(v) == len(x)}
    if not curves:
        return None
    fig = Figure(figsize=(6.5, 4), layout="constrained")
    ax = fig.subplots()
    for name, values in curves.items():
        ax.plot(np.arange(len(values)) if x is None else x, values, marker="o", ms=3, label=name)
    ax.set(xlabel=x_name or "step", ylabel="value", title=f"{group}: trade-off")
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def forget_figure(forget: dict, target: int | None = None, compare: dict | None = None) -> Figure:
    """Df and Dr against weights removed (left); the mean output vector over the target's test images (right).

    The right panel shows what forgetting does to the outputs: the target's falls while others rise.
    compare (the comparison table as arrays: method, df, dr, ...) marks each comparator's final Df
    (filled) and Dr (hollow) at the number of weights the forgetting removed.
    """
    removed = np.asarray(forget["weights_removed"])
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    acc_ax, out_ax = fig.subplots(1, 2)
    acc_ax.plot(removed, 100 * np.asarray(forget["df_acc"]), marker="o", ms=3, label="Df: target class (test)")
    acc_ax.plot(removed, 100 * np.asarray(forget["dr_acc"]), marker="o", ms=3, label="Dr: other classes (test)")
    for key, where in (("val_df", "validation"), ("train_df", "training")):  # train_df: runs written before
        if key in forget:
            acc_ax.plot(removed, 100 * np.asarray(forget[key]), ls="--", color="0.5",
                        label=f"target's {where} images (stop rule)")
    if compare is not None and len(compare.get("method", ())) > 1:
        x = removed[-1]
        for k, (method, df, dr) in enumerate(zip(compare["method"], compare["df"], compare["dr"])):
            if k == 0:
                continue  # the first row is this forgetting itself: the curves' last point
            name = method.decode() if isinstance(method, bytes) else str(method)
            mark = "sDv^P*X"[(k - 1) % 7]
            color = f"C{k + 2}"
            acc_ax.plot([x], [100 * float(df)], marker=mark, ms=8, ls="none", color=color, label=f"{name}: Df")
            acc_ax.plot([x], [100 * float(dr)], marker=mark, ms=8, ls="none", mfc="none", color=color, label=f"{name}: Dr")
    acc_ax.set(xlabel="weights removed", ylabel="accuracy (%)", title="forgetting trade-off", ylim=(-3, 103))
    acc_ax.legend(fontsize="small")
    outputs = np.asarray(forget["target_outputs"])
    for c in range(outputs.shape[1]):
        is_target = target is not None and c == int(target)
        out_ax.plot(removed, outputs[:, c], lw=2.5 if is_target else 1, color="black" if is_target else None,
                    label=f"output {c}" + (" (target)" if is_target else ""))
    out_ax.set(xlabel="weights removed", ylabel="mean output", title="outputs on the target's test images")
    out_ax.legend(fontsize="small", ncols=2)
    for ax in (acc_ax, out_ax):
        ax.grid(alpha=0.3)
    return fig


def prune_figure(prune: dict, *, title: str) -> Figure:
    """Each hidden layer's width (left) and test accuracy (right) against live parameters, step by step.

    prune holds per-step arrays: "widths" (steps, hidden layers), "accuracy", "live_parameters".
    """
    size = np.asarray(prune["live_parameters"])
    widths = np.asarray(prune["widths"]).reshape(len(size), -1)
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    left, right = fig.subplots(1, 2)
    for j in range(widths.shape[1]):
        left.plot(size, widths[:, j], marker=".", label=f"hidden layer {j + 1}")
    left.set(xscale="log", xlabel="live parameters (weights + biases, after removing dead units)",
             ylabel="units", title="layer widths")
    left.invert_xaxis()
    left.legend()
    right.plot(size, 100 * np.asarray(prune["accuracy"]), marker=".", color="black")
    right.set(xscale="log", xlabel="live parameters", ylabel="test accuracy (%)", title="accuracy")
    right.invert_xaxis()
    for ax in (left, right):
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    return fig


def attack_label(settings: dict) -> str:
    loss = settings.get("loss", "")
    kind = {"quadratic": "LQ", "cross_entropy": "SCE"}.get(loss, loss)
    return f"{kind} model, {settings.get('method', 'attack')}".strip(", ")


def attack_figure(series: dict[str, tuple[dict, dict]]) -> Figure:
    """Accuracy and fooled rate against eps, one panel per model (e.g. LQ and SCE side by side), shared axes.

    series: label -> (attack arrays with eps, accuracy, fooled_rate; attack attrs with clean_accuracy).
    """
    fig = Figure(figsize=(5.2 * len(series) + 0.8, 4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(series), sharey=True, squeeze=False)[0])
    for ax, (label, (items, settings)) in zip(axes, series.items()):
        eps = np.asarray(items["eps"], dtype=float)
        ax.plot(eps, 100 * np.asarray(items["accuracy"]), marker="o", ms=4, label="accuracy")
        if "fooled_rate" in items:
            ax.plot(eps, 100 * np.asarray(items["fooled_rate"]), marker="s", ms=4, ls="--", label="fooled rate")
        clean = settings.get("clean_accuracy")
        if clean is not None:
            ax.axhline(100 * float(clean), color="0.6", lw=1, ls=":", label="clean accuracy")
        ax.set(xlabel="eps (L-infinity radius, pixel units)", title=label, ylim=(-3, 103))
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    axes[0].set_ylabel("% of test images")
    return fig


def summary_figure(points: list[dict], keys: list[str], metric: str) -> Figure:
    """A sweep's headline metric (mean, with a bar of one std) against each swept key, one panel per key.

    points: rows of summary.csv (key values, f"{metric}_mean", f"{metric}_std"); when other keys
    vary too, each of their combinations is its own line.
    """
    fig = Figure(figsize=(5 * max(1, len(keys)) + 0.5, 3.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, max(1, len(keys)), squeeze=False)[0])
    for ax, key in zip(axes, keys):
        others = [k for k in keys if k != key]
        lines: dict[tuple, list] = {}
        for p in points:
            lines.setdefault(tuple(str(p[k]) for k in others), []).append(p)
        for label, rows in lines.items():
            ticks = [str(p[key]) for p in rows]
            numeric = all(_is_number(t) for t in ticks)
            x = [float(t) for t in ticks] if numeric else np.arange(len(ticks))
            ax.errorbar(x, [p[f"{metric}_mean"] for p in rows], yerr=[p[f"{metric}_std"] or 0 for p in rows],
                        marker="o", ms=4, capsize=3, label=", ".join(f"{k}={v}" for k, v in zip(others, label)) or None)
            if numeric and min(x) > 0 and max(x) >= 10 * min(x):  # a learning rate's 1e-4..0.3: spread, not piled at 0
                ax.set_xscale("log")
                ax.minorticks_off()
            if not numeric or ax.get_xscale() == "log":  # a tick at every swept value, each readable
                ax.set_xticks(x, [f"{float(t):g}" if numeric else t for t in ticks],
                              rotation=30 if len(ticks) > 4 else 0, ha="right" if len(ticks) > 4 else "center")
        ax.set(xlabel=key, ylabel=metric, title=f"{metric} against {key}")
        ax.grid(alpha=0.3)
        if others:
            ax.legend(fontsize="small")
    return fig


def seeds_figure(rows: list[dict], seed_key: str, metric: str, mean: float, std: float | None) -> Figure:
    """A seeds-only sweep: the metric of each run against its seed, with the mean and a band of one std."""
    done = [r for r in rows if r.get("status") == "completed" and _is_number(str(r.get(metric, "")))]
    seeds, values = [str(r[seed_key]) for r in done], [float(r[metric]) for r in done]
    fig = Figure(figsize=(5.5, 3.8), layout="constrained")
    ax = fig.subplots()
    x = np.arange(len(seeds))
    ax.plot(x, values, "o", ms=5, label="one run per seed")
    ax.axhline(mean, color="C1", label=f"mean {mean:.4g}" + (f", std {std:.2g}" if std is not None else ""))
    if std is not None:
        ax.axhspan(mean - std, mean + std, color="C1", alpha=0.15)
    ax.set_xticks(x, seeds, rotation=30 if len(seeds) > 8 else 0)
    ax.set(xlabel=seed_key, ylabel=metric, title=f"{metric} over {len(done)} seeds")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def per_class_figure(per_class, parent: tuple[str, np.ndarray] | None = None) -> Figure:
    """Test accuracy per class as bars, beside the parent run's when there is one."""
    per_class = 100 * np.asarray(per_class, dtype=float)
    classes = np.arange(len(per_class))
    fig = Figure(figsize=(7, 3.6), layout="constrained")
    ax = fig.subplots()
    width = 0.4 if parent is not None else 0.8
    if parent is not None:
        ax.bar(classes - width / 2, 100 * np.asarray(parent[1], dtype=float), width, label=f"parent {parent[0]}",
               color="0.7")
    ax.bar(classes + (width / 2 if parent is not None else 0), per_class, width, label="this run")
    ax.set(xlabel="class", ylabel="test accuracy (%)", title="accuracy per class", xticks=classes, ylim=(0, 105))
    ax.grid(axis="y", alpha=0.3)
    if parent is not None:
        fig.legend(loc="outside lower center", ncols=2)
    return fig


def save_figures(figs: dict[str, Figure], folder: Path) -> list[Path]:
    """Write each figure as folder/<name> (atomically); return the paths."""
    written = []
    for name, fig in figs.items():
        path = Path(folder) / name
        with atomic_path(path) as part:
            fig.savefig(part, format="png", dpi=110)
        written.append(path)
    return written


def ticket_figure(points: list[dict]) -> Figure:
    """The lottery-ticket picture: test accuracy and early-stop step (mean, bar of one std over seeds) against the
    percent of weights remaining on a log axis, one line per criterion and variant.

    points: rows of a ticket summary (criterion, variant, remaining, test_accuracy_mean/_std, early_stop_step_mean/_std).
    """
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    axes = fig.subplots(1, 2)
    lines: dict[tuple, list] = {}
    for p in points:
        lines.setdefault((p["criterion"], p["variant"]), []).append(p)
    criteria = sorted({criterion for criterion, _ in lines})
    for (criterion, variant), rows in sorted(lines.items()):
        rows = sorted(rows, key=lambda p: -p["remaining"])
        x = [100 * p["remaining"] for p in rows]
        style = {"ticket": "-", "reinit": "--", "random": ":"}.get(variant, "-")
        color = f"C{criteria.index(criterion)}"  # one colour per criterion, one line style per variant
        for ax, key, scale in ((axes[0], "test_accuracy", 100), (axes[1], "early_stop_step", 1)):
            ax.errorbar(x, [scale * p[f"{key}_mean"] for p in rows], yerr=[scale * p[f"{key}_std"] for p in rows],
                        marker="o", ms=3, capsize=2, linestyle=style, color=color, label=f"{criterion} {variant}")
    lowest = min((100 * p["remaining"] for p in points), default=100)
    for ax, label in ((axes[0], "test accuracy (%)"), (axes[1], "early-stop step (best validation accuracy)")):
        ax.set_xscale("log")
        ax.set_xticks([t for t in (100, 50, 20, 10, 5, 2, 1, 0.5, 0.2, 0.1) if t >= lowest / 2])
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.invert_xaxis()
        ax.set(xlabel="weights remaining (%)", ylabel=label)
        ax.grid(alpha=0.3, which="both")
    axes[0].legend(fontsize="small")
    return fig
