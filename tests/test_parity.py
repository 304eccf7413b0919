"""Functional core vs torch: every option combination, float32 and float64, eager and jitted."""

import numpy as np
import pytest

from parity import run_functional
from specs import SPECS

CASES = [(spec, config) for spec in SPECS for config in spec.configs()]


def _id(case):
    spec, config = case
    return spec.name + "-" + "-".join(f"{k}={v}" for k, v in config.items() if k != "lr")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_jitted_matches_torch(case, dtype):
    spec, config = case
    run_functional(spec, config, dtype, jit=True)


# Eager runs the same code op by op; its first and last configurations per optimizer (fewest and
# most options on) cover it without paying op-by-op dispatch for the whole grid.
EAGER = [c for spec in SPECS for c in CASES if c[0] is spec and c[1] in (spec.configs()[0], spec.configs()[-1])]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", EAGER, ids=[_id(c) for c in EAGER])
def test_eager_matches_torch(case, dtype):
    spec, config = case
    run_functional(spec, config, dtype, jit=False, steps=30, check_every=10)
