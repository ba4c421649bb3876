"""Connection rules: exact counts and statistics, keyed streams independent of sharding, CSR."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from snnjax.sim._connect import (
    CSR,
    MAX_DELAY_STEPS,
    ConnSpec,
    Synapses,
    build_csr,
    connect,
    csr_format,
    delay_steps,
    to_csr,
)
from snnjax.sim._native import native_available
from snnjax.sim._prng import PRNG
from snnjax.sim._random import lognormal, normal, redraw, uniform

H = 0.1


def _all(conn, n_src=50, n_tgt=40, weight=1.0, delay=1.5, seed=3, same=False, shards=1):
    """Build on ``shards`` shards (round-robin targets) and merge, in target-major order."""
    sources = np.arange(n_src)
    targets = sources if same else np.arange(n_src, n_src + n_tgt)
    parts = [
        connect(seed, 7, sources, targets, targets[s::shards], conn, weight, delay, H)
        for s in range(shards)
    ]
    keys = ("source", "target", "weight", "delay")
    merged = {k: np.concatenate([getattr(p, k) for p in parts]) for k in keys}
    order = np.lexsort((merged["source"], merged["weight"], merged["target"]))
    return {k: v[order] for k, v in merged.items()}, sources, targets


RULES = [
    ConnSpec("fixed_indegree", indegree=5, allow_autapses=False),
    ConnSpec("fixed_indegree", indegree=5, allow_multapses=False, allow_autapses=False),
    ConnSpec("fixed_total_number", N=600),
    ConnSpec("fixed_outdegree", outdegree=4, allow_autapses=False),
    ConnSpec("pairwise_bernoulli", p=0.2, allow_autapses=False),
    ConnSpec("all_to_all", allow_autapses=False),
    ConnSpec("one_to_one"),
]


@pytest.mark.parametrize("conn", RULES, ids=lambda c: f"{c.rule}-{c.allow_multapses}")
@pytest.mark.parametrize("shards", [2, 3])
def test_network_is_independent_of_sharding(conn, shards):
    w = normal(mean=1.0, std=0.3)
    d = redraw(normal(mean=1.5, std=0.75), min=0.1, max=25.0)
    one, _, _ = _all(conn, weight=w, delay=d, same=True)
    split, _, _ = _all(conn, weight=w, delay=d, same=True, shards=shards)
    for key in one:
        np.testing.assert_array_equal(one[key], split[key])


def test_fixed_indegree_exact_and_without_autapses():
    syn, sources, _targets = _all(
        ConnSpec("fixed_indegree", indegree=7, allow_autapses=False), same=True
    )
    np.testing.assert_array_equal(np.bincount(syn["target"], minlength=50), 7)
    assert not np.any(syn["source"] == syn["target"])
    assert set(syn["source"]) <= set(sources)


def test_fixed_indegree_without_multapses_is_distinct():
    syn, _, _ = _all(ConnSpec("fixed_indegree", indegree=30, allow_multapses=False))
    for t in np.unique(syn["target"]):
        src = syn["source"][syn["target"] == t]
        assert len(src) == len(set(src)) == 30


def test_fixed_total_number_and_outdegree_totals():
    syn, _, _ = _all(ConnSpec("fixed_total_number", N=1234), shards=3)
    assert len(syn["source"]) == 1234
    syn, sources, _ = _all(ConnSpec("fixed_outdegree", outdegree=6), shards=2)
    np.testing.assert_array_equal(np.bincount(syn["source"], minlength=len(sources)), 6)


def test_pairwise_bernoulli_rate():
    syn, _, _ = _all(ConnSpec("pairwise_bernoulli", p=0.1), n_src=400, n_tgt=300)
    n, p = 400 * 300, 0.1
    assert abs(len(syn["source"]) - n * p) < 5 * np.sqrt(n * p * (1 - p))


def test_deterministic_per_seed():
    conn = ConnSpec("fixed_indegree", indegree=5)
    a, _, _ = _all(conn, seed=1)
    b, _, _ = _all(conn, seed=1)
    c, _, _ = _all(conn, seed=2)
    np.testing.assert_array_equal(a["source"], b["source"])
    assert not np.array_equal(a["source"], c["source"])


def test_weight_and_delay_distributions():
    conn = ConnSpec("fixed_indegree", indegree=200)
    syn, _, _ = _all(conn, weight=normal(mean=87.8, std=8.78), delay=uniform(min=0.5, max=2.0))
    assert abs(syn["weight"].mean() - 87.8) < 0.2 and abs(syn["weight"].std() - 8.78) < 0.2
    assert syn["delay"].min() == 5 and syn["delay"].max() == 20
    syn, _, _ = _all(conn, weight=redraw(normal(mean=0.0, std=1.0), min=0.0, max=0.5))
    assert syn["weight"].min() >= 0.0 and syn["weight"].max() <= 0.5
    syn, _, _ = _all(conn, weight=lognormal(mean=0.0, std=0.5))
    assert abs(np.log(syn["weight"]).std() - 0.5) < 0.03


def test_delays_round_to_steps_as_nest():
    syn, _, _ = _all(
        ConnSpec("one_to_one"), n_src=4, n_tgt=4, delay=np.array([0.1, 0.14, 0.15, 1.5])
    )
    assert syn["delay"].tolist() == [1, 1, 2, 15]


def test_csr_groups_by_source_and_costs_8_bytes_per_synapse():
    syn, sources, targets = _all(
        ConnSpec("fixed_indegree", indegree=20), delay=uniform(min=0.1, max=3.0), same=True
    )
    csr = to_csr(len(sources), Synapses(**syn), targets)
    assert isinstance(csr, CSR) and csr.n_synapses == 50 * 20
    for s in range(len(sources)):
        seg = slice(csr.ptr[s], csr.ptr[s + 1])
        np.testing.assert_array_equal(
            np.sort(targets[csr.target[seg]]), np.sort(syn["target"][syn["source"] == s])
        )
        assert np.all(np.diff(csr.delay[seg]) >= 0)
    per_syn = (csr.packed.nbytes + csr.weight.nbytes) / csr.n_synapses
    assert per_syn == 8


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: ConnSpec("fixed_in"), r"`conn_spec rule` must be one of 'one_to_one'"),
        (lambda: ConnSpec("fixed_indegree"), r"rule 'fixed_indegree' needs `indegree`"),
        (lambda: ConnSpec("pairwise_bernoulli", p=1.5), r"`p` must lie in \[0, 1\]"),
        (lambda: ConnSpec("all_to_all", p=0.5), r"`p` does not apply to rule 'all_to_all'"),
        (
            lambda: ConnSpec.from_nest({"rule": "all_to_all", "autapses": False}),
            r"`conn_spec key` must be one of",
        ),
        (lambda: _all(ConnSpec("one_to_one"), n_src=3, n_tgt=4), r"one_to_one needs as many"),
        (
            lambda: _all(ConnSpec("fixed_indegree", indegree=60, allow_multapses=False)),
            r"`indegree`=60 is impossible with 50 sources",
        ),
        (
            lambda: _all(ConnSpec("one_to_one"), n_src=2, n_tgt=2, delay=0.04),
            r"`delay` must lie in \[resolution, \(2\*\*31 - 1\) x resolution\]",
        ),
        (lambda: normal(std=-1.0), r"`std` must lie in \[0, inf\)"),
        (lambda: redraw(normal(), min=1.0, max=0.0), r"`max` must be > `min`"),
    ],
)
def test_bad_connection_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def _random_parts(rng, n_src, n_tgt, max_delay, sizes=(300, 200)):
    """Synapses in parts (global target ids ``n_tgt..2 n_tgt``), with many exact ties."""
    return [
        Synapses(
            rng.integers(0, n_src, n),
            n_tgt + rng.integers(0, n_tgt, n),
            rng.normal(size=n).astype(np.float32),
            rng.choice([1, 2, max_delay // 2, max_delay], n).astype(np.int32),
        )
        for n in sizes
    ]


def _check_canonical(csr, parts, slot_of, n_src):
    """CSR == a stable lexsort by (source, delay, slot) of the parts in order."""
    keys = ("source", "target", "weight", "delay")
    src, tgt, w, d = (np.concatenate([getattr(p, k) for p in parts]) for k in keys)
    slot = slot_of[tgt]
    order = np.lexsort((slot, d, src))
    np.testing.assert_array_equal(csr.ptr, np.r_[0, np.cumsum(np.bincount(src, minlength=n_src))])
    np.testing.assert_array_equal(csr.target, slot[order])
    np.testing.assert_array_equal(csr.delay, d[order])
    np.testing.assert_array_equal(csr.weight, w[order])


@pytest.mark.parametrize(
    ("n_slots", "max_delay", "wide", "expect_wide"),
    [
        (None, 200, None, False),  # today's short delays
        (40, 5000, None, False),  # long delays, few targets: still packed
        (1 << 22, 5000, None, True),  # 10 delay bits left: wide
        (40, 5000, True, True),  # forced
        (2, MAX_DELAY_STEPS, None, False),  # 1 target bit: 31 delay bits
    ],
)
def test_csr_round_trip_packed_and_wide(rng, n_slots, max_delay, wide, expect_wide):
    n_src, n_tgt = 30, 40 if n_slots != 2 else 2
    slot_of = np.full(2 * n_tgt, -1)
    slot_of[n_tgt:] = rng.permutation(n_tgt)
    parts = _random_parts(rng, n_src, n_tgt, max_delay)
    csr = build_csr(n_src, parts, slot_of, n_slots=n_slots, wide=wide)
    shift, _ = csr_format(n_tgt if n_slots is None else n_slots, 0)
    assert csr.shift == shift and csr.wide == expect_wide
    _check_canonical(csr, parts, slot_of, n_src)
    per_syn = 12 if expect_wide else 8
    assert csr.nbytes == csr.ptr.nbytes + per_syn * csr.n_synapses
    if not expect_wide:
        assert csr.packed.nbytes + csr.weight.nbytes == 8 * csr.n_synapses


def test_csr_with_24_target_bits_packs_as_before(rng):
    """``n_slots = 2**24``: the historic layout ``slot | delay << 24``, bit for bit."""
    parts = _random_parts(rng, 30, 40, 255)
    slot_of = np.r_[np.full(40, -1), np.arange(40)]
    csr = build_csr(30, parts, slot_of, n_slots=1 << 24)
    assert csr.shift == 24 and not csr.wide
    np.testing.assert_array_equal(
        csr.packed, csr.target.astype(np.uint32) | (csr.delay.astype(np.uint32) << 24)
    )


def test_csr_sort_key_overflow_falls_back_to_lexsort(rng):
    """20 source bits + 31 target bits leave 13 delay bits in the sort key: a later part
    with longer delays switches to a two-key sort; the order stays canonical."""
    n_src, n_tgt = 1 << 20, 40
    slot_of = np.r_[np.full(n_tgt, -1), rng.permutation(n_tgt)]
    parts = _random_parts(rng, 50, n_tgt, 100) + _random_parts(rng, 50, n_tgt, 1 << 20)
    for p in parts:
        p.source += n_src - 50
    csr = build_csr(n_src, parts, slot_of, n_slots=1 << 31)
    assert csr.wide and csr.shift == 31
    _check_canonical(csr, parts, slot_of, n_src)


def test_long_delays_from_connect():
    syn, sources, targets = _all(
        ConnSpec("fixed_indegree", indegree=5), delay=uniform(min=0.1, max=1000.0), same=True
    )
    assert syn["delay"].max() > 5000
    csr = to_csr(len(sources), Synapses(**syn), targets)
    assert not csr.wide and csr.delay.max() == syn["delay"].max()


def test_delay_steps_range():
    assert delay_steps([0.1, 0.15, 5000.0], 0.1).tolist() == [1, 2, 50000]
    assert delay_steps(MAX_DELAY_STEPS * 0.5, 0.5).tolist() == MAX_DELAY_STEPS
    assert delay_steps(np.zeros(0), 0.1).shape == (0,)


@pytest.mark.parametrize("delay", [0.0, 0.04, -1.0, np.nan, np.inf, -np.inf, 2.0**31 * 0.1])
def test_delay_steps_rejects(delay):
    with pytest.raises(ValueError, match=r"`delay` must"):
        delay_steps(np.array([1.0, delay]), 0.1)


def test_bad_csr_arguments():
    syn = Synapses(np.array([0]), np.array([1]), np.ones(1, np.float32), np.array([5000]))
    slot_of = np.array([-1, 0, 1])
    with pytest.raises(ValueError, match=r"`wide`=False, but delays up to 5000 steps"):
        build_csr(1, [syn], slot_of, n_slots=1 << 20, wide=False)
    with pytest.raises(ValueError, match=r"`n_slots` must be at least"):
        build_csr(1, [syn], slot_of, n_slots=1)
    with pytest.raises(ValueError, match=r"`source` must lie in \[0, 0\]"):
        build_csr(1, [Synapses(np.array([1]), syn.target, syn.weight, syn.delay)], slot_of)
    with pytest.raises(ValueError, match=r"`delay` must lie in \[1, 2147483647\]"):
        build_csr(1, [Synapses(syn.source, syn.target, syn.weight, np.array([0]))], slot_of)


@pytest.mark.parametrize("devices", [1, 2, 4])
def test_per_synapse_arrays_in_nest_shapes_on_any_split(devices):
    from snnjax.sim import Simulator

    sim = Simulator(0.1, seed=1, devices=devices, native=False)
    a, b = sim.create("iaf_psc_exp", 6), sim.create("iaf_psc_exp", 5)
    w_all = np.arange(30.0).reshape(5, 6) * 10.0 + 1.0  # [len(post), len(pre)]
    w_one, d_one = np.arange(5) * 100.0 + 7.0, np.arange(5) * 0.1 + 1.0
    sim.connect(a, b, "all_to_all", {"weight": w_all, "delay": 1.0})
    sim.connect(a[:5], b, "one_to_one", {"weight": w_one, "delay": d_one})
    sim.connect(a, b, {"rule": "fixed_indegree", "indegree": 2},
                {"weight": np.arange(10.0).reshape(5, 2) + 1000.0, "delay": 2.0})  # fmt: skip
    sim.prepare()
    t = sim._synapse_table()
    got = set(zip(t.source.tolist(), t.target.tolist(), t.weight.tolist(), t.delay.tolist(),
                  strict=True))  # fmt: skip
    expected = {(s, 6 + j, w_all[j, s], 10) for j in range(5) for s in range(6)}
    expected |= {(s, 6 + s, w_one[s], 10 + s) for s in range(5)}
    assert expected <= got
    assert sorted(w for *_, w, d in got if d == 20) == list(np.arange(10.0) + 1000.0)
    for rule, value in (("all_to_all", np.ones(30)), ("one_to_one", np.ones((5, 1))),
                        ({"rule": "fixed_indegree", "indegree": 2}, np.ones((5, 3))),
                        ({"rule": "pairwise_bernoulli", "p": 0.5}, np.ones((5, 6)))):  # fmt: skip
        pre = a[:5] if rule == "one_to_one" else a
        with pytest.raises(ValueError, match=r"`weight`"):
            sim.connect(pre, b, rule, {"weight": value})


@pytest.mark.parametrize("seed", [0, 7, 2**31 - 1])
def test_the_simulators_prng_is_jax_threefry_bit_for_bit(seed):
    """``_prng.PRNG`` (the hash unrolled, fast per-element keys) gives jax.random's bits."""
    ref, fast = jax.random.key(seed), jax.random.key(seed, impl=PRNG)
    draws = {
        "key": lambda k: jax.random.key_data(k),
        "fold_in": lambda k: jax.random.key_data(jax.random.fold_in(k, 123457)),
        "split": lambda k: jax.random.key_data(jax.random.split(k, 3)),
        "bits": lambda k: jax.random.bits(k, (5, 3)),
        "bits16": lambda k: jax.random.bits(k, (7,), jnp.uint16),
        "randint": lambda k: jax.random.randint(k, (9,), 0, 4000),
        "permutation": lambda k: jax.random.permutation(k, 50),
        "per_element": lambda k: jax.vmap(
            lambda i: redraw(normal(1.0, 2.0), min=0.0).sample(jax.random.fold_in(k, i), ())
        )(jnp.arange(1000)),
    }
    for name, draw in draws.items():
        np.testing.assert_array_equal(draw(fast), draw(ref), err_msg=name)


