"""The functional core beyond the option sweep: schedules, hyperparameters in state, dtypes,
jax transformations, and a self-test showing the harness catches a formula change."""


import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

import jopt
import jopt.optim
from jopt.core import adam as adam_module
from jopt.core import base
from parity import assert_close, run_functional
from specs import BY_NAME


def test_harness_catches_eps_inside_the_sqrt():
    """A mutant Adam with eps inside the square root must fail parity (at float32 tolerance)."""

    def mutant_adam(lr):
        def init(param):
            z = jnp.zeros_like(param)
            return adam_module.AdamBuffers(z, z, None)

        def rule(h, count, param, grad, b):
            beta1, beta2 = h.betas
            exp_avg = base.lerp(b.exp_avg, grad, 1 - beta1)
            exp_avg_sq = b.exp_avg_sq * beta2 + (1 - beta2) * grad * grad
            t = base.torch_step(count)
            denom = jnp.sqrt(exp_avg_sq / (1 - beta2**t) + h.eps)  # the mutation
            update = (-h.lr / (1 - beta1**t)) * exp_avg / denom
            return update.astype(param.dtype), adam_module.AdamBuffers(exp_avg, exp_avg_sq, None)

        return base.transformation(adam_module.AdamHyperparams(lr, (0.9, 0.999), 1e-8, 0.0), init, rule)

    spec = BY_NAME["adam"]
    run_functional(spec, dict(lr=0.01), np.float32, jit=True)  # the real one passes
    with pytest.raises(AssertionError):
        run_functional(spec, dict(lr=0.01), np.float32, jit=True, transformation=mutant_adam(0.01))


@pytest.mark.parametrize("name, config", [
    ("sgd", dict(momentum=0.9, nesterov=True)),
    ("adam", dict(amsgrad=True, weight_decay=0.1)),
    ("rmsprop", dict(momentum=0.5, centered=True)),
])
def test_schedule_as_hyperparameter_matches_torch_scheduler(name, config):
    spec = BY_NAME[name]
    rng = np.random.default_rng(0)
    with jax.enable_x64(True):
        x = rng.standard_normal((3, 4))
        tx = spec.functional(lr=jopt.schedules.step_lr(0.05, step_size=7, gamma=0.5), **config)
        params = {"x": jnp.asarray(x)}
        state = tx.init(params)
        t_param = torch.tensor(x, requires_grad=True)
        t_opt = spec.torch_cls([t_param], lr=0.05, foreach=False, **config)
        t_sched = torch.optim.lr_scheduler.StepLR(t_opt, step_size=7, gamma=0.5)
        update = jax.jit(tx.update)
        for _ in range(40):
            g = rng.standard_normal((3, 4))
            updates, state = update({"x": jnp.asarray(g)}, state, params)
            params = jopt.apply_updates(params, updates)
            t_param.grad = torch.tensor(g)
            t_opt.step()
            t_sched.step()
            np.testing.assert_allclose(params["x"], t_param.detach().numpy(), rtol=1e-10, atol=1e-12)
        assert update._cache_size() == 1


def test_hyperparameters_in_state_change_without_retrace():
    """Edits to ``state.hyperparams`` act on the next update like torch's ``group['lr'] = ...``."""
    rng = np.random.default_rng(1)
    with jax.enable_x64(True):
        x = rng.standard_normal(5)
        tx = jopt.adam(lr=0.01, betas=(0.9, 0.99))
        params, state = jnp.asarray(x), None
        state = tx.init(params)
        t_param = torch.tensor(x, requires_grad=True)
        t_opt = torch.optim.Adam([t_param], lr=0.01, betas=(0.9, 0.99), foreach=False)
        update = jax.jit(tx.update)
        for step in range(30):
            lr, beta1 = 0.01 * (1 + step % 3), 0.9 - 0.01 * step
            state = jopt.set_hyperparams(state, lr=lr, betas=(beta1, 0.99))
            t_opt.param_groups[0].update(lr=lr, betas=(beta1, 0.99))
            g = rng.standard_normal(5)
            updates, state = update(jnp.asarray(g), state, params)
            params = params + updates
            t_param.grad = torch.tensor(g)
            t_opt.step()
        np.testing.assert_allclose(params, t_param.detach().numpy(), rtol=1e-10)
        assert update._cache_size() == 1
        assert float(state.hyperparams.lr) == lr


COMPLEX_CONFIGS = {
    "sgd": dict(lr=0.05, momentum=0.9, weight_decay=0.1),
    "adam": dict(lr=0.01, amsgrad=True, weight_decay=0.1),
    "rmsprop": dict(lr=0.01, centered=True, momentum=0.5),
    "adagrad": dict(lr=0.05, initial_accumulator_value=0.1),
    "adadelta": dict(lr=0.5, weight_decay=0.1),
    "adamax": dict(lr=0.01),
    "nadam": dict(lr=0.01, weight_decay=0.1),
    "radam": dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True),
}


