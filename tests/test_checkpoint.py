"""Checkpoints: a resumed run equals the uninterrupted one step for step; bad checkpoints change nothing.

Sharded arrays are covered by ``sharding_checks.py`` (cases ``checkpoint-*``, 8 devices).
"""

import io
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import jopt
import jopt.checkpoint as ckpt
import jopt.optim as jo

# orbax's asyncio loop complains when a failed read is torn down; the failure itself is what we test.
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")

SHAPES = {"w": (4, 3), "b": (3,)}


def grads_at(step):
    rng = np.random.default_rng(100 + step)
    return {k: jnp.asarray(rng.standard_normal(s).astype(np.float32)) for k, s in SHAPES.items()}


def params0():
    rng = np.random.default_rng(0)
    return {k: jnp.asarray(rng.standard_normal(s).astype(np.float32)) for k, s in SHAPES.items()}


def make_step(tx):
    @jax.jit
    def step(grads, state, params):
        updates, state = tx.update(grads, state, params)
        return jopt.apply_updates(params, updates), state

    return step


def assert_trees_equal(a, b):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.mark.parametrize(
    "tx_fn", [lambda: jopt.adam(lr=0.01, amsgrad=True), lambda: jopt.sgd(lr=0.05, momentum=0.9)], ids=["adam", "sgd"]
)
def test_functional_resume_equals_uninterrupted(tmp_path, tx_fn):
    tx = tx_fn()
    step = make_step(tx)
    params, state = params0(), tx.init(params0())
    for i in range(5):
        params, state = step(grads_at(i), state, params)
    ckpt.save(tmp_path / "ck", {"params": params, "opt": state})
    uninterrupted = []
    for i in range(5, 10):
        params, state = step(grads_at(i), state, params)
        uninterrupted.append((params, state))

    fresh = tx_fn().init(params0())
    restored = ckpt.restore(tmp_path / "ck", like={"params": params0(), "opt": fresh})
    assert isinstance(restored["opt"], jopt.OptState)
    params, state = restored["params"], restored["opt"]
    for i, expected in zip(range(5, 10), uninterrupted):
        params, state = step(grads_at(i), state, params)
        assert_trees_equal((params, state), expected)


def test_functional_mismatch_and_corruption_raise(tmp_path):
    tx = jopt.adam(lr=0.01)
    state = tx.init(params0())
    ckpt.save(tmp_path / "ck", state)
    with pytest.raises(ValueError, match="max_exp_avg_sq"):  # amsgrad adds a buffer
        ckpt.restore(tmp_path / "ck", like=jopt.adam(amsgrad=True).init(params0()))
    bigger = dict(params0(), w=jnp.zeros((5, 3)))
    with pytest.raises(ValueError, match=r"\(5, 3\)|\[5, 3\]"):
        ckpt.restore(tmp_path / "ck", like=tx.init(bigger))
    with pytest.raises(ValueError, match="cannot read"):
        ckpt.restore(tmp_path / "missing", like=state)
    _corrupt(tmp_path / "ck")
    with pytest.raises(ValueError, match="cannot read"):
        ckpt.restore(tmp_path / "ck", like=state)


def _corrupt(path):
    """Overwrite every array data file of an orbax checkpoint with garbage."""
    hit = 0
    for root, _, files in os.walk(path / "arrays"):
        for name in files:
            if not name.startswith("_") and "METADATA" not in name and not name.endswith(".json"):
                with open(os.path.join(root, name), "wb") as f:
                    f.write(b"not a checkpoint")
                hit += 1
    assert hit, "no data file found to corrupt"


class Run:
    """jopt.optim Adam with two groups and a StepLR."""

    def __init__(self, seed=0, cls=jo.Adam, **config):
        rng = np.random.default_rng(seed)
        self.params = [jo.Parameter(rng.standard_normal(s).astype(np.float32)) for s in [(4, 3), (3,), (2, 2)]]
        groups = [{"params": self.params[:2]}, {"params": self.params[2:], "lr": 0.02}]
        self.opt = cls(groups, **(config or dict(lr=0.01, weight_decay=0.1, amsgrad=True)))
        self.sched = jo.lr_scheduler.StepLR(self.opt, step_size=3, gamma=0.5)

    def step(self, i):
        rng = np.random.default_rng(1000 + i)
        for p in self.params:
            p.grad = jnp.asarray(rng.standard_normal(p.shape).astype(np.float32))
        self.opt.step()
        self.sched.step()

    def snapshot(self):
        sd = self.opt.state_dict()
        return [np.asarray(p.data) for p in self.params], jax.tree.map(np.asarray, sd["state"]), sd["param_groups"]


