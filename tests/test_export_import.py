"""`sparana export` and `sparana import`: round trips bit for bit, onnxruntime agreeing with Sparana on the test
images (dense, pruned, shrunk; LQ and SCE), the metadata a reader needs, and every refusal one line with no run left."""

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from sparana_cli.formats.files import read_model
from sparana_cli.formats.onnx import onnx_model
from sparana_cli.formats.safetensors import read_safetensors, write_safetensors
from sparana_cli.store import provenance, runs
from sparana_cli.store.reader import load_run_with_data
from sparana_cli.ui import Console
from tests.conftest import tiny_spec, write_idx_folder
from tests.test_cli import check_refused, invoke, train_json

KINDS = ["safetensors", "onnx", "npz"]


def ok_json(*args):
    result = invoke(*args, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def family(tmp_path_factory):
    """Runs of every shape export meets: dense LQ, dense SCE, pruned (dense storage), pruned, shrunk and CSR-stored."""
    base = tmp_path_factory.mktemp("export")
    data = write_idx_folder(base / "data")
    spec = base / "tiny.yaml"
    spec.write_text(yaml.safe_dump(tiny_spec(data)))
    sce = base / "sce.yaml"
    sce.write_text(yaml.safe_dump(tiny_spec(data, name="sce", model={"output": "softmax", "loss": "cross_entropy"})))
    root = base / "runs"
    dense = Path(train_json(spec, root)["run"])
    out = {"spec": spec, "root": root, "dense": dense, "sce": Path(train_json(sce, root)["run"])}
    for name, extra in (("pruned", []), ("shrunk", ["--shrink", "--format", "csr"])):
        out[name] = Path(ok_json("prune", "--run", dense, "--method", "maav", "--sparsity", "0.7", *extra,
                                 "--runs-dir", root)["run"])
    return out


@pytest.mark.parametrize("which", ["dense", "sce", "pruned", "shrunk"])
@pytest.mark.parametrize("kind", KINDS)
def test_export_then_import_gives_bit_identical_weights(family, tmp_path, which, kind):
    run = family[which]
    exported = ok_json("export", run, "--format", kind, "--out", tmp_path / f"m.{kind}", "--runs-dir", family["root"])
    imported = ok_json("import", exported["file"], "--spec", family["spec"], "name=back", "--runs-dir", tmp_path / "runs")
    original, _ = runs.load_model(run)
    back, attrs = runs.load_model(imported["run"])
    assert back.sizes == original.sizes and back.output == original.output and attrs["phase"] == "train"
    for a, b in zip(back.weights + back.biases + back.masks, original.weights + original.biases + original.masks):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes()
    assert imported["test_accuracy"] == pytest.approx(runs.read_metrics(run)[1]["test"]["accuracy"])
    assert yaml.safe_load((Path(imported["run"]) / "spec.yaml").read_text())["model"]["hidden"] == original.sizes[1:-1]
    if which == "shrunk":
        assert exported["csr_written_dense"] == [0, 1] and original.sizes[1] < 24  # written at its shrunk size


@pytest.mark.parametrize("kind", KINDS)
def test_live_weights_at_exactly_zero_come_back_live(family, tmp_path, kind):
    """A forgetting refit leaves some unpruned weights at exactly 0: the masks still round-trip bit for bit."""
    run = tmp_path / family["pruned"].name
    shutil.copytree(family["pruned"], run)
    net, attrs = runs.load_model(run)
    for w, m in zip(net.weights, net.masks):
        live = np.argwhere(m)[:60]  # more than 200 characters of indices in the metadata
        w[live[:, 0], live[:, 1]] = 0  # live, but zero
    runs.save_model(run / runs.MODEL_FILE, net, attrs)
    exported = ok_json("export", run, "--format", kind, "--out", tmp_path / f"m.{kind}")
    counted = [int(np.count_nonzero(w)) for w in net.weights]  # not the live weights: 60 of them per layer are 0
    assert exported["nonzero"] == counted and json.loads(read_model(exported["file"])[0].metadata["nonzero_weights"]) == counted
    imported = ok_json("import", exported["file"], "--spec", family["spec"], "--runs-dir", tmp_path / "runs")
    back, _ = runs.load_model(imported["run"])
    for a, b in zip(back.weights + back.masks, net.weights + net.masks):
        assert a.tobytes() == b.tobytes()
    assert imported["pruned_weights"] == sum(int((~m).sum()) for m in net.masks)


@pytest.mark.parametrize("which", ["dense", "sce", "pruned", "shrunk"])
def test_onnxruntime_outputs_equal_sparanas_on_the_test_images(family, tmp_path, which):
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime (the test and onnx extras) is not installed")
    path = tmp_path / "m.onnx"
    ok_json("export", family[which], "--format", "onnx", "--out", path, "--runs-dir", family["root"])
    _, net, _, dataset, _ = load_run_with_data(family[which], Console(True), "cpu")
    x = np.asarray(dataset.x_test[np.arange(len(dataset.y_test))], dtype=np.float32)  # scaled as Sparana scales them
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    theirs = session.run(["output"], {"input": x})[0]
    ours = net.predict(x)
    assert theirs.shape == (len(dataset.y_test), 10)
    np.testing.assert_allclose(theirs, ours, rtol=1e-5, atol=1e-5 * max(1.0, float(np.abs(ours).max())))
    assert (theirs.argmax(1) == ours.argmax(1)).mean() > 0.99  # ties aside, the same predictions


def test_metadata_names_sizes_activation_loss_run_and_provenance(family, tmp_path):
    path = tmp_path / "sce.safetensors"
    ok_json("export", family["sce"], "--format", "safetensors", "--out", path, "--runs-dir", family["root"])
    tensors, metadata = read_safetensors(path)
    assert sorted(tensors) == ["0.bias", "0.weight", "2.bias", "2.weight", "4.bias", "4.weight"]
    assert tensors["0.weight"].shape == (24, 36)  # PyTorch's (out, in)
    assert json.loads(metadata["layer_sizes"]) == [36, 24, 16, 10]
    assert metadata["output_activation"] == "softmax" and metadata["loss"] == "cross_entropy"
    assert metadata["run"] == family["sce"].name and metadata["format"] == "sparana-mlp"
    assert json.loads(metadata["provenance"])["argv"][:2] == ["sparana", "train"]
    onnx = pytest.importorskip("onnx", reason="the onnx package (test extra) is not installed")
    ok_json("export", family["shrunk"], "--format", "onnx", "--out", tmp_path / "s.onnx", "--runs-dir", family["root"])
    props = {p.key: p.value for p in onnx.load(tmp_path / "s.onnx").metadata_props}
    assert "CSR in the run, written dense" in props["written_dense"] and props["phase"] == "prune"


def test_the_default_file_is_named_after_the_run_in_the_current_folder(family, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    summary = ok_json("export", family["dense"], "--format", "npz", "--runs-dir", family["root"])
    assert Path(summary["file"]) == Path(family["dense"].name + ".npz") and (tmp_path / summary["file"]).is_file()


def test_provenance_records_the_file_and_its_sha256(family, tmp_path):
    path = tmp_path / "m.onnx"
    exported = ok_json("export", family["pruned"], "--format", "onnx", "--out", path, "--runs-dir", family["root"])
    run = Path(ok_json("import", path, "--spec", family["spec"], "--runs-dir", tmp_path / "runs")["run"])
    imported = provenance.read(run)["imported"]
    assert imported["sha256"] == exported["sha256"] and imported["file"] == str(path.resolve())
    assert imported["format"] == "onnx" and imported["metadata"]["run"] == family["pruned"].name
    shown = invoke("runs", "show", run.name, "--runs-dir", tmp_path / "runs").stdout
    assert f"sha256 {exported['sha256']}" in shown


def test_every_command_works_on_an_imported_run(family, tmp_path):
    path = tmp_path / "m.safetensors"
    ok_json("export", family["dense"], "--format", "safetensors", "--out", path, "--runs-dir", family["root"])
    root = tmp_path / "runs"
    run = ok_json("import", path, "--spec", family["spec"], "--runs-dir", root)["run"]
    assert ok_json("evaluate", run, "--runs-dir", root)["accuracy"] > 0.5
    pruned = ok_json("prune", "--method", "maav", "--sparsity", "0.5", "--runs-dir", root)  # the newest train run
    assert pruned["parent"] == str(Path(run).resolve())
    forgot = ok_json("forget", "--run", run, "--class", "3", "--step", "4", "--max-fraction", "0.5", "--evaluate", "none",
                     "--runs-dir", root)
    assert forgot["parent"] == str(Path(run).resolve())
    assert ok_json("attack", run, "--eps", "0.1", "--samples", "30", "--runs-dir", root)["run"]
    swept = ok_json("sweep", run, "sparsity=0.3,0.6", "--command", "prune", "--runs-dir", root)  # points as processes
    with open(swept["csv"], newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["sparsity"], r["status"]) for r in rows] == [("0.3", "completed"), ("0.6", "completed")]
    assert all(runs.read_model_attrs(r["run"])["parent"] == str(Path(run).resolve()) for r in rows)
    listed = ok_json("runs", "--runs-dir", root)
    assert {r["phase"] for r in listed["runs"]} == {"train", "prune", "forget", "attack"}
    assert invoke("plot", run, "--out", tmp_path / "plots", "--runs-dir", root).exit_code == 0
    assert (tmp_path / "plots").is_dir() and any((tmp_path / "plots").iterdir())


def linear_layers(sizes, seed=0):
    rng = np.random.default_rng(seed)
    tensors = {}
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        tensors[f"{2 * i}.weight"] = rng.standard_normal((b, a)).astype(np.float32)
        tensors[f"{2 * i}.bias"] = rng.standard_normal(b).astype(np.float32)
    return tensors


def test_refusals_are_one_line_naming_file_and_tensor_and_leave_no_run(family, tmp_path):
    root = tmp_path / "runs"
    root.mkdir()
    spec = family["spec"]
    files = {}
    for name, tensors in {"wide": linear_layers([40, 8, 10]), "classes": linear_layers([36, 8, 7]),
                          "conv": {"0.weight": np.zeros((4, 1, 3, 3), np.float32)}}.items():
        files[name] = tmp_path / f"{name}.safetensors"
        write_safetensors(files[name], tensors, {})
    pickle = tmp_path / "model.pt"
    pickle.write_bytes(b"\x80\x04\x95 a pickle, never read")
    expected = {
        "wide": "wide.safetensors: tensor 0.weight: takes 40 inputs, but mnist has 36 features",
        "classes": "classes.safetensors: tensor 2.weight: gives 7 outputs, but mnist has 10 classes",
        "conv": "conv.safetensors: tensor 0.weight: a convolution kernel",
    }
    for name, text in expected.items():
        assert text in check_refused(["import", files[name], "--spec", spec, "--runs-dir", root], root)
    assert "model.pt: a pickle-based file" in check_refused(["import", pickle, "--spec", spec, "--runs-dir", root], root)
    assert "nothing.onnx: file not found" in check_refused(["import", tmp_path / "nothing.onnx", "--spec", spec,
                                                            "--runs-dir", root], root)
    sce_only = tmp_path / "linear.onnx"  # a graph without Softmax (and no metadata) under a cross-entropy spec
    tensors = linear_layers([36, 8, 10])
    sce_only.write_bytes(onnx_model([tensors["0.weight"].T, tensors["2.weight"].T], [tensors["0.bias"], tensors["2.bias"]],
                                    "linear", {}, "images"))
    line = check_refused(["import", sce_only, "--spec", spec, "model.output=softmax", "model.loss=cross_entropy",
                          "--runs-dir", root], root)
    assert "ends without a Softmax" in line
    assert "--out" in check_refused(["export", family["dense"], "--format", "onnx", "--out", tmp_path / "no" / "m.onnx",
                                     "--runs-dir", family["root"]], root)


def test_a_relu_onnx_graph_of_another_activation_is_refused_by_node(family, tmp_path):
    pytest.importorskip("onnx", reason="the onnx package (test extra) is not installed")
    from onnx import TensorProto, helper, numpy_helper, save

    tensors = linear_layers([36, 8, 10])
    nodes = [helper.make_node("Gemm", ["x", "0.weight", "0.bias"], ["h"], transB=1),
             helper.make_node("Tanh", ["h"], ["a"], name="act"),
             helper.make_node("Gemm", ["a", "2.weight", "2.bias"], ["y"], transB=1)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 36])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 10])],
                              [numpy_helper.from_array(a, k) for k, a in tensors.items()])
    save(helper.make_model(graph), tmp_path / "tanh.onnx")
    root = tmp_path / "runs"
    line = check_refused(["import", tmp_path / "tanh.onnx", "--spec", family["spec"], "--runs-dir", root], root)
    assert "tanh.onnx: node act (Tanh): not an operation of a ReLU MLP" in line


