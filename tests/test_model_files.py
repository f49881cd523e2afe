"""Model files read and written with NumPy alone (formats/): checked against the reference safetensors and onnx
packages where they are installed (the test extra installs them), and every damaged or foreign file refused by name."""

import json
import re
import struct
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sparana_cli.errors import UserError
from sparana_cli.formats import protobuf as pb
from sparana_cli.formats.files import model_format, read_model, write_model
from sparana_cli.formats.onnx import onnx_model, read_onnx
from sparana_cli.formats.safetensors import read_safetensors, write_safetensors


def layers(sizes=(12, 7, 5, 3), dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    weights = [rng.standard_normal((a, b)).astype(dtype) for a, b in zip(sizes[:-1], sizes[1:])]
    return weights, [rng.standard_normal(b).astype(dtype) for b in sizes[1:]]


def reference_forward(weights, biases, x, output="linear"):
    a = x
    for i, (w, b) in enumerate(zip(weights, biases)):
        a = a @ w + b
        if i < len(weights) - 1:
            a = np.maximum(a, 0)
    if output == "softmax":
        a = np.exp(a - a.max(1, keepdims=True))
        a /= a.sum(1, keepdims=True)
    return a


@pytest.mark.parametrize("kind", ["safetensors", "onnx", "npz"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_written_models_read_back_bit_identical(tmp_path, kind, dtype):
    weights, biases = layers(dtype=dtype)
    path = tmp_path / f"m.{kind}"
    write_model(path, kind, weights, biases, "softmax", {"format": "sparana-mlp", "output_activation": "softmax"}, "x")
    mlp, found = read_model(path)
    assert found == kind and mlp.output == "softmax" and mlp.sizes == [12, 7, 5, 3]
    for a, b in zip(mlp.weights + mlp.biases, weights + biases):
        assert a.dtype == dtype and a.tobytes() == b.tobytes()


def test_safetensors_agrees_with_the_reference_package(tmp_path):
    st = pytest.importorskip("safetensors.numpy", reason="the safetensors package (test extra) is not installed")
    tensors = {"0.weight": np.arange(12, dtype=np.float32).reshape(3, 4), "0.bias": np.ones(3, np.float64),
               "x": np.arange(5, dtype=np.int64)}
    write_safetensors(tmp_path / "ours.safetensors", tensors, {"run": "r"})
    theirs = st.load_file(tmp_path / "ours.safetensors")
    assert all(np.array_equal(theirs[k], v) and theirs[k].dtype == v.dtype for k, v in tensors.items())
    st.save_file(tensors, tmp_path / "theirs.safetensors", metadata={"a": "b"})
    ours, metadata = read_safetensors(tmp_path / "theirs.safetensors")
    assert metadata == {"a": "b"} and all(np.array_equal(ours[k], v) for k, v in tensors.items())


def test_half_precision_tensors_read_as_float32(tmp_path):
    st = pytest.importorskip("safetensors.numpy", reason="the safetensors package (test extra) is not installed")
    w = np.array([[1.5, -2.25]], np.float16)
    st.save_file({"0.weight": w, "0.bias": np.zeros(1, np.float16)}, tmp_path / "h.safetensors")
    mlp, _ = read_model(tmp_path / "h.safetensors")
    assert mlp.weights[0].dtype == np.float32 and mlp.weights[0].ravel().tolist() == [1.5, -2.25]


def test_onnx_export_passes_the_checker_and_runs_in_onnxruntime(tmp_path):
    onnx = pytest.importorskip("onnx", reason="the onnx package (test extra) is not installed")
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime (test extra) is not installed")
    weights, biases = layers()
    x = np.random.default_rng(1).random((9, 12)).astype(np.float32)
    for output in ("linear", "softmax"):
        path = tmp_path / f"{output}.onnx"
        path.write_bytes(onnx_model(weights, biases, output, {"run": "r", "loss": "quadratic"}, "flattened images"))
        model = onnx.load(path)
        onnx.checker.check_model(model, full_check=True)
        assert {p.key: p.value for p in model.metadata_props} == {"run": "r", "loss": "quadratic"}
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        (given,) = session.get_inputs()
        assert given.name == "input" and given.shape == ["batch", 12]
        np.testing.assert_allclose(session.run(None, {"input": x})[0], reference_forward(weights, biases, x, output),
                                   rtol=1e-5, atol=1e-5)


def onnx_graph(tmp_path, nodes, initializers, name="g.onnx", n_in=12, n_out=3):
    """An ONNX file built with the reference onnx package's helpers."""
    onnx = pytest.importorskip("onnx", reason="the onnx package (test extra) is not installed")
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", n_in])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", n_out])],
                              [numpy_helper.from_array(a, k) for k, a in initializers.items()])
    path = tmp_path / name
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_onnx_matmul_add_graphs_are_read(tmp_path):
    from onnx import helper

    weights, biases = layers()
    inits = {"w0": weights[0], "b0": biases[0], "w1": weights[1], "b1": biases[1], "w2t": weights[2].T.copy(),
             "b2": biases[2]}
    nodes = [helper.make_node("Flatten", ["x"], ["f"], axis=1),
             helper.make_node("MatMul", ["f", "w0"], ["m0"], name="mm0"), helper.make_node("Add", ["b0", "m0"], ["a0"]),
             helper.make_node("Relu", ["a0"], ["r0"]),
             helper.make_node("MatMul", ["r0", "w1"], ["m1"]), helper.make_node("Add", ["m1", "b1"], ["a1"]),
             helper.make_node("Relu", ["a1"], ["r1"]),
             helper.make_node("Transpose", ["w2t"], ["w2"], perm=[1, 0]),
             helper.make_node("Gemm", ["r1", "w2", "b2"], ["y"])]
    mlp = read_onnx(onnx_graph(tmp_path, nodes, inits))
    assert mlp.output == "linear" and mlp.sizes == [12, 7, 5, 3]
    assert all(np.array_equal(a, b) for a, b in zip(mlp.weights + mlp.biases, weights + biases))


