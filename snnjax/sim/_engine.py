"""A first simulation engine: populations, Poisson/DC input, connections, spike recording.

Single shard for now (all neurons on one device), built so that sharding can follow: every
neuron has a global id, connectivity comes from :func:`~snnjax.sim.connect` (keyed by
target), and spikes are delivered by :func:`~snnjax.sim.deliver` in ascending source id.

Per step ``k`` (NEST's order, see :mod:`snnjax.sim._models`): read ring-buffer slot
``k mod D`` (excitatory and inhibitory input, split by the sign of the weight as NEST's
psc models do) and the DC current; update every population; deliver the new spikes to
slot ``(k + d) mod D``; add this step's Poisson input (one independent train per
generator-target connection, as NEST's ``poisson_generator``). Steps run in jitted chunks
of ``chunk`` steps; after each chunk the needed spike/synapse counts are checked against
the buffers' capacities (an overflow raises with the capacity needed: never dropped) and
recorded spikes are copied to the host. A progress bar shows simulated time.
"""

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from .._errors import check_one_of, check_range
from ._connect import ConnSpec, Synapses, connect, to_csr
from ._delivery import DeviceCSR, deliver
from ._models import MODEL_NAMES, get_model

DEVICES = ("poisson_generator", "dc_generator", "spike_recorder")


@dataclasses.dataclass
class _Population:
    model: Any
    ids: np.ndarray
    params: Any


@dataclasses.dataclass
class _Device:
    kind: str
    ids: np.ndarray
    params: dict


