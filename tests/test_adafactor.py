"""Adafactor beyond the harness: every rank (scalar, (m, 1), (1, n), 3-d), a schedule inside the
``eps`` tuple next to ``None``, torch's eps1 default from the first parameter's dtype, complex refused."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import jopt
import jopt.optim
from parity import assert_close, x64


def _run(params0, tx, make_torch, grads, set_torch_group=None, jit=True):
    params = [jnp.asarray(p) for p in params0]
    state = tx.init(params)
    t_params = [torch.tensor(p, requires_grad=True) for p in params0]
    t_opt = make_torch(t_params)
    update = jax.jit(tx.update) if jit else tx.update
    for step, g in enumerate(grads):
        if set_torch_group is not None:
            set_torch_group(t_opt.param_groups[0], step)
        updates, state = update([jnp.asarray(x) for x in g], state, params)
        params = jopt.apply_updates(params, updates)
        for t, x in zip(t_params, g):
            t.grad = torch.tensor(x)
        t_opt.step()
    return params, [t.detach().numpy() for t in t_params], state


def test_every_rank_and_an_eps_schedule_match_torch(dtype=np.float64):
    # float64 only: the strictest tolerance; the harness sweeps float32 on matrices and vectors.
    rng = np.random.default_rng(0)
    shapes = [(), (5, 1), (1, 5), (2, 3, 4), (4,)]
    params0 = [rng.standard_normal(s).astype(dtype) for s in shapes]
    grads = [[rng.standard_normal(s).astype(dtype) for s in shapes] for _ in range(30)]
    eps2 = lambda count: 1e-3 * (1 + 100 * count)  # eps2 overtakes the params' RMS after a few steps

    def set_group(group, step):
        group["eps"] = (None, 1e-3 * (1 + 100 * step))

    with x64(dtype):
        tx = jopt.adafactor(lr=0.1, eps=(None, eps2), weight_decay=0.1)
        make = lambda p: torch.optim.Adafactor(p, lr=0.1, weight_decay=0.1, foreach=False)
        params, t_params, state = _run(params0, tx, make, grads, set_group)
        for a, t in zip(params, t_params):
            assert_close(a, t, dtype)
        assert state.buffers.row_var[1].shape == (5, 1) and state.buffers.col_var[1].shape == (1, 1)
        assert state.buffers.variance[1] is None and state.buffers.row_var[0] is None


def test_eps1_default_is_the_first_parameters_machine_epsilon_like_torch():
    # torch sets eps1 = finfo(dtype).eps from the first parameter and keeps it for the group: with
    # tiny gradients the variance clamp at eps1**2 shows which epsilon was used.
    rng = np.random.default_rng(1)
    with x64(np.float64):
        for dtypes in [(np.float32, np.float64), (np.float64, np.float32)]:
            params0 = [rng.standard_normal(3).astype(d) for d in dtypes]
            grads = [[(rng.standard_normal(3) * 1e-9).astype(d) for d in dtypes] for _ in range(5)]
            make = lambda p: torch.optim.Adafactor(p, foreach=False)
            params, t_params, _ = _run(params0, jopt.adafactor(), make, grads)
            for a, t in zip(params, t_params):
                assert a.dtype == t.dtype
                assert_close(a, t, np.float32)


def test_complex_parameters_are_refused_like_torch():
    tp = torch.zeros(2, dtype=torch.complex64, requires_grad=True)
    tp.grad = torch.ones_like(tp)
    with pytest.raises(RuntimeError) as torch_error:
        torch.optim.Adafactor([tp]).step()
    p = jopt.optim.Parameter(jnp.zeros(2, jnp.complex64))
    p.grad = jnp.ones_like(p.data)
    with pytest.raises(RuntimeError) as jopt_error:
        jopt.optim.Adafactor([p]).step()
    assert str(jopt_error.value) == str(torch_error.value)
