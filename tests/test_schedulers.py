"""Differential tests: jopt.optim.lr_scheduler and jopt.schedules against torch.optim.lr_scheduler."""

from __future__ import annotations

import copy
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

import jopt
import jopt.optim
from jopt import schedules as S
from jopt.optim import lr_scheduler as JL

TL = torch.optim.lr_scheduler
REL = 1e-12

# --- optimizers with the same param groups -----------------------------------------------------

GROUPS = {
    "sgd": [dict(lr=0.1, momentum=0.9), dict(lr=0.05, momentum=0.5)],
    "adam": [dict(lr=0.1, betas=(0.9, 0.999)), dict(lr=0.03, betas=(0.8, 0.99))],
}


def make_optimizers(kind: str):
    groups = GROUPS[kind]
    t_cls, j_cls = (torch.optim.SGD, jopt.optim.SGD) if kind == "sgd" else (torch.optim.Adam, jopt.optim.Adam)
    t_opt = t_cls([dict(g, params=[torch.zeros(1, requires_grad=True)]) for g in groups])
    j_opt = j_cls([dict(g, params=[jopt.optim.Parameter(jnp.zeros(1))]) for g in groups])
    return t_opt, j_opt


class Halving:
    """A callable object: its state is saved by LambdaLR.state_dict, as in torch."""

    def __init__(self, every):
        self.every = every

    def __call__(self, epoch):
        return 0.5 ** (epoch // self.every)


# id -> (optimizer kind, build(L, opt) with L a scheduler module, steps, functional(base_lr, group) or None,
#        momentum functional(group) or None, whether the functional is jnp-traceable)
CASES = {
    "step": ("sgd", lambda L, o: L.StepLR(o, step_size=7, gamma=0.5), 120,
             lambda b, i: S.step_lr(b, step_size=7, gamma=0.5)),
    "step1": ("adam", lambda L, o: L.StepLR(o, 1, 0.97), 120, lambda b, i: S.step_lr(b, 1, 0.97)),
    "multistep": ("sgd", lambda L, o: L.MultiStepLR(o, milestones=[10, 30, 30, 80], gamma=0.3), 120,
                  lambda b, i: S.multi_step_lr(b, milestones=[10, 30, 30, 80], gamma=0.3)),
    "constant": ("sgd", lambda L, o: L.ConstantLR(o, factor=0.25, total_iters=20), 110,
                 lambda b, i: S.constant_lr(b, factor=0.25, total_iters=20)),
    "constant_default": ("adam", lambda L, o: L.ConstantLR(o), 110, lambda b, i: S.constant_lr(b)),
    "linear_up": ("sgd", lambda L, o: L.LinearLR(o, start_factor=0.1, total_iters=40), 110,
                  lambda b, i: S.linear_lr(b, start_factor=0.1, total_iters=40)),
    "linear_down": ("adam", lambda L, o: L.LinearLR(o, 1.0, 0.05, 77), 110, lambda b, i: S.linear_lr(b, 1.0, 0.05, 77)),
    "linear_default": ("sgd", lambda L, o: L.LinearLR(o), 110, lambda b, i: S.linear_lr(b)),
    "exponential": ("sgd", lambda L, o: L.ExponentialLR(o, gamma=0.97), 150, lambda b, i: S.exponential_lr(b, 0.97)),
    "poly2": ("sgd", lambda L, o: L.PolynomialLR(o, total_iters=60, power=2.0), 110,
              lambda b, i: S.polynomial_lr(b, total_iters=60, power=2.0)),
    "poly_half": ("adam", lambda L, o: L.PolynomialLR(o, total_iters=100, power=0.5), 110,
                  lambda b, i: S.polynomial_lr(b, total_iters=100, power=0.5)),
    "poly_default": ("sgd", lambda L, o: L.PolynomialLR(o), 110, lambda b, i: S.polynomial_lr(b)),
    "cosine": ("sgd", lambda L, o: L.CosineAnnealingLR(o, T_max=30, eta_min=0.001), 150,
               lambda b, i: S.cosine_annealing_lr(b, T_max=30, eta_min=0.001)),
    "cosine100": ("adam", lambda L, o: L.CosineAnnealingLR(o, 100), 250, lambda b, i: S.cosine_annealing_lr(b, 100)),
    "cosine7": ("sgd", lambda L, o: L.CosineAnnealingLR(o, T_max=7, eta_min=0.01), 120,
                lambda b, i: S.cosine_annealing_lr(b, T_max=7, eta_min=0.01)),
    "cosine_rec": ("sgd", lambda L, o: L.CosineAnnealingLR(o, T_max=40, eta_min=0.02), 200,
                   lambda b, i: S.cosine_annealing_lr(b, T_max=40, eta_min=0.02, recurrence=True)),
    "warm": ("sgd", lambda L, o: L.CosineAnnealingWarmRestarts(o, T_0=10), 120,
             lambda b, i: S.cosine_annealing_warm_restarts(b, T_0=10)),
    "warm_mult2": ("adam", lambda L, o: L.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=2, eta_min=1e-3), 160,
                   lambda b, i: S.cosine_annealing_warm_restarts(b, T_0=5, T_mult=2, eta_min=1e-3)),
    "warm_mult3": ("sgd", lambda L, o: L.CosineAnnealingWarmRestarts(o, 3, 3), 130,
                   lambda b, i: S.cosine_annealing_warm_restarts(b, 3, 3)),
    "cyclic": ("sgd", lambda L, o: L.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=10), 120,
               lambda b, i: S.cyclic_lr(0.01, 0.1, step_size_up=10),
               lambda i: S.cyclic_momentum(step_size_up=10)),
    "cyclic_tri2": ("sgd", lambda L, o: L.CyclicLR(o, [0.01, 0.02], [0.1, 0.3], 10, 5, "triangular2",
                                                   base_momentum=[0.7, 0.8], max_momentum=[0.95, 0.9]), 120,
                    lambda b, i: S.cyclic_lr([0.01, 0.02][i], [0.1, 0.3][i], 10, 5, "triangular2"),
                    lambda i: S.cyclic_momentum([0.7, 0.8][i], [0.95, 0.9][i], 10, 5, "triangular2")),
    "cyclic_exp_adam": ("adam", lambda L, o: L.CyclicLR(o, 0.001, 0.01, 7, mode="exp_range", gamma=0.99), 120,
                        lambda b, i: S.cyclic_lr(0.001, 0.01, 7, mode="exp_range", gamma=0.99),
                        lambda i: S.cyclic_momentum(step_size_up=7, mode="exp_range", gamma=0.99)),
    "cyclic_custom": ("sgd", lambda L, o: L.CyclicLR(o, 0.01, 0.1, 4, 12, scale_fn=lambda x: 1 / (1.0 + x),
                                                     scale_mode="iterations", cycle_momentum=False), 120,
                      lambda b, i: S.cyclic_lr(0.01, 0.1, 4, 12, scale_fn=lambda x: 1 / (1.0 + x),
                                               scale_mode="iterations")),
    "onecycle": ("sgd", lambda L, o: L.OneCycleLR(o, max_lr=0.1, total_steps=120), 120,
                 lambda b, i: S.one_cycle_lr(max_lr=0.1, total_steps=120),
                 lambda i: S.one_cycle_momentum(total_steps=120)),
    "onecycle_3phase": ("adam", lambda L, o: L.OneCycleLR(o, [0.1, 0.2], epochs=10, steps_per_epoch=12,
                                                          anneal_strategy="linear", three_phase=True,
                                                          base_momentum=0.8, max_momentum=[0.95, 0.9]), 120,
                        lambda b, i: S.one_cycle_lr([0.1, 0.2][i], epochs=10, steps_per_epoch=12,
                                                    anneal_strategy="linear", three_phase=True),
                        lambda i: S.one_cycle_momentum(epochs=10, steps_per_epoch=12, anneal_strategy="linear",
                                                       three_phase=True, base_momentum=0.8,
                                                       max_momentum=[0.95, 0.9][i])),
    "onecycle_div": ("sgd", lambda L, o: L.OneCycleLR(o, 0.5, 150, pct_start=0.25, div_factor=10.0,
                                                      final_div_factor=100.0, cycle_momentum=False), 150,
                     lambda b, i: S.one_cycle_lr(0.5, 150, pct_start=0.25, div_factor=10.0, final_div_factor=100.0)),
    "lambda": ("sgd", lambda L, o: L.LambdaLR(o, lambda e: 0.95**e), 120, lambda b, i: S.lambda_lr(b, lambda e: 0.95**e)),
    "lambda_list": ("adam", lambda L, o: L.LambdaLR(o, [lambda e: 1 / (1 + e), Halving(9)]), 120,
                    lambda b, i: S.lambda_lr(b, [lambda e: 1 / (1 + e), Halving(9)][i])),
    "multiplicative": ("sgd", lambda L, o: L.MultiplicativeLR(o, lambda e: 0.97), 120,
                       lambda b, i: S.multiplicative_lr(b, lambda e: 0.97)),
    "multiplicative_py": ("sgd", lambda L, o: L.MultiplicativeLR(o, lambda e: 0.9 if e % 10 == 0 else 1.01), 120,
                          lambda b, i: S.multiplicative_lr(b, lambda e: 0.9 if e % 10 == 0 else 1.01)),
    "sequential": ("sgd", lambda L, o: L.SequentialLR(o, [L.LinearLR(o, start_factor=0.1, total_iters=10),
                                                          L.ExponentialLR(o, gamma=0.95)], milestones=[10]), 120,
                   lambda b, i: S.sequential_lr([S.linear_lr(b, start_factor=0.1, total_iters=10),
                                                 S.exponential_lr(b, 0.95)], milestones=[10])),
    "sequential3": ("adam", lambda L, o: L.SequentialLR(o, [L.ConstantLR(o, 0.5, 5), L.CosineAnnealingLR(o, 50),
                                                            L.StepLR(o, 10, 0.5)], [15, 65]), 130,
                    lambda b, i: S.sequential_lr([S.constant_lr(b, 0.5, 5), S.cosine_annealing_lr(b, 50),
                                                  S.step_lr(b, 10, 0.5)], [15, 65])),
    "chained": ("sgd", lambda L, o: L.ChainedScheduler([L.ConstantLR(o, factor=0.1, total_iters=5),
                                                        L.ExponentialLR(o, gamma=0.9)]), 120,
                lambda b, i: S.chained_scheduler([S.constant_lr(b, factor=0.1, total_iters=5),
                                                  S.exponential_lr(b, 0.9)])),
    "chained3": ("adam", lambda L, o: L.ChainedScheduler([L.LinearLR(o, 0.2, total_iters=20), L.StepLR(o, 15, 0.7),
                                                          L.CosineAnnealingLR(o, T_max=150)], o), 120,
                 lambda b, i: S.chained_scheduler([S.linear_lr(b, 0.2, total_iters=20), S.step_lr(b, 15, 0.7),
                                                   S.cosine_annealing_lr(b, T_max=150)])),
}
NOT_TRACEABLE = {"multiplicative_py", "lambda_list"}  # user lambdas with Python branching / ints


