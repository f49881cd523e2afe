"""Dense ReLU networks: parameters and masks, the forward pass, and the hand-written backward pass."""

from __future__ import annotations

import math

from sparana_cli.engine.backend import CPU, Backend, array_module, backend_of
from sparana_cli.engine.losses import activate_output, loss_and_delta
from sparana_cli.seeding import generator

# Rows per forward pass at inference, to bound memory: 1,024 rows of the seed model hold 7 MB of activations at once,
# 4,096 held 29 MB (a quarter of what a training run must hold). Inference over 10,000 rows took 1.2x the time of
# 4,096-row chunks (512 rows: 2.3x), paired, on a loaded 2-core machine (docs/_from-issue-27.md).
PREDICT_CHUNK = 1024


class Network:
    """Dense layers `a_next = act(a @ W + b)`: ReLU hidden layers, linear or softmax output.

    weights[i] is (in, out), biases[i] is (out,), masks[i] is a boolean (in, out) array that
    says which weights exist; a masked-out weight is exactly zero.
    """

    def __init__(self, weights, biases, masks=None, *, output: str = "linear"):
        self.weights = list(weights)
        self.biases = list(biases)
        xp = array_module(self.weights[0])
        self.masks = list(masks) if masks is not None else [xp.ones(w.shape, dtype=bool) for w in self.weights]
        self.output = output
        self._check()

    def _check(self) -> None:
        assert len(self.weights) == len(self.biases) == len(self.masks) >= 1
        for i, (w, b, m) in enumerate(zip(self.weights, self.biases, self.masks)):
            assert w.ndim == 2 and b.shape == (w.shape[1],) and m.shape == w.shape, f"layer {i} shapes"
            assert w.dtype == b.dtype == self.dtype and m.dtype == bool, f"layer {i} dtypes"
            if i:
                assert self.weights[i - 1].shape[1] == w.shape[0], f"layer {i} does not follow layer {i - 1}"

    @classmethod
    def xavier(cls, sizes, *, output="linear", bias=0.1, dtype="float32", seed=0, backend: Backend = CPU,
               stream: str = "init"):
        """Glorot-uniform weights (drawn on the host, so every device starts identical), constant biases.

        `stream` names the random stream: another name draws another initialisation of the same seed.
        """
        rng = generator(seed, stream)
        weights, biases = [], []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            limit = math.sqrt(6.0 / (fan_in + fan_out))
            weights.append(backend.asarray(rng.uniform(-limit, limit, (fan_in, fan_out)).astype(dtype)))
            biases.append(backend.xp.full(fan_out, bias, dtype=dtype))
        return cls(weights, biases, output=output)

    # -- shape and bookkeeping --------------------------------------------------------------

    @property
    def xp(self):
        return array_module(self.weights[0])

    @property
    def kernels(self):
        """Fused kernels for the device the weights live on (see backend.py)."""
        return backend_of(self.weights[0]).kernels

    @property
    def dtype(self):
        return self.weights[0].dtype

    @property
    def sizes(self) -> list[int]:
        """Widths from input to output, e.g. [784, 1000, 800, 400, 10]."""
        return [self.weights[0].shape[0]] + [w.shape[1] for w in self.weights]

    @property
    def n_layers(self) -> int:
        return len(self.weights)

    def activation(self, i: int) -> str:
        return self.output if i == self.n_layers - 1 else "relu"

    def copy(self) -> Network:
        return Network([w.copy() for w in self.weights], [b.copy() for b in self.biases],
                       [m.copy() for m in self.masks], output=self.output)

    def load_state(self, other: Network) -> None:
        """Copy other's weights, biases and masks into this network's arrays (same shapes), in place."""
        for mine, theirs in zip(self.weights + self.biases + self.masks, other.weights + other.biases + other.masks):
            mine[...] = theirs

    def to(self, backend: Backend) -> Network:
        """The same network with every array on `backend`."""
        move = backend.asarray
        return Network([move(w) for w in self.weights], [move(b) for b in self.biases],
                       [move(m) for m in self.masks], output=self.output)

    def apply_masks(self) -> None:
        """Zero every weight whose mask is False (in place)."""
        for w, m in zip(self.weights, self.masks):
            w *= m

    # -- forward ----------------------------------------------------------------------------

    def layer(self, i: int, a):
        """Layer i on its input a (n, in): a @ W + b, through ReLU for hidden layers (the output layer stays linear).

        Plain array operations, not the fused kernel training uses: inference then never starts
        Numba (about 0.7 s per process on 2 cores), and the extra pass costs far less than the product.
        """
        z = a @ self.weights[i]
        z += self.biases[i]
        if i < self.n_layers - 1:
            self.xp.maximum(z, 0, out=z)  # NaN stays NaN
        return z

    def activations(self, x) -> list:
        """Every layer's input and the activated output: [x, h1, ..., h_last, y]."""
        acts = [x]
        for i in range(self.n_layers):
            acts.append(self.layer(i, acts[-1]))
        activate_output(acts[-1], self.output)
        return acts

    def predict(self, x, chunk: int = PREDICT_CHUNK):
        """Activated outputs (n, classes) for inputs x (n, features), in chunks of rows.

        Only the current layer's output is kept, so memory stays at two layers of one chunk.
        """
        xp = self.xp
        out = xp.empty((x.shape[0], self.sizes[-1]), dtype=self.dtype)
        for start in range(0, x.shape[0], chunk):
            a = xp.asarray(x[start:start + chunk], dtype=self.dtype)
            for i in range(self.n_layers):
                a = self.layer(i, a)
            out[start:start + chunk] = activate_output(a, self.output)
        return out


