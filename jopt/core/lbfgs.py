r"""L-BFGS, torch's ``torch.optim.LBFGS``.

One update is one torch ``step(closure)``: up to ``max_iter`` iterations on the flat vector
:math:`x` of all parameters (leaves raveled and concatenated in pytree order, complex leaves as
their real view, as torch's ``_gather_flat_grad``), each

.. math::
    y &\leftarrow g - g_{prev},\quad s \leftarrow t\,d,\quad
        \text{if } y^\top s > 10^{-10}:\ \text{push } (y, s, \rho = 1/y^\top s),\
        H_{diag} \leftarrow y^\top s / y^\top y\\
    d &\leftarrow -H g \quad\text{(two-loop recursion over the last ``history_size`` pairs;}
        \ d = -g \text{ on the very first iteration)}\\
    t &\leftarrow \min(1, 1/\lVert g\rVert_1)\,\gamma \text{ (very first iteration) else } \gamma,
        \quad\text{stop if } g^\top d > -\textit{tolerance\_change}\\
    x &\leftarrow x + t\,d \quad\text{with } t \text{ from torch's strong-Wolfe line search
        (cubic interpolation, } c_1 = 10^{-4},\ c_2 = 0.9) \text{ when }
        \textit{line\_search\_fn} = \texttt{'strong\_wolfe'}

then torch's stopping tests (``max_iter``, ``max_eval`` evaluations, :math:`\max|g| \le`
``tolerance_grad``, :math:`\max|t d| \le` ``tolerance_change``, loss change below
``tolerance_change``). :math:`\gamma` = ``lr``.

**Usage.** The loss is evaluated at new points inside an update, so ``update`` takes the loss
function, in optax's L-BFGS convention::

    tx = jopt.lbfgs(lr=1.0, line_search_fn="strong_wolfe")
    state = tx.init(params)
    loss, grads = jax.value_and_grad(loss_fn)(params, batch)   # torch's first closure() call
    updates, state = tx.update(grads, state, params, value=loss, value_fn=loss_fn, batch=batch)
    params = jopt.apply_updates(params, updates)

``value_fn(params, **extra_args)`` returns the scalar loss (the extra keyword arguments of
``update`` are passed on to it); ``value`` is the loss at ``params`` (computed with ``value_fn``
when omitted), ``grad`` the gradient there (default: the ``updates`` argument). The whole
update is one ``lax.while_loop``, so it runs inside ``jax.jit``.

**Structure.** All the math is in :func:`advance`, a pure function that consumes ONE loss and
gradient evaluation and says where to evaluate next (``carry.x_eval``) or that the step is done
(``carry.phase == DONE``): an explicit state machine over torch's loop, its strong-Wolfe
bracketing and zoom phases included. :func:`lbfgs` drives it with ``lax.while_loop`` and
``jax.value_and_grad(value_fn)``; ``jopt.optim.LBFGS`` drives the same function (jitted) from a
Python loop that calls torch-style closures. Per-step scalars that torch keeps as tensors
(:math:`y^\top s`, :math:`\rho`, :math:`H_{diag}`, :math:`g^\top d`...) are computed in the
parameters' dtype, those it keeps as Python floats (the loss, ``lr``, the tolerances) in the
hyperparameter dtype.

State (torch's names, torch keeps it under the first parameter): ``func_evals``, ``n_iter``,
``d``, ``t``, ``old_dirs`` (:math:`y`), ``old_stps`` (:math:`s`), ``ro`` (:math:`\rho`), ``al``
(the two-loop scratch), ``H_diag``, ``prev_flat_grad``, ``prev_loss``. The histories are ring
buffers of ``history_size`` rows; ``history_start`` is the row of the oldest entry and
``history_len`` the number of entries (torch's ``len(old_dirs)``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from jopt.core import base

# Constants of torch's _strong_wolfe as LBFGS.step calls it (its tolerance_change is the default,
# not the group's).
C1, C2, LS_TOLERANCE_CHANGE = 1e-4, 0.9, 1e-9
# carry.phase: which evaluation the carry waits for.
START, FIXED, SEARCH, DONE = 0, 1, 2, 3


class LBFGSHyperparams(NamedTuple):
    lr: Any
    max_iter: Any
    max_eval: Any
    tolerance_grad: Any
    tolerance_change: Any


class LBFGSBuffers(NamedTuple):
    func_evals: Any  # torch: state['func_evals'] (int)
    n_iter: Any  # torch: state['n_iter'] (int)
    d: Any  # torch: state['d']
    t: Any  # torch: state['t']
    old_dirs: Any  # torch: state['old_dirs'], (history_size, n) ring buffer
    old_stps: Any  # torch: state['old_stps'], (history_size, n) ring buffer
    ro: Any  # torch: state['ro'], (history_size,) ring buffer
    al: Any  # torch: state['al'], (history_size,) in history order
    H_diag: Any  # torch: state['H_diag']
    prev_flat_grad: Any  # torch: state['prev_flat_grad']
    prev_loss: Any  # torch: state['prev_loss']
    history_start: Any  # ring row of the oldest history entry
    history_len: Any  # torch: len(state['old_dirs'])


class Wolfe(NamedTuple):
    """torch's ``_strong_wolfe`` locals between two evaluations."""

    zoom: Any  # bool: bracketing phase done, refining the bracket
    done: Any  # bool: torch's `done` (strong Wolfe conditions hold)
    finished: Any  # bool: the search has returned
    ls_iter: Any
    evals: Any  # ls_func_evals
    max_ls: Any
    f: Any  # loss at t = 0
    g: Any  # gradient at t = 0
    gtd: Any  # directional derivative at t = 0
    d_norm: Any
    t: Any  # the point being evaluated
    t_prev: Any
    f_prev: Any
    g_prev: Any
    gtd_prev: Any
    bracket: Any  # (2,)
    bracket_f: Any  # (2,)
    bracket_g: Any  # (2, n)
    bracket_gtd: Any  # (2,)
    low: Any  # low_pos (high_pos = 1 - low)
    insuf_progress: Any