def momentum_values(opt, kind):
    return [g["betas"][0] if kind == "adam" else g["momentum"] for g in opt.param_groups]


def snapshot(sched, opt, kind):
    return (list(sched.get_last_lr()), [g["lr"] for g in opt.param_groups], momentum_values(opt, kind),
            [g.get("betas") for g in opt.param_groups])


def assert_close(actual, expected, rel=REL, what=""):
    a, e = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    assert a.shape == e.shape, what
    np.testing.assert_allclose(a, e, rtol=rel, atol=0, err_msg=what)


def run_pair(case_id, steps=None):
    kind, build, n = CASES[case_id][:3]
    t_opt, j_opt = make_optimizers(kind)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_s, j_s = build(TL, t_opt), build(JL, j_opt)
        t_hist, j_hist = [snapshot(t_s, t_opt, kind)], [snapshot(j_s, j_opt, kind)]
        for _ in range(n if steps is None else steps):
            t_s.step()
            j_s.step()
            t_hist.append(snapshot(t_s, t_opt, kind))
            j_hist.append(snapshot(j_s, j_opt, kind))
    return (t_opt, t_s, t_hist), (j_opt, j_s, j_hist)


def check_histories(t_hist, j_hist):
    for k, (t, j) in enumerate(zip(t_hist, j_hist)):
        for what, tv, jv in zip(("get_last_lr", "group lr", "momentum"), t, j):
            assert all(isinstance(v, float) for v in jv), (k, what, jv)  # Python floats: no retrace
            assert_close(jv, tv, what=f"step {k}: {what}")
        if t[3][0] is not None:
            assert [type(b) for b in j[3]] == [tuple, tuple]
            assert_close(j[3], t[3], what=f"step {k}: betas")


