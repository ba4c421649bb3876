r"""The simulator as a pure function: ``run(params, state, steps)`` for ``jit``, ``grad``, ``vmap``.

:func:`functional` takes a built network (a :class:`~snnjax.sim.Simulator` or the PyNEST
facade's kernel) and returns a :class:`Functional`: its differentiable parameters
(:class:`SimParams`), its state (:class:`RunState`) and :meth:`Functional.run`, the same
blocks as ``Simulate`` (:func:`~snnjax.sim.run_blocks`; on CPU with the native kernels,
batched under ``vmap`` and differentiated as their pure-JAX twins) with three differences:

* every loop has a static trip count (delivery runs ``max_tiles`` tiles per block), so
  reverse-mode differentiation works; capacities are fixed, and a run that exceeds one
  (spikes per block, synapses per block, a Poisson table too short for a rate) raises
  ``RuntimeError`` from inside the compiled call, never silently;
* spikes are returned densely, ``float32[steps, N]`` (or ``uint8``) in the neuron order of
  :meth:`~snnjax.sim.Simulator.neuron_ids`, carrying the surrogate gradient of each
  model's spike (:mod:`snnjax.surrogate`; ``'exact'`` for the true, zero derivative);
* one process: one shard, or a device mesh (``shard_map``, params and state stacked per
  shard, the same spikes); or one shard per ``mpirun`` rank (``mpi4jax``: each rank runs
  its own part, its own neurons' spikes; forward only, ``jit``: ``mpi4jax``'s collectives
  have no transpose, so reverse mode raises, and no batching rule); plastic synapses too
  (their weights are state, their rules' parameters in :attr:`SimParams.plastic`; reverse
  mode needs ``max_synapses > 0``).

Gradients: exact through integration and delivery with respect to synaptic weights,
neuron parameters that enter the step (``I_e``, ``V_th``, ``V_reset``, ``E_L``, …),
propagators (``props``; time constants and ``C_m`` enter only through them, computed on
the host), generator weights and amplitudes, and plastic synapses' rule parameters and
initial weights (through a twin of their loops with static trip counts); through spikes
by the surrogate (the pairings' timing is discrete: no gradient). Poisson
rates are parameters too (per instance under ``vmap``; a changed rate's table is computed
in JAX, :func:`poisson_table_jax`), but discrete: their gradient is zero.

Memory of ``grad``: each block is a :func:`jax.checkpoint`, so reverse mode stores the
state at each block's start (neuron states and both ring buffers) and recomputes the
block's insides in the backward pass (about one more forward pass of compute).
"""

import dataclasses
import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._connect import build_csr
from ._exchange import MPIComm
from ._native import use_native
from ._nest import simulator
from ._network import NetworkArrays, SimState, forward_only, on_mesh, run_blocks
from .models import get_model

__all__ = ["Functional", "RunState", "SimParams", "Trace", "functional", "poisson_table_jax"]


class SimParams(NamedTuple):
    """The differentiable parameters of a built network (float leaves only).

    Attributes:
        weight: ``float32[n_synapses]`` static synapse weights (pA, or nS for conductance
            models) in the CSR's order; :attr:`Functional.projection` names the ``Connect``
            call of each.
        neurons: per population, ``{name: float32[n]}`` of the model's float parameters.
        props: per population, ``{name: float32[n]}`` of its float propagators.
        poisson: per ``poisson_generator`` ``Connect`` call, ``{"weight": float32[c],
            "rate": float32[R]}`` (rate per generator row in Hz; zero gradient).
        spike_weight: ``float32[c]`` weights of the ``spike_generator`` connections.
        current: ``float32[c]`` amplitude times weight of the ``dc_generator`` connections.
        plastic: per plastic projection, its rule's parameters
            (:class:`~snnjax.sim._stdp.StdpParams` as a dict: ``h_tau_plus`` = h /
            ``tau_plus``, ``lam``, ``alpha``, ``mu_plus``, ``mu_minus``, ``Wmax``; ``[1]``
            or per synapse). Plastic weights are state (:attr:`RunState.sim`).
    """

    weight: jax.Array
    neurons: tuple
    props: tuple
    poisson: tuple
    spike_weight: jax.Array
    current: jax.Array
    plastic: tuple = ()