@pytest.mark.parametrize("name", list(COMPLEX_CONFIGS))
@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_complex_leaves_match_torch(name, dtype):
    run_functional(BY_NAME[name], COMPLEX_CONFIGS[name], dtype, jit=True, steps=50)


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
@pytest.mark.parametrize("name", ["sgd", "adam", "rmsprop"])
def test_half_precision_keeps_dtypes_and_tracks_torch(name, dtype):
    """torch rounds to the half dtype after every operation; jopt computes the step in float32
    and rounds once, so they agree to a few half-precision ulps, not bit for bit."""
    spec = BY_NAME[name]
    config = dict(lr=0.01, momentum=0.9) if name == "sgd" else dict(lr=0.01)
    rng = np.random.default_rng(2)
    torch_dtype = {jnp.bfloat16: torch.bfloat16, jnp.float16: torch.float16}[dtype]
    x = rng.standard_normal((8, 8)).astype(np.float32)
    tx = spec.functional(**config)
    params = jnp.asarray(x, dtype)
    state = tx.init(params)
    t_param = torch.tensor(x, dtype=torch_dtype, requires_grad=True)
    t_opt = spec.torch_cls([t_param], foreach=False, **config)
    for _ in range(10):
        g = rng.standard_normal((8, 8)).astype(np.float32)
        updates, state = jax.jit(tx.update)(jnp.asarray(g, dtype), state, params)
        assert updates.dtype == dtype
        params = jopt.apply_updates(params, updates)
        t_param.grad = torch.tensor(g, dtype=torch_dtype)
        t_opt.step()
    assert params.dtype == dtype
    for buffer in jax.tree.leaves(state.buffers):
        if buffer.ndim:
            assert buffer.dtype == dtype  # torch keeps buffers in the parameter's dtype
    ulp = float(jnp.finfo(dtype).eps)
    np.testing.assert_allclose(
        np.asarray(params, np.float32), t_param.detach().float().numpy(), rtol=4 * ulp, atol=4 * ulp
    )


@pytest.mark.parametrize(
    "name, config", [("nadam", dict(lr=0.05, momentum_decay=0.1)), ("asgd", dict(lr=0.05, t0=10.0))]
)
def test_per_tensor_scalars_of_0d_float64_params_are_float32_like_torch(name, config):
    """NAdam's ``mu_product``, ASGD's ``eta``/``mu`` are float32 in torch whatever the parameter;
    for a 0-d parameter they are shaped like it, so only their role tells them apart."""
    spec = BY_NAME[name]
    rng = np.random.default_rng(0)
    values = [np.float64(0.7), rng.standard_normal(3)]
    scalar_keys = {"nadam": ["mu_product"], "asgd": ["eta", "mu"]}[name]
    with jax.enable_x64(True):
        tx = spec.functional(**config)
        params = [jnp.asarray(v) for v in values]
        state = tx.init(params)
        j_params = [jopt.optim.Parameter(v) for v in values]
        j_opt = spec.optim_cls(j_params, **config)
        t_params = [torch.tensor(v, requires_grad=True) for v in values]
        t_opt = spec.torch_cls(t_params, foreach=False, **config)
        for _ in range(60):  # NAdam's mu_product stays a normal float32 (XLA:CPU flushes subnormals)
            grads = [rng.standard_normal(np.shape(v)) for v in values]
            updates, state = jax.jit(tx.update)([jnp.asarray(g) for g in grads], state, params)
            params = jopt.apply_updates(params, updates)
            for j, t, g in zip(j_params, t_params, grads):
                j.grad, t.grad = jnp.asarray(g), torch.tensor(g)
            j_opt.step()
            t_opt.step()
        t_state = t_opt.state_dict()["state"]
        for i, t in enumerate(t_params):
            for key in scalar_keys:
                expected = t_state[i][key].numpy()
                assert expected.dtype == np.float32
                for held in (getattr(state.buffers, key)[i], j_opt.state_dict()["state"][i][key]):
                    assert np.asarray(held).dtype == np.float32
                    np.testing.assert_array_equal(held, expected)
            assert_close(params[i], t.detach().numpy(), np.float64)
            assert_close(j_params[i].data, t.detach().numpy(), np.float64)


