"""Connection rules, built shard-locally from keyed random streams, stored as CSR.

Every random draw of a synapse comes from a key that depends only on ``(seed, projection,
target id, synapse index)`` (for ``fixed_outdegree``: the source id), so each shard builds
just the incoming synapses of the neurons it owns and the network is identical however it
is split. Rules and their parameters follow NEST's ``conn_spec``; weights and delays take a
number, an array or a random parameter (:mod:`snnjax.sim.random`).

Storage (:class:`CSR`): grouped by source, then delay, then target; per synapse one
``uint32`` packing the local target index (the low ``shift = ceil(log2(n_slots))`` bits)
and the delay in steps (the other ``32 - shift`` bits) plus a ``float32`` weight: **8 bytes
per synapse**, plus one ``int64`` row pointer per source. Delays too long for the bits left
(a *wide* CSR, see :func:`csr_format`) go into a separate ``int32`` array: 12 bytes per
synapse. Any delay of NEST's range works: ``[1, 2**31 - 1]`` steps.
"""

import collections
import dataclasses
import functools
import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._errors import check_one_of, check_range
from ._native import _sim_kernels
from ._prng import PRNG
from ._random import _MAX_REDRAWS, Parameter, redraw

RULES = (
    "one_to_one",
    "all_to_all",
    "fixed_indegree",
    "fixed_outdegree",
    "fixed_total_number",
    "pairwise_bernoulli",
)
_RULE_PARAMS = {
    "one_to_one": (),
    "all_to_all": (),
    "fixed_indegree": ("indegree",),
    "fixed_outdegree": ("outdegree",),
    "fixed_total_number": ("N",),
    "pairwise_bernoulli": ("p",),
}
MAX_DELAY_STEPS = (1 << 31) - 1  # int32 steps; packed into the CSR entry where it fits
MAX_LOCAL_TARGETS = 1 << 31
_CHUNK = 1 << 20  # synapses drawn per jitted call
_IN_FLIGHT = 4  # jitted draws dispatched before the first of them is read (_collect)


@dataclasses.dataclass(frozen=True)
class ConnSpec:
    """A NEST ``conn_spec``: the rule, its parameter and the autapse/multapse flags."""

    rule: str
    indegree: int | None = None
    outdegree: int | None = None
    N: int | None = None
    p: float | None = None
    allow_autapses: bool = True
    allow_multapses: bool = True

    def __post_init__(self):
        check_one_of("conn_spec rule", self.rule, RULES)
        for name in ("indegree", "outdegree", "N", "p"):
            needed = name in _RULE_PARAMS[self.rule]
            value = getattr(self, name)
            if needed and value is None:
                raise ValueError(f"rule {self.rule!r} needs `{name}` in conn_spec")
            if not needed and value is not None:
                raise ValueError(f"`{name}` does not apply to rule {self.rule!r}")
        for name in ("indegree", "outdegree", "N"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int | np.integer) or value < 0):
                raise ValueError(f"`{name}` must be an int >= 0; got {value!r}")
        if self.p is not None:
            check_range("p", self.p, low=0.0, high=1.0)

    @classmethod
    def from_nest(cls, spec: Any) -> "ConnSpec":
        """From PyNEST's ``conn_spec``: a rule name or a dict with ``'rule'``."""
        if spec is None:
            return cls("all_to_all")
        if isinstance(spec, str):
            return cls(spec)
        if not isinstance(spec, dict) or "rule" not in spec:
            raise ValueError(f"`conn_spec` must be a rule name or a dict with 'rule'; got {spec!r}")
        valid = {f.name for f in dataclasses.fields(cls)}
        for key in spec:
            check_one_of("conn_spec key", key, sorted(valid))
        return cls(**spec)


@dataclasses.dataclass
class Synapses:
    """Synapses onto a shard's targets (global ids), in canonical order."""

    source: np.ndarray  # int64 global ids
    target: np.ndarray  # int64 global ids
    weight: np.ndarray  # float32
    delay: np.ndarray  # int32 steps
    extra: dict | None = None  # other per-synapse values drawn (name -> float64 array)


@functools.lru_cache(maxsize=256)  # a projection built in parts asks for the same keys
def _keys(seed: int, projection: int, domain: int):
    """The base key of one projection's draws of one kind (``PRNG``: JAX's threefry bits)."""
    base = jax.random.key(seed, impl=PRNG)
    return jax.random.fold_in(jax.random.fold_in(base, projection), domain)


def _synapse_keys(base, owner, index):
    """One key per synapse from ``(owner id, index within owner)``."""
    return jax.vmap(lambda o, i: jax.random.fold_in(jax.random.fold_in(base, o), i))(owner, index)


def bucket(n: int) -> int:
    """Padded length for ``n`` (``2**14``, ``2**17`` or ``2**20``): few shapes, few compiles."""
    return next(b for b in (1 << 14, 1 << 17, _CHUNK) if n <= b) if n <= _CHUNK else n


def _collect(calls, n: int):
    """Gather jitted draws into one array of ``n`` rows: ``calls`` yields ``(start, length,
    result)`` with ``result`` dispatched but not read, and up to :data:`_IN_FLIGHT` of them run
    at once (XLA:CPU runs each on its own thread; reading each at once used one core)."""
    out, pending = None, collections.deque()

    def take():
        nonlocal out
        start, m, result = pending.popleft()
        y = np.asarray(result)[:m]
        if out is None:
            out = np.empty((n, *y.shape[1:]), y.dtype)
        out[start : start + m] = y

    for call in calls:
        pending.append(call)
        if len(pending) >= _IN_FLIGHT:
            take()
    while pending:
        take()
    return out


