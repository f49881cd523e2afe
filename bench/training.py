"""P1 (an epoch of training, Sparana vs PyTorch eager, and against the matmul peak) and the subset-training row."""

from __future__ import annotations

import numpy as np

from bench.common import interleaved, matmul_gflops, row, spread
from sparana_cli.analysis.scores import score_layers
from sparana_cli.analysis.trainable import top_indices
from sparana_cli.engine.network import Network
from sparana_cli.engine.training import Trainer
from sparana_cli.spec import TrainSpec

# (label, sizes, optimizer, lr, batch): the two nets the issue names
NETS = [
    ("784-300-100-10 SGD b128", [784, 300, 100, 10], "sgd", 0.01, 128),
    ("784-1000-800-400-10 Adam b250", [784, 1000, 800, 400, 10], "adam", 1e-4, 250),
]


def mnist_shaped(n: int, seed: int = 0):
    """n random MNIST-shaped samples: pixels in [0, 1) float32, labels 0..9."""
    rng = np.random.default_rng(seed)
    return rng.random((n, 784), dtype=np.float32), rng.integers(0, 10, n)


def training_flops(sizes: list[int], n: int) -> float:
    """FLOPs one epoch needs: forward and weight gradients on every layer, input gradients on all but the first."""
    products = [a * b for a, b in zip(sizes[:-1], sizes[1:])]
    return 2.0 * n * (2 * sum(products) + sum(products[1:]))


def sparana_epoch(sizes, optimizer, lr, batch, x, y):
    """A callable that trains one epoch of a Sparana network on (x, y) (after a warm-up of two steps)."""
    net = Network.xavier(sizes, seed=0)
    trainer = Trainer(net, TrainSpec(optimizer=optimizer, lr=lr, batch_size=batch), loss="quadratic", seed=0)
    trainer.epoch(x[:2 * batch], y[:2 * batch], 0)  # Numba kernels load (or compile) here, not in the timing
    epochs = iter(range(1, 10**6))

    def epoch():
        trainer.epoch(x, y, next(epochs))

    return epoch


