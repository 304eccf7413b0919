"""``jopt.optim.Adafactor``: torch's ``torch.optim.Adafactor`` running :func:`jopt.adafactor`."""

import jopt
import jopt.core
from jopt.optim.optimizer import Optimizer


class Adafactor(Optimizer):
    __doc__ = jopt.core.adafactor.__doc__
    functional = staticmethod(jopt.adafactor)

    def __init__(
        self,
        params,
        lr=1e-2,
        beta2_decay=-0.8,
        eps=(None, 1e-3),
        d=1.0,
        weight_decay=0.0,
        *,
        foreach=None,
        maximize=False,
    ):
        defaults = dict(
            lr=lr,
            beta2_decay=beta2_decay,
            eps=eps,
            d=d,
            weight_decay=weight_decay,
            foreach=foreach,
            maximize=maximize,
        )
        super().__init__(params, defaults)