def _draw_in_chunks(fn, *arrays):
    """Apply a jitted per-synapse function chunk by chunk (bounded device memory)."""
    n = len(arrays[0])
    if n == 0:
        return np.zeros(0)

    def calls():
        for i in range(0, n, _CHUNK):
            part = [a[i : i + _CHUNK] for a in arrays]
            m = len(part[0])
            padded = [a if len(a) == bucket(m) else np.pad(a, (0, bucket(m) - m)) for a in part]
            yield i, m, fn(*padded)

    return _collect(calls(), n)


@jax.jit
def _uniform_index(base, owner, index, n, self_pos):
    """A uniform index in ``[0, n)`` per synapse; ``self_pos >= 0`` is excluded."""
    keys = _synapse_keys(base, owner, index)
    has_self = self_pos >= 0
    hi = jnp.where(has_self, n - 1, n)
    r = jax.vmap(lambda k, h: jax.random.randint(k, (), 0, h))(keys, hi)
    return jnp.where(has_self & (r >= self_pos), r + 1, r)


def _host_native(native: bool | None) -> bool:
    """Whether the construction uses its native kernels: ``native``, or where built if
    ``None`` (``ValueError`` for ``True`` where they were not built)."""
    if native and _sim_kernels is None:
        raise ValueError("`native`=True, but the native kernels are not built")
    return _sim_kernels is not None if native is None else bool(native)


def _random_sources(seed, projection, owner, index, n_src, self_pos, native=None):
    """A uniform source index in ``[0, n_src)`` per synapse; ``self_pos >= 0`` excludes it.

    ``native`` (``None``: where built): the native kernel (``csrc/csr_build.cc``,
    ``uniform_index``; the same integers as :func:`_uniform_index`, ~3x faster)."""
    base = _keys(seed, projection, 0)
    if _host_native(native) and (native or n_src < 2**31):
        out = np.empty(len(owner), np.int32)
        key = np.asarray(jax.random.key_data(base), np.uint32)
        as64 = [np.ascontiguousarray(a, np.int64) for a in (owner, index, self_pos)]
        _sim_kernels.uniform_index(key, *as64, int(n_src), out, _threads())
        return out
    return _draw_in_chunks(
        lambda o, i, s: _uniform_index(base, o, i, n_src, s), owner, index, self_pos
    )


@jax.jit
def _sample_per_synapse(spec, base, owner, index):
    keys = _synapse_keys(base, owner, index)
    return jax.vmap(lambda k: spec.sample(k, ()))(keys)


@jax.jit
def _sample_attempt(dist, base, owner, index, attempt):
    """Attempt ``attempt`` of :class:`~snnjax.sim.math.redraw`: ``dist`` from each synapse's
    key folded with the attempt number, as ``redraw.sample`` draws it."""
    keys = _synapse_keys(base, owner, index)
    return jax.vmap(lambda k: dist.sample(jax.random.fold_in(k, attempt), ()))(keys)


@jax.jit
def _sample_keys(spec, data):
    """``spec`` per key, the keys given as their ``uint32[m, 2]`` data (:func:`_native_keys`):
    the values of :func:`_sample_per_synapse` / :func:`_sample_attempt` (tests compare)."""
    keys = jax.random.wrap_key_data(data, impl=PRNG)
    return jax.vmap(lambda k: spec.sample(k, ()))(keys)


def _native_keys(base, owner, index, attempt: int = -1) -> np.ndarray:
    """The data of :func:`_synapse_keys` (folded with ``attempt`` if it is ``>= 0``),
    hashed by the native kernel (``csrc/source_draws.cc``, ``synapse_keys``): XLA's
    threefry of per-element keys is the costlier part of a value's draw."""
    dtype = np.int32 if owner.dtype.itemsize <= 4 and index.dtype.itemsize <= 4 else np.int64
    out = np.empty((len(owner), 2), np.uint32)
    key = np.asarray(jax.random.key_data(base), np.uint32)
    _sim_kernels.synapse_keys(key, np.ascontiguousarray(owner, dtype),
                              np.ascontiguousarray(index, dtype), attempt, out.reshape(-1),
                              _threads())  # fmt: skip
    return out


def _per_synapse(dist, base, owner, index, attempt: int = -1, native=None) -> np.ndarray:
    """``dist`` drawn from each synapse's key (folded with ``attempt`` if ``>= 0``), a
    chunk at a time; ``native`` (``None``: where built): the keys from the native kernel."""
    use = _host_native(native)

    def draw(o, i):
        if use:
            return _sample_keys(dist, _native_keys(base, o, i, attempt))
        if attempt >= 0:
            return _sample_attempt(dist, base, o, i, attempt)
        return _sample_per_synapse(dist, base, o, i)

    return _draw_in_chunks(draw, owner, index)


