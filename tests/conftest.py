import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))

# The tensors here are tiny: torch's intra-op thread pool only costs time (1.3 ms instead of 3 us
# for SparseAdam's sparse add_ on a shared 2-core machine). Small reductions run single-threaded
# either way, so results do not change.
torch.set_num_threads(1)
