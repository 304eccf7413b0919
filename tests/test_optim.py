"""jopt.optim vs torch.optim: param groups, lr edits, missing grads, state_dict crossing both ways."""

import copy
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import jopt.optim
from parity import assert_close, x64
from specs import SPECS

SHAPES = [(4, 3), (3,), (2, 2, 2), (5,)]
# One rich configuration per optimizer for the layer (the functional suite sweeps every option).
LAYER_CONFIGS = {
    "sgd": [
        dict(lr=0.05, momentum=0.9, dampening=0.2, weight_decay=0.1),
        dict(lr=0.05, momentum=0.9, nesterov=True),
        dict(lr=0.05, weight_decay=0.1, maximize=True),  # no momentum: torch keeps no state
    ],
    "adam": [dict(lr=0.01, weight_decay=0.1, amsgrad=True), dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)],
    "adamw": [dict(lr=0.01, amsgrad=True, maximize=True)],
    "rmsprop": [dict(lr=0.01, momentum=0.5, centered=True, weight_decay=0.1), dict(lr=0.01)],
    "adagrad": [dict(lr=0.05, lr_decay=0.01, weight_decay=0.1, initial_accumulator_value=0.2)],
    "adadelta": [dict(lr=0.5, rho=0.8, weight_decay=0.1)],
    "adamax": [dict(lr=0.01, weight_decay=0.1, maximize=True)],
    "nadam": [dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)],
    "radam": [dict(lr=0.01, weight_decay=0.1, betas=(0.9, 0.99))],
    "asgd": [dict(lr=0.01, lambd=0.05, t0=5.0, weight_decay=0.1, maximize=True)],
    "rprop": [dict(lr=0.01, etas=(0.3, 1.5), step_sizes=(1e-4, 0.1), maximize=True)],
    "sparse_adam": [dict(lr=0.01, betas=(0.5, 0.9), maximize=True)],
    # eps=(None, 1e-3) (the default) puts a None in a group value: the layer's path for it.
    "adafactor": [dict(lr=0.05, weight_decay=0.1, d=2.0, maximize=True)],
}
LAYER_CASES = [(s, c) for s in SPECS for c in LAYER_CONFIGS.get(s.name, [])]
IDS = [f"{s.name}-{i}" for s in SPECS for i, _ in enumerate(LAYER_CONFIGS.get(s.name, []))]


class Pair:
    """The same model in jopt.optim and torch.optim: 4 params in 2 groups with different hyperparameters."""

    def __init__(self, spec, config, dtype, seed=0):
        self.rng = np.random.default_rng(seed)
        self.dtype = dtype
        self.spec = spec
        values = [self.rng.standard_normal(s).astype(dtype) for s in SHAPES]
        self.jp = [jopt.optim.Parameter(v) for v in values]
        self.tp = [torch.tensor(v, requires_grad=True) for v in values]
        self.config = config
        self.jopt = spec.optim_cls(self._groups(self.jp), **config)
        self.torch = spec.torch_cls(self._groups(self.tp), **config, **spec.torch_extra)

    def _groups(self, params):
        second = {"lr": self.config.get("lr", 0.01) * 2}
        if "weight_decay" in self.config:
            second["weight_decay"] = 0.05
        return [{"params": params[:2]}, dict(params=params[2:], **second)]

    def step(self, skip=()):
        for i, (j, t) in enumerate(zip(self.jp, self.tp)):
            g = self.rng.standard_normal(t.shape).astype(self.dtype)
            if self.spec.grad_transform is not None:
                g = self.spec.grad_transform(self.rng, g)
            j.grad = None if i in skip else jnp.asarray(g)
            t.grad = None if i in skip else self.spec.torch_grad(torch.tensor(g))
        self.jopt.step()
        self.torch.step()

    def check(self, what=""):
        for j, t in zip(self.jp, self.tp):
            assert j.data.dtype == np.dtype(self.dtype)
            assert_close(j.data, t.detach().numpy(), self.dtype, what)
            for name in self.spec.check_state:
                assert_close(self.jopt.state[j][name], self.torch.state[t][name].numpy(), self.dtype, f"{what} {name}")
            if "step" in self.torch.state[t]:  # torch's per-parameter count, kept by the layer
                assert float(self.jopt.state[j]["step"]) == float(self.torch.state[t]["step"]), what


