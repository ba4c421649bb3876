"""The PyNEST facade: ``import snnjax.sim as nest`` runs the core of a PyNEST 3 script.

Module-level kernel functions (``ResetKernel``, ``SetKernelStatus``, ``Create``,
``Connect``, ``Simulate``, ``Prepare``/``Run``/``Cleanup``, ``GetStatus``/``SetStatus``,
``GetConnections``, ``CopyModel``, ``SetDefaults``/``GetDefaults``, and snnjax's
``Checkpoint``/``Restore``), kernel attributes (``nest.resolution = 0.1``),
:class:`NodeCollection` (``len``, slicing, ``+``, ``.get``/``.set``, attribute access as
``nodes.V_m``) and :class:`SynapseCollection`, all on one global
:class:`~snnjax.sim.Simulator` like NEST's kernel. As in NEST, anything can be changed
between ``Simulate`` calls: parameters and state, generators, recorders, synapses, new
nodes and connections.

Distributed runs: under ``mpirun`` every rank runs the same script and builds only its own
shard (one per rank); ``SetKernelStatus({"devices": D})`` shards over local devices
instead. ``spike_exchange`` and ``placement`` choose the exchange scheme and the neuron
placement; NEST GPU's ``RemoteCreate``/``RemoteConnect`` pin neurons to a rank.

Differences from NEST (documented, not silent): ``local_num_threads`` sets the threads of
the native delivery, Poisson and ODE kernels (kernel attribute ``native``) and has no other
effect (XLA uses the machine for the rest); a multimeter's samples are available up
to the current time (NEST's lag by one ``min_delay`` does not exist); random parameters are
drawn per node id / per synapse from ``rng_seed`` (the same network for any number of
threads or shards, but not NEST's numbers); ``GetConnections`` lists neuron-to-neuron
synapses only (not those from generators or to recorders) and builds the network first if
needed.

Collective calls under ``mpirun`` (every rank must make them, as every rank runs the same
script): ``Prepare``/``Simulate``/``Run``, ``get`` of a neuron state variable (``V_m``),
``Checkpoint``, and ``Create``/``Connect`` followed by a run (the rebuild). ``GetConnections``
and a :class:`SynapseCollection`'s ``get``/``set`` are local: each rank sees and changes
the synapses onto its own neurons, as in NEST.
"""

import types
from typing import Any

import numpy as np

from .._errors import check_one_of, check_range
from ._engine import DEVICE_DEFAULTS, Simulator, node_defaults
from ._mpi import mpi, under_mpirun
from ._random import Parameter
from ._stdp import RULE_PARAMS, STDP_MODELS, SYNAPSE_DEFAULTS, check_stdp
from .models import MODEL_NAMES

_SETTABLE = {
    "resolution": 0.1,
    "rng_seed": 143202461,  # NEST's default seed
    "local_num_threads": 1,
    "total_num_virtual_procs": 1,
    "print_time": False,
    "overwrite_files": False,
    "data_path": "",
    "data_prefix": "",
    "max_spikes": None,  # snnjax: spike buffer per block (None: automatic)
    "devices": 1,  # snnjax: local devices to shard over (shard_map)
    "spike_exchange": "all_gather",  # snnjax: all_gather | all_to_all | point_to_point
    "placement": "round_robin",  # snnjax: round_robin | block | partition
    "integrator_substeps": 0,  # snnjax: 0 = NEST's adaptive RKF45; k = k fixed RK45 steps
    "stdp_history": 16,  # snnjax: spikes kept per neuron for STDP (grown when needed)
    "native": None,  # snnjax: native CPU kernels (None: where built and on CPU)
}
_BUILD_KEYS = ("resolution", "rng_seed", "max_spikes", "devices", "spike_exchange", "placement",
               "integrator_substeps", "stdp_history", "native", "local_num_threads")  # fmt: skip
_READ_ONLY = (
    "biological_time",
    "network_size",
    "num_connections",
    "min_delay",
    "max_delay",
    "connectivity_bytes",  # snnjax: bytes of the neuron-to-neuron connectivity
    "exchange_stats",  # snnjax: shards, build time per shard, exchange traffic
)