def test_redraw_per_synapse_compacted_equals_the_vectorised_loop():
    """``_values`` redraws only the synapses still outside the bounds; the values equal
    ``redraw.sample``'s (a while loop over every synapse) bit for bit, NaN where no attempt
    fits."""
    from snnjax.sim._connect import _draw_in_chunks, _keys, _sample_per_synapse, _values

    owner = np.repeat(np.arange(300), 70)
    index = np.tile(np.arange(70), 300)
    base = _keys(5, 3, 2)
    for spec in (redraw(normal(0.0, 1.0), min=-0.3, max=0.4), redraw(uniform(0, 1), min=2.0)):
        got = _values(spec, 5, 3, 2, owner, index)
        want = _draw_in_chunks(
            lambda o, i, s=spec: _sample_per_synapse(s, base, o, i), owner, index
        )
        np.testing.assert_array_equal(got, want)
        assert got.dtype == np.float32
    assert np.isnan(got).all()  # uniform [0, 1) never reaches 2: every attempt fails


@pytest.mark.skipif(not native_available(), reason="native kernels not built")
@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_native_keys_give_the_values_of_jax_keys(dtype):
    """Values drawn from keys hashed by the native kernel (``synapse_keys``) equal the ones
    drawn from JAX's keys (``_sample_per_synapse`` / ``_sample_attempt``) bit for bit: every
    distribution kind, plain and redrawn (later attempts folded in), int32 and int64 ids."""
    from snnjax.sim import _connect

    owner = np.repeat(np.arange(40, 140), 57).astype(dtype)
    index = np.tile(np.arange(57), 100).astype(dtype)
    base = _connect._keys(9, 4, 1)
    got = _connect._native_keys(base, owner, index, 3)
    want = jax.vmap(lambda k: jax.random.fold_in(k, 3))(_connect._synapse_keys(base, owner, index))
    np.testing.assert_array_equal(got, jax.random.key_data(want))
    specs = (
        normal(87.8, 8.78),
        uniform(0.5, 2.0),
        lognormal(0.0, 1.0),
        redraw(normal(1.5, 0.75), min=1.4, max=1.6),
        redraw(uniform(0, 1), min=2.0),
    )
    for spec in specs:
        fast, ref = (_connect._values(spec, 9, 4, 1, owner, index, native=k) for k in (True, False))
        np.testing.assert_array_equal(fast, ref, err_msg=repr(spec))
    assert np.isnan(fast).all()  # the last spec: no attempt fits


