r"""RMSprop, torch's ``torch.optim.RMSprop``.

.. math::
    g_t &\leftarrow \pm\nabla_\theta f_t(\theta_{t-1}) + \lambda\theta_{t-1}
          \quad(\text{minus when } \textit{maximize})\\
    v_t &\leftarrow \alpha v_{t-1} + (1-\alpha)\, g_t^2\\
    \bar g_t &\leftarrow \operatorname{lerp}(\bar g_{t-1}, g_t, 1-\alpha),\quad
        d_t \leftarrow \sqrt{v_t - \bar g_t^2} + \epsilon \quad(\textit{centered})
        \qquad\text{else } d_t \leftarrow \sqrt{v_t} + \epsilon\\
    b_t &\leftarrow \mu b_{t-1} + g_t / d_t,\quad \theta_t \leftarrow \theta_{t-1} - \gamma b_t
        \quad(\mu > 0) \qquad\text{else } \theta_t \leftarrow \theta_{t-1} - \gamma\, g_t / d_t

with :math:`\gamma` = ``lr``, :math:`\alpha` = ``alpha``, :math:`\mu` = ``momentum``,
:math:`\lambda` = ``weight_decay``. As in torch, ``lr`` stays outside the momentum buffer, so a
new ``lr`` scales the whole buffered step.

State (torch's names): ``square_avg`` (:math:`v`), ``momentum_buffer`` (:math:`b`, only when
``momentum > 0``), ``grad_avg`` (:math:`\bar g`, only when ``centered``). torch's ``step`` (which
RMSprop only counts) is ``count + 1`` (:func:`jopt.core.base.torch_step`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax.numpy as jnp

from jopt.core import base


class RMSpropHyperparams(NamedTuple):
    lr: Any
    alpha: Any
    eps: Any
    weight_decay: Any
    momentum: Any


class RMSpropBuffers(NamedTuple):
    square_avg: Any  # torch: state['square_avg']
    momentum_buffer: Any  # torch: state['momentum_buffer'] (momentum > 0 only)
    grad_avg: Any  # torch: state['grad_avg'] (centered only)


def rmsprop(
    lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False, *, maximize=False
):
    """RMSprop with torch's momentum, centering and weight decay."""
    base.check(lambda v: v >= 0.0, lr, f"Invalid learning rate: {lr}")
    base.check(lambda v: v >= 0.0, eps, f"Invalid epsilon value: {eps}")
    base.check(lambda v: v >= 0.0, momentum, f"Invalid momentum value: {momentum}")
    base.check(lambda v: v >= 0.0, weight_decay, f"Invalid weight_decay value: {weight_decay}")
    base.check(lambda v: v >= 0.0, alpha, f"Invalid alpha value: {alpha}")
    has_momentum, decay = base.is_nonzero(momentum), base.is_nonzero(weight_decay)

    def init(param):
        zeros = jnp.zeros_like(param)
        return RMSpropBuffers(zeros, zeros if has_momentum else None, zeros if centered else None)

    def rule(h, count, param, grad, buffers):
        s = lambda x: base.scalar(x, param)
        grad = base.gradient(grad, param, h.weight_decay, maximize=maximize, decay=decay)
        square_avg = buffers.square_avg * s(h.alpha) + s(1 - h.alpha) * grad * grad
        grad_avg = None
        if centered:
            grad_avg = base.lerp(buffers.grad_avg, grad, 1 - h.alpha)
            avg = jnp.sqrt(square_avg - grad_avg * grad_avg) + s(h.eps)
        else:
            avg = jnp.sqrt(square_avg) + s(h.eps)
        buf = None
        if has_momentum:
            buf = buffers.momentum_buffer * s(h.momentum) + grad / avg
            update = s(-h.lr) * buf
        else:
            update = s(-h.lr) * grad / avg
        return update, RMSpropBuffers(square_avg, buf, grad_avg)

    return base.transformation(
        RMSpropHyperparams(lr, alpha, eps, weight_decay, momentum), init, rule
    )