class _Kernel:
    """NEST's kernel: settings, model aliases, and the simulator built from them."""

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self.settings = dict(_SETTABLE)
        self.models: dict[str, tuple[str, dict]] = {}  # name -> (base model, defaults)
        # name -> defaults with "synapse_model": the built-in model it is a copy of
        self.synapses: dict[str, dict] = {
            name: {**defaults, "synapse_model": name} for name, defaults in SYNAPSE_DEFAULTS.items()
        }
        self._sim: Simulator | None = None

    @property
    def sim(self) -> Simulator:
        if self._sim is None:
            self._sim = Simulator(
                self.settings["resolution"],
                self.settings["rng_seed"],
                max_spikes=self.settings["max_spikes"],
                progress=bool(self.settings["print_time"]),
                devices=self.settings["devices"],
                exchange=self.settings["spike_exchange"],
                placement=self.settings["placement"],
                mpi=mpi().COMM_WORLD if under_mpirun() else None,
                substeps=self.settings["integrator_substeps"],
                stdp_history=self.settings["stdp_history"],
                native=self.settings["native"],
                threads=self.settings["local_num_threads"],
            )
        return self._sim

    def set(self, key: str, value: Any) -> None:
        if key in _READ_ONLY:
            raise ValueError(f"kernel attribute `{key}` is read-only")
        check_one_of("kernel attribute", key, sorted(_SETTABLE))
        if key in _BUILD_KEYS and self._sim is not None:
            if self._sim.n_nodes or self._sim._built is not None:
                raise ValueError(f"`{key}` cannot be changed after nodes were created; "
                                 "call ResetKernel first")  # fmt: skip
            self._sim = None
        old = self.settings[key]
        self.settings[key] = value
        if key == "print_time" and self._sim is not None:
            self._sim.progress = bool(value)
        if key in _BUILD_KEYS:
            try:
                self.sim  # noqa: B018 - validate now (bad resolution/seed raise here)
            except ValueError:
                self.settings[key] = old  # a call that raises changes nothing
                raise

    def get(self, key: str) -> Any:
        sim = self._sim
        if key in _SETTABLE:
            return self.settings[key]
        check_one_of("kernel attribute", key, sorted((*_SETTABLE, *_READ_ONLY)))
        if key == "biological_time":
            return sim.t_steps * sim.h if sim else 0.0
        if key == "network_size":
            return sim.n_nodes if sim else 0
        if key == "num_connections":
            if sim is None:
                return 0
            if sim._built is None and sim.projections:
                raise ValueError(
                    "`num_connections` is known once the network is built (synapses are "
                    "drawn in Prepare/Simulate); call Prepare() first"
                )
            return (sim.n_synapses if sim._built else 0) + sim.n_device_connections
        if key == "connectivity_bytes":
            return sim.connectivity_bytes if sim and sim._built else None
        if key == "exchange_stats":
            return sim.exchange_stats() if sim and sim._built else None
        layout = sim._built["layout"] if sim and sim._built else None
        if key == "min_delay":
            return layout.m * sim.h if layout else None
        return (layout.D - layout.m) * sim.h if layout else None  # max_delay

    def resolve_model(self, model: str) -> tuple[str, dict]:
        if model in self.models:
            return self.models[model]
        check_one_of("model", model, (*MODEL_NAMES, *DEVICE_DEFAULTS, *self.models))
        return model, {}

    def resolve_synapse(self, syn_spec: Any) -> tuple[dict, str]:
        """``(syn_spec with the model's defaults and built-in ``synapse_model``, the model
        name given)`` of a ``syn_spec``."""
        if syn_spec is None:
            syn_spec = {}
        if isinstance(syn_spec, str):
            syn_spec = {"synapse_model": syn_spec}
        if not isinstance(syn_spec, dict):
            raise ValueError(f"`syn_spec` must be a dict or a synapse model name; got {syn_spec!r}")
        name = syn_spec.get("synapse_model", "static_synapse")
        check_one_of("synapse_model", name, sorted(self.synapses))
        return {**self.synapses[name], **syn_spec,
                "synapse_model": self.synapses[name]["synapse_model"]}, name  # fmt: skip