@pytest.fixture(params=["one_after_another", "all_at_once"])
def step_path(request, monkeypatch):
    """Run the test's steps both ways the layer compiles a step on one CPU device: one tensor
    after another (a small model: every test model here) and all tensors at once. Checks, at the
    end, that the steps went the way asked."""
    from jopt.optim import optimizer

    traced = []
    run = optimizer._one_tensor_after_another
    monkeypatch.setattr(optimizer, "_one_tensor_after_another", lambda *a, **k: traced.append(1) or run(*a, **k))
    if request.param == "all_at_once":
        monkeypatch.setattr(optimizer, "_ONE_AFTER_ANOTHER_MAX_TENSORS", 0)
    yield request.param
    assert bool(traced) == (request.param == "one_after_another")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", LAYER_CASES, ids=IDS)
def test_groups_lr_edit_and_missing_grads_match_torch(case, dtype, step_path):
    spec, config = case
    with x64(dtype):
        pair = Pair(spec, config, dtype)
        for step in range(1, 61):
            if step == 30:
                for opt in (pair.jopt, pair.torch):
                    opt.param_groups[0]["lr"] *= 0.5
            # Parameter 3 has no grad on every 4th step, parameter 1 none for the first 5 steps.
            skip = {3} if step % 4 == 0 else set()
            if step <= 5:
                skip.add(1)
            pair.step(skip)
            if step % 10 == 0:
                pair.check(f"step {step}")
            if step == 8:
                traces = pair.jopt.trace_count  # every pattern of missing grads has been seen
        assert pair.jopt.trace_count == traces  # the lr edit did not retrace


def _copy_params(dst, src_values):
    for p, v in zip(dst, src_values):
        p.data = jnp.asarray(v)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", LAYER_CASES, ids=IDS)
def test_resume_across_frameworks(case, dtype):
    spec, config = case
    with x64(dtype):
        # torch runs 20 steps (parameter 3 skips every 4th, so the steps differ within a group);
        # a fresh jopt optimizer loads torch's state_dict and both continue.
        pair = Pair(spec, config, dtype)
        for i in range(20):
            pair.step({3} if i % 4 == 0 else ())
        fresh = Pair(spec, config, dtype, seed=1)
        _copy_params(fresh.jp, [t.detach().numpy() for t in pair.tp])
        fresh.jopt.load_state_dict(pair.torch.state_dict())
        pair.jp, pair.jopt = fresh.jp, fresh.jopt
        for _ in range(30):
            pair.step()
        pair.check("torch -> jopt")

        # jopt's state_dict, through to_torch, into a fresh torch optimizer.
        fresh = Pair(spec, config, dtype, seed=2)
        with torch.no_grad():
            for t, j in zip(fresh.tp, pair.jp):
                t.copy_(torch.from_numpy(np.array(j.data)))
        fresh.torch.load_state_dict(jopt.optim.to_torch(pair.jopt.state_dict()))
        pair.tp, pair.torch = fresh.tp, fresh.torch
        for _ in range(30):
            pair.step()
        pair.check("jopt -> torch")


def test_lr_changes_never_retrace():
    with x64(np.float32):
        pair = Pair(SPECS[1], dict(lr=0.01, amsgrad=True), np.float32)
        pair.step()
        for step in range(100):
            for opt in (pair.jopt, pair.torch):
                opt.param_groups[0]["lr"] = 0.01 / (1 + step)
                opt.param_groups[1]["betas"] = (0.9 - step * 1e-3, 0.999)
            pair.step()
        pair.check()
        assert pair.jopt.trace_count == 1


def test_scheduler_drives_lr_without_retrace():
    pair = Pair(SPECS[0], dict(lr=0.1, momentum=0.9), np.float32)
    j_sched = jopt.optim.lr_scheduler.StepLR(pair.jopt, step_size=3, gamma=0.7)
    t_sched = torch.optim.lr_scheduler.StepLR(pair.torch, step_size=3, gamma=0.7)
    for _ in range(30):
        pair.step()
        j_sched.step()
        t_sched.step()
        assert j_sched.get_last_lr() == t_sched.get_last_lr()
    pair.check()
    assert pair.jopt.trace_count == 1


