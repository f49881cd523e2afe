"""The documented layout of a run's files (README "Run folders") as checks: attribute types, dtypes, ranks, values.

Every reader of model.h5, metrics.h5 and checkpoint.h5 passes what it read through these, so a
file that lies (a number where a date belongs, a float mask, a NaN weight, a 2-D array where a
per-class vector belongs) is refused with one line naming the file, the dataset or attribute, and
what is wrong, instead of being shown, evaluated or pruned as if it were fine.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np

from sparana_cli.errors import UserError

NUMBER = (int, float)
# model.h5 root attributes -> type (absent ones are allowed: runs written before some existed lack them)
MODEL_ATTRS = {"sparana_version": str, "seed": int, "phase": str, "parent": str, "dataset": str,
               "dataset_checksum": str, "dataset_source": str, "device": str, "device_name": str, "created": str,
               "n_layers": int, "output": str}
# checkpoint.h5 root attributes -> type (all required)
CHECKPOINT_ATTRS = {"epoch": int, "step": int, "loss_sum": NUMBER, "correct": int, "seconds": NUMBER, "t": int,
                    "optimizer": str, "dataset_checksum": str}
# metrics.h5 datasets -> rank (numbers); others (the judged table's strings, ...) are free-form
METRIC_RANKS = {
    "train": {"loss": 1, "train_accuracy": 1, "val_accuracy": 1, "seconds": 1},
    "test": {"per_class_accuracy": 1, "confusion": 2},
    "prune": {"step": 1, "accuracy": 1, "removed": 2, "sparsity": 2, "nonzero": 2, "dead_units": 2, "widths": 2,
              "parameters": 1, "live_parameters": 1},
    "forget": {"removed": 2, "weights_removed": 1, "df_acc": 1, "dr_acc": 1, "val_df": 1, "per_class_accuracy": 2,
               "target_outputs": 2},
    "attack": {"eps": 1, "accuracy": 1, "fooled_rate": 1, "auroc": 1, "auroc_fooled": 1, "score_mean": 1, "linf": 1},
}
# metrics.h5 group attributes that are numbers (`runs`, `compare` and the plots read them as such)
METRIC_NUMBERS = {"train": ("test_accuracy", "seconds", "epochs"), "test": ("accuracy",),
                  "prune": ("accuracy_before", "accuracy_after"), "forget": ("df_accuracy", "dr_accuracy", "df_before",
                                                                             "dr_before"),
                  "attack": ("clean_accuracy",)}


def plain(value):
    """An HDF5 attribute as a plain Python value: text for bytes, int or float for a NumPy scalar."""
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return value.item() if isinstance(value, np.generic) else value


def _type_name(kind) -> str:
    return "a number" if kind == NUMBER else {int: "an integer", str: "a string"}[kind]


def check_attrs(attrs: dict, kinds: dict, where: str, *, required: bool = False) -> None:
    """Each attribute of `kinds` present in attrs (plain Python values) has its type; `required`: and is present."""
    for name, kind in kinds.items():
        if name not in attrs:
            if required:
                raise UserError(f"{where}: missing attribute {name}")
            continue
        value = attrs[name]
        wrong = isinstance(value, bool) or not isinstance(value, kind)
        if wrong or (kind == NUMBER and not np.isfinite(value)):
            raise UserError(f"{where}: attribute {name} must be {_type_name(kind)}, found {value!r:.40}")


def check_model_attrs(attrs: dict, path: Path) -> dict:
    """model.h5's root attributes, each of its documented type (`created` an ISO date and time)."""
    check_attrs(attrs, MODEL_ATTRS, str(path))
    if "created" in attrs:
        try:
            datetime.fromisoformat(attrs["created"])
        except ValueError:
            raise UserError(f"{path}: attribute created must be an ISO date and time, found {attrs['created']!r:.40}") from None
    if attrs.get("output", "linear") not in ("linear", "softmax"):
        raise UserError(f"{path}: attribute output must be linear or softmax, found {attrs['output']!r:.40}")
    return attrs


def check_layer_count(f, path: Path) -> None:
    """model.h5's n_layers attribute (what a plain h5py reader loops over) matches its /layers group."""
    n = len(f["layers"])
    if plain(f.attrs.get("n_layers", n)) != n:
        raise UserError(f"{path}: attribute n_layers says {plain(f.attrs['n_layers'])!r:.40}, but /layers holds {n}")


def check_layer(w: np.ndarray, b: np.ndarray, m: np.ndarray, where: str) -> None:
    """One stored layer: float weights and bias of one type, a bool mask, every value finite, masked weights zero."""
    if w.dtype not in (np.float32, np.float64) or b.dtype != w.dtype:
        raise UserError(f"{where} must hold float32 or float64 weights and bias of one type "
                        f"(found {w.dtype} and {b.dtype})")
    check_mask_dtype(m.dtype, f"{where}/mask")
    if 0 in w.shape:
        raise UserError(f"{where} has shape {w.shape}: a layer without units (a prune that deleted it)")
    for name, array in (("weights", w), ("bias", b)):
        if not np.isfinite(array).all():
            raise UserError(f"{where}/{name} holds NaN or infinite values")
    if np.any(w[~m]):
        raise UserError(f"{where}/weights: masked weights must be exactly 0")


def check_mask_dtype(dtype: np.dtype, where: str) -> None:
    if dtype != np.bool_:
        raise UserError(f"{where} must be bool (which weights exist), found {dtype}")


def check_metrics(arrays: dict, attrs: dict, path: Path) -> None:
    """metrics.h5's documented datasets are numbers of their documented rank; its documented summaries are numbers."""
    for group, ranks in METRIC_RANKS.items():
        for name, rank in ranks.items():
            array = arrays.get(group, {}).get(name)
            if array is None:
                continue
            if array.dtype.kind not in "biuf":
                raise UserError(f"{path}: /{group}/{name} must hold numbers, found {array.dtype}")
            if array.ndim != rank:
                raise UserError(f"{path}: /{group}/{name} must be {rank}-D, found shape {array.shape}")
    for group, names in METRIC_NUMBERS.items():
        check_attrs(attrs.get(group, {}), dict.fromkeys(names, NUMBER), f"{path}: /{group}")