def test_chunked_draws_in_flight_equal_one_call(monkeypatch):
    """Draws split into chunks, several dispatched before the first is read (``_collect``),
    land in order: the same values as one call, for per-synapse and per-target draws."""
    from snnjax.sim import _connect

    owner = np.repeat(np.arange(500), 40)
    index = np.tile(np.arange(40), 500)
    spec = redraw(normal(0.0, 1.0), min=-1.0, max=1.0)
    want = _connect._values(spec, 5, 3, 2, owner, index)
    src = _connect._random_sources(5, 3, owner, index, 700, np.full(len(owner), -1))
    monkeypatch.setattr(_connect, "_CHUNK", 3000)  # 7 chunks, the last one short
    np.testing.assert_array_equal(_connect._values(spec, 5, 3, 2, owner, index), want)
    np.testing.assert_array_equal(
        _connect._random_sources(5, 3, owner, index, 700, np.full(len(owner), -1)), src
    )
    base, local = _connect._keys(5, 3, 4), np.arange(0, 1500, 3)
    rows = {
        k: _connect._per_target_rows(
            lambda t, e: _connect._distinct_rows(base, t, e, n_src=50, k=7), local,
            np.full(len(local), -1), rows_per_call=k,
        )
        for k in (1024, 64)
    }  # fmt: skip
    assert rows[64].shape == (500, 7)
    np.testing.assert_array_equal(rows[64], rows[1024])