_kernel = _Kernel()


class NodeCollection:
    """NEST node ids (from 1, in creation order): slicing, ``+``, ``get``/``set``.

    Examples:
        >>> import snnjax.sim as nest
        >>> nest.ResetKernel()
        >>> pop = nest.Create("iaf_psc_alpha", 10, params={"I_e": 376.0})
        >>> len(pop[2:5]), pop[0].global_id
        (3, 1)
    """

    def __init__(self, ids):
        object.__setattr__(self, "_ids", np.asarray(ids, np.int64).reshape(-1))

    def __len__(self) -> int:
        return len(self._ids)

    def __iter__(self):
        return (NodeCollection([i]) for i in self._ids)

    def __getitem__(self, key) -> "NodeCollection":
        if isinstance(key, int | np.integer):
            return NodeCollection([self._ids[key]])
        return NodeCollection(self._ids[key])

    def __add__(self, other: "NodeCollection") -> "NodeCollection":
        if not isinstance(other, NodeCollection):
            raise ValueError(f"can only add a NodeCollection; got {type(other).__name__}")
        return NodeCollection(np.concatenate([self._ids, other._ids]))

    def __eq__(self, other) -> bool:
        return isinstance(other, NodeCollection) and np.array_equal(self._ids, other._ids)

    def __hash__(self) -> int:
        return hash(self._ids.tobytes())

    def __array__(self, dtype=None, copy=None):
        return self._ids.astype(dtype) if dtype else self._ids

    def __repr__(self) -> str:
        if not len(self):
            return "NodeCollection(<empty>)"
        return (f"NodeCollection(model={_kernel.sim.model_of(self._ids[:1])}, size={len(self)}, "
                f"first={self._ids[0]}, last={self._ids[-1]})")  # fmt: skip

    def tolist(self) -> list[int]:
        return self._ids.tolist()

    @property
    def global_id(self):
        return int(self._ids[0]) if len(self) == 1 else tuple(self._ids.tolist())

    def get(self, *keys, output: str = ""):
        """``get("V_m")`` (a value per node, a scalar for one node), ``get(["a", "b"])`` (a
        dict), or ``get()`` (every parameter)."""
        del output
        if len(keys) == 1 and isinstance(keys[0], list | tuple):
            return {k: self.get(k) for k in keys[0]}
        if len(keys) > 1:
            return {k: self.get(k) for k in keys}
        if not keys:
            return {k: self.get(k) for k in self._names()}
        key = keys[0]
        sim = _kernel.sim
        if key in ("events", "n_events"):
            events = [sim.events(int(i)) for i in self._ids]
            values = events if key == "events" else [len(e["times"]) for e in events]
        elif key == "global_id":
            values = self._ids.tolist()
        else:
            values = sim.get(self._ids, key)
            values = [tuple(v) if isinstance(v, np.ndarray | list) else v for v in values]
        return values[0] if len(values) == 1 else tuple(values)

    def _names(self) -> list[str]:
        (group, _), *_ = _kernel.sim._group_of(self._ids[:1])
        return ["model", *group.values]

    def set(self, params: dict | list[dict] | None = None, **kwargs) -> None:
        """Set parameters: ``set(V_m=-65.0)``, ``set({"I_e": [..per node..]})``, random, or
        ``set([{...}, ...])`` with one dict per node."""
        if isinstance(params, list | tuple) and not kwargs:
            _kernel.sim.set(self._ids, list(params))
            return
        if params is not None and not isinstance(params, dict):
            raise ValueError(f"`params` must be a dict or a list of dicts; got {params!r}")
        _kernel.sim.set(self._ids, {**(params or {}), **kwargs})

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return self.get(name)

    def __setattr__(self, name: str, value) -> None:
        self.set({name: value})