@pytest.mark.parametrize("case, expected", [
    ("conv", "node c0 (Conv): a convolution"),
    ("sigmoid", "node s0 (Sigmoid): not an operation of a ReLU MLP"),
    ("relu_out", "a Relu on the output layer"),
    ("no_relu", "with no Relu between them"),
])
def test_onnx_graphs_that_are_not_relu_mlps_are_refused_by_node(tmp_path, case, expected):
    from onnx import helper

    weights, biases = layers(sizes=(12, 7, 3))
    inits = {"w0": weights[0], "b0": biases[0], "w1": weights[1], "b1": biases[1]}
    first = helper.make_node("Gemm", ["x", "w0", "b0"], ["h"], name="g0")
    second = helper.make_node("Gemm", ["a", "w1", "b1"], ["y"], name="g1")
    nodes = {
        "conv": [helper.make_node("Conv", ["x", "w0"], ["a"], name="c0"), second],
        "sigmoid": [first, helper.make_node("Sigmoid", ["h"], ["a"], name="s0"), second],
        "relu_out": [first, helper.make_node("Relu", ["h"], ["a"]), helper.make_node("Gemm", ["a", "w1", "b1"], ["z"]),
                     helper.make_node("Relu", ["z"], ["y"], name="last")],
        "no_relu": [first, helper.make_node("Identity", ["h"], ["a"]), second],
    }[case]
    with pytest.raises(UserError, match=re.escape(expected)) as err:
        read_onnx(onnx_graph(tmp_path, nodes, inits))
    assert str(err.value).startswith(str(tmp_path / "g.onnx"))


def test_state_dicts_of_other_layers_are_refused_by_tensor(tmp_path):
    w = np.zeros((4, 3), np.float32)
    cases = {
        "conv": ({"0.weight": np.zeros((8, 1, 3, 3), np.float32), "0.bias": np.zeros(8, np.float32)},
                 "tensor 0.weight: a convolution kernel"),
        "batchnorm": ({"0.weight": w, "1.running_mean": np.zeros(4, np.float32)}, "tensor 1.running_mean: not a Linear"),
        "chain": ({"0.weight": w, "2.weight": np.zeros((2, 5), np.float32)},
                  "tensor 2.weight: takes 5 inputs, but the layer before gives 4"),
        "ints": ({"0.weight": w.astype(np.int32)}, "tensor 0.weight: dtype int32"),
        "two": ({"a.0.weight": w, "b.2.weight": np.zeros((2, 4), np.float32)}, "tensor b.2.weight: its prefix differs"),
    }
    for case, (tensors, expected) in cases.items():
        path = tmp_path / f"{case}.safetensors"
        write_safetensors(path, tensors, {})
        with pytest.raises(UserError, match=expected):
            read_model(path)


def test_prefixed_names_and_missing_biases_are_accepted(tmp_path):
    w0, w1 = np.ones((4, 3), np.float32), np.ones((2, 4), np.float32)
    path = tmp_path / "m.safetensors"
    write_safetensors(path, {"net.layers.0.weight": w0, "net.layers.3.weight": w1,
                             "net.layers.3.bias": np.ones(2, np.float32)}, {})
    mlp, _ = read_model(path)
    assert mlp.sizes == [3, 4, 2] and not mlp.biases[0].any() and mlp.output is None


