r"""Plastic synapses on the device: their state, their delivery, the postsynaptic histories.

Each ``Connect`` call with an STDP model (:mod:`._stdp`) is a *plastic projection*: its
synapses onto a shard's neurons form their own CSR (grouped by source, delay, target, as
the static one, :class:`~snnjax.sim.DeviceCSR`), and their weights are state
(:class:`PlasticState`: weight, presynaptic trace :math:`K_+`, the step of the last
presynaptic spike and how many postsynaptic spikes were paired, 16 bytes per synapse
besides the CSR's 4-byte target|delay entry).

Every local neuron keeps (:class:`PostHistory`, NEST's archiving node with a bounded
length) the steps of its latest ``H`` spikes and the trace :math:`K_-` just after each, by
*ordinal* (spike number ``i`` at ``i mod H``), and, for each of the last ``D`` steps
(``D`` = the spike ring's length, the largest delay plus the block), its spike count up
to that step, its last spike and the trace :math:`K_-` just after it. An update at step
``j`` through delay ``d`` reads both at ``j - d``: the window's spikes are the ordinals the
synapse has not paired yet, and the depression needs only the last spike before
``j - d``, so no update searches a history.

Order of one block (``m`` steps, ``m`` at most the smallest delay): after the neuron
updates and the exchange, the static synapses are delivered (:func:`~snnjax.sim.deliver`),
then each plastic projection: every synapse a spike passes is updated first (NEST's
``send``: facilitation by the postsynaptic spikes since its last presynaptic spike, then
depression), then its new weight is added into the ring buffer. When no source spikes
twice in the block all its spikes go in one pass, else step by step. Last, this block's
local spikes join the histories. A spike of step ``j`` with delay ``d >= m`` reads
postsynaptic spikes up to step ``j - d < t0``, all from earlier blocks: the result depends
neither on the block length nor on the split (every synapse lives with its target).

On CPU a native kernel (:func:`~snnjax.sim._native.deliver_plastic_native`) does the
same for a projection that no ``weight_recorder`` records, when all neurons share one
``tau_minus``; it equals this path to float32 rounding, not bit for bit. Functional runs
(:mod:`._functional`) run this path and differentiate its twin with static trip counts
(``max_tiles``, ``record_post(static=True)``: the same algorithm, reverse-mode
differentiable).

An update whose window's spikes were already dropped from the ``H`` kept (a neuron that
spiked more than ``H`` times since the synapse's last presynaptic spike) is counted
(``lost``); the run loop grows ``H`` and re-runs the chunk, so no pairing is ever
silently missed. A ``weight_recorder`` gets every update of the projections it records
(:class:`WeightEvents`, a fixed buffer per block, grown the same way).
"""

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._delivery import DeviceCSR, for_synapses, ring_add, unpack
from ._native import deliver_plastic_native
from ._stdp import EMPTY, StdpParams, needs_window, pre_spike


class PlasticArrays(NamedTuple):
    """The fixed part of a plastic projection on one shard."""

    csr: DeviceCSR  #: targets and delays (its ``weight`` is empty: weights are state)
    params: StdpParams


class PlasticState(NamedTuple):
    """The state of a plastic projection's synapses, in CSR order."""

    weight: jax.Array  #: ``float32[nnz]``
    kplus: jax.Array  #: ``float32[nnz]`` presynaptic trace after the last presynaptic spike
    tlast: jax.Array  #: ``int32[nnz]`` step of the last presynaptic spike (-1: none yet)
    seen: jax.Array  #: ``int32[nnz]`` the target's spikes paired so far (up to tlast - d)


class PostHistory(NamedTuple):
    """The local neurons' spikes, as plastic synapses read them."""

    step: jax.Array  #: ``int32[n, H]``: the step of spike ``i`` at ``[:, i % H]``
    k_at: jax.Array  #: ``float32[n, H]``: :math:`K_-` just after spike ``i``, the same way
    total: jax.Array  #: ``int32[n]``: spikes so far
    count: jax.Array  #: ``int32[D, n]``: spikes up to step ``s`` at ``[s % D]``
    last: jax.Array  #: ``int32[D, n]``: the last spike up to step ``s`` (EMPTY: none)
    k: jax.Array  #: ``float32[D, n]``: :math:`K_-` just after that spike