@pytest.mark.parametrize("n_src", [1, 2, 7, 1000, 2**31 - 1])
def test_native_source_draws_equal_jax(rng, n_src):
    """The native ``uniform_index`` (threefry keys per synapse, JAX's randint) == the
    jitted JAX draw, with and without an excluded index (autapses)."""
    from snnjax.sim import _connect

    m = 3000
    owner, index = rng.integers(0, 2**31 - 1, m), rng.integers(0, 2**31 - 1, m)
    excluded = rng.integers(0, n_src, m) if n_src > 1 else np.full(m, -1)
    self_pos = np.where(rng.uniform(size=m) < 0.5, excluded, -1)
    got, want = (
        _connect._random_sources(55, 3, owner, index, n_src, self_pos, native=k)
        for k in (True, False)
    )
    assert got.dtype == want.dtype == np.int32
    np.testing.assert_array_equal(got, want)
    assert got.min() >= 0 and got.max() < n_src


@pytest.mark.parametrize("conn", RULES, ids=lambda c: f"{c.rule}-{c.allow_multapses}")
def test_source_counts_are_connects_sources(conn):
    """``source_counts`` (the CSR's row lengths, drawn before the synapses) counts
    ``connect``'s synapses per source id, on any shard, without drawing weights or delays."""
    from snnjax.sim._connect import source_counts

    sources = np.arange(10, 60)
    for local in (sources[::3], sources[1::3]):
        syn = connect(3, 7, sources, sources, local, conn, normal(1.0, 0.3), 1.5, H)
        got = source_counts(3, 7, sources, sources, local, conn, 64)
        np.testing.assert_array_equal(got, np.bincount(syn.source, minlength=64))


