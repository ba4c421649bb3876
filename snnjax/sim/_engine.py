"""The simulator: NEST's nodes and connections on the host, the functional core on the device.

:class:`Simulator` keeps what ``Create``/``Connect``/``set`` describe (NEST node ids from 1
in creation order, neurons and devices alike), builds it once (:meth:`Simulator.prepare`:
connectivity from keyed random streams, propagators, generator inputs, a compiled chunk)
and then advances it chunk by chunk (:meth:`Simulator.run`) with
:func:`~snnjax.sim._network.run_blocks`. After each chunk the spike count of every block is
checked against the spike buffer (``max_spikes``): when automatic, the buffer grows and the
chunk is re-run from its start; when set explicitly, an overflow raises with the capacity
needed. Recorded spikes and samples are copied to the host after each chunk and filtered
there, so device memory stays bounded. A progress bar shows simulated time.

Sharding: a placement (:mod:`._placement`) gives every neuron an owner shard; each shard
holds its own neurons (populations padded to the same count on every shard) and their
incoming synapses, built from keyed streams (connections by target, Poisson input by target
and step, random parameters by node id), so the network and its spikes do not depend on
how it is split. Shards are local devices (``devices=D``: ``shard_map``) or MPI ranks
(``mpi=comm``: ``mpi4jax``), exchanging spikes once per block (:mod:`._exchange`).
"""

import copy
import dataclasses
import functools
import math
import time
import zlib
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from .._errors import check_one_of, check_range
from ._connect import ConnSpec, bucket, build_csr, connect, delay_steps
from ._delivery import DeviceCSR
from ._exchange import EXCHANGES, KEY_BYTES, MPIComm
from ._models import DEFAULTS, INITIAL_STATE, MODEL_NAMES, _check_h, get_model
from ._network import (
    RECORDABLES,
    CurrentInput,
    Layout,
    NetworkArrays,
    PoissonInput,
    SimState,
    SpikeInput,
    exchange_blocks,
    on_mesh,
    poisson_table,
    run_blocks,
)
from ._placement import PLACEMENTS, place
from ._random import Parameter, sample_per_id

#: NEST's devices and their parameters (defaults).
DEVICE_DEFAULTS: dict[str, dict[str, Any]] = {
    "poisson_generator": {"rate": 0.0, "start": 0.0, "stop": math.inf},
    "dc_generator": {"amplitude": 0.0, "start": 0.0, "stop": math.inf},
    "spike_generator": {"spike_times": (), "spike_multiplicities": ()},
    "spike_recorder": {"start": 0.0, "stop": math.inf},
    "multimeter": {"record_from": (), "interval": 1.0, "start": 0.0, "stop": math.inf},
}
DEVICES = tuple(DEVICE_DEFAULTS)


def node_defaults(model: str) -> dict[str, Any]:
    """NEST's defaults of a neuron model (parameters and initial state) or of a device."""
    if model in MODEL_NAMES:
        return {**DEFAULTS[model], **INITIAL_STATE[model]}
    return dict(DEVICE_DEFAULTS[model])


_GENERATORS = ("poisson_generator", "dc_generator", "spike_generator")
_KEY_PARAMS, _KEY_POISSON = 0x7A1, 0x9015


@dataclasses.dataclass
class _Group:
    """The nodes of one ``create`` call: ids ``first .. first + n - 1``."""

    model: str
    first: int
    n: int
    values: dict  # neurons: name -> float64[n]; devices: name -> list of n values
    offset: int = -1  # neurons: index of the first one in the neuron axis
    shard: int = -1  # RemoteCreate: the shard (rank) that owns them; -1: placement decides

    @property
    def is_neuron(self) -> bool:
        return self.model in MODEL_NAMES


@dataclasses.dataclass
class _DeviceConn:
    kind: str
    device: np.ndarray  # device positions within their kind
    neuron: np.ndarray  # neuron indices
    weight: np.ndarray
    delay: np.ndarray  # steps


