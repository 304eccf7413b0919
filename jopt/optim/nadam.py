"""``jopt.optim.NAdam``: torch's ``torch.optim.NAdam`` running :func:`jopt.nadam`."""

import jopt
import jopt.core.nadam
from jopt.optim.optimizer import Optimizer, torch_defaults


class NAdam(Optimizer):
    __doc__ = jopt.core.nadam.__doc__
    functional = staticmethod(jopt.nadam)
    _elementwise = True

    def __init__(
        self,
        params,
        lr=2e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0,
        momentum_decay=4e-3,
        decoupled_weight_decay=False,
        *,
        foreach=None,
        maximize=False,
        capturable=False,
        differentiable=False,
    ):
        super().__init__(params, torch_defaults(locals()))
