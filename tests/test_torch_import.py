"""A network PyTorch trained and saved with safetensors.torch.save_file imports and evaluates to PyTorch's accuracy.

Needs PyTorch and safetensors (the bench extra); skipped with the reason when they are absent.
"""

import json

import numpy as np
import pytest
import yaml

from sparana_cli.data import load_dataset
from sparana_cli.spec import load_spec
from tests.conftest import tiny_spec
from tests.test_cli import invoke

torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install '.[bench]' brings it)")
save_file = pytest.importorskip("safetensors.torch", reason="safetensors is not installed (the bench extra)").save_file


def test_a_pytorch_sequential_imports_with_pytorchs_accuracy(idx_folder, tmp_path):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(yaml.safe_dump(tiny_spec(idx_folder, model={"output": "softmax", "loss": "cross_entropy"})))
    data = load_dataset(load_spec(spec).data, 3)  # the images as Sparana scales them (x/255)
    x = torch.tensor(np.asarray(data.x_train[np.arange(len(data.y_train))]), dtype=torch.float32)
    y = torch.tensor(data.y_train.astype(np.int64))
    xt = torch.tensor(np.asarray(data.x_test[np.arange(len(data.y_test))]), dtype=torch.float32)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(36, 20), torch.nn.ReLU(), torch.nn.Linear(20, 12), torch.nn.ReLU(),
                                torch.nn.Linear(12, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(30):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    with torch.no_grad():
        torch_accuracy = float((model(xt).argmax(1).numpy() == data.y_test).mean())
    assert torch_accuracy > 0.5  # it learned something: agreement is not agreement on noise
    save_file(model.state_dict(), tmp_path / "mlp.safetensors")

    result = invoke("import", tmp_path / "mlp.safetensors", "--spec", spec, "--runs-dir", tmp_path / "runs", "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["layer_sizes"] == [36, 20, 12, 10] and summary["output"] == "softmax"
    assert summary["test_accuracy"] == torch_accuracy
    evaluated = json.loads(invoke("evaluate", summary["run"], "--json").stdout)
    assert evaluated["accuracy"] == torch_accuracy