def assert_snapshots_equal(a, b):
    for x, y in zip(a[0], b[0]):
        np.testing.assert_array_equal(x, y)
    assert_trees_equal(a[1], b[1])
    assert a[2] == b[2]


def test_optimizer_resume_equals_uninterrupted(tmp_path):
    run = Run()
    for i in range(4):
        run.step(i)
    ckpt.save_optimizer(tmp_path / "ck", run.opt, run.sched)
    expected = []
    for i in range(4, 9):
        run.step(i)
        expected.append(run.snapshot())

    resumed = Run(seed=1)  # other values everywhere: all must come from the checkpoint
    ckpt.restore_optimizer(tmp_path / "ck", resumed.opt, resumed.sched)
    assert resumed.sched.last_epoch == 4
    assert isinstance(resumed.opt.param_groups[0]["betas"], tuple)
    for i, snap in zip(range(4, 9), expected):
        resumed.step(i)
        assert_snapshots_equal(resumed.snapshot(), snap)
    assert resumed.sched.get_last_lr() == run.sched.get_last_lr()


def test_optimizer_bad_checkpoints_change_nothing(tmp_path):
    run = Run()
    for i in range(3):
        run.step(i)
    ckpt.save_optimizer(tmp_path / "ck", run.opt, run.sched)
    sgd = Run(cls=jo.SGD, lr=0.1, momentum=0.9)
    sgd.step(0)
    ckpt.save_optimizer(tmp_path / "sgd", sgd.opt)
    ckpt.save(tmp_path / "tree", params0())

    target = Run(seed=2)
    target.step(0)
    before = target.snapshot()
    other_shapes = Run(seed=3)
    other_shapes.params[2].data = jnp.zeros((2, 3))
    cases = [
        (lambda: ckpt.restore_optimizer(tmp_path / "sgd", target.opt), "SGD"),
        (lambda: ckpt.restore_optimizer(tmp_path / "ck", target.opt), "scheduler"),
        (lambda: ckpt.restore_optimizer(tmp_path / "tree", target.opt, target.sched), "restore"),
        (lambda: ckpt.restore_optimizer(tmp_path / "nothing", target.opt, target.sched), "cannot read"),
        (lambda: ckpt.restore_optimizer(tmp_path / "ck", other_shapes.opt, other_shapes.sched), r"\[2, 3\]"),
    ]
    for restore, match in cases:
        with pytest.raises(ValueError, match=match):
            restore()
        assert_snapshots_equal(target.snapshot(), before)
    _corrupt(tmp_path / "ck")
    last_epoch = target.sched.last_epoch
    with pytest.raises(ValueError, match="cannot read"):
        ckpt.restore_optimizer(tmp_path / "ck", target.opt, target.sched)
    assert_snapshots_equal(target.snapshot(), before)
    assert target.sched.last_epoch == last_epoch


def test_torch_save_route_round_trips(tmp_path):
    """to_torch + torch.save, then torch.load + load_state_dict: into jopt and into torch."""
    run = Run(cls=jo.Adam, lr=0.01, weight_decay=0.1, amsgrad=True)
    for i in range(4):
        run.step(i)
    buffer = io.BytesIO()
    torch.save(jo.to_torch(run.opt.state_dict()), buffer)
    loaded = lambda: torch.load(io.BytesIO(buffer.getvalue()))  # noqa: E731

    resumed = Run(seed=5, cls=jo.Adam, lr=0.01, weight_decay=0.1, amsgrad=True)
    for p, q in zip(resumed.params, run.params):
        p.data = jnp.array(q.data)
    resumed.opt.load_state_dict(loaded())
    resumed.sched.load_state_dict(run.sched.state_dict())

    t_params = [torch.tensor(np.asarray(p.data), requires_grad=True) for p in run.params]
    t_opt = torch.optim.Adam(
        [{"params": t_params[:2]}, {"params": t_params[2:], "lr": 0.02}], lr=0.01, weight_decay=0.1, amsgrad=True,
        foreach=False,
    )
    t_opt.load_state_dict(loaded())
    for i in range(4, 8):
        run.step(i)
        resumed.step(i)
        rng = np.random.default_rng(1000 + i)
        for t in t_params:
            t.grad = torch.tensor(rng.standard_normal(tuple(t.shape)).astype(np.float32))
        t_opt.step()
        for g, lr in zip(t_opt.param_groups, run.sched.get_last_lr()):
            g["lr"] = lr
        assert_snapshots_equal(resumed.snapshot(), run.snapshot())
        for t, p in zip(t_params, run.params):
            np.testing.assert_allclose(t.detach().numpy(), np.asarray(p.data), rtol=1e-5, atol=1e-5)
