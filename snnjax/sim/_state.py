"""The running network's state: read, changed between runs, carried over a rebuild.

:meth:`_StateOps._gather_state` copies the state of every shard into one split-independent
host copy: per population the state fields in neuron order, and both ring buffers per
neuron with their slots in *relative* order (slot ``k`` holds the input of step
``t + k``). :meth:`_StateOps._scatter_state` writes such a copy into any layout (another
number of shards, more neurons after ``create``, longer delays after ``connect``). A rebuild
and a checkpoint (:mod:`._checkpoint`) both go through these two functions; since the ring
buffers are summed in a canonical order (:class:`~snnjax.sim.SimState`), the continued
run is bit-identical to one that was never interrupted.

:meth:`_StateOps._apply_set` brings a ``set`` between runs into the built arrays as NEST
would: state variables at once, parameters by swapping the parameter, propagator and
generator arrays (same shapes, so the compiled chunk is reused).
"""

import dataclasses

import numpy as np

from ._network import SimState
from ._nodes import GENERATORS, RECORDERS
from ._plastic import history_table, rehash
from .models import INITIAL_STATE, RECORDABLES, get_model

_HISTORY = ("step", "k_at", "total")  # what a gathered state keeps of the spike histories


class _StateOps:
    """State access (mixed into :class:`~snnjax.sim.Simulator`)."""

    def _gather_state(self) -> dict:
        """The whole network's state as host arrays (under MPI: collective)."""
        N, T = self._built["N"], self.t_steps
        pops = [g for g in self.groups if g.is_neuron and self._is_built(g)]
        slices = self._built["layout"].slices
        parts = []
        for s in self._local_shards():
            state = self._local(self.state, s)
            _, gid, real = self._slots[s]
            ring = np.roll(state.ring, -(T % state.ring.shape[1]), axis=1)[:, :, real]
            ext = np.roll(state.ext, -(T % state.ext.shape[1]), axis=1)[:, :, real]
            neurons = [
                {f: np.asarray(x)[real[lo:hi]] for f, x in st._asdict().items()}
                for st, (lo, hi) in zip(state.neurons, slices, strict=True)
            ]
            if state.post is None:  # no plastic synapses: empty histories
                post = {"step": np.zeros((real.sum(), 0), np.int32),
                        "k_at": np.zeros((real.sum(), 0), np.float32),
                        "total": np.zeros(real.sum(), np.int32)}  # fmt: skip
            else:
                post = {f: np.asarray(getattr(state.post, f))[real] for f in _HISTORY}
            parts.append((gid[real], neurons, ring, ext, post))
        if self.comm is not None:
            parts = [p for part in self.comm.allgather(parts) for p in part]
        out = {
            "t": T,
            "N": N,
            "neurons": [{} for _ in pops],
            "ring": np.zeros((2, parts[0][2].shape[1], N), np.float32),
            "ext": np.zeros((3, parts[0][3].shape[1], N), np.float32),
        }
        out["post"] = {f: np.zeros((N, *x.shape[1:]), x.dtype) for f, x in parts[0][4].items()}
        out["plastic"] = self._gather_plastic()
        for gid, neurons, ring, ext, post in parts:
            out["ring"][:, :, gid] = ring
            out["ext"][:, :, gid] = ext
            for f, x in post.items():
                out["post"][f][gid] = x
            for p, (g, fields) in enumerate(zip(pops, neurons, strict=True)):
                ids = gid[(gid >= g.offset) & (gid < g.offset + g.n)] - g.offset
                for f, x in fields.items():
                    out["neurons"][p].setdefault(f, np.zeros(g.n, x.dtype))[ids] = x
        return out

    def _scatter_state(self, carried: dict) -> None:
        """Write a gathered state into the built network (neurons created since keep their
        initial state)."""
        layout = self._built["layout"]
        pops = [g for g in self.groups if g.is_neuron]
        states = []
        for s in self._local_shards():
            state = self._local(self.state, s)
            _, gid, real = self._slots[s]
            neurons = list(state.neurons)
            for p, fields in enumerate(carried["neurons"]):
                lo, hi = layout.slices[p]
                idx = gid[lo:hi] - pops[p].offset
                neurons[p] = type(neurons[p])(**{
                    f: fields[f][idx].astype(np.asarray(x).dtype)
                    for f, x in neurons[p]._asdict().items()
                })  # fmt: skip
            cols = real & (gid < carried["N"])
            rings = [
                _relative_to_ring(carried[name], getattr(state, name), gid, cols, self.t_steps)
                for name in ("ring", "ext")
            ]
            plastic = self._scatter_plastic(s, state.plastic, carried["plastic"])
            post = state.post
            if post is not None:
                post = _carry_history(post, carried["post"], gid, cols, self.t_steps)
            states.append(SimState(tuple(neurons), *rings, plastic, post))
        H = states[0].post.step.shape[1] if states[0].post is not None else 0
        if H != layout.H:  # the carried histories were longer
            self._built["layout"] = dataclasses.replace(layout, H=H)
            self.stdp_history = max(self.stdp_history, H)
        self.state = self._put(states)

    def _gather_plastic(self) -> list[dict]:
        """Every plastic synapse's state, per projection in canonical order (source, target,
        delay, construction order)."""
        out = []
        for q in range(len(self._built["layout"].plastic)):  # those built (not connected since)
            parts = []
            for s in self._local_shards():
                syn = self._local_synapses(s, q)
                st = self._local(self.state.plastic[q], s)
                nnz = len(syn.source)
                parts.append({"source": syn.source, "target": syn.target, "delay": syn.delay,
                              "weight": syn.weight, "kplus": st.kplus[:nnz],
                              "tlast": st.tlast[:nnz], "seen": st.seen[:nnz]})  # fmt: skip
            if self.comm is not None:
                parts = [p for part in self.comm.allgather(parts) for p in part]
            cat = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
            order = np.lexsort((cat["delay"], cat["target"], cat["source"]))  # stable
            out.append({k: v[order] for k, v in cat.items()})
        return out

    def _scatter_plastic(self, s: int, states: tuple, carried: list[dict]) -> tuple:
        """Shard ``s``'s plastic states with the carried values of the synapses they hold
        (those of projections connected since keep their initial state)."""
        out = list(states)
        for q, table in enumerate(carried):
            syn = self._local_synapses(s, q)
            keys = ("source", "target", "delay")
            pos = _match([table[k] for k in keys], [getattr(syn, k) for k in keys])
            if np.any(pos < 0):
                raise ValueError("the carried plastic synapses do not match the rebuilt ones")
            nnz = len(pos)
            st = out[q]
            out[q] = type(st)(
                *(
                    np.concatenate([table[f][pos].astype(x.dtype), x[nnz:]])
                    for f, x in zip(st._fields, st, strict=True)
                )
            )
        return tuple(out)

    # ------------------------------------------------------------------- set and get
    def _apply_set(self, ids, params: dict, backup: dict) -> None:
        """Bring a ``set`` (already in the description) into the built network."""
        refresh = False  # neuron parameters or generators changed: swap the input arrays
        for group, pos in self._group_of(ids):
            refresh |= group.model in GENERATORS or (
                group.is_neuron and any(k not in INITIAL_STATE[group.model] for k in params)
            )
            if group.is_neuron and self._is_built(group):
                keys = [k for k in params if k in INITIAL_STATE[group.model]]
                if keys or "E_L" in params:
                    self._set_state(group, pos, keys, backup[id(group)])
            elif group.model in RECORDERS:
                old = backup[id(group)]
                for p in pos:
                    rid = group.first + int(p)
                    if "n_events" in params:
                        self._cleared[rid] = self.t_steps
                    history = self._recorder_history.setdefault(
                        rid, [(0, {k: v[p] for k, v in old.items()})]
                    )
                    history.append((self.t_steps, {k: v[p] for k, v in group.values.items()}))
        if self._stale or not refresh:  # a rebuild reads the parameters from the description
            return
        populations = [g for g in self.groups if g.is_neuron]
        slices = self._built["layout"].slices
        inputs = [self._inputs(s, populations, slices) for s in self._local_shards()]
        arrays = self._built["arrays"]
        self._built["arrays"] = arrays._replace(**self._put(inputs))
        # the native plastic kernel needs one tau_minus for all neurons
        layout = self._built["layout"]
        tables = self._plastic_tables(populations, self._built["h_tau_plus"], layout.recorded)
        if tables != layout.plastic_native:
            self._built["layout"] = dataclasses.replace(layout, plastic_native=tables)
        self._sg_steps = self._spike_generator_steps()

    def _set_state(self, group, pos, keys, old_values) -> None:
        """Write state variables set between runs (and keep the absolute ``V_m`` of an iaf
        neuron whose ``E_L`` changed, as NEST does) into the device state."""
        p = [g for g in self.groups if g.is_neuron].index(group)
        model, layout = get_model(group.model), self._built["layout"]
        lo = layout.slices[p][0]
        index = group.offset + np.asarray(pos)
        states = []
        for s in self._local_shards():
            state = self._local(self.state, s)
            slot_of, _, _ = self._slots[s]
            mine = self.owner[index] == s
            slot = slot_of[index[mine]] - lo
            fields = state.neurons[p]._asdict()
            if mine.any():
                q = pos[mine]
                par = self._neuron_params(group, q)
                init = {k: group.values[k][q] for k in INITIAL_STATE[group.model]}
                fresh = model.init_state(par, len(q), **init)._asdict()
                for key in keys:
                    field = RECORDABLES[group.model][key] or "v"
                    fields[field][slot] = np.asarray(fresh[field])
                    if f"{field}_lo" in fields:  # a compensated variable: set exactly
                        fields[f"{field}_lo"][slot] = 0.0
                if "v" in fields and "V_m" not in keys:  # E_L changed: same absolute V_m
                    delta = group.values["E_L"][q] - old_values["E_L"][q]
                    fields["v"][slot] = fields["v"][slot] - delta.astype(np.float32)
            neurons = list(state.neurons)
            neurons[p] = type(state.neurons[p])(**fields)
            states.append(state._replace(neurons=tuple(neurons)))
        self.state = self._put(states)

    def _state_value(self, group, key, pos):
        """Current values of a state variable (under MPI: collective, from the owners)."""
        p = [g for g in self.groups if g.is_neuron].index(group)
        lo = self._built["layout"].slices[p][0]
        index = group.offset + np.asarray(pos)
        out = np.full(len(index), np.nan)
        for s in self._local_shards():
            mine = self.owner[index] == s
            if not mine.any():
                continue
            state = self._local(self.state.neurons[p], s)
            value = getattr(state, RECORDABLES[group.model][key] or "v")
            value = value[self._slots[s][0][index[mine]] - lo]
            if RECORDABLES[group.model][key] is None:  # iaf: V_m relative to E_L
                value = value + group.values["E_L"][np.asarray(pos)[mine]].astype(np.float32)
            out[mine] = np.asarray(value, np.float64)
        if self.comm is not None:
            parts = self.comm.allgather(out)
            for r, part in enumerate(parts):
                out = np.where(self.owner[index] == r, part, out)
        return out


