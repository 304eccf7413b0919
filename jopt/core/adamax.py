r"""Adamax, torch's ``torch.optim.Adamax``.

.. math::
    g_t &\leftarrow \pm\nabla_\theta f_t(\theta_{t-1}) + \lambda\theta_{t-1}
          \quad(\text{minus when } \textit{maximize})\\
    m_t &\leftarrow \operatorname{lerp}(m_{t-1}, g_t, 1-\beta_1) \\
    u_t &\leftarrow \max(\beta_2 u_{t-1},\; |g_t| + \epsilon) \\
    \theta_t &\leftarrow \theta_{t-1} - \frac{\gamma}{1-\beta_1^t}\, \frac{m_t}{u_t}

with :math:`\gamma` = ``lr``, :math:`(\beta_1, \beta_2)` = ``betas``, :math:`\lambda` =
``weight_decay``; ``eps`` is added to :math:`|g_t|` inside the max, as torch does.

State (torch's names): ``exp_avg`` (:math:`m`), ``exp_inf`` (:math:`u`); torch's ``step``
(:math:`t`) is ``count + 1`` (:func:`jopt.core.base.torch_step`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax.numpy as jnp

from jopt.core import base


class AdamaxHyperparams(NamedTuple):
    lr: Any
    betas: Any
    eps: Any
    weight_decay: Any


class AdamaxBuffers(NamedTuple):
    exp_avg: Any  # torch: state['exp_avg']
    exp_inf: Any  # torch: state['exp_inf']


def adamax(lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, *, maximize=False):
    """Adamax: Adam with the infinity norm."""
    base.check_adam_family(lr, betas, eps, weight_decay)
    decay = base.is_nonzero(weight_decay)

    def init(param):
        return AdamaxBuffers(jnp.zeros_like(param), jnp.zeros_like(param))

    def rule(h, count, param, grad, buffers):
        s = lambda x: base.scalar(x, param)
        beta1, beta2 = h.betas
        grad = base.gradient(grad, param, h.weight_decay, maximize=maximize, decay=decay)
        exp_avg = base.lerp(buffers.exp_avg, grad, 1 - beta1)
        exp_inf = jnp.maximum(buffers.exp_inf * s(beta2), jnp.abs(grad) + s(h.eps))
        clr = h.lr / (1 - beta1 ** base.torch_step(count))
        return s(-clr) * exp_avg / exp_inf, AdamaxBuffers(exp_avg, exp_inf)

    return base.transformation(AdamaxHyperparams(lr, tuple(betas), eps, weight_decay), init, rule)