def _redraw(spec: redraw, base, owner, index, native=None) -> np.ndarray:
    """``redraw.sample`` per synapse, with each attempt drawn only for the synapses still
    outside the bounds (the vectorised while loop draws every synapse until the last one
    fits): the same values."""
    lo, hi = np.float32(spec.min), np.float32(spec.max)
    values, todo = np.zeros(0, np.float32), None  # None: every synapse (no gathered copies)
    for attempt in range(_MAX_REDRAWS):
        o, i = (owner, index) if todo is None else (owner[todo], index[todo])
        if not len(o):
            return values
        fresh = np.asarray(_per_synapse(spec.dist, base, o, i, attempt, native), np.float32)
        outside = ~((fresh >= lo) & (fresh <= hi))
        if todo is None:
            values, todo = fresh, np.flatnonzero(outside)
        else:
            values[todo] = fresh
            todo = todo[outside]
    values[todo] = np.nan  # still outside after every attempt: caught by the builder's check
    return values


def _values(spec, seed, projection, domain, owner, index, native=None):
    """Per-synapse weight or delay values (domain 1: weight, 2: delay); ``native`` as
    :func:`_per_synapse`'s (the same values)."""
    if not isinstance(spec, Parameter):
        return None
    base = _keys(seed, projection, domain)
    if isinstance(spec, redraw):
        return _redraw(spec, base, owner, index, native)
    return _per_synapse(spec, base, owner, index, native=native)


def check_array(name: str, value, conn: "ConnSpec", n_src: int, n_tgt: int) -> None:
    """``ValueError`` unless a per-synapse ``weight``/``delay`` array has the shape NEST
    requires for ``conn``: ``one_to_one`` ``(n,)``, ``all_to_all`` ``(len(post), len(pre))``,
    ``fixed_indegree`` ``(len(post), indegree)``; other rules take no arrays."""
    shape = {"one_to_one": (n_tgt,), "all_to_all": (n_tgt, n_src),
             "fixed_indegree": (n_tgt, conn.indegree)}.get(conn.rule)  # fmt: skip
    if shape is None:
        raise ValueError(
            f"`{name}` of rule {conn.rule!r} must be a number or nest.random.*; "
            "arrays are for one_to_one, all_to_all and fixed_indegree"
        )
    if np.shape(value) != shape:
        raise ValueError(f"`{name}` as an array must have shape {shape} for rule "
                         f"{conn.rule!r} (NEST's); got {np.shape(value)}")  # fmt: skip


def _explicit(name, value, conn, sources, targets, owner, index, src_idx):
    """The values of a per-synapse array (:func:`check_array`) for the synapses drawn here:
    indexed by target position (and source or in-degree slot), so any shard picks its own."""
    arr = np.asarray(value)
    if arr.ndim == 0:
        return None
    check_array(name, arr, conn, len(sources), len(targets))
    pos = _position(targets, owner)
    if conn.rule == "one_to_one":
        return arr[pos]
    return arr[pos, src_idx if conn.rule == "all_to_all" else index]


