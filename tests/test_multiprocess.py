"""Two processes on loopback (jax.distributed, gloo CPU collectives, 2 devices each) train data
parallel with jopt; the result equals the single-process run."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

import multiprocess_worker as worker

HERE = os.path.dirname(os.path.abspath(__file__))
TIMEOUT_S = 120


def _gloo_available() -> bool:
    try:
        from jax._src.lib import _jax

        return hasattr(_jax, "make_gloo_tcp_collectives")
    except ImportError:
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(not _gloo_available(), reason="this jaxlib has no gloo CPU collectives")
def test_two_processes_equal_single_process(tmp_path):
    port = _free_port()
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env.pop("XLA_FLAGS", None)
    outs = [tmp_path / f"out{i}.json" for i in range(2)]
    procs = []
    try:
        for i in range(2):
            procs.append(
                subprocess.Popen(
                    [sys.executable, os.path.join(HERE, "multiprocess_worker.py"), str(i), "2", str(port), str(outs[i])],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                    env=env,
                )
            )
        logs = []
        for proc in procs:
            log, _ = proc.communicate(timeout=TIMEOUT_S)
            logs.append(log)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for i, proc in enumerate(procs):
        assert proc.returncode == 0, f"process {i} failed (rc {proc.returncode}):\n{logs[i][-4000:]}"

    expected = worker.train()  # this process: one device, whole batch
    results = [json.loads(out.read_text()) for out in outs]
    assert set(results[0]) == {"functional", "optim"}
    for result in results:
        for run, params in result.items():
            for name, value in params.items():
                # Same math; only the batch mean's reduction order differs across devices.
                np.testing.assert_allclose(np.asarray(value), expected[run][name], rtol=1e-5, atol=1e-6, err_msg=f"{run} {name}")
    # And the runs really moved: not a trivially equal pair of untouched inits.
    assert not np.allclose(expected["functional"]["w1"], worker.init_params()["w1"])
