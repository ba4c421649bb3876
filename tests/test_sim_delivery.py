"""Event-driven block delivery == a plain loop; overflow is reported, never silent."""

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
        normal(mean=0.2, std=0.5),  # both signs: excitatory and inhibitory channel
        uniform(min=0.3, max=2.0),
        0.1,
    )
    return to_csr(n, syn, ids)


@pytest.mark.parametrize("m", [1, 3])
def test_delivery_matches_loop(network, rng, m):
    csr, dev = network, DeviceCSR.from_csr(network)
    D = int(csr.delay.max()) + m
    ring = jnp.asarray(rng.normal(size=(2, D, 60)), jnp.float32)
    step = jax.jit(lambda r, s, t: deliver(r, dev, s, t, max_spikes=60 * m, tile=64))
    for t0 in (0, 3, D - 1, 57):
        spikes = (rng.uniform(size=(m, 60)) < 0.3).astype(np.float32)
        spikes[-1, rng.integers(60)] = 3  # a multiplicity (parrot neuron)
        out, got = step(ring, jnp.asarray(spikes), t0)
        assert int(got.n_spikes) == np.count_nonzero(spikes)
        j, s = np.nonzero(spikes)
        assert int(got.n_synapses) == np.sum(csr.ptr[s + 1] - csr.ptr[s])
        n = int(got.n_spikes)
        np.testing.assert_array_equal(np.asarray(got.index)[:n], j * 60 + s)
        np.testing.assert_array_equal(np.asarray(got.count)[:n], spikes[j, s])
        np.testing.assert_allclose(
            out, deliver_reference(ring, csr, spikes, t0), rtol=1e-5, atol=1e-5
        )
        ring = out
    assert np.any(np.asarray(ring)[1] < -1)  # the inhibitory channel was used


def test_overflow_is_reported(network):
    dev = DeviceCSR.from_csr(network)
    ring = jnp.zeros((2, 25, 60), jnp.float32)
    spikes = jnp.ones((1, 60), jnp.float32)
    _, got = deliver(ring, dev, spikes, 0, max_spikes=10)
    assert int(got.n_spikes) == 60 > 10
    _, got = deliver(ring, dev, spikes, 0, max_spikes=60)
    assert int(got.n_synapses) == network.n_synapses
