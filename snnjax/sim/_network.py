r"""The functional core of the simulator: a built network as arrays, advanced by a jitted chunk.

:class:`~snnjax.sim.Simulator` (and the PyNEST facade on top of it) turns ``Create`` /
``Connect`` calls into a static :class:`Layout` (hashable: models, population slices, block
length, capacities) and :class:`NetworkArrays` (a pytree: connectivity, propagators,
generator inputs), then calls :func:`run_blocks` chunk after chunk. Everything here is pure.

Time is cut into blocks of ``m`` steps, ``m`` at most the smallest neuron-to-neuron delay
(NEST's ``min_delay``). One block:

1. the Poisson counts of the block's steps are drawn for every ``poisson_generator``
   connection at once (they do not depend on the network state);
   and everything the generators emit in the block (Poisson counts, ``spike_generator``
   spikes, ``dc_generator`` current) is added into the generator ring ``ext``, ``delay``
   steps after its emission step, in one scatter ordered by emission step;
2. the inputs of the block's steps are taken out of both rings at once (their slots
   cleared, :func:`take_inputs`), then ``m`` steps of every population (NEST's update
   order, see :mod:`.models`; consecutive populations of one model as one group);
3. with several shards, the block's spikes are exchanged (:mod:`._exchange`) into a dense
   ``[m, N]`` block in canonical order; then they are delivered (:func:`~snnjax.sim.deliver`)
   onto this shard's targets: they land ``>= m`` steps later, after the block;
4. with plastic synapses (:mod:`._plastic`): each plastic projection updates and delivers
   the synapses the block's spikes pass, then the local spikes join the neurons' histories.

On CPU the Poisson counts, the take-out and the delivery are native kernels
(:mod:`._native`), bit for bit the same as these pure-JAX functions. A chunk runs any number
of steps: the block holding the last one runs only its first steps.

Arrays and state are one shard's; :func:`on_mesh` runs the same function on every device of
a mesh (``shard_map``), an :class:`~snnjax.sim._exchange.MPIComm` between MPI ranks.

Poisson input: each (connection, generator, target, step) gets its own count from a
counter-based stream, ``threefry(key(seed, connection), (generator * N + target, step))``,
so the input of a neuron does not depend on which shard owns it or how time is cut into
chunks. Generator output is written in the step that emits it, with the parameters in force
then, so a change between runs leaves what was already emitted in flight (as in NEST).
Counts come from inverting the Poisson CDF at 32-bit resolution (the mass beyond
the last tabulated count, below :math:`2^{-32}`, falls on that count).
"""

import dataclasses
import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend.random import threefry_2x32

from ._delivery import DeviceCSR, deliver
from ._exchange import MeshComm, Sent, exchange
from ._groups import groups_of, merge, split, step_groups
from ._native import emit_native, poisson_values, take_native
from ._plastic import PlasticArrays, PostHistory, deliver_plastic, record_post
from .models._rkf45 import bounded_attempts


