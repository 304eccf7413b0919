r"""Muon, torch's ``torch.optim.Muon`` (2-D parameters only).

.. math::
    B_t &\leftarrow \operatorname{lerp}(B_{t-1}, g_t, 1-\mu)\\
    \widetilde B_t &\leftarrow \operatorname{lerp}(g_t, B_t, \mu) \ \ (\textit{nesterov})
        \qquad\text{else } \widetilde B_t \leftarrow B_t\\
    O_t &\leftarrow \mathrm{NS}^{(a,b,c)}_k(\widetilde B_t;\ \varepsilon)\quad\text{(in bfloat16)}\\
    \theta_t &\leftarrow \theta_{t-1}(1-\gamma\lambda) - \gamma\, r(A, B)\, O_t

with :math:`\gamma` = ``lr``, :math:`\lambda` = ``weight_decay``, :math:`\mu` = ``momentum``,
:math:`(a, b, c)` = ``ns_coefficients``, :math:`k` = ``ns_steps``, and for a parameter of shape
:math:`(A, B)` the learning-rate ratio :math:`r = \sqrt{\max(1, A/B)}` (``adjust_lr_fn`` ``None``
or ``'original'``) or :math:`r = 0.2\sqrt{\max(A, B)}` (``'match_rms_adamw'``).

The Newton-Schulz iteration runs in bfloat16 as torch's does: the input is rounded to bfloat16
(transposed when it has more rows than columns), divided by its Frobenius norm clamped at
:math:`\varepsilon`, then :math:`k` times
:math:`A \leftarrow XX^\top,\ X \leftarrow aX + (bA + cA^2)X`. Every matrix product accumulates
in float32 and is rounded to bfloat16 once together with its ``addmm`` term, as torch's CPU
``mm``/``addmm`` do for bfloat16. The accumulation order inside a product is the backend's, so
an entry of :math:`O_t` may differ from torch's by a few bfloat16 ulps (see ``tests/test_muon.py``
for the bound); everything outside the orthogonalisation is computed in the parameter's dtype
and matches torch to the usual tolerances.

State (torch's names): ``momentum_buffer`` (:math:`B`).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jopt.core import base

EPS = 1e-7
DEFAULT_A = 3.4445
DEFAULT_B = -4.7750
DEFAULT_C = 2.0315
DEFAULT_NS_STEPS = 5


class MuonHyperparams(NamedTuple):
    lr: Any
    weight_decay: Any
    momentum: Any
    ns_coefficients: Any  # (a, b, c)
    eps: Any


class MuonBuffers(NamedTuple):
    momentum_buffer: Any  # torch: state['momentum_buffer']


def zeropower_via_newtonschulz(grad, ns_coefficients, ns_steps: int, eps):
    """torch's ``_zeropower_via_newtonschulz``: bfloat16 Newton-Schulz orthogonalisation of a matrix.

    Returns a bfloat16 matrix of ``grad``'s shape. ``ns_coefficients`` and ``eps`` may be traced.
    """
    if ns_steps >= 100:
        raise ValueError("Number of steps must be less than 100 for computational efficiency")
    if grad.ndim != 2:
        raise ValueError("Input tensor gradient must be a 2D matrix")
    if len(ns_coefficients) != 3:
        raise ValueError("Coefficients must be a tuple of exactly 3 values")
    f32 = jnp.float32
    a, b, c = (jnp.asarray(x).astype(f32) for x in ns_coefficients)  # torch's addmm alpha/beta: opmath float
    bf16 = lambda x: x.astype(jnp.bfloat16)
    mm = lambda x, y: jnp.matmul(x, y, preferred_element_type=f32)  # bf16 x bf16, float32 accumulation

    x = bf16(grad)
    transposed = grad.shape[0] > grad.shape[1]
    if transposed:
        x = x.T
    # x.div_(x.norm().clamp(min=eps)): the norm accumulates in float32 and is rounded to bf16.
    norm = bf16(jnp.sqrt(jnp.sum(jnp.square(x.astype(f32)))))
    norm = jnp.maximum(norm, bf16(jnp.asarray(eps)))
    x = bf16(x.astype(f32) / norm.astype(f32))

    def iteration(_, x):
        gram = bf16(mm(x, x.T))
        gram_update = bf16(b * gram.astype(f32) + c * mm(gram, gram))  # addmm(gram, gram, gram, beta=b, alpha=c)
        return bf16(a * x.astype(f32) + mm(gram_update, x))  # addmm(x, gram_update, x, beta=a)

    x = jax.lax.fori_loop(0, ns_steps, iteration, x)  # a loop, not unrolled: XLA compiles one iteration
    return x.T if transposed else x


def adjust_lr_ratio(adjust_lr_fn: str | None, shape) -> float:
    """torch's ``_adjust_lr`` factor for a parameter shape (a Python float: shapes are static)."""
    rows, cols = shape[:2]
    if adjust_lr_fn is None or adjust_lr_fn == "original":
        return math.sqrt(max(1, rows / cols))
    if adjust_lr_fn == "match_rms_adamw":
        return 0.2 * math.sqrt(max(rows, cols))
    return 1.0