@pytest.mark.parametrize("case_id", list(CASES))
def test_class_matches_torch(case_id):
    (_, _, t_hist), (_, _, j_hist) = run_pair(case_id)
    check_histories(t_hist, j_hist)
    # The classes port torch's Python float arithmetic: bit-for-bit equal.
    assert [h[:3] for h in j_hist] == [h[:3] for h in t_hist]


def group_state(opt):
    return [{k: copy.deepcopy(v) for k, v in g.items() if k != "params"} for g in opt.param_groups]


def restore_groups(opt, groups):
    for g, saved in zip(opt.param_groups, groups):
        g.update(copy.deepcopy(saved))


@pytest.mark.parametrize("case_id", list(CASES))
def test_state_dict_resume(case_id):
    kind, build, n = CASES[case_id][:3]
    mid = 37
    t_opt, j_opt = make_optimizers(kind)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_s, j_s = build(TL, t_opt), build(JL, j_opt)
        for _ in range(mid):
            t_s.step()
            j_s.step()
        t_sd, j_sd = t_s.state_dict(), j_s.state_dict()
        assert set(j_sd) == set(t_sd)
        t_groups, j_groups = group_state(t_opt), group_state(j_opt)
        # fresh jopt schedulers: one loads jopt's state_dict, one loads torch's
        resumed = []
        for sd, groups in ((j_sd, j_groups), (copy.deepcopy(t_sd), t_groups)):
            _, opt = make_optimizers(kind)
            sched = build(JL, opt)
            restore_groups(opt, groups)
            sched.load_state_dict(sd)
            resumed.append((opt, sched))
        t_hist, j_hist = [], [[] for _ in resumed]
        for _ in range(n - mid):
            t_s.step()
            t_hist.append(snapshot(t_s, t_opt, kind))
            for hist, (opt, sched) in zip(j_hist, resumed):
                sched.step()
                hist.append(snapshot(sched, opt, kind))
    for hist in j_hist:
        check_histories(t_hist, hist)


