"""Native CPU kernels (XLA FFI, ``snnjax.sim._native``) == the pure-JAX path, bit for bit."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import snnjax.sim as nest
from snnjax.sim import Simulator, _native
from snnjax.sim._connect import ConnSpec, connect, to_csr
from snnjax.sim._delivery import DeviceCSR, deliver
from snnjax.sim._groups import _by_kernel
from snnjax.sim._network import (
    PoissonInput,
    _poisson,
    emit_scatter,
    poisson_table,
    take_inputs,
)
from snnjax.sim._random import normal, uniform

N = 80


def _bits(x):
    return np.asarray(x).view(np.uint32)  # bit for bit (-0.0 != 0.0)


def test_the_kernels_are_built():
    # The package's install compiles them (setup.py); a silent fallback would leave the
    # native path untested.
    assert _native.native_available()
    assert _native.use_native(None, "cpu") and not _native.use_native(None, "gpu")


def _csr(wide, seed=0, n=N, indegree=12, delay=None):
    ids = np.arange(n)
    delay = delay if delay is not None else uniform(min=0.2, max=40.0 if wide else 2.0)
    syn = connect(seed, 0, ids, ids, ids, ConnSpec("fixed_indegree", indegree=indegree),
                  normal(mean=0.1, std=0.5), delay, 0.1)  # fmt: skip
    return DeviceCSR.from_csr(to_csr(n, syn, ids, wide=wide or None))


def _check_delivery(rng, csr, n, D, threads, cases, max_spikes, tile):
    m = 2
    ring = jnp.asarray(rng.normal(size=(2, D, n)), jnp.float32)
    run = {
        native: jax.jit(lambda r, s, t, native=native: deliver(
            r, csr, s, t, max_spikes=max_spikes, tile=tile, native=native, threads=threads))
        for native in (False, True)
    }  # fmt: skip
    for t0, p in cases:
        spikes = (rng.uniform(size=(m, n)) < p).astype(np.float32)
        spikes[0, rng.integers(n)] = 3.0  # a multiplicity
        (ring_j, out_j), (ring_n, out_n) = (run[k](ring, jnp.asarray(spikes), t0) for k in run)
        assert int(out_n.n_spikes) == int(out_j.n_spikes) == np.count_nonzero(spikes)
        assert np.array_equal(out_n.index, out_j.index) and np.array_equal(out_n.count, out_j.count)
        if int(out_j.n_spikes) <= max_spikes:  # past the capacity the JAX path is partial (re-run)
            assert int(out_n.n_synapses) == int(out_j.n_synapses)
            assert np.array_equal(_bits(ring_n), _bits(ring_j))
            assert not np.array_equal(np.asarray(ring_n), np.asarray(ring))


@pytest.mark.parametrize("wide", [False, True])
@pytest.mark.parametrize("threads", [1, 2])
def test_delivery_matches_jax(rng, wide, threads):
    D = 420 if wide else 24
    cases = ((0, 0.1), (D - 1, 0.2), (12345, 0.15), (7, 0.5))  # 0.5: the list overflows
    _check_delivery(rng, _csr(wide), N, D, threads, cases, max_spikes=40, tile=64)


@pytest.mark.parametrize(("wide", "delay"), [(False, None), (True, None), (False, 1.5)])
def test_threaded_delivery_matches_jax(rng, wide, delay):
    # Blocks of >= 65,536 synapses: two threads, each owning a range of ring slots (spread
    # delays, wide delays, and one delay for all, where a whole row goes to one thread).
    n, D = 2000, 420 if wide else 24
    csr = _csr(wide, n=n, indegree=100, delay=delay)
    cases = ((0, 0.2), (D - 1, 0.3), (12345, 0.25))
    _check_delivery(rng, csr, n, D, 2, cases, max_spikes=n * 2, tile=8192)


@pytest.mark.parametrize(("t0", "live"), [(0, 5), (37, 2), (2**31 - 9, 5)])
def test_take_inputs_matches_jax(rng, t0, live):
    ring = jnp.asarray(rng.normal(size=(2, 11, N)), jnp.float32)
    ext = jnp.asarray(rng.normal(size=(3, 7, N)), jnp.float32)
    want = jax.jit(lambda r, e, t: take_inputs(r, e, t, 5, live))(ring, ext, t0)
    got = jax.jit(lambda r, e, t: _native.take_native(r, e, t, 5, live))(ring, ext, t0)
    for w, g in zip(want, got, strict=True):
        assert np.array_equal(_bits(g), _bits(w))
    assert np.count_nonzero(np.asarray(want[0])) == 2 * (11 - live) * N  # slots cleared


@pytest.mark.parametrize(("t0", "live"), [(0, 5), (37, 3), (2**31 - 9, 5)])
def test_emit_matches_jax(rng, t0, live):
    C, Dx = 200, 9
    ext = jnp.asarray(rng.normal(size=(3, Dx, N)), jnp.float32)
    value = jnp.asarray(rng.normal(size=(5, C)), jnp.float32)
    delay = jnp.asarray(rng.integers(1, 5, C), jnp.int32)
    target = jnp.asarray(rng.integers(0, N, C), jnp.int32)  # repeated targets: order matters
    channel = np.where(np.arange(C) < 150, -1, 2).astype(np.int32)  # by sign, or a current
    want, got = (jax.jit(lambda x, v, t, f=f: f(x, v, delay, target, channel, t, live))(
        ext, value, t0) for f in (emit_scatter, _native.emit_native))  # fmt: skip
    assert np.array_equal(_bits(got), _bits(want))
    assert not np.array_equal(np.asarray(got), np.asarray(ext))


@pytest.mark.parametrize("channel", [-1, 2])
@pytest.mark.parametrize(("t0", "live"), [(0, 5), (37, 3), (2**31 - 9, 5)])
def test_emit_rows_matches_jax(rng, t0, live, channel):
    """The kernel's row path (one slot per step, contiguous targets, one channel or all by
    sign): the scatter's bits, signed zeros included."""
    C, Dx = 60, 9
    ext = jnp.asarray(rng.normal(size=(3, Dx, N)), jnp.float32).at[:, :, 20:40].set(-0.0)
    value = rng.normal(size=(5, C)).astype(np.float32)
    value[:, :10] = 0.0
    value[:, 10:20] = -0.0
    delay = jnp.asarray(np.where(np.arange(C) % 2, 3, 3 + Dx), jnp.int32)  # one slot mod Dx
    target = jnp.arange(C, dtype=jnp.int32) + 17  # < N
    channels = np.full(C, channel, np.int32)
    want, got = (jax.jit(lambda x, v, t, f=f: f(x, v, delay, target, channels, t, live))(
        ext, jnp.asarray(value), t0) for f in (emit_scatter, _native.emit_native))  # fmt: skip
    assert np.array_equal(_bits(got), _bits(want))
    assert not np.array_equal(np.asarray(got), np.asarray(ext))


