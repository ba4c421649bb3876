"""Readout losses and firing-rate regularisation (time-major model outputs)."""

import jax.numpy as jnp
import optax

from ._config import LossConfig


def logits_from_readout(readout, kind: str):
    """Class scores ``[B, C]`` from the readout ``[T, B, C]``.

    ``max``/``mean``/``last``: the leaky-integrator membrane's maximum over time, its mean,
    or its last value; ``spike_count``: the number of output spikes.
    """
    if kind == "max":
        return readout.max(axis=0)
    if kind == "mean":
        return readout.mean(axis=0)
    if kind == "last":
        return readout[-1]
    return readout.sum(axis=0)


def loss_and_metrics(cfg: LossConfig, readout, hidden_spikes, labels):
    """Cross-entropy on the readout's class scores plus ``rate_reg`` times the mean squared
    deviation of each hidden layer's firing rate (per step) from ``target_rate``."""
    logits = logits_from_readout(readout, cfg.readout)
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
    rates = jnp.stack([s.mean() for s in hidden_spikes])
    reg = jnp.mean((rates - cfg.target_rate) ** 2)
    loss = ce + cfg.rate_reg * reg
    correct = (logits.argmax(-1) == labels).sum()
    return loss, {"loss": loss, "cross_entropy": ce, "correct": correct, "rates": rates}