class Carry(NamedTuple):
    """The state of one update between two evaluations of the loss."""

    buffers: LBFGSBuffers
    phase: Any  # START / FIXED / SEARCH: the evaluation awaited; DONE
    x: Any  # the flat parameters
    x_eval: Any  # where the awaited evaluation is
    loss: Any
    flat_grad: Any
    opt_cond: Any
    n_iter: Any  # iterations in this update
    current_evals: Any
    ls: Wolfe


def check_args(lr, line_search_fn=None):
    """torch's constructor checks."""
    if isinstance(lr, (np.ndarray, jax.Array)) and np.size(lr) != 1:
        raise ValueError("Tensor lr must be 1-element")
    base.check(lambda v: 0.0 <= v, lr, f"Invalid learning rate: {lr}")


# --- control flow keeping the carry's types ----------------------------------------------------


def _typed(fn, like_index):
    """``fn`` with its output cast to the dtypes of its argument ``like_index`` (the carry), so
    that branches computing a field in a wider type (a Python int, a weak float) agree."""

    def wrapped(*args):
        like = args[like_index]
        return jax.tree.map(lambda new, old: jnp.asarray(new).astype(old.dtype), fn(*args), like)

    return wrapped


def _cond(pred, true_fn, false_fn, *operands, like_index=0):
    return lax.cond(pred, _typed(true_fn, like_index), _typed(false_fn, like_index), *operands)


def _switch(index, branches, *operands, like_index=0):
    return lax.switch(index, [_typed(b, like_index) for b in branches], *operands)


# --- flat views -------------------------------------------------------------------------------


def flat_dtype(leaves):
    """The dtype of torch's flat vector: real parts of the leaves, promoted."""
    if not leaves:
        return base.float_dtype()
    return jnp.result_type(*(jnp.finfo(leaf.dtype).dtype for leaf in leaves))


def flatten(tree):
    """The leaves raveled and concatenated (complex leaves as their real view)."""
    leaves = jax.tree.leaves(tree)
    dtype = flat_dtype(leaves)
    parts = [base._to_compute(jnp.asarray(leaf)).astype(dtype).ravel() for leaf in leaves]
    return jnp.concatenate(parts) if parts else jnp.zeros((0,), dtype)


def unflatten(flat, like):
    """Inverse of :func:`flatten`: a pytree shaped and typed like ``like``."""
    leaves, treedef = jax.tree.flatten(like)
    out, offset = [], 0
    for leaf in leaves:
        compute_shape = jnp.shape(leaf) + ((2,) if jnp.iscomplexobj(leaf) else ())
        size = int(np.prod(compute_shape))
        out.append(base._to_storage(flat[offset : offset + size].reshape(compute_shape), jnp.asarray(leaf).dtype))
        offset += size
    return treedef.unflatten(out)