@pytest.mark.parametrize("case_id", list(CASES))
def test_functional_matches_class(case_id):
    kind, build, n, lr_fn, *rest = CASES[case_id]
    mom_fn = rest[0] if rest else None
    _, (j_opt, j_s, j_hist) = run_pair(case_id)
    lrs = np.array([h[0] for h in j_hist])  # (steps + 1, groups)
    moms = np.array([h[2] for h in j_hist])
    counts = np.arange(n + 1)
    with jax.enable_x64(True):
        for i, group in enumerate(GROUPS[kind]):
            schedules = [(lr_fn(group["lr"], i), lrs[:, i], "lr")]
            if mom_fn is not None:
                schedules.append((mom_fn(i), moms[:, i], "momentum"))
            for sched, expected, what in schedules:
                eager = [float(sched(int(c))) for c in counts]
                assert_close(eager, expected, what=f"{what} eager, group {i}")
                if case_id not in NOT_TRACEABLE:
                    traced = jax.jit(jax.vmap(sched))(jnp.asarray(counts))
                    assert traced.dtype == jnp.float64
                    assert_close(traced, expected, what=f"{what} jit, group {i}")


def test_momentum_schedules_feed_jopt_optimizers():
    """The momentum companions as betas[0] of jopt.adam: a schedule inside a tuple hyperparameter."""
    tx = jopt.adam(S.one_cycle_lr(0.1, total_steps=20), betas=(S.one_cycle_momentum(total_steps=20), 0.999))
    params = jnp.ones(3)
    state = tx.init(params)
    for _ in range(3):
        _, state = jax.jit(tx.update)(jnp.ones(3), state, params)
    ref = S.one_cycle_momentum(total_steps=20)(2)
    np.testing.assert_allclose(state.hyperparams.betas[0], ref, rtol=1e-6)


