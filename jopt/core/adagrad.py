r"""Adagrad, torch's ``torch.optim.Adagrad``.

.. math::
    g_t &\leftarrow \pm\nabla_\theta f_t(\theta_{t-1}) + \lambda\theta_{t-1}
          \quad(\text{minus when } \textit{maximize})\\
    \tilde\gamma &\leftarrow \gamma / (1 + (t-1)\,\eta) \\
    s_t &\leftarrow s_{t-1} + g_t^2 \\
    \theta_t &\leftarrow \theta_{t-1} - \tilde\gamma\, g_t / (\sqrt{s_t} + \epsilon)

with :math:`\gamma` = ``lr``, :math:`\eta` = ``lr_decay``, :math:`\lambda` = ``weight_decay``,
:math:`s_0` = ``initial_accumulator_value``.

State (torch's names): ``sum`` (:math:`s`); torch's ``step`` (:math:`t`) is ``count + 1``
(:func:`jopt.core.base.torch_step`). torch creates this state when the optimizer is built, so
``jopt.optim.Adagrad`` does too.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax.numpy as jnp

from jopt.core import base


class AdagradHyperparams(NamedTuple):
    lr: Any
    lr_decay: Any
    eps: Any
    weight_decay: Any


class AdagradBuffers(NamedTuple):
    sum: Any  # torch: state['sum']


def adagrad(lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10, *, maximize=False):
    """Adagrad with torch's ``lr_decay`` and ``initial_accumulator_value``."""
    base.check(lambda v: v >= 0.0, lr, f"Invalid learning rate: {lr}")
    base.check(lambda v: v >= 0.0, lr_decay, f"Invalid lr_decay value: {lr_decay}")
    base.check(lambda v: v >= 0.0, weight_decay, f"Invalid weight_decay value: {weight_decay}")
    base.check(
        lambda v: v >= 0.0,
        initial_accumulator_value,
        f"Invalid initial_accumulator_value value: {initial_accumulator_value}",
    )
    base.check(lambda v: v >= 0.0, eps, f"Invalid epsilon value: {eps}")
    decay = base.is_nonzero(weight_decay)

    def init(param):
        # A complex parameter starts at complex(v, v): its real view is v everywhere.
        return AdagradBuffers(jnp.full_like(param, initial_accumulator_value))

    def rule(h, count, param, grad, buffers):
        s = lambda x: base.scalar(x, param)
        grad = base.gradient(grad, param, h.weight_decay, maximize=maximize, decay=decay)
        clr = h.lr / (1 + (base.torch_step(count) - 1) * h.lr_decay)
        state_sum = buffers.sum + grad * grad
        std = jnp.sqrt(state_sum) + s(h.eps)
        return s(-clr) * grad / std, AdagradBuffers(state_sum)

    return base.transformation(AdagradHyperparams(lr, lr_decay, eps, weight_decay), init, rule)
