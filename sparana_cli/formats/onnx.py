"""ONNX graphs of a ReLU MLP, written and read through the protobuf wire format (protobuf.py) with NumPy alone.

Written: input "input" (batch, features) float; per layer a Gemm node (x @ W.T + b, W stored (out, in)
as PyTorch's exporter stores nn.Linear), a Relu after each hidden layer, a Softmax (last axis)
after the output layer of a softmax model; output "output" (batch, classes); the metadata as
metadata_props. Read: the same, or MatMul + Add in place of Gemm, with Identity, Flatten,
Constant and Transpose-of-a-constant nodes passed through; any other node is refused by name.
Field numbers are those of onnx/onnx.proto.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sparana_cli import __version__
from sparana_cli.errors import UserError
from sparana_cli.formats import protobuf as pb
from sparana_cli.formats.mlp import Mlp, check_float, same_dtype, sequential_names, shown

IR_VERSION, OPSET = 8, 17  # onnxruntime >= 1.14 runs both
ELEM = {np.dtype(np.float32): 1, np.dtype(np.float64): 11}  # TensorProto.DataType: FLOAT, DOUBLE
READ_DTYPES = {1: "<f4", 11: "<f8", 7: "<i8", 6: "<i4"}
INPUT, OUTPUT = "input", "output"
PASS_THROUGH = ("Identity", "Flatten")
CONVOLUTIONS = ("Conv", "ConvTranspose", "ConvInteger", "QLinearConv", "MaxPool", "AveragePool", "GlobalAveragePool")
OPS_ACCEPTED = "Gemm, MatMul, Add, Relu, Softmax (last), Identity, Flatten, Constant, Transpose of a constant"


# -- writing -----------------------------------------------------------------------------------


def _tensor(name: str, array: np.ndarray) -> bytes:
    array = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
    return pb.message((1, list(array.shape)), (2, ELEM[np.dtype(array.dtype.newbyteorder("="))]), (8, name),
                      (9, array.tobytes()))


def _value_info(name: str, elem: int, dims: list, doc: str) -> bytes:
    shape = pb.message((1, [pb.message((2, d) if isinstance(d, str) else (1, d)) for d in dims]))
    return pb.message((1, name), (2, pb.message((1, pb.message((1, elem), (2, shape))))), (3, doc))


def _node(op: str, inputs: list[str], outputs: list[str], name: str, **attributes: int) -> bytes:
    attrs = [pb.message((1, key), (3, value), (20, 2)) for key, value in attributes.items()]  # type 2: INT
    return pb.message((1, inputs), (2, outputs), (3, name), (4, op), (5, attrs))


def onnx_model(weights: list[np.ndarray], biases: list[np.ndarray], output: str, metadata: dict[str, str],
               input_doc: str) -> bytes:
    """The serialized ModelProto of the MLP (weights (in, out), Sparana's layout)."""
    nodes, initializers, current = [], [], INPUT
    last = len(weights) - 1
    for i, ((wname, bname), w, b) in enumerate(zip(sequential_names(len(weights)), weights, biases)):
        initializers += [_tensor(wname, np.ascontiguousarray(w.T)), _tensor(bname, b)]
        out = f"layer{i}" if i < last or output == "softmax" else OUTPUT
        nodes.append(_node("Gemm", [current, wname, bname], [out], f"layer{i}/gemm", transB=1))
        current = out
        if i < last:
            nodes.append(_node("Relu", [current], [f"layer{i}/relu"], f"layer{i}/relu"))
            current = f"layer{i}/relu"
    if output == "softmax":
        nodes.append(_node("Softmax", [current], [OUTPUT], "softmax", axis=-1))
    elem = ELEM[np.dtype(weights[0].dtype)]
    graph = pb.message((1, nodes), (2, metadata.get("run") or "sparana"), (5, initializers),
                       (11, [_value_info(INPUT, elem, ["batch", weights[0].shape[0]], input_doc)]),
                       (12, [_value_info(OUTPUT, elem, ["batch", weights[-1].shape[1]],
                                         f"{output} outputs, one per class")]))
    props = [pb.message((1, k), (2, v)) for k, v in metadata.items()]
    return pb.message((1, IR_VERSION), (2, "sparana"), (3, __version__), (7, graph), (8, pb.message((1, ""), (2, OPSET))),
                      (14, props))


# -- reading -----------------------------------------------------------------------------------


def _string(values: list, path: Path) -> str:
    """A string field in full; a varint where a string belongs is a damaged file (bytes(n) would allocate n bytes)."""
    if not values:
        return ""
    if not isinstance(values[0], (bytes, bytearray)):
        raise UserError(f"{path}: not an ONNX model (a number where a string belongs)")
    return bytes(values[0]).decode(errors="replace")


def _text(values: list, path: Path, default: str = "") -> str:
    """A string field (a name), fit for messages (see mlp.shown)."""
    return shown(_string(values, path), 200) if values else default


def _read_tensor(raw: bytes, path: Path) -> tuple[str, np.ndarray]:
    t = pb.decode(raw)
    name = _text(t.get(8, []), path)
    dims = pb.ints(t.get(1, []))
    kind = t.get(2, [1])[0]
    if t.get(14, [0])[0] == 1:
        raise UserError(f"{path}: initializer {name}: its data are in an external file; save the model with the "
                        "weights inside (onnx.save_model(..., save_as_external_data=False))")
    if kind not in READ_DTYPES:
        raise UserError(f"{path}: initializer {name}: data type {kind} is not float, double or integer")
    dtype = READ_DTYPES[kind]
    if 9 in t:
        array = np.frombuffer(bytes(t[9][0]), dtype)
    elif kind in (1, 11):
        array = pb.floats(t.get(4 if kind == 1 else 10, []), dtype)
    else:
        array = np.asarray(pb.ints(t.get(7 if kind == 7 else 5, [])), dtype)
    if array.size != int(np.prod(dims, dtype=np.int64)):
        raise UserError(f"{path}: initializer {name}: {array.size} values do not fill shape {tuple(dims)}")
    return name, array.reshape(dims).astype(np.dtype(dtype).newbyteorder("="))


def _attributes(node: dict, path: Path, where: str) -> dict:
    out = {}
    for raw in node.get(5, []):
        a = pb.decode(raw)
        name = _text(a.get(1, []), path)
        if 3 in a:
            out[name] = pb.signed(a[3][0])
        elif 2 in a:
            out[name] = pb.single_float(a[2][0])
        elif 5 in a:
            out[name] = _read_tensor(a[5][0], path)[1]
        elif 8 in a:
            out[name] = pb.ints(a[8])
        else:
            out[name] = None  # a kind no accepted node needs
    return out


def read_onnx(path: Path) -> Mlp:
    """The MLP an ONNX file's graph computes, or a UserError naming the file and the node that is not one."""
    try:
        return _read(Path(path).read_bytes(), path)
    except pb.Malformed as err:
        raise UserError(f"{path}: not an ONNX model ({err})") from None
    except (TypeError, IndexError, ValueError, OverflowError) as err:  # well-formed protobuf, not ONNX's fields
        raise UserError(f"{path}: not an ONNX model (a field of the wrong kind or size: {err})") from None


def _read(data: bytes, path: Path) -> Mlp:
    model = pb.decode(data)
    if 7 not in model:
        raise UserError(f"{path}: not an ONNX model (no graph)")
    metadata = {}
    for raw in model.get(14, []):
        entry = pb.decode(raw)
        metadata[_string(entry.get(1, []), path)] = _string(entry.get(2, []), path)  # in full: provenance, live zeros
    graph = pb.decode(model[7][0])
    constants = dict(_read_tensor(raw, path) for raw in graph.get(5, []))
    inputs = [_text(pb.decode(raw).get(1, []), path) for raw in graph.get(11, [])]
    inputs = [name for name in inputs if name not in constants]  # older exporters list initializers as inputs
    outputs = [_text(pb.decode(raw).get(1, []), path) for raw in graph.get(12, [])]
    if len(inputs) != 1 or len(outputs) != 1:
        raise UserError(f"{path}: the graph has {len(inputs)} inputs and {len(outputs)} outputs; an MLP has one of each")
    layers, output, current = _walk(graph.get(1, []), constants, inputs[0], path)
    if current != outputs[0]:
        raise UserError(f"{path}: the graph's output {outputs[0]} is not the last layer's result ({current})")
    if not layers:
        raise UserError(f"{path}: the graph holds no Gemm or MatMul layer")
    weights, biases = same_dtype([w for w, _, _ in layers], [b for _, b, _ in layers])
    return Mlp(weights, biases, [f"node {name}" for _, _, name in layers], output, metadata)


def _walk(raw_nodes: list, constants: dict, current: str, path: Path):
    """Follow the input through the nodes: [(W (in, out), b, node name)], the output activation, the final tensor."""
    layers: list[list] = []  # [W, b, name, closed]
    output = "linear"
    for index, raw in enumerate(raw_nodes):
        node = pb.decode(raw)
        op = _text(node.get(4, []), path)
        name = _text(node.get(3, []), path) or f"#{index}"
        where = f"{path}: node {name} ({op})"
        ins = [_text([v], path) for v in node.get(1, [])]
        outs = [_text([v], path) for v in node.get(2, [])]
        attrs = _attributes(node, path, where)
        if op == "Constant":
            constants[outs[0]] = attrs.get("value")
            continue
        if op == "Transpose" and ins and ins[0] in constants:
            perm = attrs.get("perm") or list(range(constants[ins[0]].ndim))[::-1]
            constants[outs[0]] = constants[ins[0]].transpose(perm)
            continue
        if current not in ins:
            raise UserError(f"{where}: does not take the previous layer's result ({current}); an MLP is one chain")
        others = [constants.get(i) for i in ins if i != current]
        if any(o is None for o in others):
            raise UserError(f"{where}: takes a tensor that is neither the chain's nor a constant")
        open_layer = layers and not layers[-1][3]
        if op in PASS_THROUGH:
            if op == "Flatten" and attrs.get("axis", 1) != 1:
                raise UserError(f"{where}: flattens at axis {attrs['axis']}; only axis 1 keeps a batch of rows")
        elif op == "Gemm":
            if attrs.get("alpha", 1.0) != 1.0 or attrs.get("beta", 1.0) != 1.0 or attrs.get("transA", 0) or ins[0] != current:
                raise UserError(f"{where}: only x @ W (+ b) with alpha 1, beta 1 and no transA is an MLP layer")
            _close(layers, where)
            w = others[0].T if attrs.get("transB", 0) else others[0]
            layers.append([w, others[1] if len(others) > 1 else None, name, False])
        elif op == "MatMul":
            if ins[0] != current:
                raise UserError(f"{where}: multiplies the weights from the left; an MLP layer is x @ W")
            _close(layers, where)
            layers.append([others[0], None, name, False])
        elif op == "Add":
            if not open_layer or layers[-1][1] is not None:
                raise UserError(f"{where}: an Add that is not a layer's bias (after a MatMul)")
            layers[-1][1] = others[0]
        elif op == "Relu":
            if not open_layer:
                raise UserError(f"{where}: a Relu that does not follow a layer")
            layers[-1][3] = True
        elif op == "Softmax":
            if not open_layer or attrs.get("axis", -1) not in (-1, 1):
                raise UserError(f"{where}: only a Softmax over the classes after the output layer is accepted")
            output, layers[-1][3] = "softmax", True
            current = outs[0]
            if index != len(raw_nodes) - 1:
                raise UserError(f"{where}: a Softmax before the last node; it belongs on the output layer only")
            continue
        elif op in CONVOLUTIONS:
            raise UserError(f"{where}: a convolution or pooling layer; only fully connected ReLU networks are accepted")
        else:
            raise UserError(f"{where}: not an operation of a ReLU MLP (accepted: {OPS_ACCEPTED})")
        current = outs[0]
    if layers and layers[-1][3] and output == "linear":
        raise UserError(f"{path}: node after {layers[-1][2]}: a Relu on the output layer; Sparana's output layer is "
                        "linear or softmax")
    return [_layer(w, b, name, path, layers[i - 1][0] if i else None) for i, (w, b, name, _) in enumerate(layers)], \
        output, current


def _close(layers: list, where: str) -> None:
    """A new layer starts: the one before must have ended in a Relu."""
    if layers and not layers[-1][3]:
        raise UserError(f"{where}: follows {layers[-1][2]} with no Relu between them")


def _layer(w: np.ndarray, b: np.ndarray | None, name: str, path: Path, before: np.ndarray | None):
    """(W, b, name) checked: a 2-D float matrix, a bias of its width, inputs matching the layer before."""
    check_float(w, f"{name} weights", path)
    if w.ndim != 2:
        raise UserError(f"{path}: node {name}: weights of shape {w.shape}; a layer's weights are 2-D")
    b = np.zeros(w.shape[1], w.dtype) if b is None else b
    check_float(b, f"{name} bias", path)
    if b.size != w.shape[1] or b.ndim > 2:
        raise UserError(f"{path}: node {name}: bias of shape {b.shape} for {w.shape[1]} outputs")
    if before is not None and w.shape[0] != before.shape[1]:
        raise UserError(f"{path}: node {name}: takes {w.shape[0]} inputs, but the layer before gives {before.shape[1]}")
    return np.ascontiguousarray(w), b.reshape(-1), name