@pytest.mark.parametrize(
    "case_id, epochs",
    [
        ("step", [3, 7, 7, 20, 5, 14]),
        ("multistep", [5, 30, 31, 100, 10]),
        ("constant", [3, 20, 40, 1]),
        ("linear_up", [1, 10, 40, 80, 3]),
        ("exponential", [0, 5, 50, 2]),
        ("poly2", [3, 30, 60, 90]),
        ("cosine", [1, 15, 30, 31, 45, 200]),
        ("warm", [3, 11, 25, 2]),
        ("warm_mult2", [3, 5.5, 14, 40, 101, 2]),
        ("warm_mult3", [1, 3.25, 12, 39, 100]),
        ("lambda", [4, 9, 2]),
    ],
)
def test_step_with_epoch_uses_closed_form(case_id, epochs):
    kind, build = CASES[case_id][:2]
    t_opt, j_opt = make_optimizers(kind)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t_s, j_s = build(TL, t_opt), build(JL, j_opt)
        for e in epochs:
            t_s.step(e)
            j_s.step(e)
            assert j_s.get_last_lr() == t_s.get_last_lr()
            assert j_s.last_epoch == t_s.last_epoch
            t_s.step()
            j_s.step()
            assert j_s.get_last_lr() == t_s.get_last_lr()
    if case_id.startswith("warm"):  # torch's own step() there warns about nothing
        return
    messages = [str(w.message) for w in caught]
    assert any("epoch parameter" in m for m in messages)


def test_order_warning_and_verbose():
    for module in (TL, JL):
        t_opt, j_opt = make_optimizers("sgd")
        opt = t_opt if module is TL else j_opt
        sched = module.StepLR(opt, 3)
        with pytest.warns(UserWarning, match="before `optimizer.step"):
            sched.step()
    _, j_opt = make_optimizers("sgd")
    sched = JL.StepLR(j_opt, 3)
    j_opt.step()  # no grads: a no-op step, but it counts as optimizer.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sched.step()
    for cls, kwargs in [(JL.ExponentialLR, dict(gamma=0.9)), (JL.CosineAnnealingLR, dict(T_max=3)),
                        (JL.ReduceLROnPlateau, {}), (JL.OneCycleLR, dict(max_lr=0.1, total_steps=10)),
                        (JL.CyclicLR, dict(base_lr=0.01, max_lr=0.1)), (JL.LambdaLR, dict(lr_lambda=lambda e: 1))]:
        _, j_opt = make_optimizers("sgd")
        with pytest.warns(UserWarning, match="verbose parameter is deprecated"):
            cls(j_opt, verbose=True, **kwargs)


