"""Whole commands with `device: gpu` against the same commands on the CPU: train (dense, subset, resume,
dynamic sparse), ticket, import and export, evaluate, prune (every method, shrink, CSR), forget (default,
every comparator, every repair), attack, and the benchmark's GPU rows.

The gpu backend is the `gpu` fixture's: by default the strict CuPy stand-in of tests/fakecupy
(NumPy underneath, so these run in every CI run and catch host/device mix-ups), and real CuPy on
a real GPU with SPARANA_TEST_GPU=real (scripts/gpu-check.sh). Tolerances are float32's where the
contract promises the same numbers (same data, init and schedule; only float summation order
differs), looser where a device random stream enters (dropout, random starts), which the contract
lets differ from the CPU's.
"""

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from sparana_cli.errors import Interrupted
from sparana_cli.phases.train import train
from sparana_cli.spec import spec_from_mapping
from sparana_cli.store import runs
from sparana_cli.ui import Console
from tests.conftest import REAL_GPU, tiny_spec
from tests.test_cli import invoke

# The stand-in computes in NumPy, so only the fused kernels' rounding differs from the CPU's: float32 round-off,
# grown over a few epochs of training. A real GPU also sums matrix products in another order, which training
# amplifies, and a near-tie among a hundred test images may flip one prediction.
F32 = {"rtol": 1e-3, "atol": 1e-4} if REAL_GPU else {"rtol": 1e-4, "atol": 1e-5}
SAME_OUTPUTS = 0.011 if REAL_GPU else 1e-9  # accuracies from the same weights


