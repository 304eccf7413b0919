"""Every ``torch.optim.lr_scheduler`` as a pure function of the step count.

``jopt.schedules.<name>(base_value, **torch_args)`` returns ``count -> value``: the value torch's
scheduler holds after ``count`` calls of its ``step()``. Hand it to any jopt (or optax)
hyperparameter: ``jopt.sgd(lr=jopt.schedules.step_lr(0.1, step_size=30))``.
"""

from __future__ import annotations

import jax.numpy as jnp


def step_lr(lr, step_size: int, gamma: float = 0.1):
    r""":math:`\text{lr}\cdot\gamma^{\lfloor c / \text{step\_size}\rfloor}`, torch's ``StepLR``."""
    if step_size <= 0:
        raise ValueError(f"step_size must be a positive integer, got {step_size}")

    def schedule(count):
        return lr * gamma ** (jnp.asarray(count) // step_size)

    return schedule
