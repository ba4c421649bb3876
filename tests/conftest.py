"""Strict JAX configuration for the whole test suite (set before JAX is first used)."""

import os

import jax

jax.config.update("jax_num_cpu_devices", 8)
jax.config.update("jax_numpy_rank_promotion", "raise")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def rng(request):
    """A NumPy generator with a fresh seed each run; the seed is printed on failure."""
    seed = int.from_bytes(os.urandom(4), "little")
    print(f"[{request.node.name}] numpy seed = {seed}")
    return np.random.default_rng(seed)
