"""Class forgetting by projecting each layer's input space (Kodge, Saha and Roy, TMLR 2024): a forgetting comparator.

Per weight matrix, the inputs it sees on the class's images (A_f) and on retained images (A_r) are
decomposed by SVD; each basis direction u_k with singular value s_k gets the importance
alpha e_k / ((alpha - 1) e_k + 1), e_k = s_k^2 / max s^2 (alpha = 1: the energy itself; a large
alpha: every direction the images use at all, near 1). With M = U diag(importance) U^T for each
set, the class's discriminative input space is P = M_f (I - M_r): the class's space less what the
retained space shares. Each layer's weights (in, out) become (I - P^T) W, so an input along that
space no longer reaches the layer. Gradient-free, closed form; biases are left alone.
"""

from __future__ import annotations

from sparana_cli.engine.backend import array_module
from sparana_cli.engine.network import Network


def input_basis(a):
    """(in, k) orthonormal directions of the rows of a (rows, in) and their energies s^2 / max s^2 (k,)."""
    xp = array_module(a)
    _, s, vt = xp.linalg.svd(a.astype(xp.float64), full_matrices=False)
    energy = s ** 2 / max(float((s ** 2).max()), 1e-30)
    return vt.T, energy


def scaled_projection(basis, energy, alpha: float):
    """U diag(alpha e / ((alpha - 1) e + 1)) U^T: (in, in)."""
    importance = alpha * energy / ((alpha - 1) * energy + 1)
    return (basis * importance) @ basis.T


def discriminative_space(forget_basis, retain_basis, alpha: float):
    """P = M_f (I - M_r): the class's input space less the part the retained inputs share (in, in)."""
    m_f = scaled_projection(*forget_basis, alpha)
    m_r = scaled_projection(*retain_basis, alpha)
    return m_f - m_f @ m_r


def layer_bases(net: Network, x_forget, x_retain) -> list:
    """[(forget basis, retain basis)] of every weight matrix's input, from the network's activations (computed once)."""
    forget_acts, retain_acts = net.activations(x_forget), net.activations(x_retain)
    return [(input_basis(forget_acts[i]), input_basis(retain_acts[i])) for i in range(net.n_layers)]


def projected(net: Network, bases: list, alpha: float) -> Network:
    """A copy of net with each layer's weights W replaced by (I - P^T) W (masks kept)."""
    out = net.copy()
    for i, (forget_basis, retain_basis) in enumerate(bases):
        p = discriminative_space(forget_basis, retain_basis, alpha)
        w = out.weights[i]
        w -= (p.T @ w.astype(p.dtype)).astype(w.dtype)
    out.apply_masks()
    return out


PROJECTION_ALPHAS = (1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0)