class RunState(NamedTuple):
    """The network's state and the step it is at."""

    sim: SimState
    t: jax.Array  #: ``int32[]`` step


class Trace(NamedTuple):
    """What :meth:`Functional.run` records."""

    spikes: jax.Array  #: ``[steps, N]`` spike counts per step and neuron (``spike_dtype``)
    samples: jax.Array  #: ``float32[steps, k]`` multimeter values (:attr:`Functional.sample_keys`)


def poisson_table_jax(lam: jax.Array, K: int) -> tuple[jax.Array, jax.Array]:
    r""":func:`~snnjax.sim._network.poisson_table` in JAX (``K`` static): ``(uint32[K]
    table, int32 size)``, the table padded with ``2**32 - 1``.

    From the tail :math:`P(X > k)`, the regularised lower incomplete gamma function
    :math:`P(k + 1, \lambda)` (accurate where the tail is tiny): entry ``k`` is
    :math:`2^{32} - \lceil 2^{32} P(X > k) \rceil`, the table stops where the tail falls
    below :math:`2^{-32}`. In float32: the same sizes as the host's tables, thresholds
    within ``~3e-6`` in probability up to a mean of 20 per step (the float32 incomplete
    gamma function). ``size == K`` means ``K`` was too short.
    """
    lam = jnp.asarray(lam, jnp.float32)
    ks = jnp.arange(K, dtype=jnp.float32)
    tail = jax.scipy.special.gammainc(ks + 1.0, jnp.maximum(lam, 1e-30)) * 2.0**32
    size = jnp.where(lam > 0, jnp.sum(tail > 1.0), 0).astype(jnp.int32)
    # 2**32 - ceil(tail), in uint32 (float32 holds at most 2**32 - 256 below 2**32)
    entry = jnp.uint32(2**32 - 1) - jnp.clip(jnp.ceil(tail) - 1.0, 0.0, 4294967040.0).astype(
        jnp.uint32
    )
    table = jnp.where(jnp.arange(K) < size, entry, jnp.uint32(2**32 - 1))
    return table, size


def _floats(tree: NamedTuple) -> dict:
    return {
        k: v
        for k, v in tree._asdict().items()
        if jnp.issubdtype(jnp.asarray(v).dtype, jnp.floating)
    }


