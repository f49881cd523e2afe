"""Update rules. The base class owns the bookkeeping; each rule implements one in-place `_update`.

Each update is one fused kernel (backend.py picks Numba or CuPy): one pass over p, g and the state.
"""

from __future__ import annotations

import math

from sparana_cli.engine.backend import array_module, kernels_of


class Optimizer:
    """Steps a list of parameter arrays in place from a matching list of gradient arrays.

    `slot_names` name the per-parameter arrays a rule carries from step to step (Adam's m and v);
    with the step count `t` they are all a resumed run needs to continue exactly.
    """

    slot_names: tuple[str, ...] = ()

    def __init__(self, params: list, lr: float):
        self.params = params
        self.lr = lr
        self.t = 0  # steps taken
        self.kernels = kernels_of(params[0]) if params else None

    def state(self) -> dict[str, list]:
        """The carried arrays by slot name, one per parameter (live references, not copies)."""
        return {name: getattr(self, name) for name in self.slot_names if getattr(self, name) is not None}

    def load_state(self, t: int, slots: dict[str, list]) -> None:
        """Continue from a saved state: step count and carried arrays (host or device), copied in place."""
        assert slots.keys() == self.state().keys(), (sorted(slots), sorted(self.state()))
        self.t = int(t)
        for name, arrays in self.state().items():
            for dst, src in zip(arrays, slots[name], strict=True):
                dst[...] = array_module(dst).asarray(src)

    def step(self, grads: list) -> None:
        """One update. Gradients are read, not changed (callers may still treat them as scratch)."""
        self.t += 1
        for i, (p, g) in enumerate(zip(self.params, grads)):
            self._update(i, p, g)

    def _update(self, i: int, p, g) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """p -= lr * v with v = momentum * v + g (plain SGD when momentum is 0)."""

    slot_names = ("velocity",)

    def __init__(self, params, lr, momentum=0.0):
        super().__init__(params, lr)
        self.momentum = momentum
        self.velocity = [array_module(p).zeros_like(p) for p in params] if momentum else None

    def _update(self, i, p, g):
        if self.velocity is None:
            self.kernels.sgd(p, g, self.lr)
        else:
            self.kernels.sgd_momentum(p, g, self.velocity[i], self.lr, self.momentum)


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with bias correction: p -= lr * m_hat / (sqrt(v_hat) + eps).

    beta1, beta2 and eps have no defaults here: the spec's (TrainSpec) are the only ones.
    """

    slot_names = ("m", "v")

    def __init__(self, params, lr, *, beta1, beta2, eps):
        super().__init__(params, lr)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        xp = array_module(params[0])
        self.m = [xp.zeros_like(p) for p in params]
        self.v = [xp.zeros_like(p) for p in params]

    def _update(self, i, p, g):
        b1, b2 = self.beta1, self.beta2
        lr_t = self.lr / (1 - b1**self.t)  # bias corrections folded into two scalars
        c2 = 1.0 / math.sqrt(1 - b2**self.t)
        self.kernels.adam(p, g, self.m[i], self.v[i], lr_t, b1, b2, c2, self.eps)


def make_optimizer(params: list, cfg) -> Optimizer:
    """The optimizer a TrainSpec names."""
    if cfg.optimizer == "sgd":
        return SGD(params, cfg.lr, momentum=cfg.momentum)
    if cfg.optimizer == "adam":
        return Adam(params, cfg.lr, beta1=cfg.beta1, beta2=cfg.beta2, eps=cfg.eps)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}")
