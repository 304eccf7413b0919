r"""Adafactor, torch's ``torch.optim.Adafactor`` (torch's variant, ``torch/optim/_adafactor.py``).

.. math::
    G_t &\leftarrow \pm\nabla_\theta f_t(\theta_{t-1}) \quad(\text{minus when } \textit{maximize})\\
    \hat\beta_{2_t} &\leftarrow 1 - t^{\tau}, \qquad \rho_t \leftarrow \min(\gamma, 1/\sqrt t), \qquad
    \alpha_t \leftarrow \max\!\big(\epsilon_2, \lVert\theta_{t-1}\rVert_2/\sqrt{n}\big)\,\rho_t\\
    \theta_{t-1} &\leftarrow \theta_{t-1}(1 - \gamma\lambda)\\
    &\text{tensors of 2+ dims (factored over the last two dims):}\\
    R_t &\leftarrow \operatorname{lerp}\big(R_{t-1}, \operatorname{mean}_{-1}(G_t^2), 1-\hat\beta_{2_t}\big),\quad
    C_t \leftarrow \operatorname{lerp}\big(C_{t-1}, \operatorname{mean}_{-2}(G_t^2), 1-\hat\beta_{2_t}\big),\quad
    \hat V_t \leftarrow \frac{R_t C_t}{\max(\operatorname{mean}_{-2}(R_t), \epsilon_1)}\\
    &\text{other tensors:}\quad \hat V_t \leftarrow \operatorname{lerp}(\hat V_{t-1}, G_t^2, 1-\hat\beta_{2_t})\\
    U_t &\leftarrow G_t / \sqrt{\max(\hat V_t, \epsilon_1^2)}, \qquad
    \theta_t \leftarrow \theta_{t-1} - \frac{\alpha_t}{\max(1, \lVert U_t\rVert_2 / (\sqrt{n}\, d))}\, U_t

with :math:`\gamma` = ``lr``, :math:`\tau` = ``beta2_decay``, :math:`(\epsilon_1, \epsilon_2)` =
``eps``, :math:`d` = ``d``, :math:`\lambda` = ``weight_decay`` and :math:`n` the number of entries.
``eps[0] = None`` (the default) means the machine epsilon of the parameters' dtype; as in torch,
the dtype of the first parameter (first leaf) is used for the whole update. Scalars
(:math:`\hat\beta_{2_t}, \rho_t, \alpha_t`, the norms and the clipping denominator) are computed in
the hyperparameter dtype, as torch's Python floats. Complex parameters are refused, as in torch.

State (torch's names): ``row_var`` (:math:`R`, the parameter's shape with the
last dim 1) and ``col_var`` (:math:`C`, the second-to-last dim 1) for tensors of 2+ dims,
``variance`` (:math:`\hat V`) for the others. A tensor has only the buffers torch gives it: in the
functional state the other fields hold ``None`` at its place. torch's ``step`` (:math:`t`) is
``count + 1`` (:func:`jopt.core.base.torch_step`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jopt.core import base


class AdafactorHyperparams(NamedTuple):
    lr: Any
    beta2_decay: Any
    eps: Any  # (eps1 or None, eps2)
    d: Any
    weight_decay: Any


class AdafactorBuffers(NamedTuple):
    row_var: Any  # torch: state['row_var'] (tensors of 2+ dims)
    col_var: Any  # torch: state['col_var'] (tensors of 2+ dims)
    variance: Any  # torch: state['variance'] (tensors of fewer dims)


def _pymax(a, b):
    """Python's ``max(a, b)`` (``a`` unless ``b > a``; NaN never wins)."""
    return jnp.where(b > a, b, a)


def _pymin(a, b):
    """Python's ``min(a, b)``."""
    return jnp.where(b < a, b, a)


def _norm(x, axis=None, keepdims=False):
    return jnp.sqrt(jnp.sum(x * x, axis=axis, keepdims=keepdims))


def _init(param):
    if param.ndim > 1:
        row = jnp.zeros(param.shape[:-1] + (1,), param.dtype)
        col = jnp.zeros(param.shape[:-2] + (1,) + param.shape[-1:], param.dtype)
        return AdafactorBuffers(row, col, None)
    return AdafactorBuffers(None, None, jnp.zeros_like(param))


