"""Experiment specs: YAML into typed, validated sections, with `key=value` overrides.

Each section is one small frozen dataclass whose fields carry a default, a one-line doc and,
where it matters, the range a value must lie in. `build` walks the type hints, so adding a
section (prune, forget, ...) is adding one dataclass and one field on `Spec`. Every error
names the full key path (`train.lr: must be > 0, got -1`).
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import re
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from sparana_cli.errors import UserError
from sparana_cli.yamlfile import parse_yaml, read_yaml  # noqa: F401  (read_yaml: the spec's readers use it from here)

RUN_NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}"  # a file name's characters, at most 100: no separators, no dot first
MAX_SEED = 2**32 - 1  # every seed fits model.h5's integer attribute and every generator
_BOUNDS = re.compile(r"^\s*([\[(])\s*(\S+)\s*,\s*(\S+)\s*([\])])\s*$")


def setting(default: Any, doc: str, *, bounds: str | None = None, pattern: str | None = None):
    """A spec field: default, one-line doc, optional interval like "(0, inf)" and regex."""
    meta = {"doc": doc, "bounds": bounds, "pattern": pattern}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


def section(cls: type, doc: str):
    """A nested section of the spec, defaulting to the section's own defaults."""
    return field(default_factory=cls, metadata={"doc": doc})


class SpecInvalid(Exception):
    """A value that does not fit its key; `key` is the path relative to where it was raised."""

    def __init__(self, key: str, message: str):
        super().__init__(f"{key}: {message}")
        self.key, self.message = key, message


# ---------------------------------------------------------------------------------------------
# Sections
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DataKeys:
    x_train: str = setting("x_train", "training features (NPZ key or HDF5 dataset path)")
    y_train: str = setting("y_train", "training labels, integers 0..C-1")
    x_test: str = setting("x_test", "test features")
    y_test: str = setting("y_test", "test labels")
    x_val: str = setting("x_val", "validation features, used when present (else data.validation is held out)")
    y_val: str = setting("y_val", "validation labels, used with x_val")


@dataclass(frozen=True)
class DataSpec:
    name: str = setting("mnist", "the data set's name: mnist, fashion-mnist, kmnist, emnist-balanced, or your own",
                        pattern=r"[A-Za-z0-9][A-Za-z0-9._-]*")
    format: Literal["idx", "npz", "csv", "hdf5"] = setting("idx", "file format of data.path")
    path: str | None = setting(
        None, "idx: folder of the four IDX files (null: $SPARANA_DATA/<name>, then the built-in source); "
              "npz, csv, hdf5: the file"
    )
    test_path: str | None = setting(None, "csv: the test file; null: data.test_fraction of data.path is held out")
    test_fraction: float = setting(0.2, "csv without test_path: fraction held out (fixed, not seeded) as the test set",
                                   bounds="(0, 0.5]")
    label_column: int | str = setting("label", "csv: the label column's header name, or its 0-based index "
                                               "(negative: from the end) in a file without a header row")
    keys: DataKeys = section(DataKeys, "npz keys or hdf5 dataset paths of the arrays")
    normalize: Literal["none", "unit", "standard"] = setting(
        "unit", "features as floats: none; unit: x/255 for uint8, else min-max to [0, 1]; standard: (x-mean)/std "
                "per feature, both from the training split")
    validation: float = setting(
        0.1, "fraction of the training files held out (seeded) for validation", bounds="[0, 0.5]"
    )

    def __post_init__(self):
        if self.format != "idx" and self.path is None:
            raise SpecInvalid("path", f"format {self.format} needs data.path, the {self.format} file to read")
        if self.test_path is not None and self.format != "csv":
            raise SpecInvalid("test_path", f"only format csv takes a separate test file; {self.format} holds its own")


@dataclass(frozen=True)
class ModelSpec:
    hidden: list[int] = setting([1000, 800, 400], "widths of the ReLU hidden layers", bounds="[1, inf)")
    output: Literal["linear", "softmax"] = setting("linear", "activation of the output layer")
    loss: Literal["quadratic", "cross_entropy"] = setting(
        "quadratic", "cost: quadratic 1/2|y-t|^2 (LQ) or cross_entropy on the softmax (SCE)"
    )
    init: Literal["xavier"] = setting("xavier", "weight initialisation (Glorot uniform)")
    bias: float = setting(0.1, "initial value of every bias")
    dtype: Literal["float32", "float64"] = setting("float32", "floating-point type of weights and activations")

    def __post_init__(self):
        if self.loss == "cross_entropy" and self.output != "softmax":
            raise SpecInvalid("output", "loss cross_entropy needs output: softmax")


