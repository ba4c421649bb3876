"""Digits: scikit-learn's 8x8 handwritten digits seen by a simulated event camera.

Like N-MNIST (Orchard et al. 2015), a static image moves under the sensor along three
saccades (a triangle, ``saccade_ms`` each) and every pixel emits events when its log
intensity changes by a contrast threshold. The simulation is the usual DVS pixel model:

* the image (pixel values / 16, zero background) is placed at ``(offset + path(t))`` on a
  ``sensor x sensor`` array and sampled bilinearly every ``dt_us``;
* each pixel keeps a reference level ``m_p · C_p`` of ``L = log(I + eps)``, where the
  threshold ``C_p = contrast · (1 + threshold_sigma · N(0, 1))`` varies between pixels;
  when ``L`` rises (falls) past the next level the pixel emits one ON (OFF) event per level
  crossed and moves its reference there;
* event times are the step time plus a uniform jitter within the step; ``noise_events``
  uniformly random events per sample are added.

The events are written in the N-MNIST ``.bin`` format (polarity 1 = ON) under
``NMNIST/{Train,Test}/<label>/<index>.bin`` and read back by ``tonic.datasets.NMNIST``.
"""

import numpy as np

__all__ = ["DIGITS_DEFAULTS", "check_params", "generate_digits"]

#: Default parameters (what ``load_dataset("digits", ...)`` generates, seed 0). Of the 1797
#: digits (shuffled), ``n_test`` go to the test split and the next ``n_train`` (``None``: all
#: the others, 1497) to the training split.
DIGITS_DEFAULTS = {
    "n_train": None,
    "n_test": 300,
    "sensor": 12,
    "amplitude": 3.0,
    "saccade_ms": 100.0,
    "dt_us": 1000,
    "contrast": 0.35,
    "threshold_sigma": 0.05,
    "eps": 0.1,
    "noise_events": 10,
}


def check_params(params: dict) -> dict:
    """Raise a ``ValueError`` naming the first bad parameter; returns ``params``."""
    if params["n_train"] is not None:
        n = params["n_train"]
        if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
            raise ValueError(f"`n_train` must be a positive integer or None; got {n!r}")
    for key in ("n_test", "sensor", "dt_us"):
        value = params[key]
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"`{key}` must be a positive integer; got {value!r}")
    if not 8 + params["amplitude"] + 1 <= params["sensor"] <= 255:
        raise ValueError(
            f"`sensor` must lie in [{8 + params['amplitude'] + 1:g}, 255] (8 pixels of digit + "
            f"`amplitude` {params['amplitude']:g} + a margin); got {params['sensor']}"
        )
    for key in ("saccade_ms", "contrast", "eps"):
        if not params[key] > 0:
            raise ValueError(f"`{key}` must be positive; got {params[key]!r}")
    if not 3 * params["saccade_ms"] * 1000 < 2**23:
        raise ValueError("`saccade_ms` too long for N-MNIST's 23-bit timestamps")
    for key in ("amplitude", "threshold_sigma", "noise_events"):
        if not params[key] >= 0:
            raise ValueError(f"`{key}` must be non-negative; got {params[key]!r}")
    return params


def _path(n_steps: int, amplitude: float) -> np.ndarray:
    """``[n_steps, 2]`` (dx, dy) along the triangle (0,0) → (a/2, a) → (a, 0) → (0,0)."""
    corners = np.array([[0.0, 0.0], [0.5, 1.0], [1.0, 0.0], [0.0, 0.0]]) * amplitude
    s = np.linspace(0.0, 3.0, n_steps, endpoint=False)
    seg = np.minimum(s.astype(int), 2)
    frac = (s - seg)[:, None]
    return corners[seg] * (1 - frac) + corners[seg + 1] * frac


