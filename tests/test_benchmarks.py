"""The benchmarks, run tiny so that they keep working: the GPU one on the CPU (a GPU is lent only
rarely), the step benchmark on W4. No timing is asserted: benchmarks print, tests do not time."""

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


def test_step_bench_prints_every_column():
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "step_bench.py"),
         "--workloads", "W4", "--optimizers", "adam,rmsprop", "--steps", "8", "--no-memory"],
        capture_output=True, text=True, check=True, timeout=300,
    ).stdout
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("work"))
    assert header.split() == ["work", "params", "optimizer", "jopt", "jopt.optim", "optax", "inject", "torch",
                              "foreach", "fused", "floor", "|", "jopt/fused", "jopt/optax", "jopt/inj", "optim/jopt"]
    rows = {line.split()[2]: line for line in lines if line.startswith("W4 ") and " | " in line}
    assert set(rows) == {"adam", "rmsprop"}, out
    assert rows["adam"].split("|")[1].split()[0] != "-" and rows["rmsprop"].split("|")[1].split()[0] == "-", out
    assert "dispatch floor" in out and "tensors of 128 elements" in out and "compiles over 1000 steps" in out, out
    assert "jopt / optax: W4 " in out, out


def test_utils_bench_prints_every_row():
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "utils_bench.py"), "--workloads", "W4", "--steps", "8"],
        capture_output=True, text=True, check=True, timeout=300,
    ).stdout
    rows = [line for line in out.splitlines() if line.startswith("W4 ")]
    assert [" ".join(line.split("|")[0].split()[1:-6]) for line in rows] == [
        "clip_grad_norm_", "clip_grad_value_", "AveragedModel EMA", "AveragedModel SWA", "backward, summing",
        "zero_grad(False)"], out
    assert all(len(line.split("|")[1].split()) == 2 for line in rows), out
