"""The GPU benchmark runs only where a GPU is lent, rarely: run it here, tiny and on the CPU, so
that it still works when one is. (No timing is asserted: benchmarks print, tests do not time.)"""

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_gpu_bench_runs_every_variant():
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_bench.py"), "--params", "8192", "--steps", "2"],
        capture_output=True, text=True, check=True, timeout=300,
    ).stdout
    rows = [line.split()[0] for line in out.splitlines()[-4:]]
    assert rows == ["jopt", "jopt.optim", "optax", "torch"], out
    assert "copy bandwidth" in out and "[2, 4096]" in out, out