def empty_history(n: int, H: int, D: int) -> PostHistory:
    return PostHistory(np.full((n, H), EMPTY, np.int32), np.zeros((n, H), np.float32),
                       np.zeros(n, np.int32), np.zeros((D, n), np.int32),
                       np.full((D, n), EMPTY, np.int32), np.zeros((D, n), np.float32))  # fmt: skip


def rehash(step: np.ndarray, k_at: np.ndarray, total: np.ndarray, H: int):
    """The spikes kept by ordinal (``[n, H0]``, spike ``i`` at ``i % H0``) in ``H`` slots:
    the latest ``min(H, H0)`` of each neuron."""
    n, H0 = step.shape
    new_step, new_k = np.full((n, H), EMPTY, np.int32), np.zeros((n, H), np.float32)
    for back in range(min(H, H0)):  # the back-th latest spike
        ordinal = total.astype(np.int64) - 1 - back
        ok = ordinal >= 0
        rows = np.flatnonzero(ok)
        new_step[rows, ordinal[ok] % H] = step[rows, ordinal[ok] % H0]
        new_k[rows, ordinal[ok] % H] = k_at[rows, ordinal[ok] % H0]
    return new_step, new_k


def history_table(step, k_at, total, t: int, D: int):
    """``(count, last, k)`` ``[D, n]`` rings for the steps ``t - D .. t - 1`` (step ``s`` at
    ``s % D``) from the spikes kept by ordinal (exact while every spike of those steps is
    kept)."""
    steps = t - D + np.arange(D)
    valid = step > EMPTY
    after = valid[None] & (step[None] > steps[:, None, None])  # [D, n, H]
    count = (total[None] - after.sum(-1)).astype(np.int32)
    upto = np.where(valid[None] & ~after, step[None], EMPTY)
    pick = upto.argmax(-1)
    last = np.take_along_axis(upto, pick[..., None], -1)[..., 0].astype(np.int32)
    k = np.where(
        last > EMPTY,
        np.take_along_axis(np.broadcast_to(k_at[None], upto.shape), pick[..., None], -1)[..., 0],
        0.0,
    )
    slots = steps % D
    out = [np.empty_like(x) for x in (count, last, k.astype(np.float32))]
    for o, x in zip(out, (count, last, k.astype(np.float32)), strict=True):
        o[slots] = x
    return tuple(out)


class WeightEvents(NamedTuple):
    """What a ``weight_recorder`` records of one block: each update (capacity ``cap``)."""

    syn: jax.Array  #: ``int32[cap]`` the synapse (CSR index on this shard)
    step: jax.Array  #: ``int32[cap]`` the presynaptic spike's step
    weight: jax.Array  #: ``float32[cap]`` the weight it transmitted
    n: jax.Array  #: ``int32[]`` updates in the block (compare with ``cap``)