def _poisson_input(rng, rows):
    c = 300
    tables = [poisson_table(lam) for lam in (0.0, 0.02, 2.0, 30.0)[:rows]]
    K = max(16, max(len(t) for t in tables))
    return PoissonInput(
        key=jnp.asarray([7, 11], jnp.uint32),
        target=jnp.asarray(rng.integers(0, N, c), jnp.int32),
        counter=jnp.asarray(rng.integers(0, 2**32, c, dtype=np.uint64).astype(np.uint32)),
        weight=jnp.asarray(rng.normal(size=c), jnp.float32),
        delay=jnp.ones(c, jnp.int32),
        row=jnp.asarray(rng.integers(0, rows, c), jnp.int32),
        table=jnp.asarray(
            np.stack([np.pad(t, (0, K - len(t)), constant_values=2**32 - 1) for t in tables])
        ),
        size=jnp.asarray([len(t) for t in tables], jnp.int32),
        lo=jnp.asarray([0, 5, 0, 12][:rows], jnp.int32),
        hi=jnp.asarray([2**31 - 1, 20, 9, 2**31 - 1][:rows], jnp.int32),
    )


@pytest.mark.parametrize("rows", [1, 4])
def test_poisson_matches_jax(rng, rows):
    p = _poisson_input(rng, rows)
    if rows == 1:  # one generator (one table for all), always active
        p = p._replace(size=jnp.asarray([len(poisson_table(2.0))], jnp.int32),
                       table=jnp.asarray(np.pad(poisson_table(2.0), (0, 6),
                                                constant_values=2**32 - 1))[None])  # fmt: skip
    for t0 in (0, 11, 2**31 - 40):
        want = jax.jit(lambda t: _poisson(p, t, 15))(t0)
        for threads in (1, 2):
            got = jax.jit(lambda t, k=threads: _native.poisson_values(p, t, 15, threads=k))(t0)
            assert np.array_equal(_bits(got), _bits(want))
        assert np.count_nonzero(np.asarray(want)) > 100