def test_a_hyperparameter_to_and_from_zero_changes_the_rule_like_torch():
    # Which terms and buffers torch's rule has depends on which values are zero (SGD keeps no
    # momentum buffer for momentum 0, and leaves the one it has alone): when a scheduler-like
    # edit crosses zero, the layer must not keep the transformation it compiled before.
    pair = Pair(SPECS[0], dict(lr=0.05), np.float32)
    for step in range(12):
        if step in (4, 8):
            for opt in (pair.jopt, pair.torch):
                opt.param_groups[0]["momentum"] = 0.9 if step == 4 else 0.0
        pair.step()
        pair.check(f"step {step}")
    for j, t in zip(pair.jp, pair.tp):
        assert pair.jopt.state[j].keys() == pair.torch.state[t].keys()
        for name, value in pair.torch.state[t].items():
            assert_close(pair.jopt.state[j][name], value.numpy(), np.float32, name)


def test_group_values_edited_in_place_take_effect_like_torch():
    # The layer reuses a group's hyperparameters (as device scalars) while no value is replaced:
    # a betas list edited in place, and a numpy lr edited in place, must still reach the next step.
    adam = next(s for s in SPECS if s.name == "adam")
    pair = Pair(adam, dict(lr=0.01), np.float32)
    for opt in (pair.jopt, pair.torch):
        opt.param_groups[0]["betas"] = [0.9, 0.999]
    pair.jopt.param_groups[1]["lr"] = np.array(0.02)
    pair.step()
    for opt in (pair.jopt, pair.torch):
        opt.param_groups[0]["betas"][0] = 0.5
    pair.jopt.param_groups[1]["lr"][...] = 0.05
    pair.torch.param_groups[1]["lr"] = 0.05
    for _ in range(3):
        pair.step()
    pair.check()
    assert pair.jopt.trace_count == 1


def test_sgd_without_momentum_builds_no_state_step_after_step():
    # torch's SGD without momentum keeps no state, so every step finds its parameters without
    # any. The layer built their (empty) state anew each time: W4 steps took 6.6x as long.
    inits = []

    class CountingSGD(jopt.optim.SGD):
        def _transformation(self, options):
            tx = super()._transformation(options)
            return tx._replace(init=lambda params: inits.append(len(params)) or tx.init(params))

    sgd = dataclasses.replace(SPECS[0], optim_cls=CountingSGD)
    pair = Pair(sgd, dict(lr=0.05, weight_decay=0.1), np.float32)
    for _ in range(5):
        pair.step()
    pair.check()
    assert all(not state for state in pair.jopt.state.values()) and all(not s for s in pair.torch.state.values())
    assert [n for n in inits if n] == []  # init(()) only, once per config, to read its buffer names


def test_state_dict_arrays_survive_later_steps():
    pair = Pair(SPECS[1], dict(lr=0.01), np.float32)
    pair.step()
    sd = pair.jopt.state_dict()
    snapshot = jax.tree.map(np.array, sd["state"])
    pair.step()
    pair.step()
    jax.tree.map(np.testing.assert_array_equal, jax.tree.map(np.array, sd["state"]), snapshot)
    assert sd["state"][0]["step"].dtype == jnp.float32  # torch's dtype for 'step'


# --- bad state_dicts leave the optimizer untouched -------------------------------------------


def _snapshot(opt):
    return (
        [np.array(p.data) for g in opt.param_groups for p in g["params"]],
        {id(p): {k: np.array(v) for k, v in s.items()} for p, s in opt.state.items()},
        [{k: copy.deepcopy(v) for k, v in g.items() if k != "params"} for g in opt.param_groups],
        [[id(p) for p in g["params"]] for g in opt.param_groups],
    )


def _assert_same(a, b):
    np.testing.assert_equal(a[0], b[0])
    assert a[1].keys() == b[1].keys()
    for k in a[1]:
        np.testing.assert_equal(a[1][k], b[1][k])
    assert a[2] == b[2] and a[3] == b[3]


def _corrupt_groups(sd):
    sd["param_groups"] = sd["param_groups"][:1]


def _corrupt_group_size(sd):
    sd["param_groups"][1]["params"] = sd["param_groups"][1]["params"][:1]


def _corrupt_shape(sd):
    sd["state"][2]["exp_avg"] = np.zeros((7,))


def _corrupt_missing_buffer(sd):
    del sd["state"][0]["exp_avg_sq"]


def _corrupt_missing_step(sd):
    del sd["state"][1]["step"]


