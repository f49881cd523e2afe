"""Scores for forgetting a class: how much each weight serves the target class rather than the others.

Every score is computed through the current (masked) network on a scoring set of rows x (inputs of
layer `first`) with labels y, and is higher for weights to remove first. Every mean is a true mean
over its own set of rows, so the sizes of the sets do not bias a score (duplicating the rest of the
rows changes nothing). With a_i the input of a layer, m_c,i = mean over class-c rows of |a_i|:

  diff         |W_ij| (m_t,i - m_rest,i)             the seed's MAAV_target - MAAV_rest
  maxother     |W_ij| (m_t,i - max_k m_k,i)          against the most active other class k
  ratio        m_t,i / m_rest,i, only where MAAV_t > alpha MAAV_rest (SSD's selection test on MAAV);
               the largest ratio first, |W| breaking near-ties within a row; elsewhere -inf (never)
  taylor       T_t - max_k |T_k|
  taylor_disc  W (dY_t/dW - dR_t/dW) - max_k |T_k|

where k runs over the other classes, Y_c is the mean over class-c rows of output c (the logit for a
softmax model), R_t the mean over the rest rows of output t, and T_c = W dY_c/dW: the first-order
estimate of how much removing each weight lowers class c's own output. taylor removes what carries
the target's output and no other class's; taylor_disc what separates target rows from the rest on
the target's output and carries no other class's. probe and taylor_probe (see taylor_gains and
docs/forgetting.md) put the last hidden layer's probe margin in the gain term, alone or beside taylor_disc's
(each relative to its margin). select_removals takes the highest positive scores only.
"""

from __future__ import annotations

from sparana_cli.analysis.pruning import lowest, remove_count
from sparana_cli.engine.backend import array_module, backend_of
from sparana_cli.engine.network import Network
from sparana_cli.profile import timed

SCORES = ("diff", "maxother", "ratio", "taylor", "taylor_disc", "taylor_probe", "probe")
TAYLOR_SCORES = ("taylor", "taylor_disc", "taylor_probe", "probe")
PROBE_SCORES = ("taylor_probe", "probe")  # they read the last hidden layer: only the layers below it can be pruned
MAAV_SCORES = ("diff", "maxother", "ratio")
RATIO_TIEBREAK = 1e-3  # |W| moves a ratio by at most this fraction: it orders equal-ratio weights of a row


def group_rows(y, target: int):
    """A row order that puts the target's rows first and then each other class together; and the groups.

    Returns (order, groups) with groups a dict class -> slice of the reordered rows (classes that
    have rows only).
    """
    xp = array_module(y)
    key = xp.where(y == target, -1, y)
    order = xp.argsort(key, kind="stable")
    counts = {int(c): int(n) for c, n in zip(*(a.tolist() for a in xp.unique(key, return_counts=True)))}
    groups, start = {}, 0
    for c in sorted(counts):
        groups[target if c == -1 else c] = slice(start, start + counts[c])
        start += counts[c]
    return order, groups


def forward_from(net: Network, h, first: int, until: int | None = None, *, z_first=None) -> list:
    """[h, inputs of layers first+1.., output]: rows h entering layer `first` forwarded through layers first..until-1.

    until defaults to the end; the output layer's result is its pre-activation (the logits).
    z_first: layer first's pre-activation h @ W + b when it is already known (see removed_contribution).
    """
    xp = net.xp
    acts = [h]
    for i in range(first, net.n_layers if until is None else until):
        if i == first and z_first is not None:
            z = z_first.copy()
        else:
            z = acts[-1] @ net.weights[i]
            z += net.biases[i]
        if i < net.n_layers - 1:
            xp.maximum(z, 0, out=z)
        acts.append(z)
    return acts


def removed_contribution(h, w, picks):
    """h @ (w where picks): what the picked weights add to the layer's pre-activation, through a sparse product.

    Subtracting it from the pre-activation gives the pre-activation without them, at a cost that
    grows with the number of picks rather than with the size of w.
    """
    sparse = backend_of(h).sparse
    rows, cols = array_module(picks).nonzero(picks)
    removed = sparse.coo_matrix((w[rows, cols], (cols, rows)), shape=(w.shape[1], w.shape[0])).tocsr()  # (out, in)
    return (removed @ h.T).T


def layer_input(net: Network, x, layer: int):
    """The input of weight matrix `layer` for network inputs x (rows)."""
    return forward_from(net, x, 0, until=layer)[-1]


