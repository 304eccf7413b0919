"""``jopt.optim.SparseAdam``: torch's ``torch.optim.SparseAdam`` running :func:`jopt.sparse_adam`.

``.grad`` holds the dense gradient (what :func:`jopt.optim.backward` gives); its entries equal to
zero are the absent ones, as torch's SparseAdam sees ``grad.to_sparse()``."""

import jax.numpy as jnp

import jopt
import jopt.core
from jopt.optim.optimizer import Optimizer, torch_defaults


class SparseAdam(Optimizer):
    __doc__ = jopt.core.sparse_adam.__doc__
    functional = staticmethod(jopt.sparse_adam)
    _elementwise = True
    _step_type = int  # torch keeps SparseAdam's step as a Python int

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, maximize=False):
        super().__init__(params, torch_defaults(locals()))
        complex_params = [
            [index, d_index]
            for index, group in enumerate(self.param_groups)
            for d_index, param in enumerate(group["params"])
            if jnp.iscomplexobj(param.data)
        ]
        if complex_params:
            raise ValueError(
                f"Complex params at indices {complex_params}: SparseAdam does not support complex parameters"
            )
