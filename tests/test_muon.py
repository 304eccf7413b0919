"""jopt.muon / jopt.optim.Muon vs torch.optim.Muon.

Muon orthogonalises its update with a Newton-Schulz iteration in bfloat16. Each matrix product
accumulates in float32 and is rounded to bfloat16; torch's CPU BLAS and XLA sum the inner
dimension in different orders, so an accumulated value that lies within float32 rounding of a
bfloat16 rounding boundary may round the other way, and the Newton-Schulz polynomial carries that
one-ulp difference on to later iterations. The tolerance follows from that:

* ``NS_TOL``: per entry of the orthogonalised matrix :math:`O` (whose entries are below ~1.2),
  8 bfloat16 ulps at [0.5, 1) = 2**-5. Measured over 1,800 random matrices (shapes (4,3) to
  (64,16), scales 1e-3 to 1e2): jopt vs torch differ by at most 3 * 2**-8, and torch vs torch
  with each product's inner dimension summed in a permuted order (the same algorithm, only the
  summation order changed) by at most 2.25 * 2**-8 with the same distribution;
  ``test_newton_schulz_matches_torch`` re-measures both. Most matrices come out bit-identical
  (jopt 87-100% per shape, the permuted torch 90-100%); a systematic deviation such as one
  extra bfloat16 rounding of ``c * A @ A`` makes none identical, which ``EXACT_FRACTION`` catches.
* Trajectories: gradients are drawn independently of the parameters, so the momentum buffers
  see identical inputs and must match torch at the dtype's usual tolerance (1e-5 / 1e-10), and
  the parameters differ by at most the sum of the per-step differences of
  :math:`\\gamma_{adj} O_t` (weight decay only shrinks an earlier difference):
  ``steps * adjusted_lr * NS_TOL``, plus the usual relative tolerance.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from torch.optim._muon import _zeropower_via_newtonschulz as torch_newton_schulz

import jopt
import jopt.optim
from jopt.core.muon import adjust_lr_ratio, zeropower_via_newtonschulz
from parity import tolerance, x64

NS_TOL = 2.0**-5
EXACT_FRACTION = 0.75
SHAPES = {"w": (12, 5), "v": (5, 8)}  # a tall matrix (transposed inside Newton-Schulz) and a wide one
COEFFS = (3.4445, -4.7750, 2.0315)


def _permuted_torch_newton_schulz(grad, coefficients, steps, eps, rng):
    """torch's Newton-Schulz with every product's inner dimension summed in a random order."""
    a, b, c = coefficients
    x = grad.bfloat16()
    if grad.size(0) > grad.size(1):
        x = x.T
    x = x / x.norm().clamp(min=eps)
    for _ in range(steps):
        p = torch.from_numpy(rng.permutation(x.shape[1]))
        gram = x[:, p] @ x[:, p].T
        q = torch.from_numpy(rng.permutation(gram.shape[0]))
        gram_update = torch.addmm(gram, gram[:, q], gram[q, :], beta=b, alpha=c)
        x = torch.addmm(x, gram_update[:, q], x[q, :], beta=a)
    return x.T if grad.size(0) > grad.size(1) else x


def test_newton_schulz_matches_torch():
    rng = np.random.default_rng(0)
    ns = jax.jit(zeropower_via_newtonschulz, static_argnums=2)
    cases = [
        ((4, 3), COEFFS, 5, np.float32),
        ((16, 8), COEFFS, 5, np.float64),
        ((32, 32), COEFFS, 5, np.float32),
        ((8, 24), (3.0, -3.2, 1.2), 3, np.float32),
    ]
    exact = total = 0
    worst_jopt = worst_perm = 0.0
    for shape, coefficients, steps, dtype in cases:
        for _ in range(10):
            g = (rng.standard_normal(shape) * 10 ** rng.uniform(-3, 2)).astype(dtype)
            with x64(dtype):
                ours = np.asarray(ns(jnp.asarray(g), coefficients, steps, 1e-7).astype(jnp.float32))
            theirs = torch_newton_schulz(torch.tensor(g), coefficients, steps, 1e-7).float().numpy()
            perm = _permuted_torch_newton_schulz(torch.tensor(g), coefficients, steps, 1e-7, rng).float().numpy()
            exact += bool((ours == theirs).all())
            total += 1
            worst_jopt = max(worst_jopt, np.abs(ours - theirs).max())
            worst_perm = max(worst_perm, np.abs(perm - theirs).max())
    assert worst_perm <= NS_TOL  # the bound covers torch against itself, reordered
    assert worst_jopt <= NS_TOL, worst_jopt
    assert exact / total >= EXACT_FRACTION, (exact, total)
    # A zero matrix: the norm is clamped at eps, the result is zero, as torch's.
    zero = zeropower_via_newtonschulz(jnp.zeros((3, 4)), COEFFS, 5, 1e-7)
    assert zero.dtype == jnp.bfloat16 and not np.asarray(zero.astype(jnp.float32)).any()


CONFIGS = [
    dict(lr=0.02),
    dict(lr=0.02, nesterov=False, weight_decay=0.0),
    dict(lr=0.02, momentum=0.0, adjust_lr_fn="original"),
    dict(lr=0.01, adjust_lr_fn="match_rms_adamw", weight_decay=0.3),
    dict(lr=0.02, ns_coefficients=(3.0, -3.2, 1.2), ns_steps=3, eps=1e-3, momentum=0.6),
]


def _param_atol(config, shape, steps, dtype):
    lr = config["lr"] * adjust_lr_ratio(config.get("adjust_lr_fn"), shape)
    return steps * lr * NS_TOL + tolerance(dtype)


# Every configuration in one dtype, alternating (each case costs a compilation of seconds).
TRAJECTORIES = [(c, (np.float32, np.float64)[i % 2]) for i, c in enumerate(CONFIGS)]


@pytest.mark.parametrize(
    "config, dtype", TRAJECTORIES, ids=[f"{i}-{np.dtype(d).name}" for i, (_, d) in enumerate(TRAJECTORIES)]
)
def test_trajectory_matches_torch(config, dtype, steps=40):
    rng = np.random.default_rng(0)
    with x64(dtype):
        params0 = {k: rng.standard_normal(s).astype(dtype) for k, s in SHAPES.items()}
        tx = jopt.muon(**config)
        params = jax.tree.map(jnp.asarray, params0)
        state = tx.init(params)
        t_params = [torch.tensor(x, requires_grad=True) for x in jax.tree.leaves(params0)]
        t_opt = torch.optim.Muon(t_params, **config)

        @jax.jit
        def step(grads, state, params):
            updates, state = tx.update(grads, state, params)
            return jopt.apply_updates(params, updates), state

        for i in range(1, steps + 1):
            grads = {k: rng.standard_normal(s).astype(dtype) * 10 ** rng.uniform(-2, 1) for k, s in SHAPES.items()}
            params, state = step(jax.tree.map(jnp.asarray, grads), state, params)
            for t, g in zip(t_params, jax.tree.leaves(grads)):
                t.grad = torch.tensor(g)
            t_opt.step()
            if i % 20 == 0:
                bufs = jax.tree.leaves(state.buffers.momentum_buffer)
                for name, a, t, buf in zip(sorted(SHAPES), jax.tree.leaves(params), t_params, bufs):
                    assert a.dtype == np.dtype(dtype)
                    rtol = tolerance(dtype)
                    np.testing.assert_allclose(buf, t_opt.state[t]["momentum_buffer"], rtol=rtol, atol=rtol)
                    atol = _param_atol(config, SHAPES[name], i, dtype)
                    np.testing.assert_allclose(a, t.detach().numpy(), rtol=rtol, atol=atol, err_msg=f"{name} step {i}")


def test_eager_matches_torch():
    """Op by op, the same rule (a few steps: eager dispatch is slow)."""
    config = dict(lr=0.02, nesterov=False)
    rng = np.random.default_rng(3)
    tx = jopt.muon(**config)
    values = {k: rng.standard_normal(s).astype(np.float32) for k, s in SHAPES.items()}
    params = jax.tree.map(jnp.asarray, values)
    state = tx.init(params)
    t_params = [torch.tensor(x, requires_grad=True) for x in jax.tree.leaves(values)]
    t_opt = torch.optim.Muon(t_params, **config)
    for _ in range(3):
        grads = {k: rng.standard_normal(s).astype(np.float32) for k, s in SHAPES.items()}
        updates, state = tx.update(jax.tree.map(jnp.asarray, grads), state, params)
        params = jopt.apply_updates(params, updates)
        for t, g in zip(t_params, jax.tree.leaves(grads)):
            t.grad = torch.tensor(g)
        t_opt.step()
    for name, a, t in zip(sorted(SHAPES), jax.tree.leaves(params), t_params):
        np.testing.assert_allclose(a, t.detach().numpy(), rtol=1e-5, atol=_param_atol(config, SHAPES[name], 3, np.float32))


# --- the layer ---------------------------------------------------------------------------------


def _pair(dtype, config, seed=0):
    rng = np.random.default_rng(seed)
    values = [rng.standard_normal(s).astype(dtype) for s in [(6, 4), (4, 6), (3, 2)]]
    jp = [jopt.optim.Parameter(v) for v in values]
    tp = [torch.tensor(v, requires_grad=True) for v in values]

    def groups(ps):
        return [{"params": ps[:1]}, {"params": ps[1:], "lr": config["lr"] * 2, "weight_decay": 0.05}]

    return rng, jp, tp, jopt.optim.Muon(groups(jp), **config), torch.optim.Muon(groups(tp), **config)


def _step(rng, jp, tp, jo, to, dtype, skip=()):
    for i, (j, t) in enumerate(zip(jp, tp)):
        g = rng.standard_normal(t.shape).astype(dtype)
        j.grad = None if i in skip else jnp.asarray(g)
        t.grad = None if i in skip else torch.tensor(g)
    jo.step()
    to.step()


def _check(jp, tp, jo, to, dtype, steps, lr):
    rtol = tolerance(dtype)
    for j, t in zip(jp, tp):
        np.testing.assert_allclose(j.data, t.detach().numpy(), rtol=rtol, atol=steps * 2 * lr * 1.6 * NS_TOL)
        np.testing.assert_allclose(jo.state[j]["momentum_buffer"], to.state[t]["momentum_buffer"], rtol=rtol, atol=rtol)


@pytest.mark.parametrize("dtype", [np.float64])  # the trajectories cover both dtypes
def test_layer_groups_edits_and_state_dict_crossing(dtype):
    config = dict(lr=0.02, adjust_lr_fn="original")
    with x64(dtype):
        rng, jp, tp, jo, to = _pair(dtype, config)
        for step in range(1, 21):
            if step == 9:
                for opt in (jo, to):
                    opt.param_groups[0]["lr"] = 0.01
                    opt.param_groups[1]["momentum"] = 0.8
            if step == 12:  # a static option: recompiles, and takes effect
                for opt in (jo, to):
                    opt.param_groups[1]["ns_steps"] = 3
            skip = {2} if step % 4 == 0 else set()
            if step <= 3:
                skip.add(1)
            _step(rng, jp, tp, jo, to, dtype, skip)
            if step == 8:
                traces = jo.trace_count  # every pattern of missing grads has been seen
            if step == 11:
                assert jo.trace_count == traces  # the lr and momentum edits did not retrace
            if step == 12:
                assert jo.trace_count > traces  # the ns_steps edit did
        _check(jp, tp, jo, to, dtype, 20, 0.02)

        # torch's state_dict into a fresh jopt optimizer, and back through to_torch.
        _, jp2, _, jo2, _ = _pair(dtype, config, seed=1)
        for a, t in zip(jp2, tp):
            a.data = jnp.asarray(t.detach().numpy())
        jo2.load_state_dict(to.state_dict())
        for _ in range(10):
            _step(rng, jp2, tp, jo2, to, dtype)
        _check(jp2, tp, jo2, to, dtype, 30, 0.02)
        _, _, tp3, _, to3 = _pair(dtype, config, seed=2)
        with torch.no_grad():
            for t, a in zip(tp3, jp2):
                t.copy_(torch.from_numpy(np.array(a.data)))
        to3.load_state_dict(jopt.optim.to_torch(jo2.state_dict()))
        assert to3.param_groups[1]["ns_steps"] == 3
        for _ in range(10):
            _step(rng, jp2, tp3, jo2, to3, dtype)
        _check(jp2, tp3, jo2, to3, dtype, 40, 0.02)


def test_errors_match_torch():
    for shape in [(3,), (2, 2, 2)]:
        with pytest.raises(ValueError) as t_err:
            torch.optim.Muon([torch.zeros(shape, requires_grad=True)])
        with pytest.raises(ValueError) as j_err:
            jopt.optim.Muon([jopt.optim.Parameter(jnp.zeros(shape))])
        assert str(j_err.value) == str(t_err.value)
        with pytest.raises(ValueError, match="only supports 2D parameters"):
            jopt.muon().init({"w": jnp.zeros((2, 2)), "b": jnp.zeros(shape)})
    with pytest.raises(RuntimeError, match="complex"):
        jopt.muon().init(jnp.zeros((2, 2), jnp.complex64))
    # Checked at the first step, as torch checks them in the Newton-Schulz function.
    for kwargs in [dict(ns_steps=100), dict(ns_coefficients=(1.0, 2.0))]:
        t = torch.zeros((2, 3), requires_grad=True)
        t_opt = torch.optim.Muon([t], **kwargs)
        j = jopt.optim.Parameter(jnp.zeros((2, 3)))
        j_opt = jopt.optim.Muon([j], **kwargs)
        t.grad, j.grad = torch.ones(2, 3), jnp.ones((2, 3))
        with pytest.raises(ValueError) as t_err:
            t_opt.step()
        with pytest.raises(ValueError) as j_err:
            j_opt.step()
        assert str(j_err.value) == str(t_err.value)