@dataclass(frozen=True)
class TrainableSpec:
    method: Literal["all", "maav", "magnitude", "random"] = setting(
        "all", "which weights train: all, or per layer the top `fraction` by maav or magnitude, or a random subset"
    )
    fraction: float = setting(0.01, "share of each layer's weights that train when method is not all", bounds="(0, 1]")


@dataclass(frozen=True)
class SparseSpec:
    method: Literal["none", "static", "set", "rigl"] = setting(
        "none", "dynamic sparse training: none (dense); static (a fixed random mask); set (drop the smallest, regrow "
                "at random); rigl (drop the smallest, regrow where the dense gradient is largest)")
    density: float = setting(0.1, "share of all weights that exist, spread over the layers by `distribution`",
                             bounds="(0, 1]")
    densities: list[float] | None = setting(None, "one density per weight matrix instead of density and distribution",
                                            bounds="(0, 1]")
    distribution: Literal["uniform", "erk"] = setting(
        "erk", "uniform: every layer at `density`; erk: density proportional to (n_in + n_out) / (n_in * n_out)")
    update_every: int = setting(100, "steps between mask updates (delta T)", bounds="[1, inf)")
    drop_fraction: float = setting(0.3, "share of each layer's live weights dropped at the first update (alpha)",
                                   bounds="(0, 1)")
    end_fraction: float = setting(0.75, "mask updates stop after this share of the training steps (T_end); the drop "
                                        "fraction decays as alpha/2 (1 + cos(pi t / T_end))", bounds="(0, 1]")


@dataclass(frozen=True)
class TrainSpec:
    optimizer: Literal["sgd", "adam"] = setting("adam", "update rule")
    lr: float = setting(1e-4, "learning rate", bounds="(0, inf)")
    momentum: float = setting(0.0, "SGD momentum", bounds="[0, 1)")
    beta1: float = setting(0.9, "Adam first-moment decay", bounds="[0, 1)")
    beta2: float = setting(0.999, "Adam second-moment decay", bounds="[0, 1)")
    eps: float = setting(1e-8, "Adam denominator epsilon", bounds="(0, inf)")
    batch_size: int = setting(250, "samples per step", bounds="[1, inf)")
    epochs: int = setting(10, "passes over the training split", bounds="[1, inf)")
    l1: float = setting(0.0, "L1 penalty on weights (added to the gradient as l1*sign(W))", bounds="[0, inf)")
    l2: float = setting(0.0, "L2 penalty on weights (added to the gradient as l2*W)", bounds="[0, inf)")
    dropout: float = setting(0.0, "dropout rate on hidden activations during training", bounds="[0, 1)")
    clip: float | None = setting(None, "clip the global gradient norm to this value; null: no clipping", bounds="(0, inf)")
    trainable: TrainableSpec = section(TrainableSpec, "train a subset of the weights; the rest and all biases stay frozen")
    rewind_step: int | None = setting(
        None, "keep the initial weights and those after this many steps in rewind.h5 (lottery-ticket rewinding; "
              "0: the initial weights only); null: keep none", bounds="[0, inf)")
    sparse: SparseSpec = section(SparseSpec, "dynamic sparse training: the network is sparse from the first step")

    def __post_init__(self):
        if self.sparse.method != "none" and self.trainable.method != "all":
            raise SpecInvalid("sparse.method", "dynamic sparse training needs train.trainable.method: all")


@dataclass(frozen=True)
class PruneSpec:
    method: Literal["maav", "magnitude", "mav", "random", "positive", "negative"] = setting(
        "maav", "score by which the lowest-scored live weights are removed"
    )
    sparsity: float | None = setting(
        None, "fraction of each pruned layer that is zero afterwards (earlier pruning counts)", bounds="[0, 1)"
    )
    count: int | None = setting(None, "weights removed per pruned layer (in all, for scope global); instead of sparsity",
                                bounds="[0, inf)")
    layers: list[int] | None = setting(None, "weight matrices to prune, 0-based; null: every hidden layer", bounds="[0, inf)")
    include_output: bool = setting(False, "prune the output layer as well")
    scope: Literal["layer", "global", "row", "column"] = setting(
        "layer", "rank within each layer, across the pruned layers, within each input row, or each output column"
    )
    samples: int | None = setting(None, "score on a seeded subset of this many training images; null: all", bounds="[1, inf)")
    steps: int = setting(1, "reach the target in this many equal steps, re-scoring after each", bounds="[1, inf)")
    finetune_epochs: int = setting(0, "training epochs after each step, pruned weights held at zero", bounds="[0, inf)")
    shrink: bool = setting(False, "remove dead hidden units, folding constant ones into the next bias")
    format: Literal["dense", "csr"] = setting("dense", "how model.h5 stores the pruned layers")

    def __post_init__(self):
        if self.sparsity is not None and self.count is not None:
            raise SpecInvalid("count", "give sparsity or count, not both")