def group_means(a, groups: dict, *, absolute: bool = True) -> dict:
    """Mean over each group's rows of a (rows, features) -> {class: (features,)}; summed in float64."""
    xp = array_module(a)
    out = {}
    for c, s in groups.items():
        part = a[s]
        out[c] = ((xp.abs(part) if absolute else part).sum(axis=0, dtype=xp.float64) / max(s.stop - s.start, 1))
    return out


def rest_mean(means: dict, groups: dict, target: int):
    """The true mean over the rest rows, from per-group means weighted by their row counts."""
    rest = [c for c in groups if c != target]
    total = sum(groups[c].stop - groups[c].start for c in rest)
    return sum(means[c] * (groups[c].stop - groups[c].start) for c in rest) / total


def maav_score(score: str, w, means: dict, groups: dict, target: int, *, alpha: float = 1.0):
    """diff, maxother or ratio for one weight matrix, from the per-class mean |input| of its rows."""
    xp = array_module(w)
    m_t = means[target]
    if score == "diff":
        per_row = m_t - rest_mean(means, groups, target)
    elif score == "maxother":
        others = [means[c] for c in groups if c != target]
        per_row = m_t - xp.max(xp.stack(others), axis=0)
    elif score == "ratio":
        m_rest = rest_mean(means, groups, target)
        with_ratio = m_t > alpha * m_rest  # MAAV_t,ij > alpha MAAV_rest,ij, |W_ij| cancels
        ratio = xp.where(with_ratio, m_t / xp.where(m_rest > 0, m_rest, 1), 0)
        ratio = xp.where(with_ratio & (m_rest == 0), xp.inf, ratio)
        magnitude = xp.abs(w) / (xp.abs(w).max() + 1e-30)
        out = ratio[:, None] * (1 + RATIO_TIEBREAK * magnitude)
        return xp.where(with_ratio[:, None], out, -xp.inf).astype(w.dtype)
    else:
        raise ValueError(f"unknown MAAV score {score!r}")
    return (xp.abs(w) * per_row.astype(w.dtype)[:, None]).astype(w.dtype)


def output_gradients(net: Network, acts: list, first: int, layers, outputs, groups: list) -> dict:
    """For each chosen layer and each group of rows, d(mean over the group of its rows' outputs)/dW.

    acts: forward_from(net, h, first); outputs (rows,): which output each row differentiates (its
    logit); groups: slices of rows. Returns {layer: [(in, out) array per group]}. One backward pass,
    stopped at the first chosen layer; the weight gradient is a^T delta, as in a training step.
    """
    xp = net.xp
    n = acts[0].shape[0]
    delta = xp.zeros((n, net.sizes[-1]), dtype=net.dtype)
    rows = xp.arange(n)
    for s in groups:
        delta[rows[s], outputs[s]] = 1.0 / max(s.stop - s.start, 1)
    lowest = min(layers)
    grads = {}
    for i in range(net.n_layers - 1, lowest - 1, -1):
        a = acts[i - first]
        if i in layers:
            grads[i] = [a[s].T @ delta[s] for s in groups]
        if i > lowest:
            delta = delta @ net.weights[i].T
            delta *= a > 0  # relu'(z) of the layer that produced a
    return grads


def taylor_scores(score: str, net: Network, acts: list, first: int, layers, y, groups: dict, target: int) -> dict:
    """taylor, taylor_disc, taylor_probe or probe for every chosen layer: {layer: (in, out) array}."""
    xp = net.xp
    classes = list(groups)
    own = output_gradients(net, acts, first, layers, y, [groups[c] for c in classes])
    rest = None
    probe = taylor_gains(score, net, acts, first, layers, groups, target) if score in PROBE_SCORES else None
    if score == "taylor_disc":
        n = acts[0].shape[0]
        t_rows = groups[target]
        rest_slice = slice(t_rows.stop, n) if t_rows.start == 0 else None
        if rest_slice is None:
            raise ValueError("taylor_disc needs the target's rows first (see group_rows)")
        outputs = xp.full(n, target, dtype=y.dtype)
        rest = output_gradients(net, acts, first, layers, outputs, [rest_slice])
    out = {}
    for i in layers:
        w = net.weights[i]
        grads = dict(zip(classes, own[i]))
        others = [xp.abs(g) for c, g in grads.items() if c != target]
        protect = xp.abs(w) * (xp.max(xp.stack(others), axis=0) if others else 0)
        if probe is not None:
            gain = acts[i - first].T @ probe[i]
        else:
            gain = grads[target] - rest[i][0] if rest is not None else grads[target]
        out[i] = w * gain - protect
    return out


