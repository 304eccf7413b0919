"""``jopt.optim.RAdam``: torch's ``torch.optim.RAdam`` running :func:`jopt.radam`."""

import jopt
import jopt.core.radam
from jopt.optim.optimizer import Optimizer, torch_defaults


class RAdam(Optimizer):
    __doc__ = jopt.core.radam.__doc__
    functional = staticmethod(jopt.radam)
    _elementwise = True

    def __init__(
        self,
        params,
        lr=1e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0,
        decoupled_weight_decay=False,
        *,
        foreach=None,
        maximize=False,
        capturable=False,
        differentiable=False,
    ):
        super().__init__(params, torch_defaults(locals()))