def _corrupt_step_shape(sd):
    sd["state"][3]["step"] = np.ones(2, np.float32)


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (_corrupt_groups, "different number of parameter groups"),
        (_corrupt_group_size, "doesn't match the size"),
        (_corrupt_shape, "has shape"),
        (_corrupt_missing_buffer, "lacks"),
        (_corrupt_missing_step, "lacks"),
        (_corrupt_step_shape, "'step' of parameter 3 has shape"),
    ],
)
def test_invalid_state_dict_raises_and_changes_nothing(corrupt, message):
    pair = Pair(SPECS[1], dict(lr=0.01, amsgrad=True), np.float32)
    for _ in range(3):
        pair.step()
    good = pair.torch.state_dict()
    other = Pair(SPECS[1], dict(lr=0.03), np.float32, seed=5)
    other.step()
    before = _snapshot(other.jopt)
    bad = copy.deepcopy(good)
    corrupt(bad)
    with pytest.raises(ValueError, match=message):
        other.jopt.load_state_dict(bad)
    _assert_same(before, _snapshot(other.jopt))
    other.jopt.load_state_dict(good)  # and a good one still loads
    assert other.jopt.param_groups[0]["amsgrad"] is True


# --- torch's checks and API surface ----------------------------------------------------------

BAD_HYPERPARAMS = [
    ("SGD", dict(lr=-0.1)),
    ("SGD", dict(momentum=-0.5)),
    ("SGD", dict(weight_decay=-1.0)),
    ("SGD", dict(nesterov=True)),
    ("SGD", dict(momentum=0.9, dampening=0.1, nesterov=True)),
    ("Adam", dict(lr=-1e-3)),
    ("Adam", dict(eps=-1.0)),
    ("Adam", dict(betas=(1.0, 0.999))),
    ("Adam", dict(betas=(0.9, -0.1))),
    ("Adam", dict(weight_decay=-0.1)),
    ("AdamW", dict(betas=(0.9, 1.5))),
    ("RMSprop", dict(lr=-0.1)),
    ("RMSprop", dict(alpha=-0.1)),
    ("RMSprop", dict(eps=-0.1)),
    ("RMSprop", dict(momentum=-0.1)),
    ("RMSprop", dict(weight_decay=-0.1)),
    ("Adagrad", dict(lr=-0.1)),
    ("Adagrad", dict(lr_decay=-0.1)),
    ("Adagrad", dict(weight_decay=-0.1)),
    ("Adagrad", dict(initial_accumulator_value=-0.1)),
    ("Adagrad", dict(eps=-0.1)),
    ("Adadelta", dict(lr=-0.1)),
    ("Adadelta", dict(rho=1.5)),
    ("Adadelta", dict(eps=-0.1)),
    ("Adadelta", dict(weight_decay=-0.1)),
    ("Adamax", dict(betas=(0.9, 1.0))),
    ("Adamax", dict(eps=-1.0)),
    ("NAdam", dict(momentum_decay=-0.1)),
    ("NAdam", dict(betas=(-0.1, 0.9))),
    ("RAdam", dict(weight_decay=-0.1)),
    ("RAdam", dict(betas=(0.9, 1.0))),
    ("Muon", dict(lr=-0.1)),
    ("Muon", dict(momentum=-0.1)),
    ("Muon", dict(weight_decay=-0.1)),
    ("Muon", dict(adjust_lr_fn="sqrt")),
    ("LBFGS", dict(lr=-0.1)),
    ("ASGD", dict(lr=-0.1)),
    ("ASGD", dict(weight_decay=-0.1)),
    ("Rprop", dict(lr=-0.1)),
    ("Rprop", dict(etas=(1.2, 1.5))),
    ("Rprop", dict(etas=(0.5, 0.9))),
    ("Rprop", dict(etas=(0.0, 1.2))),
    ("SparseAdam", dict(lr=0.0)),
    ("SparseAdam", dict(eps=0.0)),
    ("SparseAdam", dict(betas=(1.0, 0.999))),
    ("SparseAdam", dict(betas=(0.9, -0.1))),
    ("Adafactor", dict(lr=-0.1)),
    ("Adafactor", dict(beta2_decay=0.5)),
    ("Adafactor", dict(eps=(-1.0, 1e-3))),
    ("Adafactor", dict(eps=(None, -1e-3))),
    ("Adafactor", dict(d=0.5)),
    ("Adafactor", dict(weight_decay=-0.1)),
]


@pytest.mark.parametrize("name, kwargs", BAD_HYPERPARAMS)
def test_invalid_hyperparameters_raise_value_error_like_torch(name, kwargs):
    with pytest.raises(ValueError) as torch_error:
        getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)], **kwargs)
    with pytest.raises(ValueError) as jopt_error:
        getattr(jopt.optim, name)([jopt.optim.Parameter(jnp.zeros(2))], **kwargs)
    assert str(jopt_error.value) == str(torch_error.value)


