"""Randman: classification of random smooth manifolds from spike timing.

After Zenke & Vogels (2021), "The remarkable robustness of surrogate gradient learning for
instilling complex function in spiking neural networks" (Neural Computation 33(4)). Each
class is a random smooth ``dim_manifold``-dimensional manifold embedded in the unit cube
``[0, 1]^n_units``; a sample is a random point on its class's manifold, and coordinate
``u`` of that point is the firing time of input unit ``u``. Every unit fires exactly once
in every sample, so spike counts carry no information about the class: only the timing
does.

The embedding of class ``c`` maps intrinsic coordinates ``z ∈ [0, 1)^D`` to

.. math::

    f_{c,u}(z) = \\sum_{d=1}^{D} \\sum_{k=1}^{K} \\frac{a_{c,u,d,k}}{k^{\\alpha}}
        \\sin\\big(2\\pi (k z_d + \\phi_{c,u,d,k})\\big),

with ``a ~ U(0, 1)`` and ``φ ~ U(0, 1)``: ``alpha`` sets the smoothness (larger: smoother).
Each ``f_{c,u}`` is rescaled to ``[0, 1]`` by its range (the sum over ``d`` of the ranges
of the periodic 1-D terms); the spike time is ``t = duration · span · f + N(0, jitter²)``,
clipped to ``[0, duration)``. The samples are written in the SHD ``.h5`` format (times in
seconds, sorted) and read back by ``tonic.datasets.SHD``.
"""

import numpy as np

__all__ = ["RANDMAN_DEFAULTS", "check_params", "generate_randman"]

#: Default parameters (what ``load_dataset("randman", ...)`` generates, seed 0).
RANDMAN_DEFAULTS = {
    "n_classes": 10,
    "n_units": 100,
    "dim_manifold": 2,
    "alpha": 2.0,
    "n_freq": 4,
    "n_train": 1000,
    "n_test": 300,
    "duration_s": 1.0,
    "span": 0.9,
    "jitter_s": 0.01,
}


def check_params(params: dict) -> dict:
    """Raise a ``ValueError`` naming the first bad parameter; returns ``params``."""
    for key in ("n_classes", "n_units", "dim_manifold", "n_freq", "n_train", "n_test"):
        value = params[key]
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"`{key}` must be a positive integer; got {value!r}")
    if params["n_units"] > 65535:
        raise ValueError(f"`n_units` must be at most 65535 (uint16); got {params['n_units']}")
    for key in ("alpha", "duration_s"):
        if not params[key] > 0:
            raise ValueError(f"`{key}` must be positive; got {params[key]!r}")
    if not 0 < params["span"] <= 1:
        raise ValueError(f"`span` must lie in (0, 1]; got {params['span']!r}")
    if not params["jitter_s"] >= 0:
        raise ValueError(f"`jitter_s` must be non-negative; got {params['jitter_s']!r}")
    return params


def _embed(amp, phase, labels, z):
    """``f_{c,u}(z)`` for samples of class ``labels`` at intrinsic points ``z`` ``[n, D]``."""
    k = np.arange(1, amp.shape[-1] + 1)
    out = np.zeros((len(z), amp.shape[1]))
    for d in range(z.shape[1]):  # [n, units, K] per intrinsic dimension
        arg = 2 * np.pi * (k * z[:, None, d, None] + phase[labels, :, d, :])
        out += np.sum(amp[labels, :, d, :] * np.sin(arg), axis=-1)
    return out


def generate_randman(seed: int, **params):
    """Generate randman samples.

    Args:
        seed: the random seed (the same seed and parameters give identical samples).
        **params: overrides of :data:`RANDMAN_DEFAULTS`.

    Returns:
        ``(splits, params)``: ``splits`` maps ``"train"``/``"test"`` to ``(times, units,
        labels)`` with per-sample spike times in seconds (sorted) and unit indices;
        ``params`` are the parameters used.
    """
    params = check_params({**RANDMAN_DEFAULTS, **params})
    rng = np.random.default_rng(seed)
    n_classes, n_units, dim, n_freq = (
        params[k] for k in ("n_classes", "n_units", "dim_manifold", "n_freq")
    )
    shape = (n_classes, n_units, dim, n_freq)
    amp = rng.uniform(0.0, 1.0, shape) / np.arange(1, n_freq + 1) ** params["alpha"]
    phase = rng.uniform(0.0, 1.0, shape)
    # The range of every f_{c,u}: a sum over independent coordinates z_d of periodic 1-D
    # functions, so its extremes are the sums of theirs (found on a fine grid).
    grid = np.arange(512) / 512
    k = np.arange(1, n_freq + 1)
    g = np.sum(amp[..., None] * np.sin(2 * np.pi * (k[:, None] * grid + phase[..., None])), -2)
    lo, hi = g.min(-1).sum(-1), g.max(-1).sum(-1)  # [n_classes, n_units]

    duration = params["duration_s"]
    splits = {}
    for split in ("train", "test"):
        n = params[f"n_{split}"]
        labels = rng.permutation(np.arange(n) % n_classes)  # balanced classes
        z = rng.uniform(0.0, 1.0, (n, dim))
        f = (_embed(amp, phase, labels, z) - lo[labels]) / (hi[labels] - lo[labels])
        t = duration * params["span"] * np.clip(f, 0.0, 1.0)
        t = t + params["jitter_s"] * rng.standard_normal(t.shape)
        # float32 seconds as in SHD; keep every spike inside [0, duration).
        t = np.clip(t, 0.0, np.nextafter(np.float32(duration), 0, dtype=np.float32))
        t = t.astype(np.float32)
        order = np.argsort(t, axis=1, kind="stable")
        times = list(np.take_along_axis(t, order, axis=1))
        units = list(order.astype(np.uint16))
        splits[split] = (times, units, labels.astype(np.uint16))
    return splits, params