def test_a_jitted_update_traces_the_rule_once_per_shape_and_dtype(monkeypatch):
    """Under jit the per-tensor rule is traced once per kind of leaf, not once per leaf (W3's
    192 tensors have 6 shapes); called eagerly it runs for every leaf. Either way each leaf gets
    its own update, checked against torch's SGD with momentum."""
    traced = []
    transformation = base.transformation

    def counting(hyperparams, init_buffers, rule, **kwargs):
        def counted(hyper, count, param, *rest):
            traced.append(param.shape)
            return rule(hyper, count, param, *rest)

        return transformation(hyperparams, init_buffers, counted, **kwargs)

    monkeypatch.setattr(base, "transformation", counting)
    rng = np.random.default_rng(5)
    shapes = [(4, 3)] * 5 + [(3,)] * 4 + [(2, 2)]
    values = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    grads = [[rng.standard_normal(s).astype(np.float32) for s in shapes] for _ in range(3)]
    results = {}
    for mode in ("jit", "eager"):
        tx = jopt.sgd(lr=0.1, momentum=0.9)
        update = jax.jit(tx.update) if mode == "jit" else tx.update
        params = [jnp.asarray(v) for v in values]
        state = tx.init(params)
        traced.clear()
        for g in grads:
            updates, state = update([jnp.asarray(x) for x in g], state, params)
            params = jopt.apply_updates(params, updates)
        results[mode] = params, list(traced)
    assert sorted(results["jit"][1]) == [(2, 2), (3,), (4, 3)]
    assert len(results["eager"][1]) == len(shapes) * len(grads)
    t_params = [torch.tensor(v, requires_grad=True) for v in values]
    t_opt = torch.optim.SGD(t_params, lr=0.1, momentum=0.9, foreach=False)
    for g in grads:
        for p, x in zip(t_params, g):
            p.grad = torch.tensor(x)
        t_opt.step()
    for mode, (params, _) in results.items():
        for p, t in zip(params, t_params):
            np.testing.assert_allclose(p, t.detach().numpy(), rtol=1e-6, err_msg=mode)


def test_vmap_over_independent_problems():
    tx = jopt.adam(lr=0.1)
    params = jnp.arange(12.0).reshape(3, 4)
    grads = jnp.ones((3, 4)) * jnp.arange(1.0, 4.0)[:, None]
    states = jax.vmap(tx.init)(params)
    updates, states = jax.vmap(tx.update)(grads, states, params)
    for i in range(3):
        u, _ = tx.update(grads[i], tx.init(params[i]), params[i])
        np.testing.assert_allclose(updates[i], u, rtol=1e-6)
    assert states.count.shape == (3,)


def test_grad_through_an_update():
    """d(loss after one SGD step)/d(lr), against the analytic value."""

    def loss_after_step(lr, w, g):
        tx = jopt.sgd(lr=lr, momentum=0.9)
        updates, _ = tx.update(g, tx.init(w), w)
        return jnp.sum(jopt.apply_updates(w, updates) ** 2)

    w, g = jnp.array([1.0, -2.0]), jnp.array([0.5, 0.25])
    d = jax.grad(loss_after_step)(0.1, w, g)
    np.testing.assert_allclose(d, jnp.sum(2 * (w - 0.1 * g) * -g), rtol=1e-6)
    assert jnp.isfinite(jax.grad(lambda lr: loss_after_step(lr, w, g))(0.1))


def test_composes_with_optax_chain_and_multisteps():
    rng = np.random.default_rng(3)
    x, gs = rng.standard_normal(6), rng.standard_normal((4, 6))
    with jax.enable_x64(True):
        tx = optax.MultiSteps(optax.chain(optax.clip_by_global_norm(1.0), jopt.sgd(lr=0.1, momentum=0.9)), 2)
        params = jnp.asarray(x)
        state = tx.init(params)
        for g in gs:
            updates, state = tx.update(jnp.asarray(g), state, params)
            params = optax.apply_updates(params, updates)
        t = torch.tensor(x, requires_grad=True)
        t_opt = torch.optim.SGD([t], lr=0.1, momentum=0.9, foreach=False)
        for pair in gs.reshape(2, 2, 6):
            t.grad = torch.tensor(pair.mean(0))
            torch.nn.utils.clip_grad_norm_([t], 1.0)
            t_opt.step()
        np.testing.assert_allclose(params, t.detach().numpy(), rtol=1e-6)


def test_update_without_params_is_a_clear_error():
    tx = jopt.adam()
    with pytest.raises(ValueError, match="need `params`"):
        tx.update(jnp.ones(2), tx.init(jnp.ones(2)))


def test_invalid_functional_hyperparameters():
    with pytest.raises(ValueError, match="Invalid learning rate"):
        jopt.adam(lr=-1.0)
    with pytest.raises(ValueError, match="Nesterov"):
        jopt.sgd(nesterov=True)
    jopt.sgd(lr=jopt.schedules.step_lr(0.1, 3))  # schedules are not checked ahead of time
