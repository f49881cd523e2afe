"""store/layout.py on its own: the checks every reader of model.h5, metrics.h5 and checkpoint.h5 applies.

The expected types and ranks below are taken from docs/run-folders.md, not from layout.py's tables.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from sparana_cli.store import layout
from tests.conftest import refused

# docs/run-folders.md: model.h5 root attrs (seed and n_layers are counts, the rest text)
MODEL_STRINGS = ["sparana_version", "phase", "parent", "dataset", "dataset_checksum", "dataset_source", "device",
                 "device_name", "created", "output"]
MODEL_INTEGERS = ["seed", "n_layers"]
# docs/run-folders.md: checkpoint.h5 root attrs
CHECKPOINT_KINDS = {"epoch": "an integer", "step": "an integer", "loss_sum": "a number", "correct": "an integer",
                    "seconds": "a number", "t": "an integer", "optimizer": "a string", "dataset_checksum": "a string"}
# docs/run-folders.md: metrics.h5 datasets and their ranks ("one value per epoch" = 1-D, "(steps+1, layers)" = 2-D)
METRIC_DATASETS = [
    ("train", "loss", 1), ("train", "train_accuracy", 1), ("train", "val_accuracy", 1), ("train", "seconds", 1),
    ("test", "per_class_accuracy", 1), ("test", "confusion", 2),
    ("prune", "step", 1), ("prune", "accuracy", 1), ("prune", "removed", 2), ("prune", "sparsity", 2),
    ("prune", "nonzero", 2), ("prune", "dead_units", 2), ("prune", "widths", 2), ("prune", "parameters", 1),
    ("prune", "live_parameters", 1),
    ("forget", "removed", 2), ("forget", "weights_removed", 1), ("forget", "df_acc", 1), ("forget", "dr_acc", 1),
    ("forget", "val_df", 1), ("forget", "per_class_accuracy", 2), ("forget", "target_outputs", 2),
    ("attack", "eps", 1), ("attack", "accuracy", 1), ("attack", "fooled_rate", 1), ("attack", "auroc", 1),
    ("attack", "auroc_fooled", 1), ("attack", "score_mean", 1), ("attack", "linf", 1),
]
# docs/run-folders.md: metrics.h5 group attributes that are figures
METRIC_SUMMARIES = [("train", "test_accuracy"), ("train", "seconds"), ("train", "epochs"), ("test", "accuracy"),
                    ("prune", "accuracy_before"), ("prune", "accuracy_after"), ("forget", "df_accuracy"),
                    ("forget", "dr_accuracy"), ("forget", "df_before"), ("forget", "dr_before"),
                    ("attack", "clean_accuracy")]


def valid_model_attrs() -> dict:
    return {"sparana_version": "0.9.0", "seed": 3, "phase": "train", "parent": "", "dataset": "mnist",
            "dataset_checksum": "ab12", "dataset_source": "idx", "device": "cpu", "device_name": "x86_64",
            "created": "2026-11-21T15:30:12", "n_layers": 2, "output": "linear"}


# plain


def test_plain_decodes_bytes_to_text():
    assert layout.plain(b"mnist") == "mnist"
    assert layout.plain(b"caf\xff") == "caf\ufffd"  # undecodable bytes become the replacement character


@pytest.mark.parametrize("value, expected, kind", [(np.int64(3), 3, int), (np.float32(0.5), 0.5, float),
                                                   (np.bool_(True), True, bool)])
def test_plain_turns_numpy_scalars_into_python_values(value, expected, kind):
    result = layout.plain(value)
    assert result == expected and type(result) is kind


def test_plain_leaves_other_values_alone():
    array = np.arange(3)
    assert layout.plain(array) is array
    assert layout.plain("text") == "text"
    assert layout.plain(7) == 7


# check_attrs


def test_check_attrs_accepts_absent_attributes_unless_required():
    layout.check_attrs({}, {"epoch": int}, "f.h5")
    assert refused(lambda: layout.check_attrs({}, {"epoch": int}, "f.h5", required=True)) == \
        "f.h5: missing attribute epoch"


def test_check_attrs_goes_on_past_an_absent_attribute():
    kinds = {"absent": int, "seed": int}
    assert refused(lambda: layout.check_attrs({"seed": "3"}, kinds, "f.h5")) == \
        "f.h5: attribute seed must be an integer, found '3'"


@pytest.mark.parametrize("kind, value, wanted", [(int, 1.0, "an integer"), (int, True, "an integer"),
                                                 (str, 5, "a string"), (layout.NUMBER, "1", "a number"),
                                                 (layout.NUMBER, False, "a number"),
                                                 (layout.NUMBER, float("nan"), "a number"),
                                                 (layout.NUMBER, float("-inf"), "a number")])
def test_check_attrs_refuses_a_value_of_the_wrong_type(kind, value, wanted):
    assert refused(lambda: layout.check_attrs({"x": value}, {"x": kind}, "f.h5")) == \
        f"f.h5: attribute x must be {wanted}, found {value!r}"


@pytest.mark.parametrize("kind, value", [(int, 0), (int, -4), (str, ""), (layout.NUMBER, 2), (layout.NUMBER, 0.25)])
def test_check_attrs_accepts_a_value_of_the_right_type(kind, value):
    layout.check_attrs({"x": value}, {"x": kind}, "f.h5", required=True)


def test_check_attrs_shows_at_most_40_characters_of_a_wrong_value():
    text = refused(lambda: layout.check_attrs({"x": 10 ** 60}, {"x": str}, "f.h5"))
    assert text == "f.h5: attribute x must be a string, found " + "1" + "0" * 39


# check_model_attrs


def test_check_model_attrs_returns_valid_attrs_unchanged():
    attrs = valid_model_attrs()
    assert layout.check_model_attrs(attrs, "model.h5") == valid_model_attrs()


def test_check_model_attrs_accepts_a_file_without_the_optional_attributes():
    assert layout.check_model_attrs({}, "model.h5") == {}


@pytest.mark.parametrize("name", MODEL_STRINGS)
def test_check_model_attrs_refuses_a_number_where_text_belongs(name):
    attrs = valid_model_attrs() | {name: 20261121}
    assert refused(lambda: layout.check_model_attrs(attrs, "run/model.h5")) == \
        f"run/model.h5: attribute {name} must be a string, found 20261121"


@pytest.mark.parametrize("name", MODEL_INTEGERS)
def test_check_model_attrs_refuses_text_where_a_count_belongs(name):
    attrs = valid_model_attrs() | {name: "2"}
    assert refused(lambda: layout.check_model_attrs(attrs, "run/model.h5")) == \
        f"run/model.h5: attribute {name} must be an integer, found '2'"


def test_check_model_attrs_refuses_a_created_that_is_not_a_date():
    attrs = valid_model_attrs() | {"created": "yesterday"}
    assert refused(lambda: layout.check_model_attrs(attrs, "run/model.h5")) == \
        "run/model.h5: attribute created must be an ISO date and time, found 'yesterday'"


@pytest.mark.parametrize("output", ["linear", "softmax"])
def test_check_model_attrs_accepts_the_documented_outputs(output):
    layout.check_model_attrs(valid_model_attrs() | {"output": output}, "model.h5")


def test_check_model_attrs_refuses_another_output():
    attrs = valid_model_attrs() | {"output": "sigmoid"}
    assert refused(lambda: layout.check_model_attrs(attrs, "run/model.h5")) == \
        "run/model.h5: attribute output must be linear or softmax, found 'sigmoid'"


# check_layer_count


def write_layers(path, n_groups, **attrs):
    with h5py.File(path, "w") as f:
        for i in range(n_groups):
            f.create_group(f"layers/{i}")
        f.attrs.update(attrs)


def check_count(path):
    with h5py.File(path, "r") as f:
        layout.check_layer_count(f, path)


def test_check_layer_count_accepts_a_matching_count(tmp_path):
    write_layers(tmp_path / "m.h5", 2, n_layers=2)
    check_count(tmp_path / "m.h5")


def test_check_layer_count_accepts_a_file_without_the_attribute(tmp_path):
    write_layers(tmp_path / "m.h5", 3)
    check_count(tmp_path / "m.h5")


@pytest.mark.parametrize("n_layers, shown", [(3, "3"), (1, "1"), ("2", "'2'")])
def test_check_layer_count_refuses_a_count_that_differs(tmp_path, n_layers, shown):
    path = tmp_path / "m.h5"
    write_layers(path, 2, n_layers=n_layers)
    assert refused(lambda: check_count(path)) == f"{path}: attribute n_layers says {shown}, but /layers holds 2"


# check_layer


def layer(dtype=np.float32, shape=(3, 2)):
    w = np.arange(1, 1 + np.prod(shape), dtype=dtype).reshape(shape)
    return w, np.zeros(shape[1], dtype=dtype), np.ones(shape, dtype=bool)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_check_layer_accepts_float_weights_and_bias(dtype):
    layout.check_layer(*layer(dtype), "m.h5: /layers/0")


def test_check_layer_accepts_a_layer_of_one_unit():
    layout.check_layer(*layer(shape=(1, 1)), "m.h5: /layers/0")


def test_check_layer_accepts_masked_weights_that_are_zero():
    w, b, m = layer()
    m[0, 1] = False
    w[0, 1] = 0
    layout.check_layer(w, b, m, "m.h5: /layers/0")


@pytest.mark.parametrize("w_dtype, b_dtype", [(np.int32, np.int32), (np.float16, np.float16),
                                              (np.float32, np.float64), (np.float64, np.float32)])
def test_check_layer_refuses_weights_and_bias_not_of_one_float_type(w_dtype, b_dtype):
    w, b, m = layer()
    w, b = w.astype(w_dtype), b.astype(b_dtype)
    assert refused(lambda: layout.check_layer(w, b, m, "m.h5: /layers/1")) == (
        "m.h5: /layers/1 must hold float32 or float64 weights and bias of one type "
        f"(found {np.dtype(w_dtype)} and {np.dtype(b_dtype)})")


def test_check_layer_refuses_a_mask_that_is_not_bool():
    w, b, m = layer()
    assert refused(lambda: layout.check_layer(w, b, m.astype(np.uint8), "m.h5: /layers/0")) == \
        "m.h5: /layers/0/mask must be bool (which weights exist), found uint8"


@pytest.mark.parametrize("shape", [(3, 0), (0, 2)])
def test_check_layer_refuses_a_layer_without_units(shape):
    w, b, m = layer(shape=shape)
    assert refused(lambda: layout.check_layer(w, b, m, "m.h5: /layers/0")) == \
        f"m.h5: /layers/0 has shape {shape}: a layer without units (a prune that deleted it)"


@pytest.mark.parametrize("name, bad", [("weights", np.nan), ("weights", np.inf), ("bias", -np.inf), ("bias", np.nan)])
def test_check_layer_refuses_values_that_are_not_finite(name, bad):
    w, b, m = layer()
    (w if name == "weights" else b).flat[-1] = bad
    assert refused(lambda: layout.check_layer(w, b, m, "m.h5: /layers/0")) == \
        f"m.h5: /layers/0/{name} holds NaN or infinite values"


def test_check_layer_refuses_a_masked_weight_that_is_not_zero():
    w, b, m = layer()
    m[2, 0] = False
    assert refused(lambda: layout.check_layer(w, b, m, "m.h5: /layers/0")) == \
        "m.h5: /layers/0/weights: masked weights must be exactly 0"


# check_mask_dtype


def test_check_mask_dtype_accepts_bool_only():
    layout.check_mask_dtype(np.dtype(bool), "m")
    assert refused(lambda: layout.check_mask_dtype(np.dtype(np.float32), "m.h5: /layers/0/mask")) == \
        "m.h5: /layers/0/mask must be bool (which weights exist), found float32"


# check_metrics


def test_check_metrics_accepts_nothing_at_all():
    layout.check_metrics({}, {}, "metrics.h5")


@pytest.mark.parametrize("group, name, rank", METRIC_DATASETS)
def test_check_metrics_accepts_a_documented_dataset_of_its_rank(group, name, rank):
    layout.check_metrics({group: {name: np.zeros((2,) * rank)}}, {}, "metrics.h5")


@pytest.mark.parametrize("group, name, rank", METRIC_DATASETS)
def test_check_metrics_refuses_a_documented_dataset_of_another_rank(group, name, rank):
    array = np.zeros((2, 3) if rank == 1 else (4,))
    assert refused(lambda: layout.check_metrics({group: {name: array}}, {}, "run/metrics.h5")) == \
        f"run/metrics.h5: /{group}/{name} must be {rank}-D, found shape {array.shape}"


@pytest.mark.parametrize("group, name, rank", METRIC_DATASETS)
def test_check_metrics_refuses_a_documented_dataset_of_text(group, name, rank):
    array = np.array([b"a", b"b"]).reshape((2,) + (1,) * (rank - 1))
    assert refused(lambda: layout.check_metrics({group: {name: array}}, {}, "run/metrics.h5")) == \
        f"run/metrics.h5: /{group}/{name} must hold numbers, found |S1"


@pytest.mark.parametrize("dtype", [bool, np.int8, np.uint16, np.float32])
def test_check_metrics_accepts_any_real_number_type(dtype):
    layout.check_metrics({"train": {"loss": np.zeros(3, dtype=dtype)}}, {}, "metrics.h5")


@pytest.mark.parametrize("dtype", [np.complex64, object, "U3"])
def test_check_metrics_refuses_what_is_not_real_numbers(dtype):
    array = np.zeros(3, dtype=dtype)
    assert "must hold numbers" in refused(lambda: layout.check_metrics({"train": {"loss": array}}, {}, "m.h5"))


def test_check_metrics_leaves_undocumented_datasets_alone():
    layout.check_metrics({"train": {"notes": np.array([[b"x"]])}, "forget": {"judge/method": np.array([b"a"])}},
                         {}, "metrics.h5")


def test_check_metrics_checks_a_dataset_after_an_absent_one():
    arrays = {"train": {"seconds": np.zeros((2, 2))}}  # loss, train_accuracy, val_accuracy absent
    assert "/train/seconds must be 1-D" in refused(lambda: layout.check_metrics(arrays, {}, "m.h5"))


@pytest.mark.parametrize("group, name", METRIC_SUMMARIES)
def test_check_metrics_refuses_a_documented_summary_that_is_not_a_number(group, name):
    assert refused(lambda: layout.check_metrics({}, {group: {name: "0.9"}}, "run/metrics.h5")) == \
        f"run/metrics.h5: /{group}: attribute {name} must be a number, found '0.9'"


def test_check_metrics_accepts_summaries_that_are_numbers_and_other_attributes_of_any_type():
    attrs = {"train": {"test_accuracy": 0.9, "seconds": 12, "epochs": 3},
             "forget": {"df_accuracy": 0.0, "method": "ssd", "target_class": 3}}
    layout.check_metrics({}, attrs, "metrics.h5")


# checkpoint.h5's attributes are checked with CHECKPOINT_ATTRS, all required


@pytest.mark.parametrize("name", list(CHECKPOINT_KINDS))
def test_checkpoint_attributes_are_all_required(name):
    attrs = {"epoch": 1, "step": 0, "loss_sum": 2.5, "correct": 40, "seconds": 1.5, "t": 10, "optimizer": "adam",
             "dataset_checksum": "ab12"}
    layout.check_attrs(attrs, layout.CHECKPOINT_ATTRS, "c.h5", required=True)
    del attrs[name]
    assert refused(lambda: layout.check_attrs(attrs, layout.CHECKPOINT_ATTRS, "c.h5", required=True)) == \
        f"c.h5: missing attribute {name}"


@pytest.mark.parametrize("name, wanted", list(CHECKPOINT_KINDS.items()))
def test_checkpoint_attributes_have_their_documented_type(name, wanted):
    attrs = {"epoch": 1, "step": 0, "loss_sum": 2.5, "correct": 40, "seconds": 1.5, "t": 10, "optimizer": "adam",
             "dataset_checksum": "ab12"}
    attrs[name] = [1]
    assert refused(lambda: layout.check_attrs(attrs, layout.CHECKPOINT_ATTRS, "c.h5", required=True)) == \
        f"c.h5: attribute {name} must be {wanted}, found [1]"
