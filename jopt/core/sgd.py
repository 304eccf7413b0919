r"""SGD, torch's ``torch.optim.SGD``.

.. math::
    g_t &\leftarrow \pm\nabla_\theta f_t(\theta_{t-1}) + \lambda\,\theta_{t-1}
          \quad(\text{minus when } \textit{maximize})\\
    b_t &\leftarrow \begin{cases} g_t & t = 1\\ \mu\, b_{t-1} + (1-\tau)\, g_t & t > 1\end{cases}
          \qquad g_t \leftarrow \begin{cases} g_t + \mu\, b_t & \textit{nesterov}\\ b_t & \text{else}\end{cases}
          \quad(\text{only when } \mu \ne 0)\\
    \theta_t &\leftarrow \theta_{t-1} - \gamma\, g_t

with :math:`\gamma` = ``lr``, :math:`\mu` = ``momentum``, :math:`\tau` = ``dampening``,
:math:`\lambda` = ``weight_decay``.

State (torch's names): ``momentum_buffer`` (:math:`b`), present only when ``momentum != 0``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax.numpy as jnp

from jopt.core import base


class SGDHyperparams(NamedTuple):
    lr: Any
    momentum: Any
    dampening: Any
    weight_decay: Any


class SGDBuffers(NamedTuple):
    momentum_buffer: Any  # torch: state['momentum_buffer']


def sgd(lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, *, maximize=False):
    """Stochastic gradient descent with torch's momentum, dampening, Nesterov and weight decay."""
    base.check(lambda v: v >= 0.0, lr, f"Invalid learning rate: {lr}")
    base.check(lambda v: v >= 0.0, momentum, f"Invalid momentum value: {momentum}")
    base.check(lambda v: v >= 0.0, weight_decay, f"Invalid weight_decay value: {weight_decay}")
    has_momentum, decay = base.is_nonzero(momentum), base.is_nonzero(weight_decay)
    if nesterov and (not has_momentum or base.is_nonzero(dampening)):
        raise ValueError("Nesterov momentum requires a momentum and zero dampening")

    def init(param):
        return SGDBuffers(jnp.zeros_like(param) if has_momentum else None)

    def rule(h, count, param, grad, buffers):
        s = lambda x: base.scalar(x, param)
        grad = base.gradient(grad, param, h.weight_decay, maximize=maximize, decay=decay)
        buf = None
        if has_momentum:
            # torch creates the buffer from the first gradient, undamped.
            buf = jnp.where(
                count == 0, grad, buffers.momentum_buffer * s(h.momentum) + s(1 - h.dampening) * grad
            )
            grad = grad + s(h.momentum) * buf if nesterov else buf
        return s(-h.lr) * grad, SGDBuffers(buf)

    return base.transformation(SGDHyperparams(lr, momentum, dampening, weight_decay), init, rule)