def test_errors_match_torch():
    t_opt, j_opt = make_optimizers("sgd")
    for module, opt in ((TL, t_opt), (JL, j_opt)):
        with pytest.raises(ValueError, match="between 0 and 1"):
            module.ConstantLR(opt, factor=1.5)
        with pytest.raises(ValueError, match="Starting multiplicative factor"):
            module.LinearLR(opt, start_factor=0)
        with pytest.raises(ValueError, match="Expected positive integer T_0"):
            module.CosineAnnealingWarmRestarts(opt, T_0=0)
        with pytest.raises(ValueError, match="Factor should be < 1.0"):
            module.ReduceLROnPlateau(opt, factor=1.0)
        with pytest.raises(ValueError, match="mode is invalid"):
            module.CyclicLR(opt, 0.01, 0.1, mode="nope")
        with pytest.raises(ValueError, match="total_steps OR"):
            module.OneCycleLR(opt, 0.1)
        with pytest.raises(ValueError, match="pct_start"):
            module.OneCycleLR(opt, 0.1, total_steps=10, pct_start=1)
        with pytest.raises(ValueError, match="Expected 2 lr_lambdas"):
            module.LambdaLR(opt, [lambda e: 1.0])
        with pytest.raises(KeyError):
            fresh = make_optimizers("sgd")[0 if module is TL else 1]
            module.StepLR(fresh, 3, last_epoch=5)
    # OneCycleLR past total_steps
    for module, opt in zip((TL, JL), make_optimizers("sgd")):
        sched = module.OneCycleLR(opt, 0.1, total_steps=3)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for _ in range(3):
                sched.step()
            with pytest.raises(ValueError, match="Tried to step 4 times"):
                sched.step()
    # cycle_momentum on an optimizer with neither momentum nor betas
    t_opt = torch.optim.Adagrad([torch.zeros(1, requires_grad=True)])
    _, j_opt = make_optimizers("sgd")
    del j_opt.defaults["momentum"]
    for module, opt in ((TL, t_opt), (JL, j_opt)):
        with pytest.raises(ValueError, match="must support momentum or beta1"):
            module.CyclicLR(opt, 0.01, 0.1)
        with pytest.raises(ValueError, match="must support momentum or beta1"):
            module.OneCycleLR(opt, 0.1, total_steps=10)
        module.CyclicLR(opt, 0.01, 0.1, cycle_momentum=False)  # fine without


def test_lambda_state_dict_saves_only_callable_objects():
    for module, opt in zip((TL, JL), make_optimizers("sgd")):
        halving = Halving(4)
        sched = module.LambdaLR(opt, [lambda e: 1.0, halving])
        sd = sched.state_dict()
        assert sd["lr_lambdas"] == [None, {"every": 4}]
        halving.every = 100
        sched.load_state_dict(sd)
        assert halving.every == 4


def test_scheduled_optimizer_does_not_retrace():
    p = jopt.optim.Parameter(jnp.ones(3))
    opt = jopt.optim.SGD([p], lr=0.1, momentum=0.9)
    sched = JL.OneCycleLR(opt, 0.5, total_steps=10)
    for k in range(10):
        p.grad = jnp.ones(3)
        opt.step()
        sched.step()
        if k == 1:  # the first two steps compile (fresh state, then established state)
            traces = opt.trace_count
    assert opt.trace_count == traces


# --- ReduceLROnPlateau -------------------------------------------------------------------------


def metric_sequence(seed, n=150):
    rng = np.random.default_rng(seed)
    steps = rng.choice([-1.0, 0.0, 0.0, 1e-6, 1.0], size=n) * rng.uniform(0.0, 0.1, size=n)
    return list(1.0 + np.cumsum(steps))


PLATEAU = [
    dict(),
    dict(mode="max", patience=3),
    dict(mode="min", threshold_mode="abs", threshold=0.01, patience=2, cooldown=3, factor=0.5),
    dict(mode="max", threshold_mode="abs", threshold=0.0, patience=0, factor=0.7, min_lr=[0.003, 0.01]),
    dict(mode="min", threshold=0.05, patience=1, cooldown=2, factor=0.3, min_lr=1e-3, eps=1e-3),
]


