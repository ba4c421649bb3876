r"""Event-driven spike delivery into ring buffers, with fixed capacities and overflow checks.

Per step, only the sources that spiked are expanded: their CSR rows (grouped by source,
then delay, then target; see :class:`~snnjax.sim.CSR`) are flattened into a buffer of fixed
``capacity`` synapses and their weights added into a ring buffer
``ring[slot, target]`` at ``slot = (t + delay) mod D``. Shapes are static (``jit``), so
the number of spiking sources and of synapses to expand are bounded by ``max_spikes`` and
``capacity``; the function returns how many were *needed*, and the caller stops and
reports (or grows the buffers and re-runs) whenever that exceeds the capacity, so no
spike is ever dropped silently.

Accumulation order: spikes in ascending source id, each source's synapses in CSR order, as
one serial scatter-add: a canonical order that does not depend on how the sources were
distributed (the basis for bit-identical sharded runs).
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._connect import CSR


class DeviceCSR(NamedTuple):
    """A :class:`~snnjax.sim.CSR` as device arrays (``ptr`` as int32 when it fits)."""

    ptr: jax.Array
    packed: jax.Array
    weight: jax.Array

    @classmethod
    def from_csr(cls, csr: CSR) -> "DeviceCSR":
        ptr_dtype = np.int32 if csr.n_synapses < 2**31 else np.int64
        return cls(
            jnp.asarray(csr.ptr.astype(ptr_dtype)),
            jnp.asarray(csr.packed.astype(np.int32)),  # bit pattern kept; see unpack
            jnp.asarray(csr.weight),
        )


class DeliveryStats(NamedTuple):
    """What one delivery needed: compare with the capacities to detect overflow."""

    n_spikes: jax.Array
    n_synapses: jax.Array


def deliver(
    ring: jax.Array,
    csr: DeviceCSR,
    spiked: jax.Array,
    t: jax.Array,
    *,
    max_spikes: int,
    capacity: int,
) -> tuple[jax.Array, DeliveryStats]:
    """Add the weights of the synapses of the sources that ``spiked`` at step ``t``.

    Args:
        ring: ``float32[D, n_local]`` ring buffer; slot ``(t + d) % D`` receives input for
            step ``t + d`` (``D`` must exceed the largest delay).
        csr: outgoing synapses of every source onto the local neurons.
        spiked: ``bool[n_sources]`` (or spike counts): which sources spiked at step ``t``.
            A count ``c > 1`` (multiplicity) adds the weight ``c`` times.
        t: the current step.
        max_spikes: capacity for spiking sources in one step.
        capacity: capacity for expanded synapses in one step.

    Returns:
        ``(ring, stats)``; the result is exact if ``stats.n_spikes <= max_spikes`` and
        ``stats.n_synapses <= capacity``, and must be discarded otherwise.
    """
    counts = spiked.astype(jnp.float32)
    n_spikes = jnp.sum(spiked != 0)
    if csr.weight.shape[0] == 0:  # no synapses from anyone (shapes are static)
        return ring, DeliveryStats(n_spikes, jnp.zeros((), csr.ptr.dtype))
    (src,) = jnp.nonzero(spiked, size=max_spikes, fill_value=0)
    valid = jnp.arange(max_spikes) < n_spikes
    start = csr.ptr[src]
    length = jnp.where(valid, csr.ptr[src + 1] - start, 0)
    offsets = jnp.cumsum(length) - length  # exclusive prefix sum
    n_syn = jnp.sum(length)
    k = jnp.arange(capacity)
    owner = jnp.clip(jnp.searchsorted(offsets, k, side="right") - 1, 0, max_spikes - 1)
    syn = start[owner] + (k - offsets[owner])
    live = k < jnp.minimum(n_syn, capacity)
    syn = jnp.where(live, syn, 0)
    packed = csr.packed[syn]
    target = packed & 0xFFFFFF
    delay = (packed >> 24) & 0xFF
    w = jnp.where(live, csr.weight[syn] * counts[src[owner]], 0.0)
    slot = (t + delay) % ring.shape[0]
    ring = ring.at[slot, target].add(w, indices_are_sorted=False, unique_indices=False)
    return ring, DeliveryStats(n_spikes, n_syn)


def deliver_reference(ring: np.ndarray, csr: CSR, spiked: np.ndarray, t: int) -> np.ndarray:
    """Plain NumPy loop over spiking sources and their synapses (for tests)."""
    ring = np.array(ring, np.float64)
    for s in np.flatnonzero(spiked):
        for i in range(csr.ptr[s], csr.ptr[s + 1]):
            d = int(csr.packed[i] >> 24)
            ring[(t + d) % ring.shape[0], int(csr.packed[i] & 0xFFFFFF)] += float(
                csr.weight[i]
            ) * float(spiked[s])
    return ring