def init_buffers(n: int, dtype, history_size: int) -> LBFGSBuffers:
    hdt = base.float_dtype()
    zero = jnp.zeros((), jnp.int32)
    return LBFGSBuffers(
        func_evals=zero,
        n_iter=zero,
        d=jnp.zeros((n,), dtype),
        t=jnp.zeros((), hdt),
        old_dirs=jnp.zeros((history_size, n), dtype),
        old_stps=jnp.zeros((history_size, n), dtype),
        ro=jnp.zeros((history_size,), dtype),
        al=jnp.zeros((history_size,), dtype),
        H_diag=jnp.ones((), dtype),
        prev_flat_grad=jnp.zeros((n,), dtype),
        prev_loss=jnp.zeros((), hdt),
        history_start=zero,
        history_len=zero,
    )


# --- torch's helpers --------------------------------------------------------------------------


def cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds=None):
    """torch's ``_cubic_interpolate`` (minimiser of the cubic through two points, clamped)."""
    if bounds is not None:
        xmin_bound, xmax_bound = bounds
    else:
        xmin_bound, xmax_bound = jnp.where(x1 <= x2, x1, x2), jnp.where(x1 <= x2, x2, x1)
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1**2 - g1 * g2
    d2 = jnp.sqrt(jnp.maximum(d2_square, 0))
    min_pos = jnp.where(
        x1 <= x2,
        x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2)),
        x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2)),
    )
    clamped = _py_min(_py_max(min_pos, xmin_bound), xmax_bound)
    return jnp.where(d2_square >= 0, clamped, (xmin_bound + xmax_bound) / 2.0)


def _py_max(a, b):
    """Python's ``max(a, b)``: ``b`` only when ``b > a``."""
    return jnp.where(b > a, b, a)


def _py_min(a, b):
    """Python's ``min(a, b)``: ``b`` only when ``b < a``."""
    return jnp.where(b < a, b, a)


def _max_abs(x):
    return jnp.max(jnp.abs(x), initial=0.0) if x.size else jnp.zeros((), x.dtype)


# --- the state machine ------------------------------------------------------------------------


def start(buffers: LBFGSBuffers, x) -> Carry:
    """The carry of an update that awaits the loss and gradient at ``x`` (torch's first closure call)."""
    hdt = base.float_dtype()
    zero_i = jnp.zeros((), jnp.int32)
    zero_h = jnp.zeros((), hdt)
    zero_p = jnp.zeros((), x.dtype)
    false = jnp.zeros((), bool)
    ls = wolfe_start(zero_h, x, zero_h, jnp.zeros_like(x), zero_p, zero_i)
    return Carry(buffers, jnp.asarray(START, jnp.int32), x, x, zero_h, jnp.zeros_like(x), false, zero_i, zero_i, ls)


def advance(h: LBFGSHyperparams, carry: Carry, loss, flat_grad, *, line_search: bool) -> Carry:
    """Consume the evaluation ``carry`` awaited (``loss``, ``flat_grad`` at ``carry.x_eval``) and
    run torch's step on to the next evaluation it needs, or to its end (``phase == DONE``)."""
    loss = jnp.asarray(loss, base.float_dtype())  # torch: float(closure())
    flat_grad = jnp.asarray(flat_grad, carry.x.dtype)
    carry = _switch(
        carry.phase,
        [_on_start, _on_fixed, _on_search, lambda h, c, f, g: c],
        h, carry, loss, flat_grad, like_index=1,
    )  # fmt: skip
    # After an iteration's last evaluation the next iteration starts; phase HEAD is internal.
    return _cond(carry.phase == _HEAD, lambda c: _iteration(h, c, line_search), lambda c: c, carry)


_HEAD = 4  # internal: an iteration is to begin


def _on_start(h, c: Carry, loss, flat_grad) -> Carry:
    b = c.buffers._replace(func_evals=c.buffers.func_evals + 1)
    opt_cond = _max_abs(flat_grad) <= _p(h.tolerance_grad, flat_grad)
    phase = jnp.where(opt_cond, DONE, _HEAD)
    return c._replace(buffers=b, phase=phase, loss=loss, flat_grad=flat_grad, opt_cond=opt_cond, current_evals=jnp.ones((), jnp.int32))


