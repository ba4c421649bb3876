"""Networks built from a :class:`~snnjax.train.ModelConfig` (time-major ``[T, B, ...]``).

* ``rsnn``: ``Linear → (Recurrent) LIF/ALIF`` per hidden layer, then ``Linear → LI``
  (or ``→ LIF`` for a spike-count readout). The SHD/SSC/randman model.
* ``csnn``: per channel stage ``Conv3x3 → LIF → 2x2 average pool``, then ``Linear → LI``.
  Input frames ``[T, B, P, H, W]`` (tonic's channel-first frames) are moved channel-last.

Both return ``(readout[T, B, n_classes], hidden_spikes)`` where ``hidden_spikes`` lists each
hidden layer's spikes, for firing-rate regularisation and raster plots.
"""

import dataclasses
import math

import jax
import jax.numpy as jnp
from flax import nnx

from .. import nn as snn
from ._config import ModelConfig


def _neuron_kwargs(cfg: ModelConfig) -> dict:
    kw = {
        "tau": cfg.tau_mem,
        "dt": cfg.dt,
        "threshold": cfg.threshold,
        "reset": cfg.reset,
        "detach_reset": cfg.detach_reset,
        "surrogate": _surrogate(cfg),
        "learn": ("beta",) if cfg.learn_decay else (),
    }
    if cfg.neuron == "alif":
        kw.update(tau_adapt=cfg.tau_adapt, b=cfg.adapt_b)
    return kw


def _surrogate(cfg: ModelConfig):
    from ..surrogate import get_surrogate

    key = {"arctan": "alpha", "triangle": "width", "rectangle": "width"}.get(cfg.surrogate, "slope")
    return get_surrogate(cfg.surrogate, **{key: cfg.surrogate_scale})


def _readout(cfg: ModelConfig, n_classes: int, spiking: bool):
    if spiking:
        return snn.LIF(n_classes, tau=cfg.tau_readout, dt=cfg.dt, surrogate=_surrogate(cfg))
    return snn.LI(n_classes, tau=cfg.tau_readout, dt=cfg.dt)


class RSNN(nnx.Module):
    """Dense (optionally recurrent) spiking network with a leaky-integrator readout."""

    def __init__(
        self, cfg: ModelConfig, n_in: int, n_classes: int, *, spiking_readout: bool, rngs: nnx.Rngs
    ):
        layer_type = snn.ALIF if cfg.neuron == "alif" else snn.LIF
        self.inputs, self.neurons = nnx.List(), nnx.List()
        prev = n_in
        for h in cfg.hidden:
            self.inputs.append(nnx.Linear(prev, h, rngs=rngs))
            layer = layer_type(h, **_neuron_kwargs(cfg))
            self.neurons.append(snn.Recurrent(layer, rngs=rngs) if cfg.recurrent else layer)
            prev = h
        self.head = nnx.Linear(prev, n_classes, rngs=rngs)
        self.readout = _readout(cfg, n_classes, spiking_readout)

    def __call__(self, x):
        x = x.reshape(*x.shape[:2], -1)  # [T, B, features]
        spikes = []
        for linear, neurons in zip(self.inputs, self.neurons, strict=True):
            x = neurons(linear(x))
            spikes.append(x)
        return self.readout(self.head(x)), spikes


class CSNN(nnx.Module):
    """Convolutional spiking network for event-camera frames."""

    def __init__(
        self,
        cfg: ModelConfig,
        in_shape: tuple[int, ...],
        n_classes: int,
        *,
        spiking_readout: bool,
        rngs: nnx.Rngs,
    ):
        if len(in_shape) != 3:
            raise ValueError(f"`csnn` needs frames [P, H, W]; got feature shape {in_shape}")
        c_in, h, w = in_shape
        self.convs, self.neurons = nnx.List(), nnx.List()
        for c in cfg.channels:
            self.convs.append(nnx.Conv(c_in, c, (3, 3), rngs=rngs))
            self.neurons.append(
                snn.LIF(c, **_neuron_kwargs(dataclasses.replace(cfg, neuron="lif")))
            )
            c_in, h, w = c, h // 2, w // 2
        self.head = nnx.Linear(c_in * h * w, n_classes, rngs=rngs)
        self.readout = _readout(cfg, n_classes, spiking_readout)

    def __call__(self, x):
        T, B = x.shape[:2]
        x = jnp.moveaxis(x, 2, -1)  # [T, B, H, W, P]
        spikes = []
        for conv, neurons in zip(self.convs, self.neurons, strict=True):
            x = neurons(conv(x))
            spikes.append(x)
            pooled = nnx.avg_pool(x.reshape(T * B, *x.shape[2:]), (2, 2), strides=(2, 2))
            x = pooled.reshape(T, B, *pooled.shape[1:])
        return self.readout(self.head(x.reshape(T, B, -1))), spikes


def build_model(
    cfg: ModelConfig,
    feature_shape: tuple[int, ...],
    n_classes: int,
    *,
    spiking_readout: bool,
    seed: int,
) -> nnx.Module:
    """The network for ``cfg``, for inputs of one time step and sample of ``feature_shape``."""
    rngs = nnx.Rngs(jax.random.key(seed))
    if cfg.kind == "csnn":
        return CSNN(cfg, feature_shape, n_classes, spiking_readout=spiking_readout, rngs=rngs)
    return RSNN(
        cfg, math.prod(feature_shape), n_classes, spiking_readout=spiking_readout, rngs=rngs
    )