def _occurrence(keys: list) -> np.ndarray:
    """For rows sorted by ``keys``: how many equal rows come before each."""
    n = len(keys[0])
    new = np.ones(n, bool)
    if n:
        new[1:] = np.any([k[1:] != k[:-1] for k in keys], axis=0)
    first = np.maximum.accumulate(np.where(new, np.arange(n), 0))
    return np.arange(n) - first


def _match(table: list, local: list) -> np.ndarray:
    """Row of ``table`` (sorted by its columns, stable) for each row of ``local``, equal
    rows matched in order; ``-1`` where there is none."""
    order = np.lexsort(local[::-1])
    mine = [k[order] for k in local] + [_occurrence([k[order] for k in local])]
    theirs = [*table, _occurrence(table)]
    both = np.stack([np.concatenate([a, b]) for a, b in zip(theirs, mine, strict=True)], 1)
    _, ids = np.unique(both, axis=0, return_inverse=True)
    ids = ids.reshape(-1)
    where = np.full(ids.max(initial=-1) + 1, -1)
    where[ids[: len(table[0])]] = np.arange(len(table[0]))
    out = np.empty(len(order), np.int64)
    out[order] = where[ids[len(table[0]) :]]
    return out


def _carry_history(post, carried: dict, gid, cols, t: int):
    """The spike histories of the neurons ``gid[cols]`` from a gathered copy, in the longer
    of both lengths, and their per-step table rebuilt for the ``D`` steps before ``t``."""
    H = max(post.step.shape[1], carried["step"].shape[1])
    step, k_at = rehash(post.step, post.k_at, post.total, H)
    ids = gid[cols]
    total = post.total.copy()
    total[cols] = carried["total"][ids]
    step[cols], k_at[cols] = rehash(carried["step"][ids], carried["k_at"][ids], total[cols], H)
    table = [x.copy() for x in (post.count, post.last, post.k)]
    D = table[0].shape[0]
    if D:
        for x, new in zip(table, history_table(step[cols], k_at[cols], total[cols], t, D),
                          strict=True):  # fmt: skip
            x[:, cols] = new
    return type(post)(step, k_at, total, *table)


def _relative_to_ring(rel: np.ndarray, ring: np.ndarray, gid, cols, t: int) -> np.ndarray:
    """A ring buffer whose slot ``(t + k) % D`` holds ``rel[:, k]`` (for the neurons
    ``gid[cols]``); ``rel`` may be longer than ``D`` only where it holds nothing."""
    D = ring.shape[1]
    if np.any(rel[:, D:]):
        raise ValueError("the carried-over ring buffer holds input beyond the new delays")
    out = np.zeros_like(ring)
    k = min(D, rel.shape[1])
    out[:, :k, cols] = rel[:, :k][:, :, gid[cols]]
    return np.roll(out, t % D, axis=1)
