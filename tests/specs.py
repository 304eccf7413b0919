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

BY_NAME = {s.name: s for s in SPECS}
