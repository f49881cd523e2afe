"""Run an exported ONNX model in onnxruntime on an MNIST-format test set: accuracy, per class.

    python scripts/onnx_accuracy.py forgotten.onnx --data /usr/share/datasets/fashion-mnist

Standalone onnxruntime and NumPy (pip install onnxruntime); Sparana is not imported. Pixels are
scaled x/255, as the model's `input` metadata says for data.normalize: unit.
"""

import argparse
import gzip
from pathlib import Path

import numpy as np
import onnxruntime as ort


def idx(path: Path) -> np.ndarray:
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    ndim = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--data", type=Path, default=Path("/usr/share/datasets/fashion-mnist"))
    args = parser.parse_args()
    images = idx(next(args.data.glob("t10k-images-idx3-ubyte*"))).reshape(-1, 784).astype(np.float32) / 255
    labels = idx(next(args.data.glob("t10k-labels-idx1-ubyte*")))
    session = ort.InferenceSession(str(args.model), providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    print(f"{args.model}: run {meta.get('run')}, layers {meta.get('layer_sizes')}, output {meta.get('output_activation')}")
    given = session.get_inputs()[0]
    print(f"input {given.name} {given.shape}; onnxruntime {ort.__version__}")
    predicted = session.run(None, {given.name: images})[0].argmax(1)
    print(f"test accuracy {100 * (predicted == labels).mean():.2f}% on {len(labels)} images")
    print("per class: " + " ".join(f"{c}:{100 * (predicted[labels == c] == c).mean():.1f}%" for c in range(10)))


if __name__ == "__main__":
    main()