# ------------------------------------------------------------------------------ kernel API
def ResetKernel() -> None:
    """Forget every node, connection, model alias and setting."""
    _kernel.reset()


def SetKernelStatus(params: dict) -> None:
    """Set kernel attributes (``resolution``, ``rng_seed``, ``print_time``, ...)."""
    if not isinstance(params, dict):
        raise ValueError(f"`params` must be a dict; got {params!r}")
    for key, value in params.items():
        _kernel.set(key, value)


def GetKernelStatus(keys: str | list | tuple | None = None):
    """One kernel attribute, a tuple of several, or all as a dict."""
    if keys is None:
        return {k: _kernel.get(k) for k in (*_SETTABLE, *_READ_ONLY)}
    if isinstance(keys, str):
        return _kernel.get(keys)
    return tuple(_kernel.get(k) for k in keys)


def set_verbosity(level: Any) -> None:
    """Accepted for compatibility (snnjax prints only errors and the progress bar)."""
    del level


def Create(
    model: str, n: int = 1, params: dict | list | None = None, positions=None, *, _shard=None
):
    """``n`` nodes of ``model`` (a NEST model name or a ``CopyModel`` alias)."""
    if positions is not None:
        raise ValueError("`positions` (spatial networks) is not supported")
    base, defaults = _kernel.resolve_model(model)
    if isinstance(params, list):  # one dict per node
        if len(params) != n:
            raise ValueError(f"`params` as a list needs one dict per node ({n}); got {len(params)}")
        keys = set().union(*params)
        params = {k: [p.get(k, defaults.get(k, _default(base, k))) for p in params] for k in keys}
    ids = _kernel.sim.create(base, n, {**defaults, **(params or {})}, shard=_shard)
    return NodeCollection(ids)


def simulator() -> Simulator:
    """The :class:`~snnjax.sim.Simulator` behind the facade (snnjax only: e.g. for
    :meth:`~snnjax.sim.Simulator.time_exchange`)."""
    return _kernel.sim


def Rank() -> int:
    """This process's MPI rank (0 without MPI)."""
    return _kernel.sim.rank


def NumProcesses() -> int:
    """Number of MPI processes (1 without MPI)."""
    return _kernel.sim.comm.Get_size() if _kernel.sim.comm is not None else 1


def RemoteCreate(rank: int, model: str, n: int = 1, params: dict | list | None = None):
    """NEST GPU's ``RemoteCreate``: ``n`` neurons of ``model`` owned by shard (rank) ``rank``.

    Every rank runs the same script, so every rank calls it; the node ids are global.
    """
    base, _ = _kernel.resolve_model(model)
    if base not in MODEL_NAMES:
        raise ValueError(f"`model` of RemoteCreate must be a neuron model; got {model!r}")
    return Create(model, n, params, _shard=rank)


def RemoteConnect(
    source_rank: int, source, target_rank: int, target, conn_spec: Any = None,
    syn_spec: Any = None,
) -> None:  # fmt: skip
    """NEST GPU's ``RemoteConnect``: ``source`` (on ``source_rank``) to ``target`` (on
    ``target_rank``), both from :func:`RemoteCreate` on those ranks."""
    sim = _kernel.sim
    for name, nodes, rank in (("source", source, source_rank), ("target", target, target_rank)):
        shards = {g.shard for g, _ in sim._group_of(_ids(nodes, name))}
        if shards != {rank}:
            raise ValueError(
                f"`{name}` must be nodes created by RemoteCreate({rank}, ...); they live on "
                f"{sorted(shards)} (-1: placed automatically)"
            )
    Connect(source, target, conn_spec, syn_spec)


def _default(model: str, key: str):
    table = node_defaults(model)
    check_one_of(f"{model} parameter", key, sorted(table))
    return table[key]


def _ids(nodes, name: str) -> np.ndarray:
    if not isinstance(nodes, NodeCollection):
        raise ValueError(f"`{name}` must be a NodeCollection; got {type(nodes).__name__}")
    return nodes._ids