@dataclasses.dataclass(frozen=True)
class Layout:
    """The static part of a built network (a ``jit`` static argument).

    Attributes:
        models: the :class:`~snnjax.sim.NestModel` of each population.
        slices: ``(start, stop)`` of each population in the local neuron axis (a shard's
            neurons of one population, padded to the same count on every shard).
        n: number of local neurons (with padding).
        N: number of neurons in the whole network (the global index ``0 .. N - 1``).
        m: block length in steps (at most the smallest neuron-to-neuron delay).
        D: slots of the spike ring buffer (largest neuron-to-neuron delay + ``m``).
        Dx: slots of the generator ring buffer (largest generator delay + ``m``).
        max_spikes: capacity for the spikes one shard receives in one block.
        tile: synapses expanded per iteration of the delivery loop.
        sampled: the recordables sampled per population (multimeters).
        shards: number of shards ``S`` (1: no exchange).
        scheme: the spike exchange (:data:`~snnjax.sim._exchange.EXCHANGES`).
        offsets: ``point_to_point``: the shard offsets that carry synapses.
        max_send: capacity for one shard's own spikes in one block.
        max_route: capacity for one shard's spikes routed to one destination.
        plastic: the STDP model of each plastic projection (:mod:`._plastic`).
        H: spikes kept per neuron for the plastic synapses (0 without any).
        recorded: per plastic projection, whether a ``weight_recorder`` records it.
        max_events: capacity for the updates one recorded projection makes in a block.
        native: delivery, Poisson input and the exact models' block steps by the native
            CPU kernels (:mod:`._native`; the same numbers bit for bit), and the ODE of the
            numerically integrated models (float32 rounding apart).
        threads: threads of the native delivery (by ring slot), Poisson, block and ODE
            kernels.
        tiles: ``> 0``: delivery runs exactly this many tiles per block (a static loop, so
            reverse-mode differentiable; :mod:`._functional`); 0: as many as the spikes need.
        plastic_native: per plastic projection, ``(K_plus, K_minus)`` (the last entries
            of its exponential tables) where the native kernel updates it, else None;
            ``()``: none does (:func:`~snnjax.sim._native.deliver_plastic_native`).
        dense: a functional run (:mod:`._functional`): record each block's local spikes
            as a dense ``[steps, n]`` array and the synapses it expanded; each block is a
            :func:`jax.checkpoint` (reverse mode recomputes it instead of storing it).
        spike_dtype: the dense record's dtype (``"float32"``: carries the surrogate
            gradient; ``"uint8"``: a quarter of the memory, forward runs).
        attempts: a functional run's reverse mode through NEST's adaptive RKF45: at most
            this many lockstep attempts per step (:func:`~.models._rkf45.bounded_attempts`;
            0: the largest of the models' own, :attr:`~.models.NestModel.attempts`).
    """

    models: tuple[Any, ...]
    slices: tuple[tuple[int, int], ...]
    n: int
    m: int
    D: int
    max_spikes: int
    tile: int
    sampled: tuple[tuple[str, ...], ...]
    Dx: int = 1
    N: int = -1
    shards: int = 1
    scheme: str = "all_gather"
    offsets: tuple[int, ...] = ()
    max_send: int = 1
    max_route: int = 1
    plastic: tuple[str, ...] = ()
    H: int = 0
    recorded: tuple[bool, ...] = ()
    max_events: int = 1
    native: bool = False
    threads: int = 1
    tiles: int = 0
    dense: bool = False
    plastic_native: tuple = ()
    spike_dtype: str = "float32"
    attempts: int = 0


class PoissonInput(NamedTuple):
    """The connections of one ``poisson_generator`` ``Connect`` call.

    Each connection ``i`` belongs to generator row ``row[i]`` of the call; a row holds the
    generator's Poisson table and active window, so a rate, ``start`` or ``stop`` changed
    between runs swaps these arrays without recompiling (a longer table than ``K`` does).
    """

    key: jax.Array  #: ``uint32[2]`` threefry key of this connection
    target: jax.Array  #: ``int32[c]`` local target index
    counter: jax.Array  #: ``uint32[c]`` the stream: ``generator * N + target`` (global)
    weight: jax.Array  #: ``float32[c]``
    delay: jax.Array  #: ``int32[c]`` steps
    row: jax.Array  #: ``int32[c]`` generator row of each connection
    table: jax.Array  #: ``uint32[R, K]`` Poisson CDF per row, scaled to ``2**32`` (padded)
    size: jax.Array  #: ``int32[R]`` valid entries of each row's table (0: rate 0)
    lo: jax.Array  #: ``int32[R]`` first active step (``start / h``)
    hi: jax.Array  #: ``int32[R]`` first inactive step (``stop / h``): emits in ``lo <= t < hi``


class SpikeInput(NamedTuple):
    """Connections of ``spike_generator``\\s: ``source`` indexes the per-step spike counts."""

    source: jax.Array
    target: jax.Array
    weight: jax.Array
    delay: jax.Array