def _on_fixed(h, c: Carry, loss, flat_grad) -> Carry:
    opt_cond = _max_abs(flat_grad) <= _p(h.tolerance_grad, flat_grad)
    c = c._replace(loss=loss, flat_grad=flat_grad, opt_cond=opt_cond)
    return _end_of_iteration(h, c, jnp.ones((), jnp.int32))


def _on_search(h, c: Carry, loss, flat_grad) -> Carry:
    ls = wolfe_observe(c.ls, loss, flat_grad, c.buffers.d)
    d = c.buffers.d

    def finish(c):
        # loss, flat_grad, t, ls_func_evals = _strong_wolfe(...); self._add_grad(t, d)
        t, f_new, g_new = ls.bracket[ls.low], ls.bracket_f[ls.low], ls.bracket_g[ls.low]
        opt_cond = _max_abs(g_new) <= _p(h.tolerance_grad, g_new)
        c = c._replace(x=c.x + _p(t, d) * d, loss=f_new, flat_grad=g_new, opt_cond=opt_cond,
                       buffers=c.buffers._replace(t=t), ls=ls)  # fmt: skip
        return _end_of_iteration(h, c, ls.evals)

    return _cond(ls.finished, finish, lambda c: c._replace(ls=ls, x_eval=c.x + _p(ls.t, d) * d), c)


def _end_of_iteration(h, c: Carry, ls_func_evals) -> Carry:
    """torch's bookkeeping and stopping tests after the parameters moved."""
    b = c.buffers
    current_evals = c.current_evals + ls_func_evals
    b = b._replace(func_evals=b.func_evals + ls_func_evals)
    d_t = b.d * _p(b.t, b.d)
    stop = (
        (c.n_iter == h.max_iter.astype(jnp.int32))
        | (current_evals >= h.max_eval.astype(jnp.int32))
        | c.opt_cond
        | (_max_abs(d_t) <= _p(h.tolerance_change, d_t))
        | (jnp.abs(c.loss - b.prev_loss) < h.tolerance_change)
    )
    return c._replace(buffers=b, current_evals=current_evals, phase=jnp.where(stop, DONE, _HEAD).astype(jnp.int32))


def _p(x, like):
    """A scalar as torch uses a Python number with a tensor: cast to the tensor's dtype."""
    return jnp.asarray(x).astype(like.dtype)


def _direction(b: LBFGSBuffers, flat_grad) -> LBFGSBuffers:
    """torch's "compute gradient descent direction" block, on a ring-buffer history."""

    def first(b):
        return b._replace(d=-flat_grad, history_start=jnp.zeros_like(b.history_start),
                          history_len=jnp.zeros_like(b.history_len), H_diag=jnp.ones_like(b.H_diag))  # fmt: skip

    def lbfgs(b):
        m = b.ro.shape[0]
        y = flat_grad - b.prev_flat_grad
        s = b.d * _p(b.t, b.d)
        ys = jnp.dot(y, s)

        def push(b):
            full = b.history_len == m
            row = (b.history_start + b.history_len) % m  # the oldest row when full
            return b._replace(
                old_dirs=b.old_dirs.at[row].set(y),
                old_stps=b.old_stps.at[row].set(s),
                ro=b.ro.at[row].set(1.0 / ys),
                H_diag=ys / jnp.dot(y, y),
                history_start=jnp.where(full, (b.history_start + 1) % m, b.history_start),
                history_len=jnp.where(full, b.history_len, b.history_len + 1),
            )

        b = _cond(ys > 1e-10, push, lambda b: b, b)
        num_old = b.history_len
        row = lambda i: (b.history_start + i) % m

        def backward(k, carry):
            q, al = carry
            i = num_old - 1 - k
            al_i = jnp.dot(b.old_stps[row(i)], q) * b.ro[row(i)]
            return q + (-al_i) * b.old_dirs[row(i)], al.at[i].set(al_i)

        q, al = lax.fori_loop(0, num_old, backward, (-flat_grad, b.al))
        r = q * b.H_diag

        def forward(i, r):
            be_i = jnp.dot(b.old_dirs[row(i)], r) * b.ro[row(i)]
            return r + (al[i] - be_i) * b.old_stps[row(i)]

        return b._replace(d=lax.fori_loop(0, num_old, forward, r), al=al)

    return _cond(b.n_iter == 1, first, lbfgs, b)


