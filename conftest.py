"""Make the checkout importable by notebook kernels too (nbmake starts them as subprocesses),
so ``python -m pytest`` runs against this tree even without ``pip install -e .``."""

import os
import pathlib

_ROOT = str(pathlib.Path(__file__).resolve().parent)
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (_ROOT, os.environ.get("PYTHONPATH")) if p)
