"""Independent NumPy implementations of the neuron equations, written from the docstrings."""

import numpy as np


def _reset(h, s, theta, v_reset, reset):
    return h - s * theta if reset == "soft" else np.where(s > 0, v_reset, h)


def run_numpy(name, p, x, reset="soft"):
    """Step the model ``name`` over ``x[T, ...]`` in NumPy; returns (outputs, traces)."""
    p = {k: np.asarray(v, np.float32) for k, v in p.items()}
    shape = x.shape[1:]
    z = np.zeros(shape, np.float32)
    outs, traces = [], []
    if name in ("IF", "LIF"):
        v = z
        for x_t in x:
            h = (v if name == "IF" else p["beta"] * v) + x_t
            s = (h >= p["threshold"]).astype(np.float32)
            v = _reset(h, s, p["threshold"], p["v_reset"], reset)
            outs.append(s)
            traces.append((v,))
    elif name == "CuBaLIF":
        i, v = z, z
        for x_t in x:
            i = p["alpha"] * i + x_t
            h = p["beta"] * v + i
            s = (h >= p["threshold"]).astype(np.float32)
            v = _reset(h, s, p["threshold"], p["v_reset"], reset)
            outs.append(s)
            traces.append((i, v))
    elif name == "ALIF":
        v, a = z, z
        for x_t in x:
            a = p["rho"] * a
            theta = p["threshold"] + p["b"] * a
            h = p["beta"] * v + x_t
            s = (h >= theta).astype(np.float32)
            v = _reset(h, s, theta, p["v_reset"], reset)
            a = a + s
            outs.append(s)
            traces.append((v, a))
    elif name == "LI":
        v = z
        for x_t in x:
            v = p["beta"] * v + x_t
            outs.append(v)
            traces.append((v,))
    else:
        raise ValueError(name)
    return np.stack(outs), [np.stack(t) for t in zip(*traces, strict=True)]
