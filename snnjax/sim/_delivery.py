r"""Event-driven spike delivery into ring buffers, with fixed capacities and overflow checks.

Delivery runs once per *block* of ``m`` steps, ``m`` no longer than the smallest delay
(NEST's ``min_delay`` communication interval): a spike emitted in step ``t0 + j`` of the
block with delay ``d >= m`` lands in step ``t0 + j + d >= t0 + m``, after the block, so the
neurons can be updated for ``m`` steps before the block's spikes are delivered in one go.

Only the sources that spiked are expanded: their CSR rows (grouped by source, then delay,
then target; see :class:`~snnjax.sim.CSR`) are flattened into a buffer of fixed
``capacity`` synapses and their weights added into the ring buffer
``ring[channel, slot, target]``, ``slot = (t0 + j + delay) mod D``, ``channel`` 0 for
weights ``>= 0`` (excitatory) and 1 for negative weights (inhibitory), as NEST's psc models
split their input. The synapses are expanded ``tile`` at a time in a loop that runs as often
as the block's spikes need (work follows the activity, no bound on synapses). The spikes
themselves are gathered into a buffer of static size ``max_spikes`` (``jit``); the function
returns how many there were, and the caller stops and reports (or grows the buffer and
re-runs) whenever that exceeds the capacity, so no spike is ever dropped silently.

Each synapse's local target index and delay are packed into one ``uint32`` (``shift`` bits
of target, the rest delay); a *wide* CSR, whose delays do not fit, keeps them in a separate
array (any delay up to ``2**31 - 1`` steps). The ``shift`` is an array (a traced value), so
CSRs of the same shapes share one compilation.

Accumulation order: spikes by step, then ascending source id, each source's synapses in CSR
order, as one serial scatter-add: a canonical order per target that does not depend on how
the targets are distributed (the basis for identical sharded runs).
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._connect import CSR
from ._native import deliver_native


class DeviceCSR(NamedTuple):
    """A :class:`~snnjax.sim.CSR` as device arrays (``ptr`` as int32 when it fits).

    Shards may differ in ``shift`` and in being wide or not: stacked with zero padding of
    the synapse axis, a narrow shard's ``delay`` is all zeros and
    ``delay + (packed >> shift)`` decodes both layouts.
    """

    ptr: jax.Array
    packed: jax.Array  #: ``int32[nnz]``: the CSR's ``uint32`` bit pattern
    weight: jax.Array
    shift: jax.Array  #: ``int32[]``: bits of the local target index in ``packed``
    delay: jax.Array  #: ``int32[nnz]`` delays of a wide CSR; ``int32[0]`` if packed

    @classmethod
    def host(cls, csr: CSR) -> "DeviceCSR":
        """The device layout as NumPy arrays (to be stacked over shards / ``device_put``)."""
        ptr_dtype = np.int32 if csr.n_synapses < 2**31 else np.int64
        return cls(
            csr.ptr.astype(ptr_dtype),
            np.asarray(csr.packed, np.uint32).view(np.int32),  # bits kept, no copy; see unpack
            csr.weight,
            np.asarray(csr.shift, np.int32),
            csr.wide_delay.astype(np.int32) if csr.wide else np.zeros(0, np.int32),
        )

    @classmethod
    def from_csr(cls, csr: CSR) -> "DeviceCSR":
        return cls(*(jnp.asarray(x) for x in cls.host(csr)))


def unpack(csr: DeviceCSR, syn: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(target, delay)`` of synapses ``syn``; the layout is chosen statically."""
    packed = csr.packed[syn]
    shift = csr.shift.astype(packed.dtype)
    delay = jax.lax.shift_right_logical(packed, shift)
    target = packed & jax.lax.shift_right_logical(jnp.full((), -1, packed.dtype), 32 - shift)
    if csr.delay.shape[0]:  # wide (or stacked with a wide shard)
        delay = csr.delay[syn] + delay
    return target, delay


class Delivered(NamedTuple):
    """What one block delivered: the spikes (for recording) and the capacities needed."""

    index: jax.Array  #: ``int32[max_spikes]``: ``j * n_sources + source`` of each spike
    count: jax.Array  #: ``float32[max_spikes]``: its multiplicity (0 past ``n_spikes``)
    n_spikes: jax.Array  #: spikes in the block (compare with ``max_spikes``)
    n_synapses: jax.Array  #: synapses expanded


def ring_add(ring: jax.Array, slot, target, value) -> jax.Array:
    """Scatter-add ``value`` into ``ring[channel, slot, target]``, channel 1 where ``value < 0``."""
    _, D, n = ring.shape
    index = ((value < 0).astype(jnp.int32) * D + slot) * n + target
    return ring.reshape(-1).at[index.reshape(-1)].add(value.reshape(-1)).reshape(ring.shape)


