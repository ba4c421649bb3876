"""Recording: spikes and samples copied to the host after each chunk, read as NEST's events.

Recorded spikes are kept as ``(neuron index, step)`` of the watched neurons and samples as
``[steps, (recordable, neuron)]`` tables, both independent of the split, so a rebuild or a
checkpoint carries them as they are. A recorder's ``start``/``stop``/``interval`` changed
between runs applies to what is recorded from then on (its history is kept); ``n_events =
0`` forgets what it recorded so far, as in NEST.
"""

import numpy as np

_EMPTY = {"senders": np.zeros(0, np.int64), "times": np.zeros(0)}


class _Recorder:
    """Recorders' events (mixed into :class:`~snnjax.sim.Simulator`)."""

    def _collect(self, record, t0, steps, per_block) -> None:
        """Copy a chunk's recorded spikes (watched neurons) and samples of its ``steps``
        steps to the host (under MPI every rank gets every rank's), and count the exchange
        traffic."""
        N = self._built["layout"].N
        self._count_traffic(record, steps)
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
        self._collect_weights(record, t0, per_block)
        if self._sample_order is not None:
            samples = record.samples.reshape(record.samples.shape[0], -1,
                                             record.samples.shape[-1])[:, :steps]  # fmt: skip
            if self.comm is not None:
                samples = np.concatenate(self.comm.allgather(samples))
            keys, shard, col = self._sample_order
            self._samples.append((t0 + np.arange(samples.shape[1]), keys, samples[shard, :, col].T))

    def _collect_weights(self, record, t0, per_block) -> None:
        """The updates of recorded plastic synapses: (projection, sender and target node
        ids, step, weight), from every shard (under MPI every rank gets all)."""
        layout = self._built["layout"]
        recorded = [q for q, r in enumerate(layout.recorded) if r]
        for q, ev in zip(recorded, record.weights, strict=True):
            parts = []
            for i, s in enumerate(self._local_shards()):
                valid = np.arange(ev.syn.shape[-1]) < ev.n[i][:, None]
                source, target = self._synapse_ends(s, q)
                index = ev.syn[i][valid]
                parts.append((source[index], target[index], ev.step[i][valid],
                              ev.weight[i][valid].astype(np.float64)))  # fmt: skip
            if self.comm is not None:
                parts = [p for part in self.comm.allgather(parts) for p in part]
            cat = [np.concatenate([p[k] for p in parts]) for k in range(4)]
            if len(cat[0]):
                self._weight_events.append((np.full(len(cat[0]), q), *cat))

    def _synapse_ends(self, s: int, q: int) -> tuple[np.ndarray, np.ndarray]:
        """Source and target node ids of plastic projection ``q``'s synapses on shard ``s``,
        in CSR order (decoded once per build: plastic synapses keep their order until a
        rebuild)."""
        if (s, q) not in self._recorded_ends:
            ids, syn = self.neuron_ids(), self._local_synapses(s, q)
            self._recorded_ends[(s, q)] = (ids[syn.source], ids[syn.target])
        return self._recorded_ends[(s, q)]

    def events(self, device: int) -> dict[str, np.ndarray]:
        """A recorder's events, as NEST's ``events`` (``senders``, ``times`` in ms, ...; a
        ``weight_recorder``'s also ``targets`` and ``weights``)."""
        ((group, _),) = self._group_of([device])
        if group.model == "spike_recorder":
            return self._spike_events(int(device))
        if group.model == "multimeter":
            return self._multimeter_events(int(device))
        if group.model == "weight_recorder":
            return self._weight_recorder_events(int(device))
        raise ValueError(f"`device` must be a recorder; got {group.model}")

    def _weight_recorder_events(self, rid):
        """In time order, then by sender and target (the same on any split)."""
        plastic = self._plastic_projections()
        mine = [q for q, p in enumerate(plastic) if p.plastic["weight_recorder"] == rid]
        empty = {**_EMPTY, "targets": np.zeros(0, np.int64), "weights": np.zeros(0)}
        if not self._weight_events or not mine:
            return empty
        columns = zip(*self._weight_events, strict=True)
        q, sender, target, step, weight = (np.concatenate(x) for x in columns)
        keep = np.isin(q, mine) & self._recorded(rid, step)
        order = np.lexsort((target[keep], sender[keep], step[keep]))
        return {
            "senders": sender[keep][order],
            "targets": target[keep][order],
            "times": (step[keep][order] + 1) * self.h,
            "weights": weight[keep][order],
        }

    def _recorded(self, rid: int, steps: np.ndarray, every: bool = False) -> np.ndarray:
        """Which events of steps ``steps`` recorder ``rid`` kept: inside the window (and on
        the interval) in force when they were recorded, and not cleared since."""
        history = self._recorder_history.get(rid) or [(0, self._node_values(rid))]
        times = (steps + 1) * self.h
        keep = np.zeros(len(steps), bool)
        for i, (since, values) in enumerate(history):
            until = history[i + 1][0] if i + 1 < len(history) else np.inf
            ok = (steps >= since) & (steps < until)
            ok &= (times > values["start"]) & (times <= values["stop"])
            if every:
                ok &= (steps + 1) % round(values["interval"] / self.h) == 0
            keep |= ok
        return keep & (steps >= self._cleared.get(rid, 0))

    def _spike_events(self, rid):
        watched = np.fromiter(self.watch.get(rid, ()), np.int64)
        if not self._spikes:
            return dict(_EMPTY)
        neuron = np.concatenate([s for s, _ in self._spikes])
        step = np.concatenate([t for _, t in self._spikes])
        keep = np.isin(neuron, watched) & self._recorded(rid, step)
        order = np.lexsort((neuron[keep], step[keep]))
        times = (step[keep][order] + 1) * self.h
        return {"senders": self.neuron_ids()[neuron[keep][order]], "times": times}

    def _multimeter_events(self, mid):
        names = self._node_values(mid)["record_from"]
        neurons = np.array(self.sampled.get(mid, []), np.int64)
        parts = {k: [] for k in ("senders", "times", *names)}
        for steps, keys, values in self._samples:
            column = {k: c for c, k in enumerate(keys)}
            here = [int(i) for i in neurons if (names[0], int(i)) in column] if names else []
            rows = np.flatnonzero(self._recorded(mid, steps, every=True))
            if not here or not len(rows):
                continue
            parts["senders"].append(np.tile(self.neuron_ids()[here], len(rows)))
            parts["times"].append(np.repeat((steps[rows] + 1) * self.h, len(here)))
            for name in names:
                cols = [column[(name, i)] for i in here]
                parts[name].append(values[rows][:, cols].astype(np.float64).reshape(-1))
        out = {**_EMPTY, **{name: np.zeros(0) for name in names}}
        return out | {k: np.concatenate(v) for k, v in parts.items() if v}
