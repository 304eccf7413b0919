"""What the parity suite sweeps: one Spec per optimizer (see parity.py)."""

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

BY_NAME = {s.name: s for s in SPECS}
