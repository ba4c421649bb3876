"""The host-side network description: ``create``, ``connect``, ``set``/``get`` of nodes.

The :class:`~snnjax.sim.Simulator` keeps what ``Create``/``Connect``/``set`` describe
(NEST node ids from 1 in creation order, neurons and devices alike). Every argument is
checked here, at the call that receives it, before anything changes: a call that raises
leaves the description (and a built network) exactly as it was.

After the build (:mod:`._build`), ``set`` also updates the built network in place
(:meth:`~snnjax.sim._build._Builder._apply_set`: swapped arrays, no recompilation), and
``create``/``connect`` mark it stale: the next run rebuilds what changed and carries over
the state of every existing neuron and every spike in flight.
"""

import copy
import dataclasses
import zlib
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._errors import check_one_of, check_range
from ._connect import ConnSpec, bucket, check_array, delay_steps
from ._nodes import (
    GENERATORS,
    RECORDERS,
    _DeviceConn,
    _Group,
    check_kind,
    device_values,
    is_array_param,
    node_defaults,
)
from ._prng import PRNG
from ._random import Parameter, sample_per_id
from ._stdp import RULE_PARAMS, STDP_MODELS, SYNAPSE_DEFAULTS, check_stdp
from .models import DEFAULTS, INITIAL_STATE, MODEL_NAMES, RECORDABLES, get_model

_KEY_PARAMS = 0x7A1


@dataclasses.dataclass
class _Projection:
    """One neuron-to-neuron ``Connect`` call."""

    pre: np.ndarray  # neuron indices
    post: np.ndarray
    conn: ConnSpec
    weight: Any  # number, array or random Parameter
    delay: Any  # ms: number, array or random Parameter
    label: str = "static_synapse"  # the synapse model name given to Connect
    plastic: dict | None = None  # STDP: {"model": base model, rule parameters}