def test_delay_steps_chunked_catches_any_chunk(monkeypatch):
    """``delay_steps`` rounds a chunk at a time as NEST does (float64 ``d / h + 0.5``,
    floored); a NaN, inf or out-of-range delay in any chunk is an error."""
    from snnjax.sim import _connect

    monkeypatch.setattr(_connect, "_CHUNK", 1000)
    d = np.random.default_rng(0).uniform(0.1, 20.0, 3500).astype(np.float32)
    want = np.floor(d.astype(np.float64) * (1.0 / 0.1) + 0.5).astype(np.int32)
    np.testing.assert_array_equal(_connect.delay_steps(d, 0.1), want)
    for bad, match in ((np.nan, "finite"), (np.inf, "finite"), (0.01, "must lie in")):
        d2 = d.copy()
        d2[2500] = bad
        with pytest.raises(ValueError, match=match):
            _connect.delay_steps(d2, 0.1)


@pytest.mark.parametrize("n_src", [1, 3, 77169])
def test_native_source_runs_equal_jax(rng, n_src):
    """``uniform_index_runs`` (synapses as runs per target: what ``connect`` uses natively
    for fixed_indegree and fixed_total_number) == the JAX draw on the expanded arrays."""
    from snnjax.sim import _connect, _sim_kernels

    local = np.sort(rng.choice(200_000, 3000, replace=False)).astype(np.int64)
    counts = rng.integers(0, 40, len(local))
    counts[::7] = 0
    excluded = rng.integers(0, n_src, len(local)) if n_src > 1 else np.full(len(local), -1)
    self_t = np.where(rng.uniform(size=len(local)) < 0.5, excluded, -1).astype(np.int64)
    owner = np.repeat(local, counts)
    index = np.arange(len(owner)) - np.repeat(np.cumsum(counts) - counts, counts)
    want = _connect._random_sources(5, 2, owner, index, n_src, np.repeat(self_t, counts),
                                    native=False)  # fmt: skip
    got = np.empty(len(owner), np.int32)
    key = np.asarray(jax.random.key_data(_connect._keys(5, 2, 0)), np.uint32)
    _sim_kernels.uniform_index_runs(key, local, counts, self_t, n_src, got, 2)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("part", [7, 150])
