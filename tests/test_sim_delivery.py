"""Event-driven block delivery == a plain loop; overflow is reported, never silent."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from snnjax.sim._connect import ConnSpec, build_csr, connect, to_csr
from snnjax.sim._delivery import DeviceCSR, deliver, deliver_reference
from snnjax.sim._random import normal, uniform

N = 60


def _synapses(max_delay_ms, seed=0, indegree=9):
    ids = np.arange(N)
    return connect(
        seed,
        0,
        ids,
        ids,
        ids,
        ConnSpec("fixed_indegree", indegree=indegree),
        normal(mean=0.2, std=0.5),  # both signs: excitatory and inhibitory channel
        uniform(min=0.3, max=max_delay_ms),
        0.1,
    )


@pytest.fixture(scope="module")
def network():
    return to_csr(N, _synapses(2.0), np.arange(N))


# short: today's delays; long: up to 5000 steps, packed; wide: delays in their own array
LAYOUTS = {"short": (2.0, None), "long": (500.0, None), "wide": (500.0, True)}


@pytest.fixture(scope="module", params=list(LAYOUTS))
def layout(request):
    max_delay_ms, wide = LAYOUTS[request.param]
    csr = to_csr(N, _synapses(max_delay_ms), np.arange(N), wide=wide)
    assert csr.wide == bool(wide) and (csr.delay.max() > 4000) == (max_delay_ms > 2)
    return csr


@pytest.mark.parametrize("m", [1, 3])
def test_delivery_matches_loop(layout, rng, m):
    csr, dev = layout, DeviceCSR.from_csr(layout)
    D = int(csr.delay.max()) + m
    ring = jnp.asarray(rng.normal(size=(2, D, N)), jnp.float32)
    step = jax.jit(lambda r, s, t: deliver(r, dev, s, t, max_spikes=N * m, tile=64))
    for t0 in (0, 3, D - 1, 57):
        spikes = (rng.uniform(size=(m, N)) < 0.3).astype(np.float32)
        spikes[-1, rng.integers(N)] = 3  # a multiplicity (parrot neuron)
        out, got = step(ring, jnp.asarray(spikes), t0)
        assert int(got.n_spikes) == np.count_nonzero(spikes)
        j, s = np.nonzero(spikes)
        assert int(got.n_synapses) == np.sum(csr.ptr[s + 1] - csr.ptr[s])
        n = int(got.n_spikes)
        np.testing.assert_array_equal(np.asarray(got.index)[:n], j * N + s)
        np.testing.assert_array_equal(np.asarray(got.count)[:n], spikes[j, s])
        np.testing.assert_allclose(
            out, deliver_reference(ring, csr, spikes, t0), rtol=1e-5, atol=1e-5
        )
        ring = out
    assert np.any(np.asarray(ring)[1] < -1)  # the inhibitory channel was used


def _stack(devs):
    """As the engine stacks shards: zero-pad the first axis where lengths differ."""

    def stack(*xs):
        n = max(x.shape[0] for x in xs) if xs[0].ndim else 0
        return np.stack([np.pad(x, [(0, n - x.shape[0])]) if x.ndim else x for x in xs])

    return jax.tree.map(stack, *devs)


def test_layouts_deliver_bit_for_bit_alike_and_stack(rng):
    """Packed with any shift or wide, the same synapses in the same order give bit-identical
    rings, one compilation per layout; shards of different layouts stack (as the engine
    does) and each slice delivers as its own CSR."""
    syn, ids = _synapses(2.0), np.arange(N)
    csrs = [
        to_csr(N, syn, ids),
        to_csr(N, syn, ids, wide=True),
        build_csr(N, [syn], ids, n_slots=1 << 24),  # today's layout: slot | delay << 24
    ]
    assert [c.shift for c in csrs] == [6, 6, 24] and [c.wide for c in csrs] == [False, True, False]
    step = jax.jit(lambda r, c, s: deliver(r, c, s, 5, max_spikes=2 * N, tile=64))
    ring = jnp.asarray(rng.normal(size=(2, 23, N)), jnp.float32)
    spikes = jnp.asarray(rng.uniform(size=(2, N)) < 0.5, jnp.float32)
    outs = [np.asarray(step(ring, DeviceCSR.from_csr(c), spikes)[0]) for c in csrs]
    assert step._cache_size() == 2  # packed (shift 6 and 24 alike) and wide
    for out in outs[1:]:
        np.testing.assert_array_equal(out, outs[0])
    other = to_csr(N, _synapses(2.0, seed=1, indegree=12), ids, wide=True)
    stacked = _stack([DeviceCSR.host(csrs[2]), DeviceCSR.host(other)])
    for k, csr in enumerate([csrs[2], other]):
        dev = jax.tree.map(lambda x, k=k: jnp.asarray(x[k]), stacked)
        alone = np.asarray(step(ring, DeviceCSR.from_csr(csr), spikes)[0])
        np.testing.assert_array_equal(np.asarray(step(ring, dev, spikes)[0]), alone)


def test_overflow_is_reported(network):
    dev = DeviceCSR.from_csr(network)
    ring = jnp.zeros((2, 25, N), jnp.float32)
    spikes = jnp.ones((1, N), jnp.float32)
    _, got = deliver(ring, dev, spikes, 0, max_spikes=10)
    assert int(got.n_spikes) == N > 10
    _, got = deliver(ring, dev, spikes, 0, max_spikes=N)
    assert int(got.n_synapses) == network.n_synapses
