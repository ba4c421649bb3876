"""Checkpoint and restore of a running simulation, onto any number of devices or ranks.

A checkpoint holds the complete state in split-independent form (:mod:`._state`): every
neuron's state, both ring buffers with the spikes and generator output in flight, the
plastic synapses' weights and traces and the neurons' spike histories, the
current step, the recorders' contents and history, every node's parameters as they are
now, and the synapses if any was changed (``SynapseCollection.set``). Poisson input needs
no state (its streams are keyed by step), nor do spike generators (their spikes are
re-read from their times). Restoring into a freshly built network of the same description
(same script: checked by :meth:`~snnjax.sim._build._Builder.fingerprint`) on any number of
devices or ranks continues bit-identically.

Layout on disk: ``DIR/step-<t>-<id>/{meta.json, state.npz}`` and ``DIR/LATEST`` naming the last
complete one. A checkpoint is written into a temporary directory and renamed, then
``LATEST`` is replaced atomically, then older ones are removed: an interrupted write leaves
the previous checkpoint intact. Under MPI, writing is collective (rank 0 writes); every
rank reads when restoring.
"""

import json
import os
import pathlib
import shutil
import uuid

import numpy as np

from ._connect import Synapses

FORMAT = 1
_ARRAYS = ("spike_times", "spike_weights", "spike_multiplicities")
_WEIGHT_EVENTS = ("projection", "sender", "target", "step", "weight")