def _render(images: np.ndarray, shifts: np.ndarray, sensor: int) -> np.ndarray:
    """Bilinear rendering: ``[n, steps, sensor, sensor]`` (rows y, columns x)."""
    n, h, w = images.shape
    padded = np.zeros((n, sensor + 2, sensor + 2), dtype=np.float32)
    out = np.zeros((n, len(shifts), sensor, sensor), dtype=np.float32)
    for s, (dx, dy) in enumerate(shifts):
        ix, iy = int(np.floor(dx)), int(np.floor(dy))
        fx, fy = dx - ix, dy - iy
        # the image placed at integer offset (ix, iy) + 1, then interpolated between the
        # four integer placements around (dx, dy)
        acc = np.zeros((n, sensor, sensor), dtype=np.float32)
        for ox, oy, weight in (
            (0, 0, (1 - fx) * (1 - fy)),
            (1, 0, fx * (1 - fy)),
            (0, 1, (1 - fx) * fy),
            (1, 1, fx * fy),
        ):
            if weight == 0:
                continue
            padded[:] = 0
            y0, x0 = iy + oy + 1, ix + ox + 1
            padded[:, y0 : y0 + h, x0 : x0 + w] = images
            acc += weight * padded[:, 1:-1, 1:-1]
        out[:, s] = acc
    return out


def _dvs_events(rng, frames: np.ndarray, params: dict):
    """Per sample, (x, y, t_us, p) of the events of ``frames`` ``[n, steps, H, W]``."""
    n, steps, hgt, wid = frames.shape
    log_i = np.log(frames + params["eps"])
    c = params["contrast"] * (1 + params["threshold_sigma"] * rng.standard_normal((n, hgt, wid)))
    c = np.maximum(c, 0.05 * params["contrast"])
    level = np.zeros((n, hgt, wid), dtype=np.int64)  # reference = log_i[:, 0] + level * c
    counts = np.zeros((n, steps, hgt, wid), dtype=np.int64)  # signed events per step
    for s in range(1, steps):
        q = (log_i[:, s] - log_i[:, 0]) / c
        new = np.where(q >= level + 1, np.floor(q), level)
        new = np.where(q <= level - 1, np.ceil(q), new).astype(np.int64)
        counts[:, s] = new - level
        level = new
    dt = params["dt_us"]
    out = []
    for i in range(n):
        st, yy, xx = np.nonzero(counts[i])
        k = np.abs(counts[i, st, yy, xx])
        p = (counts[i, st, yy, xx] > 0).astype(np.int64)
        st, yy, xx, p = (np.repeat(a, k) for a in (st, yy, xx, p))
        t = st * dt + rng.integers(0, dt, len(st))
        m = params["noise_events"]
        t_end = steps * dt
        xx = np.concatenate([xx, rng.integers(0, wid, m)])
        yy = np.concatenate([yy, rng.integers(0, hgt, m)])
        t = np.concatenate([t, rng.integers(0, t_end, m)])
        p = np.concatenate([p, rng.integers(0, 2, m)])
        order = np.argsort(t, kind="stable")
        out.append((xx[order], yy[order], t[order], p[order]))
    return out


def generate_digits(seed: int, **params):
    """Generate the digits event streams.

    Args:
        seed: the random seed (the same seed and parameters give identical events).
        **params: overrides of :data:`DIGITS_DEFAULTS`.

    Returns:
        ``(splits, params)``: ``splits`` maps ``"train"``/``"test"`` to a list of
        ``(x, y, t_us, p, label)`` per sample; ``params`` are the parameters used.
    """
    from sklearn.datasets import load_digits  # bundled with scikit-learn: no download

    params = check_params({**DIGITS_DEFAULTS, **params})
    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)
    labels = digits.target.astype(np.int64)
    n_test = params["n_test"]
    n_train = len(labels) - n_test if params["n_train"] is None else params["n_train"]
    if n_test + n_train > len(labels):
        raise ValueError(
            f"`n_train` + `n_test` must be at most {len(labels)}; got {n_train} + {n_test}"
        )
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(labels))
    parts = {"test": order[:n_test], "train": order[n_test : n_test + n_train]}
    n_steps = round(3 * params["saccade_ms"] * 1000 / params["dt_us"])
    offset = (params["sensor"] - 8 - params["amplitude"]) / 2
    shifts = _path(n_steps, params["amplitude"]) + offset
    splits = {}
    for split in ("train", "test"):
        idx = np.sort(parts[split])
        samples = []
        for start in range(0, len(idx), 128):  # bounded memory: [128, steps, H, W] at once
            chunk = idx[start : start + 128]
            frames = _render(images[chunk], shifts, params["sensor"])
            for events, label in zip(_dvs_events(rng, frames, params), labels[chunk], strict=True):
                samples.append((*events, int(label)))
        splits[split] = samples
    return splits, params