def Connect(pre, post, conn_spec: Any = None, syn_spec: Any = None) -> None:
    """Connect ``pre`` to ``post`` (NEST's ``conn_spec`` rules and ``syn_spec``)."""
    syn, name = _kernel.resolve_synapse(syn_spec)
    _kernel.sim.connect(_ids(pre, "pre"), _ids(post, "post"), conn_spec, syn, label=name)


def CopyModel(existing: str, new: str, params: dict | None = None) -> None:
    """A new model name: a neuron, device or synapse model with other defaults."""
    if new in _kernel.models or new in _kernel.synapses or new in MODEL_NAMES:
        raise ValueError(f"`new` model name {new!r} already exists")
    if existing in _kernel.synapses:
        syn = {**_kernel.synapses[existing], **(params or {})}
        _check_synapse_defaults(syn, params or {})
        _kernel.synapses[new] = syn
        return
    base, defaults = _kernel.resolve_model(existing)
    for key in params or {}:
        _default(base, key)
    _kernel.models[new] = (base, {**defaults, **(params or {})})


def _check_synapse_defaults(syn: dict, given: dict) -> None:
    model = syn["synapse_model"]
    for key in given:
        check_one_of(f"{model} parameter", key, SYNAPSE_DEFAULTS[model])
    for key in ("weight", "delay"):
        if not isinstance(syn[key], Parameter):
            check_range(key, syn[key], low=None if key == "weight" else 0.0,
                        low_inclusive=key == "weight")  # fmt: skip
    if model in STDP_MODELS:
        check_stdp(model, syn)


def SetDefaults(model: str, params: dict) -> None:
    """Change the defaults of ``model`` for nodes created (or synapses connected) later."""
    if model in _kernel.synapses:
        _check_synapse_defaults({**_kernel.synapses[model], **params}, params)
        _kernel.synapses[model].update(params)
        return
    base, defaults = _kernel.resolve_model(model)
    for key in params:
        _default(base, key)
    _kernel.models[model] = (base, {**defaults, **params})


def GetDefaults(model: str, keys: str | list | None = None):
    """The defaults of ``model`` (one value, a tuple, or all as a dict)."""
    if model in _kernel.synapses:
        table = {**_kernel.synapses[model], "synapse_model": model}
    else:
        base, defaults = _kernel.resolve_model(model)
        table = {**node_defaults(base), **defaults}
    if keys is None:
        return table
    if isinstance(keys, str):
        check_one_of(f"{model} parameter", keys, sorted(table))
        return table[keys]
    return tuple(GetDefaults(model, k) for k in keys)


def GetStatus(nodes: NodeCollection, keys: str | list | None = None):
    """PyNEST's deprecated ``GetStatus``: a tuple with one entry per node."""
    if keys is None:
        return tuple(n.get() for n in nodes)
    return tuple(n.get(keys) for n in nodes)


def SetStatus(nodes: NodeCollection, params: dict | str, val: Any = None) -> None:
    """PyNEST's deprecated ``SetStatus(nodes, {"key": value})`` or ``(nodes, "key", value)``."""
    if isinstance(params, str):
        params = {params: val}
    nodes.set(params)


def Prepare() -> None:
    """Build the network and compile (NEST: calibrate the nodes)."""
    _kernel.sim.prepare()


def Run(t: float) -> None:
    """Advance a prepared network by ``t`` ms."""
    _kernel.sim.run(t)


def Cleanup() -> None:
    """Accepted for compatibility (nothing to release)."""


def Simulate(t: float) -> None:
    """``Prepare``, ``Run(t)``, ``Cleanup`` (``t`` is checked first: a bad one changes
    nothing)."""
    _kernel.sim.steps_of(t)
    Prepare()
    Run(t)
    Cleanup()


def Checkpoint(path) -> str:
    """snnjax: write the complete state of the running simulation to directory ``path``
    (atomically; collective under ``mpirun``). Returns the checkpoint's directory."""
    return str(_kernel.sim.checkpoint(path))


