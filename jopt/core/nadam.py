r"""NAdam, torch's ``torch.optim.NAdam``.

.. math::
    g_t &\leftarrow \pm\nabla_\theta f_t(\theta_{t-1}) \quad(\text{minus when } \textit{maximize});
      \text{ coupled: } g_t \mathrel{+}= \lambda\theta_{t-1},
      \text{ decoupled: } \theta_{t-1} \leftarrow \theta_{t-1}(1-\gamma\lambda)\\
    \mu_t &\leftarrow \beta_1\bigl(1 - \tfrac12\, 0.96^{t\psi}\bigr),\quad
    \mu_{t+1} \leftarrow \beta_1\bigl(1 - \tfrac12\, 0.96^{(t+1)\psi}\bigr),\quad
    \Pi_t \leftarrow \Pi_{t-1}\,\mu_t \\
    m_t &\leftarrow \operatorname{lerp}(m_{t-1}, g_t, 1-\beta_1),\quad
    v_t \leftarrow \beta_2 v_{t-1} + (1-\beta_2) g_t^2,\quad
    d_t \leftarrow \sqrt{v_t / (1-\beta_2^t)} + \epsilon \\
    \theta_t &\leftarrow \theta_{t-1} - \frac{\gamma(1-\mu_t)}{1-\Pi_t}\,\frac{g_t}{d_t}
        - \frac{\gamma\,\mu_{t+1}}{1-\Pi_t\mu_{t+1}}\,\frac{m_t}{d_t}

with :math:`\gamma` = ``lr``, :math:`(\beta_1, \beta_2)` = ``betas``, :math:`\psi` =
``momentum_decay``, :math:`\lambda` = ``weight_decay``.

State (torch's names): ``mu_product`` (:math:`\Pi`, a float32 scalar per tensor as torch keeps it),
``exp_avg`` (:math:`m`), ``exp_avg_sq`` (:math:`v`); torch's ``step`` (:math:`t`) is ``count + 1``
(:func:`jopt.core.base.torch_step`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax.numpy as jnp

from jopt.core import base


class NAdamHyperparams(NamedTuple):
    lr: Any
    betas: Any
    eps: Any
    weight_decay: Any
    momentum_decay: Any


class NAdamBuffers(NamedTuple):
    mu_product: Any  # torch: state['mu_product']
    exp_avg: Any  # torch: state['exp_avg']
    exp_avg_sq: Any  # torch: state['exp_avg_sq']


def nadam(
    lr=2e-3,
    betas=(0.9, 0.999),
    eps=1e-8,
    weight_decay=0.0,
    momentum_decay=4e-3,
    decoupled_weight_decay=False,
    *,
    maximize=False,
):
    """NAdam: Adam with Nesterov momentum and torch's momentum-decay schedule."""
    base.check_adam_family(lr, betas, eps, weight_decay)
    base.check(lambda v: v >= 0.0, momentum_decay, f"Invalid momentum_decay value: {momentum_decay}")
    decay = base.is_nonzero(weight_decay)

    def init(param):
        zeros = jnp.zeros_like(param)
        # torch keeps mu_product in its scalar dtype (float32), whatever the parameter's dtype.
        return NAdamBuffers(jnp.ones((), jnp.float32), zeros, zeros)

    def rule(h, count, param, grad, buffers):
        s = lambda x: base.scalar(x, param)
        beta1, beta2 = h.betas
        t = base.torch_step(count)
        grad = base.gradient(grad, param, h.weight_decay, maximize=maximize, decay=decay and not decoupled_weight_decay)
        update = base.decoupled_decay(param, h.lr, h.weight_decay) if decay and decoupled_weight_decay else 0
        bias_correction2 = 1 - beta2**t
        mu = beta1 * (1.0 - 0.5 * 0.96 ** (t * h.momentum_decay))
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * h.momentum_decay))
        mu_product = buffers.mu_product * mu.astype(jnp.float32)
        mu_product_value = mu_product.astype(base.float_dtype())
        exp_avg = base.lerp(buffers.exp_avg, grad, 1 - beta1)
        exp_avg_sq = buffers.exp_avg_sq * s(beta2) + s(1 - beta2) * grad * grad
        denom = jnp.sqrt(exp_avg_sq / s(bias_correction2)) + s(h.eps)
        update = update + s(-h.lr * (1.0 - mu) / (1.0 - mu_product_value)) * grad / denom
        update = update + s(-h.lr * mu_next / (1.0 - mu_product_value * mu_next)) * exp_avg / denom
        return update, NAdamBuffers(mu_product, exp_avg, exp_avg_sq)

    return base.transformation(NAdamHyperparams(lr, tuple(betas), eps, weight_decay, momentum_decay), init, rule)