class Simulator:
    """Build a network with ``create``/``connect``, then ``simulate``.

    Args:
        resolution: time step ``h`` in ms.
        seed: the seed of every random draw (connectivity, Poisson input).
        max_spikes: capacity for neurons spiking in one step. ``None`` (with
            ``synapse_capacity`` also ``None``): 5 % of the neurons, grown automatically
            (and the chunk re-run) when a step needs more. Set explicitly, an overflow
            raises ``RuntimeError`` with the capacity needed.
        synapse_capacity: capacity for synapses expanded in one step (``None``: the largest
            out-degree times ``max_spikes``, grown like ``max_spikes``).
        chunk: steps per jitted chunk.

    Examples:
        >>> sim = Simulator(resolution=0.1, seed=1)
        >>> exc = sim.create("iaf_psc_exp", 100, I_e=380.0)
        >>> rec = sim.create("spike_recorder")
        >>> sim.connect(exc, rec)
        >>> sim.simulate(100.0)
        >>> senders, times = sim.spikes(rec)
    """

    def __init__(
        self,
        resolution: float = 0.1,
        seed: int = 0,
        *,
        max_spikes: int | None = None,
        synapse_capacity: int | None = None,
        chunk: int = 100,
        progress: bool = False,
    ):
        check_range("resolution", resolution, low=0.0, low_inclusive=False)
        self.h, self.seed, self.chunk, self.progress = float(resolution), int(seed), chunk, progress
        self.max_spikes, self.synapse_capacity = max_spikes, synapse_capacity
        self.n = 0
        self.populations: list[_Population] = []
        self.devices: list[_Device] = []
        self.projections: list[tuple] = []
        self.poisson: list[tuple] = []
        self.dc: list[tuple] = []
        self.recorded: dict[int, np.ndarray] = {}
        self._built = None
        self.t_steps = 0
        self._spikes: list[tuple[np.ndarray, np.ndarray]] = []

    # ------------------------------------------------------------------ network
    def create(self, model: str, n: int = 1, **params) -> np.ndarray:
        """``n`` neurons of a NEST ``model`` (or one device); returns their global ids."""
        check_one_of("model", model, (*MODEL_NAMES, *DEVICES))
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"`n` must be a positive int; got {n!r}")
        if self._built is not None:
            raise ValueError("the network is already built: create before the first simulate")
        if model in DEVICES:
            ids = np.arange(-len(self.devices) - 1, -len(self.devices) - 1 - n, -1)
            self.devices.append(_Device(model, ids, _device_params(model, params)))
            return ids
        spec = get_model(model)
        pop = _Population(spec, np.arange(self.n, self.n + n), spec.params(**params))
        self.n += n
        self.populations.append(pop)
        return pop.ids

    def _device(self, ids) -> _Device | None:
        ids = np.asarray(ids)
        for dev in self.devices:
            if np.array_equal(dev.ids, ids):
                return dev
        return None

    def connect(self, pre, post, conn_spec: Any = None, syn_spec: dict | None = None) -> None:
        """Connect ``pre`` to ``post`` (NEST's ``conn_spec``/``syn_spec`` with ``weight`` and
        ``delay``; generators connect to neurons, neurons to a ``spike_recorder``)."""
        syn = {"weight": 1.0, "delay": 1.0, **(syn_spec or {})}
        for key in syn:
            check_one_of("syn_spec key", key, ("weight", "delay", "synapse_model"))
        src_dev, tgt_dev = self._device(pre), self._device(post)
        if tgt_dev is not None:
            if tgt_dev.kind != "spike_recorder":
                raise ValueError(f"a {tgt_dev.kind} cannot be a connection target")
            for i in np.asarray(pre):
                self.recorded.setdefault(int(tgt_dev.ids[0]), set()).add(int(i))
            return
        post = np.asarray(post)
        if src_dev is not None:
            target = self.poisson if src_dev.kind == "poisson_generator" else self.dc
            target.append((src_dev.params, post, float(syn["weight"]), float(syn["delay"])))
            return
        conn = ConnSpec.from_nest(conn_spec)
        self.projections.append((np.asarray(pre), post, conn, syn["weight"], syn["delay"]))

    # -------------------------------------------------------------------- build
    def _build(self):
        parts = [
            connect(self.seed, p, pre, post, post, conn, w, d, self.h)
            for p, (pre, post, conn, w, d) in enumerate(self.projections)
        ]
        cat = {
            k: np.concatenate([getattr(s, k) for s in parts]) if parts else np.zeros(0)
            for k in ("source", "target", "weight", "delay")
        }
        syn = Synapses(
            cat["source"].astype(np.int64),
            cat["target"].astype(np.int64),
            cat["weight"].astype(np.float32),
            cat["delay"].astype(np.int32),
        )
        ids = np.arange(self.n)
        csrs = []
        for keep in (syn.weight >= 0, syn.weight < 0):
            sub = Synapses(syn.source[keep], syn.target[keep], syn.weight[keep], syn.delay[keep])
            csrs.append(to_csr(self.n, sub, ids))
        max_delay = max(
            [int(syn.delay.max()) if len(syn.delay) else 1]
            + [round(d / self.h) for *_, d in self.poisson + self.dc]
        )
        D = max_delay + 1
        # Capacities from a generous guess (5 % of the neurons spiking in one step); when
        # not set explicitly they grow on overflow and the chunk is re-run.
        max_spikes = self.max_spikes or max(16, -(-self.n // 20))
        out_deg = max(int(np.diff(c.ptr).max()) if c.n_synapses else 0 for c in csrs)
        capacity = self.synapse_capacity or max(1024, max_spikes * max(out_deg, 1))
        self.n_synapses = len(syn.weight)
        self.connectivity_bytes = sum(c.nbytes for c in csrs)
        # Poisson input: one train per (generator, target) connection.
        p_tgt, p_lam, p_w, p_d = (np.zeros(0, int), np.zeros(0), np.zeros(0), np.zeros(0, int))
        if self.poisson:
            p_tgt = np.concatenate([t for _, t, _, _ in self.poisson])
            p_lam = np.concatenate(
                [np.full(len(t), pr["rate"] * self.h / 1000.0) for pr, t, _, _ in self.poisson]
            )
            p_w = np.concatenate([np.full(len(t), w) for _, t, w, _ in self.poisson])
            p_d = np.concatenate(
                [np.full(len(t), round(d / self.h)) for _, t, _, d in self.poisson]
            )
        dc = np.zeros((len(self.dc), self.n), np.float32)
        dc_window = np.zeros((len(self.dc), 2), np.float64)
        for i, (pr, t, w, d) in enumerate(self.dc):
            dc[i, t] = pr["amplitude"] * w
            dc_window[i] = (pr["start"] + d, pr["stop"] + d)
        self._built = dict(
            csr_ex=DeviceCSR.from_csr(csrs[0]),
            csr_in=DeviceCSR.from_csr(csrs[1]),
            D=D,
            max_spikes=max_spikes,
            capacity=capacity,
            p=(
                jnp.asarray(p_tgt, jnp.int32),
                jnp.asarray(p_lam, jnp.float32),
                jnp.asarray(p_w, jnp.float32),
                jnp.asarray(p_d, jnp.int32),
            ),
            dc=(jnp.asarray(dc), jnp.asarray(dc_window, jnp.float32)),
            props=[pop.model.propagators(pop.params, self.h) for pop in self.populations],
        )
        self.state = (
            [pop.model.init_state(pop.params, len(pop.ids)) for pop in self.populations],
            jnp.zeros((D, self.n), jnp.float32),
            jnp.zeros((D, self.n), jnp.float32),
            jnp.zeros(self.n, jnp.float32),
        )
        self._run = jax.jit(functools.partial(self._chunk, self._built), static_argnums=(1,))

    def _chunk(self, b, state, n_steps, t0):
        pops = self.populations
        key = jax.random.key(self.seed)

        def step(carry, k):
            states, ring_ex, ring_in, i_stim = carry
            t = t0 + k
            slot = t % b["D"]
            in_ex, in_in = ring_ex[slot], ring_in[slot]
            ring_ex, ring_in = ring_ex.at[slot].set(0.0), ring_in.at[slot].set(0.0)
            new_states, spikes = [], []
            for pop, props, s in zip(pops, b["props"], states, strict=True):
                sl = slice(int(pop.ids[0]), int(pop.ids[-1]) + 1)
                s, sp = pop.model.step(props, pop.params, s, in_ex[sl], in_in[sl], i_stim[sl])
                new_states.append(s)
                spikes.append(sp)
            spikes = jnp.concatenate(spikes)
            ring_ex, st_ex = deliver(
                ring_ex, b["csr_ex"], spikes, t, max_spikes=b["max_spikes"], capacity=b["capacity"]
            )
            ring_in, st_in = deliver(
                ring_in, b["csr_in"], spikes, t, max_spikes=b["max_spikes"], capacity=b["capacity"]
            )
            tgt, lam, w, d = b["p"]
            if tgt.size:
                counts = jax.random.poisson(jax.random.fold_in(key, t), lam)
                ring_ex = ring_ex.at[(t + d) % b["D"], tgt].add(w * counts)
            dc, window = b["dc"]
            # NEST: a dc_generator sends in step T if start < (T + 2) h <= stop; the current
            # arrives d steps later and drives V from the step after (the models' i_stim).
            time = (t + 3) * self.h
            active = (window[:, 0] < time) & (time <= window[:, 1])
            i_stim = jnp.sum(jnp.where(active[:, None], dc, 0.0), axis=0)
            need = jnp.stack([st_ex.n_spikes, jnp.maximum(st_ex.n_synapses, st_in.n_synapses)])
            return (new_states, ring_ex, ring_in, i_stim), (spikes > 0, need)

        carry, (spikes, need) = jax.lax.scan(step, state, jnp.arange(n_steps))
        return carry, spikes, need.max(axis=0)

    # --------------------------------------------------------------- simulation
    def simulate(self, t_ms: float) -> None:
        """Advance by ``t_ms`` milliseconds (a whole number of steps)."""
        check_range("t_ms", t_ms, low=0.0)
        steps = round(t_ms / self.h)
        if self._built is None:
            self._build()
        b = self._built
        bar = tqdm(total=steps, desc="simulate (steps)", disable=not self.progress)
        done = 0
        while done < steps:
            n = min(self.chunk, steps - done)
            state, spikes, need = self._run(self.state, n, jnp.int32(self.t_steps))
            need = np.asarray(need)
            overflow = need[0] > b["max_spikes"] or need[1] > b["capacity"]
            if overflow and self.max_spikes is None and self.synapse_capacity is None:
                # Grow the buffers and re-run this chunk from its start (state unchanged).
                b["max_spikes"] = min(self.n, max(b["max_spikes"], int(need[0] * 1.5)))
                b["capacity"] = max(b["capacity"], int(need[1] * 1.5))
                self._run = jax.jit(functools.partial(self._chunk, b), static_argnums=(1,))
                continue
            if overflow:
                raise RuntimeError(
                    f"spike buffer overflow at t = {self.t_steps * self.h:g} ms: needed "
                    f"{need[0]} spiking neurons (capacity max_spikes={b['max_spikes']}) and "
                    f"{need[1]} synapses in one step (capacity synapse_capacity="
                    f"{b['capacity']}); create the Simulator with larger capacities"
                )
            self.state = state
            step_idx, ids = np.nonzero(np.asarray(spikes))
            self._spikes.append((ids, (self.t_steps + step_idx + 1) * self.h))
            self.t_steps += n
            done += n
            bar.update(n)
        bar.close()

    def spikes(self, recorder) -> tuple[np.ndarray, np.ndarray]:
        """``(senders, times)`` of the neurons connected to ``recorder`` (times in ms)."""
        dev = self._device(recorder)
        if dev is None or dev.kind != "spike_recorder":
            raise ValueError("`recorder` must be a spike_recorder from `create`")
        watched = np.array(sorted(self.recorded.get(int(dev.ids[0]), ())), np.int64)
        if not self._spikes:
            return np.zeros(0, np.int64), np.zeros(0)
        senders = np.concatenate([s for s, _ in self._spikes])
        times = np.concatenate([t for _, t in self._spikes])
        keep = np.isin(senders, watched)
        return senders[keep], times[keep]


def _device_params(kind: str, params: dict) -> dict:
    valid = {
        "poisson_generator": {"rate": 0.0},
        "dc_generator": {"amplitude": 0.0, "start": 0.0, "stop": np.inf},
        "spike_recorder": {},
    }[kind]
    for key in params:
        check_one_of(f"{kind} parameter", key, sorted(valid))
    out = {**valid, **params}
    if kind == "poisson_generator":
        check_range("rate", out["rate"], low=0.0)
    return out
