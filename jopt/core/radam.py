r"""RAdam, torch's ``torch.optim.RAdam``.

.. math::
    g_t &\leftarrow \pm\nabla_\theta f_t(\theta_{t-1}) \quad(\text{minus when } \textit{maximize});
      \text{ coupled: } g_t \mathrel{+}= \lambda\theta_{t-1},
      \text{ decoupled: } \theta_{t-1} \leftarrow \theta_{t-1}(1-\gamma\lambda)\\
    m_t &\leftarrow \operatorname{lerp}(m_{t-1}, g_t, 1-\beta_1),\quad
    v_t \leftarrow \beta_2 v_{t-1} + (1-\beta_2) g_t^2 \\
    \rho_\infty &= \frac{2}{1-\beta_2} - 1,\quad
    \rho_t = \rho_\infty - \frac{2t\beta_2^t}{1-\beta_2^t} \\
    \theta_t &\leftarrow \theta_{t-1} - \gamma\,\frac{m_t}{1-\beta_1^t}\cdot
      \begin{cases} \frac{\sqrt{1-\beta_2^t}}{\sqrt{v_t}+\epsilon}\, r_t & \rho_t > 5 \\ 1 & \text{else}\end{cases},
    \quad r_t = \sqrt{\frac{(\rho_t-4)(\rho_t-2)\rho_\infty}{(\rho_\infty-4)(\rho_\infty-2)\rho_t}}

with :math:`\gamma` = ``lr``, :math:`(\beta_1, \beta_2)` = ``betas``, :math:`\lambda` =
``weight_decay``. torch picks the branch in Python each step; here both are computed and the
scalar condition selects, so the rule runs under ``jit``.

State (torch's names): ``exp_avg`` (:math:`m`), ``exp_avg_sq`` (:math:`v`); torch's ``step``
(:math:`t`) is ``count + 1`` (:func:`jopt.core.base.torch_step`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax.numpy as jnp

from jopt.core import base


class RAdamHyperparams(NamedTuple):
    lr: Any
    betas: Any
    eps: Any
    weight_decay: Any


class RAdamBuffers(NamedTuple):
    exp_avg: Any  # torch: state['exp_avg']
    exp_avg_sq: Any  # torch: state['exp_avg_sq']


def radam(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled_weight_decay=False, *, maximize=False):
    """RAdam: Adam with torch's variance rectification."""
    base.check_adam_family(lr, betas, eps, weight_decay)
    decay = base.is_nonzero(weight_decay)

    def init(param):
        return RAdamBuffers(jnp.zeros_like(param), jnp.zeros_like(param))

    def rule(h, count, param, grad, buffers):
        s = lambda x: base.scalar(x, param)
        beta1, beta2 = h.betas
        t = base.torch_step(count)
        grad = base.gradient(grad, param, h.weight_decay, maximize=maximize, decay=decay and not decoupled_weight_decay)
        update = base.decoupled_decay(param, h.lr, h.weight_decay) if decay and decoupled_weight_decay else 0
        exp_avg = base.lerp(buffers.exp_avg, grad, 1 - beta1)
        exp_avg_sq = buffers.exp_avg_sq * s(beta2) + s(1 - beta2) * grad * grad
        bias_correction1 = 1 - beta1**t
        bias_correction2 = 1 - beta2**t
        bias_corrected_exp_avg = exp_avg / s(bias_correction1)
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * t * (beta2**t) / bias_correction2
        rect = jnp.sqrt(
            jnp.maximum((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t), 0)
        )
        adaptive_lr = s(bias_correction2**0.5) / (jnp.sqrt(exp_avg_sq) + s(h.eps))
        rectified = bias_corrected_exp_avg * s(h.lr) * adaptive_lr * s(rect)
        update = update - jnp.where(rho_t > 5.0, rectified, bias_corrected_exp_avg * s(h.lr))
        return update, RAdamBuffers(exp_avg, exp_avg_sq)

    return base.transformation(RAdamHyperparams(lr, tuple(betas), eps, weight_decay), init, rule)