class CurrentInput(NamedTuple):
    """Connections of ``dc_generator``\\s: emitted in step ``t`` iff ``lo < t + 2 <= hi``
    (``start``/``stop`` in steps), arriving ``delay`` steps later."""

    target: jax.Array
    value: jax.Array  #: amplitude times weight (pA)
    delay: jax.Array  #: steps
    lo: jax.Array
    hi: jax.Array


class NetworkArrays(NamedTuple):
    """The array part of a built network (a pytree)."""

    csr: DeviceCSR
    props: tuple
    params: tuple
    poisson: tuple[PoissonInput, ...]
    spikes_in: SpikeInput
    current: CurrentInput
    sample_index: tuple[jax.Array, ...]  #: per population, local indices sampled
    gid: jax.Array  #: ``int32[n]`` global index of each local neuron
    real: jax.Array  #: ``bool[n]``: ``False`` for the padding of a population
    route: jax.Array  #: ``bool[R, n]`` routing table of the exchange (see :func:`exchange`)
    plastic: tuple[PlasticArrays, ...] = ()  #: one per plastic projection
    h_tau_minus: jax.Array | None = None  #: ``float32[n]`` resolution / ``tau_minus``


class SimState(NamedTuple):
    """Neuron states (one per population) and the two ring buffers.

    ``ring[2, D, n]`` (excitatory, inhibitory) receives the network's spikes, delivered
    once per block; ``ext[3, Dx, n]`` (excitatory, inhibitory, current) receives the
    generators' output, written at the start of the block that emits it. Each is summed
    in a canonical order (by emission step, then source) that does not depend on how time
    is cut into blocks, chunks or runs, nor on the split: the basis of bit-identical
    restarts. With plastic synapses: their state and the neurons' spike histories
    (:mod:`._plastic`).
    """

    neurons: tuple
    ring: jax.Array
    ext: jax.Array
    plastic: tuple = ()  #: a :class:`~snnjax.sim._plastic.PlasticState` per projection
    post: PostHistory | None = None  #: the spike histories (``None`` without plasticity)


class Record(NamedTuple):
    """What a chunk of blocks produced (leading axis: block)."""

    key: jax.Array  #: ``int32[blocks, cap]``: ``j * N + neuron`` of this shard's spikes
    count: jax.Array  #: ``float32[blocks, cap]``: their multiplicities (0: no spike)
    n_own: jax.Array  #: this shard's spikes per block (capacity ``max_send``; 1 shard:
    #: ``max_spikes``)
    n_recv: jax.Array  #: spikes delivered on this shard per block (capacity ``max_spikes``)
    n_route: jax.Array  #: ``int32[blocks, R]``: spikes routed per destination (``max_route``)
    samples: jax.Array  #: ``[blocks, steps, n_sampled]`` sampled recordables
    n_bad: jax.Array  #: neurons with a non-finite state value after each block (solver failure)
    n_lost: jax.Array  #: plastic updates that needed a spike dropped from a history
    weights: tuple = ()  #: a :class:`~snnjax.sim._plastic.WeightEvents` per recorded projection
    spikes: Any = None  #: ``Layout.dense``: ``[blocks, steps, n]`` local spikes (``spike_dtype``)
    n_syn: Any = None  #: ``Layout.dense``: synapses expanded per block


def poisson_table(lam: float) -> np.ndarray:
    r"""Thresholds of the ``Poisson(lam)`` CDF on ``[0, 2**32)``: ``count = #(table <= bits)``.

    Entry ``k`` is :math:`\lfloor 2^{32} P(X \le k) \rfloor`; the table stops where the tail
    falls below :math:`2^{-32}` (that tail counts as the last count). ``lam = 0``: empty
    (no spikes).
    """
    if not (np.isfinite(lam) and lam >= 0):
        raise ValueError(f"the Poisson mean per step must be finite and >= 0; got {lam}")
    if lam == 0:
        return np.zeros(0, np.uint32)
    ks = np.arange(int(lam + 12 * np.sqrt(lam) + 40))
    log_factorial = np.cumsum(np.log(np.maximum(ks, 1)))
    cdf = np.cumsum(np.exp(ks * np.log(lam) - lam - log_factorial)) * 2.0**32
    last = int(np.argmax(cdf >= 2.0**32 - 1))
    return np.floor(cdf[:last]).astype(np.uint32)