class _Description:
    """``create``, ``connect``, ``set``, ``get`` (mixed into :class:`~snnjax.sim.Simulator`)."""

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
        After a run, the new nodes join at the next run (the network is rebuilt then).
        """
        check_kind("model", model)
        if not isinstance(n, int | np.integer) or n < 1:
            raise ValueError(f"`n` must be a positive int; got {n!r}")
        if shard is not None and not (isinstance(shard, int | np.integer)
                                      and 0 <= shard < self.shards):  # fmt: skip
            raise ValueError(f"`shard` (rank) must be in [0, {self.shards - 1}]; got {shard!r}")
        if params is not None and not isinstance(params, dict):
            raise ValueError(f"`params` must be a dict; got {params!r}")
        first = self.n_nodes + 1
        if model in MODEL_NAMES:
            values = {
                k: np.full(n, v, bool if isinstance(v, bool) else np.float64)
                for k, v in node_defaults(model).items()
            }
            group = _Group(model, first, int(n), values, offset=self.n_neurons,
                           shard=-1 if shard is None else int(shard))  # fmt: skip
        else:
            group = _Group(
                model, first, int(n), {k: [v] * n for k, v in node_defaults(model).items()}
            )
        self.groups.append(group)
        ids = np.arange(first, first + n)
        try:
            self._set(ids, params or {})
            self._check_populations(ids, params or {})
        except ValueError:
            self.groups.pop()
            raise
        if group.is_neuron:
            self.n_neurons += n
        if self._built is not None:
            self._stale = True
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

    def set(self, ids, params: dict | list[dict]) -> None:
        """Set parameters or state (e.g. ``V_m``) of the nodes ``ids``, at any time.

        ``params``: one dict for all nodes, or a list of dicts, one per node (NEST's
        ``nodes.set([{...}, ...])``; e.g. each ``spike_generator``'s own ``spike_times``).
        Between runs the change takes effect from the current step on, as in NEST: neuron
        parameters and state at once, a generator's new output from its next emission (what
        it emitted before is still in flight), a recorder's window for events recorded
        from now on. ``n_events=0`` clears a recorder's events.
        """
        ids = np.asarray(ids, np.int64).reshape(-1)
        per_node = params if isinstance(params, list | tuple) else None
        if per_node is not None:
            if len(per_node) != len(ids) or not all(isinstance(p, dict) for p in per_node):
                raise ValueError(
                    f"`params` as a list needs one dict per node ({len(ids)}); got "
                    f"{len(per_node)} item(s)"
                )
        elif not isinstance(params, dict):
            raise ValueError(f"`params` must be a dict or a list of dicts; got {params!r}")
        touched = [g for g, _ in self._group_of(ids)]
        backup = [copy.deepcopy(g.values) for g in touched]
        keys = dict.fromkeys(k for p in (per_node or [params]) for k in p)
        try:
            for i, p in zip(ids, per_node, strict=True) if per_node else [(ids, params)]:
                self._set(np.reshape(i, -1), p)
            self._check_populations(ids, keys)  # once, not per node
        except ValueError:  # all or nothing
            for g, values in zip(touched, backup, strict=True):
                g.values = values
            raise
        if self._built is not None and keys:
            self._apply_set(ids, keys, dict(zip(map(id, touched), backup, strict=True)))

    def _set(self, ids, params):
        done = 0
        for group, pos in self._group_of(ids):
            new = {}
            for key, value in params.items():
                if key == "n_events" and group.model in RECORDERS:
                    if value != 0:
                        raise ValueError(f"`n_events` can only be set to 0; got {value!r}")
                    continue
                check_one_of(f"{group.model} parameter", key, sorted(group.values))
                if key == "record_from" and any(group.first + p in self.sampled for p in pos):
                    raise ValueError(
                        "`record_from` cannot be changed after the multimeter was connected"
                    )
                new[key] = self._values_for(key, value, ids[done : done + len(pos)], len(ids), done)
            if group.is_neuron:
                for key, vals in new.items():
                    if key in INITIAL_STATE[group.model]:
                        check_range(key, vals)  # finite
                    if key == "tau_minus":  # NEST's archiving node: STDP's post trace
                        check_range(key, vals, low=0.0, low_inclusive=False)
                    group.values[key][pos] = vals
            else:  # one device at a time, all its keys together (as NEST's set_status)
                for i, p in enumerate(pos):
                    old = {k: v[p] for k, v in group.values.items()}
                    given = {k: vals[i] for k, vals in new.items()}
                    for k, x in device_values(
                        group.model, old, given, self.h, self.t_steps
                    ).items():
                        group.values[k][p] = x
            done += len(pos)

    def _check_populations(self, ids, keys) -> None:
        """Validate the whole populations of ``ids`` now (not at build time) after ``keys``
        were set: their parameters, and their state if a state variable was among them."""
        for group, _ in self._group_of(ids):
            if group.is_neuron:
                model_params = self._neuron_params(group)
                if any(k in INITIAL_STATE[group.model] for k in keys):  # state: its checks
                    state = {k: group.values[k] for k in INITIAL_STATE[group.model]}
                    get_model(group.model).init_state(model_params, group.n, **state)

    def _values_for(self, key, value, ids, n_total, done):
        if isinstance(value, Parameter):
            base = jax.random.fold_in(jax.random.key(self.seed, impl=PRNG), _KEY_PARAMS)
            base = jax.random.fold_in(base, zlib.crc32(key.encode()))
            padded = np.pad(ids, (0, bucket(len(ids)) - len(ids)))  # few shapes, few compiles
            drawn = sample_per_id(value, base, jnp.asarray(padded, jnp.int32))
            return np.asarray(drawn, np.float64)[: len(ids)]
        if isinstance(value, list | tuple | np.ndarray) and not is_array_param(key):
            arr = np.asarray(value)
            if arr.ndim == 1 and len(arr) == n_total:
                return arr[done : done + len(ids)]
            if arr.ndim != 0:
                raise ValueError(
                    f"`{key}` must be a scalar or have one value per node ({n_total}); "
                    f"got shape {arr.shape}"
                )
        return [value] * len(ids) if is_array_param(key) else np.full(len(ids), value)

    def get(self, ids, key: str) -> list:
        """The value of ``key`` for each node of ``ids`` (NEST units).

        State variables of a built network are read from the devices (under MPI:
        collective, every rank must call it).
        """
        out = []
        for group, pos in self._group_of(ids):
            if key == "model":
                out += [group.model] * len(pos)
                continue
            if key == "n_events" and group.model in RECORDERS:
                first = group.first
                out += [len(self.events(first + p)["times"]) for p in pos]
                continue
            check_one_of(f"{group.model} parameter", key, [*sorted(group.values), "model"])
            if group.is_neuron and key in INITIAL_STATE[group.model] and self._is_built(group):
                out += list(self._state_value(group, key, pos))
            else:
                vals = group.values[key]
                out += [vals[p] for p in pos]
        return [float(v) if isinstance(v, np.floating) else v for v in out]

    def _neuron_params(self, group: _Group, pos=slice(None)):
        names = DEFAULTS[group.model]
        return get_model(group.model).params(**{k: group.values[k][pos] for k in names})

    # ------------------------------------------------------------------ connections
    def connect(self, pre, post, conn_spec: Any = None, syn_spec: dict | None = None,
                *, label: str | None = None) -> None:  # fmt: skip
        """NEST's ``Connect``: neurons to neurons (any rule), generators to neurons
        (``all_to_all``/``one_to_one``), neurons to a ``spike_recorder``, a ``multimeter``
        to neurons. ``syn_spec``: ``weight`` and ``delay`` (numbers, per-synapse arrays or
        random parameters) and ``synapse_model``: ``'static_synapse'`` or an STDP model
        with its parameters (:mod:`snnjax.sim._stdp`; numbers). ``label``: the model name
        ``GetConnections`` reports (a ``CopyModel`` name); default ``synapse_model``. After a
        run, new connections take part from the next run on (spikes already in flight are
        kept)."""
        model = (syn_spec or {}).get("synapse_model", "static_synapse")
        check_one_of("synapse_model", model, SYNAPSE_DEFAULTS)
        syn = {**SYNAPSE_DEFAULTS[model], **(syn_spec or {})}
        syn.pop("synapse_model", None)
        for key in syn:
            check_one_of("syn_spec key", key, SYNAPSE_DEFAULTS[model])
        plastic, label = None, label or model
        recorder = syn.pop("weight_recorder", None)
        if recorder is not None:
            recorder = self._weight_recorder(recorder)
        if model in STDP_MODELS:
            for key in (*RULE_PARAMS, "Kplus"):
                if key in syn and not isinstance(syn[key], Parameter) and np.ndim(syn[key]):
                    raise ValueError(
                        f"`{key}` of a {model} must be a number or a random parameter "
                        "(nest.random.*: drawn per synapse)"
                    )
            check_stdp(model, syn)
            plastic = {"model": model, "weight_recorder": recorder, **{
                k: v if isinstance(v := syn.pop(k), Parameter) else float(v)
                for k in list(syn) if k not in ("weight", "delay")}}  # fmt: skip
        pre, post = np.asarray(pre, np.int64).reshape(-1), np.asarray(post, np.int64).reshape(-1)
        if not len(pre) or not len(post):
            raise ValueError("`pre` and `post` must not be empty")
        src, tgt = self._kinds(pre, "pre"), self._kinds(post, "post")
        conn = ConnSpec.from_nest(conn_spec)
        for name in ("weight", "delay"):
            if not isinstance(syn[name], Parameter):
                value = np.asarray(syn[name], np.float64)
                if value.size and not np.all(np.isfinite(value)):
                    raise ValueError(f"`{name}` must be finite; got {value.reshape(-1)[:4]}")
                if value.ndim and src in ("neuron", *GENERATORS) and tgt == "neuron":
                    check_array(name, value, conn, len(pre), len(post))
        if not isinstance(syn["delay"], Parameter):
            delay_steps(syn["delay"], self.h)  # fail now, not at build time
        if plastic is not None and (src != "neuron" or tgt != "neuron"):
            raise ValueError(f"a {model} connects neurons to neurons; got {src} -> {tgt}")
        if tgt != "neuron" and tgt != "spike_recorder":
            raise ValueError(f"a {tgt} cannot be a connection target (`post`)")
        if src == "spike_recorder":
            raise ValueError("a spike_recorder cannot be a connection source (`pre`)")
        if tgt == "spike_recorder":
            if src != "neuron":
                raise ValueError(f"a {src} cannot be connected to a spike_recorder")
            for r in post:
                self.watch.setdefault(int(r), set()).update(self._neuron_index(pre).tolist())
            self.n_device_connections += len(pre) * len(post)
            if self._built is not None:
                self._watched = self._watched_neurons()
            return
        if src == "multimeter":
            self._connect_multimeter(pre, post)
        elif src in GENERATORS:
            self._connect_generator(src, pre, post, conn, syn)
        else:
            pre, post = self._neuron_index(pre), self._neuron_index(post)
            self.projections.append(
                _Projection(pre, post, conn, syn["weight"], syn["delay"], label, plastic)
            )
        if self._built is not None:
            self._stale = True

    def _weight_recorder(self, value) -> int:
        """The node id of a ``weight_recorder`` given as ``syn_spec["weight_recorder"]``."""
        ids = np.asarray(getattr(value, "tolist", lambda: value)(), np.int64).reshape(-1)
        if len(ids) != 1 or self._kinds(ids, "weight_recorder") != "weight_recorder":
            raise ValueError(f"`weight_recorder` must be one weight_recorder node; got {value!r}")
        return int(ids[0])

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
        for m in pre:
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
        if kind == "poisson_generator" and (np.max(dev) + 1) * self.n_neurons >= 2**32:
            raise ValueError(
                f"{np.max(dev) + 1} poisson_generators x {self.n_neurons} neurons exceed the "
                "2**32 Poisson streams (one per generator and target); use fewer generators"
            )
        for name in ("weight", "delay"):
            if isinstance(syn[name], Parameter):
                raise ValueError(
                    f"`{name}` of a {kind} connection must be a number or an array "
                    "(nest.random.* is for neuron connections)"
                )
        # NEST's shapes (checked in `connect`): all_to_all (post, pre) -> pre-major here.
        w, d = (np.asarray(syn[k], np.float64) for k in ("weight", "delay"))
        w, d = (x.T.reshape(-1) if x.ndim == 2 else x for x in (w, d))
        steps = delay_steps(d, self.h)
        self.device_conns.append(
            _DeviceConn(kind, dev, neu, np.broadcast_to(w, neu.shape).astype(np.float32),
                        np.broadcast_to(steps, neu.shape).astype(np.int32))
        )  # fmt: skip
        self.n_device_connections += len(neu)

    def _watched_neurons(self) -> np.ndarray:
        """The neurons any spike_recorder watches."""
        return np.array(sorted(set().union(*self.watch.values())), np.int64)

    def neuron_ids(self) -> np.ndarray:
        """The node id of every neuron, in the neuron axis' order."""
        return np.concatenate(
            [np.arange(g.first, g.first + g.n) for g in self.groups if g.is_neuron]
        ) if self.n_neurons else np.zeros(0, np.int64)  # fmt: skip