def _iteration(h, c: Carry, line_search: bool) -> Carry:
    """One pass of torch's ``while n_iter < max_iter`` loop up to its first evaluation."""
    b = c.buffers
    n_iter = c.n_iter + 1
    b = b._replace(n_iter=b.n_iter + 1)
    b = _direction(b, c.flat_grad)
    b = b._replace(prev_flat_grad=c.flat_grad, prev_loss=c.loss)
    hdt = base.float_dtype()
    abs_sum = jnp.sum(jnp.abs(c.flat_grad))
    inv = 1.0 / abs_sum  # a tensor in torch: min(1.0, 1.0 / flat_grad.abs().sum()) * lr
    first_t = jnp.where(inv < 1.0, (inv * _p(h.lr, inv)).astype(hdt), 1.0 * h.lr)
    t = jnp.where(b.n_iter == 1, first_t, h.lr).astype(hdt)
    b = b._replace(t=t)
    gtd = jnp.dot(c.flat_grad, b.d)
    c = c._replace(buffers=b, n_iter=n_iter)
    no_descent = gtd > -_p(h.tolerance_change, gtd)

    if line_search:

        def search(c):
            max_ls = h.max_eval.astype(jnp.int32) - c.current_evals
            ls = wolfe_start(t, b.d, c.loss, c.flat_grad, gtd, max_ls)
            return c._replace(phase=jnp.asarray(SEARCH, jnp.int32), ls=ls, x_eval=c.x + _p(t, b.d) * b.d)

        proceed = search
    else:

        def proceed(c):
            x = c.x + _p(t, b.d) * b.d
            c = c._replace(x=x, x_eval=x)
            evaluate = n_iter != h.max_iter.astype(jnp.int32)  # no re-evaluation in the last iteration
            return _cond(
                evaluate,
                lambda c: c._replace(phase=jnp.asarray(FIXED, jnp.int32)),
                lambda c: _end_of_iteration(h, c, jnp.zeros((), jnp.int32)),
                c,
            )

    return _cond(no_descent, lambda c: c._replace(phase=jnp.asarray(DONE, jnp.int32)), proceed, c)


# --- strong Wolfe, one evaluation at a time ---------------------------------------------------


def wolfe_start(t, d, f, g, gtd, max_ls) -> Wolfe:
    """torch's ``_strong_wolfe`` up to its first evaluation, which is at ``t``."""
    hdt = base.float_dtype()
    zero_i = jnp.zeros((), jnp.int32)
    false = jnp.zeros((), bool)
    return Wolfe(
        zoom=false, done=false, finished=false, ls_iter=zero_i, evals=zero_i, max_ls=max_ls,
        f=f, g=g, gtd=gtd, d_norm=_max_abs(d), t=jnp.asarray(t, hdt), t_prev=jnp.zeros((), hdt),
        f_prev=f, g_prev=g, gtd_prev=gtd, bracket=jnp.zeros((2,), hdt), bracket_f=jnp.zeros((2,), hdt),
        bracket_g=jnp.zeros((2,) + g.shape, g.dtype), bracket_gtd=jnp.zeros((2,), g.dtype), low=zero_i,
        insuf_progress=false,
    )  # fmt: skip


def wolfe_observe(w: Wolfe, f_new, g_new, d) -> Wolfe:
    """Take the evaluation at ``w.t`` and run on to the next trial point (``w.t``) or to the end
    of the search (``w.finished``; the result is ``bracket[low]``, its loss and gradient)."""
    gtd_new = jnp.dot(g_new, d)
    w = w._replace(evals=w.evals + 1)
    w = _cond(w.zoom, _zoom_observe, _bracket_observe, w, f_new, g_new, gtd_new)
    return _cond(w.zoom, _zoom_next, lambda w: w, w)


def _armijo_fails(w: Wolfe, f_new):
    # f_new > (f + c1 * t * gtd): the right side is a tensor of the parameters' dtype in torch.
    rhs = _p(w.f, w.gtd) + _p(C1 * w.t, w.gtd) * w.gtd
    return _p(f_new, w.gtd) > rhs