def forget_scores(score: str, net: Network, h, y, target: int, layers, *, first: int, alpha: float = 1.0) -> dict:
    """Scores of the chosen layers' weights for forgetting `target`: {layer: (in, out) array}, higher = remove first.

    h: the scoring rows as inputs of layer `first` (<= every chosen layer), y their labels; rows in
    any order (they are grouped here; group_rows order once to save the copy).
    """
    if score not in SCORES:
        raise ValueError(f"unknown forgetting score {score!r}; expected one of {', '.join(SCORES)}")
    if score in PROBE_SCORES and max(layers) >= net.n_layers - 1:
        raise ValueError(f"{score} reads the last hidden layer: it scores only weight matrices 0..{net.n_layers - 2}")
    xp = net.xp
    if not bool((y == target).any()):
        raise ValueError(f"the scoring rows hold no row of class {target}")
    if not bool((y != target).any()):
        raise ValueError("the scoring rows hold no row of another class")
    order, groups = group_rows(y, target)
    if not bool((order == xp.arange(order.shape[0])).all()):
        h, y = h[order], y[order]
    acts = forward_from(net, h, first)
    if score in MAAV_SCORES:
        return {i: maav_score(score, net.weights[i], group_means(acts[i - first], groups), groups, target, alpha=alpha)
                for i in layers}
    return taylor_scores(score, net, acts, first, layers, y, groups, target)


# -- selecting the weights to remove without forming every score -------------------------------------


def target_deltas(net: Network, acts: list, first: int, layers, groups: dict, target: int, *, disc: bool) -> dict:
    """For each chosen layer, d(gain)/d(its output) per row, where gain = Y_t (taylor) or Y_t - R_t (taylor_disc).

    The rows' signed weights (1/n_t for target rows, -1/n_rest for the rest with disc, else 0) make
    W * (a^T delta) the whole gain term in one product per layer.
    """
    xp = net.xp
    n = acts[0].shape[0]
    t_rows = groups[target]
    assert t_rows.start == 0, "the target's rows must come first (see group_rows)"
    weight = xp.zeros(n, dtype=net.dtype)
    weight[t_rows] = 1.0 / (t_rows.stop - t_rows.start)
    if disc:
        weight[t_rows.stop:] = -1.0 / (n - t_rows.stop)
    delta = xp.zeros((n, net.sizes[-1]), dtype=net.dtype)
    delta[:, target] = weight
    return _deltas(net, acts, first, layers, delta)


def own_deltas(net: Network, acts: list, first: int, layers, y) -> dict:
    """For each chosen layer, d(output y_n)/d(its output) for each row n (unscaled)."""
    xp = net.xp
    n = acts[0].shape[0]
    delta = xp.zeros((n, net.sizes[-1]), dtype=net.dtype)
    delta[xp.arange(n), y] = 1.0
    return _deltas(net, acts, first, layers, delta)


def _deltas(net: Network, acts: list, first: int, layers, delta, top: int | None = None) -> dict:
    """Back-propagate delta (d objective / d pre-activation of weight matrix `top`, default the output) to each chosen layer."""
    lowest = min(layers)
    out = {}
    for i in range(net.n_layers - 1 if top is None else top, lowest - 1, -1):
        if i in layers:
            out[i] = delta
        if i > lowest:
            delta = delta @ net.weights[i].T
            delta *= acts[i - first] > 0
    return out


def probe_direction(h, groups: dict, target: int, *, ridge: float = 1e-2):
    """(features,) direction in h's units of a class-balanced one-vs-rest ridge probe for `target` on standardised h.

    h: rows grouped by group_rows (target first). v . h is the probe's score for the class up to a
    constant: what the hidden layer still says about it, whatever the output layer does.
    """
    xp = array_module(h)
    f = h.astype(xp.float64)
    n, t_rows = f.shape[0], groups[target]
    n_t = t_rows.stop - t_rows.start
    row_weight = xp.full(n, 0.5 / (n - n_t))
    row_weight[t_rows] = 0.5 / n_t
    mean = row_weight @ f
    scale = xp.sqrt(row_weight @ (f - mean) ** 2)
    scale = xp.where(scale > 1e-12, scale, 1.0)
    z = (f - mean) / scale
    label = xp.zeros(n)
    label[t_rows] = 1.0
    gram = (z * row_weight[:, None]).T @ z
    gram[xp.diag_indices_from(gram)] += ridge
    v = xp.linalg.solve(gram, (z * row_weight[:, None]).T @ (label - 0.5))
    return (v / scale).astype(h.dtype)


