"""Building the description into device arrays, and keeping them up to date.

:meth:`_Builder.prepare` places the neurons (:mod:`._placement`), builds each shard on its
own from the keyed streams (under MPI a rank builds only its shard; on one process the
shards are built one after the other, never a global connectivity), sizes the
:class:`~snnjax.sim.Layout` and compiles the first chunk ahead of time.

Changes after the build: ``set`` swaps the affected arrays (same shapes: no
recompilation, :meth:`_Builder._apply_set`); ``create``/``connect`` mark the network stale
and the next ``prepare`` rebuilds it, carrying over every neuron's state and every spike in
flight (:mod:`._state`).
"""

import functools
import itertools
import math
import time
import zlib

import jax
import jax.numpy as jnp
import numpy as np

from ._connect import (
    Synapses,
    build_csr,
    clear_caches,
    connect,
    mean_indegree,
    source_counts,
)
from ._delivery import DeviceCSR
from ._exchange import MPIComm
from ._native import native_available
from ._network import (
    CurrentInput,
    Layout,
    NetworkArrays,
    PoissonInput,
    SimState,
    SpikeInput,
    on_mesh,
    poisson_table,
    run_blocks,
)
from ._nodes import spike_generator_steps
from ._placement import place
from ._plastic import PlasticArrays, PlasticState, empty_history
from ._random import Parameter
from ._stdp import check_stdp, stdp_params
from .models import INITIAL_STATE, get_model

_KEY_POISSON = 0x9015
_MAX_TABLE = 1 << 22  #: entries of a plastic kernel's exponential table (16 MB)
# What a build sets (restored when a rebuild fails).
_BUILT = ("_built", "_stale", "state", "owner", "_slots", "stats", "_sg_steps", "_watched",
          "_executables", "_ran", "_csr_version", "_sample_order", "n_synapses", "_plastic_values",
          "_recorded_ends", "connectivity_bytes")  # fmt: skip
_NEVER = 2**30  # "stop = inf" in steps
_EXECUTABLES = 4  # compiled chunks kept (per layout: grown buffers, rebuilt shapes)
#: synapses per part of a projection's build (its targets in groups; :meth:`_projection_parts`)
_PART = 1 << 21