def Restore(path) -> None:
    """snnjax: continue from the checkpoint in ``path``, in a network freshly described by
    the same script, on any number of devices or ranks."""
    _kernel.sim.restore(path)


def GetConnections(source=None, target=None, synapse_model: str | None = None):
    """The synapses from ``source`` to ``target`` (NodeCollections of neurons; ``None``:
    any), optionally only those of ``synapse_model``, as a :class:`SynapseCollection` in
    canonical order (by source, target, delay). Under ``mpirun``: this rank's synapses."""
    src = None if source is None else _ids(source, "source")
    tgt = None if target is None else _ids(target, "target")
    if synapse_model is not None:
        check_one_of("synapse_model", synapse_model, sorted(_kernel.synapses))
    where = _kernel.sim.connections(src, tgt)
    if synapse_model is not None:
        if np.any(where["label"] == ""):
            raise ValueError(
                "`synapse_model` cannot tell these synapses apart: Connect calls with "
                "different synapse models made synapses between the same neurons"
            )
        keep = where["label"] == synapse_model
        where = {k: v if k == "version" else v[keep] for k, v in where.items()}
    return SynapseCollection(where)


class SynapseCollection:
    """Synapses (from :func:`GetConnections`): ``get``/``set`` of ``weight`` and ``delay``,
    ``get`` of ``source``, ``target``, ``synapse_model`` and, of STDP synapses, their rule
    parameters and current ``Kplus``, as NumPy arrays.

    Examples:
        >>> conns = nest.GetConnections(exc, inh)  # doctest: +SKIP
        >>> conns.set(weight=2.0 * conns.get("weight"))  # doctest: +SKIP
    """

    _KEYS = ("source", "target", "synapse_model", "weight", "delay")

    def __init__(self, where: dict):
        self._where = where

    def __len__(self) -> int:
        return len(self._where["index"])

    def __getitem__(self, key) -> "SynapseCollection":
        if isinstance(key, int | np.integer):
            key = slice(key, key + 1 if key != -1 else None)
        return SynapseCollection(
            {k: v if k == "version" else v[key] for k, v in self._where.items()}
        )

    def __repr__(self) -> str:
        return f"SynapseCollection(size={len(self)})"

    def get(self, keys: str | list | tuple | None = None, output: str = ""):
        """One key: a NumPy array (one entry per synapse); several or ``None``: a dict."""
        del output
        if keys is None:
            keys = self._KEYS
        if not isinstance(keys, str):
            return {k: self.get(k) for k in keys}
        check_one_of("SynapseCollection key", keys, (*self._KEYS, *RULE_PARAMS, "Kplus"))
        if keys in ("source", "target"):
            return self._where[keys].copy()
        if keys == "synapse_model":
            return self._where["label"].astype(str)
        return _kernel.sim.synapse_values(self._where, keys)

    def set(self, params: dict | None = None, **kwargs) -> None:
        """Set ``weight`` and/or ``delay`` (ms): a number or one value per synapse."""
        if params is not None and not isinstance(params, dict):
            raise ValueError(f"`params` must be a dict; got {params!r}")
        params = {**(params or {}), **kwargs}
        for key in params:
            check_one_of("SynapseCollection parameter", key, ("weight", "delay"))
        sim = _kernel.sim
        for key, value in sorted(params.items(), key=lambda kv: kv[0] == "delay"):
            sim.set_synapses(self._where, key, value)

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return self.get(name)


class KernelModule(types.ModuleType):
    """The ``snnjax.sim`` module: kernel attributes read and set as ``nest.resolution``."""


def _kernel_property(key: str) -> property:
    def fget(_module):
        return _kernel.get(key)

    def fset(_module, value):
        _kernel.set(key, value)

    return property(fget, fset, doc=f"Kernel attribute `{key}`.")


for _key in (*_SETTABLE, *_READ_ONLY):
    setattr(KernelModule, _key, _kernel_property(_key))