def test_a_refusal_on_the_embedded_sample_is_one_line_too(tmp_path, monkeypatch):
    """The sample's NOTE is said only once the file fits the data: a refused import prints its error line alone."""
    monkeypatch.delenv("SPARANA_DATA", raising=False)  # no IDX files: mnist is the 5,000-image sample (784 features)
    spec = tmp_path / "sample.yaml"
    spec.write_text(yaml.safe_dump({"name": "sample", "data": {"name": "mnist"}}))
    wide = tmp_path / "wide.safetensors"
    write_safetensors(wide, linear_layers([36, 8, 10]), {})
    root = tmp_path / "runs"
    line = check_refused(["import", wide, "--spec", spec, "--runs-dir", root], root)
    assert "wide.safetensors: tensor 0.weight: takes 36 inputs, but mnist has 784 features" in line
    fits = tmp_path / "fits.safetensors"
    write_safetensors(fits, linear_layers([784, 8, 10]), {})
    accepted = invoke("import", fits, "--spec", spec, "--runs-dir", root)
    assert accepted.exit_code == 0 and "5,000-image sample" in accepted.stderr  # said once the file is accepted


def test_damaged_live_zero_metadata_is_refused_in_one_line(family, tmp_path):
    root = tmp_path / "runs"
    path = tmp_path / "bad.safetensors"
    write_safetensors(path, linear_layers([36, 8, 10]), {"format": "sparana-mlp", "output_activation": "linear",
                                                         "live_zero_weights": "[[], [80]]"})  # 2.weight has 80 entries
    line = check_refused(["import", path, "--spec", family["spec"], "--runs-dir", root], root)
    assert "bad.safetensors: metadata live_zero_weights, layer 1: not flat indices into its 10x8 (out, in) weight" in line
