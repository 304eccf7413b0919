"""jopt.lbfgs / jopt.optim.LBFGS vs torch.optim.LBFGS: whole optimisation trajectories.

Each problem is written twice, in jax.numpy and in torch, with the same operations. Both forms of
jopt run several ``step(closure)`` calls (each up to ``max_iter`` inner iterations, the line search
included) next to torch; after every step the parameters, the loss returned and torch's counters
(``func_evals``, ``n_iter``) must agree: float64 to 1e-10 relative, float32 (short runs, before
round-off can change a branch of the line search) to 1e-5.
"""

import copy

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import jopt
import jopt.optim
from parity import x64

A = np.random.default_rng(7).standard_normal((8, 5))
B = np.random.default_rng(8).standard_normal(8)

PROBLEMS = {
    # name: (jax loss of a dict of params, torch loss of a list [same order as sorted keys], x0)
    "rosenbrock2": (
        lambda p: (1 - p["x"][0]) ** 2 + 100 * (p["x"][1] - p["x"][0] ** 2) ** 2,
        lambda t: (1 - t[0][0]) ** 2 + 100 * (t[0][1] - t[0][0] ** 2) ** 2,
        {"x": np.array([-1.5, 2.0])},
    ),
    "rosenbrock10": (
        lambda p: jnp.sum(100 * (p["x"][1:] - p["x"][:-1] ** 2) ** 2 + (1 - p["x"][:-1]) ** 2),
        lambda t: torch.sum(100 * (t[0][1:] - t[0][:-1] ** 2) ** 2 + (1 - t[0][:-1]) ** 2),
        {"x": np.linspace(-1.2, 1.1, 10)},
    ),
    "least_squares": (  # two parameters: the flat vector spans leaves
        lambda p: 0.5 * jnp.sum((p["a"] @ jnp.asarray(A[:, :3].T) + p["b"] @ jnp.asarray(A[:, 3:].T) - B) ** 2),
        lambda t: 0.5 * torch.sum((t[0] @ torch.tensor(A[:, :3].T) + t[1] @ torch.tensor(A[:, 3:].T) - torch.tensor(B)) ** 2),
        {"a": np.zeros(3), "b": np.ones(2)},
    ),
}
CONFIGS = {
    "fixed": dict(lr=0.02, max_iter=8, history_size=3),  # no line search; history wraps around
    "wolfe": dict(lr=1.0, max_iter=10, history_size=4, line_search_fn="strong_wolfe"),
}


class Torch:
    def __init__(self, problem, config, dtype):
        _, self.loss_fn, x0 = PROBLEMS[problem]
        self.params = [torch.tensor(x0[k].astype(dtype), requires_grad=True) for k in sorted(x0)]
        self.opt = torch.optim.LBFGS(self.params, **config)

    def closure(self):
        self.opt.zero_grad()
        loss = self.loss_fn(self.params)
        loss.backward()
        return loss

    def step(self):
        return float(self.opt.step(self.closure).detach())

    def values(self):
        return [p.detach().numpy() for p in self.params]


class Functional:
    def __init__(self, problem, config, dtype):
        self.loss_fn, _, x0 = PROBLEMS[problem]
        tx = jopt.lbfgs(**config)
        self.params = {k: jnp.asarray(v.astype(dtype)) for k, v in x0.items()}
        self.state = tx.init(self.params)

        @jax.jit
        def step(params, state):
            loss, grads = jax.value_and_grad(self.loss_fn)(params)
            updates, state = tx.update(grads, state, params, value=loss, value_fn=self.loss_fn)
            return jopt.apply_updates(params, updates), state, loss

        self._step = step

    def step(self):
        self.params, self.state, loss = self._step(self.params, self.state)
        return float(loss)

    def counters(self):
        return int(self.state.buffers.func_evals), int(self.state.buffers.n_iter)

    def values(self):
        return [self.params[k] for k in sorted(self.params)]


class Layer:
    def __init__(self, problem, config, dtype):
        loss_fn, _, x0 = PROBLEMS[problem]
        self.keys = sorted(x0)
        self.params = {k: jopt.optim.Parameter(x0[k].astype(dtype)) for k in self.keys}
        self.opt = jopt.optim.LBFGS([self.params[k] for k in self.keys], **config)
        self.loss_fn = loss_fn

    def closure(self):
        self.opt.zero_grad()
        return jopt.optim.backward(self.loss_fn, self.params)

    def step(self):
        return float(self.opt.step(self.closure))

    def counters(self):
        state = self.opt.state[self.params[self.keys[0]]]
        return state["func_evals"], state["n_iter"]

    def values(self):
        return [self.params[k].data for k in self.keys]


def _compare(ours, theirs, rtol, what, atol=None):
    for a, t in zip(ours.values(), theirs.values()):
        np.testing.assert_allclose(np.asarray(a), t, rtol=rtol, atol=rtol if atol is None else atol, err_msg=what)
    state = theirs.opt.state[theirs.params[0]]
    assert ours.counters() == (state["func_evals"], state["n_iter"]), what


# The functional form on every problem and configuration; the layer drives the same `advance`
# from Python, so two cases (one per configuration) cover its closure loop and state layout.
FLOAT64_CASES = [(p, c, Functional) for p in PROBLEMS for c in CONFIGS] + [
    ("rosenbrock2", "wolfe", Layer),
    ("least_squares", "fixed", Layer),
]


