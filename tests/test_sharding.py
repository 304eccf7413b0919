"""Sharded params, ZeRO-1 and sharded checkpoints on 8 simulated CPU devices.

The checks live in ``sharding_checks.py`` and run in ONE subprocess (the device count is fixed
when JAX starts, and the rest of the suite runs on one device); each case is reported here as
its own test.
"""

import json
import os
import subprocess
import sys

import pytest

import sharding_checks

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope="module")
def results():
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    proc = subprocess.run(
        [sys.executable, os.path.join(HERE, "sharding_checks.py")],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        pytest.fail(f"sharding_checks.py failed (rc {proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(lines[-1])


@pytest.mark.parametrize("case", list(sharding_checks.CASES))
def test_multi_device(results, case):
    assert case in results, f"{case} did not run"
    if results[case] is not None:
        pytest.fail(results[case], pytrace=False)