@dataclasses.dataclass(frozen=True, eq=False)
class Functional:
    """A built network as pure functions (make it with :func:`functional`).

    Attributes:
        params: the network's :class:`SimParams` as built.
        state: its :class:`RunState` now (where the simulator stands).
        layout: the static :class:`~snnjax.sim.Layout` of the runs.
        neuron_ids: node id of each column of :attr:`Trace.spikes`.
        sample_keys: ``(recordable, neuron index)`` of each column of :attr:`Trace.samples`.
        projection: ``int32[n_synapses]``: the neuron-to-neuron ``Connect`` call of each
            synapse of :attr:`SimParams.weight` (its index in ``Simulator.projections``,
            the calls between neurons in order; -1: padding, or any once synapses were
            changed).
        h: resolution (ms).
        mesh: the simulator's device mesh (``None``: one shard, or this rank's under
            MPI: then :attr:`neuron_ids`, the columns, are this rank's). With ``S`` shards every
            leaf of :attr:`params` and :attr:`state` is stacked ``[S, ...]`` (each shard's
            own neurons and incoming synapses, padded), :attr:`projection` too.
    """

    params: SimParams
    state: RunState
    layout: Any
    neuron_ids: np.ndarray
    sample_keys: tuple
    projection: np.ndarray
    h: float
    mesh: Any
    _comm: MPIComm | None  # the collectives between MPI ranks (None: one process)
    _arrays: NetworkArrays
    _order: np.ndarray  # column of each neuron in the shards' concatenated slots
    _sample_cols: np.ndarray
    _sg_table: jax.Array  # float32[T, n_spike_generators]

    def __post_init__(self):
        object.__setattr__(self, "_compiled", jax.jit(self._run, static_argnums=2))

    def _network(
        self, a: NetworkArrays, params: SimParams, rates
    ) -> tuple[NetworkArrays, jax.Array]:
        """One shard's arrays ``a`` with ``params`` in (``rates``: as built), and whether a
        rate's table was too short."""
        poisson, short = [], jnp.bool_(False)
        for p, q, rate0 in zip(a.poisson, params.poisson, rates, strict=True):
            lam = q["rate"] * (self.h / 1000.0)
            K = p.table.shape[1]
            table, size = jax.vmap(poisson_table_jax, (0, None))(lam, K)
            same = q["rate"] == rate0  # as built: the host's table, bit for bit
            short |= jnp.any(~same & (size >= K))  # its tail past the table: not covered
            poisson.append(p._replace(
                weight=q["weight"], table=jnp.where(same[:, None], p.table, table),
                size=jnp.where(same, p.size, size)))  # fmt: skip
        return a._replace(
            csr=a.csr._replace(weight=params.weight),
            params=tuple(x._replace(**d) for x, d in zip(a.params, params.neurons, strict=True)),
            props=tuple(x._replace(**d) for x, d in zip(a.props, params.props, strict=True)),
            poisson=tuple(poisson),
            spikes_in=a.spikes_in._replace(weight=params.spike_weight),
            current=a.current._replace(value=params.current),
            plastic=tuple(
                x._replace(params=x.params._replace(**d))
                for x, d in zip(a.plastic, params.plastic, strict=True)
            ),
        ), short

    def _run(self, params: SimParams, state: RunState, steps: int) -> tuple[RunState, Trace]:
        """Advance ``steps`` steps (static); pure, see :meth:`run`."""
        layout = self.layout
        if not isinstance(steps, int) or steps < 1:
            raise ValueError(f"`steps` must be a positive int; got {steps!r}")
        blocks = -(-steps // layout.m)
        sg = jnp.pad(self._sg_table, ((0, blocks * layout.m), (0, 0)))
        sg = jax.lax.dynamic_slice_in_dim(sg, jnp.minimum(state.t, self._sg_table.shape[0]),
                                          blocks * layout.m)  # fmt: skip
        sg = sg.reshape(blocks, layout.m, -1)

        def shard(arrays, sim, params, rates, t0, sg, comm=None):
            arrays, short = self._network(arrays, params, rates)
            sim, rec = run_blocks(layout, layout.m, arrays, sim, t0, sg, steps, comm)
            return sim, rec, short

        built = tuple(q["rate"] for q in self.params.poisson)  # the rates as built
        if self.mesh is None:
            run = shard if self._comm is None else forward_only(
                functools.partial(shard, comm=self._comm), "gradients under MPI",
                "forward runs are; or use devices=")  # fmt: skip
            sim, rec, short = run(self._arrays, state.sim, params, built, state.t, sg)
            rec, short = jax.tree.map(lambda x: x[None], (rec, short))  # the shard axis
        else:
            sim, rec, short = on_mesh(shard, self.mesh, 4)(
                self._arrays, state.sim, params, built, state.t, sg)  # fmt: skip
        max_syn = layout.tiles * layout.tile if layout.tiles else np.inf
        # the capacities' needs, reduced to scalars before they leave the devices
        own = rec.n_own if layout.shards > 1 else jnp.zeros(1, jnp.int32)
        counts = rec.count if layout.spike_dtype == "uint8" else jnp.zeros(1)  # its range
        need = jnp.stack([jnp.max(x, initial=0).astype(jnp.int32) for x in (
            rec.n_recv, own, rec.n_route, rec.n_syn, rec.n_bad, short, rec.n_lost,
            counts)])  # fmt: skip
        if self._comm is not None:  # every rank's: every rank raises the same error
            need = jnp.max(self._comm.all_gather(need), axis=0)
        check = functools.partial(_check, layout=layout, max_syn=max_syn, h=self.h)
        jax.debug.callback(check, state.t, need)

        def flat(x):  # [shards, blocks, m, x] -> [steps, shards * x]
            x = jnp.moveaxis(x.reshape(x.shape[0], blocks * layout.m, -1), 0, 1)
            return x.reshape(blocks * layout.m, -1)[:steps]

        # then the columns in neuron order (index arrays made in _columns: a NumPy index's
        # conversion is cached across x64 modes)
        spikes, samples = (_columns(flat(x), cols) for x, cols in (
            (rec.spikes, self._order), (rec.samples, self._sample_cols)))  # fmt: skip
        return RunState(sim, state.t + steps), Trace(spikes, samples)

    def run(self, params: SimParams, state: RunState, steps: int) -> tuple[RunState, Trace]:
        """Advance ``steps`` steps (a static int) from ``state``: ``(state, trace)``.

        Pure and compiled once per ``steps`` (and input shapes): differentiate it with
        ``jax.grad``, batch it with ``jax.vmap`` (e.g. ``in_axes=(0, None, None)`` for ``B``
        parameter sets), nest it in your own ``jit``. Without changes to ``params``,
        the spikes are those of ``Simulate`` (pure-JAX path) bit for bit.

        Raises:
            RuntimeError: (from inside the compiled call) a block had more spikes than
                ``max_spikes`` or synapses than ``max_tiles * tile``, a rate needs a longer
                Poisson table than built, or a neuron state became non-finite.
        """
        return self._compiled(params, state, steps)


def _columns(x: jax.Array, cols: np.ndarray) -> jax.Array:
    """``x[:, cols]``; no copy where ``cols`` are all columns in order."""
    if len(cols) == x.shape[1] and np.array_equal(cols, np.arange(len(cols))):
        return x
    return x[:, jnp.asarray(cols)]


def _check(t, need, *, layout, max_syn, h):
    """Raise on an exceeded capacity (a ``jax.debug.callback``; ``need``: the largest spike
    counts received / sent / routed, synapses expanded, non-finite values, short Poisson
    tables, plastic updates that missed a dropped spike and a neuron's spikes in one step
    (a ``uint8`` record), per block; batched under ``vmap``)."""
    need = np.asarray(need).reshape(-1, 8).max(0)
    where = f"in the run from t = {float(np.min(t)) * h:g} ms"
    for what, n, cap in (("spike", need[0], layout.max_spikes), ("send", need[1], layout.max_send),
                         ("routing", need[2], layout.max_route)):  # fmt: skip
        if n > cap:
            raise RuntimeError(f"{what} buffer overflow {where}: a block of {layout.m} steps "
                               f"had {n} spikes, capacity {cap}; make the Functional with a "
                               "larger `max_spikes`")  # fmt: skip
    if need[3] > max_syn:
        raise RuntimeError(f"delivery overflow {where}: a block expanded {need[3]} synapses, "
                           f"capacity max_tiles * tile = {max_syn}; make the Functional with "
                           "a larger `max_synapses`")  # fmt: skip
    if need[6]:
        raise RuntimeError(f"spike history overflow {where}: a plastic synapse needed a "
                           "spike dropped from its target's history; make the Simulator with "
                           "a larger `stdp_history` (kernel attribute 'stdp_history')")  # fmt: skip
    if need[5]:
        raise RuntimeError(
            "a Poisson rate needs a longer table than the network was built "
            "with; build it with the largest rate first"
        )
    if need[4]:
        raise RuntimeError(f"numerical failure {where}: a neuron state became non-finite")
    if need[7] > 255:
        raise RuntimeError(f"record overflow {where}: a neuron spiked {need[7]} times in "
                           "one step, more than `spike_dtype='uint8'` holds")  # fmt: skip


def functional(sim=None, *, max_spikes: int | None = None, max_synapses: int | None = None,
               tile: int | None = None, surrogate=None, detach_reset: bool | None = None,
               native: bool | None = None, spike_dtype: str = "float32",
               max_attempts: int | None = None) -> Functional:  # fmt: skip
    """The built network of ``sim`` as a :class:`Functional` (building it first if needed).

    Args:
        sim: a :class:`~snnjax.sim.Simulator` (one shard, several devices: ``shard_map``,
            or one shard per MPI rank; the same spikes); ``None``: the PyNEST facade's
            (``import snnjax.sim as nest``).
        max_spikes: spikes per block the runs hold (``None``: 4x the simulator's first
            guess, room for an onset burst).
        max_synapses: synapses per block the delivery expands (the static ones, and each
            plastic projection's per pass over the spikes; ``None``: ``max_spikes``
            times the largest out-degree, which cannot overflow before the spikes do; 0:
            as many as the spikes need, a dynamic loop: fast for forward runs and ``vmap``
            but not reverse-differentiable).
        tile: synapses per delivery tile (``None``: the simulator's). Under ``vmap`` every
            instance runs the tiles of the busiest one: small tiles waste less.
        surrogate: a surrogate for every population's spike (``None``: each model's own;
            ``'exact'``: zero derivative, for gradient checks).
        detach_reset: pass no gradient through the resets (``None``: each model's own).
        native: delivery, Poisson input and the take-out by the native CPU kernels
            (:mod:`snnjax.sim._native`; batched under ``vmap``, one call for all
            instances), differentiated as their pure-JAX twins (the same values bit for
            bit), and the adaptive RKF45 of the ``iaf_cond_*``, ``aeif_*`` and ``hh_*``
            (differentiated as the bounded JAX loop, ``max_attempts``, whose values differ
            by float32 rounding); ``None``: as the
            simulator (``Simulator(native=...)``), ``False``: pure JAX.
        spike_dtype: dtype of :attr:`Trace.spikes`: ``"float32"`` (carries the surrogate
            gradient) or ``"uint8"`` (forward runs: a quarter of the memory and of the
            time spent filling it, which dominates batched runs of small networks; a
            neuron spiking more than 255 times in one step raises).
        max_attempts: reverse mode through NEST's adaptive RKF45 (``iaf_cond_*``,
            ``aeif_*``, ``hh_*`` without ``integrator_substeps``): each step's RKF45
            attempts in a static loop of at most this many lockstep iterations over a
            group's neurons (forward runs keep the dynamic loop; the reverse pass skips
            iterations in chunks of 8 once every neuron is done, but its memory and time
            grow with the bound); a neuron needing more raises from the reverse pass.
            ``None``: the largest of the network's models' own bounds (``iaf_cond_*``: 16,
            ``hh_*``: 64, ``aeif_*``: 256; measured needs: at most 4, 16 and ~130, the
            AdEx upstroke under its ``yp`` control at ``gsl_error_tol`` 1e-6).

    Raises:
        ValueError: a bad capacity or ``spike_dtype``, or ``native=True`` where the kernels
            are not built or the devices are not CPUs.
    """
    sim = simulator() if sim is None else sim
    native = sim.native if native is None else use_native(native, jax.devices()[0].platform)
    for name, value in (("max_spikes", max_spikes), ("max_synapses", max_synapses),
                        ("tile", tile), ("max_attempts", max_attempts)):  # fmt: skip
        low = 0 if name == "max_synapses" else 1
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < low):  # fmt: skip
            raise ValueError(f"`{name}` must be an int >= {low} or None; got {value!r}")
    if spike_dtype not in ("float32", "uint8"):
        raise ValueError(f"`spike_dtype` must be 'float32' or 'uint8'; got {spike_dtype!r}")
    if surrogate is not None or detach_reset is not None:  # checks them
        get_model("iaf_psc_exp", surrogate=surrogate or "fast_sigmoid",
                  detach_reset=False if detach_reset is None else detach_reset)  # fmt: skip
    sim.prepare()
    arrays, layout = sim._built["arrays"], sim._built["layout"]
    mine = sim._local_shards()  # the shards of this process
    spikes_cap = max_spikes or min(4 * layout.max_spikes, max(1, layout.N * layout.m))
    syn_cap = 1  # the static and each plastic projection's CSR: delivered in tiles alike
    for csr in (arrays.csr, *(p.csr for p in arrays.plastic)):
        ptr = np.asarray(csr.ptr).reshape(len(mine), -1)
        out_degree = int(np.diff(ptr, axis=1).max(initial=0))
        syn_cap = max(syn_cap, min(spikes_cap * out_degree, int(ptr[:, -1].max()) * layout.m))
    if sim.comm is not None:  # one layout on every rank
        syn_cap = max(sim.comm.allgather(syn_cap))
    tile = tile or layout.tile
    tiles = 0 if max_synapses == 0 else -(-(max_synapses or syn_cap) // tile)
    models = layout.models
    if surrogate is not None or detach_reset is not None:
        models = tuple(get_model(
            m.name, surrogate=m.surrogate if surrogate is None else surrogate,
            detach_reset=m.detach_reset if detach_reset is None else detach_reset,
            substeps=m.substeps) for m in models)  # fmt: skip
    own_cap = min(spikes_cap, layout.n * layout.m)  # a shard's own spikes: within the total
    layout = dataclasses.replace(layout, native=native, dense=True, models=models,
                                 max_spikes=spikes_cap, tiles=tiles, tile=tile,
                                 max_send=own_cap, max_route=own_cap,
                                 recorded=(False,) * len(layout.plastic),
                                 plastic_native=(), spike_dtype=spike_dtype,
                                 attempts=max_attempts or 0)  # fmt: skip
    S = sim.shards
    params = SimParams(
        weight=arrays.csr.weight,
        neurons=tuple(_floats(p) for p in arrays.params),
        props=tuple(_floats(p) for p in arrays.props),
        poisson=tuple(
            {
                "weight": p.weight,
                "rate": jnp.asarray(r if len(mine) == 1 else np.tile(r, (S, 1)), jnp.float32),
            }
            for p, r in zip(arrays.poisson, _rates(sim), strict=True)
        ),
        spike_weight=arrays.spikes_in.weight,
        current=arrays.current.value,
        plastic=tuple(_floats(p.params) for p in arrays.plastic),
    )
    # each shard here holds columns i * n .. i * n + n - 1 of the run (i: its place in `mine`)
    n, place = layout.n, {s: i for i, s in enumerate(mine)}
    local = np.flatnonzero(np.isin(sim.owner, mine))  # the neurons of the shards here
    order = np.array([place[sim.owner[k]] * n + sim._slots[sim.owner[k]][0][k] for k in local],
                     np.int64)  # fmt: skip
    keys, cols = (), np.zeros(0, np.int64)
    if sim._sample_order is not None:  # each shard's samples: columns i * k .. i * k + k - 1
        keys, shard, col = sim._sample_order
        here = np.isin(shard, mine)
        k = sum(len(names) * np.shape(i)[-1]
                for names, i in zip(layout.sampled, arrays.sample_index, strict=True))  # fmt: skip
        keys = [key for key, h in zip(keys, here, strict=True) if h]
        cols = np.array([place[x] for x in shard[here]], np.int64) * k + col[here]
    T = max((int(s.max()) + 1 for s, _ in sim._sg_steps if len(s)), default=0)
    sg = np.asarray(sim._sg_counts(0, 1, T)[0]) if T else np.zeros((0, len(sim._sg_steps)))
    projection = _projection(sim, mine, np.shape(params.weight))
    return Functional(
        params=params, state=RunState(sim.state, jnp.int32(sim.t_steps)), layout=layout,
        neuron_ids=sim.neuron_ids()[local], sample_keys=tuple(keys), projection=projection,
        h=sim.h, mesh=sim.mesh, _comm=sim._mpi_comm(), _arrays=arrays, _order=order,
        _sample_cols=cols, _sg_table=jnp.asarray(sg, jnp.float32),
    )  # fmt: skip


def _rates(sim) -> list[np.ndarray]:
    """Per Poisson ``Connect`` call, the rate (Hz) of each generator row, as built."""
    rates = sim._device_values("poisson_generator", "rate")
    return [rates[np.unique(c.device)] for c in sim.device_conns if c.kind == "poisson_generator"]


def _projection(sim, mine: list[int], shape: tuple[int, ...]) -> np.ndarray:
    """The ``Connect`` call of each static synapse in CSR order (``shape``: the weights',
    ``[S, nnz]`` with several shards here, padding -1): each shard's (of ``mine``) CSR built
    again from the same keyed draws with the call's index as the weight (same stable
    order)."""
    out = np.full(shape, -1, np.int32)
    if sim._modified:
        return out  # carried-over synapses: their origin is unknown
    for i, s in enumerate(mine):
        slot_of, gid, _ = sim._slots[s]

        def parts(s=s):  # one static Connect call at a time, as the build draws them
            for p in (p for p, pr in enumerate(sim.projections) if not pr.plastic):
                for syn in sim._projection_parts(s, p):
                    yield dataclasses.replace(syn, weight=np.full(len(syn.weight), p, np.float32))

        ids = build_csr(sim.n_neurons, parts(), slot_of, n_slots=len(gid)).weight
        out.reshape(len(mine), -1)[i, : len(ids)] = ids
    return out