def _curvature_holds(w: Wolfe, gtd_new):
    return jnp.abs(gtd_new) <= _p(-C2, w.gtd) * w.gtd


def _bracket(w: Wolfe, t, f, g, gtd, **kw) -> Wolfe:
    """Enter the zoom phase with the bracket ``[t[0], t[1]]`` (low and high points found)."""
    bracket_f = jnp.stack([f[0], f[1]]).astype(w.bracket_f.dtype)
    return w._replace(
        zoom=jnp.ones((), bool), bracket=jnp.stack([t[0], t[1]]).astype(w.bracket.dtype), bracket_f=bracket_f,
        bracket_g=jnp.stack(g), bracket_gtd=w.bracket_gtd if gtd is None else jnp.stack(gtd).astype(w.bracket_gtd.dtype),
        low=jnp.where(bracket_f[0] <= bracket_f[1], 0, 1).astype(jnp.int32), insuf_progress=jnp.zeros((), bool), **kw,
    )  # fmt: skip


def _bracket_observe(w: Wolfe, f_new, g_new, gtd_new) -> Wolfe:
    """The body of torch's bracketing ``while ls_iter < max_ls`` after an evaluation."""

    def interpolate(w):
        min_step = w.t + 0.01 * (w.t - w.t_prev)
        max_step = w.t * 10
        t = cubic_interpolate(w.t_prev, w.f_prev, w.gtd_prev, w.t, f_new, gtd_new, bounds=(min_step, max_step))
        return w._replace(
            t=t.astype(w.t.dtype), t_prev=w.t, f_prev=f_new, g_prev=g_new, gtd_prev=gtd_new, ls_iter=w.ls_iter + 1
        )

    branches = [
        # loop condition failed: `if ls_iter == max_ls: bracket = [0, t]...` (bracket_gtd unset, unused)
        lambda w: _bracket(w, (0.0, w.t), (w.f, f_new), (w.g, g_new), None),
        # Armijo fails or no decrease: bracket [t_prev, t]
        lambda w: _bracket(w, (w.t_prev, w.t), (w.f_prev, f_new), (w.g_prev, g_new), (w.gtd_prev, gtd_new)),
        # strong Wolfe conditions hold at t
        lambda w: _bracket(w, (w.t, w.t), (f_new, f_new), (g_new, g_new), None, done=jnp.ones((), bool)),
        # derivative non-negative: bracket [t_prev, t]
        lambda w: _bracket(w, (w.t_prev, w.t), (w.f_prev, f_new), (w.g_prev, g_new), (w.gtd_prev, gtd_new)),
        interpolate,
    ]
    conditions = [
        w.ls_iter >= w.max_ls,
        _armijo_fails(w, f_new) | ((w.ls_iter > 1) & (_p(f_new, w.gtd) >= _p(w.f_prev, w.gtd))),
        _curvature_holds(w, gtd_new),
        gtd_new >= 0,
    ]
    return _switch(jnp.select(conditions, [0, 1, 2, 3], 4), branches, w)


def _zoom_next(w: Wolfe) -> Wolfe:
    """The top of torch's zoom loop: end the search, or choose the next trial point."""
    b0, b1 = w.bracket[0], w.bracket[1]
    tiny = _p(jnp.abs(b1 - b0), w.d_norm) * w.d_norm < LS_TOLERANCE_CHANGE
    finished = w.done | (w.ls_iter >= w.max_ls) | tiny

    def trial(w):
        t = cubic_interpolate(b0, w.bracket_f[0], w.bracket_gtd[0], b1, w.bracket_f[1], w.bracket_gtd[1])
        t = t.astype(b0.dtype)
        bmax, bmin = _py_max(b0, b1), _py_min(b0, b1)
        eps = 0.1 * (bmax - bmin)
        close = _py_min(bmax - t, t - bmin) < eps
        move = close & (w.insuf_progress | (t >= bmax) | (t <= bmin))
        moved = jnp.where(jnp.abs(t - bmax) < jnp.abs(t - bmin), bmax - eps, bmin + eps)
        return w._replace(t=jnp.where(move, moved, t), insuf_progress=close & ~move, ls_iter=w.ls_iter + 1)

    return _cond(finished, lambda w: w._replace(finished=jnp.ones((), bool)), trial, w)