def muon(
    lr=1e-3,
    weight_decay=0.1,
    momentum=0.95,
    nesterov=True,
    ns_coefficients=(DEFAULT_A, DEFAULT_B, DEFAULT_C),
    eps=EPS,
    ns_steps=DEFAULT_NS_STEPS,
    adjust_lr_fn=None,
):
    """Muon: momentum, bfloat16 Newton-Schulz orthogonalisation, decoupled weight decay.

    Every parameter leaf must be a real 2-D matrix (``init`` raises otherwise, as torch's
    constructor does); use another optimizer (``optax.multi_transform``) for the rest.
    """
    base.check(lambda v: v >= 0.0, lr, f"Learning rate should be >= 0 but is: {lr}")
    base.check(lambda v: v >= 0.0, momentum, f"momentum should be >= 0 but is: {momentum}")
    base.check(lambda v: v >= 0.0, weight_decay, f"weight decay should be >= 0 but is: {weight_decay}")
    if adjust_lr_fn is not None and adjust_lr_fn not in ["original", "match_rms_adamw"]:
        raise ValueError(f"Adjust learning rate function {adjust_lr_fn} is not supported")

    def init_buffers(param):
        return MuonBuffers(jnp.zeros_like(param))

    def rule(h, count, param, grad, buffers):
        s = lambda x: base.scalar(x, param)
        if grad.ndim != 2:
            raise ValueError("Param gradient must be a 2D matrix")
        buf = base.lerp(buffers.momentum_buffer, grad, 1 - h.momentum)
        update = base.lerp(grad, buf, h.momentum) if nesterov else buf
        ortho = zeropower_via_newtonschulz(update, h.ns_coefficients, ns_steps, h.eps).astype(param.dtype)
        adjusted_lr = h.lr * adjust_lr_ratio(adjust_lr_fn, param.shape)
        new_param = param * s(1 - h.lr * h.weight_decay) + s(-adjusted_lr) * ortho
        return new_param - param, MuonBuffers(buf)

    hyperparams = MuonHyperparams(lr, weight_decay, momentum, tuple(ns_coefficients), eps)
    tx = base.transformation(hyperparams, init_buffers, rule)

    def init(params):
        for leaf in jax.tree.leaves(params):
            if jnp.iscomplexobj(leaf):
                raise RuntimeError("Muon does not support complex parameters")
            if jnp.ndim(leaf) != 2:
                raise ValueError(
                    f"Muon only supports 2D parameters whereas we found a parameter with size: {tuple(jnp.shape(leaf))}"
                )
        return tx.init(params)

    return tx._replace(init=init)
