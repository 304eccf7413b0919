r"""Adam and AdamW, torch's ``torch.optim.Adam`` / ``torch.optim.AdamW``.

.. math::
    g_t &\leftarrow \pm\nabla_\theta f_t(\theta_{t-1}) \quad(\text{minus when } \textit{maximize})\\
    &\text{coupled decay: } g_t \leftarrow g_t + \lambda\theta_{t-1}
     \qquad\text{decoupled (AdamW): } \theta_{t-1} \leftarrow \theta_{t-1}(1 - \gamma\lambda)\\
    m_t &\leftarrow \operatorname{lerp}(m_{t-1}, g_t, 1-\beta_1) \qquad
    v_t \leftarrow \beta_2 v_{t-1} + (1-\beta_2)\, g_t^2 \\
    \hat v_t &\leftarrow \max(\hat v_{t-1}, v_t) \text{ if } \textit{amsgrad} \text{ else } v_t\\
    \theta_t &\leftarrow \theta_{t-1} - \frac{\gamma}{1-\beta_1^t}\,
        \frac{m_t}{\sqrt{\hat v_t}/\sqrt{1-\beta_2^t} + \epsilon}

with :math:`\gamma` = ``lr``, :math:`(\beta_1, \beta_2)` = ``betas``, :math:`\lambda` =
``weight_decay``. The bias corrections are computed as scalars first and the tensor work follows
torch's order of operations.

State (torch's names): ``exp_avg`` (:math:`m`), ``exp_avg_sq`` (:math:`v`), ``max_exp_avg_sq``
(:math:`\hat v`, only with ``amsgrad``); torch's ``step`` is :math:`t` = ``count + 1`` (see
:func:`jopt.core.base.torch_step`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax.numpy as jnp

from jopt.core import base


class AdamHyperparams(NamedTuple):
    lr: Any
    betas: Any  # (beta1, beta2)
    eps: Any
    weight_decay: Any


class AdamBuffers(NamedTuple):
    exp_avg: Any  # torch: state['exp_avg']
    exp_avg_sq: Any  # torch: state['exp_avg_sq']
    max_exp_avg_sq: Any  # torch: state['max_exp_avg_sq'] (amsgrad only)


def adam(
    lr=1e-3,
    betas=(0.9, 0.999),
    eps=1e-8,
    weight_decay=0.0,
    amsgrad=False,
    *,
    maximize=False,
    decoupled_weight_decay=False,
):
    """Adam; ``decoupled_weight_decay=True`` gives AdamW."""
    base.check_adam_family(lr, betas, eps, weight_decay)
    decay = base.is_nonzero(weight_decay)

    def init(param):
        zeros = jnp.zeros_like(param)
        return AdamBuffers(zeros, zeros, zeros if amsgrad else None)

    def rule(h, count, param, grad, buffers):
        s = lambda x: base.scalar(x, param)
        beta1, beta2 = h.betas
        grad = base.gradient(grad, param, h.weight_decay, maximize=maximize, decay=decay and not decoupled_weight_decay)
        update = base.decoupled_decay(param, h.lr, h.weight_decay) if decay and decoupled_weight_decay else 0

        exp_avg = base.lerp(buffers.exp_avg, grad, 1 - beta1)
        exp_avg_sq = buffers.exp_avg_sq * s(beta2) + s(1 - beta2) * grad * grad

        t = base.torch_step(count)
        step_size = h.lr / (1 - beta1**t)
        bias_correction2_sqrt = jnp.sqrt(1 - beta2**t)
        max_exp_avg_sq = None
        if amsgrad:
            max_exp_avg_sq = jnp.maximum(buffers.max_exp_avg_sq, exp_avg_sq)
            denom = jnp.sqrt(max_exp_avg_sq) / s(bias_correction2_sqrt) + s(h.eps)
        else:
            denom = jnp.sqrt(exp_avg_sq) / s(bias_correction2_sqrt) + s(h.eps)
        update = update + s(-step_size) * exp_avg / denom
        return update, AdamBuffers(exp_avg, exp_avg_sq, max_exp_avg_sq)

    return base.transformation(AdamHyperparams(lr, tuple(betas), eps, weight_decay), init, rule)


def adamw(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *, maximize=False):
    """AdamW: Adam with decoupled weight decay, torch's defaults (``weight_decay=1e-2``)."""
    return adam(lr, betas, eps, weight_decay, amsgrad, maximize=maximize, decoupled_weight_decay=True)
