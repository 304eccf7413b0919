r"""SparseAdam, torch's ``torch.optim.SparseAdam``: Adam that only touches the entries a gradient has.

torch's SparseAdam takes gradients in sparse layout (``nn.Embedding(sparse=True)``, or
``grad.to_sparse()``) and updates the moments and the parameter only at the entries the gradient
holds. jopt takes the dense gradients ``jax.grad`` gives and treats **an entry equal to zero as
absent**, which is exactly what torch does with ``grad.to_sparse()``: where :math:`g_t \ne 0`,

.. math::
    g_t &\leftarrow \pm\nabla_\theta f_t(\theta_{t-1}) \quad(\text{minus when } \textit{maximize})\\
    m_t &\leftarrow m_{t-1} + (1-\beta_1)(g_t - m_{t-1}) \qquad
    v_t \leftarrow v_{t-1} + (1-\beta_2)(g_t^2 - v_{t-1})\\
    \theta_t &\leftarrow \theta_{t-1} - \frac{\gamma\sqrt{1-\beta_2^t}}{1-\beta_1^t}\,
        \frac{m_t}{\sqrt{v_t} + \epsilon}

and :math:`m, v, \theta` keep their values where :math:`g_t = 0`. The step count :math:`t` advances
at every update, as torch's ``state['step']`` does (also when the gradient is all zeros). There is
no weight decay (torch has none), and complex parameters are refused, as in torch.

A gradient leaf may also be a ``jax.experimental.sparse.BCOO``: it is summed into its dense form
(duplicate indices add up, as torch's ``coalesce()``) and follows the same rule, so a stored entry
whose value is zero counts as absent.

State (torch's names): ``exp_avg`` (:math:`m`), ``exp_avg_sq`` (:math:`v`); torch's ``step``
(:math:`t`, a Python int in torch) is ``count + 1`` (:func:`jopt.core.base.torch_step`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jopt.core import base


class SparseAdamHyperparams(NamedTuple):
    lr: Any
    betas: Any  # (beta1, beta2)
    eps: Any


class SparseAdamBuffers(NamedTuple):
    exp_avg: Any  # torch: state['exp_avg']
    exp_avg_sq: Any  # torch: state['exp_avg_sq']


def _is_bcoo(x) -> bool:
    return type(x).__name__ == "BCOO" and hasattr(x, "todense")


def _densify(grads):
    """BCOO gradient leaves -> dense arrays (duplicates summed, as torch's ``coalesce``)."""
    return jax.tree.map(lambda g: g.todense() if _is_bcoo(g) else g, grads, is_leaf=_is_bcoo)


def sparse_adam(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, *, maximize=False):
    """Adam on the non-zero entries of each gradient only (torch's lazy ``SparseAdam``)."""
    base.check(lambda v: 0.0 < v, lr, f"Invalid learning rate: {lr}")
    base.check(lambda v: 0.0 < v, eps, f"Invalid epsilon value: {eps}")
    base.check(lambda v: 0.0 <= v < 1.0, betas[0], f"Invalid beta parameter at index 0: {betas[0]}")
    base.check(lambda v: 0.0 <= v < 1.0, betas[1], f"Invalid beta parameter at index 1: {betas[1]}")

    def init(param):
        zeros = jnp.zeros_like(param)
        return SparseAdamBuffers(zeros, zeros)

    def rule(h, count, param, grad, buffers):
        s = lambda x: base.scalar(x, param)
        beta1, beta2 = h.betas
        if maximize:
            grad = -grad
        present = grad != 0
        old_exp_avg, old_exp_avg_sq = buffers.exp_avg, buffers.exp_avg_sq
        exp_avg_update = (grad - old_exp_avg) * s(1 - beta1)
        exp_avg_sq_update = (grad * grad - old_exp_avg_sq) * s(1 - beta2)
        exp_avg = jnp.where(present, old_exp_avg + exp_avg_update, old_exp_avg)
        exp_avg_sq = jnp.where(present, old_exp_avg_sq + exp_avg_sq_update, old_exp_avg_sq)
        numer = exp_avg_update + old_exp_avg
        denom = jnp.sqrt(exp_avg_sq_update + old_exp_avg_sq) + s(h.eps)

        t = base.torch_step(count)
        step_size = h.lr * jnp.sqrt(1 - beta2**t) / (1 - beta1**t)
        update = jnp.where(present, s(-step_size) * (numer / denom), jnp.zeros_like(param))
        return update, SparseAdamBuffers(exp_avg, exp_avg_sq)

    inner = base.transformation(SparseAdamHyperparams(lr, tuple(betas), eps), init, rule)

    def init_fn(params):
        for leaf in jax.tree.leaves(params):
            if jnp.iscomplexobj(leaf):
                raise ValueError("SparseAdam does not support complex parameters")
        return inner.init(params)

    def update_fn(grads, state, params=None, **extra_args):
        return inner.update(_densify(grads), state, params, **extra_args)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)