def test_projections_built_in_parts_give_the_same_csr(monkeypatch, part):
    """The builder draws a projection in parts of about ``_PART`` synapses (its targets in
    consecutive groups); every rule gives the same CSR bit for bit as in one part."""
    import snnjax.sim as nest
    from snnjax.sim import _build, _nest

    def csr(part):
        monkeypatch.setattr(_build, "_PART", part)
        nest.ResetKernel()
        nest.SetKernelStatus({"rng_seed": 7})
        a, b = nest.Create("iaf_psc_exp", 60), nest.Create("iaf_psc_exp", 40)
        syn = {
            "weight": nest.math.redraw(nest.random.normal(20.0, 8.0), min=0.0, max=np.inf),
            "delay": nest.math.redraw(nest.random.normal(1.5, 0.5), min=0.1, max=np.inf),
        }
        for rule in (
            {"rule": "fixed_total_number", "N": 700},
            {"rule": "fixed_indegree", "indegree": 9},
            {"rule": "fixed_indegree", "indegree": 9, "allow_multapses": False},
            {"rule": "pairwise_bernoulli", "p": 0.2},
            {"rule": "fixed_outdegree", "outdegree": 5},
            "all_to_all",
        ):
            nest.Connect(a, b, rule, syn)
        nest.Connect(a[:40], b, "one_to_one", syn)
        nest.Connect(a, a, {"rule": "fixed_indegree", "indegree": 5, "allow_autapses": False},
                     {"weight": -30.0, "delay": syn["delay"]})  # fmt: skip
        nest.Prepare()
        return [np.asarray(x) for x in jax.tree.leaves(_nest._kernel.sim._built["arrays"].csr)]

    whole = csr(1 << 21)
    for got, want in zip(csr(part), whole, strict=True):
        np.testing.assert_array_equal(got, want)