@dataclass(frozen=True)
class TicketSpec:
    rounds: int = setting(5, "prune-rewind-retrain rounds after the dense training", bounds="[1, inf)")
    rate: float = setting(0.2, "share of each hidden layer's surviving weights pruned per round", bounds="(0, 1)")
    output_rate: float | None = setting(None, "the same for the output layer; null: rate / 2", bounds="[0, 1)")
    criterion: Literal["magnitude", "maav", "mav", "random", "positive", "negative"] = setting(
        "magnitude", "score by which the lowest-scored surviving weights are pruned (as prune.method)")
    controls: list[Literal["reinit", "random"]] = setting(
        ["reinit", "random"], "controls trained beside each round: reinit (the same mask, fresh random weights) and "
                              "random (a random mask with the same per-layer sparsity, rewound weights)")
    samples: int | None = setting(None, "maav and mav score on a seeded subset of this many training images; null: all",
                                  bounds="[1, inf)")
    eval_every: int | None = setting(None, "validation accuracy every this many steps (the early-stop curve); "
                                           "null: once per epoch", bounds="[1, inf)")


@dataclass(frozen=True)
class AttackSpec:
    method: Literal["fgsm", "pgd"] = setting("fgsm", "fgsm: one signed gradient step; pgd: projected gradient descent")
    eps: list[float] = setting([0.05, 0.1, 0.2], "L-infinity radii of the attack, in pixel units ([0, 1] images)",
                               bounds="[0, 1]")
    loss: Literal["model", "cross_entropy"] = setting(
        "model", "loss the attack raises: model: the model's own training loss; cross_entropy: softmax "
                 "cross-entropy of the outputs taken as logits (the same objective for LQ and SCE models)")
    steps: int = setting(10, "PGD steps", bounds="[1, inf)")
    step_scale: float = setting(2.5, "PGD step = step_scale * eps / steps (2.5: Madry et al.)", bounds="(0, inf)")
    random_start: bool = setting(True, "PGD starts from a uniform random point of the eps-ball")
    samples: int | None = setting(None, "attack a seeded random subset of this many test images; null: all",
                                  bounds="[1, inf)")
    batch_size: int = setting(500, "images per gradient batch", bounds="[1, inf)")

    def __post_init__(self):
        if not self.eps:
            raise SpecInvalid("eps", "expected at least one radius, e.g. [0.05, 0.1]")


