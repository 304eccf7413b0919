r"""Rprop, torch's ``torch.optim.Rprop``.

.. math::
    g_t &\leftarrow \pm\nabla_\theta f_t(\theta_{t-1}) \quad(\text{minus when } \textit{maximize})\\
    \eta_t &\leftarrow \begin{cases} \eta_+ & g_t\, g_{t-1} > 0\\ \eta_- & g_t\, g_{t-1} < 0\\
        1 & \text{else}\end{cases}, \qquad
    \Delta_t \leftarrow \operatorname{clamp}(\Delta_{t-1}\,\eta_t,\ \Delta_{\min},\ \Delta_{\max})\\
    g_t &\leftarrow 0 \quad\text{where } g_t\, g_{t-1} < 0\\
    \theta_t &\leftarrow \theta_{t-1} - \operatorname{sign}(g_t)\,\Delta_t

elementwise, with :math:`(\eta_-, \eta_+)` = ``etas``, :math:`(\Delta_{\min}, \Delta_{\max})` =
``step_sizes`` and :math:`\Delta_0` = ``lr`` (the ``lr`` of the first update, as torch reads it
when it creates the state; ``lr`` has no effect after that). The stored previous gradient
:math:`g_{t-1}` is the gradient after the zeroing, so a sign change is followed by a step with
factor 1. Complex tensors are updated as their real view, as in torch.

State (torch's names): ``prev`` (:math:`g_{t-1}`), ``step_size`` (:math:`\Delta`); torch's ``step``
(which Rprop only counts) is ``count + 1`` (:func:`jopt.core.base.torch_step`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax.numpy as jnp

from jopt.core import base


class RpropHyperparams(NamedTuple):
    lr: Any
    etas: Any  # (etaminus, etaplus)
    step_sizes: Any  # (step_size_min, step_size_max)


class RpropBuffers(NamedTuple):
    prev: Any  # torch: state['prev']
    step_size: Any  # torch: state['step_size']


def rprop(lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), *, maximize=False):
    """Resilient backpropagation with torch's step-size bounds and sign handling."""
    base.check(lambda v: v >= 0.0, lr, f"Invalid learning rate: {lr}")
    message = f"Invalid eta values: {etas[0]}, {etas[1]}"
    base.check(lambda v: 0.0 < v < 1.0, etas[0], message)
    base.check(lambda v: 1.0 < v, etas[1], message)

    def init(param):
        return RpropBuffers(
            jnp.zeros_like(param),
            # torch fills step_size with the group's lr when it creates the state, i.e. at the
            # first update; the rule does the same, this is only the value seen before any update.
            jnp.full_like(param, 0.0 if callable(lr) else lr),
        )

    def rule(h, count, param, grad, buffers):
        s = lambda x: base.scalar(x, param)
        etaminus, etaplus = h.etas
        step_size_min, step_size_max = h.step_sizes
        if maximize:
            grad = -grad
        step_size = jnp.where(count == 0, s(h.lr), buffers.step_size)
        sign = jnp.sign(grad * buffers.prev)
        factor = jnp.where(sign > 0, s(etaplus), jnp.where(sign < 0, s(etaminus), jnp.where(sign == 0, s(1), sign)))
        step_size = jnp.clip(step_size * factor, s(step_size_min), s(step_size_max))
        grad = jnp.where(sign < 0, jnp.zeros_like(grad), grad)
        return -(jnp.sign(grad) * step_size), RpropBuffers(grad, step_size)

    return base.transformation(RpropHyperparams(lr, tuple(etas), tuple(step_sizes)), init, rule)
