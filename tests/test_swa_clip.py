"""jopt.optim.swa_utils and gradient clipping against torch on random inputs."""

from __future__ import annotations

import copy
import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from torch.optim import swa_utils as TS

import jopt.optim
from jopt.optim import swa_utils as JS

SHAPES = [(3, 4), (5,), ()]
TOL = {np.float32: 1e-6, np.float64: 1e-12}


def random_arrays(rng, dtype):
    return [rng.standard_normal(s).astype(dtype) for s in SHAPES]


AVERAGING = {
    "swa_default": ({}, {}),
    "ema_multi": (dict(multi_avg_fn=TS.get_ema_multi_avg_fn(0.9)), dict(multi_avg_fn=JS.get_ema_multi_avg_fn(0.9))),
    "swa_multi": (dict(multi_avg_fn=TS.get_swa_multi_avg_fn()), dict(multi_avg_fn=JS.get_swa_multi_avg_fn())),
    "ema_avg_fn": (dict(avg_fn=TS.get_ema_avg_fn(0.7)), dict(avg_fn=JS.get_ema_avg_fn(0.7))),
    "swa_avg_fn": (dict(avg_fn=TS.get_swa_avg_fn()), dict(avg_fn=JS.get_swa_avg_fn())),
}


@pytest.mark.parametrize("form", ["parameters", "pytree"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("how", list(AVERAGING))
def test_averaged_model_matches_torch(how, dtype, form):
    t_kwargs, j_kwargs = AVERAGING[how]
    rng = np.random.default_rng(0)
    init = random_arrays(rng, dtype)
    t_model = torch.nn.ParameterList([torch.nn.Parameter(torch.from_numpy(a.copy())) for a in init])
    t_avg = TS.AveragedModel(t_model, **t_kwargs)
    with jax.enable_x64(dtype == np.float64):
        if form == "parameters":
            j_model = [jopt.optim.Parameter(a) for a in init]
        else:
            j_model = {"w": init[0], "b": (init[1], init[2])}
        j_avg = JS.AveragedModel(j_model, **j_kwargs)
        for _ in range(7):
            values = random_arrays(rng, dtype)
            with torch.no_grad():
                for p, v in zip(t_model, values):
                    p.copy_(torch.from_numpy(v))
            if form == "parameters":
                for p, v in zip(j_model, values):
                    p.data = jnp.asarray(v)
            else:
                j_model = {"w": values[0], "b": (values[1], values[2])}
            t_avg.update_parameters(t_model)
            j_avg.update_parameters(j_model)
            averaged = [np.asarray(p) for p in j_avg.parameters()]
            if form == "pytree":  # leaves in tree order: b0, b1, w
                averaged = [averaged[2], averaged[0], averaged[1]]
                assert jax.tree.structure(j_avg.module) == jax.tree.structure(j_model)
            else:
                assert all(isinstance(p, jopt.optim.Parameter) for p in j_avg.module)
                assert all(a is not b for a, b in zip(j_avg.module, j_model))
            for a, t in zip(averaged, t_avg.module):
                assert a.dtype == dtype
                np.testing.assert_allclose(a, t.detach().numpy(), rtol=TOL[dtype], atol=TOL[dtype] * 1e-2)
            assert int(j_avg.n_averaged) == int(t_avg.n_averaged)
    assert int(j_avg.n_averaged) == 7


def test_averaging_functions_get_torchs_count():
    seen = {"torch": [], "jopt": []}

    def recorder(name):
        def avg_fn(averaged, current, num_averaged):
            seen[name].append(int(num_averaged))
            return averaged + (current - averaged) / (num_averaged + 1)
        return avg_fn

    t_model = torch.nn.ParameterList([torch.nn.Parameter(torch.zeros(2))])
    t_avg = TS.AveragedModel(t_model, avg_fn=recorder("torch"))
    j_avg = JS.AveragedModel([jopt.optim.Parameter(jnp.zeros(2))], avg_fn=recorder("jopt"))
    for k in range(5):
        with torch.no_grad():
            t_model[0].fill_(float(k))
        t_avg.update_parameters(t_model)
        j_avg.update_parameters([jopt.optim.Parameter(jnp.full(2, float(k)))])
    assert seen["jopt"] == seen["torch"] == [1, 2, 3, 4]
    np.testing.assert_allclose(np.asarray(j_avg.module[0].data), t_avg.module[0].detach().numpy())
    assert int(j_avg.n_averaged) == int(t_avg.n_averaged) == 5
    j_avg.n_averaged = jnp.asarray(0)  # the next update copies the model, as torch's after a reset
    j_avg.update_parameters([jopt.optim.Parameter(jnp.full(2, 7.0))])
    np.testing.assert_array_equal(np.asarray(j_avg.module[0].data), [7.0, 7.0])


def test_averaged_model_argument_checks():
    with pytest.raises(AssertionError):
        JS.AveragedModel([jnp.ones(2)], multi_avg_fn=JS.get_swa_multi_avg_fn(), avg_fn=JS.get_swa_avg_fn())
    for fn in (JS.get_ema_multi_avg_fn, JS.get_ema_avg_fn, TS.get_ema_multi_avg_fn):
        with pytest.raises(ValueError, match="Invalid decay"):
            fn(1.5)
    avg = JS.AveragedModel({"a": jnp.ones(2)})
    with pytest.raises(ValueError):
        avg.update_parameters({"b": jnp.ones(2)})


SWALR_CASES = [
    dict(swa_lr=0.05),
    dict(swa_lr=[0.01, 0.2], anneal_epochs=3, anneal_strategy="linear"),
    dict(swa_lr=0.02, anneal_epochs=0),
    dict(swa_lr=0.5, anneal_epochs=1, anneal_strategy="cos"),
]


@pytest.mark.parametrize("kwargs", SWALR_CASES)
def test_swalr_matches_torch(kwargs):
    groups = [dict(lr=0.1, momentum=0.9), dict(lr=0.3)]
    t_opt = torch.optim.SGD([dict(g, params=[torch.zeros(1, requires_grad=True)]) for g in groups])
    j_opt = jopt.optim.SGD([dict(g, params=[jopt.optim.Parameter(jnp.zeros(1))]) for g in groups])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_s, j_s = TS.SWALR(t_opt, **kwargs), JS.SWALR(j_opt, **kwargs)
        assert j_s.get_last_lr() == t_s.get_last_lr()
        for k in range(30):
            t_s.step()
            j_s.step()
            assert j_s.get_last_lr() == t_s.get_last_lr(), k
            if k == 4:  # resume from torch's state_dict
                sd = copy.deepcopy(t_s.state_dict())
                assert set(sd) == set(j_s.state_dict())
                j_s = JS.SWALR(j_opt, **kwargs)
                for g, tg in zip(j_opt.param_groups, t_opt.param_groups):
                    g["lr"] = tg["lr"]
                j_s.load_state_dict(sd)
        assert [g["lr"] for g in j_opt.param_groups] == [g["lr"] for g in t_opt.param_groups]
    with pytest.raises(ValueError, match="anneal_strategy"):
        JS.SWALR(j_opt, 0.1, anneal_strategy="exp")
    with pytest.raises(ValueError, match="anneal_epochs"):
        JS.SWALR(j_opt, 0.1, anneal_epochs=-1)


def test_update_bn_matches_torch_batchnorm():
    rng = np.random.default_rng(1)
    batches = [(rng.standard_normal((8, 3)) * 2 + 1, rng.standard_normal(8)) for _ in range(5)]
    bn = torch.nn.BatchNorm1d(3).double()
    bn.running_mean.fill_(7.0)  # stale statistics, reset by update_bn
    TS.update_bn([(torch.from_numpy(x), torch.from_numpy(y)) for x, y in batches], bn)

    def batch_stats(x):
        return {"mean": x.mean(0), "var": x.var(0, ddof=1)}

    with jax.enable_x64(True):
        stats = JS.update_bn([(jnp.asarray(x), jnp.asarray(y)) for x, y in batches], batch_stats)
        np.testing.assert_allclose(stats["mean"], bn.running_mean.numpy(), rtol=1e-12)
        np.testing.assert_allclose(stats["var"], bn.running_var.numpy(), rtol=1e-12)
    assert JS.update_bn([], batch_stats) is None


# --- clipping ------------------------------------------------------------------------------------


def grads_pair(rng, dtype, scale=1.0, none_at=1):
    """torch params and jopt Parameters with the same random grads; one of them without grad."""
    t_params, j_params = [], []
    for i, shape in enumerate(SHAPES + [(2, 2, 2)]):
        t = torch.zeros(shape, dtype=torch.float64 if dtype == np.float64 else torch.float32, requires_grad=True)
        j = jopt.optim.Parameter(jnp.zeros(shape, dtype=dtype))
        if i != none_at:
            g = np.asarray(rng.standard_normal(shape) * scale, dtype=dtype)
            t.grad = torch.from_numpy(g.copy())
            j.grad = jnp.asarray(g)
        t_params.append(t)
        j_params.append(j)
    return t_params, j_params


def assert_grads_equal(t_params, j_params, rtol):
    for t, j in zip(t_params, j_params):
        if t.grad is None:
            assert j.grad is None
        else:
            assert j.grad.dtype == np.dtype(str(t.grad.dtype).removeprefix("torch."))
            np.testing.assert_allclose(np.asarray(j.grad), t.grad.numpy(), rtol=rtol, atol=rtol * 1e-3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("norm_type", [2.0, 1, 0.5, 3.0, math.inf, "inf"])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_matches_torch(dtype, norm_type, max_norm):
    rng = np.random.default_rng(2)
    with jax.enable_x64(dtype == np.float64):
        t_params, j_params = grads_pair(rng, dtype)
        t_norm = torch.nn.utils.clip_grad_norm_(t_params, max_norm, norm_type=norm_type)
        j_norm = jopt.optim.clip_grad_norm_(iter(j_params), max_norm, norm_type=norm_type)
        np.testing.assert_allclose(float(j_norm), float(t_norm), rtol=TOL[dtype])
        assert_grads_equal(t_params, j_params, TOL[dtype])
    if max_norm == 0.5:  # clipped: the new norm is max_norm (up to the 1e-6 guard)
        t_after = torch.nn.utils.get_total_norm([p.grad for p in t_params if p.grad is not None], norm_type)
        assert float(t_after) < 0.5


def test_clip_grad_norm_single_parameter_and_empty():
    rng = np.random.default_rng(3)
    t_params, j_params = grads_pair(rng, np.float32, none_at=-1)
    t_norm = torch.nn.utils.clip_grad_norm_(t_params[0], 0.1)
    j_norm = jopt.optim.clip_grad_norm_(j_params[0], 0.1)
    np.testing.assert_allclose(float(j_norm), float(t_norm), rtol=1e-6)
    assert_grads_equal(t_params[:1], j_params[:1], 1e-6)
    assert float(jopt.optim.clip_grad_norm_([], 1.0)) == float(torch.nn.utils.clip_grad_norm_([], 1.0)) == 0.0
    with pytest.warns(UserWarning, match="empty generator"):
        jopt.optim.clip_grad_norm_((p for p in []), 1.0)


def test_clip_grad_norm_nonfinite():
    for bad in (math.nan, math.inf):
        rng = np.random.default_rng(4)
        t_params, j_params = grads_pair(rng, np.float32, none_at=-1)
        t_params[0].grad[0, 0] = bad
        j_params[0].grad = j_params[0].grad.at[0, 0].set(bad)
        with pytest.raises(RuntimeError, match="non-finite"):
            torch.nn.utils.clip_grad_norm_(t_params, 1.0, error_if_nonfinite=True)
        with pytest.raises(RuntimeError, match="non-finite"):
            jopt.optim.clip_grad_norm_(j_params, 1.0, error_if_nonfinite=True)
        t_norm = torch.nn.utils.clip_grad_norm_(t_params, 1.0)
        j_norm = jopt.optim.clip_grad_norm_(j_params, 1.0)
        assert math.isnan(float(j_norm)) == math.isnan(float(t_norm))
        assert float(j_norm) == float(t_norm) or math.isnan(float(t_norm))
        for t, j in zip(t_params, j_params):
            np.testing.assert_array_equal(np.isnan(np.asarray(j.grad)), np.isnan(t.grad.numpy()))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("clip_value", [0.3, 2.0])
def test_clip_grad_value_matches_torch(dtype, clip_value):
    rng = np.random.default_rng(5)
    with jax.enable_x64(dtype == np.float64):
        t_params, j_params = grads_pair(rng, dtype, scale=2.0)
        torch.nn.utils.clip_grad_value_(t_params, clip_value)
        assert jopt.optim.clip_grad_value_(j_params, clip_value) is None
        assert_grads_equal(t_params, j_params, 0)  # clamping is exact
    assert max(np.abs(np.asarray(p.grad)).max() for p in j_params if p.grad is not None) <= dtype(clip_value)