def _poisson(p: PoissonInput, t0, steps: int) -> jax.Array:
    """``float32[steps, c]``: counts times weights emitted in steps ``t0 .. t0 + steps - 1``."""
    t = t0 + jnp.arange(steps)
    c = p.counter.shape[0]
    a = jnp.broadcast_to(p.counter[None, :], (steps, c)).reshape(-1)
    b = jnp.broadcast_to(t.astype(jnp.uint32)[:, None], (steps, c)).reshape(-1)
    bits = threefry_2x32(p.key, jnp.concatenate([a, b]))[: a.shape[0]].reshape(steps, c)
    if p.table.shape[0] == 1:  # one generator: one table for every connection
        counts = jnp.minimum(jnp.searchsorted(p.table[0], bits, side="right"), p.size[0])
        active = ((t >= p.lo[0]) & (t < p.hi[0]))[:, None]
    else:
        search = jax.vmap(lambda tab, x: jnp.searchsorted(tab, x, side="right"), (0, 1), 1)
        counts = jnp.minimum(search(p.table[p.row], bits), p.size[p.row][None, :])
        active = (t[:, None] >= p.lo[p.row][None, :]) & (t[:, None] < p.hi[p.row][None, :])
    return jnp.where(active, counts, 0).astype(jnp.float32) * p.weight[None, :]


def _emit(layout: Layout, arrays: NetworkArrays, ext: jax.Array, t0, steps: int, sg_counts,
          live):  # fmt: skip
    """Add what the generators emit in steps ``t0 .. t0 + live - 1`` into ``ext`` (``live <=
    steps``, traced: the steps of a shorter last block).

    One scatter-add whose updates are ordered by emission step, then connection, then
    synapse: the canonical order, whatever the block boundaries (every slot it writes is
    read later in this block or after it, since ``Dx`` is the largest delay plus ``m``).
    """
    t = t0 + jnp.arange(steps)[:, None]
    parts = []  # (value [steps, c], delay [c], target [c], channel: -1 by sign, 2 current)
    for p in arrays.poisson:
        value = (
            poisson_values(p, t0, steps, threads=layout.threads)
            if layout.native
            else _poisson(p, t0, steps)
        )
        parts.append((value, p.delay, p.target, -1))
    sg, cur = arrays.spikes_in, arrays.current
    if sg.source.shape[0]:
        parts.append((sg_counts[:, sg.source] * sg.weight[None, :], sg.delay, sg.target, -1))
    if cur.target.shape[0]:
        active = (cur.lo[None, :] < t + 2) & (t + 2 <= cur.hi[None, :])
        parts.append((jnp.where(active, cur.value[None, :], 0.0), cur.delay, cur.target, 2))
    if not parts:
        return ext
    value = jnp.concatenate([p[0] for p in parts], axis=1)
    delay, target = (jnp.concatenate([p[k] for p in parts]) for k in (1, 2))
    channel = np.concatenate([np.full(p[1].shape, p[3], np.int32) for p in parts])
    if layout.native:
        return emit_native(ext, value, delay, target, channel, t0, live, threads=layout.threads)
    return emit_scatter(ext, value, delay, target, channel, t0, live)


def _generators(arrays: NetworkArrays) -> bool:
    """Whether any generator feeds the network (the shapes are static under ``jit``)."""
    return bool(arrays.poisson or arrays.spikes_in.source.shape[0]
                or arrays.current.target.shape[0])  # fmt: skip