@pytest.mark.parametrize("kwargs", PLATEAU)
@pytest.mark.parametrize("seed", [0, 1])
def test_reduce_on_plateau(kwargs, seed):
    metrics = metric_sequence(seed)
    t_opt, j_opt = make_optimizers("sgd")
    t_s, j_s = TL.ReduceLROnPlateau(t_opt, **kwargs), JL.ReduceLROnPlateau(j_opt, **kwargs)
    expected = []
    for k, m in enumerate(metrics):
        t_s.step(m)
        j_s.step(np.float64(m) if k % 2 else m)  # any number-like metric
        if k == 60:  # resume mid-run from a state_dict
            sd = j_s.state_dict()
            assert set(sd) == set(t_s.state_dict())
            j_s = JL.ReduceLROnPlateau(j_opt, **kwargs)
            j_s.load_state_dict(copy.deepcopy(t_s.state_dict()))
        assert j_s.get_last_lr() == t_s.get_last_lr(), k
        assert (j_s.best, j_s.num_bad_epochs, j_s.cooldown_counter) == (t_s.best, t_s.num_bad_epochs, t_s.cooldown_counter)
        expected.append(t_s.get_last_lr())
    expected = np.array(expected)
    assert len(set(expected[:, 0])) > 1 or kwargs.get("patience", 10) >= 10  # the sequence does reduce

    # The functional transformation: one per group (own lr and min_lr), metric through update(value=).
    min_lrs = kwargs.get("min_lr", 0.0)
    min_lrs = min_lrs if isinstance(min_lrs, list) else [min_lrs] * 2
    with jax.enable_x64(True):
        for i, group in enumerate(GROUPS["sgd"]):
            fkw = dict(kwargs, min_lr=min_lrs[i])
            tx = S.reduce_lr_on_plateau(group["lr"], **fkw)
            state = tx.init(None)
            update = jax.jit(tx.update)
            ones = jnp.ones(2)
            for k, m in enumerate(metrics):
                updates, state = update(ones, state, value=m)
                before = expected[k - 1, i] if k else group["lr"]
                assert_close(updates, [before / group["lr"]] * 2, rel=1e-15)
                assert_close(state.lr, expected[k, i], rel=0, what=f"step {k}")
            # value=None leaves the plateau logic alone
            _, same = tx.update(ones, state)
            assert same is state


def test_reduce_on_plateau_chains_with_jopt():
    with jax.enable_x64(True):
        tx = optax.chain(jopt.sgd(0.1), S.reduce_lr_on_plateau(0.1, patience=0, factor=0.5))
        params = jnp.zeros(2)
        state = tx.init(params)
        for metric in (1.0, 2.0, 3.0):
            updates, state = tx.update(jnp.ones(2), state, params, value=metric)
        # two bad epochs halved the lr twice; this update used the lr after one halving
        np.testing.assert_allclose(updates, [-0.05, -0.05], rtol=1e-15)
        assert float(state[1].lr) == 0.025


def test_schedule_argument_checks():
    with pytest.raises(ValueError):
        S.constant_lr(0.1, factor=2.0)
    with pytest.raises(ValueError):
        S.linear_lr(0.1, start_factor=0.0)
    with pytest.raises(ValueError):
        S.cosine_annealing_warm_restarts(0.1, T_0=0)
    with pytest.raises(ValueError):
        S.one_cycle_lr(0.1)
    with pytest.raises(ValueError):
        S.cyclic_lr(0.1, 1.0, mode="bad")
    with pytest.raises(ValueError):
        S.reduce_lr_on_plateau(factor=2.0)
    with pytest.raises(ValueError):
        S.sequential_lr([S.step_lr(0.1, 3)], milestones=[3])
    # a one-cycle count past total_steps holds the last value (torch raises instead)
    sched = S.one_cycle_lr(0.1, total_steps=10)
    assert float(sched(15)) == float(sched(10))