def _same_under_vmap(fn_jax, fn_native, args, in_axes):
    """Both functions vmapped give the same bits."""
    want, got = (jax.jit(jax.vmap(f, in_axes))(*args) for f in (fn_jax, fn_native))
    for w, g in zip(jax.tree.leaves(want), jax.tree.leaves(got), strict=True):
        assert np.array_equal(_bits(g), _bits(w))


@pytest.mark.parametrize("in_axes", [(0, 0, 0, 0), (None, 0, None, None), (0, None, 0, None)])
def test_kernels_under_vmap_match_jax(rng, in_axes):
    # vmap_method="expand_dims": one call for all instances, each argument batched or shared
    # (size-1 batch dimensions broadcast; a shared ring is copied into each instance's).
    B, D, m = 3, 24, 2
    csr = _csr(False)

    def per(x, a):  # the batched argument, or its first instance (shared)
        return x if a == 0 else x[0]

    ring = jnp.asarray(rng.normal(size=(B, 2, D, N)), jnp.float32)
    spikes = jnp.asarray(rng.uniform(size=(B, m, N)) < 0.1, jnp.float32)
    weight = jnp.asarray([1.0, -0.5, 2.0])[:, None] * csr.weight[None, :]
    t0 = jnp.asarray([0, D - 1, 12345], jnp.int32)
    args = [per(x, a) for x, a in zip((ring, spikes, weight, t0), in_axes, strict=True)]
    _same_under_vmap(*(
        lambda r, s, w, t, native=native: deliver(r, csr._replace(weight=w), s, t, max_spikes=40,
                                                  tile=64, native=native, threads=2)
        for native in (False, True)), args, in_axes)  # fmt: skip

    ext = jnp.asarray(rng.normal(size=(B, 3, 7, N)), jnp.float32)
    args = [per(x, a) for x, a in zip((ring, ext, t0), in_axes[1:], strict=True)]
    _same_under_vmap(
        lambda r, e, t: take_inputs(r, e, t, 5, 3),
        lambda r, e, t: _native.take_native(r, e, t, 5, 3),
        args,
        in_axes[1:],
    )

    p = _poisson_input(rng, 4)  # batched tables and weights; key, counter shared or batched
    tables = jnp.stack([p.table, p.table[::-1], p.table[jnp.asarray([2, 2, 0, 1])]])
    sizes = jnp.stack([p.size, p.size[::-1], p.size[jnp.asarray([2, 2, 0, 1])]])
    counters = jnp.stack([p.counter, p.counter + 1, p.counter * 3])
    args = [per(x, a) for x, a in zip((tables, sizes, counters, t0), in_axes, strict=True)]
    _same_under_vmap(*(
        lambda tab, size, ctr, t, f=f: f(p._replace(table=tab, size=size, counter=ctr), t, 15)
        for f in (_poisson, lambda q, t, s: _native.poisson_values(q, t, s, threads=2))),
        args, in_axes)  # fmt: skip


def test_kernels_under_nested_vmap_match_jax(rng):
    B, D = 2, 24
    ring = jnp.asarray(rng.normal(size=(B, B, 2, D, N)), jnp.float32)
    ext = jnp.asarray(rng.normal(size=(B, 3, 7, N)), jnp.float32)
    t0 = jnp.asarray([[0, 30], [7, 11]], jnp.int32)
    # the ring batched at both levels, ext at the outer one only, t0 at both
    want = jax.jit(jax.vmap(jax.vmap(lambda r, e, t: take_inputs(r, e, t, 5, 3),
                                     (0, None, 0)), (0, 0, 0)))(ring, ext, t0)  # fmt: skip
    got = jax.jit(jax.vmap(jax.vmap(lambda r, e, t: _native.take_native(r, e, t, 5, 3),
                                    (0, None, 0)), (0, 0, 0)))(ring, ext, t0)  # fmt: skip
    for w, g in zip(want, got, strict=True):
        assert np.array_equal(_bits(g), _bits(w))


