import pytest
import yaml

from sparana_cli.errors import UserError
from sparana_cli.spec import Spec, describe, load_spec, spec_from_mapping, spec_to_yaml


def message(raw, overrides=()):
    with pytest.raises(UserError) as info:
        spec_from_mapping(raw, "s.yaml", overrides)
    text = str(info.value)
    assert "\n" not in text
    return text


def test_defaults_are_the_seed_recipe():
    spec = spec_from_mapping({}, "s.yaml")
    assert spec.model.hidden == [1000, 800, 400]
    assert (spec.model.output, spec.model.loss, spec.model.bias) == ("linear", "quadratic", 0.1)
    assert (spec.train.optimizer, spec.train.lr, spec.train.batch_size) == ("adam", 1e-4, 250)


def test_shipped_configs_load():
    for name in ("configs/mnist.yaml", "configs/fashion-mnist.yaml"):
        spec = load_spec(name)
        assert spec.model.hidden == [1000, 800, 400] and spec.train.batch_size == 250


def test_overrides_parse_yaml_values():
    spec = spec_from_mapping({"train": {"epochs": 5}}, "s.yaml",
                             ["train.epochs=3", "model.hidden=[300,100]", "seed=4", "train.clip=2.5", "data.path=/x"])
    assert spec.train.epochs == 3 and spec.model.hidden == [300, 100] and spec.seed == 4
    assert spec.train.clip == 2.5 and spec.data.path == "/x"


def test_resolved_spec_round_trips():
    spec = spec_from_mapping({"model": {"hidden": [7]}, "train": {"clip": 1.0}}, "s.yaml")
    assert spec_from_mapping(yaml.safe_load(spec_to_yaml(spec)), "again") == spec


def test_scientific_notation_without_dot_is_a_number():
    # YAML 1.1 reads 1e-4 as a string; a learning rate written that way must still work
    assert spec_from_mapping({"train": {"lr": "1e-4"}}, "s.yaml").train.lr == 1e-4


@pytest.mark.parametrize("raw, overrides, expected", [
    ({"train": {"epoch": 3}}, (), "train.epoch: unknown key (did you mean train.epochs?)"),
    ({"modle": {}}, (), "modle: unknown key (did you mean model?)"),
    ({}, ["train.lrr=0.1"], "train.lrr: unknown key (did you mean train.lr?)"),
    ({"train": {"epochs": "many"}}, (), "train.epochs: expected an integer, got 'many'"),
    ({"train": {"epochs": 2.5}}, (), "train.epochs: expected an integer"),
    ({"train": {"epochs": True}}, (), "train.epochs: expected an integer"),
    ({"train": {"epochs": 0}}, (), "train.epochs: must be >= 1, got 0"),
    ({"train": {"lr": -1}}, (), "train.lr: must be > 0, got -1"),
    ({"train": {"lr": "fast"}}, (), "train.lr: expected a number"),
    ({"train": {"lr": float("nan")}}, (), "train.lr: expected a finite number"),
    ({"train": {"dropout": 1.0}}, (), "train.dropout: must lie in [0, 1), got 1.0"),
    ({"train": {"optimizer": "adamw"}}, (), "train.optimizer: expected one of sgd, adam, got 'adamw' (str) (did you mean adam?)"),
    ({"model": {"hidden": [100, 0]}}, (), "model.hidden[1]: must be >= 1, got 0"),
    ({"model": {"hidden": 100}}, (), "model.hidden: expected a list"),
    ({"model": {"hidden": [100, "x"]}}, (), "model.hidden[1]: expected an integer"),
    ({"model": {"loss": "cross_entropy"}}, (), "model.output: loss cross_entropy needs output: softmax"),
    ({"device": "tpu"}, (), "device: expected one of auto, cpu, gpu"),
    ({"data": "mnist"}, (), "data: expected a mapping of keys"),
    ({"data": {"validation": 0.9}}, (), "data.validation: must lie in [0, 0.5], got 0.9"),
    ({"name": "../../escape"}, (), "name: '../../escape' is not allowed"),
    ({"seed": -1}, (), "seed: must lie in [0, 4294967295], got -1"),
    ({"seed": 1}, ["seed.x=1"], "override seed.x: seed is a value, not a section"),
    ({}, ["seed.x=1"], "seed: expected an integer, got {'x': 1}"),
    ({}, ["train.epochs"], "override 'train.epochs': expected KEY=VALUE"),
    ({}, ["train.epochs=[1"], "override train.epochs: not valid YAML"),
])
def test_errors_name_the_key(raw, overrides, expected):
    assert expected in message(raw, overrides)


def test_top_level_must_be_a_mapping():
    assert "expected a mapping" in message([1, 2])


def test_broken_yaml_names_file_and_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("train:\n  epochs: [1, 2\n  lr: 3\n")
    with pytest.raises(UserError) as info:
        load_spec(path)
    assert str(path) in str(info.value) and "line" in str(info.value) and "\n" not in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(UserError, match="file not found"):
        load_spec(tmp_path / "nope.yaml")


def test_yaml_is_read_safely(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("name: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(UserError, match="not valid YAML"):
        load_spec(path)


def test_describe_lists_every_key_with_a_doc():
    lines = describe()
    assert any(line.startswith("  epochs: 10  # ") for line in lines)
    assert all("#" in line for line in lines)
    assert len([line for line in lines if not line.startswith(" ")]) == len(Spec.__dataclass_fields__)