def _zoom_observe(w: Wolfe, f_new, g_new, gtd_new) -> Wolfe:
    """torch's zoom loop body after ``f_new, g_new = obj_func(x, t, d)``."""
    low, high = w.low, 1 - w.low
    t = w.t

    def set_at(w, pos, t, f, g, gtd):
        return w._replace(
            bracket=w.bracket.at[pos].set(t), bracket_f=w.bracket_f.at[pos].set(f),
            bracket_g=w.bracket_g.at[pos].set(g), bracket_gtd=w.bracket_gtd.at[pos].set(gtd),
        )  # fmt: skip

    def not_lower(w):
        w = set_at(w, high, t, f_new, g_new, gtd_new)
        return w._replace(low=jnp.where(w.bracket_f[0] <= w.bracket_f[1], 0, 1).astype(jnp.int32))

    def lower(w):
        done = _curvature_holds(w, gtd_new)
        flip = ~done & (gtd_new * _p(w.bracket[high] - w.bracket[low], gtd_new) >= 0)
        w = _cond(
            flip,
            lambda w: set_at(w, high, w.bracket[low], w.bracket_f[low], w.bracket_g[low], w.bracket_gtd[low]),
            lambda w: w,
            w,
        )
        return set_at(w, low, t, f_new, g_new, gtd_new)._replace(done=done)

    return _cond(_armijo_fails(w, f_new) | (f_new >= w.bracket_f[low]), not_lower, lower, w)


# --- the transformation -----------------------------------------------------------------------


def lbfgs(
    lr=1,
    max_iter=20,
    max_eval=None,
    tolerance_grad=1e-7,
    tolerance_change=1e-9,
    history_size=100,
    line_search_fn=None,
) -> optax.GradientTransformationExtraArgs:
    """L-BFGS as torch's: one ``update`` is one ``step(closure)`` (see the module docstring).

    ``update(grads, state, params, *, value_fn, value=None, grad=None, **extra_args)``:
    ``value_fn(params, **extra_args)`` is the loss, ``grads`` (or ``grad``) and ``value`` its
    gradient and value at ``params``. ``lr``, ``max_iter``, ``max_eval``, ``tolerance_grad`` and
    ``tolerance_change`` are hyperparameters held in the state (numbers, arrays or schedules of
    the update count); ``history_size`` and ``line_search_fn`` shape the program.
    """
    check_args(lr)
    if max_eval is None:
        max_eval = (lambda n: max_iter(n) * 5 // 4) if callable(max_iter) else max_iter * 5 // 4
    hyperparams = LBFGSHyperparams(lr, max_iter, max_eval, tolerance_grad, tolerance_change)
    history_size = int(history_size)

    def init(params):
        x = flatten(params)
        zero = jnp.zeros((), jnp.int32)
        return base.OptState(zero, base._hyper_values(hyperparams, zero), init_buffers(x.shape[0], x.dtype, history_size))

    def update(updates, state, params=None, *, value_fn=None, value=None, grad=None, **extra_args):
        if params is None or value_fn is None:
            raise ValueError("jopt.lbfgs needs update(grads, state, params, value_fn=loss_fn): it evaluates the loss.")
        if line_search_fn is not None and line_search_fn != "strong_wolfe":
            raise RuntimeError("only 'strong_wolfe' is supported")
        h = jax.tree.map(
            lambda spec, held: base._as_hyper_value(spec(state.count) if callable(spec) else held),
            hyperparams,
            state.hyperparams,
        )
        if value is None:
            value = value_fn(params, **extra_args)
        x0 = flatten(params)
        value_and_grad = jax.value_and_grad(lambda x: value_fn(unflatten(x, params), **extra_args))
        step = lambda c, f, g: advance(h, c, f, g, line_search=line_search_fn is not None)

        carry = step(start(state.buffers, x0), value, flatten(updates if grad is None else grad))
        carry = lax.while_loop(lambda c: c.phase != DONE, lambda c: step(c, *value_and_grad(c.x_eval)), carry)
        new_params = unflatten(carry.x, params)
        updates = jax.tree.map(lambda new, old: new - old, new_params, params)
        return updates, base.OptState(optax.safe_int32_increment(state.count), h, carry.buffers)

    return optax.GradientTransformationExtraArgs(init, update)