@pytest.mark.parametrize(
    "problem, config, form", FLOAT64_CASES, ids=[f"{p}-{c}-{f.__name__.lower()}" for p, c, f in FLOAT64_CASES]
)
def test_float64_trajectory_matches_torch(problem, config, form):
    """float64: 1e-10 relative, except where the problem itself amplifies round-off beyond that.

    XLA contracts ``a * b + c`` into one fused multiply-add in compiled code, where torch's
    Python-float arithmetic rounds twice, so some scalars (``t`` from the cubic interpolation, a dot
    product) differ from torch's in the last bit. Along the curved valley of the 2-D Rosenbrock
    function the strong-Wolfe trajectory amplifies such a 1-ulp difference to ~1e-9 within
    four steps: torch against torch started 1 ulp away differs by as much
    (``sensitivity``). The tolerance is therefore 1e-10, or 10x torch's own sensitivity to a
    1-ulp change of the start where that is larger; the evaluation and iteration counters,
    which reflect every branch taken, must agree exactly.
    """
    with x64(np.float64):
        ours, theirs = form(problem, CONFIGS[config], np.float64), Torch(problem, CONFIGS[config], np.float64)
        nudged = Torch(problem, CONFIGS[config], np.float64)
        with torch.no_grad():
            nudged.params[0].copy_(torch.from_numpy(np.nextafter(nudged.values()[0], np.inf)))
        for step in range(4):
            loss, torch_loss, nudged_loss = ours.step(), theirs.step(), nudged.step()
            sensitivity = max(np.abs(a - b).max() for a, b in zip(theirs.values(), nudged.values()))
            np.testing.assert_allclose(loss, torch_loss, rtol=1e-10, atol=10 * abs(torch_loss - nudged_loss))
            _compare(ours, theirs, 1e-10, f"{problem} {config} step {step}", atol=max(1e-10, 10 * sensitivity))


@pytest.mark.parametrize("config, form", [("wolfe", Functional), ("fixed", Layer)], ids=["wolfe-functional", "fixed-layer"])
def test_float32_short_run_matches_torch(config, form):
    cfg = dict(CONFIGS[config], max_iter=4)
    ours, theirs = form("rosenbrock10", cfg, np.float32), Torch("rosenbrock10", cfg, np.float32)
    for step in range(2):
        ours.step(), theirs.step()
        _compare(ours, theirs, 1e-5, f"{config} step {step}")


@pytest.mark.parametrize("config", ["wolfe"])
def test_state_dict_crosses_to_torch_and_back(config):
    with x64(np.float64):
        cfg = CONFIGS[config]
        ours, theirs = Layer("rosenbrock10", cfg, np.float64), Torch("rosenbrock10", cfg, np.float64)
        for _ in range(2):
            ours.step(), theirs.step()
        # jopt's state into a fresh torch optimizer: it continues as the torch run does.
        fresh = Torch("rosenbrock10", cfg, np.float64)
        with torch.no_grad():
            fresh.params[0].copy_(torch.from_numpy(np.array(ours.params["x"].data)))
        sd = ours.opt.state_dict()
        assert set(sd["state"][0]) == set(theirs.opt.state_dict()["state"][0])
        assert sd["param_groups"] == theirs.opt.state_dict()["param_groups"]
        fresh.opt.load_state_dict(jopt.optim.to_torch(sd))
        # torch's state into a fresh jopt optimizer.
        back = Layer("rosenbrock10", cfg, np.float64)
        back.params["x"].data = jnp.asarray(theirs.values()[0])
        back.opt.load_state_dict(copy.deepcopy(theirs.opt.state_dict()))
        for step in range(2):
            theirs.step(), fresh.step(), back.step()
            _compare(back, theirs, 1e-10, f"torch -> jopt, step {step}")
            np.testing.assert_allclose(fresh.values()[0], theirs.values()[0], rtol=1e-10, atol=1e-10)


def test_hyperparameters_live_in_state_and_torch_errors():
    with x64(np.float64):
        loss_fn, _, x0 = PROBLEMS["rosenbrock2"]
        tx = jopt.lbfgs(lr=0.5, max_iter=3)
        params = {"x": jnp.asarray(x0["x"])}
        state = tx.init(params)
        assert state.hyperparams.max_eval == 3 * 5 // 4
        state = jopt.set_hyperparams(state, max_iter=1)
        grads = jax.grad(loss_fn)(params)
        _, state = jax.jit(lambda g, s, p: tx.update(g, s, p, value_fn=loss_fn))(grads, state, params)
        assert int(state.buffers.n_iter) == 1 and int(state.buffers.func_evals) == 1  # max_iter=1: no re-evaluation

    p = [jopt.optim.Parameter(jnp.zeros(2)), jopt.optim.Parameter(jnp.zeros(2))]
    t = [torch.zeros(2, requires_grad=True), torch.zeros(2, requires_grad=True)]
    for make in (lambda m, ps: m.LBFGS([{"params": ps[:1]}, {"params": ps[1:]}]),
                 lambda m, ps: m.LBFGS(ps, lr=-1.0)):  # fmt: skip
        with pytest.raises(ValueError) as t_err:
            make(torch.optim, t)
        with pytest.raises(ValueError) as j_err:
            make(jopt.optim, p)
        assert str(j_err.value) == str(t_err.value)
    with pytest.raises(ValueError, match="Tensor lr must be 1-element"):
        jopt.lbfgs(lr=jnp.ones(2))
    with pytest.raises(RuntimeError, match="only 'strong_wolfe' is supported"):
        tx = jopt.lbfgs(line_search_fn="armijo")
        tx.update(jnp.ones(2), tx.init(jnp.zeros(2)), jnp.zeros(2), value_fn=lambda x: jnp.sum(x))
