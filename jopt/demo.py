"""A classic torch training loop, ported to ``jopt.optim``.

Trains a small MLP (64-64-10) on scikit-learn's bundled digits dataset (8x8 images, no
download) once per optimizer (SGD, SGD with momentum, RMSprop, Adam), with a ``StepLR``
schedule, and prints a results table and writes a PNG of the loss curves::

    python -m jopt.demo
    python -m jopt.demo --optimizers adam,sgd --epochs 10 --out losses.png

The loop has the shape of its torch original; the only change is ``loss.backward()`` ->
``loss = jopt.optim.backward(loss_fn, params, xb, yb)``.
"""

from __future__ import annotations

import argparse
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

import jopt.optim

OPTIMIZERS = {
    # name: (label, factory(params) -> optimizer)
    "sgd": ("SGD", lambda ps: jopt.optim.SGD(ps, lr=0.2)),
    "momentum": ("SGD+momentum", lambda ps: jopt.optim.SGD(ps, lr=0.05, momentum=0.9)),
    "rmsprop": ("RMSprop", lambda ps: jopt.optim.RMSprop(ps, lr=2e-3)),
    "adam": ("Adam", lambda ps: jopt.optim.Adam(ps, lr=5e-3)),
}


# --- data --------------------------------------------------------------------------------------


def load_data(seed: int, test_fraction: float = 0.25):
    """Digits (1797 images of 8x8 pixels, 10 classes), scaled to [0, 1], split train/test."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int32)
    return train_test_split(x, y, test_size=test_fraction, random_state=seed, stratify=y)


def batches(x, y, batch_size: int, rng: np.random.Generator):
    """A DataLoader(shuffle=True) stand-in: yields shuffled minibatches ``(xb, yb)``."""
    order = rng.permutation(len(x))
    for start in range(0, len(x), batch_size):
        idx = order[start : start + batch_size]
        yield jnp.asarray(x[idx]), jnp.asarray(y[idx])


# --- model -------------------------------------------------------------------------------------


def init_params(seed: int, sizes=(64, 64, 10)):
    """MLP weights as ``jopt.optim.Parameter``s in a dict, torch.nn.Linear's default init."""
    rng = np.random.default_rng(seed)
    params = {}
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        bound = 1.0 / np.sqrt(n_in)
        params[f"w{i}"] = jopt.optim.Parameter(rng.uniform(-bound, bound, (n_in, n_out)).astype(np.float32))
        params[f"b{i}"] = jopt.optim.Parameter(rng.uniform(-bound, bound, (n_out,)).astype(np.float32))
    return params


def forward(params, x):
    """``params`` is a dict of arrays: ``w0, b0, w1, b1, ...``."""
    n_layers = len(params) // 2
    for i in range(n_layers):
        x = x @ params[f"w{i}"] + params[f"b{i}"]
        if i < n_layers - 1:
            x = jax.nn.relu(x)
    return x


def loss_fn(params, x, y):
    """Mean cross-entropy (torch.nn.functional.cross_entropy). Module level: backward() compiles
    its gradient once per function object."""
    logp = jax.nn.log_softmax(forward(params, x))
    return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))


@jax.jit
def accuracy(params, x, y):
    return jnp.mean(jnp.argmax(forward(params, x), axis=1) == y)


# --- the training loop -------------------------------------------------------------------------


