"""The run loop: chunks of blocks, buffer growth, exchange statistics.

:meth:`_Runner.run` advances the built network chunk by chunk with
:func:`~snnjax.sim._network.run_blocks`. After each chunk the spike count of every block is
checked against the spike buffer (``max_spikes``): when automatic, the buffer grows and the
chunk is re-run from its start; when set explicitly, an overflow raises with the capacity
needed. A progress bar shows simulated time.
"""

import dataclasses
import functools
import math
import time

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from .._errors import check_range
from ._exchange import KEY_BYTES
from ._network import Layout, exchange_blocks, on_mesh
from ._plastic import rehash


class _Runner:
    """``simulate``/``run`` (mixed into :class:`~snnjax.sim.Simulator`)."""

    def steps_of(self, t_ms: float) -> int:
        """``t_ms`` in steps; ``ValueError`` unless it is a multiple of the resolution >= 0."""
        if isinstance(t_ms, bool) or not isinstance(t_ms, int | float | np.integer | np.floating):
            raise ValueError(f"`t_ms` must be a number (ms); got {t_ms!r}")
        check_range("t_ms", t_ms, low=0.0)
        steps = round(t_ms / self.h)
        if abs(steps * self.h - t_ms) > 1e-9 * max(1.0, t_ms):
            raise ValueError(f"`t_ms` must be a multiple of the resolution {self.h}; got {t_ms}")
        return steps

    def simulate(self, t_ms: float) -> None:
        """Build (or rebuild) if needed, then advance by ``t_ms`` ms (whole steps)."""
        self.steps_of(t_ms)  # check before building: a bad time changes nothing
        self.prepare()
        self.run(t_ms)

    def run(self, t_ms: float) -> None:
        """Advance the prepared network by ``t_ms`` ms (rebuilt first if nodes or
        connections were added since the last run)."""
        steps = self.steps_of(t_ms)
        if self._built is None:
            raise ValueError("call prepare() (or simulate) before run()")
        self.prepare()  # a no-op unless create/connect made the network stale
        show = self.progress and self.rank == 0
        bar = tqdm(total=steps, desc="simulate", unit="step", disable=not show)
        done, ahead = 0, None
        lead = None if self.mesh is None else slice(None)  # x[None]: a shard axis, x[:]: as is
        while done < steps:
            layout = self._built["layout"]
            per_block = layout.m
            # One compiled chunk of `capacity` blocks runs any number of steps up to it (a
            # last block shorter than m steps included): nothing recompiles in a run.
            capacity = max(1, self.chunk // per_block)
            todo = min(capacity * per_block, steps - done)
            blocks = -(-todo // per_block)
            t0 = self.t_steps
            run = self._compile()
            if ahead is not None and ahead[0] is run and ahead[1:3] == (t0, todo):
                tic, state, record = ahead[3:]  # dispatched while the last chunk was checked
            else:
                tic = time.perf_counter()
                state, record = self._dispatch(run, self.state, t0, capacity, todo)
            # The next chunk goes out now, from this one's state before it is checked, and
            # runs while the host checks this one (dropped if this one is re-run). Not under
            # MPI: the host's collectives would overlap the chunk's.
            after = min(capacity * per_block, steps - done - todo)
            ahead = None
            if after and self.comm is None:
                ahead = (run, t0 + todo, after, time.perf_counter(),
                         *self._dispatch(run, state, t0 + todo, capacity, after))  # fmt: skip
            # on the host (NumPy: eager JAX ops would compile, once per shape, in the run);
            # one shard here: the record gets its shard axis
            record = jax.tree.map(lambda x, b=blocks: np.asarray(x)[lead][:, :b], record)
            chunk_s = time.perf_counter() - tic  # with the overlap of the chunk before
            # buffer needs (spikes received, own, routed; weight events) and lost pairings,
            # over all ranks in one collective
            need = np.array([[record.n_recv.max(), record.n_own.max(),
                              record.n_route.max(initial=0),
                              max((w.n.max() for w in record.weights), default=0),
                              record.n_lost.sum()]], np.int64)  # fmt: skip
            if self.comm is not None:
                need = np.concatenate(self.comm.allgather(need))
            top = need.max(0)
            spikes, events, lost = [int(x) for x in top[:3]], int(top[3]), int(need[:, 4].sum())
            if self._grow(layout, *spikes, t0):
                continue  # re-run this chunk from its start (state unchanged)
            if lost:
                self._grow_history(layout, lost, t0, todo)
                continue
            if events > layout.max_events:  # a weight_recorder's buffer: grow, re-run
                grown = max(2 * layout.max_events, math.ceil(1.25 * events))
                self._built["layout"] = dataclasses.replace(layout, max_events=grown)
                continue
            bad = record.n_bad.sum(0)
            if self.comm is not None:
                bad = np.sum(self.comm.allgather(bad), axis=0)
            if bad.any():  # the state stays as before this chunk
                self._solver_failure(state, t0 + int(np.argmax(bad > 0)) * per_block, per_block)
            self.state = state
            # Per-block time, first runs of a compiled chunk apart.
            first = "first_" if id(run) not in self._ran else ""
            self._ran.add(id(run))
            self.stats[f"{first}run_s"] = self.stats.get(f"{first}run_s", 0.0) + chunk_s
            self.stats[f"{first}run_blocks"] = self.stats.get(f"{first}run_blocks", 0) + blocks
            self._collect(record, t0, todo, per_block)
            self.t_steps += todo
            done += todo
            bar.update(todo)
        bar.close()

    def _dispatch(self, run, state, t0: int, capacity: int, todo: int):
        """Start the compiled chunk ``run`` on ``state`` at step ``t0`` for ``todo`` steps:
        its ``(state, record)``, computed asynchronously."""
        counts = self._sg_counts(t0, capacity, self._built["layout"].m)
        return run(self._built["arrays"], state, jnp.int32(t0), counts, jnp.int32(todo))

    def _solver_failure(self, state, t0: int, steps: int) -> None:
        """Raise, naming the neurons whose state became non-finite (NEST: a
        ``GSLSolverFailure`` or ``NumericalInstability``)."""
        pops = [g for g in self.groups if g.is_neuron]
        bad = []
        for s in self._local_shards():
            local = self._local(state.neurons, s)
            _, gid, real = self._slots[s]
            for st, (lo, hi) in zip(local, self._built["layout"].slices, strict=True):
                floats = [
                    np.asarray(x) for x in st if np.issubdtype(np.asarray(x).dtype, np.floating)
                ]
                if floats:
                    mask = ~np.all([np.isfinite(x) for x in floats], axis=0) & real[lo:hi]
                    bad.extend(gid[lo:hi][mask].tolist())
        if self.comm is not None:
            bad = [i for part in self.comm.allgather(bad) for i in part]
        ids = self.neuron_ids()[np.unique(np.asarray(bad, np.int64))]
        models = sorted({g.model for g in pops for i in bad if g.offset <= i < g.offset + g.n})
        raise RuntimeError(
            f"numerical failure of {', '.join(models)} neuron(s) {ids[:8].tolist()} between "
            f"t = {t0 * self.h:g} and {(t0 + steps) * self.h:g} ms: the state became "
            "non-finite (NEST: GSLSolverFailure); check their parameters and input. The "
            "simulation stays at the start of this run chunk."
        )

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

    def _grow_history(self, layout: Layout, lost: int, t0: int, steps: int) -> None:
        """Double the spike history of the plastic synapses (the chunk is re-run), or raise
        when the spikes were dropped before the chunk (no longer history can bring them
        back)."""
        if layout.H >= 4 * steps + 64:
            raise RuntimeError(
                f"{lost} plastic synapse update(s) between t = {t0 * self.h:g} and "
                f"{(t0 + steps) * self.h:g} ms needed a postsynaptic spike older than the "
                f"{layout.H} spikes each neuron keeps, dropped before this run chunk; create "
                "the Simulator with a larger `stdp_history` (kernel attribute "
                "`stdp_history`). The simulation stays at the start of this chunk."
            )
        H = 2 * layout.H
        self._built["layout"] = dataclasses.replace(layout, H=H)
        self.stdp_history = max(self.stdp_history, H)
        states = []
        for s in self._local_shards():
            state = self._local(self.state, s)
            step, k_at = rehash(state.post.step, state.post.k_at, state.post.total, H)
            states.append(state._replace(post=state.post._replace(step=step, k_at=k_at)))
        self.state = self._put(states)

    def _sg_counts(self, t0, blocks, per_block) -> jax.Array:
        counts = np.zeros((blocks * per_block, len(self._sg_steps)), np.float32)
        for i, (steps, mult) in enumerate(self._sg_steps):
            keep = (steps >= t0) & (steps < t0 + len(counts))
            np.add.at(counts[:, i], steps[keep] - t0, mult[keep])
        return jax.device_put(counts.reshape(blocks, per_block, -1))  # no compile (jnp would)

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
            fn = functools.partial(exchange_blocks, layout, comm=self._mpi_comm())
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