def adafactor(lr=1e-2, beta2_decay=-0.8, eps=(None, 1e-3), d=1.0, weight_decay=0.0, *, maximize=False):
    """Adafactor as torch implements it (factored second moments, relative step size, clipping)."""
    base.check(lambda v: v >= 0.0, lr, f"Learning rate should be >= 0 but is: {lr}")
    base.check(lambda v: 0.0 >= v, beta2_decay, f"beta2_decay should be <= 0 but is: {beta2_decay}")
    if eps[0] is not None:
        base.check(lambda v: v >= 0.0, eps[0], f"epsilon1 should be >= 0 but is: {eps[0]}")
    base.check(lambda v: v >= 0.0, eps[1], f"epsilon2 should be >= 0 but is: {eps[1]}")
    base.check(lambda v: 1.0 <= v, d, f"Clipping threshold d should be >= 1 but is: {d}")
    base.check(lambda v: v >= 0.0, weight_decay, f"weight_decay should be >= 0 but is: {weight_decay}")
    hyperparams = AdafactorHyperparams(lr, beta2_decay, tuple(eps), d, weight_decay)

    def make(default_eps1):
        """The transformation with ``eps[0] = None`` meaning ``default_eps1``."""

        def rule(h, count, param, grad, buffers):
            s = lambda x: base.scalar(x, param)
            real = lambda x: x.astype(base.float_dtype())  # torch's .item(): a Python float
            eps1 = default_eps1 if h.eps[0] is None else h.eps[0]
            eps2 = h.eps[1]
            if maximize:
                grad = -grad
            t = base.torch_step(count)
            one_minus_beta2_t = t**h.beta2_decay
            rho_t = _pymin(h.lr, 1 / (t**0.5))
            alpha = _pymax(eps2, real(_norm(param)) / (param.size**0.5)) * rho_t
            new_param = param * s(1 - h.lr * h.weight_decay)  # torch skips it for 0, the same
            row_var = col_var = variance = None
            if grad.ndim > 1:
                row_mean = jnp.square(_norm(grad, -1, keepdims=True)) / s(grad.shape[-1])
                row_var = base.lerp(buffers.row_var, row_mean, one_minus_beta2_t)
                col_mean = jnp.square(_norm(grad, -2, keepdims=True)) / s(grad.shape[-2])
                col_var = base.lerp(buffers.col_var, col_mean, one_minus_beta2_t)
                var_estimate = row_var * col_var  # torch's row_var @ col_var: an outer product
                var_estimate = var_estimate / jnp.maximum(jnp.mean(row_var, axis=-2, keepdims=True), s(eps1))
            else:
                variance = base.lerp(buffers.variance, grad * grad, one_minus_beta2_t)
                var_estimate = variance
            update = 1 / jnp.sqrt(jnp.maximum(var_estimate, s(eps1 * eps1))) * grad
            denom = _pymax(1.0, real(_norm(update)) / ((update.size**0.5) * h.d))
            new_param = new_param + s(-alpha / denom) * update
            return new_param - param, AdafactorBuffers(row_var, col_var, variance)

        return base.transformation(hyperparams, _init, rule, buffer_fields=AdafactorBuffers._fields)

    by_dtype = {}

    def for_params(params):
        leaves = jax.tree.leaves(params)
        dtype = jnp.dtype(leaves[0].dtype) if leaves else jnp.dtype(jnp.float32)
        if dtype not in by_dtype:
            by_dtype[dtype] = make(float(jnp.finfo(dtype).eps))
        return by_dtype[dtype]

    def init_fn(params):
        for leaf in jax.tree.leaves(params):
            if jnp.iscomplexobj(leaf):
                raise RuntimeError("Adafactor does not support complex parameters")
        return for_params(params).init(params)

    def update_fn(grads, state, params=None, **extra_args):
        if params is None:
            raise ValueError("jopt optimizers need `params` in update(grads, state, params), as torch does.")
        return for_params(params).update(grads, state, params, **extra_args)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)
