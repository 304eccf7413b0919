"""``jopt.optim.Adam`` and ``AdamW``: torch's classes running :func:`jopt.adam`."""

import jopt
import jopt.core
from jopt.optim.optimizer import Optimizer, torch_defaults


class Adam(Optimizer):
    __doc__ = jopt.core.adam.__doc__
    functional = staticmethod(jopt.adam)
    _elementwise = True

    def __init__(
        self,
        params,
        lr=1e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0,
        amsgrad=False,
        *,
        foreach=None,
        maximize=False,
        capturable=False,
        differentiable=False,
        fused=None,
        decoupled_weight_decay=False,
    ):
        super().__init__(params, torch_defaults(locals()))


class AdamW(Adam):
    __doc__ = jopt.core.adam.__doc__

    def __init__(
        self,
        params,
        lr=1e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=1e-2,
        amsgrad=False,
        *,
        maximize=False,
        foreach=None,
        capturable=False,
        differentiable=False,
        fused=None,
    ):
        super().__init__(
            params,
            lr,
            betas,
            eps,
            weight_decay,
            amsgrad,
            foreach=foreach,
            maximize=maximize,
            capturable=capturable,
            differentiable=differentiable,
            fused=fused,
            decoupled_weight_decay=True,
        )