def _network(native: bool, devices: int = 1, parts=(130.0,), min_delay=0.1):
    """A random network exercising every path of the kernels: every connection rule,
    multapses and autapses, delays from ``min_delay`` (one step: blocks of one step) to
    long ones, both signs, spike multiplicities (parrots of a spike_generator), Poisson
    input with windows, four models (in blocks of several steps ``a`` and ``d`` stepped by
    the block kernel natively, the sampled ``b``, ``c`` and the parrots by the step loop)."""
    sim = Simulator(0.1, seed=5, devices=devices, native=native, chunk=200)
    a = sim.create("iaf_psc_exp", 40, {"I_e": 300.0})
    b = sim.create("iaf_psc_alpha", 30, {"I_e": 200.0})
    c = sim.create("iaf_psc_delta", 20)
    d = sim.create("iaf_psc_delta", 20, {"tau_m": np.linspace(5.0, 20.0, 20), "V_min": -72.0})
    par = sim.create("parrot_neuron", 5)
    sg = sim.create("spike_generator", 5, {"spike_times": [1.0, 5.0, 5.5, 20.0],
                                           "spike_multiplicities": [1, 3, 2, 4]})  # fmt: skip
    pg = sim.create("poisson_generator", 2, {"rate": 3000.0})
    sim.set(pg[1:], {"rate": 800.0, "start": 20.0, "stop": 90.0})
    sim.connect(sg, par, "one_to_one")
    w = {"weight": normal(mean=20.0, std=40.0), "delay": uniform(min=min_delay, max=12.0)}
    sim.connect(np.r_[a, b], np.r_[a, b, c, d], {"rule": "fixed_indegree", "indegree": 9}, w)
    sim.connect(c, a, {"rule": "pairwise_bernoulli", "p": 0.2}, {"weight": -30.0, "delay": 1.5})
    sim.connect(par, np.r_[b, c], "all_to_all", {"weight": 80.0, "delay": min_delay})
    sim.connect(a, a, {"rule": "fixed_total_number", "N": 300, "allow_autapses": True,
                       "allow_multapses": True}, {"weight": 15.0, "delay": 40.0})  # fmt: skip
    sim.connect(pg[:1], np.r_[a, b, c], "all_to_all", {"weight": 10.0, "delay": 0.3})
    sim.connect(pg[1:], np.r_[c, d], "all_to_all", {"weight": -5.0, "delay": 2.0})
    rec, mm = sim.create("spike_recorder"), sim.create("multimeter", 1, {"record_from": ["V_m"]})
    sim.connect(np.r_[a, b, c, d, par], rec)
    sim.connect(mm, np.r_[b[:3], c[:3]])
    for t in parts:
        sim.simulate(t)
    return sim, sim.events(rec[0]), sim.events(mm[0])


@pytest.fixture(scope="module")
def pure_jax():
    return functools.cache(lambda min_delay: _network(False, min_delay=min_delay))


def _same(x, y):
    return all(np.array_equal(x[k], y[k]) for k in x)


@pytest.mark.parametrize(("devices", "parts", "min_delay"), [
    (1, (130.0,), 0.1), (4, (33.3, 0.1, 96.6), 0.1), (1, (33.3, 0.1, 96.6), 0.5),
    (4, (130.0,), 0.5)])  # fmt: skip
def test_network_native_equals_pure_jax(pure_jax, devices, parts, min_delay):
    # parts: runs ending inside a block, summed to the same 130 ms
    sim, spikes, samples = _network(True, devices, parts, min_delay)
    _, want_spikes, want_samples = pure_jax(min_delay)
    assert len(want_spikes["times"]) > 300
    assert _same(spikes, want_spikes) and _same(samples, want_samples)
    layout = sim._built["layout"]
    assert layout.native and layout.m == round(min_delay / 0.1)
    kernel = [_by_kernel(layout, (p,), layout.m) for p in range(len(layout.models))]
    assert [m.name for m, k in zip(layout.models, kernel, strict=True) if k] == (
        ["iaf_psc_exp", "iaf_psc_delta"] if layout.m > 1 else [])  # fmt: skip


def test_no_recompile_for_runs_ending_inside_a_block():
    sim = Simulator(0.1, seed=1)
    pop = sim.create("iaf_psc_exp", 10, {"I_e": 400.0})
    sim.connect(pop, pop, {"rule": "fixed_indegree", "indegree": 3}, {"delay": 1.5})
    sim.simulate(10.0)
    compiles = sim.stats["compiles"]
    for t in (0.3, 1.4, 0.1, 7.7):
        sim.simulate(t)
    assert sim.stats["compiles"] == compiles and sim.stats["compile_s"] > 0
    assert sim.t_steps == 100 + 3 + 14 + 1 + 77