class Workspace:
    """Preallocated activations, deltas and gradients for batches of up to `batch` rows.

    acts[0] is the input batch, acts[i + 1] the output of layer i; delta[i] is d(loss)/d(acts[i])
    before the nonlinearity of the layer that produced it. One workspace serves every step of a
    training run, so a step allocates no large arrays.

    With `trainable` (one array of flat weight indices per layer, see analysis/trainable.py) only
    those weights get a gradient: grad_w[i] is then a vector (K_i,) in the order of the indices,
    computed by a sampled dense-dense product, and biases get none (grad_b is empty).
    """

    def __init__(self, net: Network, batch: int, *, dropout: float = 0.0, input_grad: bool = False,
                 trainable: list | None = None):
        xp, dt, sizes = net.xp, net.dtype, net.sizes
        self.batch = batch
        self.acts = [xp.empty((batch, n), dtype=dt) for n in sizes]
        self.delta = [xp.empty((batch, n), dtype=dt) if (i or input_grad) else None for i, n in enumerate(sizes)]
        self.keep = [xp.empty((batch, n), dtype=bool) for n in sizes[1:-1]] if dropout else []
        self.noise = [xp.empty((batch, n), dtype=dt) for n in sizes[1:-1]] if dropout else []
        self.dropout = dropout
        self.input_grad = input_grad
        self.trainable = trainable
        if trainable is None:
            self.grad_w = [xp.empty_like(w) for w in net.weights]
            self.grad_b = [xp.empty_like(b) for b in net.biases]
        else:
            assert len(trainable) == net.n_layers
            indices = [xp.asarray(t) for t in trainable]
            self.rows = [t // w.shape[1] for t, w in zip(indices, net.weights)]
            self.cols = [t % w.shape[1] for t, w in zip(indices, net.weights)]
            self.grad_w = [xp.empty(t.shape[0], dtype=dt) for t in indices]
            self.grad_b = []


def forward_train(net: Network, ws: Workspace, n: int, rng=None):
    """Forward the first n rows of ws.acts[0]; hidden layers get dropout when ws.dropout > 0.

    Returns the output layer's pre-activation z (n, classes), a view into the workspace.
    """
    xp, kernels = net.xp, net.kernels
    last = net.n_layers - 1
    for i, (w, b) in enumerate(zip(net.weights, net.biases)):
        z = ws.acts[i + 1][:n]
        xp.matmul(ws.acts[i][:n], w, out=z)
        if i == last:
            z += b
            break
        kernels.bias_relu(z, b)
        if ws.dropout:
            noise = ws.noise[i][:n]
            rng.random(out=noise, dtype=noise.dtype)
            keep = ws.keep[i][:n]  # backward reads the mask back off the activations
            xp.greater_equal(noise, ws.dropout, out=keep)
            z *= keep
            z *= 1.0 / (1.0 - ws.dropout)
    return ws.acts[-1][:n]


def skip_dropout(ws: Workspace, rows: int, steps: int, rng) -> None:
    """Advance rng past the noise `steps` calls of forward_train on `rows` rows draw (resuming inside an epoch)."""
    if not ws.dropout:
        return
    for _ in range(steps):
        for noise in ws.noise:  # the same draws, in the same order, as forward_train's hidden layers
            rng.random(out=noise[:rows], dtype=noise.dtype)


def backward(net: Network, ws: Workspace, n: int, labels, *, loss: str):
    """Gradients of the mean loss into ws.grad_w / ws.grad_b (and ws.delta[0] with input_grad).

    Must follow forward_train on the same rows. Returns the summed loss as a 0-d array.
    """
    xp, kernels = net.xp, net.kernels
    total = loss_and_delta(ws.acts[-1][:n], labels, output=net.output, loss=loss, delta=ws.delta[-1][:n])
    scale = 1.0 / (1.0 - ws.dropout)  # dropout scaled the units it kept
    for i in range(net.n_layers - 1, -1, -1):
        d = ws.delta[i + 1][:n]  # (n, out_i)
        a = ws.acts[i][:n]  # (n, in_i)
        if ws.trainable is None:
            xp.matmul(a.T, d, out=ws.grad_w[i])  # (in_i, out_i)
            xp.sum(d, axis=0, out=ws.grad_b[i])
        else:
            kernels.sddmm(a, d, ws.rows[i], ws.cols[i], ws.grad_w[i])  # (K_i,)
        if i == 0 and not ws.input_grad:
            break
        prev = ws.delta[i][:n]  # (n, in_i)
        xp.matmul(d, net.weights[i].T, out=prev)
        if i:  # relu'(z) is 1 where the (post-dropout) activation is positive
            kernels.relu_backward(prev, a, scale)
    return total


def input_gradient(net: Network, x, labels, *, loss: str):
    """d(mean loss)/dx for a batch (n, features): the gradient an adversarial attack follows."""
    xp = net.xp
    ws = Workspace(net, x.shape[0], input_grad=True)
    ws.acts[0][...] = x
    forward_train(net, ws, x.shape[0])
    backward(net, ws, x.shape[0], xp.asarray(labels), loss=loss)
    return ws.delta[0]