class Simulator:
    """A NEST-style network: ``create``, ``connect``, ``set``/``get``, ``simulate``.

    Args:
        resolution: the time step ``h`` in ms.
        seed: the seed of every random draw (connectivity, Poisson input, random
            parameters); NEST's ``rng_seed``.
        max_spikes: capacity of the spike buffer of one block of steps. ``None``: sized
            from a 100 Hz guess and grown automatically (the chunk is re-run). Set
            explicitly, an overflow raises ``RuntimeError`` with the capacity needed.
        chunk: steps per compiled chunk (rounded down to whole blocks).
        tile: synapses expanded per iteration of the delivery loop; ``None``: the synapses
            a block expands at 10 Hz, as a power of two in ``[2**12, 2**16]``.
        progress: show a progress bar over simulated time.
        devices: shard the network over this many local JAX devices (``shard_map``).
        exchange: how shards exchange spikes: ``'all_gather'``, ``'all_to_all'`` or
            ``'point_to_point'`` (:mod:`snnjax.sim._exchange`).
        placement: which shard owns each neuron: ``'round_robin'``, ``'block'`` or
            ``'partition'`` (:mod:`snnjax.sim._placement`).
        mpi: an ``mpi4py`` communicator (or ``True`` for ``COMM_WORLD``): one shard per
            rank; every rank runs the same script and builds only its own shard.

    Examples:
        >>> sim = Simulator(resolution=0.1, seed=1)
        >>> exc = sim.create("iaf_psc_exp", 100, {"I_e": 380.0})
        >>> rec = sim.create("spike_recorder")
        >>> sim.connect(exc, rec)
        >>> sim.simulate(100.0)
        >>> events = sim.events(rec[0])
    """

    def __init__(
        self,
        resolution: float = 0.1,
        seed: int = 0,
        *,
        max_spikes: int | None = None,
        chunk: int = 1000,
        tile: int | None = None,
        progress: bool = False,
        devices: int = 1,
        exchange: str = "all_gather",
        placement: str = "round_robin",
        mpi: Any = None,
    ):
        check_range("resolution", resolution, low=0.0, low_inclusive=False)
        check_one_of("exchange", exchange, EXCHANGES)
        check_one_of("placement", placement, PLACEMENTS)
        if not isinstance(devices, int) or devices < 1:
            raise ValueError(f"`devices` must be a positive int; got {devices!r}")
        if mpi is True:
            mpi = mpi().COMM_WORLD
        comm = mpi if mpi is not None and mpi.Get_size() > 1 else None
        if comm is not None and devices > 1:
            raise ValueError(
                f"`devices` must be 1 under MPI with {comm.Get_size()} ranks (one shard per "
                f"rank); got {devices}"
            )
        if devices > len(jax.devices()):
            raise ValueError(
                f"`devices`={devices}, but JAX sees {len(jax.devices())} device(s); on CPU "
                "set XLA_FLAGS=--xla_force_host_platform_device_count=N before JAX starts"
            )
        _check_h(resolution)  # a whole number of NEST tics
        if not isinstance(seed, int | np.integer) or seed < 0:
            raise ValueError(f"`seed` must be an int >= 0; got {seed!r}")
        for name, value in (("chunk", chunk), ("tile", tile or 1)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` must be a positive int; got {value!r}")
        if max_spikes is not None and (not isinstance(max_spikes, int) or max_spikes < 1):
            raise ValueError(f"`max_spikes` must be a positive int or None; got {max_spikes!r}")
        self.h, self.seed = float(resolution), int(seed)
        self.exchange, self.placement, self.comm = exchange, placement, comm
        self.shards = comm.Get_size() if comm is not None else devices
        self.rank = comm.Get_rank() if comm is not None else 0
        self.mesh = (
            jax.sharding.Mesh(np.array(jax.devices()[:devices]), ("shards",))
            if devices > 1 else None
        )  # fmt: skip
        self.stats: dict = {}
        self.max_spikes, self.chunk, self.tile, self.progress = max_spikes, chunk, tile, progress
        self.groups: list[_Group] = []
        self.n_neurons = 0
        self.projections: list[tuple] = []
        self.device_conns: list[_DeviceConn] = []
        self.watch: dict[int, set[int]] = {}  # spike_recorder id -> neuron indices
        self.sampled: dict[int, list[int]] = {}  # multimeter id -> neuron indices
        self.n_device_connections = 0
        self.t_steps = 0
        self._built = None
        self._spikes: list[tuple[np.ndarray, np.ndarray]] = []  # (neuron index, step)
        self._samples: dict[int, list[np.ndarray]] = {}

    # ------------------------------------------------------------------------ nodes
    @property
    def n_nodes(self) -> int:
        return sum(g.n for g in self.groups)

    def create(
        self, model: str, n: int = 1, params: dict | None = None, *, shard: int | None = None
    ) -> np.ndarray:
        """``n`` nodes of a NEST ``model`` (neuron or device); returns their ids (from 1).

        ``params`` values: a scalar, one value per node, or a random parameter
        (:mod:`snnjax.sim.random`) drawn per node id. ``shard``: the shard (MPI rank) that
        owns the neurons (NEST GPU's ``RemoteCreate``); ``None``: the placement decides.
        """
        check_one_of("model", model, (*MODEL_NAMES, *DEVICES))
        if not isinstance(n, int | np.integer) or n < 1:
            raise ValueError(f"`n` must be a positive int; got {n!r}")
        if shard is not None and not (isinstance(shard, int | np.integer)
                                      and 0 <= shard < self.shards):  # fmt: skip
            raise ValueError(f"`shard` (rank) must be in [0, {self.shards - 1}]; got {shard!r}")
        self._check_not_built("create")
        first = self.n_nodes + 1
        if model in MODEL_NAMES:
            values = {
                k: np.full(n, v, bool if isinstance(v, bool) else np.float64)
                for k, v in node_defaults(model).items()
            }
            group = _Group(model, first, int(n), values, offset=self.n_neurons,
                           shard=-1 if shard is None else int(shard))  # fmt: skip
            self.n_neurons += n
        else:
            values = {k: [v] * n for k, v in node_defaults(model).items()}
            group = _Group(model, first, int(n), values)
        self.groups.append(group)
        ids = np.arange(first, first + n)
        try:
            self.set(ids, params or {})
        except ValueError:
            self.groups.pop()
            self.n_neurons -= n if group.is_neuron else 0
            raise
        return ids

    def _group_of(self, ids: np.ndarray) -> list[tuple[_Group, np.ndarray]]:
        """``(group, positions)`` of the nodes ``ids`` (in order, consecutive runs)."""
        ids = np.asarray(ids, np.int64).reshape(-1)
        if ids.size and (ids.min() < 1 or ids.max() > self.n_nodes):
            raise ValueError(
                f"node ids must be in [1, {self.n_nodes}]; got {ids.min()}..{ids.max()}"
            )
        starts = np.array([g.first for g in self.groups])
        which = np.searchsorted(starts, ids, side="right") - 1
        cuts = np.flatnonzero(np.diff(which)) + 1
        return [
            (self.groups[w[0]], part - self.groups[w[0]].first)
            for w, part in zip(np.split(which, cuts), np.split(ids, cuts), strict=True)
            if len(part)
        ]

    def model_of(self, ids) -> str:
        """The model of the nodes ``ids`` (all must have the same)."""
        models = {g.model for g, _ in self._group_of(ids)}
        if len(models) != 1:
            raise ValueError(f"the nodes must all have one model; got {sorted(models)}")
        return models.pop()

    def set(self, ids, params: dict) -> None:
        """Set parameters (or the initial state, e.g. ``V_m``) of the nodes ``ids``."""
        if not isinstance(params, dict):
            raise ValueError(f"`params` must be a dict; got {params!r}")
        ids = np.asarray(ids, np.int64).reshape(-1)
        if params:
            self._check_not_built("set")
        touched = [g for g, _ in self._group_of(ids)]
        backup = [copy.deepcopy(g.values) for g in touched]
        try:
            self._set(ids, params)
        except ValueError:  # all or nothing
            for g, values in zip(touched, backup, strict=True):
                g.values = values
            raise

    def _set(self, ids, params):
        done = 0
        for group, pos in self._group_of(ids):
            for key, value in params.items():
                check_one_of(f"{group.model} parameter", key, sorted(group.values))
                vals = self._values_for(key, value, ids[done : done + len(pos)], len(ids), done)
                if group.is_neuron:
                    group.values[key][pos] = vals
                else:
                    for p, v in zip(pos, vals, strict=True):
                        group.values[key][p] = _device_value(group.model, key, v, self.h)
            done += len(pos)
        for group, _ in self._group_of(ids):
            if group.is_neuron:  # validate the whole population now, not at build time
                self._neuron_params(group)

    def _values_for(self, key, value, ids, n_total, done):
        if isinstance(value, Parameter):
            base = jax.random.fold_in(jax.random.key(self.seed), _KEY_PARAMS)
            base = jax.random.fold_in(base, zlib.crc32(key.encode()))
            padded = np.pad(ids, (0, bucket(len(ids)) - len(ids)))  # few shapes, few compiles
            drawn = sample_per_id(value, base, jnp.asarray(padded, jnp.int32))
            return np.asarray(drawn, np.float64)[: len(ids)]
        if isinstance(value, list | tuple | np.ndarray) and not _is_array_param(key):
            arr = np.asarray(value)
            if arr.ndim == 1 and len(arr) == n_total:
                return arr[done : done + len(ids)]
            if arr.ndim != 0:
                raise ValueError(
                    f"`{key}` must be a scalar or have one value per node ({n_total}); "
                    f"got shape {arr.shape}"
                )
        return [value] * len(ids) if _is_array_param(key) else np.full(len(ids), value)

    def get(self, ids, key: str) -> list:
        """The value of ``key`` for each node of ``ids`` (NEST units)."""
        out = []
        for group, pos in self._group_of(ids):
            if key == "model":
                out += [group.model] * len(pos)
                continue
            check_one_of(f"{group.model} parameter", key, [*sorted(group.values), "model"])
            if group.is_neuron and key in INITIAL_STATE[group.model] and self._built is not None:
                out += list(self._state_value(group, key, pos))
            else:
                vals = group.values[key]
                out += [vals[p] for p in pos]
        return [float(v) if isinstance(v, np.floating) else v for v in out]

    def _state_value(self, group, key, pos):
        """Current values of a state variable (under MPI: collective, from the owners)."""
        p = [g for g in self.groups if g.is_neuron].index(group)
        model, index = get_model(group.model), group.offset + np.asarray(pos)
        owner = self.owner[group.offset : group.offset + group.n]
        rank_in_shard = np.zeros(group.n, np.int64)
        for s in np.unique(owner):
            rank_in_shard[owner == s] = np.arange(np.sum(owner == s))
        out = np.full(len(index), np.nan)
        for s in [self.rank] if self.comm is not None else range(self.shards):
            mine = self.owner[index] == s
            if not mine.any():
                continue
            state, params = self.state.neurons[p], self._built["arrays"].params[p]
            if self.mesh is not None:
                state, params = jax.tree.map(lambda x, s=s: x[s], (state, params))
            value = model.V_m(params, state) if key == "V_m" else getattr(state, key)
            out[mine] = np.asarray(value, np.float64)[rank_in_shard[index[mine] - group.offset]]
        if self.comm is not None:
            parts = self.comm.allgather(out)
            out = np.where(self.owner[index] == self.rank, out, np.nan)
            for r, part in enumerate(parts):
                out = np.where(self.owner[index] == r, part, out)
        return out

    def _neuron_params(self, group: _Group, pos=slice(None)):
        names = DEFAULTS[group.model]
        return get_model(group.model).params(**{k: group.values[k][pos] for k in names})

    def _check_not_built(self, what: str) -> None:
        if self._built is not None:
            raise ValueError(
                f"cannot {what} after the network was built (the first simulate/prepare); "
                "ResetKernel and build again"
            )

    # ------------------------------------------------------------------ connections
    def connect(self, pre, post, conn_spec: Any = None, syn_spec: dict | None = None) -> None:
        """NEST's ``Connect``: neurons to neurons (any rule), generators to neurons
        (``all_to_all``/``one_to_one``), neurons to a ``spike_recorder``, a ``multimeter``
        to neurons. ``syn_spec``: ``weight`` and ``delay`` (numbers, per-synapse arrays or
        random parameters)."""
        self._check_not_built("connect")
        syn = {"weight": 1.0, "delay": 1.0, **(syn_spec or {})}
        for key in syn:
            check_one_of("syn_spec key", key, ("weight", "delay", "synapse_model"))
        if syn.get("synapse_model", "static_synapse") != "static_synapse":
            raise ValueError(
                f"`synapse_model` must be 'static_synapse'; got {syn['synapse_model']!r}"
            )
        pre, post = np.asarray(pre, np.int64).reshape(-1), np.asarray(post, np.int64).reshape(-1)
        if not len(pre) or not len(post):
            raise ValueError("`pre` and `post` must not be empty")
        src, tgt = self._kinds(pre, "pre"), self._kinds(post, "post")
        conn = ConnSpec.from_nest(conn_spec)
        if tgt in DEVICES and tgt != "spike_recorder":
            raise ValueError(f"a {tgt} cannot be a connection target (`post`)")
        if src in ("spike_recorder",):
            raise ValueError("a spike_recorder cannot be a connection source (`pre`)")
        if tgt == "spike_recorder":
            if src != "neuron":
                raise ValueError(f"a {src} cannot be connected to a spike_recorder")
            for r in post:
                self.watch.setdefault(int(r), set()).update(self._neuron_index(pre).tolist())
            self.n_device_connections += len(pre) * len(post)
            return
        if src == "multimeter":
            self._connect_multimeter(pre, post)
            return
        if src in _GENERATORS:
            self._connect_generator(src, pre, post, conn, syn)
            return
        if not isinstance(syn["delay"], Parameter):
            delay_steps(syn["delay"], self.h)  # fail now, not at build time
        self.projections.append(
            (self._neuron_index(pre), self._neuron_index(post), conn, syn["weight"], syn["delay"])
        )

    def _kinds(self, ids, name) -> str:
        kinds = {"neuron" if g.is_neuron else g.model for g, _ in self._group_of(ids)}
        if len(kinds) != 1:
            raise ValueError(f"`{name}` must be all neurons or all one device; got {sorted(kinds)}")
        return kinds.pop()

    def _neuron_index(self, ids) -> np.ndarray:
        return np.concatenate([g.offset + pos for g, pos in self._group_of(ids)])

    def _device_position(self, ids) -> np.ndarray:
        """Index of each device among the devices of its kind (in creation order)."""
        out = []
        for group, pos in self._group_of(ids):
            before = sum(
                g.n for g in self.groups[: self.groups.index(group)] if g.model == group.model
            )
            out.append(before + pos)
        return np.concatenate(out)

    def _connect_multimeter(self, pre, post):
        for m in pre:
            ((group, pos),) = self._group_of([m])
            names = group.values["record_from"][pos[0]]
            for g, _ in self._group_of(post):
                if not g.is_neuron:
                    raise ValueError("a multimeter can only be connected to neurons (`post`)")
                bad = [r for r in names if r not in RECORDABLES[g.model]]
                if bad:
                    raise ValueError(
                        f"`record_from` {bad} not recordable from '{g.model}'; valid: "
                        f"{sorted(RECORDABLES[g.model])}"
                    )
            self.sampled.setdefault(int(m), []).extend(self._neuron_index(post).tolist())
        self.n_device_connections += len(pre) * len(post)

    def _connect_generator(self, kind, pre, post, conn, syn):
        if conn.rule not in ("all_to_all", "one_to_one"):
            raise ValueError(
                f"`conn_spec` rule for a {kind} must be 'all_to_all' or 'one_to_one'; "
                f"got {conn.rule!r}"
            )
        dev, neu = self._device_position(pre), self._neuron_index(post)
        if conn.rule == "one_to_one":
            if len(dev) != len(neu):
                raise ValueError(
                    f"one_to_one needs len(pre) == len(post); got {len(dev)}, {len(neu)}"
                )
        else:
            dev, neu = np.repeat(dev, len(neu)), np.tile(neu, len(dev))
        w, d = (np.asarray(syn[k], np.float64) for k in ("weight", "delay"))
        for name, value in (("weight", w), ("delay", d)):
            if (
                isinstance(syn[name], Parameter)
                or value.ndim > 1
                or (value.ndim == 1 and len(value) != len(neu))
            ):
                raise ValueError(
                    f"`{name}` of a {kind} connection must be a number or one value per "
                    f"connection ({len(neu)})"
                )
        steps = delay_steps(d, self.h)
        self.device_conns.append(
            _DeviceConn(kind, dev, neu, np.broadcast_to(w, neu.shape).astype(np.float32),
                        np.broadcast_to(steps, neu.shape).astype(np.int32))
        )  # fmt: skip
        self.n_device_connections += len(neu)

    # ------------------------------------------------------------------------ build
    def prepare(self) -> None:
        """Build the network (placement, connectivity, inputs) and compile the first chunk.

        Each shard is built on its own from the keyed streams: under MPI a rank builds only
        its shard; on one process the shards are built one after the other (never a global
        connectivity), then each is put on its device.
        """
        if self._built is not None:
            return
        self._check_same_network()
        populations = [g for g in self.groups if g.is_neuron]
        N, S = self.n_neurons, self.shards
        pops = [(g.offset, g.offset + g.n) for g in populations]
        pinned = np.concatenate([np.full(g.n, g.shard) for g in populations] or [np.zeros(0)])
        edges = [(pre, post, conn) for pre, post, conn, _, _ in self.projections]
        owner = place(self.placement, S, pinned, pops, edges)
        if self.comm is not None:
            owner = self.comm.bcast(owner, root=0)  # one placement, whatever METIS does
        self.owner = owner
        counts = np.array([[np.sum(owner[a:b] == s) for a, b in pops] for s in range(S)])
        caps = np.maximum(1, counts.max(0)) if N else np.zeros(0, np.int64)
        base = np.concatenate([[0], np.cumsum(caps)]).astype(np.int64)
        models = [get_model(g.model) for g in populations]
        mine = [self.rank] if self.comm is not None else list(range(S))
        sampled, sample_index, self._sample_columns = self._sampling(populations)
        shards, build_s = [], []
        for s in mine:
            t = time.perf_counter()
            shards.append(self._build_shard(s, populations, models, caps, base))
            build_s.append(time.perf_counter() - t)
        csrs = [sh.pop("csr") for sh in shards]
        has = np.stack([np.diff(c.ptr) > 0 for c in csrs]) if N else np.zeros((S, 0), bool)
        n_syn = np.array([c.n_synapses for c in csrs], np.int64)
        delays = [(int(c.delay.min()), int(c.delay.max())) for c in csrs if c.n_synapses]
        bytes_ = sum(c.nbytes for c in csrs)
        if self.comm is not None:
            has = np.concatenate(self.comm.allgather(has))
            n_syn = np.concatenate(self.comm.allgather(n_syn))
            delays = [d for part in self.comm.allgather(delays) for d in part]
            bytes_ = sum(self.comm.allgather(bytes_))
            build_s = [t for part in self.comm.allgather(build_s) for t in part]
        offsets = tuple(int(k) for k in range(1, S)
                        if any(has[(q + k) % S][owner == q].any() for q in range(S)))  # fmt: skip
        for s, sh in zip(mine, shards, strict=True):
            sh["route"] = self._route(s, has, sh["gid"], sh["real"], offsets)
        self.n_synapses = int(n_syn.sum())
        self.connectivity_bytes = int(bytes_)
        self.stats = {"build_s_per_shard": build_s, "synapses_per_shard": n_syn.tolist(),
                      "neurons_per_shard": counts.sum(1).tolist()}  # fmt: skip
        min_delay = min((d for d, _ in delays), default=10)
        all_delays = [max((d for _, d in delays), default=1)] + [
            int(c.delay.max()) for c in self.device_conns
        ]
        m = max(1, min(min_delay, self.chunk))
        D = max(all_delays) + m
        n_local = int(base[-1])
        arrays = [
            NetworkArrays(
                csr=DeviceCSR.host(csr), props=sh["props"], params=sh["params"],
                poisson=sh["poisson"], spikes_in=sh["spikes_in"], current=sh["current"],
                sample_index=sample_index[s], gid=sh["gid"], real=sh["real"], route=sh["route"],
            )
            for s, sh, csr in zip(mine, shards, csrs, strict=True)
        ]  # fmt: skip
        states = [SimState(sh["states"], np.zeros((2, D, n_local), np.float32)) for sh in shards]
        del csrs, shards
        rate = m * self.h * 1e-3 * 100.0  # spikes per neuron and block at a 100 Hz guess
        per_shard = int(counts.sum(1).max()) if N else 1
        send = max(64, math.ceil(per_shard * rate))
        expected = self.n_synapses / S * m * self.h * 1e-3 * 10.0  # per block at 10 Hz
        layout = Layout(
            models=tuple(models),
            slices=tuple((int(base[i]), int(base[i + 1])) for i in range(len(populations))),
            n=n_local,
            m=m,
            D=D,
            max_spikes=self.max_spikes or min(max(64, math.ceil(N * rate)), max(1, N * m)),
            tile=self.tile or int(np.clip(2 ** math.ceil(math.log2(expected + 1)), 4096, 65536)),
            sampled=sampled,
            N=N,
            shards=S,
            scheme=self.exchange,
            offsets=offsets,
            max_send=min(send, n_local * m),
            max_route=min(send, n_local * m),
        )
        if self.mesh is not None:  # one process, S devices: stack [S, ...] and shard
            sharding = jax.sharding.NamedSharding(self.mesh, jax.sharding.PartitionSpec("shards"))
            stacked = _stack(arrays), _stack(states)
            arrays, state = jax.device_put(stacked, sharding)
        else:
            arrays, state = jax.device_put((arrays[0], states[0]))
        self._built = {"arrays": arrays, "layout": layout}
        self.state = state
        self._sg_steps = self._spike_generator_steps()
        # Neurons any spike_recorder watches (fixed from now on: no connect after the build).
        self._watched = np.array(sorted(set().union(*self.watch.values())), np.int64)
        self._executables, self._ran = {}, set()
        self._compile()  # ahead of time: compiling belongs to the build

    def _build_shard(self, s, populations, models, caps, base) -> dict:
        """One shard's arrays: its neurons' parameters and state, incoming CSR, inputs."""
        N, owner = self.n_neurons, self.owner
        slot_of = np.full(N, -1, np.int64)
        gid = np.zeros(int(base[-1]), np.int64)
        real = np.zeros(int(base[-1]), bool)
        params, states = [], []
        for p, g in enumerate(populations):
            ids = g.offset + np.flatnonzero(owner[g.offset : g.offset + g.n] == s)
            lo = int(base[p])
            slot_of[ids] = lo + np.arange(len(ids))
            gid[lo : lo + caps[p]] = g.offset  # padding: a copy of the first neuron
            gid[lo : lo + len(ids)] = ids
            real[lo : lo + len(ids)] = True
            pos = gid[lo : lo + caps[p]] - g.offset
            par = self._neuron_params(g, pos)
            params.append(par)
            init = {k: g.values[k][pos] for k in INITIAL_STATE[g.model]}
            states.append(models[p].init_state(par, int(caps[p]), **init))
        parts = (
            connect(self.seed, p, pre, post, post[owner[post] == s], conn, w, d, self.h)
            for p, (pre, post, conn, w, d) in enumerate(self.projections)
        )
        return {
            "csr": build_csr(N, parts, slot_of),
            "props": tuple(mo.propagators(p, self.h) for mo, p in zip(models, params, strict=True)),
            "params": tuple(params),
            "states": tuple(states),
            "poisson": self._poisson_inputs(s, slot_of),
            "spikes_in": self._spike_inputs(s, slot_of),
            "current": self._current_inputs(s, slot_of),
            "gid": gid.astype(np.int32),
            "real": real,
        }

    def _route(self, s, has, gid, real, offsets) -> np.ndarray:
        """``bool[R, n]``: which destinations need each local neuron's spikes."""
        S = self.shards
        if S == 1 or self.exchange == "all_gather":
            return np.zeros((0, len(gid)), bool)
        dests = range(S) if self.exchange == "all_to_all" else [(s + k) % S for k in (0, *offsets)]
        return np.stack([has[q][gid] & real for q in dests])

    def _check_same_network(self) -> None:
        """Under MPI: every rank must describe the same network (same script and config)."""
        if self.comm is None:
            return
        desc = repr((self.h, self.seed, self.exchange, self.placement, self.chunk,
                     [(g.model, g.n, g.shard, {k: np.asarray(v).tobytes() if g.is_neuron
                                               else repr(v) for k, v in g.values.items()})
                      for g in self.groups],
                     [(pre.tobytes(), post.tobytes(), conn, repr(w), repr(d))
                      for pre, post, conn, w, d in self.projections],
                     [dataclasses.astuple(c) for c in self.device_conns]))  # fmt: skip
        digest = zlib.crc32(desc.encode())
        digests = self.comm.allgather(digest)
        if len(set(digests)) != 1:
            bad = [r for r, d in enumerate(digests) if d != digests[0]]
            raise ValueError(
                f"ranks {bad} describe a different network than rank 0 (different config, "
                "seed or script?); every rank must run the same script with the same arguments"
            )

    def _compile(self, steps: int | None = None, blocks: int | None = None):
        """The compiled chunk for ``blocks`` blocks of ``steps`` steps (cached)."""
        layout = self._built["layout"]
        steps = steps or layout.m
        blocks = blocks or max(1, self.chunk // layout.m)
        key = (layout, steps, blocks)
        if key not in self._executables:
            if self.mesh is not None:
                fn = on_mesh(functools.partial(run_blocks, layout, steps), self.mesh, 2)
            else:
                comm = MPIComm(self.comm, self.shards, self.rank) if self.comm else None
                fn = functools.partial(run_blocks, layout, steps, comm=comm)
            counts = jnp.zeros((blocks, steps, len(self._sg_steps)), jnp.float32)
            args = (self._built["arrays"], self.state, jnp.int32(0), counts, jnp.int32(blocks))
            # Ahead of time, except under MPI: mpi4jax's calls carry an effect token that
            # the AOT-compiled executable does not get passed (jit's own cache handles it).
            compiled = jax.jit(fn) if self.comm is not None else jax.jit(fn).lower(*args).compile()
            self._executables = {key: compiled}
        return self._executables[key]

    def _poisson_inputs(self, s: int, slot_of: np.ndarray) -> tuple[PoissonInput, ...]:
        """Shard ``s``'s Poisson inputs: one per (connection, distinct rate), the same list
        on every shard (padded with a zero-weight entry where a shard has none). Each
        (generator, target) pair has its own stream: counter ``generator * N + target``."""
        rates = self._device_values("poisson_generator", "rate")
        if len(rates) * self.n_neurons >= 2**32:
            raise ValueError(
                f"{len(rates)} poisson_generators x {self.n_neurons} neurons exceed the 2**32 "
                "Poisson streams (one per generator and target); use fewer generators"
            )
        lo, hi = self._window("poisson_generator")
        base = jax.random.fold_in(jax.random.key(self.seed), _KEY_POISSON)
        out = []
        for c, conn in enumerate(self.device_conns):
            if conn.kind != "poisson_generator":
                continue
            # one table per distinct (rate, start, stop)
            kinds = np.stack([rates[conn.device], lo[conn.device], hi[conn.device]], 1)
            for r, a, b in np.unique(kinds, axis=0):
                keep = (rates[conn.device] == r) & (lo[conn.device] == a) & (
                    hi[conn.device] == b) & (conn.weight != 0)  # fmt: skip
                if r == 0 or not keep.any():
                    continue
                keep &= self.owner[conn.neuron] == s
                neuron = conn.neuron[keep] if keep.any() else np.zeros(1, np.int64)
                device = conn.device[keep] if keep.any() else np.zeros(1, np.int64)
                weight = conn.weight[keep] if keep.any() else np.zeros(1, np.float32)
                delay = conn.delay[keep] if keep.any() else np.ones(1, np.int32)
                key = jax.random.key_data(jax.random.fold_in(base, c))
                out.append(PoissonInput(
                    key=np.asarray(key, np.uint32),
                    target=np.maximum(slot_of[neuron], 0).astype(np.int32),
                    counter=(device.astype(np.uint64) * self.n_neurons + neuron).astype(np.uint32),
                    weight=weight.astype(np.float32),
                    delay=delay.astype(np.int32),
                    table=poisson_table(r * self.h / 1000.0),
                    lo=np.int32(a),
                    hi=np.int32(b),
                ))  # fmt: skip
        return tuple(out)

    def _window(self, kind) -> tuple[np.ndarray, np.ndarray]:
        """``start`` and ``stop`` of every device of ``kind`` in steps (``inf``: ``2**30``)."""
        start = np.round(self._device_values(kind, "start") / self.h)
        stop = self._device_values(kind, "stop") / self.h
        return start, np.where(np.isfinite(stop), np.round(stop), 2**30)

    def _device_values(self, kind, key) -> np.ndarray:
        vals = [v for g in self.groups if g.model == kind for v in g.values[key]]
        return np.asarray(vals, np.float64)

    def _conns(self, kind, s, slot_of):
        """Shard ``s``'s connections from devices of ``kind``: (device, slot, weight, delay)."""
        conns = [c for c in self.device_conns if c.kind == kind]
        dev, neu, w, d = (
            np.concatenate([getattr(c, f) for c in conns]) if conns else np.zeros(0, t)
            for f, t in (("device", np.int32), ("neuron", np.int64), ("weight", np.float32),
                         ("delay", np.int32))
        )  # fmt: skip
        keep = self.owner[neu] == s
        return dev[keep], slot_of[neu[keep]].astype(np.int32), w[keep], d[keep]

    def _spike_inputs(self, s, slot_of) -> SpikeInput:
        return SpikeInput(*self._conns("spike_generator", s, slot_of))

    def _current_inputs(self, s, slot_of) -> CurrentInput:
        dev, neu, w, d = self._conns("dc_generator", s, slot_of)
        amp = self._device_values("dc_generator", "amplitude")
        start, stop = self._window("dc_generator")
        return CurrentInput(
            neu,
            (amp[dev] * w if len(dev) else np.zeros(0)).astype(np.float32),
            (start[dev] + d if len(dev) else np.zeros(0)).astype(np.int32),
            (np.minimum(stop[dev] + d, 2**30) if len(dev) else np.zeros(0)).astype(np.int32),
        )

    def _spike_generator_steps(self) -> list[tuple[np.ndarray, np.ndarray]]:
        out = []
        for g in self.groups:
            if g.model != "spike_generator":
                continue
            for times, mult in zip(
                g.values["spike_times"], g.values["spike_multiplicities"], strict=True
            ):
                out.append(_spike_steps(times, mult, self.h))
        return out

    def _sampling(self, populations):
        """What multimeters sample: per population the recordables (the same on every
        shard); per shard and population the local indices sampled (padded to one length);
        per (recordable, neuron) its ``(shard, column)`` in the samples."""
        names, per_shard = [], [[] for _ in range(self.shards)]
        for g in populations:
            pop_names, pop_ids = set(), set()
            for m, neurons in self.sampled.items():
                ids = [i for i in neurons if g.offset <= i < g.offset + g.n]
                if ids:
                    pop_names.update(self._multimeter(m)["record_from"])
                    pop_ids.update(ids)
            ids = np.array(sorted(pop_ids), np.int64)
            owner = self.owner[ids] if len(ids) else np.zeros(0, np.int64)
            for s in range(self.shards):
                per_shard[s].append(ids[owner == s])
            names.append(tuple(sorted(pop_names)))
        width = [max(len(per_shard[s][p]) for s in range(self.shards))
                 for p in range(len(populations))]  # fmt: skip
        index, column = [], {}
        for s in range(self.shards):
            idx, col = [], 0
            for p, g in enumerate(populations):
                ids = per_shard[s][p]
                local = np.searchsorted(np.flatnonzero(self.owner[g.offset : g.offset + g.n] == s),
                                        ids - g.offset)  # fmt: skip
                idx.append(np.pad(local, (0, width[p] - len(ids))).astype(np.int32))
                for name in names[p]:
                    for k, i in enumerate(ids):
                        column[(name, int(i))] = (s, col + k)
                    col += width[p]
            index.append(tuple(idx))
        return tuple(names), index, column

    def _multimeter(self, mid: int) -> dict:
        ((group, pos),) = self._group_of([mid])
        return {k: v[pos[0]] for k, v in group.values.items()}

    # ------------------------------------------------------------------------- run
    def simulate(self, t_ms: float) -> None:
        """Build if needed, then advance by ``t_ms`` ms (a whole number of steps)."""
        self.prepare()
        self.run(t_ms)

    def run(self, t_ms: float) -> None:
        """Advance the prepared network by ``t_ms`` ms."""
        check_range("t_ms", t_ms, low=0.0)
        steps = round(t_ms / self.h)
        if abs(steps * self.h - t_ms) > 1e-9 * max(1.0, t_ms):
            raise ValueError(f"`t_ms` must be a multiple of the resolution {self.h}; got {t_ms}")
        if self._built is None:
            raise ValueError("call prepare() (or simulate) before run()")
        show = self.progress and self.rank == 0
        bar = tqdm(total=steps, desc="simulate", unit="step", disable=not show)
        done = 0
        while done < steps:
            layout = self._built["layout"]
            per_block = min(layout.m, steps - done)
            # One compiled chunk of `capacity` blocks runs any number up to it (the rest is
            # skipped); only a last block shorter than m steps needs its own.
            capacity = max(1, self.chunk // layout.m) if per_block == layout.m else 1
            blocks = min(capacity, (steps - done) // per_block)
            t0 = self.t_steps
            counts = self._sg_counts(t0, capacity, per_block)
            run = self._compile(per_block, capacity)
            tic = time.perf_counter()
            state, record = run(self._built["arrays"], self.state, jnp.int32(t0), counts,
                                jnp.int32(blocks))  # fmt: skip
            if self.mesh is None:  # one shard here: give the record its shard axis
                record = jax.tree.map(lambda x: x[None], record)
            record = jax.tree.map(lambda x, b=blocks: np.asarray(x)[:, :b], record)
            chunk_s = time.perf_counter() - tic
            need = [record.n_recv.max(), record.n_own.max(), record.n_route.max(initial=0)]
            if self.comm is not None:
                need = np.max(self.comm.allgather(need), axis=0)
            if self._grow(layout, *(int(x) for x in need), t0):
                continue  # re-run this chunk from its start (state unchanged)
            self.state = state
            # Per-block time, first runs of a compiled chunk apart (under MPI they compile).
            first = "first_" if id(run) not in self._ran else ""
            self._ran.add(id(run))
            self.stats[f"{first}run_s"] = self.stats.get(f"{first}run_s", 0.0) + chunk_s
            self.stats[f"{first}run_blocks"] = self.stats.get(f"{first}run_blocks", 0) + blocks
            self._collect(record, t0, blocks, per_block)
            self.t_steps += blocks * per_block
            done += blocks * per_block
            bar.update(blocks * per_block)
        bar.close()

    def _grow(self, layout: Layout, recv: int, own: int, route: int, t0: int) -> bool:
        """Grow the buffers that overflowed (``True``: re-run the chunk) or raise."""
        if recv > layout.max_spikes and self.max_spikes is not None:
            raise RuntimeError(
                f"spike buffer overflow at t = {t0 * self.h:g} ms: a block of {layout.m} "
                f"steps had {recv} spikes, capacity max_spikes={layout.max_spikes}; create the "
                f"Simulator with max_spikes >= {recv}"
            )
        if layout.shards == 1:
            own = route = 0  # one shard: its own spikes are the delivered ones
        buffers = (("max_spikes", recv, layout.N * layout.m),
                   ("max_send", own, layout.n * layout.m),
                   ("max_route", route, layout.n * layout.m))  # fmt: skip
        worst = max(need / getattr(layout, name) for name, need, _ in buffers)
        if worst <= 1:
            return False
        # A burst fills every buffer: grow them all by the same factor (one recompile).
        factor = max(2.0, 1.25 * worst)
        grow = {name: min(limit, max(int(need * 1.25), math.ceil(getattr(layout, name) * factor)))
                for name, need, limit in buffers}  # fmt: skip
        if self.max_spikes is not None:  # set explicitly: never changed
            grow["max_spikes"] = layout.max_spikes
        self._built["layout"] = dataclasses.replace(layout, **grow)
        return True

    def _sg_counts(self, t0, blocks, per_block) -> jax.Array:
        counts = np.zeros((blocks * per_block, len(self._sg_steps)), np.float32)
        for i, (steps, mult) in enumerate(self._sg_steps):
            keep = (steps >= t0) & (steps < t0 + len(counts))
            np.add.at(counts[:, i], steps[keep] - t0, mult[keep])
        return jnp.asarray(counts.reshape(blocks, per_block, -1))

    def _collect(self, record, t0, blocks, per_block) -> None:
        """Copy a chunk's recorded spikes (watched neurons) and samples to the host (under
        MPI every rank gets every rank's), and count the exchange traffic."""
        layout = self._built["layout"]
        N = layout.N
        self._count_traffic(record, blocks * per_block)
        if len(self._watched):
            valid = np.arange(record.key.shape[-1]) < record.n_own[..., None]
            s, b, k = np.nonzero(valid)
            flat, mult = record.key[s, b, k].astype(np.int64), record.count[s, b, k]
            neuron, step = flat % N, t0 + b * per_block + flat // N
            keep = np.isin(neuron, self._watched)
            mult = mult[keep].astype(np.int64)
            spikes = (np.repeat(neuron[keep], mult), np.repeat(step[keep], mult))
            if self.comm is not None:
                parts = self.comm.allgather(spikes)
                spikes = tuple(np.concatenate([p[i] for p in parts]) for i in range(2))
            self._spikes.append(spikes)
        if self.sampled:
            samples = record.samples.reshape(record.samples.shape[0], blocks * per_block, -1)
            if self.comm is not None:
                samples = np.concatenate(self.comm.allgather(samples))
            self._samples.setdefault("steps", []).append(t0 + np.arange(samples.shape[1]))
            self._samples.setdefault("values", []).append(samples)

    def _count_traffic(self, record, steps: int) -> None:
        """Spikes sent to other shards (payload) and buffer bytes moved (padded)."""
        layout, S = self._built["layout"], self.shards
        if S == 1:
            return
        local = np.asarray(self.rank if self.comm is not None else np.arange(S))
        if layout.scheme == "all_gather":
            payload = record.n_own.sum() * (S - 1)
            padded = (S - 1) * layout.max_send
        elif layout.scheme == "all_to_all":
            own = record.n_route[np.arange(len(record.n_route)), :, local.reshape(-1)]
            payload = record.n_route.sum() - own.sum()
            padded = (S - 1) * layout.max_route
        else:
            payload = record.n_route[..., 1:].sum()
            padded = len(layout.offsets) * layout.max_route
        blocks = record.n_own.shape[1]
        payload, padded = int(payload), int(padded) * blocks * record.n_own.shape[0]
        spikes = record.n_own.sum(1)
        if self.comm is not None:
            payload, padded = (sum(self.comm.allgather(x)) for x in (payload, padded))
            spikes = np.concatenate(self.comm.allgather(spikes))
        st = self.stats
        st["exchange_steps"] = st.get("exchange_steps", 0) + steps
        st["payload_bytes"] = st.get("payload_bytes", 0) + payload * KEY_BYTES
        st["padded_bytes"] = st.get("padded_bytes", 0) + padded * KEY_BYTES
        st["spikes_per_shard"] = (np.asarray(st.get("spikes_per_shard", 0)) + spikes).tolist()

    def time_exchange(self, blocks: int = 200, reps: int = 3) -> dict:
        """Time the spike exchange alone, at the activity simulated so far, against a whole
        block (update + exchange + delivery, measured during :meth:`run`).

        Each local neuron spikes in a step with the probability measured so far (random
        spikes, keyed by ``seed``), ``blocks`` blocks are exchanged in one compiled loop,
        best of ``reps``. Under MPI this is collective (every rank must call it).

        Returns:
            ``{"exchange_s_per_block", "block_s", "exchange_fraction"}``.
        """
        layout = self._built["layout"] if self._built else None
        if layout is None or not (
            self.stats.get("run_blocks") or self.stats.get("first_run_blocks")
        ):
            raise ValueError("run the network first (time_exchange uses its measured activity)")
        first = "" if self.stats.get("run_blocks") else "first_"
        block_s = self.stats[f"{first}run_s"] / self.stats[f"{first}run_blocks"]
        if self.shards == 1:
            return {"exchange_s_per_block": 0.0, "block_s": block_s, "exchange_fraction": 0.0}
        p = sum(self.stats["spikes_per_shard"]) / (layout.N * self.stats["exchange_steps"])
        local = self.shards if self.mesh is not None else 1
        shape = (local, blocks, layout.m, layout.n)
        key = jax.random.fold_in(jax.random.key(self.seed), self.rank)
        spikes = (jax.random.uniform(key, shape) < p).astype(jnp.float32)
        if self.mesh is not None:
            fn = on_mesh(functools.partial(exchange_blocks, layout), self.mesh, 2)
            spikes = jax.device_put(spikes, self._built["arrays"].gid.sharding)
        else:
            comm = MPIComm(self.comm, self.shards, self.rank) if self.comm else None
            fn = functools.partial(exchange_blocks, layout, comm=comm)
            spikes = spikes[0]
        fn = jax.jit(fn)
        jax.block_until_ready(fn(self._built["arrays"], spikes))  # compile + warm up
        best = math.inf
        for _ in range(reps):
            tic = time.perf_counter()
            _, n_own = fn(self._built["arrays"], spikes)
            n_own = np.asarray(n_own)
            best = min(best, time.perf_counter() - tic)
        if self.comm is not None:
            best = max(self.comm.allgather(best))
        if n_own.max() > layout.max_send:
            raise RuntimeError("the random spikes overflowed the send buffer; run longer first")
        per_block = best / blocks
        return {"exchange_s_per_block": per_block, "block_s": block_s,
                "exchange_fraction": per_block / block_s}  # fmt: skip

    def exchange_stats(self) -> dict:
        """Build and exchange figures: per-shard build time, synapses, neurons and spikes,
        exchange bytes per step (spikes actually sent to other shards; buffer bytes moved
        with the fixed-capacity padding), load imbalance (max / mean synapses per shard)."""
        st = dict(self.stats)
        for key in ("run_s", "run_blocks", "first_run_s", "first_run_blocks"):
            st.pop(key, None)
        steps = max(1, st.pop("exchange_steps", 0))
        st["payload_bytes_per_step"] = st.pop("payload_bytes", 0) / steps
        st["padded_bytes_per_step"] = st.pop("padded_bytes", 0) / steps
        syn = np.asarray(st["synapses_per_shard"], np.float64)
        st["load_imbalance"] = float(syn.max() / syn.mean()) if syn.mean() > 0 else 1.0
        st.update(shards=self.shards, exchange=self.exchange, placement=self.placement)
        return st

    # ------------------------------------------------------------------- recording
    def neuron_ids(self) -> np.ndarray:
        """The node id of every neuron, in the neuron axis' order."""
        return np.concatenate(
            [np.arange(g.first, g.first + g.n) for g in self.groups if g.is_neuron]
        ) if self.n_neurons else np.zeros(0, np.int64)  # fmt: skip

    def events(self, device: int) -> dict[str, np.ndarray]:
        """A recorder's events, as NEST's ``events`` (``senders``, ``times`` in ms, ...)."""
        ((group, pos),) = self._group_of([device])
        if group.model == "spike_recorder":
            return self._spike_events(int(device), group.values, pos[0])
        if group.model == "multimeter":
            return self._multimeter_events(int(device))
        raise ValueError(f"`device` must be a spike_recorder or a multimeter; got {group.model}")

    def _spike_events(self, rid, values, pos):
        watched = np.fromiter(self.watch.get(rid, ()), np.int64)
        if not self._spikes:
            return {"senders": np.zeros(0, np.int64), "times": np.zeros(0)}
        neuron = np.concatenate([s for s, _ in self._spikes])
        step = np.concatenate([t for _, t in self._spikes])
        times = (step + 1) * self.h
        keep = np.isin(neuron, watched) & (times > values["start"][pos]) & (
            times <= values["stop"][pos])  # fmt: skip
        order = np.lexsort((neuron[keep], step[keep]))
        return {"senders": self.neuron_ids()[neuron[keep][order]], "times": times[keep][order]}

    def _multimeter_events(self, mid):
        mm = self._multimeter(mid)
        neurons = np.array(self.sampled.get(mid, []), np.int64)
        if not self._samples or not len(neurons):
            return {"senders": np.zeros(0, np.int64), "times": np.zeros(0)} | {
                r: np.zeros(0) for r in mm["record_from"]}  # fmt: skip
        steps = np.concatenate(self._samples["steps"])
        values = np.concatenate(self._samples["values"], axis=1)  # [shards, T, columns]
        interval = round(mm["interval"] / self.h)
        times = (steps + 1) * self.h
        rows = ((steps + 1) % interval == 0) & (times > mm["start"]) & (times <= mm["stop"])
        out = {
            "senders": np.tile(self.neuron_ids()[neurons], rows.sum()),
            "times": np.repeat(times[rows], len(neurons)),
        }
        for name in mm["record_from"]:
            shard, col = zip(*(self._sample_columns[(name, int(i))] for i in neurons), strict=True)
            picked = values[np.asarray(shard)[None, :], np.flatnonzero(rows)[:, None],
                            np.asarray(col)[None, :]]  # fmt: skip
            out[name] = picked.astype(np.float64).reshape(-1)
        return out


def _stack(trees: list):
    """Stack per-shard pytrees into ``[S, ...]`` leaves, zero-padding the first axis of
    leaves whose length differs between shards (synapses, inputs: all inert when zero)."""

    def stack(*xs):
        xs = [np.asarray(x) for x in xs]
        if len({x.shape for x in xs}) > 1:
            n = max(x.shape[0] for x in xs)
            xs = [np.pad(x, [(0, n - x.shape[0])] + [(0, 0)] * (x.ndim - 1)) for x in xs]
        return np.stack(xs)

    return jax.tree.map(stack, *trees)


def _is_array_param(key: str) -> bool:
    return key in ("spike_times", "spike_multiplicities", "record_from")


def _device_value(kind: str, key: str, value: Any, h: float) -> Any:
    """Validate one device parameter value."""
    if key in ("spike_times", "spike_multiplicities"):
        value = np.asarray(value, np.float64).reshape(-1)
        if key == "spike_times":
            _spike_steps(value, (), h)  # validate now
        return value
    if key == "record_from":
        if isinstance(value, str):
            raise ValueError(f"`record_from` must be a list of names; got {value!r}")
        return tuple(value)
    if key == "interval":
        steps = value / h
        if not (steps >= 1 and abs(steps - round(steps)) < 1e-9 * steps):
            raise ValueError(
                f"`interval` must be a positive multiple of the resolution {h}; got {value}"
            )
    if key in ("rate", "amplitude", "start") or (key == "stop" and not math.isinf(value)):
        check_range(key, value, low=None if key == "amplitude" else 0.0)
    return float(value)


def _spike_steps(times, mult, h) -> tuple[np.ndarray, np.ndarray]:
    """Steps (a spike stamped ``t`` is emitted in step ``t/h - 1``) and multiplicities."""
    times = np.asarray(times, np.float64)
    if times.size and (np.any(np.diff(times) < 0) or times[0] <= 0):
        raise ValueError("`spike_times` must be sorted and > 0")
    steps = np.round(times / h)
    if np.any(np.abs(steps * h - times) > 1e-9 * np.maximum(times, 1.0)):
        raise ValueError(f"`spike_times` must be multiples of the resolution {h}")
    mult = np.ones(len(times)) if len(mult) == 0 else np.asarray(mult, np.float64)
    if len(mult) != len(times):
        raise ValueError("`spike_multiplicities` must have one entry per spike time")
    return steps.astype(np.int64) - 1, mult