def test_native_option_is_checked(monkeypatch):
    with pytest.raises(ValueError, match="`native` must be True, False or None"):
        Simulator(native="yes")
    with pytest.raises(ValueError, match="`threads` must be a positive int"):
        Simulator(threads=0)
    monkeypatch.setattr(_native, "_sim_kernels", None)
    with pytest.raises(ValueError, match=r"`native`=True, but the native kernels were not built"):
        Simulator(native=True)
    assert not Simulator(native=None).native  # falls back to pure JAX
    nest.ResetKernel()
    with pytest.raises(ValueError, match="`native`=True"):
        nest.SetKernelStatus({"native": True})
    assert nest.GetKernelStatus("native") is None  # the refused value was not kept
    nest.ResetKernel()


@pytest.mark.parametrize("wide", [None, True])
def test_csr_construction_matches_numpy(rng, wide):
    """The native CSR sort (counting sort by source, rows sorted; several threads) == NumPy's
    stable argsort of the packed keys: the same rows, order within rows (ties: part order),
    weights and delays."""
    from snnjax.sim._connect import build_csr

    n_src, slot_of, parts = _csr_parts(rng)
    a = build_csr(n_src, parts, slot_of, wide=wide, native=True)
    b = build_csr(n_src, parts, slot_of, wide=wide, native=False)
    _same_csr(a, b)
    assert (a.wide_delay is not None) == bool(wide)


def _csr_parts(rng, max_delay=4):
    from snnjax.sim._connect import Synapses

    n_src, n_tgt = 3000, 700
    slot_of = np.full(n_src, -1)
    slot_of[rng.permutation(n_src)[:n_tgt]] = np.arange(n_tgt)
    targets = np.flatnonzero(slot_of >= 0)
    parts = []
    for size in (150_000, 0, 90_000, 3):  # > 65,536: the kernel uses its threads
        src = rng.integers(0, n_src // 3, size) * 3  # few distinct sources: long rows, ties
        tgt = targets[rng.integers(0, 40, size)]
        delay = rng.integers(1, max_delay, size).astype(np.int32)
        weight = rng.normal(size=size).astype(np.float32)
        parts.append(Synapses(src, tgt, weight, delay))
    return n_src, slot_of, parts


def _same_csr(a, b):
    assert a.shift == b.shift and (a.wide_delay is None) == (b.wide_delay is None)
    for field in ("ptr", "packed", "wide_delay", "delay"):
        x, y = getattr(a, field), getattr(b, field)
        if x is not None:
            assert x.dtype == y.dtype, field
            np.testing.assert_array_equal(x, y, err_msg=field)
    np.testing.assert_array_equal(_bits(a.weight), _bits(b.weight))


@pytest.mark.parametrize("max_delay", [4, 2**23])  # >= 2**22 steps: a wide CSR (700 slots)
def test_csr_placed_with_known_row_lengths_equals_sorted(rng, max_delay):
    """``build_csr(counts=...)``: each part placed into its rows as it comes (``csr_place``),
    rows sorted at the end == the sort of all parts at once; a wide CSR falls back (the
    parts drawn again); wrong counts and a non-callable ``parts`` are errors."""
    from snnjax.sim import _sim_kernels
    from snnjax.sim._connect import build_csr

    n_src, slot_of, parts = _csr_parts(rng, max_delay)
    counts = np.bincount(np.concatenate([p.source for p in parts]), minlength=n_src)
    calls = []

    def again():
        calls.append(1)
        return iter(parts)

    a = build_csr(n_src, again, slot_of, counts=counts)
    _same_csr(a, build_csr(n_src, parts, slot_of, native=False))
    assert len(calls) == (2 if max_delay > 4 else 1) and a.wide == (max_delay > 4)
    if max_delay > 4:
        return
    assert a.packed.ctypes.data % 64 == 0 == a.weight.ctypes.data % 64  # device_put: no copy
    with pytest.raises(ValueError, match="`counts` do not match"):
        build_csr(n_src, again, slot_of, counts=counts + (np.arange(n_src) == 0))
    with pytest.raises(ValueError, match="more synapses than its row holds"):
        build_csr(n_src, again, slot_of, counts=np.maximum(counts - 1, 0))
    with pytest.raises(ValueError, match="`parts` must be a function"):
        build_csr(n_src, parts, slot_of, counts=counts)
    low, weight = np.empty(2, np.uint32), np.empty(2, np.float32)
    with pytest.raises(ValueError, match="source out of range"):
        _sim_kernels.csr_place(np.array([0, 5]), np.zeros(2, np.uint32), np.zeros(2, np.float32),
                               np.array([0, 1, 2]), np.array([0, 1]), low, weight, 1)  # fmt: skip