class _Checkpointer:
    """``checkpoint``/``restore`` (mixed into :class:`~snnjax.sim.Simulator`)."""

    def checkpoint(self, path) -> pathlib.Path:
        """Write the complete state to directory ``path`` (collective under MPI).

        Returns:
            The directory of this checkpoint (``path/step-<t>-<id>``).
        """
        if self._built is None:
            raise ValueError("nothing to checkpoint: build (Prepare/Simulate) the network first")
        self.prepare()  # a stale network is rebuilt first
        state = self._gather_state()
        table = self._synapse_table() if self._modified else None
        root = pathlib.Path(path)
        final = _write(root, self._meta(), self._arrays(state, table)) if self.rank == 0 else None
        if self.comm is not None:
            final = self.comm.bcast(final, root=0)
        return final

    def restore(self, path) -> None:
        """Continue from the checkpoint in directory ``path``: into this network, freshly
        described by the same script (any number of devices or ranks), not yet run."""
        root = pathlib.Path(path)
        latest = root / "LATEST"
        if not latest.is_file():
            raise ValueError(f"`path` {str(root)!r} holds no checkpoint (no LATEST file)")
        folder = root / latest.read_text().strip()
        meta = json.loads((folder / "meta.json").read_text())
        if meta.get("format") != FORMAT:
            raise ValueError(f"checkpoint format {meta.get('format')} is not {FORMAT}")
        if meta["fingerprint"] != self.fingerprint() or meta["resolution"] != self.h:
            raise ValueError(
                f"the checkpoint in {str(folder)!r} is of a different network (its nodes, "
                "connections, seed or resolution differ from this one's); restore it into "
                "the network of the script that wrote it"
            )
        if self.t_steps or self._spikes or self._samples or self._weight_events:
            raise ValueError("restore into a freshly built network (this one has already run)")
        with np.load(folder / "state.npz") as z:
            arrays = dict(z)
        for i, g in enumerate(self.groups):
            if g.is_neuron:
                g.values = {k: arrays[f"values/{i}/{k}"] for k in g.values}
            else:
                g.values = {k: [_device_value(k, v) for v in vals]
                            for k, vals in meta["device_values"][str(i)].items()}  # fmt: skip
        self.t_steps = int(meta["t_steps"])
        self._modified = bool(meta["modified"])
        fields = ("source", "target", "weight", "delay")
        table = Synapses(*(arrays[f"synapses/{f}"] for f in fields)) if self._modified else None
        self._built = None
        self._build(table, len(self.projections))
        pops = sum(g.is_neuron for g in self.groups)
        state = {
            "t": self.t_steps, "N": self.n_neurons, "ring": arrays["ring"], "ext": arrays["ext"],
            "neurons": [{k.split("/")[2]: v for k, v in arrays.items()
                         if k.startswith(f"neurons/{p}/")} for p in range(pops)],
            "post": {k.split("/")[1]: v for k, v in arrays.items() if k.startswith("post/")},
            "plastic": [{k.split("/")[2]: v for k, v in arrays.items()
                         if k.startswith(f"plastic/{q}/")}
                        for q in range(sum(bool(p.plastic) for p in self.projections))],
        }  # fmt: skip
        self._scatter_state(state)
        self._spikes = [(arrays["spikes/neuron"], arrays["spikes/step"])]
        self._weight_events = [tuple(arrays[f"weight_events/{k}"] for k in _WEIGHT_EVENTS)]
        self._samples = [
            (arrays[f"samples/{i}/steps"], [tuple(k) for k in keys], arrays[f"samples/{i}/values"])
            for i, keys in enumerate(meta["sample_keys"])
        ]
        self._cleared = {int(k): v for k, v in meta["cleared"].items()}
        self._recorder_history = {
            int(k): [(since, {n: _device_value(n, v) for n, v in values.items()})
                     for since, values in hist]
            for k, hist in meta["recorder_history"].items()
        }  # fmt: skip

    def _meta(self) -> dict:
        return {
            "format": FORMAT,
            "fingerprint": self.fingerprint(),
            "resolution": self.h,
            "seed": self.seed,
            "t_steps": self.t_steps,
            "shards": self.shards,
            "modified": self._modified,
            "device_values": {
                str(i): {k: [_jsonable(v) for v in vals] for k, vals in g.values.items()}
                for i, g in enumerate(self.groups) if not g.is_neuron
            },
            "sample_keys": [list(map(list, keys)) for _, keys, _ in self._samples],
            "cleared": {str(k): v for k, v in self._cleared.items()},
            "recorder_history": {
                str(k): [(since, {n: _jsonable(v) for n, v in values.items()})
                         for since, values in hist]
                for k, hist in self._recorder_history.items()
            },
        }  # fmt: skip

    def _arrays(self, state: dict, table) -> dict:
        out = {"ring": state["ring"], "ext": state["ext"]}
        for p, fields in enumerate(state["neurons"]):
            out.update({f"neurons/{p}/{f}": x for f, x in fields.items()})
        for q, fields in enumerate(state["plastic"]):
            out.update({f"plastic/{q}/{f}": x for f, x in fields.items()})
        out.update({f"post/{f}": x for f, x in state["post"].items()})
        for i, g in enumerate(self.groups):
            if g.is_neuron:
                out.update({f"values/{i}/{k}": v for k, v in g.values.items()})
        spikes = self._spikes or [(np.zeros(0, np.int64), np.zeros(0, np.int64))]
        out["spikes/neuron"] = np.concatenate([n for n, _ in spikes])
        out["spikes/step"] = np.concatenate([t for _, t in spikes])
        events = self._weight_events or [(np.zeros(0, np.int64),) * 4 + (np.zeros(0),)]
        for k, part in zip(_WEIGHT_EVENTS, zip(*events, strict=True), strict=True):
            out[f"weight_events/{k}"] = np.concatenate(part)
        for i, (steps, _, values) in enumerate(self._samples):
            out[f"samples/{i}/steps"], out[f"samples/{i}/values"] = steps, values
        if table is not None:
            out.update({f"synapses/{f}": getattr(table, f)
                        for f in ("source", "target", "weight", "delay")})  # fmt: skip
        return out


def _jsonable(value):
    if isinstance(value, np.ndarray | tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _device_value(key: str, value):
    if key in _ARRAYS:
        return np.asarray(value, np.float64)
    if key == "record_from":
        return tuple(value)
    return value


def _write(root: pathlib.Path, meta: dict, arrays: dict) -> pathlib.Path:
    """Write into a temporary directory, rename it, then point ``LATEST`` at it; remove
    the older checkpoints last."""
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{meta['t_steps']}-{uuid.uuid4().hex[:8]}"
    tmp = root / f".tmp-{final.name}"
    tmp.mkdir()
    np.savez(tmp / "state.npz", **arrays)
    (tmp / "meta.json").write_text(json.dumps(meta))
    for f in tmp.iterdir():
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())
    os.replace(tmp, final)
    pointer = root / f".LATEST-{final.name}"
    pointer.write_text(final.name)
    os.replace(pointer, root / "LATEST")
    for other in root.glob("step-*"):
        if other != final:
            shutil.rmtree(other, ignore_errors=True)
    return final