def deliver(
    ring: jax.Array,
    csr: DeviceCSR,
    spikes: jax.Array,
    t0: jax.Array,
    *,
    max_spikes: int,
    tile: int = 1 << 14,
    native: bool = False,
    threads: int = 1,
    max_tiles: int = 0,
) -> tuple[jax.Array, Delivered]:
    """Add the weights of the synapses of the sources that spiked in a block of steps.

    Args:
        ring: ``float32[2, D, n_local]`` ring buffer (excitatory, inhibitory); slot
            ``(t + d) % D`` receives the input of step ``t + d``. ``D`` must be at least
            the largest delay plus the block length.
        csr: outgoing synapses of every source onto the local neurons.
        spikes: ``[m, n_sources]`` spike counts of the block's ``m`` steps (a count
            ``c > 1``, a multiplicity, adds the weight ``c`` times).
        t0: the block's first step.
        max_spikes: capacity for spikes (source, step) in the block.
        tile: synapses expanded per iteration of the delivery loop (the loop runs
            ``ceil(n_synapses / tile)`` times: work follows the actual spikes).
        native: the native CPU kernel instead (:func:`~snnjax.sim._native.deliver_native`:
            the same sums and spike list bit for bit; no tiles).
        threads: threads of the native kernel (by ring slot).
        max_tiles: ``> 0``: the loop runs exactly this many tiles (a static trip count:
            reverse-mode differentiable; exact if ``n_synapses <= max_tiles * tile``).

    Returns:
        ``(ring, delivered)``; exact if ``delivered.n_spikes <= max_spikes`` (and within
        ``max_tiles``), to be discarded otherwise.
    """
    if native:
        ring, index, count, n_spikes, n_syn = deliver_native(
            ring, csr, spikes, t0, max_spikes=max_spikes, threads=threads
        )
        return ring, Delivered(index, count, n_spikes, n_syn)
    index, count, n_spikes = spike_list(spikes, max_spikes)
    if csr.weight.shape[0] == 0:  # no synapses from anyone (shapes are static)
        return ring, Delivered(index, count, n_spikes, jnp.zeros((), csr.ptr.dtype))
    n_src = spikes.shape[1]
    step, src = index // n_src, index % n_src
    D = ring.shape[1]

    def add(ring, owner, syn, live):
        target, delay = unpack(csr, syn)
        slot = (t0 % D + step[owner] + delay) % D  # t0 % D: no int32 overflow
        value = jnp.where(live, csr.weight[syn] * count[owner], 0.0)
        return ring_add(ring, slot, target, value)

    ring, n_syn = for_synapses(csr.ptr, src, count > 0, tile, add, ring, max_tiles)
    return ring, Delivered(index, count, n_spikes, n_syn)


def spike_list(spikes: jax.Array, max_spikes: int):
    """``(index, count, n_spikes)``: the nonzero entries of ``spikes`` (``[m, n_src]``) in
    step-major order, ``index = j * n_src + source``, in a buffer of ``max_spikes`` (count
    0 past ``n_spikes``; exact if ``n_spikes <= max_spikes``)."""
    flat = spikes.reshape(-1).astype(jnp.float32)
    n_spikes = jnp.count_nonzero(flat)
    (index,) = jnp.nonzero(flat, size=max_spikes, fill_value=0)
    valid = jnp.arange(max_spikes) < n_spikes
    return index.astype(jnp.int32), jnp.where(valid, flat[index], 0.0), n_spikes


def for_synapses(ptr, src, valid, tile: int, fn, carry, max_tiles: int = 0):
    """Run ``carry = fn(carry, owner, syn, live)`` over the CSR rows of the sources ``src``
    (where ``valid``), ``tile`` synapses at a time, in row order: ``syn[tile]`` synapse
    indices, ``owner[tile]`` the position in ``src`` of each one's row, ``live`` the real
    ones. Returns ``(carry, n_synapses)``; the loop runs ``ceil(n_synapses / tile)`` times,
    or exactly ``max_tiles`` times if that is ``> 0`` (synapses past them are left out)."""
    n = src.shape[0]
    (rows,) = jnp.nonzero(valid, size=n, fill_value=n - 1)  # the valid rows, in order
    start = ptr[src]
    length = jnp.where(valid, ptr[src + 1] - start, 0)
    offsets = jnp.cumsum(length) - length  # exclusive prefix sum
    n_syn = jnp.sum(length)

    def expand(i, carry):
        k0 = i * tile
        k = k0 + jnp.arange(tile, dtype=offsets.dtype)
        live = k < n_syn
        # The row that holds expanded synapse k: the last (valid) row starting at or before
        # k (empty rows share their offset with the next one), counted as the rows starting
        # before the tile plus a running count of the row starts inside it.
        before = jnp.sum(valid & (offsets < k0))
        inside = jnp.where(offsets >= k0, offsets - k0, tile)  # tile: out of range, dropped
        marks = jnp.zeros(tile, jnp.int32).at[inside].add(valid.astype(jnp.int32), mode="drop")
        owner = rows[jnp.clip(before + jnp.cumsum(marks) - 1, 0, n - 1)]
        syn = jnp.where(live, start[owner] + (k - offsets[owner]), 0)
        return fn(carry, owner, syn, live)

    n_tiles = max_tiles or (n_syn + tile - 1) // tile
    return jax.lax.fori_loop(0, n_tiles, expand, carry), n_syn


def deliver_reference(ring: np.ndarray, csr: CSR, spikes: np.ndarray, t0: int) -> np.ndarray:
    """Plain NumPy loop over the block's spikes and their synapses (for tests)."""
    ring = np.array(ring, np.float64)
    D = ring.shape[1]
    target, delay = csr.target, csr.delay
    for j, s in zip(*np.nonzero(spikes), strict=True):
        for i in range(csr.ptr[s], csr.ptr[s + 1]):
            w = float(csr.weight[i])
            ring[int(w < 0), (t0 + j + int(delay[i])) % D, target[i]] += w * float(spikes[j, s])
    return ring
