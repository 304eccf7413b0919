"""What the parity suite sweeps: one Spec per optimizer (see parity.py)."""

import numpy as np
import torch

import jopt
import jopt.optim
from parity import Spec

SPECS = [
    Spec(
        "sgd",
        jopt.sgd,
        torch.optim.SGD,
        jopt.optim.SGD,
        grid=dict(
            momentum=[0.0, 0.9],
            dampening=[0.0, 0.3],
            weight_decay=[0.0, 0.1],
            nesterov=[False, True],
            maximize=[False, True],
        ),
        valid=lambda c: not c["nesterov"] or (c["momentum"] > 0 and c["dampening"] == 0),
        vary=dict(lr=[0.05, 0.01]),
    ),
    Spec(
        "adam",
        jopt.adam,
        torch.optim.Adam,
        jopt.optim.Adam,
        grid=dict(
            weight_decay=[0.0, 0.1],
            amsgrad=[False, True],
            maximize=[False, True],
            decoupled_weight_decay=[False, True],
        ),
        vary=dict(lr=[0.01, 0.03], betas=[(0.9, 0.999), (0.5, 0.9), (0.8, 0.8)]),
        valid=lambda c: c["weight_decay"] or not c["decoupled_weight_decay"],
    ),
    Spec(
        "adamw",
        jopt.adamw,
        torch.optim.AdamW,
        jopt.optim.AdamW,
        grid=dict(weight_decay=[0.0, 0.1], amsgrad=[False, True], maximize=[False, True]),
        vary=dict(lr=[0.01], betas=[(0.9, 0.999), (0.5, 0.9)]),
    ),
    Spec(
        "rmsprop",
        jopt.rmsprop,
        torch.optim.RMSprop,
        jopt.optim.RMSprop,
        grid=dict(
            weight_decay=[0.0, 0.1],
            momentum=[0.0, 0.5],
            centered=[False, True],
            maximize=[False, True],
        ),
        vary=dict(lr=[0.01, 0.003], alpha=[0.99, 0.5, 0.3]),
    ),
]

ADAM_FAMILY_GRID = dict(
    weight_decay=[0.0, 0.1],
    decoupled_weight_decay=[False, True],
    maximize=[False, True],
)
SPECS += [
    Spec(
        "adagrad",
        jopt.adagrad,
        torch.optim.Adagrad,
        jopt.optim.Adagrad,
        grid=dict(lr_decay=[0.0, 0.05], weight_decay=[0.0, 0.1], initial_accumulator_value=[0.0, 0.3], maximize=[False, True]),
        vary=dict(lr=[0.05, 0.01], eps=[1e-10, 1e-3]),
    ),
    Spec(
        "adadelta",
        jopt.adadelta,
        torch.optim.Adadelta,
        jopt.optim.Adadelta,
        grid=dict(weight_decay=[0.0, 0.1], maximize=[False, True]),
        vary=dict(lr=[1.0, 0.5], rho=[0.9, 0.3], eps=[1e-6, 1e-3]),
    ),
    Spec(
        "adamax",
        jopt.adamax,
        torch.optim.Adamax,
        jopt.optim.Adamax,
        grid=dict(weight_decay=[0.0, 0.1], maximize=[False, True]),
        vary=dict(lr=[0.01, 0.002], betas=[(0.9, 0.999), (0.5, 0.9)], eps=[1e-8, 1e-3]),
    ),
    Spec(
        "nadam",
        jopt.nadam,
        torch.optim.NAdam,
        jopt.optim.NAdam,
        grid=ADAM_FAMILY_GRID,
        valid=lambda c: c["weight_decay"] or not c["decoupled_weight_decay"],
        vary=dict(lr=[0.01, 0.002], betas=[(0.9, 0.999), (0.5, 0.9)], momentum_decay=[4e-3, 0.1]),
    ),
    Spec(
        "radam",
        jopt.radam,
        torch.optim.RAdam,
        jopt.optim.RAdam,
        grid=ADAM_FAMILY_GRID,
        valid=lambda c: c["weight_decay"] or not c["decoupled_weight_decay"],
        # beta2 = 0.9 crosses into the rectified branch after 6 steps, 0.999 after 5.
        vary=dict(lr=[0.01, 0.003], betas=[(0.9, 0.999), (0.5, 0.9), (0.9, 0.99)]),
    ),
]


def _sparse_grad(rng, g):
    """Embedding-like gradients for SparseAdam: whole rows absent, single entries absent, and now
    and then no entry at all (torch then skips the tensor but still counts the step)."""
    if rng.random() < 0.1:
        return np.zeros_like(g)
    rows = rng.random(g.shape[:1] + (1,) * (g.ndim - 1)) < 0.4
    entries = rng.random(g.shape) < 0.2
    return np.where(rows | entries, 0, g).astype(g.dtype)


SPECS += [
    Spec(
        "asgd",
        jopt.asgd,
        torch.optim.ASGD,
        jopt.optim.ASGD,
        grid=dict(
            lr=[0.01],
            lambd=[1e-4, 0.05],
            alpha=[0.75],
            t0=[1e6, 20.0],
            weight_decay=[0.0, 0.1],
            maximize=[False, True],
        ),
        # No option here changes the code path but maximize: 4 configurations cover every value.
        valid=lambda c: (c["weight_decay"] > 0) == (c["lambd"] > 1e-3) and c["maximize"] == (c["t0"] < 100),
        check_state=("ax", "eta", "mu"),
    ),
    Spec(
        "rprop",
        jopt.rprop,
        torch.optim.Rprop,
        jopt.optim.Rprop,
        grid=dict(
            lr=[0.01],
            etas=[(0.5, 1.2), (0.3, 1.5)],
            step_sizes=[(1e-6, 50), (1e-3, 0.05)],
            maximize=[False, True],
        ),
        valid=lambda c: c["maximize"] == (c["etas"] != (0.5, 1.2)),  # 4 configurations cover every value
    ),
    Spec(
        "sparse_adam",
        jopt.sparse_adam,
        torch.optim.SparseAdam,
        jopt.optim.SparseAdam,
        grid=dict(lr=[0.01], betas=[(0.9, 0.999), (0.5, 0.9)], maximize=[False, True]),
        torch_extra={},
        complex_ok=False,
        grad_transform=_sparse_grad,
        torch_grad=lambda t: t.to_sparse(),
    ),
    Spec(
        "adafactor",
        jopt.adafactor,
        torch.optim.Adafactor,
        jopt.optim.Adafactor,
        grid=dict(
            lr=[0.01, 0.5],
            beta2_decay=[-0.8, -0.5],
            eps=[(None, 1e-3), (1e-2, 1.0)],
            d=[1.0, 3.0],
            weight_decay=[0.0, 0.1],
            maximize=[False, True],
        ),
        # The paths are maximize, eps1 None or given, and the tensor's rank (every config has
        # matrices, a vector and a 3-d tensor); the numeric options are paired to keep 4 configs:
        # lr=0.5 switches rho_t from 1/sqrt(t) to lr, eps=(1e-2, 1.0) clamps the small-gradient
        # leaf's variance and makes eps2 win in alpha, d=1 and d=3 clip on and off.
        valid=lambda c: (c["lr"] == 0.5) == (c["beta2_decay"] == -0.5) == (c["d"] == 3.0) == (c["weight_decay"] > 0)
        and c["maximize"] == (c["eps"][0] is not None),
        complex_ok=False,
    ),
]

BY_NAME = {s.name: s for s in SPECS}
