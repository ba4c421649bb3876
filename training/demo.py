"""Demo: train a small spiking network on an embedded synthetic task (offline, ~30 s on CPU).

The task: each of ``--classes`` classes is a fixed random spatio-temporal firing-rate
pattern over ``--channels`` input channels and ``--steps-t`` time steps; samples are
Poisson spike trains drawn from their class's pattern. The network is
``Linear -> LIF -> Linear -> LI`` (time-major ``[T, B, C]``), trained with a cross-entropy
loss on the readout's maximum membrane over time, using Adam from optax.

Usage::

    python training/demo.py [--steps 100] [--seed 0] [--out runs/demo]
"""

import argparse
import json
import pathlib
import sys

import jax
import jax.numpy as jnp
import matplotlib
import optax
from flax import nnx
from tqdm import tqdm

import snnjax.nn as snn

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def make_task(key, *, classes: int, channels: int, steps_t: int):
    """Class rate patterns: a 2 % background plus 3 random bumps in (time, channel) each."""
    k1, k2 = jax.random.split(key)
    centres = jax.random.uniform(k1, (classes, 3, 2))  # 3 bumps per class in (t, c) in [0, 1]
    t = jnp.linspace(0, 1, steps_t)[:, None]
    c = jnp.linspace(0, 1, channels)[None, :]
    d2 = (t[None, None] - centres[..., 0, None, None]) ** 2 + (
        c[None, None] - centres[..., 1, None, None]
    ) ** 2
    bumps = jnp.exp(-d2 / 0.02).sum(axis=1)  # [classes, T, C]
    return (0.02 + 0.1 * bumps * jax.random.uniform(k2, bumps.shape)).clip(0, 1)


def sample(key, rates, batch: int):
    """A batch of Poisson (Bernoulli per step) spike trains, time-major ``[T, B, C]``."""
    k1, k2 = jax.random.split(key)
    labels = jax.random.randint(k1, (batch,), 0, rates.shape[0])
    spikes = jax.random.bernoulli(k2, rates[labels]).astype(jnp.float32)
    return jnp.swapaxes(spikes, 0, 1), labels


class Net(nnx.Module):
    def __init__(self, channels: int, hidden: int, classes: int, *, rngs: nnx.Rngs):
        self.fc1 = nnx.Linear(channels, hidden, rngs=rngs)
        self.lif = snn.LIF(hidden, tau=10.0, surrogate="fast_sigmoid", learn=("beta",))
        self.fc2 = nnx.Linear(hidden, classes, rngs=rngs)
        self.out = snn.LI(classes, tau=10.0)

    def __call__(self, x):  # x: [T, B, C]
        spikes = self.lif(self.fc1(x))
        return self.out(self.fc2(spikes)), spikes


def loss_fn(model, x, labels):
    v, spikes = model(x)
    logits = v.max(axis=0)  # max membrane over time: [B, classes]
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
    return loss, (logits, spikes.mean())


@nnx.jit
def train_step(model, optimizer, x, labels):
    (loss, (logits, rate)), grads = nnx.value_and_grad(loss_fn, has_aux=True)(model, x, labels)
    optimizer.update(model, grads)
    return loss, (logits.argmax(-1) == labels).mean(), rate


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=100, help="training steps (> 0)")
    parser.add_argument("--batch", type=int, default=64, help="batch size (> 0)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("runs/demo"))
    args = parser.parse_args(argv)
    for name in ("steps", "batch"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name} must be > 0; got {getattr(args, name)}")

    classes, channels, steps_t = 10, 40, 50
    key = jax.random.PRNGKey(args.seed)
    k_task, k_model, k_data = jax.random.split(key, 3)
    rates = make_task(k_task, classes=classes, channels=channels, steps_t=steps_t)
    model = Net(channels, 64, classes, rngs=nnx.Rngs(int(k_model[1])))
    optimizer = nnx.Optimizer(model, optax.adam(5e-3), wrt=nnx.Param)

    history = []
    bar = tqdm(range(args.steps), desc="demo: training", file=sys.stdout, disable=None)
    for step in bar:
        x, labels = sample(jax.random.fold_in(k_data, step), rates, args.batch)
        loss, acc, rate = (float(v) for v in train_step(model, optimizer, x, labels))
        history.append({"step": step, "loss": loss, "accuracy": acc, "hidden_rate": rate})
        bar.set_postfix(loss=f"{loss:.3f}", acc=f"{acc:.2f}")
        if step % 10 == 0 or step == args.steps - 1:
            tqdm.write(f"step {step:4d}  loss {loss:.4f}  batch acc {acc:.2f}  rate {rate:.3f}")

    x, labels = sample(jax.random.fold_in(k_data, 10**6), rates, 512)
    test_acc = float((loss_fn(model, x, labels)[1][0].argmax(-1) == labels).mean())
    first = sum(h["loss"] for h in history[:5]) / min(5, len(history))
    last = sum(h["loss"] for h in history[-5:]) / min(5, len(history))
    summary = {"first_loss": first, "last_loss": last, "test_accuracy": test_acc}
    print(f"loss {first:.4f} -> {last:.4f}; held-out accuracy {test_acc:.3f} (chance 0.10)")

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "history.json").write_text(json.dumps({"history": history, **summary}))
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot([h["loss"] for h in history])
    ax.set(xlabel="step", ylabel="loss", title="snnjax demo: training loss")
    fig.tight_layout()
    fig.savefig(args.out / "loss.png", dpi=100)
    print(f"wrote {args.out / 'history.json'} and {args.out / 'loss.png'}")
    return summary


if __name__ == "__main__":
    main()