@dataclass(frozen=True)
class ForgetSpec:
    target_class: int | None = setting(None, "the class to forget (--class)", bounds="[0, inf)")
    score: Literal["probe", "taylor_disc", "taylor", "diff", "maxother", "ratio", "taylor_probe"] = setting(
        "probe", "which weights go first (the highest-scored; see the README)"
    )
    layers: list[int] | None = setting(
        None, "weight matrices to prune, 0-based; null: every one but the output for score probe and taylor_probe, "
              "the hidden-to-hidden ones (the seed's) for the others", bounds="[0, inf)")
    step: int | None = setting(None, "weights removed from each pruned layer per step; instead of step_fraction",
                               bounds="[1, inf)")
    step_fraction: float | None = setting(
        None, "fraction of each pruned layer removed per step; null (and step null): 0.0006", bounds="(0, 1]")
    rescore: Literal["never", "every_step"] = setting(
        "never", "never: score the parent once, prune the shortest prefix of each layer's ranking that meets the "
                 "target (grown by step_growth, then bisected); every_step: re-score after every step (the earlier "
                 "default)")
    step_growth: float = setting(1.0, "rescore every_step: multiply the step by this after every step until the "
                                      "target is met", bounds="[1, inf)")
    search_growth: float = setting(2.0, "rescore never: multiply the pruned fraction by this until the target is "
                                        "met (and once more per repair round that gives the class back)",
                                   bounds="(1, inf)")
    bisections: int = setting(3, "rescore never: bisection steps between the last fraction that missed the target "
                                 "and the first that met it", bounds="[0, inf)")
    target: float = setting(0.01, "stop once accuracy on the class's validation images is at most this",
                            bounds="[0, 1]")
    max_fraction: float = setting(0.05, "never remove more than this fraction of the pruned layers", bounds="(0, 1]")
    overshoot: float = setting(
        2.0, "once the target is met after removing R weights of a layer, go on until overshoot x R are gone",
        bounds="[1, inf)")
    overshoot_steps: int = setting(1, "remove the overshoot in this many equal steps, re-scoring before each",
                                   bounds="[1, inf)")
    samples: int | None = setting(
        300, "score on this many training images of each other class (seeded; the class itself: all); null: all",
        bounds="[1, inf)")
    target_samples: int | None = setting(
        300, "rescore never: score on this many training images of the class (seeded); null: all", bounds="[1, inf)")
    repair: Literal["features", "readout", "sgd", "none"] = setting(
        "features", "after pruning, mend the other classes: features (refit the hidden layers above the first pruned "
                    "one, then the output layer, in closed form on the scoring images), readout (the output layer "
                    "alone, toward the parent's outputs), sgd (repair_steps fine-tuning steps, the earlier default), "
                    "none; with rescore every_step only sgd repairs")
    shift: float = setting(1.5, "repair features: move the class's images at each refit hidden layer this many times "
                                "the way from the class's mean to the mixture of the classes they resemble",
                           bounds="[0, inf)")
    repair_steps: int = setting(100, "after pruning, fine-tune this many steps of 100 retained training images "
                                     "(never the class; masks held) to mend the other classes (repair sgd); 0: none",
                                bounds="[0, inf)")
    repair_rounds: int = setting(8, "prune and repair again, up to this many rounds in all, while the repair gives "
                                    "the class back (Df on its validation images above target)", bounds="[1, inf)")
    ratio_alpha: float = setting(1.0, "score ratio: a weight qualifies where MAAV_target > ratio_alpha x MAAV_rest",
                                 bounds="(0, inf)")
    evaluate: Literal["none", "quick", "full"] = setting(
        "quick", "how the result is judged: none; quick (last hidden layer's probe, few-shot relearning); "
                 "full (every hidden layer's probe, membership attack, three relearning draws)")
    probe_samples: int = setting(10_000, "training images (all classes, seeded) the linear probes are fit on",
                                 bounds="[10, inf)")
    relearn_shots: int = setting(100, "few-shot relearning: training images of the class", bounds="[1, inf)")
    relearn_others: int = setting(900, "few-shot relearning: training images of the other classes", bounds="[0, inf)")
    relearn_steps: int = setting(100, "few-shot relearning: fine-tuning steps of 100 images (Adam as in train)",
                                 bounds="[1, inf)")
    compare: list[Literal["retrain", "random", "magnitude", "ssd", "ssd_fixed", "project", "salun", "finetune",
                          "head"]] = setting(
        [], "comparators to run and judge beside the forgetting (retrain, random, magnitude, ssd, ssd_fixed, project, "
            "salun, finetune, head)")
    relearn_epochs: int | None = setting(
        None, "ignored: the retain-only relearn test of runs written before judging existed (it erases a class "
              "from any network, so it tests nothing); kept so that their specs still load", bounds="[0, inf)")
    ssd_alpha: float = setting(10.0, "ssd_fixed selection: dampen where forget importance > ssd_alpha x full importance",
                               bounds="(0, inf)")
    ssd_lambda: float = setting(1.0, "ssd_fixed dampening: multiply by min(ssd_lambda x full / forget importance, 1)",
                                bounds="(0, inf)")

    def __post_init__(self):
        if self.step is not None and self.step_fraction is not None:
            raise SpecInvalid("step_fraction", "give step or step_fraction, not both")


@dataclass(frozen=True)
class Spec:
    name: str = setting("experiment", "run name; folders are runs/<name>-<time>", pattern=RUN_NAME_PATTERN)
    seed: int = setting(0, "seed for initialisation, data split, shuffling and dropout", bounds=f"[0, {MAX_SEED}]")
    device: Literal["auto", "cpu", "gpu"] = setting("auto", "auto: the GPU when CuPy finds one, else the CPU")
    data: DataSpec = section(DataSpec, "where the data comes from")
    model: ModelSpec = section(ModelSpec, "network shape and cost")
    train: TrainSpec = section(TrainSpec, "optimisation")
    prune: PruneSpec = section(PruneSpec, "pruning settings for 'sparana prune' (its options take precedence)")
    attack: AttackSpec = section(AttackSpec, "adversarial attack (sparana attack)")
    forget: ForgetSpec = section(ForgetSpec, "settings for 'sparana forget' (its options take precedence)")
    ticket: TicketSpec = section(TicketSpec, "lottery tickets: iterative pruning with rewinding (sparana ticket)")