def torch_epoch(torch, sizes, optimizer, lr, batch, x, y, device: str = "cpu"):
    """The same epoch in PyTorch eager: nn.Linear + ReLU, quadratic cost, torch.optim (on `device`, e.g. "cuda")."""
    nn = torch.nn
    torch.manual_seed(0)
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    model = nn.Sequential(*layers).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=lr) if optimizer == "sgd" else torch.optim.Adam(model.parameters(), lr=lr)
    xt, yt = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
    eye = torch.eye(sizes[-1], device=device)
    generator = torch.Generator(device=device).manual_seed(0)

    def epoch():
        order = torch.randperm(xt.shape[0], generator=generator, device=device)
        for start in range(0, xt.shape[0], batch):
            rows = order[start:start + batch]
            out = model(xt[rows])
            loss = 0.5 * ((out - eye[yt[rows]]) ** 2).sum(dim=1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if device != "cpu":
            torch.cuda.synchronize()

    epoch_rows = xt[:2 * batch], yt[:2 * batch]
    out = model(epoch_rows[0])
    (out.sum()).backward()  # warm-up: first-call allocations and kernel selection
    opt.zero_grad(set_to_none=True)
    epoch.model = model  # for a test that the comparator learns
    return epoch


def p1_rows(*, samples: int, repeats: int, torch=None, peak_size: int = 2048) -> list[dict]:
    """One epoch of each net, Sparana and PyTorch taking turns with a matmul-peak measurement in every round."""
    x, y = mnist_shaped(samples)
    rows = []
    for label, sizes, optimizer, lr, batch in NETS:
        peaks = []
        cases = {"peak": lambda: peaks.append(matmul_gflops(peak_size)),
                 "sparana": sparana_epoch(sizes, optimizer, lr, batch, x, y)}
        if torch is not None:
            cases["torch"] = torch_epoch(torch, sizes, optimizer, lr, batch, x, y)
        name = f"P1 {label}"
        times = interleaved(cases, repeats, name)
        what = f"epoch of {samples:,}"
        ours = times["sparana"]
        if torch is not None:
            theirs = times["torch"]
            rows.append(row(name, what, spread(ours), f"PyTorch eager {spread(theirs)}", target="<= 0.8",
                            ratios=times.ratios("sparana", "torch"), rounds=times))
        else:
            rows.append(row(name, what, spread(ours), verdict="not available: torch not installed (pip install '.[bench]')"))
        flops = training_flops(sizes, samples)
        achieved = [flops / t / 1e9 for t in ours]
        rows.append(row(name, "GFLOP/s", spread(achieved, "GFLOP/s", digits=3),
                        f"matmul peak {spread(peaks, 'GFLOP/s')}", target=">= 0.7",
                        ratios=[a / p for a, p in zip(achieved, peaks)], rounds=times))
        if torch is not None:
            theirs_rate = [flops / t / 1e9 for t in times["torch"]]
            rows.append(row(name, "GFLOP/s", f"PyTorch {spread(theirs_rate, 'GFLOP/s')}", "(for comparison)",
                            ratios=[a / p for a, p in zip(theirs_rate, peaks)], rounds=times))
    return rows


def subset_rows(*, steps: int, repeats: int, fraction: float = 0.01) -> list[dict]:
    """A training step of the seed model with `fraction` of its weights trainable (by maav) vs a dense step."""
    sizes, batch = [784, 1000, 800, 400, 10], 250
    x, y = mnist_shaped(steps * batch, seed=1)
    net = Network.xavier(sizes, seed=0)
    chosen = top_indices(score_layers("maav", net, x), net.masks, fraction)
    cfg = TrainSpec(optimizer="adam", lr=1e-4, batch_size=batch)
    trainers = {"dense": Trainer(net.copy(), cfg, loss="quadratic", seed=0),
                "subset": Trainer(net.copy(), cfg, loss="quadratic", seed=0, trainable=chosen)}
    for trainer in trainers.values():
        trainer.epoch(x[:batch], y[:batch], 0)  # warm-up (kernel loading)
    cases = {name: (lambda t=t: t.epoch(x, y, 1) and None) for name, t in trainers.items()}  # None: time the whole call
    times = interleaved(cases, repeats, "subset")
    per_step = {name: [s / steps for s in ts] for name, ts in times.times.items()}
    count = sum(t.size for t in chosen)
    return [row(f"Subset {fraction:.0%} trainable (maav), seed model Adam b250", "step time",
                spread(per_step["subset"], "ms", 1e3), f"dense step {spread(per_step['dense'], 'ms', 1e3)}",
                verdict=f"info: {count:,} of {sum(w.size for w in net.weights):,} weights train",
                ratios=times.ratios("subset", "dense"), rounds=times)]


def dst_rows(*, steps: int, repeats: int, density: float = 0.1) -> list[dict]:
    """A training step of LeNet-300-100 under dynamic sparse training (static mask, SET, RigL) vs a dense step.

    Amortised over `steps` steps with a mask update every 100 (ERK densities at `density` overall).
    """
    from sparana_cli.analysis.dynamic_sparse import Rewirer, initial_masks, layer_densities
    from sparana_cli.spec import SparseSpec

    sizes, batch = [784, 300, 100, 10], 128
    x, y = mnist_shaped(steps * batch, seed=1)
    cfg = TrainSpec(optimizer="adam", lr=1.2e-3, batch_size=batch)
    shapes = list(zip(sizes[:-1], sizes[1:]))
    densities = layer_densities(shapes, density, "erk")
    trainers = {"dense": Trainer(Network.xavier(sizes, output="softmax", seed=0), cfg, loss="cross_entropy", seed=0)}
    for method in ("static", "set", "rigl"):
        net = Network.xavier(sizes, output="softmax", seed=0)
        net.masks = initial_masks(shapes, densities, 0)
        net.apply_masks()
        rewirer = Rewirer(SparseSpec(method=method, update_every=100), densities, total_steps=10**6, seed=0)
        trainers[method] = Trainer(net, cfg, loss="cross_entropy", seed=0, rewirer=rewirer)
    for trainer in trainers.values():
        trainer.epoch(x[:batch], y[:batch], 0)  # warm-up (kernel loading)
    cases = {name: (lambda t=t: t.epoch(x, y, 1) and None) for name, t in trainers.items()}
    times = interleaved(cases, repeats, "dst")
    per_step = {name: [s / steps for s in ts] for name, ts in times.times.items()}
    return [row(f"DST {method} {density:.0%} (ERK, update every 100), LeNet-300-100 Adam b128", "step time",
                spread(per_step[method], "ms", 1e3), f"dense step {spread(per_step['dense'], 'ms', 1e3)}",
                verdict="info: masked dense products; compute does not shrink with the density",
                ratios=times.ratios(method, "dense"), rounds=times)
            for method in ("static", "set", "rigl")]