def _position(ids: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Index of each value in ``ids`` (``-1`` where absent)."""
    if len(ids) == 0:  # e.g. a shard that owns none of a projection's targets
        return np.full(np.shape(values), -1, np.int64)
    order = np.argsort(ids, kind="stable")
    pos = np.searchsorted(ids, values, sorter=order)
    pos = np.clip(pos, 0, len(ids) - 1)
    found = ids[order[pos]] == values
    return np.where(found, order[pos], -1)


def _structure(seed, projection, sources, targets, local_targets, conn, with_targets=True):
    """``(src_idx, owner, index)`` of :func:`connect`'s synapses: each one's position in
    ``sources``, its target (global id) and its index among the target's synapses
    (``with_targets=False``: ``owner`` and ``index`` may be ``None``)."""
    local = np.asarray(local_targets, np.int64)
    n_src, n_tgt = len(sources), len(targets)
    if conn.rule == "fixed_outdegree":
        src_idx, owner, index = _outdegree(seed, projection, sources, targets, local, conn)
    elif conn.rule == "pairwise_bernoulli":
        src_idx, owner, index = _bernoulli(seed, projection, sources, local, conn)
    else:
        counts = _counts(seed, projection, conn, n_src, n_tgt, sources, targets, local)
        # each target's own position among the sources (-1: not one, or autapses allowed)
        self_t = _position(sources, local) if not conn.allow_autapses else np.full_like(local, -1)
        drawn = conn.rule == "fixed_total_number" or (
            conn.rule == "fixed_indegree" and conn.allow_multapses
        )
        src_idx = None
        if drawn and _sim_kernels is not None and n_src < 2**31:
            src_idx = np.empty(int(counts.sum()), np.int32)  # from the runs: no per-synapse
            key = np.asarray(jax.random.key_data(_keys(seed, projection, 0)), np.uint32)
            runs = (np.ascontiguousarray(a, np.int64) for a in (local, counts, self_t))
            _sim_kernels.uniform_index_runs(key, *runs, int(n_src), src_idx, _threads())
            if not with_targets:
                return src_idx, None, None
        owner, index = _expand_runs(local, counts)
        if src_idx is not None:
            return src_idx, owner, index
        self_pos = np.repeat(self_t, counts)
        if conn.rule == "one_to_one":
            src_idx = _position(targets, owner)
        elif conn.rule == "all_to_all":
            src_idx = index + ((self_pos >= 0) & (index >= self_pos))
        elif conn.rule == "fixed_indegree" and not conn.allow_multapses:
            src_idx = _distinct_sources(seed, projection, local, conn.indegree, n_src, sources)
        else:
            src_idx = _random_sources(seed, projection, owner, index, n_src, self_pos)
    return src_idx, owner, index


def _expand_runs(owner: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``counts[k]`` synapses of ``owner[k]`` each: ``(owner, index within owner)`` per
    synapse (int32 where every id and count fits: half the memory traffic)."""
    total = int(counts.sum())
    dtype = np.int32 if total < 2**31 and (len(owner) == 0 or owner.max() < 2**31) else np.int64
    index = np.arange(total, dtype=dtype)
    index -= np.repeat((np.cumsum(counts) - counts).astype(dtype), counts)
    return np.repeat(owner.astype(dtype), counts), index


def mean_indegree(conn: ConnSpec, n_src: int, n_tgt: int) -> float | None:
    """The mean number of synapses per target under ``conn``; ``None`` for
    ``fixed_outdegree`` (drawn per source: not to be split by target)."""
    return {
        "one_to_one": 1.0,
        "all_to_all": float(n_src),
        "fixed_indegree": float(conn.indegree or 0),
        "fixed_total_number": (conn.N or 0) / max(n_tgt, 1),
        "pairwise_bernoulli": (conn.p or 0.0) * n_src,
    }.get(conn.rule)


def source_counts(seed, projection, sources, targets, local_targets, conn, n: int) -> np.ndarray:
    """``int64[n]``: how many of :func:`connect`'s synapses each global id (``< n``) sends,
    without drawing their weights and delays (the rows' lengths for :func:`build_csr`'s
    ``counts``); counted per position in ``sources``, without a per-synapse id array."""
    sources = np.asarray(sources, np.int64)
    targets = np.asarray(targets, np.int64)
    src_idx, _, _ = _structure(seed, projection, sources, targets, local_targets, conn, False)
    counts = np.zeros(n, np.int64)
    np.add.at(counts, sources, np.bincount(src_idx, minlength=len(sources)))
    return counts


def connect(
    seed: int,
    projection: int,
    sources: np.ndarray,
    targets: np.ndarray,
    local_targets: np.ndarray,
    conn: ConnSpec,
    weight: Any,
    delay: Any,
    resolution: float,
    extra: dict | None = None,
) -> Synapses:
    """The synapses of one projection onto ``local_targets`` (a subset of ``targets``).

    Args:
        seed: the kernel's ``rng_seed``.
        projection: this projection's index (its ``Connect`` call number).
        sources, targets: global ids of the projection's pre- and postsynaptic neurons.
        local_targets: the global ids of ``targets`` owned by this shard.
        conn: the rule.
        weight, delay: a number, a per-synapse array (the shape of :func:`check_array`) or
            a random parameter; delays in ms, rounded to steps of ``resolution`` as NEST does.
        resolution: the time step ``h`` in ms.
        extra: other per-synapse random parameters to draw, ``{name: Parameter}`` (e.g.
            STDP rule parameters); each from its own keys (domains 3, 4, ... in order).

    Raises:
        ValueError: impossible rule parameters or delays outside ``[h, (2**31 - 1) h]``.
    """
    sources, targets = np.asarray(sources, np.int64), np.asarray(targets, np.int64)
    src_idx, owner, index = _structure(seed, projection, sources, targets, local_targets, conn)
    w, d = (
        _values(v, seed, projection, k, owner, index)
        if isinstance(v, Parameter)
        else _explicit(name, v, conn, sources, targets, owner, index, src_idx)
        for k, name, v in ((1, "weight", weight), (2, "delay", delay))
    )
    w = np.full(owner.shape, np.asarray(weight, np.float32)) if w is None else w
    d = np.broadcast_to(np.asarray(delay, np.float64), owner.shape) if d is None else d
    if not np.isfinite(w).all():
        raise ValueError("`weight` draws could not be kept within their redraw bounds")
    steps = delay_steps(d, resolution)
    drawn = {
        name: np.asarray(_values(spec, seed, projection, 3 + i, owner, index), np.float64)
        for i, (name, spec) in enumerate((extra or {}).items())
    }
    return Synapses(
        sources[src_idx],
        owner,
        np.asarray(w, np.float32),
        steps,
        drawn or None,
    )


def delay_steps(delay_ms, h: float) -> np.ndarray:
    """Delays in ms to steps as NEST rounds them, checked to lie in ``[1, 2**31 - 1]`` steps.

    NEST's ``ld_round(d * steps/ms)`` in float64, a chunk at a time (no float64 copies of
    every delay at once)."""
    delay_ms = np.asarray(delay_ms)
    flat = delay_ms.reshape(-1)
    out = np.empty(flat.shape, np.int32)
    lo, hi, scale = np.inf, -np.inf, 1.0 / h
    for i in range(0, len(flat), _CHUNK):
        steps = np.multiply(flat[i : i + _CHUNK], scale, dtype=np.float64)
        steps += 0.5
        np.floor(steps, out=steps)
        lo, hi = np.minimum(lo, steps.min()), np.maximum(hi, steps.max())  # NaN, inf show
        if np.isfinite(lo) and np.isfinite(hi) and lo >= 1 and hi <= MAX_DELAY_STEPS:
            out[i : i + _CHUNK] = steps
    if not out.size:
        return out.reshape(delay_ms.shape)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ValueError(
            "`delay` must be finite (random delays: their redraws must stay within the bounds)"
        )
    if lo < 1 or hi > MAX_DELAY_STEPS:
        raise ValueError(
            f"`delay` must lie in [resolution, (2**31 - 1) x resolution] = [{h:g}, "
            f"{MAX_DELAY_STEPS * h:g}] ms; got values from {np.min(delay_ms):g} to "
            f"{np.max(delay_ms):g} ms"
        )
    return out.reshape(delay_ms.shape)


def _counts(seed, projection, conn, n_src, n_tgt, sources, targets, local):
    """Incoming synapses per local target for the count-based rules."""
    is_source = _position(sources, local) >= 0
    if conn.rule == "one_to_one":
        if n_src != n_tgt:
            raise ValueError(f"one_to_one needs as many sources as targets; got {n_src}, {n_tgt}")
        pos = _position(targets, local)
        return np.where(conn.allow_autapses | (sources[pos] != local), 1, 0)
    if conn.rule == "all_to_all":
        return np.where(is_source & ~conn.allow_autapses, n_src - 1, n_src)
    if conn.rule == "fixed_indegree":
        k = conn.indegree
        available = n_src - (0 if conn.allow_autapses else 1)
        if (k > 0 and available <= 0) or (not conn.allow_multapses and k > available):
            raise ValueError(
                f"`indegree`={k} is impossible with {n_src} sources (autapses="
                f"{conn.allow_autapses}, multapses={conn.allow_multapses})"
            )
        return np.full(len(local), k, np.int64)
    # fixed_total_number: one global draw of every synapse's target (keyed by projection
    # only), the same on every shard; then each target's sources from its own stream.
    if not conn.allow_multapses:
        raise ValueError("fixed_total_number supports only allow_multapses=True")
    return _total_number_counts(seed, projection, n_tgt, conn.N)[_position(targets, local)]


@functools.lru_cache(maxsize=64)  # a build draws each projection's structure twice
def _total_number_counts(seed: int, projection: int, n_tgt: int, n: int) -> np.ndarray:
    """fixed_total_number's synapses per target: ``n`` targets drawn by NumPy's generator
    seeded by (seed, projection) (no compile per distinct ``n``); read-only. The builder
    clears the cache after each shard (:func:`clear_caches`)."""
    tgt_of = np.random.default_rng([seed, projection, 3]).integers(0, n_tgt, n)
    per_target = np.bincount(tgt_of, minlength=n_tgt)
    per_target.flags.writeable = False
    return per_target


def clear_caches() -> None:
    """Forget the per-build draws kept for :func:`source_counts` then :func:`connect`."""
    _total_number_counts.cache_clear()
    _keys.cache_clear()


@functools.partial(jax.jit, static_argnames=("n_src", "k"))
def _distinct_rows(base, t, self_pos, *, n_src: int, k: int):
    def draw(t, self_pos):
        order = jax.random.permutation(jax.random.fold_in(base, t), n_src)
        order = order[jnp.argsort(order == self_pos, stable=True)]  # self (if any) last
        return order[:k]

    return jax.vmap(draw)(t, self_pos)


def _distinct_sources(seed, projection, local, k, n_src, sources):
    """``k`` distinct sources per target (no multapses): a keyed permutation per target."""
    base = _keys(seed, projection, 4)
    excl = _position(sources, local)
    rows = _per_target_rows(
        lambda t, e: _distinct_rows(base, t, e, n_src=int(n_src), k=int(k)), local, excl
    )
    return rows.reshape(-1)


def _per_target_rows(fn, local, excl, rows_per_call: int = 1024):
    """``fn`` (batched over targets) applied to chunks of targets, rows stacked; chunks are
    padded to a power of two (at most ``rows_per_call``): few shapes, one compile each, shared
    by every ``Connect`` call with the same sizes."""
    if len(local) == 0:
        return np.zeros((0, 0), np.int64)

    def calls():
        for i in range(0, len(local), rows_per_call):
            t, e = local[i : i + rows_per_call], excl[i : i + rows_per_call]
            pad = min(rows_per_call, 1 << max(4, (len(t) - 1).bit_length())) - len(t)
            t_pad = np.pad(t, (0, pad)).astype(np.int32)
            yield i, len(t), fn(t_pad, np.pad(e, (0, pad), constant_values=-1))

    return _collect(calls(), len(local))


@functools.partial(jax.jit, static_argnames=("n_src", "allow_autapses"))
def _bernoulli_rows(base, t, self_pos, p, *, n_src: int, allow_autapses: bool):
    def draw(t, self_pos):
        u = jax.random.uniform(jax.random.fold_in(base, t), (n_src,))
        return (u < p) & ((jnp.arange(n_src) != self_pos) | allow_autapses)

    return jax.vmap(draw)(t, self_pos)


def _bernoulli(seed, projection, sources, local, conn):
    """Each (source, target) pair independently with probability ``p``."""
    base = _keys(seed, projection, 5)
    n_src = len(sources)
    excl = _position(sources, local)
    hits = _per_target_rows(
        lambda t, e: _bernoulli_rows(base, t, e, conn.p, n_src=n_src,
                                     allow_autapses=bool(conn.allow_autapses)),
        local, excl,
    ).reshape(len(local), n_src)  # fmt: skip
    row, src_idx = np.nonzero(hits)  # row-major: targets in order, sources ascending
    owner = local[row]
    counts = np.bincount(_position(local, owner), minlength=len(local))
    index = np.arange(len(owner)) - np.repeat(np.cumsum(counts) - counts, counts)
    return src_idx, owner, index


def _outdegree(seed, projection, sources, targets, local, conn):
    """``outdegree`` random targets per source, drawn from the source's stream; every
    shard draws them all and keeps those onto its own targets."""
    n_src, n_tgt, k = len(sources), len(targets), conn.outdegree
    owner_src = np.repeat(np.arange(n_src), k)
    j = np.tile(np.arange(k), n_src)
    self_pos = _position(targets, sources[owner_src]) if not conn.allow_autapses else None
    if self_pos is None:
        self_pos = np.full(len(owner_src), -1)
    if not conn.allow_multapses:
        raise ValueError("fixed_outdegree supports only allow_multapses=True")
    tgt_idx = _random_sources(seed, projection, sources[owner_src], j, n_tgt, self_pos)
    tgt = targets[tgt_idx.astype(np.int64)]
    keep = _position(local, tgt) >= 0
    src_idx, tgt = owner_src[keep], tgt[keep]
    # Canonical order per target: by (source, draw index); synapse index within target.
    order = np.lexsort((j[keep], src_idx, _position(local, tgt)))
    src_idx, tgt = src_idx[order], tgt[order]
    counts = np.bincount(_position(local, tgt), minlength=len(local))
    index = np.arange(len(tgt)) - np.repeat(np.cumsum(counts) - counts, counts)
    return src_idx, tgt, index


def csr_format(n_slots: int, max_delay: int) -> tuple[int, bool]:
    """How a CSR packs its synapses: ``(shift, wide)``.

    The local target index takes the low ``shift = max(1, ceil(log2(n_slots)))`` bits of the
    ``uint32`` entry and the delay the ``32 - shift`` bits above; a CSR is *wide* (delays in
    a separate ``int32`` array, 12 instead of 8 bytes per synapse) when ``max_delay`` does
    not fit there. Shards stacked on one mesh may differ in both (see
    :class:`~snnjax.sim.DeviceCSR`).

    Args:
        n_slots: local target indices, ``[0, n_slots)``.
        max_delay: the largest delay in steps.

    Examples:
        >>> csr_format(1000, 255)
        (10, False)
        >>> csr_format(1 << 20, 5000)
        (20, True)
    """
    if not 0 <= n_slots <= MAX_LOCAL_TARGETS:
        raise ValueError(f"`n_slots` must lie in [0, {MAX_LOCAL_TARGETS}]; got {n_slots}")
    shift = max(1, (int(n_slots) - 1).bit_length())
    return shift, int(max_delay) >= 1 << (32 - shift)


@dataclasses.dataclass
class CSR:
    """Outgoing synapses of every source onto one shard's neurons.

    Each row is sorted by delay, then local target (:func:`build_csr`'s order; the native
    delivery reads a delay range of a row as one contiguous part of it).

    Attributes:
        ptr: ``int64[n_sources + 1]``: synapses of source ``s`` are ``ptr[s]:ptr[s + 1]``.
        packed: ``uint32[nnz]``: local target index (low ``shift`` bits) | delay steps <<
            ``shift``; in a wide CSR the target index only.
        weight: ``float32[nnz]``.
        shift: bits of the local target index (see :func:`csr_format`).
        wide_delay: ``int32[nnz]``: the delays of a wide CSR; ``None`` if packed.
    """

    ptr: np.ndarray
    packed: np.ndarray
    weight: np.ndarray
    shift: int = 24
    wide_delay: np.ndarray | None = None

    @property
    def n_synapses(self) -> int:
        return len(self.weight)

    @property
    def wide(self) -> bool:
        return self.wide_delay is not None

    @property
    def nbytes(self) -> int:
        extra = self.wide_delay.nbytes if self.wide else 0
        return self.ptr.nbytes + self.packed.nbytes + self.weight.nbytes + extra

    @property
    def target(self) -> np.ndarray:
        return (self.packed & np.uint32((1 << self.shift) - 1)).astype(np.int64)

    @property
    def delay(self) -> np.ndarray:
        if self.wide:
            return self.wide_delay.astype(np.int32)
        return (self.packed >> np.uint32(self.shift)).astype(np.int32)

    def delay_range(self) -> tuple[int, int]:
        """``(min, max)`` delay in steps, a chunk at a time (no array of all delays)."""
        if self.wide:
            return int(self.wide_delay.min()), int(self.wide_delay.max())
        lo, hi = MAX_DELAY_STEPS, 0
        for i in range(0, self.n_synapses, _CHUNK):
            d = self.packed[i : i + _CHUNK] >> np.uint32(self.shift)
            lo, hi = min(lo, int(d.min())), max(hi, int(d.max()))
        return lo, hi


def to_csr(
    n_sources: int, syn: Synapses, local_ids: np.ndarray, *, wide: bool | None = None
) -> CSR:
    """Group ``syn`` by source, then delay, then target (the canonical delivery order);
    local target index = position in ``local_ids``."""
    local_ids = np.asarray(local_ids, np.int64)
    if len(local_ids) > MAX_LOCAL_TARGETS:
        raise ValueError(f"a shard may own at most {MAX_LOCAL_TARGETS} neurons")
    slot_of = np.full(int(max(local_ids.max(initial=-1), syn.target.max(initial=-1))) + 1, -1)
    slot_of[local_ids] = np.arange(len(local_ids))
    return build_csr(n_sources, [syn], slot_of, n_slots=len(local_ids), wide=wide)


def build_csr(
    n_sources: int,
    parts,
    slot_of: np.ndarray,
    *,
    n_slots: int | None = None,
    wide: bool | None = None,
    native: bool | None = None,
    counts: np.ndarray | None = None,
) -> CSR:
    """A :class:`CSR` from synapses given part by part (e.g. one part per ``Connect``).

    Memory-lean: each part is packed at once into a sort key ``source << b | delay << shift
    | local target`` (``uint64``, ``b = 64 - ceil(log2(n_sources))``) and a ``float32``
    weight (12 bytes per synapse), and the parts are sorted once, stably (synapses with
    equal keys keep their order, part by part). Natively (``csrc/csr_build.cc``): a
    multi-threaded counting sort by source into the packed CSR arrays, each row then
    sorted by its low bits — linear time, about 20 bytes per synapse at the peak; else
    NumPy's stable argsort of the concatenated keys (about 40 bytes), the same order.
    Should a delay not fit the key's bits (very many sources and targets and very long
    delays), the sources go into a second key and the sort is a stable
    :func:`numpy.lexsort`: same order again.

    With ``counts`` (the synapses of each source, known beforehand: e.g. from
    :func:`source_counts`) and the native kernels, each part goes straight into its rows
    as it comes (``csr_place``, a chunk at a time), and the rows are sorted at the end: the
    same CSR with 8 bytes per synapse and one part's arrays at the peak. Delays too long to
    pack (a wide CSR) fall back to the way above, with the parts drawn again.

    Args:
        n_sources: number of possible sources (the CSR's rows).
        parts: an iterable of :class:`Synapses`; with ``counts``, a function returning one
            (called again for a wide CSR).
        slot_of: ``int[N]``: local index of each target (``-1``: not on this shard).
        n_slots: local target indices, ``[0, n_slots)``; sets the packing's ``shift`` (see
            :func:`csr_format`). Default: ``slot_of.max() + 1``.
        wide: ``True``: delays in a separate array, whatever they are; ``False``: packed (an
            error if they do not fit); ``None``: packed where they fit.
        native: sort with the native kernel (``None``: where it is built).
        counts: ``int[n_sources]``: synapses per source in all the parts together.

    Examples:
        >>> syn = Synapses(np.array([1, 0]), np.array([5, 6]), np.ones(2, np.float32),
        ...                np.array([3, 4000], np.int32))
        >>> slot_of = np.array([-1, -1, -1, -1, -1, 0, 1])
        >>> csr = build_csr(2, [syn], slot_of, n_slots=4)
        >>> csr.shift, csr.wide, csr.delay.tolist(), csr.target.tolist()
        (2, False, [4000, 3], [1, 0])
    """
    slot_of = np.asarray(slot_of, np.int64)
    used = int(slot_of.max(initial=-1)) + 1
    if n_slots is None:
        n_slots = used
    elif n_slots < used:
        raise ValueError(f"`n_slots` must be at least slot_of.max() + 1 = {used}; got {n_slots}")
    if n_slots > MAX_LOCAL_TARGETS:
        raise ValueError(f"a shard may own at most {MAX_LOCAL_TARGETS} neurons")
    shift, _ = csr_format(n_slots, 0)
    if counts is not None:
        if not callable(parts):
            raise ValueError("with `counts`, `parts` must be a function returning the parts")
        if _host_native(native) and wide is not True:
            csr = _place_native(n_sources, parts(), slot_of, shift, counts)
            if csr is not None:
                return csr
        parts = parts()  # (again, for a wide CSR: its error if `wide` is False)
    low_bits = 64 - max(1, (int(n_sources) - 1).bit_length())  # key bits below the source
    key_max_delay = (1 << max(0, low_bits - shift)) - 1
    split = False  # sources in `sources`, (delay, slot) in `keys`
    keys, sources, weights = [], [], []
    max_delay = 0
    for syn in parts:
        part_max = _check_part(syn, n_sources)
        if not split and part_max > key_max_delay:
            split = True
            low = np.uint64((1 << low_bits) - 1)
            sources = [k >> np.uint64(low_bits) for k in keys]
            keys = [k & low for k in keys]
        keys.append(_pack_keys(syn, slot_of, shift, None if split else low_bits))
        if split:
            sources.append(np.asarray(syn.source).astype(np.uint64))
        weights.append(np.asarray(syn.weight, np.float32))
        max_delay = max(max_delay, part_max)
        del syn
    fits = not csr_format(n_slots, max_delay)[1]
    if wide is False and not fits:
        raise ValueError(
            f"`wide`=False, but delays up to {max_delay} steps do not fit the {32 - shift} "
            f"bits that {n_slots} local targets leave; use wide=None or True"
        )
    wide = bool(wide or not fits)
    if not split and n_sources and _host_native(native):
        return _bucket_native(n_sources, keys, weights, low_bits, shift, wide)
    key = np.concatenate(keys) if keys else np.zeros(0, np.uint64)
    del keys
    if split:
        source = np.concatenate(sources)
        del sources
        order = np.lexsort((key, source))  # stable
        source = source[order]
    else:
        order = np.argsort(key, kind="stable")
    key = key[order]
    weight = np.concatenate(weights)[order] if weights else np.zeros(0, np.float32)
    del weights, order
    if not split:
        source = key >> np.uint64(low_bits)
        key &= np.uint64((1 << low_bits) - 1)
    counts = np.bincount(source.astype(np.int64), minlength=n_sources)
    del source
    ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return _csr(ptr, key, weight, shift, wide)


def _pack_keys(syn: Synapses, slot_of, shift: int, low_bits: int | None) -> np.ndarray:
    """Sort keys ``source << low_bits | delay << shift | local target`` of one part (without
    the source if ``low_bits`` is None), a chunk at a time (temporaries stay small)."""
    key = np.empty(len(syn.target), np.uint64)
    for i in range(0, len(key), _CHUNK):
        _pack_chunk(syn, slot_of, shift, slice(i, i + _CHUNK), key[i : i + _CHUNK], low_bits)
    return key


def _pack_chunk(syn: Synapses, slot_of, shift: int, part: slice, out: np.ndarray,
                low_bits: int | None = None) -> np.ndarray:  # fmt: skip
    """:func:`_pack_keys` of the synapses ``part`` into ``out`` (``uint64``, or ``uint32``
    without the source when ``delay << shift | slot`` fits 32 bits)."""
    slot = slot_of[syn.target[part]]
    if np.any(slot < 0):
        raise ValueError("synapses onto neurons this shard does not own")
    np.left_shift(np.asarray(syn.delay[part]).astype(out.dtype), out.dtype.type(shift), out=out)
    out |= slot.astype(out.dtype)
    if low_bits is not None:
        out |= np.asarray(syn.source[part]).astype(np.uint64) << np.uint64(low_bits)
    return out


def _csr(ptr, low, weight, shift, wide) -> CSR:
    """The CSR from sorted low keys ``delay << shift | slot`` (uint32 already when packed)."""
    if wide:
        delay = (low >> np.uint64(shift)).astype(np.int32)
        packed = (low & np.uint64((1 << shift) - 1)).astype(np.uint32)
        return CSR(ptr, packed, weight, shift, delay)
    return CSR(ptr, low.astype(np.uint32, copy=False), weight, shift)


def _place_native(n_sources, parts, slot_of, shift, counts) -> CSR | None:
    """:func:`build_csr` with the rows' lengths known: each part placed into its rows as it
    comes (``csr_place``), the rows sorted at the end; ``None`` if a delay does not pack."""
    counts = np.asarray(counts, np.int64)
    if counts.shape != (n_sources,):
        raise ValueError(f"`counts` must have shape ({n_sources},); got {counts.shape}")
    ptr = np.zeros(n_sources + 1, np.int64)
    np.cumsum(counts, out=ptr[1:])
    low, weight = _aligned_empty(int(ptr[-1]), np.uint32), _aligned_empty(int(ptr[-1]), np.float32)
    cursor, threads = ptr[:-1].copy(), _threads()
    for syn in parts:
        if _check_part(syn, n_sources) >= 1 << (32 - shift):  # csr_format's wide
            return None
        source, w = np.asarray(syn.source, np.int64), np.asarray(syn.weight, np.float32)
        key = np.empty(min(len(w), _CHUNK), np.uint32)  # delay << shift | slot: fits 32 bits
        for i in range(0, len(w), _CHUNK):
            part = slice(i, i + _CHUNK)
            k = _pack_chunk(syn, slot_of, shift, part, key[: len(w[part])])
            _sim_kernels.csr_place(source[part], k, w[part], ptr, cursor, low, weight, threads)
        del syn, key, source, w
    if not np.array_equal(cursor, ptr[1:]):
        raise ValueError("`counts` do not match the synapses of the parts")
    _sim_kernels.csr_sort_rows(ptr, low, weight, threads)
    return CSR(ptr, low, weight, shift)


def _threads() -> int:
    """Threads of the native construction kernels: the cores this process may use (<= 8)."""
    cores = (
        os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 1)
    )
    return min(8, len(cores))