def deliver_plastic(model: str, ring, arrays: PlasticArrays, state: PlasticState,
                    post: PostHistory, h_tau_minus, spikes, index, count, t0, *,
                    tile: int, record: int = 0, native: tuple[int, int] | None = None,
                    threads: int = 1, max_tiles: int = 0):  # fmt: skip
    """Update and deliver the synapses of one plastic projection for a block's spikes.

    Args:
        model: the STDP model (static).
        ring: ``float32[2, D, n]`` the spike ring buffer.
        arrays, state: the projection on this shard.
        post: the local neurons' histories, up to the block's first step.
        h_tau_minus: ``float32[n]`` resolution / ``tau_minus`` of each local neuron.
        spikes: ``[m, n_sources]`` the block's spikes (all sources).
        index, count: the block's spikes as listed by :func:`~snnjax.sim._delivery.
            spike_list` (``j * n_sources + source``, multiplicity; 0 past the spikes).
        t0: the block's first step.
        tile: as :func:`~snnjax.sim.deliver`.
        record: capacity for the updates a ``weight_recorder`` records (0: none).
        native: the native CPU kernel instead (:func:`~snnjax.sim._native.
            deliver_plastic_native`: the same algorithm, equal to float32 rounding; not
            with ``record``): the last entries of its exponential tables (``tables``).
        threads: threads of the native kernel.
        max_tiles: ``> 0``: every loop with a static trip count, reverse-mode
            differentiable (the twin whose derivatives a functional run takes): one pass
            or one per step chosen by a ``cond``, ``max_tiles`` tiles each (synapses past
            them are left out: compare ``n_syn``), the window's pairings up to the
            history's length; 0: loops as long as the block needs.

    Returns:
        ``(ring, state, lost, events, n_syn)``: ``lost`` counts updates that missed a
        dropped spike; ``events`` (:class:`WeightEvents`, ``None`` without ``record``) are
        exact if ``events.n <= record``; ``n_syn`` the most synapses one pass expanded.
    """
    csr = arrays.csr
    events = (
        WeightEvents(
            jnp.zeros(record, jnp.int32),
            jnp.zeros(record, jnp.int32),
            jnp.zeros(record, jnp.float32),
            jnp.int32(0),
        )
        if record
        else None
    )
    if csr.packed.shape[0] == 0:
        return ring, state, jnp.int32(0), events, jnp.int32(0)
    if native is not None and not record:
        ring, state, lost = deliver_plastic_native(
            model, ring, arrays, state, post, h_tau_minus, index, count, t0, tables=native,
            threads=threads)  # fmt: skip
        return ring, state, lost, events, jnp.int32(0)
    D, H = ring.shape[1], post.step.shape[1]
    n_src = spikes.shape[1]
    step_of, src = index // n_src, index % n_src

    def update(carry, owner, syn, live):
        ring, st, lost, ev = carry
        target, delay = unpack(csr, syn)
        j = t0 + step_of[owner]
        hi = (j - delay) % D  # the table slot of step j - d (and the one before)
        before = (j - delay - 1) % D
        seen, kplus = st.seen[syn], st.kplus[syn]
        p = StdpParams(*(x[syn] if x.shape[0] > 1 else x for x in arrays.params))

        def entry(ordinal):
            return post.step[target, ordinal % H]

        tlast = st.tlast[syn]
        w, kplus_new, seen_new = pre_spike(
            model, p, st.weight[syn], kplus, tlast, seen, j, delay,
            post.count[hi, target], post.last[before, target], post.k[before, target],
            entry, h_tau_minus[target], window=H if max_tiles else 0)  # fmt: skip
        bad = live & (seen < post.total[target] - H) & needs_window(model, kplus)
        at = jnp.where(live, syn, st.weight.shape[0])  # past the end: dropped
        # every new value depends on the values read, so XLA writes the (large) state
        # arrays in place after reading them instead of copying them
        new = (w, kplus_new, jnp.where(live, j, tlast), jnp.where(live, seen_new, seen))
        st = PlasticState(*(x.at[at].set(v, mode="drop") for x, v in
                            zip(st, new, strict=True)))  # fmt: skip
        slot = (t0 % D + step_of[owner] + delay) % D
        ring = ring_add(ring, slot, target, jnp.where(live, w * count[owner], 0.0))
        if ev is not None:  # the updates in order, past the capacity: dropped (and counted)
            pos = jnp.where(live, ev.n + jnp.cumsum(live) - 1, record)
            ev = WeightEvents(ev.syn.at[pos].set(syn, mode="drop"),
                              ev.step.at[pos].set(j, mode="drop"),
                              ev.weight.at[pos].set(w, mode="drop"),
                              ev.n + jnp.sum(live, dtype=jnp.int32))  # fmt: skip
        return ring, st, lost + jnp.sum(bad, dtype=jnp.int32), ev

    # One pass over all the block's spikes when no source spiked twice (no synapse is
    # updated twice), else one pass per step. (A loop, not a cond: XLA then updates the
    # large state arrays in place; static loops need the cond.)
    twice = jnp.any(jnp.sum(spikes > 0, axis=0) > 1)

    def one_pass(k, carry):
        *carry, n_syn = carry
        mine = (count > 0) & (~twice | (step_of == k))
        carry, n = for_synapses(csr.ptr, src, mine, tile, update, tuple(carry), max_tiles)
        return *carry, jnp.maximum(n_syn, n.astype(jnp.int32))

    carry = (ring, state, jnp.int32(0), events, jnp.int32(0))
    if max_tiles:
        per_step = functools.partial(jax.lax.fori_loop, 0, spikes.shape[0], one_pass)
        return jax.lax.cond(twice, per_step, functools.partial(one_pass, 0), carry)
    passes = jnp.where(twice, spikes.shape[0], 1)
    return jax.lax.fori_loop(0, passes, one_pass, carry)


