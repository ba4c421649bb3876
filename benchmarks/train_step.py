"""Benchmark: samples/s of the SHD-sized recurrent SNN train step.

Network as in ``configs/shd_rsnn.yaml`` but with plain LIF: 700 inputs → 256 recurrent LIF
→ 20 leaky-integrator readout; T = 100 time bins; Adam; the jitted train step of
:mod:`snnjax.train` (forward, backward, update) on random sparse input spikes. Also the
feed-forward variant (``model.recurrent=false``), whose hidden layer runs the fused scan.

Usage::

    python benchmarks/train_step.py [--batch 64 128] [--reps 10]
"""

import argparse
import datetime
import platform
from collections.abc import Iterator

import jax
import jax.numpy as jnp
from flax import nnx
from lif_layer import median_times

from snnjax.train import build_model, load_config, make_optimizer
from snnjax.train._loop import make_steps


def make_step(recurrent: bool, T: int, B: int):
    cfg = load_config(
        None,
        ["model.hidden=[256]", "model.neuron=lif", f"model.recurrent={str(recurrent).lower()}"],
    )
    model = build_model(cfg.model, (700,), 20, spiking_readout=False, seed=0)
    optimizer = nnx.Optimizer(model, make_optimizer(cfg.optim, 1000), wrt=nnx.Param)
    graphdef, state = nnx.split((model, optimizer))
    train_step, _ = make_steps(cfg, graphdef)
    key = jax.random.PRNGKey(0)
    x = (jax.random.uniform(key, (T, B, 700)) < 0.02).astype(jnp.float32)
    y = jax.random.randint(key, (B,), 0, 20)

    def step(state, x, y):
        return train_step(state, x, y)[0]

    return step, state, x, y


def rows(batches, T: int, reps: int) -> Iterator[dict]:
    """One row per batch size: samples/s of the recurrent and the feed-forward train step."""
    for B in batches:
        fns, inputs = {}, {}
        for name, rec in (("recurrent", True), ("feedforward", False)):
            fns[name], *inputs[name] = make_step(rec, T, B)
        t = {name: median_times({name: fns[name]}, *inputs[name], reps=reps)[name] for name in fns}
        yield {"batch": B, "T": T, "recurrent_samples_per_s": B / t["recurrent"],
               "feedforward_samples_per_s": B / t["feedforward"]}  # fmt: skip


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--T", type=int, default=100)
    parser.add_argument("--reps", type=int, default=10)
    args = parser.parse_args(argv)
    print(
        f"# {datetime.date.today()}  {platform.node()}  {jax.devices()[0].device_kind}  "
        f"x{len(jax.devices())}  jax {jax.__version__}  T={args.T}"
    )
    print("| batch | recurrent LIF (samples/s) | feed-forward LIF (samples/s) |")
    print("|---:|---:|---:|")
    out = []
    for r in rows(args.batch, args.T, args.reps):
        out.append(r)
        print(
            f"| {r['batch']} | {r['recurrent_samples_per_s']:.0f} "
            f"| {r['feedforward_samples_per_s']:.0f} |",
            flush=True,
        )
    return out


if __name__ == "__main__":
    main()