def _aligned_empty(n: int, dtype) -> np.ndarray:
    """``np.empty(n, dtype)`` on a 64-byte boundary: ``jax.device_put`` on CPU then uses
    the memory as it is instead of copying it (8 bytes per synapse less at the build's end)."""
    size = n * np.dtype(dtype).itemsize
    raw = np.empty(size + 64, np.uint8)
    start = -raw.ctypes.data % 64
    return raw[start : start + size].view(dtype)


def _bucket_native(n_sources, keys, weights, low_bits, shift, wide) -> CSR:
    """:func:`build_csr`'s sort by the native kernel (``csrc/csr_build.cc``); ``keys`` and
    ``weights`` (the parts) are emptied once it has run, freeing them before the CSR is built."""
    if _sim_kernels is None:
        raise ValueError("`native`=True, but the native kernels are not built")
    n = sum(len(k) for k in keys)
    ptr = np.empty(n_sources + 1, np.int64)
    low = _aligned_empty(n, np.uint64 if wide else np.uint32)
    weight = _aligned_empty(n, np.float32)
    _sim_kernels.csr_bucket(keys, weights, int(n_sources), int(low_bits), ptr, low, weight,
                            _threads())  # fmt: skip
    keys.clear()
    weights.clear()
    return _csr(ptr, low, weight, shift, wide)


def _check_bounds(name: str, values, low: int, high: int) -> int:
    """``ValueError`` unless ``values`` lie in ``[low, high]``; their maximum (0 if empty)."""
    values = np.asarray(values)
    if not values.size:
        return 0
    lo, hi = values.min(), values.max()
    if lo < low or hi > high:
        raise ValueError(f"`{name}` must lie in [{low}, {high}]; got values from {lo} to {hi}")
    return int(hi)


def _check_part(syn: Synapses, n_sources: int) -> int:
    """Check one part's sources and delays for :func:`build_csr`; its largest delay."""
    _check_bounds("source", syn.source, 0, n_sources - 1)
    return _check_bounds("delay", syn.delay, 1, MAX_DELAY_STEPS)
