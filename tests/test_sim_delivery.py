"""Event-driven delivery == a plain loop; overflow is reported, never silent."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from snnjax.sim._connect import ConnSpec, connect, to_csr
from snnjax.sim._delivery import DeviceCSR, deliver, deliver_reference
from snnjax.sim._random import normal, uniform


@pytest.fixture(scope="module")
def network():
    n = 60
    ids = np.arange(n)
    syn = connect(
        0,
        0,
        ids,
        ids,
        ids,
        ConnSpec("fixed_indegree", indegree=9),
        normal(mean=1.0, std=0.5),
        uniform(min=0.1, max=2.0),
        0.1,
    )
    return to_csr(n, syn, ids)


def test_delivery_matches_loop(network, rng):
    csr, dev = network, DeviceCSR.from_csr(network)
    D = int(csr.delay.max()) + 1
    ring = jnp.asarray(rng.normal(size=(D, 60)), jnp.float32)
    step = jax.jit(lambda r, s, t: deliver(r, dev, s, t, max_spikes=60, capacity=1024))
    for t in (0, 3, D - 1, 57):
        spiked = (rng.uniform(size=60) < 0.3).astype(np.int32)
        spiked[rng.integers(60)] = 3  # a multiplicity (parrot / poisson generator)
        out, stats = step(ring, jnp.asarray(spiked), t)
        assert int(stats.n_spikes) == np.count_nonzero(spiked)
        assert int(stats.n_synapses) == sum(
            csr.ptr[s + 1] - csr.ptr[s] for s in np.flatnonzero(spiked)
        )
        np.testing.assert_allclose(
            out, deliver_reference(ring, csr, spiked, t), rtol=1e-5, atol=1e-5
        )
        ring = out


def test_overflow_is_reported(network):
    dev = DeviceCSR.from_csr(network)
    ring = jnp.zeros((25, 60), jnp.float32)
    spiked = jnp.ones(60, jnp.int32)
    _, stats = deliver(ring, dev, spiked, 0, max_spikes=10, capacity=32)
    assert int(stats.n_spikes) == 60 > 10
    _, stats = deliver(ring, dev, spiked, 0, max_spikes=60, capacity=32)
    assert int(stats.n_synapses) == network.n_synapses > 32