def probe_deltas(net: Network, acts: list, first: int, layers, groups: dict, target: int, hidden: int) -> tuple[dict, float]:
    """Deltas of the probe margin (mean probe score over target rows minus over the rest) at hidden layer `hidden`; the margin.

    hidden is 1-based (the output of weight matrix hidden-1), above every chosen layer.
    """
    xp = net.xp
    h = acts[hidden - first]
    v = probe_direction(h, groups, target)
    n, t_rows = h.shape[0], groups[target]
    weight = xp.full(n, -1.0 / (n - t_rows.stop), dtype=net.dtype)
    weight[t_rows] = 1.0 / t_rows.stop
    margin = float(weight @ (h @ v))
    delta = (weight[:, None] * v[None, :]) * (h > 0)
    return _deltas(net, acts, first, layers, delta, top=hidden - 1), margin


def output_margin(acts: list, groups: dict, target: int) -> float:
    """Y_t - R_t: the mean target output over target rows minus over the rest."""
    out, t_rows = acts[-1], groups[target]
    return float(out[t_rows, target].mean() - out[t_rows.stop:, target].mean())


def taylor_gains(score: str, net: Network, acts: list, first: int, layers, groups: dict, target: int) -> dict:
    """{layer: d(gain)/d(layer output) per row}: the gain term of a taylor-family score, W * (a^T gain) per layer."""
    if score in PROBE_SCORES:
        probe, margin = probe_deltas(net, acts, first, layers, groups, target, net.n_layers - 1)
        gains = {i: probe[i] / max(abs(margin), 1e-12) for i in layers}
        if score == "taylor_probe":  # both margins on one scale: each term is the relative first-order drop of its margin
            out = target_deltas(net, acts, first, layers, groups, target, disc=True)
            out_margin = max(abs(output_margin(acts, groups, target)), 1e-12)
            gains = {i: out[i] / out_margin + gains[i] for i in layers}
        return gains
    return target_deltas(net, acts, first, layers, groups, target, disc=score == "taylor_disc")


def select_taylor(score: str, net: Network, acts: list, first: int, layers, y, groups: dict, target: int,
                  counts: dict) -> dict:
    """The (at most) counts[i] live weights of each layer with the highest positive taylor / taylor_disc scores.

    Returns {layer: bool mask}: the same choice as ranking forget_scores(...) (ties to the lowest
    index, only positive scores). The gain term is one product per layer; the protection term and
    the score come from one fused kernel, which never holds the other classes' gradients.
    """
    gains = taylor_gains(score, net, acts, first, layers, groups, target)
    r0 = groups[target].stop  # the protection looks at the other classes' rows only: rows r0.. (grouped by class)
    starts = [groups[c].start - r0 for c in groups if c != target] + [acts[0].shape[0] - r0]
    own = own_deltas(net, [x[r0:] for x in acts], first, layers, y[r0:])
    chosen = {}
    for i in layers:
        w, live = net.weights[i], net.masks[i]
        pick = net.xp.zeros(w.shape, dtype=bool)
        if counts[i] > 0:
            a = acts[i - first]
            scores = net.xp.empty_like(w)
            if net.kernels.taylor_margin(a.T @ gains[i], w, live, a[r0:], own[i], starts, scores):
                pick.ravel()[highest_positive(scores.ravel(), int(counts[i]))] = True
        chosen[i] = pick
    return chosen


def highest_positive(values, k: int):
    """Sorted flat indices of the (at most) k largest positive entries of a 1-D array; ties go to the lowest indices."""
    xp = array_module(values)
    positive = xp.flatnonzero(values > 0)  # usually a small part of the layer: rank only those
    best = lowest(-values[positive], min(k, positive.shape[0]))
    return positive[best]


@timed("forgetting: scoring and choosing weights")
def select_removals(score: str, net: Network, acts: list, first: int, layers, y, groups: dict, target: int,
                    counts: dict, *, alpha: float = 1.0) -> dict:
    """The counts[i] highest-scored live weights of each chosen layer: {layer: bool mask of weights to remove}.

    Only weights with a positive score qualify (for taylor: more first-order gain than harm), so a
    layer gives fewer when fewer of its live weights qualify. acts = forward_from(net, h, first) on
    rows grouped by group_rows (target first).
    """
    if score in TAYLOR_SCORES:
        return select_taylor(score, net, acts, first, layers, y, groups, target, counts)
    if score not in MAAV_SCORES:
        raise ValueError(f"unknown forgetting score {score!r}; expected one of {', '.join(SCORES)}")
    chosen = {}
    for i in layers:
        s = maav_score(score, net.weights[i], group_means(acts[i - first], groups), groups, target, alpha=alpha)
        live = net.masks[i]
        k = min(int(counts[i]), int((live & (s > 0)).sum()))  # -inf and NaN never qualify
        chosen[i] = remove_count([s], [live], k, highest=True)[0]
    return chosen