def test_pickles_are_refused_unread(tmp_path):
    pickled = tmp_path / "model.pt"
    pickled.write_bytes(b"\x80\x04\x95 never read")
    with pytest.raises(UserError, match="model.pt: a pickle-based file"):
        read_model(pickled)
    renamed = tmp_path / "model.safetensors"  # a pickle under a safetensors name
    renamed.write_bytes(b"\x80\x02}q\x00" + b"\x00" * 40)
    with pytest.raises(UserError, match="model.safetensors: a pickle"):
        read_model(renamed)
    archive = tmp_path / "model.data"  # torch.save's zip of pickles, under any name
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("model/data.pkl", b"\x80\x02.")
    with pytest.raises(UserError, match="a pickle-based file"):
        model_format(archive)


def test_damaged_safetensors_are_refused_by_file_and_tensor(tmp_path):
    header = json.dumps({"0.weight": {"dtype": "F32", "shape": [4, 3], "data_offsets": [0, 48]}}).encode()
    cases = {
        "short": (struct.pack("<Q", len(header)) + header + b"\x00" * 20, "tensor 0.weight: data_offsets"),
        "nojson": (struct.pack("<Q", 4) + b"nope", "its header is not JSON"),
        "length": (struct.pack("<Q", 10**9) + header, "header length"),
    }
    for case, (data, expected) in cases.items():
        path = tmp_path / f"{case}.safetensors"
        path.write_bytes(data)
        with pytest.raises(UserError, match=expected):
            read_model(path)


def test_truncated_onnx_is_one_error(tmp_path):
    weights, biases = layers()
    path = tmp_path / "cut.onnx"
    path.write_bytes(onnx_model(weights, biases, "linear", {}, "x")[:200])
    with pytest.raises(UserError, match="cut.onnx: not an ONNX model"):
        read_model(path)


def test_onnx_metadata_reads_back_in_full(tmp_path):
    weights, biases = layers()
    metadata = {"provenance": json.dumps({"argv": ["sparana", "train"] * 300}), "short": "s"}  # ~6,000 characters
    path = tmp_path / "m.onnx"
    path.write_bytes(onnx_model(weights, biases, "linear", metadata, "x"))
    assert read_model(path)[0].metadata == metadata


def test_a_number_where_an_onnx_string_belongs_is_one_error(tmp_path):
    """bytes(n) of a varint would allocate n bytes: a huge one was a MemoryError, not a refusal."""
    weights, biases = layers()
    model = onnx_model(weights, biases, "linear", {}, "x")
    graph = pb.message((1, pb.message((4, 2**40))), (11, pb.message((1, "x"))), (12, pb.message((1, "y"))))
    for name, data in {"meta": model + pb.message((14, pb.message((1, "k"), (2, 2**40)))),  # metadata_props value
                       "node": pb.message((1, 8), (7, graph))}.items():  # a node's op_type
        path = tmp_path / f"{name}.onnx"
        path.write_bytes(data)
        with pytest.raises(UserError, match=f"{name}.onnx: not an ONNX model"):
            read_model(path)


def test_protobuf_varints_round_trip_negative_numbers():
    decoded = pb.decode(pb.message((1, -1), (2, 300), (3, "abc")))
    assert pb.ints(decoded[1]) == [-1] and decoded[2] == [300] and decoded[3] == [b"abc"]


MODEL_SETTINGS = settings(max_examples=1500, deadline=None, database=None, derandomize=True,
                          suppress_health_check=[HealthCheck.function_scoped_fixture])


def valid_files() -> dict[str, bytes]:
    """A small valid file of each format, as bytes, to damage."""
    weights, biases = layers(sizes=(6, 4, 3))
    out = {}
    with tempfile.TemporaryDirectory() as folder:
        for kind in ("safetensors", "onnx", "npz"):
            path = Path(folder) / f"m.{kind}"
            write_model(path, kind, weights, biases, "linear", {"format": "sparana-mlp", "output_activation": "linear"},
                        "x")
            out[kind] = path.read_bytes()
    return out


VALID = valid_files()


@MODEL_SETTINGS
@given(kind=st.sampled_from(sorted(VALID)), edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)),
                                                           min_size=1, max_size=4), cut=st.integers(1, 10**6))
def test_damaged_model_files_are_read_or_refused_in_one_line(tmp_path, kind, edits, cut):
    """Flipped bytes and truncation anywhere: the reader returns an MLP or raises a UserError naming the file."""
    data = bytearray(VALID[kind])
    for position, value in edits:
        data[position % len(data)] = value
    path = tmp_path / f"damaged.{kind}"
    path.write_bytes(bytes(data[:max(1, cut % (len(data) + 1))]))
    try:
        mlp, _ = read_model(path)
    except UserError as err:
        assert str(err).startswith(str(path)) and "\n" not in str(err)
    else:
        assert len(mlp.weights) == len(mlp.biases) >= 1
