r"""ASGD (averaged SGD), torch's ``torch.optim.ASGD``.

.. math::
    g_t &\leftarrow \pm\nabla_\theta f_t(\theta_{t-1}) + \lambda_{wd}\,\theta_{t-1}
          \quad(\text{minus when } \textit{maximize})\\
    \theta_t &\leftarrow \theta_{t-1}\,(1 - \lambda\,\eta_{t-1}) - \eta_{t-1}\, g_t\\
    \bar\theta_t &\leftarrow \begin{cases} \theta_t & \mu_{t-1} = 1\\
        \bar\theta_{t-1} + \mu_{t-1}(\theta_t - \bar\theta_{t-1}) & \text{else}\end{cases}\\
    \eta_t &\leftarrow \gamma / (1 + \lambda\gamma t)^{\alpha}, \qquad
    \mu_t \leftarrow 1 / \max(1, t - t_0)

with :math:`\gamma` = ``lr``, :math:`\lambda` = ``lambd``, :math:`\alpha` = ``alpha``,
:math:`t_0` = ``t0``, :math:`\lambda_{wd}` = ``weight_decay``, :math:`\eta_0 = \gamma` (the ``lr``
of the first update, as torch reads it when it creates the state). As in torch's single-tensor
path, :math:`\eta` and :math:`\mu` are updated after the parameter, from the new step count.

State (torch's names): ``eta`` (:math:`\eta`), ``mu`` (:math:`\mu`) and ``ax``
(:math:`\bar\theta`, the averaged parameters). ``eta`` and ``mu`` are per-tensor float32
scalars, torch's scalar dtype (``torch.get_default_dtype()`` float32), so they are rounded to
float32 between steps exactly as in torch. torch's ``step`` (:math:`t`) is ``count + 1``
(:func:`jopt.core.base.torch_step`).

The averaged parameters are what ASGD is used for: in the functional form they are
``state.buffers.ax``, a pytree shaped like the parameters (same dtypes); in ``jopt.optim.ASGD``
they are ``opt.state[p]['ax']``, as in torch. Averaging starts after ``t0`` steps; before that
``ax`` is a copy of the parameters.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax.numpy as jnp

from jopt.core import base

# torch's _get_scalar_dtype(): the dtype of eta and mu (torch's default dtype, float32).
_SCALAR_DTYPE = jnp.float32


class ASGDHyperparams(NamedTuple):
    lr: Any
    lambd: Any
    alpha: Any
    t0: Any
    weight_decay: Any


class ASGDBuffers(NamedTuple):
    eta: Any  # torch: state['eta'] (per-tensor float32 scalar)
    mu: Any  # torch: state['mu'] (per-tensor float32 scalar)
    ax: Any  # torch: state['ax'] (the averaged parameters)


def asgd(lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0.0, *, maximize=False):
    """Averaged SGD; the averaged parameters are ``state.buffers.ax``."""
    base.check(lambda v: v >= 0.0, lr, f"Invalid learning rate: {lr}")
    base.check(lambda v: v >= 0.0, weight_decay, f"Invalid weight_decay value: {weight_decay}")

    def init(param):
        return ASGDBuffers(
            # torch sets eta from the group's lr when it creates the state, i.e. at the first
            # update; the rule does the same, this is only the value seen before any update.
            jnp.asarray(0.0 if callable(lr) else lr, _SCALAR_DTYPE),
            jnp.ones((), _SCALAR_DTYPE),
            jnp.zeros_like(param),
        )

    def rule(h, count, param, grad, buffers):
        s = lambda x: base.scalar(x, param)
        hyper = lambda x: x.astype(base.float_dtype())  # torch's .item() of a float32 scalar
        if maximize:
            grad = -grad
        eta = jnp.where(count == 0, h.lr.astype(_SCALAR_DTYPE), buffers.eta)
        grad = grad + s(h.weight_decay) * param
        eta_value = hyper(eta)
        new_param = param * s(1 - h.lambd * eta_value) + s(-eta_value) * grad
        mu = buffers.mu
        ax = jnp.where(mu == 1, new_param, buffers.ax + (new_param - buffers.ax) * mu.astype(param.dtype))
        t = base.torch_step(count)
        new_eta = h.lr / ((1 + h.lambd * h.lr * t) ** h.alpha)
        new_mu = 1 / jnp.maximum(1, t - h.t0)
        return new_param - param, ASGDBuffers(new_eta.astype(_SCALAR_DTYPE), new_mu.astype(_SCALAR_DTYPE), ax)

    return base.transformation(ASGDHyperparams(lr, lambd, alpha, t0, weight_decay), init, rule)