def emit_scatter(ext, value, delay, target, channel, t0, live):
    """``value[j, c]`` of the first ``live`` steps added into ``ext[channel[c], (t0 + j +
    delay[c]) % Dx, target[c]]`` (``channel[c]`` -1: 0 or 1 by the value's sign) by one
    scatter-add, in the order of ``value``."""
    steps = value.shape[0]
    # steps past `live` go to channel 3 (dropped). Indexing ext itself: XLA copied a flat
    # view of it every block.
    sign = (value < 0).astype(jnp.int32)
    channel = jnp.where(jnp.arange(steps)[:, None] < live, jnp.where(channel < 0, sign, channel), 3)
    slot = (t0 + jnp.arange(steps)[:, None] + delay[None, :]) % ext.shape[1]
    return ext.at[channel, slot, jnp.broadcast_to(target, value.shape)].add(value, mode="drop")


def take_inputs(ring: jax.Array, ext: jax.Array, t0, steps: int, live, *,
                generators: bool = True):  # fmt: skip
    """The inputs of steps ``t0 .. t0 + steps - 1`` out of both rings, and the slots of the
    first ``live`` of them cleared: ``(ring, ext, [3, steps, n])``, the excitatory and
    inhibitory spike input plus generator output, and the current (every slot a block
    reads is written before: spikes land ``>= m`` steps after their block).
    ``generators=False``: the network has none, ``ext`` stays zero and is left alone
    (the same inputs: a ring value plus zero is the ring value, never ``-0.0``)."""
    t = t0 + jnp.arange(steps)
    slot, xslot = t % ring.shape[1], t % ext.shape[1]
    on = jnp.arange(steps) < live
    ring_in = ring[:, slot]
    ring = ring.at[:, jnp.where(on, slot, ring.shape[1])].set(0.0, mode="drop")
    if not generators:
        return ring, ext, jnp.concatenate([ring_in, jnp.zeros_like(ring_in[:1])])
    inputs = jnp.stack([ring_in[0] + ext[0, xslot], ring_in[1] + ext[1, xslot], ext[2, xslot]])
    ext = ext.at[:, jnp.where(on, xslot, ext.shape[1])].set(0.0, mode="drop")
    return ring, ext, inputs


def _block(layout, comm, arrays: NetworkArrays, grouped, steps: int, state: SimState, t0,
           sg_counts, live):  # fmt: skip
    """One block; ``state.neurons`` and ``grouped = (groups, params, props)`` per group of
    populations (:func:`~._groups.groups_of`)."""
    # Generator output of the block (independent of the network state) first; then every
    # input of the block's steps is in the rings (spikes land >= m steps after their
    # block): take those slots out at once, so the step loop carries only neuron states.
    # Only the first `live` steps run (a shorter last block: the rest leave all as it is).
    ext = _emit(layout, arrays, state.ext, t0, steps, sg_counts, live)
    take = take_native if layout.native else take_inputs
    ring, ext, taken = take(state.ring, ext, t0, steps, live, generators=_generators(arrays))
    neurons, spikes, samples, n_bad = step_groups(layout, arrays, grouped, state.neurons, taken,
                                                  live)  # fmt: skip
    spikes = jnp.where(arrays.real, spikes.astype(jnp.float32), 0.0)
    one = layout.shards == 1  # no exchange: the local spikes are the whole block
    dense, sent = (spikes, None) if one else _exchange(layout, comm, arrays, spikes)
    ring, out = deliver(ring, arrays.csr, dense, t0, max_spikes=layout.max_spikes,
                        tile=layout.tile, native=layout.native, threads=layout.threads,
                        max_tiles=layout.tiles)  # fmt: skip
    plastic, post, n_lost, weights = state.plastic, state.post, jnp.int32(0), ()
    n_syn = out.n_synapses
    if layout.plastic:
        # every array an argument (custom_vjp); dynamic loops, not reverse-differentiable
        update = functools.partial(_plastic, dataclasses.replace(layout, tiles=0))
        if layout.dense and layout.tiles:  # a functional run: the static loops' derivatives
            update = _differentiated_as(update, functools.partial(_plastic, layout))
        elif layout.dense:
            update = forward_only(update, "gradients through plastic synapses with "
                                   "`max_synapses=0`")  # fmt: skip
        ring, plastic, post, n_lost, weights, n_plastic = update(
            arrays.h_tau_minus, ring, arrays.plastic, state.plastic, post, dense, spikes,
            out.index, out.count, t0)  # fmt: skip
        n_syn = jnp.maximum(n_syn, n_plastic.astype(n_syn.dtype))
    if one:  # its own spikes are the delivered ones
        sent = Sent(out.index, out.count, out.n_spikes, jnp.zeros(0, jnp.int32))
    record = Record(sent.key, sent.count, sent.n_own, out.n_spikes, sent.n_route, samples,
                    jnp.asarray(n_bad, jnp.int32), n_lost, tuple(weights),
                    *((spikes.astype(layout.spike_dtype), n_syn)
                      if layout.dense else ()))  # fmt: skip
    return SimState(neurons, ring, ext, tuple(plastic), post), record


