"""Every neuron model × reset mode × detach flag, with random parameters."""

import itertools

import numpy as np

from snnjax import neurons

SPIKING = ("IF", "LIF", "CuBaLIF", "ALIF")
CASES = [
    (name, reset, detach)
    for name, reset, detach in itertools.product(SPIKING, ("soft", "hard"), (False, True))
] + [("LI", None, False)]


def case_id(case):
    name, reset, detach = case
    return name if reset is None else f"{name}-{reset}{'-detach' if detach else ''}"


def make_model(name, reset, detach, surrogate="fast_sigmoid"):
    cls = getattr(neurons, name)
    if name == "LI":
        return cls()
    return cls(reset=reset, detach_reset=detach, surrogate=surrogate)


def random_params(name, rng, n):
    """Per-neuron parameter values (as a dict of float32 arrays of shape ``(n,)``)."""

    def u(lo, hi):
        return rng.uniform(lo, hi, n).astype(np.float32)

    spiking = {"threshold": u(0.5, 1.5), "v_reset": u(-0.3, 0.2)}
    return {
        "IF": spiking,
        "LIF": {"beta": u(0.7, 0.99), **spiking},
        "CuBaLIF": {"alpha": u(0.5, 0.95), "beta": u(0.7, 0.99), **spiking},
        "ALIF": {"beta": u(0.7, 0.99), "rho": u(0.8, 0.99), "b": u(0.0, 0.5), **spiking},
        "LI": {"beta": u(0.7, 0.99)},
    }[name]