def train(name, data, *, epochs, batch_size, seed, step_size, gamma, log=print):
    """Train one model with optimizer ``name``; returns a results dict."""
    x_train, x_test, y_train, y_test = data
    label, make_optimizer = OPTIMIZERS[name]
    params = init_params(seed)
    opt = make_optimizer(params.values())
    scheduler = jopt.optim.lr_scheduler.StepLR(opt, step_size=step_size, gamma=gamma)
    rng = np.random.default_rng(seed)  # same batch order for every optimizer

    epoch_losses = []
    start = time.perf_counter()
    for epoch in range(epochs):
        total, count = 0.0, 0
        for xb, yb in batches(x_train, y_train, batch_size, rng):
            opt.zero_grad()
            loss = jopt.optim.backward(loss_fn, params, xb, yb)  # torch: loss = ...; loss.backward()
            opt.step()
            total += float(loss) * len(xb)
            count += len(xb)
        scheduler.step()
        epoch_losses.append(total / count)
        log(
            f"  [{label:>12}] epoch {epoch + 1:3d}/{epochs}  loss {epoch_losses[-1]:.4f}"
            f"  lr {scheduler.get_last_lr()[0]:.2g}"
        )
    seconds = time.perf_counter() - start

    arrays = {k: p.data for k, p in params.items()}
    return {
        "optimizer": label,
        "name": name,
        "losses": epoch_losses,
        "train_loss": epoch_losses[-1],
        "train_accuracy": float(accuracy(arrays, jnp.asarray(x_train), jnp.asarray(y_train))),
        "test_accuracy": float(accuracy(arrays, jnp.asarray(x_test), jnp.asarray(y_test))),
        "seconds": seconds,
    }


def print_table(results, out=None):
    out = sys.stdout if out is None else out
    header = f"{'optimizer':<14}{'train loss':>12}{'test acc':>10}{'time (s)':>10}"
    print(header, file=out)
    print("-" * len(header), file=out)
    for r in results:
        print(
            f"{r['optimizer']:<14}{r['train_loss']:>12.4f}{100 * r['test_accuracy']:>9.1f}%{r['seconds']:>10.2f}",
            file=out,
        )


def plot(results, path, epochs):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for r in results:
        ax.plot(range(1, epochs + 1), r["losses"], marker="o", markersize=3,
                label=f"{r['optimizer']} (test acc {100 * r['test_accuracy']:.1f}%)")
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean training loss (cross-entropy)")
    ax.set_title("jopt.optim on digits: MLP 64-64-10, StepLR")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="jopt-demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--optimizers", default="sgd,momentum,rmsprop,adam",
                        help="comma list of: " + ",".join(OPTIMIZERS) + " (default: all)")
    parser.add_argument("--epochs", type=int, default=20, help="epochs per optimizer (default: 20)")
    parser.add_argument("--batch-size", type=int, default=64, help="minibatch size (default: 64)")
    parser.add_argument("--step-size", type=int, default=10, help="StepLR step_size in epochs (default: 10)")
    parser.add_argument("--gamma", type=float, default=0.5, help="StepLR gamma (default: 0.5)")
    parser.add_argument("--out", default="jopt_demo_losses.png", help="PNG of the loss curves")
    parser.add_argument("--seed", type=int, default=0, help="seed for the split, init and batches")
    parser.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.optimizers.split(",") if n.strip()]
    unknown = [n for n in names if n not in OPTIMIZERS]
    if unknown or not names:
        parser.error(f"unknown optimizer(s) {unknown}; choose from {','.join(OPTIMIZERS)}")
    if args.epochs < 1 or args.batch_size < 1:
        parser.error("--epochs and --batch-size must be positive")
    args.optimizers = names
    return args


def main(argv=None):
    """Run the demo; returns one results dict per optimizer."""
    args = parse_args(argv)
    data = load_data(args.seed)
    print(f"digits: {len(data[0])} train / {len(data[1])} test images, MLP 64-64-10, "
          f"{args.epochs} epochs, batch {args.batch_size}, StepLR(step_size={args.step_size}, "
          f"gamma={args.gamma})")
    log = (lambda *a, **k: None) if args.quiet else (lambda line: print(line, flush=True))
    results = []
    for name in args.optimizers:
        results.append(train(name, data, epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
                             step_size=args.step_size, gamma=args.gamma, log=log))
    print()
    print_table(results)
    plot(results, args.out, args.epochs)
    print(f"\nloss curves written to {args.out}")
    return results


def cli() -> int:
    """Console-script entry point (``jopt-demo``): like :func:`main`, exit status 0."""
    main()
    return 0


if __name__ == "__main__":
    main()