class _Builder:
    """``prepare`` and the arrays it builds (mixed into :class:`~snnjax.sim.Simulator`)."""

    def prepare(self) -> None:
        """Build the network (placement, connectivity, inputs) and compile the first chunk;
        after ``create``/``connect`` following a run, rebuild it keeping its state."""
        if self._built is not None and not self._stale:
            return
        self._check_same_network()
        carried = self._gather_state() if self._built is not None and self.t_steps else None
        table = self._synapse_table() if self._built is not None and self._modified else None
        first = self._built["projections"] if table is not None else 0
        before = {k: getattr(self, k) for k in _BUILT if hasattr(self, k)}
        try:
            self._built = None
            self._build(table, first)
            if carried is not None:
                self._scatter_state(carried)
        except BaseException:  # a failed (re)build leaves the network as it was
            for k, v in before.items():
                setattr(self, k, v)
            raise

    def _is_built(self, group) -> bool:
        """Whether ``group``'s neurons are in the built arrays (not created since)."""
        return self._built is not None and group.offset < self._built["N"]

    def _build(self, table=None, first: int = 0) -> None:
        populations = [g for g in self.groups if g.is_neuron]
        N, S = self.n_neurons, self.shards
        pops = [(g.offset, g.offset + g.n) for g in populations]
        pinned = np.concatenate([np.full(g.n, g.shard) for g in populations] or [np.zeros(0)])
        edges = [(p.pre, p.post, p.conn) for p in self.projections]
        owner = place(self.placement, S, pinned, pops, edges)
        if self.comm is not None:
            owner = self.comm.bcast(owner, root=0)  # one placement, whatever METIS does
        self.owner = owner
        counts = np.array([[np.sum(owner[a:b] == s) for a, b in pops] for s in range(S)])
        caps = np.maximum(1, counts.max(0)) if N else np.zeros(0, np.int64)
        base = np.concatenate([[0], np.cumsum(caps)]).astype(np.int64)
        n_local = int(base[-1])
        mine = self._local_shards()
        sampled, sample_index, columns = self._sampling(populations)
        keys = sorted(columns)  # (recordable, neuron) in the host's order; their place per shard
        self._sample_order = (keys, *(np.array(x, np.int64) for x in zip(
            *(columns[k] for k in keys), strict=True))) if keys else None  # fmt: skip
        self._slots = {}
        shards, build_s = [], []
        for s in mine:
            t = time.perf_counter()
            shards.append(self._build_shard(s, populations, caps, base, table, first))
            build_s.append(time.perf_counter() - t)
        csrs = [sh.pop("csr") for sh in shards]
        plastic = [[c for c, _ in sh["plastic"]] for sh in shards]  # [shard][projection] CSRs
        self._plastic_values = {s: [v for _, v in sh.pop("plastic")]
                                for s, sh in zip(mine, shards, strict=True)}  # fmt: skip
        every = [[c, *p] for c, p in zip(csrs, plastic, strict=True)]
        has = (np.stack([np.any([np.diff(c.ptr) > 0 for c in cs], axis=0) for cs in every])
               if N else np.zeros((S, 0), bool))  # fmt: skip
        n_syn = np.array([sum(c.n_synapses for c in cs) for cs in every], np.int64)
        delays = [c.delay_range() for cs in every for c in cs
                  if c.n_synapses]  # fmt: skip
        # a plastic synapse also keeps its trace, last spike and post spikes paired
        bytes_ = sum(c.nbytes + 12 * c.n_synapses for p in plastic for c in p) + sum(
            c.nbytes for c in csrs
        )
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
                      "neurons_per_shard": counts.sum(1).tolist(),
                      "compiles": self.stats.get("compiles", 0)}  # fmt: skip
        min_delay = min((d for d, _ in delays), default=10)
        m = max(1, min(min_delay, self.chunk))
        D = max((d for _, d in delays), default=1) + m
        Dx = max((int(c.delay.max()) for c in self.device_conns), default=0) + m
        arrays = [
            NetworkArrays(csr=DeviceCSR.host(csr), sample_index=sample_index[s], gid=sh["gid"],
                          real=sh["real"], route=sh["route"], **sh["inputs"],
                          plastic=tuple(PlasticArrays(DeviceCSR.host(c)._replace(
                              weight=np.zeros(0, np.float32)), stdp_params(v, self.h))
                              for c, v in zip(pl, self._plastic_values[s], strict=True)))
            for s, sh, csr, pl in zip(mine, shards, csrs, plastic, strict=True)
        ]  # fmt: skip
        H = self.stdp_history if any(p.plastic for p in self.projections) else 0
        states = [
            SimState(sh["states"], np.zeros((2, D, n_local), np.float32), sh["ext"](Dx),
                     tuple(PlasticState(c.weight, np.broadcast_to(
                         v.get("Kplus", 0.0), c.weight.shape).astype(np.float32),
                         np.full(c.n_synapses, -1, np.int32), np.zeros(c.n_synapses, np.int32))
                         for c, v in zip(pl, self._plastic_values[s], strict=True)),
                     empty_history(n_local, H, D) if H else None)
            for s, sh, pl in zip(mine, shards, plastic, strict=True)
        ]  # fmt: skip
        del csrs, shards, plastic
        rate = m * self.h * 1e-3 * 100.0  # spikes per neuron and block at a 100 Hz guess
        per_shard = int(counts.sum(1).max()) if N else 1
        send = max(64, math.ceil(per_shard * rate))
        expected = self.n_synapses / S * m * self.h * 1e-3 * 10.0  # per block at 10 Hz
        # h / tau_plus of each plastic projection (None: drawn per synapse)
        h_tau_plus = tuple(p.params.h_tau_plus[0] if p.params.h_tau_plus.shape[0] == 1
                           else None for p in arrays[0].plastic)  # fmt: skip
        recorded = tuple(
            p.plastic["weight_recorder"] is not None for p in self.projections if p.plastic
        )
        layout = Layout(
            models=tuple(get_model(g.model, substeps=self.substeps) for g in populations),
            slices=tuple((int(base[i]), int(base[i + 1])) for i in range(len(populations))),
            n=n_local,
            m=m,
            D=D,
            Dx=Dx,
            # The spike list costs the native path next to nothing: room for an onset burst
            # (4x the 100 Hz guess), so that it rarely grows (a recompile) in a run.
            max_spikes=self.max_spikes
            or min(max(64, math.ceil(N * rate * (4 if self.native else 1))), max(1, N * m)),
            tile=self.tile or int(np.clip(2 ** math.ceil(math.log2(expected + 1)), 4096, 65536)),
            sampled=sampled,
            N=N,
            shards=S,
            scheme=self.exchange,
            offsets=offsets,
            max_send=min(send, n_local * m),
            max_route=min(send, n_local * m),
            plastic=tuple(p.plastic["model"] for p in self.projections if p.plastic),
            H=H,
            recorded=recorded,
            max_events=max(64, math.ceil(expected)),
            native=self.native,
            threads=self.threads,
            plastic_native=self._plastic_tables(populations, h_tau_plus, recorded),
        )
        arrays, state = self._put(arrays), self._put(states)
        self._built = {"arrays": arrays, "layout": layout, "N": N, "h_tau_plus": h_tau_plus,
                       "projections": len(self.projections)}  # fmt: skip
        self._stale = False
        self.state = state
        self._sg_steps = self._spike_generator_steps()
        self._watched = self._watched_neurons()
        self._executables, self._ran = {}, set()
        self._recorded_ends = {}  # (shard, projection) -> node ids of a recorded one's synapses
        self._csr_version += 1
        self._compile()  # ahead of time: compiling belongs to the build

    def _put(self, trees: list):
        """Per-shard host pytrees onto the device(s): stacked ``[S, ...]`` and sharded over
        the mesh, or this process's one shard."""
        if self.mesh is None:
            return jax.device_put(trees[0])
        sharding = jax.sharding.NamedSharding(self.mesh, jax.sharding.PartitionSpec("shards"))
        return jax.device_put(_stack(trees), sharding)

    def _local(self, tree, s: int):
        """Shard ``s``'s slice of a device pytree, as (writable) NumPy arrays."""
        if self.mesh is not None:
            return jax.tree.map(lambda x: np.array(x[s]), tree)
        return jax.tree.map(np.array, tree)

    def _local_shards(self) -> list[int]:
        return [self.rank] if self.comm is not None else list(range(self.shards))

    def _mpi_comm(self) -> MPIComm | None:
        """The exchange's collectives between MPI ranks (``None``: one process)."""
        return MPIComm(self.comm, self.shards, self.rank) if self.comm is not None else None

    def _build_shard(self, s, populations, caps, base, table, first) -> dict:
        """One shard's arrays: its neurons' parameters and state, incoming CSR, inputs."""
        N, owner = self.n_neurons, self.owner
        slot_of = np.full(N, -1, np.int64)
        gid = np.zeros(int(base[-1]), np.int64)
        real = np.zeros(int(base[-1]), bool)
        states = []
        for p, g in enumerate(populations):
            ids = g.offset + np.flatnonzero(owner[g.offset : g.offset + g.n] == s)
            lo = int(base[p])
            slot_of[ids] = lo + np.arange(len(ids))
            gid[lo : lo + caps[p]] = g.offset  # padding: a copy of the first neuron
            gid[lo : lo + len(ids)] = ids
            real[lo : lo + len(ids)] = True
            pos = gid[lo : lo + caps[p]] - g.offset
            par = self._neuron_params(g, pos)
            init = {k: g.values[k][pos] for k in INITIAL_STATE[g.model]}
            states.append(get_model(g.model).init_state(par, int(caps[p]), **init))
        self._slots[s] = (slot_of, gid, real)

        def parts(counts_only=False):  # one Connect call at a time: placed, then dropped
            if table is not None:  # carried-over synapses (changed by SynapseCollection.set)
                keep = owner[table.target] == s
                if counts_only:
                    yield np.bincount(table.source[keep], minlength=N)
                else:
                    fields = ("source", "target", "weight", "delay")
                    yield Synapses(*(getattr(table, f)[keep] for f in fields))
            for p, pr in enumerate(self.projections):
                if (table is None or p >= first) and not pr.plastic:
                    yield from self._projection_parts(s, p, N if counts_only else None)

        # Natively the parts go straight into their rows (8 bytes per synapse at the peak,
        # not 20): their lengths first, from the sources alone (drawn twice).
        counts = None
        if native_available():
            counts = np.zeros(N, np.int64)
            for part_counts in parts(counts_only=True):
                counts += part_counts

        plastic = []  # (CSR, rule parameters: numbers or per synapse in the CSR's order)
        for p, pr in enumerate(self.projections):
            if pr.plastic:
                syn = self._connect_projection(s, p)
                order = np.lexsort((slot_of[syn.target], syn.delay, syn.source))  # as the CSR
                values = {**pr.plastic, **{k: v[order] for k, v in (syn.extra or {}).items()}}
                plastic.append((build_csr(N, [syn], slot_of, n_slots=int(base[-1])), values))
        csr = build_csr(N, parts if counts is not None else parts(), slot_of,
                        n_slots=int(base[-1]), counts=counts)  # fmt: skip
        clear_caches()
        return {
            "csr": csr,
            "plastic": plastic,
            "inputs": self._inputs(s, populations, list(itertools.pairwise(base.tolist()))),
            "states": tuple(states),
            "ext": functools.partial(self._initial_ext, s, len(gid)),
            "gid": gid.astype(np.int32),
            "real": real,
        }

    def _projection_parts(self, s: int, p: int, counts_of: int | None = None):
        """:meth:`_connect_projection` in parts of about :data:`_PART` synapses: shard
        ``s``'s targets in consecutive groups (each target's synapses are drawn from its
        own keys: the same synapses in the same order), so that the build's temporaries
        stay small enough for the allocator to reuse (not fresh pages to be zeroed).
        ``fixed_outdegree`` (drawn per source) comes in one part."""
        pr = self.projections[p]
        local = pr.post[self.owner[pr.post] == s]
        per_target = mean_indegree(pr.conn, len(pr.pre), len(pr.post))
        group = max(1, len(local) if per_target is None else int(_PART / max(per_target, 1.0)))
        for i in range(0, max(len(local), 1), group):  # an empty shard: one empty part
            yield self._connect_projection(s, p, counts_of, local[i : i + group])

    def _connect_projection(self, s: int, p: int, counts_of: int | None = None, local=None):
        """Projection ``p``'s synapses onto shard ``s``'s neurons (``local``: onto these of
        them; with the random rule parameters of a plastic one drawn per synapse, then
        checked); with ``counts_of`` = N: the synapses each of the N neurons sends, alone
        (:func:`~snnjax.sim._connect.source_counts`)."""
        pr, owner = self.projections[p], self.owner
        if local is None:
            local = pr.post[owner[pr.post] == s]
        if counts_of is not None:
            return source_counts(self.seed, p, pr.pre, pr.post, local, pr.conn, counts_of)
        random = {k: v for k, v in (pr.plastic or {}).items() if isinstance(v, Parameter)}
        syn = connect(self.seed, p, pr.pre, pr.post, local, pr.conn, pr.weight, pr.delay,
                      self.h, extra=random)  # fmt: skip
        if pr.plastic:
            try:
                check_stdp(pr.plastic["model"], {**pr.plastic, **(syn.extra or {}),
                                                 "weight": syn.weight})  # fmt: skip
            except ValueError as err:
                raise ValueError(f"Connect call {p} (drawn per synapse): {err}") from None
        return syn

    def _plastic_tables(self, populations, h_tau_plus: tuple, recorded: tuple) -> tuple:
        r""":attr:`Layout.plastic_native`: the native kernel updates a plastic projection
        that no ``weight_recorder`` records (``recorded``, per projection) and that has one
        ``tau_plus`` (``h_tau_plus``: per projection, ``h / tau_plus`` or None), when all
        neurons share one ``tau_minus``
        (its exponentials are tables of :math:`e^{-k h/\tau}` up to float32's underflow,
        ``k`` in steps, of at most :data:`_MAX_TABLE` entries)."""
        if not self.native or not h_tau_plus:
            return ()
        tau_minus = np.unique(np.concatenate(
            [np.ravel(g.values["tau_minus"]) for g in populations]))  # fmt: skip

        def last(h_tau) -> int | None:  # XLA's float32 exp is 0 below -87.34
            k = math.ceil(88.0 / float(h_tau)) + 1
            return k if k <= _MAX_TABLE else None

        k_minus = last(np.float32(self.h / tau_minus[0])) if len(tau_minus) == 1 else None
        out = tuple(
            (k_plus, k_minus) if not rec and k_minus and h is not None and (k_plus := last(h))
            else None
            for h, rec in zip(h_tau_plus, recorded, strict=True)
        )  # fmt: skip
        return out if any(out) else ()

    def _inputs(self, s: int, populations, slices) -> dict:
        """Shard ``s``'s arrays that ``set`` may change: neuron parameters, propagators and
        the generators' inputs."""
        slot_of, gid, _ = self._slots[s]
        params, props = [], []
        tau_minus = np.concatenate(
            [
                g.values["tau_minus"][gid[lo:hi] - g.offset]
                for g, (lo, hi) in zip(populations, slices, strict=True)
            ]
            or [np.ones(0)]
        )
        for g, (lo, hi) in zip(populations, slices, strict=True):
            par = self._neuron_params(g, gid[lo:hi] - g.offset)
            params.append(par)
            props.append(get_model(g.model).propagators(par, self.h))
        return {
            "params": tuple(params),
            "props": tuple(props),
            "poisson": self._poisson_inputs(s, slot_of),
            "spikes_in": SpikeInput(*self._conns("spike_generator", s, slot_of)),
            "current": self._current_inputs(s, slot_of),
            "h_tau_minus": (self.h / tau_minus).astype(np.float32),
        }

    def _initial_ext(self, s: int, n: int, Dx: int) -> np.ndarray:
        """The generator ring at step 0: ``dc_generator`` output of step -1 (NEST's current
        reaches a neuron in step ``delay - 1`` when ``start`` is 0)."""
        ext = np.zeros((3, Dx, n), np.float32)
        if self.t_steps == 0:
            cur = self._current_inputs(s, self._slots[s][0])
            on = (cur.lo < 1) & (1 <= cur.hi)
            np.add.at(ext[2], ((cur.delay[on] - 1) % Dx, cur.target[on]), cur.value[on])
        return ext

    def _route(self, s, has, gid, real, offsets) -> np.ndarray:
        """``bool[R, n]``: which destinations need each local neuron's spikes."""
        S = self.shards
        if S == 1 or self.exchange == "all_gather":
            return np.zeros((0, len(gid)), bool)
        dests = range(S) if self.exchange == "all_to_all" else [(s + k) % S for k in (0, *offsets)]
        return np.stack([has[q][gid] & real for q in dests])

    def fingerprint(self) -> int:
        """A checksum of the network's structure: seed, resolution, nodes (models,
        counts) and connections (with their plasticity rules), not neuron parameter values
        nor how it is split."""
        desc = repr((self.h, self.seed, [(g.model, g.n, g.shard) for g in self.groups],
                     [(p.pre.tobytes(), p.post.tobytes(), p.conn, repr(p.weight),
                       repr(p.delay), p.label, *([p.plastic] if p.plastic else []))
                      for p in self.projections],
                     [(c.kind, c.device.tobytes(), c.neuron.tobytes(), c.weight.tobytes(),
                       c.delay.tobytes()) for c in self.device_conns],
                     sorted((k, sorted(v)) for k, v in self.watch.items()),
                     sorted(self.sampled.items())))  # fmt: skip
        return zlib.crc32(desc.encode())

    def _check_same_network(self) -> None:
        """Under MPI: every rank must describe the same network (same script and config)."""
        if self.comm is None:
            return
        values = repr([{k: np.asarray(v).tobytes() if g.is_neuron else repr(v)
                        for k, v in g.values.items()} for g in self.groups])  # fmt: skip
        digest = (self.fingerprint(), zlib.crc32(values.encode()), self.exchange,
                  self.placement, self.chunk)  # fmt: skip
        digests = self.comm.allgather(digest)
        if len(set(digests)) != 1:
            bad = [r for r, d in enumerate(digests) if d != digests[0]]
            raise ValueError(
                f"ranks {bad} describe a different network than rank 0 (different config, "
                "seed or script?); every rank must run the same script with the same arguments"
            )

    def _compile(self):
        """The compiled chunk (``chunk // m`` blocks of ``m`` steps, running any number of
        steps up to that), cached by layout and array shapes: a ``set`` that keeps the
        shapes reuses it; the last few are kept (a rebuild back to earlier shapes, buffers
        grown and shrunk). Compile time goes to ``stats["compile_s"]``."""
        layout = self._built["layout"]
        steps, blocks = layout.m, max(1, self.chunk // layout.m)
        shapes = tuple((x.shape, x.dtype) for x in jax.tree.leaves(self._built["arrays"]))
        key = (layout, steps, blocks, shapes)
        if key not in self._executables:
            tic = time.perf_counter()
            if self.mesh is not None:
                fn = on_mesh(functools.partial(run_blocks, layout, steps), self.mesh, 2)
            else:
                fn = functools.partial(run_blocks, layout, steps, comm=self._mpi_comm())
            counts = jnp.zeros((blocks, steps, len(self._sg_steps)), jnp.float32)
            args = (self._built["arrays"], self.state, jnp.int32(0), counts,
                    jnp.int32(blocks * steps))  # fmt: skip
            # Ahead of time; under MPI mpi4jax's calls carry an effect token that an
            # AOT-compiled executable does not get passed: jit, compiled by a call of zero
            # steps (every rank makes it; the state is left as it is), so that no run
            # compiles.
            if self.comm is None:
                compiled = jax.jit(fn).lower(*args).compile()
            else:
                compiled = jax.jit(fn)
                jax.block_until_ready(compiled(*args[:4], jnp.int32(0)))
            if len(self._executables) >= _EXECUTABLES:  # keep the most recently compiled
                del self._executables[next(iter(self._executables))]
            self._executables[key] = compiled
            self.stats["compiles"] = self.stats.get("compiles", 0) + 1
            self.stats["compile_s"] = self.stats.get("compile_s", 0.0) + time.perf_counter() - tic
        return self._executables[key]

    # ----------------------------------------------------------------- generators
    def _poisson_inputs(self, s: int, slot_of: np.ndarray) -> tuple[PoissonInput, ...]:
        """Shard ``s``'s Poisson inputs: one per ``Connect`` call, the same list on every
        shard (a shard without targets gets one zero-weight entry). Each (generator,
        target) pair has its own stream: counter ``generator * N + target``."""
        rates = self._device_values("poisson_generator", "rate")
        lo, hi = self._window("poisson_generator")
        base = jax.random.fold_in(jax.random.key(self.seed), _KEY_POISSON)
        out = []
        for c, conn in enumerate(self.device_conns):
            if conn.kind != "poisson_generator":
                continue
            rows, row = np.unique(conn.device, return_inverse=True)
            tables = [poisson_table(r * self.h / 1000.0) for r in rates[rows]]
            K = max(16, 1 << math.ceil(math.log2(max(len(t) for t in tables) or 1)))
            keep = (conn.weight != 0) & (self.owner[conn.neuron] == s)

            def pick(a, fill, keep=keep):
                return a[keep] if keep.any() else np.full(1, fill, a.dtype)

            neuron, device = pick(conn.neuron, 0), pick(conn.device, 0)
            key = jax.random.key_data(jax.random.fold_in(base, c))
            out.append(PoissonInput(
                key=np.asarray(key, np.uint32),
                target=np.maximum(slot_of[neuron], 0).astype(np.int32),
                counter=(device.astype(np.uint64) * self.n_neurons + neuron).astype(np.uint32),
                weight=pick(conn.weight, 0.0).astype(np.float32),
                delay=pick(conn.delay, 1).astype(np.int32),
                row=pick(row.astype(np.int32), 0),
                table=np.stack([np.pad(t, (0, K - len(t)), constant_values=2**32 - 1)
                                for t in tables]).astype(np.uint32),
                size=np.array([len(t) for t in tables], np.int32),
                lo=lo[rows].astype(np.int32),
                hi=hi[rows].astype(np.int32),
            ))  # fmt: skip
        return tuple(out)

    def _window(self, kind) -> tuple[np.ndarray, np.ndarray]:
        """``start`` and ``stop`` of every device of ``kind`` in steps (``inf``: ``2**30``)."""
        start = np.round(self._device_values(kind, "start") / self.h)
        stop = self._device_values(kind, "stop") / self.h
        return start, np.where(np.isfinite(stop), np.round(stop), _NEVER)

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
        return dev[keep].astype(np.int32), slot_of[neu[keep]].astype(np.int32), w[keep], d[keep]

    def _current_inputs(self, s, slot_of) -> CurrentInput:
        dev, neu, w, d = self._conns("dc_generator", s, slot_of)
        amp = self._device_values("dc_generator", "amplitude")
        start, stop = self._window("dc_generator")
        pick = (lambda a: a[dev]) if len(dev) else (lambda a: np.zeros(0))
        return CurrentInput(neu, (pick(amp) * w).astype(np.float32), d,
                            pick(start).astype(np.int32), pick(stop).astype(np.int32))  # fmt: skip

    def _spike_generator_steps(self) -> list[tuple[np.ndarray, np.ndarray]]:
        return [
            spike_generator_steps({k: v[i] for k, v in g.values.items()}, self.h)
            for g in self.groups if g.model == "spike_generator" for i in range(g.n)
        ]  # fmt: skip

    # ------------------------------------------------------------------ multimeters
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
                    pop_names.update(self._node_values(m)["record_from"])
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

    def _node_values(self, node: int) -> dict:
        ((group, pos),) = self._group_of([node])
        return {k: v[pos[0]] for k, v in group.values.items()}


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