def _plastic(layout: Layout, h_tau_minus, ring, arrays, states, post, dense, spikes, index,
             count, t0):  # fmt: skip
    """Every plastic projection updated and delivered for a block, then the block's local
    ``spikes`` into the histories: ``(ring, states, post, lost, weight events, n_syn)``
    (the most synapses a pass expanded). With ``layout.tiles``: static loops (reverse-mode
    differentiable; the same algorithm)."""
    new, n_lost, weights, n_syn = [], jnp.int32(0), [], jnp.int32(0)
    tables = layout.plastic_native or (None,) * len(layout.plastic)
    for model, pa, ps, rec, native in zip(layout.plastic, arrays, states, layout.recorded,
                                          tables, strict=True):  # fmt: skip
        ring, ps, lost, events, n = deliver_plastic(
            model, ring, pa, ps, post, h_tau_minus, dense, index, count, t0,
            tile=layout.tile, record=layout.max_events if rec else 0, native=native,
            threads=layout.threads, max_tiles=layout.tiles)  # fmt: skip
        new.append(ps)
        n_lost += lost
        n_syn = jnp.maximum(n_syn, n)
        if rec:
            weights.append(events)
    cap = layout.max_spikes if layout.shards == 1 else layout.max_send  # the spiking neurons
    post = record_post(post, spikes, t0, h_tau_minus, cap, static=layout.tiles > 0)
    return ring, tuple(new), post, n_lost, tuple(weights), n_syn


def forward_only(fn, what: str, works: str = "forward runs and vmap are"):
    """``fn`` with a reverse-mode rule that raises ``NotImplementedError`` naming ``what``
    and what ``works`` (instead of JAX's error from a loop or collective deep inside)."""
    f = jax.custom_vjp(fn)

    def bwd(_, ct):
        raise NotImplementedError(f"{what} are not supported yet ({works})")

    f.defvjp(lambda *args: (fn(*args), None), bwd)
    return f


def _exchange(layout: Layout, comm, arrays: NetworkArrays, spikes: jax.Array):
    return exchange(comm, layout.scheme, layout.offsets, spikes, arrays.gid, arrays.route,
                    layout.N, layout.max_send, layout.max_route)  # fmt: skip


def _differentiated_as(fast, twin):
    """``fast`` differentiated as ``twin``, the same computation in a form reverse mode can
    go through (the native kernels' pure-JAX twin: the same values bit for bit; the plastic
    synapses' static loops for their dynamic ones: the same algorithm, XLA may contract
    its float operations otherwise; NEST's adaptive RKF45 in bounded loops: float32
    rounding apart): the tangents are ``twin``'s at the inputs (its forward pass runs
    beside ``fast``'s), so forward mode works as well as reverse mode."""
    f = jax.custom_jvp(fast)
    f.defjvp(lambda args, tangents: (fast(*args), jax.jvp(twin, args, tangents)[1]))
    return f