def test_add_param_group_checks():
    a, b = jopt.optim.Parameter(jnp.ones(2)), jopt.optim.Parameter(jnp.ones(3))
    opt = jopt.optim.SGD([a], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [a]})
    with pytest.raises(TypeError, match="ordered collections"):
        opt.add_param_group({"params": {b}})
    with pytest.raises(TypeError, match="can only optimize Parameters"):
        opt.add_param_group({"params": [jnp.ones(2)]})
    opt.add_param_group({"params": b, "momentum": 0.5})
    assert opt.param_groups[1]["params"] == [b] and opt.param_groups[1]["lr"] == 0.1
    with pytest.raises(ValueError, match="empty parameter list"):
        jopt.optim.SGD([], lr=0.1)


def test_required_hyperparameter():
    class Needy(jopt.optim.SGD):
        def __init__(self, params):
            jopt.optim.Optimizer.__init__(self, params, dict(lr=jopt.optim.required, momentum=0.0))

    p = jopt.optim.Parameter(jnp.ones(2))
    with pytest.raises(ValueError, match="didn't specify a value of required optimization parameter lr"):
        Needy([p])
    assert Needy([{"params": [p], "lr": 0.1}]).param_groups[0]["lr"] == 0.1


def test_named_parameters_and_repr_match_torch():
    jp, tp = jopt.optim.Parameter(jnp.ones(2)), torch.ones(2, requires_grad=True)
    j = jopt.optim.Adam([("w", jp)], lr=0.1)
    t = torch.optim.Adam([("w", tp)], lr=0.1)
    assert repr(j) == repr(t)
    assert j.state_dict()["param_groups"] == t.state_dict()["param_groups"]


def test_zero_grad_step_closure_and_hooks():
    p = jopt.optim.Parameter(jnp.array([1.0, -2.0]))
    opt = jopt.optim.SGD([p], lr=0.5)
    calls = []
    pre = opt.register_step_pre_hook(lambda o, args, kwargs: calls.append("pre"))
    post = opt.register_step_post_hook(lambda o, args, kwargs: calls.append("post"))
    glob = jopt.optim.register_optimizer_step_pre_hook(lambda o, args, kwargs: calls.append("global"))

    def loss_fn(w):
        return jnp.sum(w**2)

    def closure():
        opt.zero_grad()
        return jopt.optim.backward(loss_fn, p)

    loss = opt.step(closure)
    assert float(loss) == 5.0
    np.testing.assert_allclose(p.data, [0.0, 0.0])  # w - 0.5 * 2w
    assert calls == ["global", "pre", "post"]
    for handle in (pre, post, glob):
        handle.remove()
    opt.step(closure)
    assert calls == ["global", "pre", "post"]
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(p.grad, [0.0, 0.0])
    opt.zero_grad()
    assert p.grad is None


def test_state_dict_hooks():
    p = jopt.optim.Parameter(jnp.ones(2))
    opt = jopt.optim.SGD([p], lr=0.1)
    seen = []
    opt.register_state_dict_pre_hook(lambda o: seen.append("sd_pre"))
    opt.register_state_dict_post_hook(lambda o, sd: {**sd, "extra": 1})
    opt.register_load_state_dict_pre_hook(lambda o, sd: seen.append("load_pre"))
    opt.register_load_state_dict_post_hook(lambda o: seen.append("load_post"), prepend=True)
    sd = opt.state_dict()
    assert sd["extra"] == 1
    opt.load_state_dict(sd)
    assert seen == ["sd_pre", "load_pre", "load_post"]


def test_backward_accumulates_like_torch():
    x, y = np.array([0.5, -1.5, 2.0]), np.array([[1.0, -0.25]])
    jp, jq = jopt.optim.Parameter(x), jopt.optim.Parameter(y)
    tp, tq = torch.tensor(x, requires_grad=True), torch.tensor(y, requires_grad=True)

    def loss_fn(params, scale):
        return jnp.sum(jnp.sin(params["w"]) * scale) + jnp.sum(params["v"] ** 3) * scale

    for scale in (1.0, 3.0, 0.5):
        jopt.optim.backward(loss_fn, {"w": jp, "v": jq}, jnp.asarray(scale))
        ((torch.sin(tp) * scale).sum() + (tq**3).sum() * scale).backward()
        np.testing.assert_allclose(jp.grad, tp.grad.numpy(), rtol=1e-6)
        np.testing.assert_allclose(jq.grad, tq.grad.numpy(), rtol=1e-6)
        if scale == 1.0:  # next, one grad is summed into and the other fresh
            jq.grad = tq.grad = None


