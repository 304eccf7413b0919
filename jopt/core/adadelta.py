r"""Adadelta, torch's ``torch.optim.Adadelta``.

.. math::
    g_t &\leftarrow \pm\nabla_\theta f_t(\theta_{t-1}) + \lambda\theta_{t-1}
          \quad(\text{minus when } \textit{maximize})\\
    v_t &\leftarrow \rho v_{t-1} + (1-\rho)\, g_t^2 \\
    \Delta_t &\leftarrow \frac{\sqrt{u_{t-1} + \epsilon}}{\sqrt{v_t + \epsilon}}\; g_t \\
    u_t &\leftarrow \rho u_{t-1} + (1-\rho)\, \Delta_t^2 \\
    \theta_t &\leftarrow \theta_{t-1} - \gamma \Delta_t

with :math:`\gamma` = ``lr`` (which multiplies the rho-averaged step), :math:`\rho` = ``rho``,
:math:`\lambda` = ``weight_decay``.

State (torch's names): ``square_avg`` (:math:`v`), ``acc_delta`` (:math:`u`); torch's ``step``
(which Adadelta only counts) is ``count + 1`` (:func:`jopt.core.base.torch_step`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax.numpy as jnp

from jopt.core import base


class AdadeltaHyperparams(NamedTuple):
    lr: Any
    rho: Any
    eps: Any
    weight_decay: Any


class AdadeltaBuffers(NamedTuple):
    square_avg: Any  # torch: state['square_avg']
    acc_delta: Any  # torch: state['acc_delta']


def adadelta(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, *, maximize=False):
    """Adadelta; ``lr`` scales the rho-averaged step as in torch."""
    base.check(lambda v: v >= 0.0, lr, f"Invalid learning rate: {lr}")
    base.check(lambda v: 0.0 <= v <= 1.0, rho, f"Invalid rho value: {rho}")
    base.check(lambda v: v >= 0.0, eps, f"Invalid epsilon value: {eps}")
    base.check(lambda v: v >= 0.0, weight_decay, f"Invalid weight_decay value: {weight_decay}")
    decay = base.is_nonzero(weight_decay)

    def init(param):
        return AdadeltaBuffers(jnp.zeros_like(param), jnp.zeros_like(param))

    def rule(h, count, param, grad, buffers):
        s = lambda x: base.scalar(x, param)
        grad = base.gradient(grad, param, h.weight_decay, maximize=maximize, decay=decay)
        square_avg = buffers.square_avg * s(h.rho) + s(1 - h.rho) * grad * grad
        std = jnp.sqrt(square_avg + s(h.eps))
        delta = jnp.sqrt(buffers.acc_delta + s(h.eps)) / std * grad
        acc_delta = buffers.acc_delta * s(h.rho) + s(1 - h.rho) * delta * delta
        return s(-h.lr) * delta, AdadeltaBuffers(square_avg, acc_delta)

    return base.transformation(AdadeltaHyperparams(lr, rho, eps, weight_decay), init, rule)