def _bounded(twin, attempts: int):
    """``twin`` (a block) with NEST's adaptive RKF45 in static loops of at most
    ``attempts`` lockstep attempts per step (reverse-mode differentiable), raising (from
    the reverse pass) where a neuron needed more."""

    def run(arrays, params, props, state, t, sg, live):
        with bounded_attempts(attempts):
            state, record = twin(arrays, params, props, state, t, sg, live)
        jax.debug.callback(functools.partial(_too_few_attempts, attempts), t, record.n_bad)
        return state, record

    return run


def _too_few_attempts(attempts: int, t0, n_bad) -> None:
    if np.any(np.asarray(n_bad) > 0):
        raise RuntimeError(
            f"reverse mode through the adaptive RKF45 from step {int(np.min(t0))}: a neuron "
            f"needed more than {attempts} attempts in one step (or failed); make the "
            "Functional with a larger `max_attempts`"
        )


def run_blocks(
    layout: Layout,
    steps: int,
    arrays: NetworkArrays,
    state: SimState,
    t0: jax.Array,
    sg_counts: jax.Array,
    n_steps: jax.Array | None = None,
    comm=None,
) -> tuple[SimState, Record]:
    """Advance ``n_steps`` steps from step ``t0`` in blocks of ``steps <= layout.m`` steps.

    Args:
        layout: static description (``jit`` static).
        steps: steps per block (static).
        arrays: the network's arrays (one shard's).
        state: the state at step ``t0`` (one shard's).
        t0: the first step (int32).
        sg_counts: ``float32[blocks, steps, n_spike_generators]`` spike counts of the
            ``spike_generator``\\s per step (a spike at time ``t_s`` counts in step
            ``t_s / h - 1``, like a neuron's spike stamped ``t_s``).
        n_steps: steps to run (int32, at most ``sg_counts.shape[0] * steps``, the same on
            every shard); ``None``: all. The block holding the last step runs only the
            steps up to it, the blocks after it are not run (a loop over the blocks
            needed) and recorded as zeros: one compiled chunk serves any shorter run. A
            Python int: a static loop (reverse-mode differentiable).
        comm: the collectives between shards (:mod:`._exchange`); unused for 1 shard.

    Returns:
        ``(state, record)``; the record's counts per block must be checked against the
        layout's capacities (a block over capacity is invalid), its samples are valid for
        the steps run.
    """
    if steps > layout.m:
        raise ValueError(f"`steps` must be <= the block length {layout.m}; got {steps}")
    if n_steps is None:
        n_steps = sg_counts.shape[0] * steps

    # Populations of one model in a row are stepped as one group for the whole chunk.
    groups = groups_of(layout, arrays)
    grouped = (groups, merge(arrays.params, groups), merge(arrays.props, groups))

    def of(lay):  # one block under `lay`, every array an argument (for custom_vjp)
        def run(arrays, params, props, state, t, sg, live):
            return _block(lay, comm, arrays, (groups, params, props), steps, state, t, sg, live)

        return run

    run = of(layout)
    adaptive = any(m.attempts for m in layout.models)
    if layout.dense and (layout.native or adaptive):
        # the kernels' values, the pure-JAX twin's derivatives (bounded RKF45 loops)
        twin = of(dataclasses.replace(layout, native=False))
        bound = layout.attempts or max(m.attempts for m in layout.models)
        run = _differentiated_as(run, _bounded(twin, bound) if adaptive else twin)

    def block(state, i):
        live = jnp.clip(n_steps - i * steps, 0, steps)
        return run(arrays, *grouped[1:], state, t0 + i * steps, sg_counts[i], live)

    if layout.dense:  # a functional run: reverse mode keeps each block's start, not its insides
        block = jax.checkpoint(block)

    capacity = sg_counts.shape[0]
    state = state._replace(neurons=merge(state.neurons, groups))
    shapes, tree = jax.tree.flatten(jax.eval_shape(block, state, jnp.int32(0))[1])
    packing = _packing(shapes, layout.dense and layout.spike_dtype == "float32")

    def body(i, carry):  # a loop over the blocks needed (no per-block branch)
        state, records = carry
        state, record = block(state, i)
        packed = _pack(jax.tree.leaves(record), packing)  # i < capacity: no bounds check
        return state, [jax.lax.dynamic_update_index_in_dim(rs, r, i, 0)
                       for rs, r in zip(records, packed, strict=True)]  # fmt: skip

    packed_shapes = jax.eval_shape(lambda *leaves: _pack(leaves, packing), *shapes)
    records = [jnp.zeros((capacity, *a.shape), a.dtype) for a in packed_shapes]
    n_blocks = (min if isinstance(n_steps, int) else jnp.minimum)(-(-n_steps // steps), capacity)
    state, records = jax.lax.fori_loop(0, n_blocks, body, (state, records))
    records = jax.tree.unflatten(tree, _unpack(records, packing, shapes))
    return state._replace(neurons=split(layout, state.neurons, groups)), records


def _packing(leaves, differentiable: bool) -> list[list[int]]:
    """Groups of a block record's leaves stored as one array (leaves of one shape and of
    32-bit types): one in-place update per group and block instead of one per leaf (each
    a small XLA kernel, a fixed cost that small networks pay every block).
    ``differentiable``: float leaves stay alone (the packing's bitcasts pass no gradient:
    a functional run's samples of every neuron, shaped as its spikes, lost theirs)."""
    groups = {}
    for k, x in enumerate(leaves):
        alone = x.dtype.itemsize != 4 or (differentiable and jnp.issubdtype(x.dtype, jnp.floating))
        groups.setdefault(k if alone else x.shape, []).append(k)
    return list(groups.values())


def _pack(leaves, packing) -> list:
    """``leaves`` as :func:`_packing`'s groups (a group of several: ``int32[k, *shape]``)."""
    return [leaves[g[0]] if len(g) == 1 else
            jnp.stack([jax.lax.bitcast_convert_type(leaves[k], jnp.int32) for k in g])
            for g in packing]  # fmt: skip


def _unpack(packed, packing, like) -> list:
    """The leaves (with a leading block axis) back from :func:`_pack`'s arrays."""
    out = [None] * len(like)
    for p, g in zip(packed, packing, strict=True):
        for j, k in enumerate(g):
            out[k] = p if len(g) == 1 else jax.lax.bitcast_convert_type(p[:, j], like[k].dtype)
    return out


def exchange_blocks(layout: Layout, arrays: NetworkArrays, spikes: jax.Array, comm=None):
    """Only the spike exchange, for ``spikes[blocks, m, n]`` (to time it apart from the rest).

    Returns the total of the dense spike matrices (so nothing is optimised away) and the
    own-spike count per block.
    """

    def body(total, block):
        dense, sent = _exchange(layout, comm, arrays, block)
        return total + dense.sum(), sent.n_own

    return jax.lax.scan(body, jnp.float32(0.0), spikes)


def on_mesh(fn, mesh: jax.sharding.Mesh, n_sharded: int):
    """``fn(*args, comm=...)`` on every device of a 1-D ``mesh`` (``shard_map``).

    The first ``n_sharded`` arguments are pytrees stacked ``[S, ...]`` (one slice per
    shard); the others are replicated. Outputs come back stacked ``[S, ...]``.
    """
    (axis,) = mesh.axis_names
    comm = MeshComm(axis, mesh.size)

    def per_shard(*args):
        local = jax.tree.map(lambda x: x[0], args[:n_sharded])
        return jax.tree.map(lambda x: x[None], fn(*local, *args[n_sharded:], comm=comm))

    spec, rep = jax.sharding.PartitionSpec(axis), jax.sharding.PartitionSpec()

    def run(*args):
        specs = (spec,) * n_sharded + (rep,) * (len(args) - n_sharded)
        mapped = jax.shard_map(per_shard, mesh=mesh, in_specs=specs, out_specs=spec,
                               check_vma=False)  # fmt: skip
        return mapped(*args)

    return run