# ---------------------------------------------------------------------------------------------
# Building and checking
# ---------------------------------------------------------------------------------------------


def build(cls: type, raw: Any, path: str = ""):
    """Validate a mapping into dataclass `cls`; raise SpecInvalid naming the full key path."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise SpecInvalid(path or "spec", f"expected a mapping of keys, got {_shown(raw)}")
    hints = get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for key in raw:
        if key not in names:
            raise SpecInvalid(_join(path, str(key)), "unknown key" + _did_you_mean(str(key), names, path))
    values = {}
    for f in dataclasses.fields(cls):
        if f.name in raw:
            key = _join(path, f.name)
            values[f.name] = _convert(raw[f.name], hints[f.name], key)
            _check_value(values[f.name], f.metadata, key)
    try:
        return cls(**values)
    except SpecInvalid as err:
        raise SpecInvalid(_join(path, err.key), err.message) from None


def _convert(value: Any, tp: Any, key: str):
    origin = get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return build(tp, value, key)
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return _convert(value, inner[0], key)
        for option in inner:  # e.g. int | str: the first type the value fits
            try:
                return _convert(value, option, key)
            except SpecInvalid:
                continue
        raise SpecInvalid(key, f"expected {' or '.join(t.__name__ for t in inner)}, got {_shown(value)}")
    if origin is Literal:
        choices = get_args(tp)
        if value not in choices:
            hint = _did_you_mean(str(value), choices, "") if isinstance(value, str) else ""
            raise SpecInvalid(key, f"expected one of {', '.join(map(str, choices))}, got {_shown(value)}{hint}")
        return value
    if origin is list:
        (inner,) = get_args(tp)
        if not isinstance(value, list):
            raise SpecInvalid(key, f"expected a list, got {_shown(value)}")
        return [_convert(v, inner, f"{key}[{i}]") for i, v in enumerate(value)]
    if tp is bool:
        if not isinstance(value, bool):
            raise SpecInvalid(key, f"expected true or false, got {_shown(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecInvalid(key, f"expected an integer, got {_shown(value)}")
        return value
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads `1e-4` (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                raise SpecInvalid(key, f"expected a number, got {_shown(value)}") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SpecInvalid(key, f"expected a number, got {_shown(value)}")
        if not math.isfinite(value):
            raise SpecInvalid(key, f"expected a finite number, got {value}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise SpecInvalid(key, f"expected a string, got {_shown(value)}")
        return value
    raise AssertionError(f"spec field {key} has an unsupported type {tp!r}")


def _check_value(value: Any, meta: Any, key: str) -> None:
    items = value if isinstance(value, list) else [value]
    for i, item in enumerate(items):
        where = f"{key}[{i}]" if isinstance(value, list) else key
        if meta.get("bounds") and isinstance(item, (int, float)):
            _check_bounds(item, meta["bounds"], where)
        if meta.get("pattern") and isinstance(item, str) and not re.fullmatch(meta["pattern"], item):
            raise SpecInvalid(where, f"{_clipped(item)} is not allowed: use at most 100 letters, digits, '.', '_' "
                                     "and '-', starting with a letter or digit")


def _check_bounds(value: float, bounds: str, key: str) -> None:
    match = _BOUNDS.match(bounds)
    assert match, f"bad bounds {bounds!r}"
    left, lo, hi, right = match.groups()
    lo_v, hi_v = float(lo), float(hi)
    too_low = value < lo_v or (left == "(" and value == lo_v)
    too_high = value > hi_v or (right == ")" and value == hi_v)
    if too_low or too_high:
        if hi_v == math.inf:
            need = f"must be {'>' if left == '(' else '>='} {lo}"
        else:
            need = f"must lie in {bounds.strip()}"
        raise SpecInvalid(key, f"{need}, got {value}")


def _clipped(text: str, width: int = 40) -> str:
    """repr(text), cut to `width` characters: an error line stays one readable line."""
    shown = repr(text)
    return shown if len(shown) <= width else f"{shown[:width - 5]}...' ({len(text)} characters)"


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _shown(value: Any) -> str:
    return "nothing (null)" if value is None else f"{value!r} ({type(value).__name__})"


def _did_you_mean(word: str, options, path: str) -> str:
    close = difflib.get_close_matches(word, [str(o) for o in options], n=1, cutoff=0.6)
    return f" (did you mean {_join(path, close[0])}?)" if close else ""


def section_from_options(cls: type, base, options: dict, section_name: str, *, alternatives: tuple[str, ...] = (),
                         option_names: dict[str, str] | None = None):
    """A command's section: the options that were given (not None) over `base` (the parent spec's section).

    `alternatives` are keys that form one setting (e.g. sparsity and count): giving one of them
    replaces all of base's. Errors name the spec key, and the option too when it was given
    (--key-name, or option_names[key]): "--eps (attack.eps[1]): must lie in [0, 1], got 1.5".
    """
    names = option_names or {}

    def _option(key: str) -> str:
        return names.get(key, f"--{key.replace('_', '-')}")

    given = {key: value for key, value in options.items() if value is not None}
    both = [key for key in alternatives if key in given]
    if len(both) > 1:
        raise UserError(f"give {' or '.join(_option(k) for k in both)}, not both")
    raw = dataclasses.asdict(base)
    if both:
        raw.update({key: None for key in alternatives})
    raw.update(given)
    try:
        return build(cls, raw, section_name)
    except SpecInvalid as err:
        key = err.key.split(".")[1].split("[")[0]
        if key in given:
            raise UserError(f"{_option(key)} ({err.key}): {err.message}") from None
        raise UserError(str(err)) from None


# ---------------------------------------------------------------------------------------------
# Files and overrides
# ---------------------------------------------------------------------------------------------


def apply_overrides(raw: dict, overrides: list[str] | tuple[str, ...]) -> dict:
    """Set `a.b=value` items (values parsed as YAML) into a copy of the raw spec mapping."""
    raw = _deep_copy(raw)
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UserError(f"override {item!r}: expected KEY=VALUE, e.g. train.epochs=3")
        value = parse_yaml(text, f"override {key}")
        node, parts = raw, key.split(".")
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):
                raise UserError(f"override {key}: {'.'.join(parts[: depth + 1])} is a value, not a section")
            node = child
        node[parts[-1]] = value
    return raw


def _deep_copy(raw: Any) -> Any:
    if isinstance(raw, dict):
        return {k: _deep_copy(v) for k, v in raw.items()}
    if isinstance(raw, list):
        return [_deep_copy(v) for v in raw]
    return raw


def spec_from_mapping(raw: Any, source: str, overrides=()) -> Spec:
    """Validate a raw mapping (after overrides) into a Spec; errors name `source` and the key."""
    if raw is not None and not isinstance(raw, dict):
        raise UserError(f"{source}: expected a mapping of keys at the top level, got {_shown(raw)}")
    raw = apply_overrides(raw or {}, overrides)
    try:
        return build(Spec, raw)
    except SpecInvalid as err:
        raise UserError(f"{source}: {err}") from None


def load_spec(path: str | Path, overrides=()) -> Spec:
    """Read, override and validate a spec file."""
    return spec_from_mapping(read_yaml(path), str(path), overrides)


def spec_to_dict(spec: Spec) -> dict:
    """The fully resolved spec as plain data, ready for YAML."""
    return dataclasses.asdict(spec)


@functools.cache
def _spec_dumper() -> type:
    """A YAML dumper writing sections as blocks, lists inline: `hidden: [1000, 800, 400]`."""
    import yaml

    class SpecDumper(yaml.SafeDumper):
        pass

    SpecDumper.add_representer(list, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True))
    return SpecDumper


def spec_to_yaml(spec: Spec) -> str:
    import yaml

    return yaml.dump(spec_to_dict(spec), Dumper=_spec_dumper(), sort_keys=False, default_flow_style=False)


def describe(cls: type = Spec, path: str = "", indent: int = 0) -> list[str]:
    """Every key of the spec with its default and one-line doc, as commented YAML lines."""
    import yaml

    lines = []
    hints = get_type_hints(cls)
    pad = "  " * indent
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        doc = f.metadata.get("doc", "")
        if dataclasses.is_dataclass(tp):
            lines.append(f"{pad}{f.name}:  # {doc}")
            lines.extend(describe(tp, _join(path, f.name), indent + 1))
            continue
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        shown = yaml.safe_dump(default, default_flow_style=True).strip().removesuffix("...").strip()
        choices = f" [{' | '.join(get_args(tp))}]" if get_origin(tp) is Literal else ""
        lines.append(f"{pad}{f.name}: {shown}  # {doc}{choices}")
    return lines