def run_json(*args) -> dict:
    result = invoke(*args, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def spec_path(tmp_path: Path, idx_folder: Path, device: str, **sections) -> Path:
    path = tmp_path / f"{device}-{len(list(tmp_path.glob('*.yaml')))}.yaml"
    path.write_text(yaml.safe_dump(tiny_spec(idx_folder, device=device, **sections)))
    return path


def arrays(run) -> list[np.ndarray]:
    net = runs.load_model(Path(run))[0]
    return [*net.weights, *net.biases, *net.masks]


def masks(run) -> list[np.ndarray]:
    with h5py.File(Path(run) / "model.h5") as f:
        return [f[f"layers/{i}/mask"][()] for i in range(len(f["layers"]))]


def assert_close_runs(cpu_run, gpu_run):
    for c, g in zip(arrays(cpu_run), arrays(gpu_run), strict=True):
        np.testing.assert_allclose(g, c, **F32)


@pytest.fixture
def trained(gpu, tmp_path, idx_folder, runs_dir):
    """One parent run trained on the CPU, which the later commands start from on both devices."""
    return run_json("train", spec_path(tmp_path, idx_folder, "cpu"), "--runs-dir", runs_dir)["run"]


def device_launches() -> int | None:
    """Operations the stand-in's device has run (None on real CuPy, which keeps no such count)."""
    if REAL_GPU:
        return None
    from tests.fakecupy.arrays import DEVICE

    return DEVICE.launches


def on_each_device(command) -> dict:
    """command(device) on the CPU, then on the GPU: the CPU run touches no device array, the GPU run does its work there."""
    start = device_launches()
    out = {"cpu": command("cpu")}
    middle = device_launches()
    out["gpu"] = command("gpu")
    if start is not None:
        assert middle == start, "the CPU run used the device"
        assert device_launches() > middle, "the GPU run did nothing on the device"
    return out


def both(*args, runs_dir) -> dict:
    return on_each_device(lambda device: run_json(*args, "--device", device, "--runs-dir", runs_dir))


@pytest.mark.parametrize("train_section", [
    {"optimizer": "adam"},
    {"optimizer": "sgd", "momentum": 0.9, "lr": 0.05, "l1": 1e-4, "l2": 1e-3, "clip": 1.0},
    {"trainable": {"method": "maav", "fraction": 0.2}, "lr": 0.05},
    {"trainable": {"method": "magnitude", "fraction": 0.3}, "optimizer": "sgd", "momentum": 0.5, "lr": 0.05},
    {"loss": "cross_entropy", "output": "softmax", "model_dtype": "float64"},
], ids=["adam", "sgd-momentum-penalties", "subset-maav", "subset-magnitude-sgd", "softmax-cross-entropy-float64"])
def test_train_on_the_gpu_gives_the_cpu_weights(gpu, tmp_path, idx_folder, runs_dir, train_section):
    train_section = dict(train_section)
    model = {key: train_section.pop(key) for key in ("loss", "output") if key in train_section}
    if "model_dtype" in train_section:
        model["dtype"] = train_section.pop("model_dtype")
    on = on_each_device(lambda d: run_json("train", spec_path(tmp_path, idx_folder, d, train=train_section, model=model),
                                           "--runs-dir", runs_dir))
    assert on["gpu"]["test_accuracy"] == pytest.approx(on["cpu"]["test_accuracy"], abs=0.011)
    assert_close_runs(on["cpu"]["run"], on["gpu"]["run"])
    with h5py.File(Path(on["gpu"]["run"]) / "model.h5") as f:
        assert f.attrs["device"] == "gpu"


def test_train_with_dropout_on_the_gpu_learns_and_resumes_bitwise(gpu, tmp_path, idx_folder):
    """Dropout draws from the device's own stream: not the CPU's numbers, but a resumed run is bitwise the uninterrupted one."""
    spec = spec_from_mapping(tiny_spec(idx_folder, device="gpu", train={"dropout": 0.2, "epochs": 3}), "tiny.yaml")
    console = Console(json_mode=True)
    whole = train(spec, root=tmp_path / "whole", console=console)
    count = [0]

    def stop():
        count[0] += 1
        return count[0] == 7  # mid-epoch

    with pytest.raises(Interrupted):
        train(spec, root=tmp_path / "cut", console=console, stop=stop)
    (folder,) = (tmp_path / "cut").iterdir()
    resumed = train(None, root=tmp_path / "cut", console=console, resume=folder.name)
    for a, b in zip(arrays(whole["run"]), arrays(resumed["run"]), strict=True):
        assert a.tobytes() == b.tobytes()
    assert 0 <= whole["test_accuracy"] <= 1


@pytest.mark.parametrize("method", ["static", "set", "rigl"])
def test_dynamic_sparse_training_on_the_gpu_gives_the_cpu_masks_and_resumes_bitwise(gpu, tmp_path, idx_folder, runs_dir,
                                                                                   method):
    """train.sparse on the device: the CPU's masks and weights (a mask update every 3 steps), and a run
    interrupted mid-epoch and resumed on the device is bitwise the uninterrupted one."""
    sparse = {"sparse": {"method": method, "density": 0.3, "update_every": 3}}
    on = on_each_device(lambda d: run_json("train", spec_path(tmp_path, idx_folder, d, train=sparse),
                                           "--runs-dir", runs_dir))
    cpu_masks, gpu_masks = masks(on["cpu"]["run"]), masks(on["gpu"]["run"])
    assert [int(m.sum()) for m in gpu_masks] == [int(m.sum()) for m in cpu_masks]
    if not (REAL_GPU and method == "rigl"):  # RigL grows by gradient ranks, which a real GPU's sums may reorder
        assert all(np.array_equal(c, g) for c, g in zip(cpu_masks, gpu_masks, strict=True))
        assert_close_runs(on["cpu"]["run"], on["gpu"]["run"])
    spec = spec_from_mapping(tiny_spec(idx_folder, device="gpu", train=sparse), "tiny.yaml")
    console, count = Console(json_mode=True), [0]

    def stop():
        count[0] += 1
        return count[0] == 11  # inside epoch 2

    with pytest.raises(Interrupted):
        train(spec, root=tmp_path / "cut", console=console, stop=stop)
    (folder,) = (tmp_path / "cut").iterdir()
    resumed = train(None, root=tmp_path / "cut", console=console, resume=folder.name)
    for a, b in zip(arrays(on["gpu"]["run"]), arrays(resumed["run"]), strict=True):
        assert a.tobytes() == b.tobytes()


def test_evaluate_on_the_gpu_gives_the_cpu_figures(trained, runs_dir):
    on = both("evaluate", trained, runs_dir=runs_dir)
    assert on["gpu"]["accuracy"] == pytest.approx(on["cpu"]["accuracy"], abs=SAME_OUTPUTS)


@pytest.mark.parametrize("method", ["maav", "magnitude", "mav", "random", "positive", "negative"])
def test_prune_on_the_gpu_removes_the_cpu_weights(trained, runs_dir, method):
    on = both("prune", "--run", trained, "--method", method, "--sparsity", "0.5", runs_dir=runs_dir)
    agree = [np.mean(c == g) for c, g in zip(masks(on["cpu"]["run"]), masks(on["gpu"]["run"]), strict=True)]
    assert min(agree) > 0.99  # the same weights go, up to ties in float rounding
    assert on["gpu"]["accuracy_after"] == pytest.approx(on["cpu"]["accuracy_after"], abs=0.011)


@pytest.mark.parametrize("scope", ["global", "row", "column"])
def test_prune_scopes_on_the_gpu(trained, runs_dir, scope):
    on = both("prune", "--run", trained, "--scope", scope, "--sparsity", "0.4", "--samples", "100", runs_dir=runs_dir)
    agree = [np.mean(c == g) for c, g in zip(masks(on["cpu"]["run"]), masks(on["gpu"]["run"]), strict=True)]
    assert min(agree) > 0.99


def test_prune_with_finetuning_shrink_and_csr_on_the_gpu(trained, runs_dir):
    args = ("prune", "--run", trained, "--sparsity", "0.6", "--steps", "2", "--finetune-epochs", "1", "--shrink",
            "--format", "csr")
    on = both(*args, runs_dir=runs_dir)
    assert on["gpu"]["accuracy_after"] == pytest.approx(on["cpu"]["accuracy_after"], abs=0.011)
    assert_close_runs(on["cpu"]["run"], on["gpu"]["run"])
    evaluated = both("evaluate", on["gpu"]["run"], runs_dir=runs_dir)  # CSR inference on each device
    assert evaluated["gpu"]["accuracy"] == pytest.approx(evaluated["cpu"]["accuracy"], abs=SAME_OUTPUTS)


def test_forget_on_the_gpu_with_every_comparator(trained, runs_dir):
    on = both("forget", "--class", "3", "--run", trained, "--compare", "retrain,random,magnitude,ssd,ssd_fixed",
              "--evaluate", "quick", "--repair-steps", "20", "--probe-samples", "200", "--relearn-steps", "5",
              runs_dir=runs_dir)
    for key in ("df_before", "dr_before"):
        assert on["gpu"][key] == pytest.approx(on["cpu"][key], abs=SAME_OUTPUTS)
    assert on["gpu"]["df_after"] <= on["cpu"]["df_after"] + 0.1 < on["gpu"]["df_before"]
    assert on["gpu"]["dr_after"] == pytest.approx(on["cpu"]["dr_after"], abs=0.1)
    assert on["gpu"]["removed_fraction"] == pytest.approx(on["cpu"]["removed_fraction"], rel=0.25)


@pytest.mark.parametrize("score", ["taylor_disc", "taylor", "diff", "maxother", "ratio", "taylor_probe"])
def test_forget_with_each_score_on_the_gpu(trained, runs_dir, score):
    on = both("forget", "--class", "3", "--run", trained, "--score", score, "--evaluate", "none", "--repair-steps", "10",
              runs_dir=runs_dir)
    assert on["gpu"]["df_before"] == pytest.approx(on["cpu"]["df_before"], abs=SAME_OUTPUTS)
    assert on["gpu"]["removed_fraction"] == pytest.approx(on["cpu"]["removed_fraction"], rel=0.25)


def test_full_judging_of_a_forgetting_on_the_gpu(trained, runs_dir):
    forgot = run_json("forget", "--class", "3", "--run", trained, "--evaluate", "none", "--repair-steps", "10",
                      "--device", "cpu", "--runs-dir", runs_dir)["run"]
    on = both("evaluate", forgot, "--forget-class", "3", "--level", "full", runs_dir=runs_dir)
    assert [r["method"] for r in on["gpu"]["judge"]] == [r["method"] for r in on["cpu"]["judge"]]
    for cpu, gpu in zip(on["cpu"]["judge"], on["gpu"]["judge"]):
        for key in ("df", "dr", "accuracy", "per_class_accuracy"):  # the network's own outputs: float32-equal
            np.testing.assert_allclose(gpu[key], cpu[key], atol=SAME_OUTPUTS)
        for key in ("probe_recall", "relearn_curve"):  # fitted and fine-tuned on the device: close
            np.testing.assert_allclose(gpu[key], cpu[key], atol=0.1)


@pytest.mark.parametrize("method", ["fgsm", "pgd"])
def test_attack_on_the_gpu_gives_the_cpu_accuracies(trained, runs_dir, method):
    on = both("attack", trained, "--method", method, "--eps", "0.05,0.2", "--steps", "3", "--no-random-start",
              runs_dir=runs_dir)
    np.testing.assert_allclose(on["gpu"]["accuracy"], on["cpu"]["accuracy"], atol=0.011)


def test_pgd_with_a_random_start_and_a_transfer_attack_on_the_gpu(trained, tmp_path, idx_folder, runs_dir):
    source = run_json("train", spec_path(tmp_path, idx_folder, "cpu", seed=9), "--runs-dir", runs_dir)["run"]
    on = both("attack", trained, "--method", "pgd", "--eps", "0.1", "--steps", "3", "--random-start", "--samples", "50",
              "--craft-on", source, "--loss", "cross_entropy", runs_dir=runs_dir)
    np.testing.assert_allclose(on["gpu"]["accuracy"], on["cpu"]["accuracy"], atol=0.1)  # the random starts differ


def test_the_benchmarks_gpu_rows_run(gpu, capsys):
    """`python -m bench --quick --only gpu --no-torch` on the gpu backend: every GPU row measured, none 'not available'."""
    from bench.__main__ import main

    assert main(["--quick", "--only", "gpu", "--no-torch"]) == 0
    table = capsys.readouterr().out
    rows = [line for line in table.splitlines() if "GPU " in line]
    assert any("GPU MAAV" in r for r in rows) and any("GPU forget class 0" in r for r in rows), table
    assert sum(gpu.describe() in r for r in rows) >= 3, table  # the epoch and MAAV rows name the device
    assert not any("not available" in r and "torch" not in r for r in rows), table


def test_ticket_on_the_gpu_gives_the_cpu_rounds(gpu, tmp_path, idx_folder, runs_dir):
    """A lottery-ticket experiment (prune by MAAV, rewind, the reinit and random controls) on each device."""
    section = {"rounds": 1, "rate": 0.5, "eval_every": 4, "criterion": "maav", "controls": ["reinit", "random"]}
    on = on_each_device(lambda d: run_json("ticket", spec_path(tmp_path, idx_folder, d, train={"rewind_step": 4, "epochs": 2},
                                                               ticket=section), "--runs-dir", runs_dir / d))
    cpu_rows, gpu_rows = on["cpu"]["rows"], on["gpu"]["rows"]
    assert [(r["variant"], r["round"]) for r in gpu_rows] == [(r["variant"], r["round"]) for r in cpu_rows]
    for c, g in zip(cpu_rows, gpu_rows):
        assert g["remaining"] == pytest.approx(c["remaining"], abs=0.01)
        assert g["test_accuracy"] == pytest.approx(c["test_accuracy"], abs=0.011 if not REAL_GPU else 0.05)
        with h5py.File(Path(g["run"]) / "model.h5") as f:
            assert f.attrs["device"] == "gpu"
    if not REAL_GPU:
        assert_close_runs(cpu_rows[1]["run"], gpu_rows[1]["run"])  # the ticket itself


def test_import_on_the_gpu_and_export_of_a_gpu_run(gpu, tmp_path, idx_folder, runs_dir):
    """import evaluates the network on the spec's device; export writes a GPU-trained run's weights bit for bit."""
    gpu_run = run_json("train", spec_path(tmp_path, idx_folder, "gpu"), "--runs-dir", runs_dir)["run"]
    for kind in ("safetensors", "onnx", "npz"):
        exported = run_json("export", gpu_run, "--format", kind, "--out", tmp_path / f"m.{kind}", "--runs-dir", runs_dir)
        on = on_each_device(lambda d: run_json("import", exported["file"], "--spec", spec_path(tmp_path, idx_folder, d),
                                               "--runs-dir", runs_dir))
        assert on["gpu"]["test_accuracy"] == pytest.approx(on["cpu"]["test_accuracy"], abs=SAME_OUTPUTS)
        assert on["gpu"]["per_class_accuracy"] == pytest.approx(on["cpu"]["per_class_accuracy"], abs=SAME_OUTPUTS * 10)
        for a, b in zip(arrays(gpu_run), arrays(on["gpu"]["run"]), strict=True):
            assert a.dtype == b.dtype and a.tobytes() == b.tobytes()


def test_forget_on_the_gpu_with_the_other_comparators(trained, runs_dir):
    """project (an SVD), salun, finetune and head: the comparators the first forgetting test leaves out."""
    on = both("forget", "--class", "3", "--run", trained, "--compare", "project,salun,finetune,head",
              "--evaluate", "quick", "--probe-samples", "200", "--relearn-steps", "5", runs_dir=runs_dir)
    assert [r["method"] for r in on["gpu"]["judge"]] == [r["method"] for r in on["cpu"]["judge"]]
    assert {"project", "salun", "finetune", "head"} <= {r["method"] for r in on["gpu"]["judge"]}
    for cpu, gpu in zip(on["cpu"]["judge"], on["gpu"]["judge"]):
        for key in ("df", "dr", "accuracy"):
            assert gpu[key] == pytest.approx(cpu[key], abs=0.1), (cpu["method"], key)


@pytest.mark.parametrize("options", [["--repair", "readout"], ["--repair", "sgd", "--repair-steps", "10"],
                                     ["--repair", "none"],
                                     ["--rescore", "every_step", "--repair", "sgd", "--repair-steps", "5"]],
                         ids=["readout", "sgd", "none", "every-step-sgd"])
def test_forget_with_each_repair_on_the_gpu(trained, runs_dir, options):
    """The default repair (features: least squares by xp.linalg.solve) runs in the tests above; these are the others."""
    on = both("forget", "--class", "3", "--run", trained, *options, "--evaluate", "none", runs_dir=runs_dir)
    for key in ("df_before", "dr_before"):
        assert on["gpu"][key] == pytest.approx(on["cpu"][key], abs=SAME_OUTPUTS)
    assert on["gpu"]["df_after"] <= on["cpu"]["df_after"] + 0.1
    assert on["gpu"]["dr_after"] == pytest.approx(on["cpu"]["dr_after"], abs=0.1)
    assert on["gpu"]["removed_fraction"] == pytest.approx(on["cpu"]["removed_fraction"], rel=0.25)
