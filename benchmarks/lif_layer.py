"""Benchmark: Linear(700 -> 1024) + LIF, forward + backward, against its matmul floor.

Measured side by side in one run (ratios, since these machines are noisy):

* ``floor``: the layer's two matrix products alone: ``y = x @ W`` (forward) and
  ``dW = x^T g`` (backward), via ``jax.value_and_grad`` of ``sum((x @ W) * c)``;
* ``snnjax``: ``x @ W`` then ``snnjax.ops.neuron_scan`` (custom-VJP time scan);
* ``naive``: ``x @ W`` then a plain ``lax.scan`` of the same LIF step, differentiated by
  JAX autodiff (``neuron_scan_reference``).

Each variant is ``jax.jit``-compiled; the figure is the median wall time of ``--reps`` calls
after one warm-up, the variants called round-robin. ``temp MB`` is XLA's temporary
buffer size for the compiled call (what is held for the backward). Usage::

    python benchmarks/lif_layer.py [--T 25 100 500] [--batch 32] [--reps 20] [--impl xla]
"""

import argparse
import datetime
import platform
import statistics
import time

import jax
import jax.numpy as jnp

from snnjax import neurons
from snnjax.ops import neuron_scan, neuron_scan_reference


def median_times(fns: dict, *args, reps: int) -> dict[str, float]:
    """Median wall time of each function, called round-robin so drift hits all alike."""
    for f in fns.values():
        jax.block_until_ready(f(*args))  # compile + warm up
    times = {name: [] for name in fns}
    for _ in range(reps):
        for name, f in fns.items():
            t0 = time.perf_counter()
            jax.block_until_ready(f(*args))
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}


def temp_bytes(f, *args) -> int:
    """XLA's temporary buffer size for one call (activations saved for the backward etc.)."""
    return f.lower(*args).compile().memory_analysis().temp_size_in_bytes


def make_variants(impl: str):
    model = neurons.LIF(reset="soft", surrogate="fast_sigmoid")
    params = model.params(beta=0.95, threshold=1.0)

    def floor(w, x, c):
        return jnp.sum((x @ w) * c)

    def snnjax_layer(w, x, c):
        return jnp.sum(neuron_scan(model, params, x @ w, impl=impl).outputs * c)

    def naive_layer(w, x, c):
        return jnp.sum(neuron_scan_reference(model, params, x @ w).outputs * c)

    return {
        name: jax.jit(jax.value_and_grad(f))
        for name, f in (("floor", floor), ("snnjax", snnjax_layer), ("naive", naive_layer))
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--T", type=int, nargs="+", default=[25, 100, 500])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--n-in", type=int, default=700)
    parser.add_argument("--n-out", type=int, default=1024)
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--impl", default="xla", choices=["xla", "pallas", "auto"])
    args = parser.parse_args(argv)

    variants = make_variants(args.impl)
    key = jax.random.PRNGKey(0)
    print(
        f"# {datetime.date.today()}  {platform.node()}  {jax.devices()[0].device_kind}  "
        f"jax {jax.__version__}  B={args.batch} {args.n_in}->{args.n_out} impl={args.impl}"
    )
    print(
        "| T | floor (ms) | snnjax (ms) | naive scan (ms) | snnjax / floor | naive / snnjax "
        "| temp MB floor / snnjax / naive |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for T in args.T:
        kw, kx, kc = jax.random.split(jax.random.fold_in(key, T), 3)
        w = jax.random.normal(kw, (args.n_in, args.n_out)) * (3.0 / args.n_in**0.5)
        x = (jax.random.uniform(kx, (T, args.batch, args.n_in)) < 0.05).astype(jnp.float32)
        c = jax.random.normal(kc, (T, args.batch, args.n_out))
        t = median_times(variants, w, x, c, reps=args.reps)
        mem = {name: temp_bytes(f, w, x, c) / 2**20 for name, f in variants.items()}
        print(
            f"| {T} | {t['floor'] * 1e3:.1f} | {t['snnjax'] * 1e3:.1f} | {t['naive'] * 1e3:.1f} "
            f"| {t['snnjax'] / t['floor']:.2f} | {t['naive'] / t['snnjax']:.2f} "
            f"| {mem['floor']:.0f} / {mem['snnjax']:.0f} / {mem['naive']:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
