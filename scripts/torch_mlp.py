"""Train a PyTorch MLP on an MNIST-format data set and save it with safetensors: a network "trained elsewhere".

    python scripts/torch_mlp.py --data /usr/share/datasets/fashion-mnist --out fashion-mlp.safetensors

Standalone PyTorch (pip install torch safetensors); Sparana is not imported. nn.Sequential of Linear
and ReLU, softmax cross-entropy on the logits, Adam; pixels scaled x/255 as Sparana's data.normalize:
unit does. Prints the test accuracy PyTorch measures, to compare with `sparana import`'s.
"""

import argparse
import gzip
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file


def idx(path: Path) -> np.ndarray:
    """An IDX file (.gz or raw) as an array: magic, dimension sizes, then uint8 values."""
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    ndim = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load(folder: Path, prefix: str) -> tuple[torch.Tensor, torch.Tensor]:
    name = next(folder.glob(f"{prefix}-images-idx3-ubyte*"))
    images = idx(name).reshape(-1, 784).astype(np.float32) / 255
    labels = idx(next(folder.glob(f"{prefix}-labels-idx1-ubyte*"))).astype(np.int64)
    return torch.from_numpy(images), torch.from_numpy(labels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("/usr/share/datasets/fashion-mnist"))
    parser.add_argument("--out", type=Path, default=Path("mlp.safetensors"))
    parser.add_argument("--hidden", type=int, nargs="+", default=[300, 100])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    x, y = load(args.data, "train")
    xt, yt = load(args.data, "t10k")
    widths = [784, *args.hidden, 10]
    layers = []
    for a, b in zip(widths[:-1], widths[1:]):
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1])  # no ReLU after the output layer
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(args.epochs):
        for batch in torch.randperm(len(y)).split(128):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
            optimizer.step()
        with torch.no_grad():
            accuracy = (model(xt).argmax(1) == yt).float().mean().item()
        print(f"epoch {epoch + 1}: test accuracy {100 * accuracy:.2f}%")
    save_file(model.state_dict(), args.out)
    print(f"wrote {args.out}: {' '.join(f'{k} {tuple(v.shape)}' for k, v in model.state_dict().items())}")


if __name__ == "__main__":
    main()