def record_post(post: PostHistory, spikes, t0, h_tau_minus, cap: int,
                static: bool = False) -> PostHistory:  # fmt: skip
    """Add a block's local spikes (``[m, n]`` counts; a count ``c`` is ``c`` spikes, as
    NEST's parrot neuron) to the histories: their steps by ordinal, and per step the count,
    the last spike and NEST's trace :math:`K_- \\leftarrow K_- e^{-(t - t_{last})/\\tau_-}
    + 1` per spike. At most ``cap`` spikes per block (a bound the caller checks through
    the block's spike count). Only the spikes kept (each neuron's last ``H``) are written,
    in rounds over a multiplicity's spikes: ``H`` with ``static`` (a static trip count,
    reverse-mode differentiable), else as many as needed; the same values."""
    m, n = spikes.shape
    D, H = post.count.shape[0], post.step.shape[1]
    c = spikes.astype(jnp.int32)
    prev = (t0 - 1) % D

    def one_step(carry, x):
        total, last, k = carry
        j, cj = x
        t = t0 + j
        decayed = jnp.where(last > EMPTY, k * jnp.exp((last - t) * h_tau_minus), 0.0)
        spiked = cj > 0
        k = jnp.where(spiked, decayed + cj, k)
        last = jnp.where(spiked, t, last)
        return (total + cj, last, k), (total, total + cj, last, k, decayed)

    init = (post.total, post.last[prev], post.k[prev])
    _, (first, totals, lasts, ks, decayed) = jax.lax.scan(
        one_step, init, (jnp.arange(m, dtype=jnp.int32), c)
    )
    slots = (t0 + jnp.arange(m)) % D
    # the steps by ordinal: spike (j, i) with count c holds ordinals first[j, i] + 0 .. c - 1
    flat = c.reshape(-1)
    (idx,) = jnp.nonzero(flat > 0, size=min(cap, m * n), fill_value=m * n)
    ok = idx < m * n
    j, i = jnp.minimum(idx, m * n - 1) // n, jnp.minimum(idx, m * n - 1) % n
    reps, base = jnp.where(ok, flat[jnp.minimum(idx, m * n - 1)], 0), first[j, i]
    # only the ordinals kept after the block, each neuron's last H: distinct slots, so the
    # writes need no order (the older ones of a multiplicity would be overwritten)
    skip = jnp.maximum(totals[-1][i] - H - base, 0)

    def write(r, hist):  # the r-th spike of each multiplicity: K_- grows by 1 per spike
        r = r + skip
        at_i, at_h = jnp.where(r < reps, i, n), (base + r) % H  # row n: dropped
        return (hist[0].at[at_i, at_h].set((t0 + j).astype(jnp.int32), mode="drop"),
                hist[1].at[at_i, at_h].set(decayed[j, i] + r + 1, mode="drop"))  # fmt: skip

    rounds = H if static else jnp.clip(jnp.max(reps - skip, initial=0), 0, H)
    step, k_at = jax.lax.fori_loop(0, rounds, write, (post.step, post.k_at))
    return PostHistory(step, k_at, totals[-1], post.count.at[slots].set(totals),
                       post.last.at[slots].set(lasts), post.k.at[slots].set(ks))  # fmt: skip
