r"""Spike exchange between shards, once per block of ``m <= min_delay`` steps.

Every shard owns some neurons (see :mod:`._placement`) and holds the incoming synapses of
those neurons only, keyed by *global* source index. After the ``m`` steps of a block each
shard lists its own spikes as keys ``j * N + source`` (step ``j`` of the block, global
neuron index ``source``) with their counts (multiplicities) in a buffer of fixed capacity
``max_send``, and the exchange brings every shard the spikes of the sources that have
targets on it. Three schemes (NEST GPU's, Golosio et al. 2025):

``all_gather``
    every shard receives every shard's list (collective; traffic ``(S - 1) * max_send``
    keys per shard and block).
``all_to_all``
    each shard sends shard ``q`` only the spikes of sources with targets on ``q`` (the
    routing table ``route[q, local neuron]`` is computed at build time from the shards'
    CSR rows: NEST GPU's "image neuron" maps), ``max_route`` keys per destination.
``point_to_point``
    like ``all_to_all``, but only to the shards at the offsets ``k`` (``s -> (s + k) mod S``)
    that any synapse needs: ``ppermute`` between devices, ``sendrecv`` between MPI ranks.
    A ring of networks needs one offset instead of ``S - 1``.

The received keys are scattered (exact integer counts, in any order) into the dense
``[m, N]`` spike matrix that :func:`~snnjax.sim.deliver` reads in canonical (step, source)
order, so each target accumulates its input in the same order for any number of shards,
any placement and any scheme: the spikes are bit-identical.

Capacities are static (``jit``); the counts needed are returned, and the simulator grows a
buffer and re-runs the chunk when one overflows (nothing is dropped silently).
"""

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

EXCHANGES = ("all_gather", "all_to_all", "point_to_point")
KEY_BYTES = 8  #: an exchanged spike: int32 key + float32 count


@dataclasses.dataclass(frozen=True)
class MeshComm:
    """Collectives between the devices of a ``shard_map`` mesh axis."""

    axis: str
    size: int

    def all_gather(self, x):
        return jax.lax.all_gather(x, self.axis)

    def all_to_all(self, x):
        return jax.lax.all_to_all(x, self.axis, 0, 0)

    def shift(self, x, k: int):
        """Send ``x`` to shard ``s + k``, receive from ``s - k`` (mod ``size``)."""
        return jax.lax.ppermute(x, self.axis, [(s, (s + k) % self.size) for s in range(self.size)])


@dataclasses.dataclass(frozen=True, eq=False)
class MPIComm:
    """The same collectives between MPI ranks (``mpi4jax``; one shard per rank)."""

    comm: Any  # mpi4py communicator
    size: int
    rank: int

    def all_gather(self, x):
        import mpi4jax

        return mpi4jax.allgather(x, comm=self.comm)

    def all_to_all(self, x):
        import mpi4jax

        return mpi4jax.alltoall(x, comm=self.comm)

    def shift(self, x, k: int):
        import mpi4jax

        src, dst = (self.rank - k) % self.size, (self.rank + k) % self.size
        return mpi4jax.sendrecv(x, x, source=src, dest=dst, comm=self.comm)


class Sent(NamedTuple):
    """One shard's spikes of a block and what the exchange needed."""

    key: jax.Array  #: ``int32[max_send]``: ``j * N + source`` of the shard's own spikes
    count: jax.Array  #: ``float32[max_send]``: multiplicity (0 past ``n_own``)
    n_own: jax.Array  #: own spikes in the block (compare with ``max_send``)
    n_route: jax.Array  #: ``int32[R]``: spikes routed to each destination (``max_route``)


def own_spikes(spikes: jax.Array, gid: jax.Array, n_global: int, capacity: int):
    """The block's spikes ``[m, n_local]`` as keys ``j * N + gid`` and counts (capacity)."""
    flat = spikes.reshape(-1)
    n_local = spikes.shape[1]
    n_own = jnp.count_nonzero(flat)
    (index,) = jnp.nonzero(flat, size=capacity, fill_value=0)
    valid = jnp.arange(capacity) < n_own
    key = (index // n_local) * n_global + gid[index % n_local]
    return key.astype(jnp.int32), jnp.where(valid, flat[index], 0.0), n_own, index


def _routed(key, count, slot, route_row, capacity):
    """The entries whose local source has targets on one destination (compacted)."""
    mask = route_row[slot] & (count > 0)
    (pick,) = jnp.nonzero(mask, size=capacity, fill_value=0)
    valid = jnp.arange(capacity) < jnp.sum(mask)
    return jnp.where(valid, key[pick], 0), jnp.where(valid, count[pick], 0.0), jnp.sum(mask)


def exchange(
    comm,
    scheme: str,
    offsets: tuple[int, ...],
    spikes: jax.Array,
    gid: jax.Array,
    route: jax.Array,
    n_global: int,
    max_send: int,
    max_route: int,
) -> tuple[jax.Array, Sent]:
    """The dense spike matrix ``float32[m, N]`` of the sources with targets on this shard.

    Args:
        comm: :class:`MeshComm` or :class:`MPIComm`.
        scheme: one of :data:`EXCHANGES`.
        offsets: ``point_to_point``: the shard offsets ``k > 0`` that carry synapses.
        spikes: ``[m, n_local]`` spike counts of this shard's neurons (padding masked).
        gid: ``int32[n_local]`` global index of each local neuron.
        route: ``bool[R, n_local]``: ``all_to_all``: has targets on shard ``q``;
            ``point_to_point``: row 0 itself, row ``i`` on shard ``s + offsets[i - 1]``.
        n_global: ``N``, neurons in the whole network.
        max_send, max_route: capacities of the own list and of each routed list.
    """
    m = spikes.shape[0]
    key, count, n_own, index = own_spikes(spikes, gid, n_global, max_send)
    slot = index % spikes.shape[1]
    if scheme == "all_gather":
        keys, counts = comm.all_gather(key), comm.all_gather(count)
        n_route = jnp.zeros(0, jnp.int32)
    else:
        lists = [_routed(key, count, slot, route[r], max_route) for r in range(route.shape[0])]
        keys, counts, n_route = (jnp.stack(x) for x in zip(*lists, strict=True))
        n_route = n_route.astype(jnp.int32)

        def receive(x):  # row r of x: what goes to destination r (p2p: row 0 stays here)
            if scheme == "all_to_all":
                return comm.all_to_all(x)
            return jnp.stack([x[0]] + [comm.shift(x[i + 1], k) for i, k in enumerate(offsets)])

        keys, counts = receive(keys), receive(counts)
    dense = jnp.zeros(m * n_global, jnp.float32).at[keys.reshape(-1)].add(counts.reshape(-1))
    return dense.reshape(m, n_global), Sent(key, count, n_own, n_route)