def test_adagrad_creates_state_in_constructor_like_torch():
    jp, tp = jopt.optim.Parameter(jnp.ones(3)), torch.ones(3, requires_grad=True)
    j = jopt.optim.Adagrad([jp], initial_accumulator_value=0.5)
    t = torch.optim.Adagrad([tp], initial_accumulator_value=0.5)
    j_sd, t_sd = j.state_dict(), t.state_dict()
    assert j_sd["state"].keys() == t_sd["state"].keys() == {0}
    np.testing.assert_array_equal(j_sd["state"][0]["sum"], t_sd["state"][0]["sum"].numpy())
    assert float(j_sd["state"][0]["step"]) == float(t_sd["state"][0]["step"]) == 0.0


def test_complex_parameters_match_torch():
    x = (np.array([1.0, -2.0, 0.5]) + 1j * np.array([0.3, 0.7, -1.1])).astype(np.complex64)
    jp, tp = jopt.optim.Parameter(x), torch.tensor(x, requires_grad=True)
    j_opt = jopt.optim.Adam([jp], lr=0.1, weight_decay=0.1)
    t_opt = torch.optim.Adam([tp], lr=0.1, weight_decay=0.1, foreach=False)

    def loss_fn(w):
        return jnp.sum(jnp.abs(w - (1 + 1j)) ** 2 * jnp.arange(1, 4))

    for _ in range(20):
        j_opt.zero_grad()
        t_opt.zero_grad()
        jopt.optim.backward(loss_fn, jp)
        ((tp - (1 + 1j)).abs() ** 2 * torch.arange(1, 4)).sum().backward()
        np.testing.assert_allclose(jp.grad, tp.grad.numpy(), rtol=1e-5)  # torch's complex gradient convention
        j_opt.step()
        t_opt.step()
    assert_close(jp.data, tp.detach().numpy(), np.complex64)
    assert j_opt.state[jp]["exp_avg"].dtype == jnp.complex64
    t_fresh = torch.optim.Adam([tp], lr=0.1, weight_decay=0.1)
    t_fresh.load_state_dict(jopt.optim.to_torch(j_opt.state_dict()))
    assert t_fresh.state[tp]["exp_avg"].dtype == torch.complex64


@pytest.mark.parametrize("name", ["Adam", "RMSprop", "Adafactor"])
def test_tensors_of_3_or_more_dims_run_on_flat_views(name, monkeypatch):
    """On one CPU device an elementwise rule updates a convolution kernel on 1-D views inside a
    loop (XLA:CPU loops slowly over [..., 3, 3]); Adafactor's factored rule never does. The
    numbers stay torch's, complex kernels included."""
    monkeypatch.setattr(jopt.optim.optimizer, "_ONE_AFTER_ANOTHER_MAX_TENSORS", 0)  # as a large model
    rng = np.random.default_rng(0)
    real = name == "Adafactor"  # torch's Adafactor takes no complex parameters
    values = [rng.standard_normal((4, 2, 3, 3)) + (0 if real else 1j) * rng.standard_normal((4, 2, 3, 3)),
              rng.standard_normal((4,))]
    values = [v.astype(np.float32 if real or v.ndim == 1 else np.complex64) for v in values]
    jp = [jopt.optim.Parameter(v) for v in values]
    tp = [torch.tensor(v, requires_grad=True) for v in values]
    j_opt, t_opt = getattr(jopt.optim, name)(jp, lr=0.01), getattr(torch.optim, name)(tp, lr=0.01)
    for _ in range(5):
        for j, t, v in zip(jp, tp, values):
            g = rng.standard_normal(v.shape) + (1j * rng.standard_normal(v.shape) if np.iscomplexobj(v) else 0)
            g = g.astype(v.dtype)
            j.grad, t.grad = jnp.asarray(g), torch.tensor(g)
        j_opt.step()
        t_opt.step()
    for j, t in zip(jp, tp):
        assert_close(j.data, t.detach().numpy(), j.dtype)
    (blocks,) = j_opt._step_fns  # one program: its blocks, (config, on flat views)
    assert sorted(flat for _, flat in blocks) == ([False] if real else [False, True])
