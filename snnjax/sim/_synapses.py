"""Synapses of the built network: ``GetConnections`` and reading/changing weights and delays.

The synapses live only in each shard's device CSR (8 bytes each). They are read back
through the shard's local-to-global index; their canonical order is by source, target,
delay, then construction order (the order of equal synapses in the CSR, which does not
depend on the split), so a selection means the same synapses on any number of shards.

Changing weights writes the device arrays in place (no recompilation). Changing delays
rebuilds the shard's CSR in canonical order; delays outside the built ring buffer (or
below the block length) make the network stale, and the next run rebuilds it. Once a
synapse was changed, rebuilds and restores carry the synapses over instead of drawing them
again from the description.

Under MPI nothing here is collective except :meth:`_SynapseOps._synapse_table`: each rank
sees, reads and changes only the synapses onto its own neurons (NEST's behaviour).
"""

import itertools

import numpy as np

from ._connect import Synapses, build_csr, delay_steps
from ._delivery import DeviceCSR
from ._stdp import SYNAPSE_DEFAULTS


class _SynapseOps:
    """Synapse access (mixed into :class:`~snnjax.sim.Simulator`)."""

    def _plastic_projections(self) -> list:
        return [p for p in self.projections if p.plastic]

    def _local_synapses(self, s: int, q: int = -1) -> Synapses:
        """Shard ``s``'s static synapses (``q = -1``) or those of plastic projection ``q``,
        in CSR order (sources and targets: neuron indices)."""
        arrays = self._built["arrays"]
        csr = self._local(arrays.csr if q < 0 else arrays.plastic[q].csr, s)
        nnz = int(csr.ptr[-1])
        weight = csr.weight if q < 0 else self._local(self.state.plastic[q].weight, s)
        source = np.repeat(np.arange(len(csr.ptr) - 1), np.diff(csr.ptr).astype(np.int64))
        packed = csr.packed[:nnz].view(np.uint32)
        shift = int(csr.shift)
        delay = (packed >> np.uint32(shift)).astype(np.int64)
        if len(csr.delay):
            delay = delay + csr.delay[:nnz]
        slot = (packed & np.uint32((1 << shift) - 1)).astype(np.int64)
        gid = self._slots[s][1]
        return Synapses(source, gid[slot].astype(np.int64), weight[:nnz], delay.astype(np.int32))

    def _synapse_table(self) -> Synapses:
        """Every synapse of the network in canonical order (under MPI: collective)."""
        parts = [self._local_synapses(s) for s in self._local_shards()]
        if self.comm is not None:
            parts = [p for part in self.comm.allgather(parts) for p in part]
        cat = Synapses(*(np.concatenate([getattr(p, f) for p in parts])
                         for f in ("source", "target", "weight", "delay")))  # fmt: skip
        order = np.lexsort((cat.delay, cat.target, cat.source))  # stable: CSR order kept
        return Synapses(*(getattr(cat, f)[order] for f in ("source", "target", "weight", "delay")))

    def connections(self, source=None, target=None) -> dict:
        """This process's synapses from ``source`` to ``target`` neurons (node ids; ``None``:
        any), in canonical order: ``source``, ``target`` (node ids), ``label`` (synapse
        model), and where they live (``shard``, ``index``; valid for ``version``).

        Builds the network first if needed (synapses are drawn at the build).
        """
        sel = [None if ids is None else self._neuron_only(ids, name)
               for ids, name in ((source, "source"), (target, "target"))]  # fmt: skip
        self.prepare()
        ids = self.neuron_ids()
        cols = {k: [] for k in ("source", "target", "delay", "shard", "index", "csr")}
        plastic = self._plastic_projections()
        for s, q in itertools.product(self._local_shards(), range(-1, len(plastic))):
            syn = self._local_synapses(s, q)
            keep = np.ones(len(syn.source), bool)
            for chosen, which in zip(sel, (syn.source, syn.target), strict=True):
                if chosen is not None:
                    keep &= np.isin(which, chosen)
            for k, v in (
                ("source", syn.source),
                ("target", syn.target),
                ("delay", syn.delay),
                ("shard", np.full(len(keep), s)),
                ("index", np.arange(len(keep))),
                ("csr", np.full(len(keep), q)),
            ):
                cols[k].append(v[keep])  # fmt: skip
        cat = {k: np.concatenate(v) if v else np.zeros(0, np.int64) for k, v in cols.items()}
        order = np.lexsort((cat["index"], cat["csr"], cat["delay"], cat["target"],
                            cat["source"]))  # fmt: skip
        out = {k: v[order] for k, v in cat.items()}
        out["label"] = self._labels(out["source"], out["target"])
        for q, p in enumerate(plastic):
            out["label"][out["csr"] == q] = p.label
        out["source"], out["target"] = ids[out["source"]], ids[out["target"]]
        out["version"] = self._csr_version
        del out["delay"]
        return out

    def _neuron_only(self, ids, name) -> np.ndarray:
        ids = np.asarray(ids, np.int64).reshape(-1)
        if any(not g.is_neuron for g, _ in self._group_of(ids)):
            raise ValueError(
                f"`{name}` must be neurons: connections from and to devices are not "
                "synapses of the network (GetConnections lists neuron-to-neuron synapses)"
            )
        return self._neuron_index(ids)

    def _labels(self, source, target) -> np.ndarray:
        """The synapse model of each synapse (the projection it belongs to); ``''`` where
        projections with different models share the pair."""
        label = np.full(len(source), None, object)
        for p in self.projections:
            if p.plastic:
                continue
            mine = np.isin(source, p.pre) & np.isin(target, p.post)
            clash = mine & (label != None) & (label != p.label)  # noqa: E711
            label[mine] = p.label
            label[clash] = ""
        return label

    def synapse_values(self, where: dict, key: str) -> np.ndarray:
        """``weight`` (pA or mV), ``delay`` (ms) or, of plastic synapses only, an STDP
        parameter or ``Kplus`` (the current trace) of the synapses ``where`` (from
        :meth:`connections`)."""
        self._check_version(where)
        out = np.zeros(len(where["index"]), np.float64)
        plastic = self._plastic_projections()
        for s, q in {(int(s), int(q)) for s, q in zip(where["shard"], where["csr"],
                                                        strict=True)}:  # fmt: skip
            mine = (where["shard"] == s) & (where["csr"] == q)
            if key in ("weight", "delay"):
                syn = self._local_synapses(s, q)
                value = syn.weight if key == "weight" else syn.delay * self.h
            elif q < 0 or key not in SYNAPSE_DEFAULTS[plastic[q].plastic["model"]]:
                raise ValueError(f"`{key}` is not a parameter of every selected synapse")
            elif key == "Kplus":
                value = self._local(self.state.plastic[q].kplus, s)
            else:
                value = np.asarray(self._plastic_values[s][q][key], np.float64)
                if value.ndim == 0:  # one value for the projection
                    out[mine] = value
                    continue
            out[mine] = value[where["index"][mine]]
        return out

    def set_synapses(self, where: dict, key: str, value) -> None:
        """Set ``weight`` or ``delay`` (ms) of the synapses ``where``: a number or one value
        per synapse, checked before anything changes."""
        self._check_version(where)
        n = len(where["index"])
        value = np.asarray(value, np.float64)
        if value.ndim > 1 or (value.ndim == 1 and len(value) != n):
            raise ValueError(f"`{key}` must be a number or one value per connection ({n})")
        if value.size and not np.all(np.isfinite(value)):
            raise ValueError(f"`{key}` must be finite; got {value.reshape(-1)[:4]}")
        value = np.broadcast_to(value, (n,))
        steps = delay_steps(value, self.h) if key == "delay" else None
        plastic = np.flatnonzero(where["csr"] >= 0)
        if key == "delay" and len(plastic):
            raise ValueError("the delays of plastic synapses cannot be changed (yet)")
        if len(plastic):  # weights that are state
            self._set_plastic_weights(where, value, self._plastic_projections())
            static = where["csr"] < 0
            where = {k: v if k == "version" else v[static] for k, v in where.items()}
            value = value[static]
            if not static.any():
                return
        layout = self._built["layout"]
        csrs, index = [], where["index"].copy()
        for s in self._local_shards():
            mine = where["shard"] == s
            if key == "weight":  # in place: the CSR's order does not change
                csr = self._local(self._built["arrays"].csr, s)
                csr.weight[where["index"][mine]] = value[mine]
                csrs.append(csr)
                continue
            syn = self._local_synapses(s)
            slot_of = self._slots[s][0]
            syn.delay[where["index"][mine]] = steps[mine]
            # the CSR is re-sorted (source, delay, target): follow the moved synapses
            order = np.lexsort((slot_of[syn.target], syn.delay, syn.source))
            moved = np.empty_like(order)
            moved[order] = np.arange(len(order))
            index[mine] = moved[where["index"][mine]]
            csrs.append(DeviceCSR.host(build_csr(len(slot_of), [syn], slot_of,
                                                 n_slots=layout.n)))  # fmt: skip
        arrays = self._built["arrays"]
        self._built["arrays"] = arrays._replace(csr=self._put(csrs))
        self._modified = True
        if key == "delay":
            self._csr_version += 1
            where["index"], where["version"] = index, self._csr_version
            if steps.size and (steps.min() < layout.m or steps.max() > layout.D - layout.m):
                self._stale = True  # the ring buffer or the block length must change

    def _set_plastic_weights(self, where, value, plastic) -> None:
        for q, p in enumerate(plastic):
            mine = where["csr"] == q
            if mine.any() and np.any((value[mine] >= 0) != (p.plastic["Wmax"] >= 0)):
                raise ValueError(f"`weight` and `Wmax` of a {p.plastic['model']} must have "
                                 f"the same sign (Wmax={p.plastic['Wmax']:g})")  # fmt: skip
        states = []
        for s in self._local_shards():
            state = self._local(self.state, s)
            for q in range(len(plastic)):
                mine = (where["shard"] == s) & (where["csr"] == q)
                state.plastic[q].weight[where["index"][mine]] = value[mine]
            states.append(state)
        self.state = self._put(states)

    def _check_version(self, where: dict) -> None:
        if self._built is None or where["version"] != self._csr_version:
            raise ValueError(
                "the network's synapses changed since GetConnections (Create, Connect or a "
                "delay change): call GetConnections again"
            )
