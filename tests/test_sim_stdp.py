"""STDP synapses: hand-computed weight changes, NEST's algorithm in float64, any split,
checkpoints, bad parameters, and (``make test-peers``) NEST 3.10 itself."""

import functools
import json
import math
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_sim_distributed import ROOT, _mpirun

import snnjax.sim as nest
from snnjax.analysis import weight_histogram_plot
from snnjax.sim import Simulator
from snnjax.sim._stdp import STDP_MODELS, SYNAPSE_DEFAULTS, reference

H = 0.1


def _pair(model, pre, post, *, delay=1.0, history=16, **params):
    """One plastic synapse from a parrot spiking at ``pre`` onto an ``iaf_psc_delta`` forced
    to spike at ``post`` (a kick; generator spikes 1 ms earlier). Returns (the weight that
    GetConnections sees, the synapse's parameters, the simulator)."""
    sim = Simulator(H, seed=1, stdp_history=history)
    g_pre = sim.create("spike_generator", 1, {"spike_times": np.asarray(pre, float) - 1.0})
    g_post = sim.create("spike_generator", 1, {"spike_times": np.asarray(post, float) - 1.0})
    par = sim.create("parrot_neuron")
    # a threshold that only the kick reaches, whatever the plastic weights do
    cell = sim.create("iaf_psc_delta", 1, {"t_ref": 0.5, "V_th": 1e4})
    sim.connect(g_pre, par)
    sim.connect(g_post, cell, syn_spec={"weight": 1e5, "delay": 1.0})
    params = {"lambda" if k == "lam" else k: v for k, v in params.items()}
    spec = {**SYNAPSE_DEFAULTS[model], "weight": 1.0, "delay": delay, **params}
    sim.connect(par, cell, syn_spec={**spec, "synapse_model": model})
    rec = sim.create("spike_recorder")
    sim.connect(par, rec)
    sim.connect(cell, rec)
    sim.simulate(float(max(*pre, *post)) + 5.0)
    where = sim.connections()
    events = sim.events(rec[0])
    for ids, times in ((par, pre), (cell, post)):
        assert np.allclose(events["times"][events["senders"] == ids[0]], times)
    return sim.synapse_values(where, "weight")[0], spec, sim


def _fac(w, k, lam=0.01, Wmax=100.0, mu=1.0):
    return Wmax * min(1.0, w / Wmax + lam * (1 - w / Wmax) ** mu * k)


def _dep(w, k, lam=0.01, alpha=1.0, Wmax=100.0, mu=1.0):
    return Wmax * max(0.0, w / Wmax - alpha * lam * (w / Wmax) ** mu * k)


def test_stdp_synapse_hand_computed():
    """Pre at 10 and 30 ms, post at 20 ms, d = 1 ms: the first pre spike changes nothing
    (no post spike yet, K+ = 0); the second facilitates by the post spike with
    K+ = e^{-(20 + 1 - 10)/20} and depresses with K- = e^{-(29 - 20)/20}."""
    w, *_ = _pair("stdp_synapse", [10.0, 30.0], [20.0], lam=0.1, alpha=0.5)
    expect = _dep(_fac(1.0, math.exp(-11 / 20), lam=0.1), math.exp(-9 / 20), lam=0.1, alpha=0.5)
    assert w == pytest.approx(expect, rel=1e-6)


def test_equal_times_and_dendritic_delay_edges():
    """A post spike exactly at t_pre - d facilitates (the window's right end is inclusive)
    but does not depress (the trace is read strictly before); one exactly at t_last - d
    belongs to the earlier pre spike's window."""
    d = 2.0
    # post at 8 = 10 - d (first pre's window end), post at 28 = 30 - d (second's)
    w, *_ = _pair("stdp_synapse", [10.0, 30.0], [8.0, 28.0], delay=d, lam=0.1)
    k_plus = 1.0  # after the pre spike at 10
    w1 = _dep(1.0, 0.0, lam=0.1)  # 8 is not strictly before 10 - d: no depression
    w2 = _fac(w1, k_plus * math.exp((10 - 28 - d) / 20), lam=0.1)  # 8 is not in (8, 28]
    w2 = _dep(w2, math.exp((8 - 28) / 20), lam=0.1)  # only 8 is strictly before 28
    assert w == pytest.approx(w2, rel=1e-6)
    # nearest neighbour, symmetric: every window post spike facilitates with e^{-dt/tau+}
    w, *_ = _pair("stdp_nn_symm_synapse", [10.0, 30.0], [8.0, 28.0], delay=d, lam=0.1)
    w1 = _dep(_fac(1.0, math.exp((0 - 8 - d) / 20), lam=0.1), 0.0, lam=0.1)
    w2 = _dep(_fac(w1, math.exp((10 - 28 - d) / 20), lam=0.1), math.exp((8 - 28) / 20), lam=0.1)
    assert w == pytest.approx(w2, rel=1e-6)


@pytest.mark.parametrize(
    ("model", "params"),
    [(m, {"lambda": 0.05}) for m in STDP_MODELS]
    + [("stdp_synapse", {"mu_plus": 0.0, "mu_minus": 0.0, "alpha": 1.2, "Wmax": 5.0}),
       ("stdp_synapse", {"mu_plus": 0.4, "mu_minus": 0.6, "tau_plus": 12.0, "Kplus": 0.5})],
    ids=[*STDP_MODELS, "additive", "power-law"],
)  # fmt: skip
def test_rules_follow_nests_algorithm(model, params, rng):
    """Random trains (post spikes also at pre spike times and at t_pre - d), each rule:
    every update as NEST's algorithm in float64."""
    pre = np.unique(np.round(rng.uniform(3.0, 300.0, 30), 1))
    post = np.unique(np.concatenate([np.round(rng.uniform(3.0, 300.0, 40), 1), pre[5:10] - 1.5,
                                     pre[10:13] + 0.0]))  # fmt: skip
    post = post[np.concatenate([[True], np.diff(post) >= 0.6])]  # the cell's refractoriness
    w, spec, _ = _pair(model, pre, post, delay=1.5, **params)
    assert w == pytest.approx(reference(model, spec, pre, post, 1.5)[-1], rel=2e-5, abs=1e-5)


def test_weight_recorder_records_every_transmitted_weight():
    """NEST's weight_recorder: one event per presynaptic spike through a recorded synapse,
    at the spike's time, with the weight it transmitted (NEST's algorithm in float64);
    start/stop and n_events = 0 as for the other recorders."""
    pre, post = [5.0, 9.0, 20.0, 33.3, 41.0], [7.0, 15.0, 30.0]
    sim = Simulator(H, seed=1)
    wr = sim.create("weight_recorder", 1, {"start": 8.0})
    g = [sim.create("spike_generator", 1, {"spike_times": np.asarray(t) - 1.0})
         for t in (pre, post)]  # fmt: skip
    par = sim.create("parrot_neuron")
    cell = sim.create("iaf_psc_delta", 1, {"V_th": 1e4})
    sim.connect(g[0], par)
    sim.connect(g[1], cell, syn_spec={"weight": 1e5})
    spec = {**SYNAPSE_DEFAULTS["stdp_synapse"], "weight": 10.0, "delay": 1.0, "lambda": 0.1}
    sim.connect(par, cell, syn_spec={**spec, "synapse_model": "stdp_synapse",
                                     "weight_recorder": wr})  # fmt: skip
    symm = {k: v for k, v in spec.items() if k != "Kplus"}  # not recorded
    sim.connect(par, cell, syn_spec={**symm, "synapse_model": "stdp_nn_symm_synapse"})
    sim.simulate(45.0)
    ev = sim.events(wr[0])
    np.testing.assert_allclose(ev["times"], pre[1:])  # start = 8 ms
    assert np.all(ev["senders"] == par[0]) and np.all(ev["targets"] == cell[0])
    expect = reference("stdp_synapse", {**spec, "weight_recorder": None}, pre, post, 1.0)
    np.testing.assert_allclose(ev["weights"], expect[1:], rtol=1e-6)
    assert sim.get(wr, "n_events") == [4]
    sim.set(wr, {"n_events": 0})
    assert sim.get(wr, "n_events") == [0]
    with pytest.raises(ValueError, match="weight_recorder"):
        sim.connect(par, cell, syn_spec={"synapse_model": "stdp_synapse", "weight_recorder": par})


def test_short_history_grows_and_the_result_stays_exact():
    """With room for 2 spikes per neuron, 12 post spikes between two pre spikes: the run
    grows the history (re-running the chunk) instead of missing a pairing."""
    pre, post = [5.0, 60.0], list(np.arange(10.0, 58.0, 4.0))
    w, spec, sim = _pair("stdp_synapse", pre, post, history=2, lam=0.1)
    assert sim._built["layout"].H >= 16
    assert w == pytest.approx(reference("stdp_synapse", spec, pre, post, 1.0)[-1], rel=1e-5)


def _recurrent(devices=1, exchange="all_gather", placement="round_robin", seed=5, model=None,
               native_plastic=False, native=None):  # fmt: skip
    """A small recurrent network with two plastic E -> E projections; with
    ``native_plastic`` one ``tau_minus`` for all and no weight recorder, so that the native
    kernel updates both (otherwise the pure-JAX path)."""
    sim = Simulator(
        H, seed=seed, devices=devices, exchange=exchange, placement=placement, native=native
    )
    tau_minus = 20.0 if native_plastic else 30.0  # the I cells keep NEST's 20 ms
    exc = sim.create("iaf_psc_alpha", 40, {"I_e": 300.0, "tau_minus": tau_minus,
                                           "V_m": nest.random.uniform(-70.0, -55.0)})  # fmt: skip
    inh = sim.create("iaf_psc_alpha", 10, {"I_e": 300.0})
    pg = sim.create("poisson_generator", 1, {"rate": 4000.0})
    wr = sim.create("weight_recorder")
    sim.connect(pg, np.concatenate([exc, inh]), syn_spec={"weight": 30.0})
    for i, m in enumerate(model or STDP_MODELS[:2]):
        sim.connect(
            exc,
            exc,
            {"rule": "pairwise_bernoulli", "p": 0.3, "allow_autapses": False},
            {
                "synapse_model": m,
                "weight": nest.random.uniform(20.0, 60.0),
                "delay": nest.random.uniform(0.5, 3.0),
                "lambda": nest.random.uniform(0.02, 0.08) if i else 0.05,
                "mu_plus": 0.0,
                "Wmax": 150.0,
                "weight_recorder": None if i or native_plastic else wr,
            },
        )
    sim.connect(exc, inh, {"rule": "fixed_indegree", "indegree": 10}, {"weight": 40.0})
    sim.connect(inh, exc, {"rule": "fixed_indegree", "indegree": 5},
                {"weight": -80.0, "delay": 1.0})  # fmt: skip
    rec = sim.create("spike_recorder")
    sim.connect(np.concatenate([exc, inh]), rec)
    return sim, np.concatenate([rec, wr])  # the spike and the weight recorder


def _weights(sim):
    where = sim.connections()
    return where["source"], where["target"], sim.synapse_values(where, "weight")


def test_plastic_network_is_identical_on_any_split():
    ref, rec = _recurrent()
    ref.simulate(150.0)
    events = ref.events(rec[0])
    src, tgt, w = _weights(ref)
    assert len(events["times"]) > 200 and np.std(w) > 1.0  # spiking, weights spread
    for devices, exchange, placement in [(2, "all_to_all", "block"),
                                         (4, "point_to_point", "round_robin"),
                                         (8, "all_gather", "partition")]:  # fmt: skip
        sim, rec = _recurrent(devices, exchange, placement)
        sim.simulate(150.0)
        got = sim.events(rec[0])
        assert np.array_equal(got["senders"], events["senders"]), devices
        assert np.array_equal(got["times"], events["times"]), devices
        s2, t2, w2 = _weights(sim)
        assert np.array_equal(s2, src) and np.array_equal(t2, tgt)
        assert np.array_equal(w2, w), devices
        for key, value in ref.events(rec[1]).items():  # the weight_recorder
            assert len(value) > 1000 and np.array_equal(sim.events(rec[1])[key], value), key


def test_native_plastic_network_is_identical_on_any_split():
    """The native plastic kernel (one tau_minus, no weight recorder): the same spikes and
    weights on 1, 2 and 4 devices and threads; within float32 rounding of the pure path's
    weights over a few blocks (the same algorithm); a tau_minus set to differ afterwards
    moves the run back to the pure path."""
    ref, rec = _recurrent(native_plastic=True)
    ref.simulate(150.0)
    assert all(ref._built["layout"].plastic_native)
    events = ref.events(rec[0])
    src, _, w = _weights(ref)
    assert len(events["times"]) > 200 and np.std(w) > 1.0
    for devices, exchange, placement in [(2, "all_to_all", "block"),
                                         (4, "point_to_point", "round_robin")]:  # fmt: skip
        sim, rec = _recurrent(devices, exchange, placement, native_plastic=True)
        sim.simulate(150.0)
        assert np.array_equal(sim.events(rec[0])["times"], events["times"]), devices
        assert np.array_equal(sim.events(rec[0])["senders"], events["senders"]), devices
        assert np.array_equal(_weights(sim)[2], w), devices
    pure, _ = _recurrent(native_plastic=True, native=False)
    pure.simulate(20.0)
    short, _ = _recurrent(native_plastic=True)
    short.simulate(20.0)
    np.testing.assert_allclose(_weights(short)[2], _weights(pure)[2], rtol=1e-5)
    assert not np.array_equal(_weights(short)[2], _weights(pure)[2])  # not bit for bit
    exc = np.unique(src)[:1]
    short.set(exc, {"tau_minus": 25.0})
    assert short._built["layout"].plastic_native == ()
    short.simulate(20.0)  # the pure path, no error


def _plastic_block(rng, mu: float):
    """Random arguments of ``deliver_plastic`` after the model (a block of 5 steps, 50
    sources x 20 synapses onto 40 targets, per-synapse learning rates, ``mu_plus =
    mu_minus = mu``, a multiplicity, a source that spikes twice), and ``K`` for its tables."""
    from snnjax.sim._delivery import DeviceCSR
    from snnjax.sim._plastic import PlasticArrays, PlasticState, PostHistory
    from snnjax.sim._stdp import StdpParams

    n_src, n, m, D, Hh, deg, t0 = 50, 40, 5, 30, 8, 20, 1000
    src = np.repeat(np.arange(n_src), deg)
    tgt, dl = rng.integers(0, n, src.size), rng.integers(m, D - m, src.size)
    order = np.lexsort((tgt, dl, src))
    tgt, dl = tgt[order], dl[order]
    csr = DeviceCSR(jnp.asarray(np.arange(n_src + 1, dtype=np.int32) * deg),
                    jnp.asarray((tgt | (dl << 8)).astype(np.uint32).view(np.int32)),
                    jnp.zeros(0, jnp.float32), jnp.asarray(np.int32(8)),
                    jnp.zeros(0, jnp.int32))  # fmt: skip
    h_tau = np.float32(H / 20.0)
    lam = jnp.asarray(rng.uniform(0.01, 0.1, src.size), jnp.float32)
    params = StdpParams(jnp.full(1, h_tau), lam,
                        *(jnp.full(1, np.float32(v)) for v in (1.1, mu, mu, 0.2)))  # fmt: skip
    state = PlasticState(*(jnp.asarray(x) for x in (
        rng.uniform(0.0, 0.2, src.size).astype(np.float32),
        rng.uniform(0.0, 3.0, src.size).astype(np.float32) * (rng.random(src.size) > 0.1),
        rng.integers(t0 - 400, t0 - 1, src.size).astype(np.int32),
        rng.integers(0, 5, src.size).astype(np.int32))))  # fmt: skip
    post = PostHistory(*(jnp.asarray(x) for x in (
        np.sort(rng.integers(t0 - 600, t0 - 1, (n, Hh)), axis=1).astype(np.int32),
        rng.uniform(0.0, 3.0, (n, Hh)).astype(np.float32),
        rng.integers(5, 12, n).astype(np.int32), rng.integers(5, 12, (D, n)).astype(np.int32),
        np.where(rng.random((D, n)) < 0.9, rng.integers(t0 - 600, t0 - 40, (D, n)),
                 -(2**30)).astype(np.int32),
        rng.uniform(0.0, 3.0, (D, n)).astype(np.float32))))  # fmt: skip
    spikes = np.zeros((m, n_src), np.float32)
    spikes[rng.integers(0, m, 30), rng.choice(n_src, 30, replace=False)] = 1.0
    spikes[0, 3], spikes[2, 7], spikes[4, 7] = 2.0, 1.0, 1.0  # a multiplicity; 7 spikes twice
    flat = jnp.asarray(spikes).reshape(-1)
    (index,) = jnp.nonzero(flat, size=64, fill_value=0)
    count = jnp.where(jnp.arange(64) < jnp.count_nonzero(flat), flat[index], 0.0)
    args = (jnp.zeros((2, D, n), jnp.float32), PlasticArrays(csr, params), state, post,
            jnp.full(n, h_tau), jnp.asarray(spikes), index.astype(jnp.int32), count,
            jnp.int32(t0))  # fmt: skip
    return args, math.ceil(88.0 / float(h_tau)) + 1


@pytest.mark.parametrize("model", STDP_MODELS)
def test_native_plastic_kernel_matches_the_pure_update(model, rng):
    """One block through deliver_plastic, natively and in pure JAX, from the same random
    state and histories (mu 0, 1 and 0.4): the same traces, last spikes, pairings and lost
    updates; weights and ring within float32 rounding."""
    from snnjax.sim._plastic import deliver_plastic

    for mu in (0.0, 1.0, 0.4):
        args, K = _plastic_block(rng, mu)
        (ring_p, st_p, lost_p, _, _), (ring_n, st_n, lost_n, _, _) = (
            jax.jit(functools.partial(deliver_plastic, model, tile=256, native=tables,
                                      threads=2))(*args)
            for tables in (None, (K, K))
        )  # fmt: skip
        assert int(lost_n) == int(lost_p)
        for name in ("kplus", "tlast", "seen"):
            assert np.array_equal(getattr(st_n, name), getattr(st_p, name)), (mu, name)
        np.testing.assert_allclose(st_n.weight, st_p.weight, rtol=2e-6, atol=1e-9)
        np.testing.assert_allclose(ring_n, ring_p, rtol=2e-6, atol=1e-8)
        assert not np.array_equal(st_n.weight, args[2].weight)  # the weights moved


@pytest.mark.parametrize("static", [False, True])
def test_histories_keep_each_neurons_last_spikes(static):
    """record_post with more spikes of one neuron in a block than the history holds (a
    multiplicity of 10, then one more spike, H = 4): the last four, with NEST's K_-."""
    from snnjax.sim._plastic import empty_history, record_post

    H, D, t0, h_tau = 4, 8, 16, 0.1
    spikes = np.zeros((3, 2), np.float32)
    spikes[0, 0], spikes[1, 0], spikes[2, 1] = 10.0, 1.0, 1.0
    post = jax.tree.map(jnp.asarray, empty_history(2, H, D))
    out = jax.jit(functools.partial(record_post, cap=6, static=static))(
        post, jnp.asarray(spikes), jnp.int32(t0), jnp.full(2, h_tau, jnp.float32)
    )
    assert np.asarray(out.total).tolist() == [11, 1]
    # ordinal o at o % H: 7, 8, 9 of step t0 (K_- = 8, 9, 10), 10 of step t0 + 1
    assert np.asarray(out.step[0]).tolist() == [t0, t0, t0 + 1, t0]
    k10 = 10.0 * np.exp(-h_tau) + 1.0
    np.testing.assert_allclose(out.k_at[0], [9.0, 10.0, k10, 8.0], rtol=1e-6)
    assert np.asarray(out.step[1]).tolist()[0] == t0 + 2


@pytest.mark.parametrize("devices", [1, 2])
def test_functional_runs_with_plastic_synapses(devices):
    """functional(): the spikes and final plastic weights of Simulate bit for bit, rule
    parameters under vmap (each instance = run alone), gradients through the rule; reverse
    mode raises with ``max_synapses=0`` (dynamic loops)."""
    from snnjax.sim import functional

    ref, rec = _recurrent(devices)
    fn = functional(ref)
    assert len(fn.params.plastic) == 2 and set(fn.params.plastic[0]) >= {"lam", "Wmax"}
    state, trace = fn.run(fn.params, fn.state, 1000)
    ref.simulate(100.0)
    events = ref.events(rec[0])
    steps, cols = np.nonzero(np.asarray(trace.spikes))
    got = sorted(zip(np.round((steps + 1) * H, 6), fn.neuron_ids[cols], strict=True))
    assert got == sorted(zip(np.round(events["times"], 6), events["senders"], strict=True))
    for a, b in zip(state.sim.plastic, ref.state.plastic, strict=True):
        assert np.array_equal(np.asarray(a.weight), np.asarray(b.weight))
    assert np.std(np.asarray(state.sim.plastic[0].weight)) > 1.0  # the weights moved

    def final_weights(scale):  # the first projection's learning rate scaled
        q = fn.params
        q = q._replace(plastic=({**q.plastic[0], "lam": q.plastic[0]["lam"] * scale},
                                q.plastic[1]))  # fmt: skip
        return fn.run(q, fn.state, 400)[0].sim.plastic[0].weight

    scales = jnp.asarray([0.5, 2.0])
    batched = jax.vmap(final_weights)(scales)
    for b, x in enumerate(scales):
        assert np.array_equal(np.asarray(batched[b]), np.asarray(final_weights(x)))
    assert not np.array_equal(np.asarray(batched[0]), np.asarray(batched[1]))
    g = jax.grad(lambda q: jnp.sum(fn.run(q, fn.state, 200)[0].sim.plastic[0].weight))(fn.params)
    for name in ("lam", "alpha", "Wmax", "h_tau_plus"):
        assert np.isfinite(g.plastic[0][name]).all() and np.all(g.plastic[0][name] != 0), name
    dynamic = functional(ref, max_synapses=0)
    with pytest.raises(NotImplementedError, match="gradients through plastic synapses"):
        jax.grad(lambda w: dynamic.run(dynamic.params._replace(weight=w), dynamic.state, 30)[
            1].spikes.sum())(dynamic.params.weight)  # fmt: skip


def test_gradients_through_plastic_synapses_match_finite_differences():
    """d(sum of a projection's final weights) / d(its rule parameters and initial weights)
    in float64 with the exact spike derivative: autodiff = central finite differences at
    steps that move no spike."""
    from snnjax.sim import functional
    from snnjax.sim.models import step_precision

    ref, _ = _recurrent()
    fn = functional(ref, surrogate="exact", native=False)  # the kernels are float32
    names = ("lam", "alpha", "Wmax", "h_tau_plus")
    with jax.enable_x64(True), step_precision(jnp.float64):
        q0, s0 = jax.tree.map(
            lambda x: x.astype(jnp.float64) if jnp.issubdtype(x.dtype, jnp.floating) else x,
            (fn.params, fn.state),
        )

        def run(theta):  # log-scales of the rule's parameters and of the initial weights
            rule = {**q0.plastic[0], **{n: q0.plastic[0][n] * jnp.exp(theta[k])
                                        for k, n in enumerate(names)}}  # fmt: skip
            first = s0.sim.plastic[0]
            sim = s0.sim._replace(plastic=(first._replace(
                weight=first.weight * jnp.exp(theta[-1])), *s0.sim.plastic[1:]))  # fmt: skip
            state, trace = fn.run(q0._replace(plastic=(rule, *q0.plastic[1:])),
                                  s0._replace(sim=sim), 200)  # fmt: skip
            return jnp.sum(state.sim.plastic[0].weight), trace.spikes

        theta = jnp.zeros(len(names) + 1, jnp.float64)
        grad = np.asarray(jax.grad(lambda th: run(th)[0])(theta))
        base = np.asarray(run(theta)[1])
        assert base.sum() > 100 and np.all(grad != 0)  # the weights move with the spikes
        for k in range(len(theta)):
            h = 1e-6
            while not all(np.array_equal(np.asarray(run(theta.at[k].set(s * h))[1]), base)
                          for s in (1.0, -1.0)):  # fmt: skip
                h /= 10.0
                assert h > 1e-10, f"every step moves a spike ({k})"
            fd = (float(run(theta.at[k].set(h))[0]) - float(run(theta.at[k].set(-h))[0])) / (2 * h)
            assert abs(grad[k] - fd) <= 1e-6 * abs(fd), (k, grad[k], fd)


def test_functional_plastic_history_overflow_raises():
    from snnjax.sim import functional

    sim, _ = _recurrent()
    sim.stdp_history = 1
    fn = functional(sim)
    with pytest.raises(Exception, match="spike history overflow"):
        jax.block_until_ready(fn.run(fn.params, fn.state, 1500))


def test_random_rule_parameters_are_drawn_per_synapse_and_checked():
    sim, _ = _recurrent()
    sim.prepare()
    where = sim.connections()
    with pytest.raises(ValueError, match="not a parameter"):
        sim.synapse_values(where, "lambda")  # the static synapses have none
    where = _only(where, where["label"] != "static_synapse")
    symm = where["label"] == "stdp_nn_symm_synapse"
    lam = sim.synapse_values(where, "lambda")
    assert np.all(lam[~symm] == 0.05)  # as given (NEST reports doubles)
    assert lam[symm].min() >= 0.02 and lam[symm].max() <= 0.08 and np.std(lam[symm]) > 0.01
    with pytest.raises(ValueError, match="not a parameter"):
        sim.synapse_values(where, "Kplus")  # the nn synapses have none
    bad = Simulator(H)
    pop = bad.create("iaf_psc_alpha", 20)
    bad.connect(pop, pop, syn_spec={"synapse_model": "stdp_synapse", "weight": 1.0,
                                    "tau_plus": nest.random.normal(5.0, 10.0)})  # fmt: skip
    with pytest.raises(ValueError, match=r"Connect call 0 .*`tau_plus` must lie in"):
        bad.prepare()
    assert bad._built is None


def test_checkpoint_restore_with_plasticity(tmp_path):
    """60 ms, checkpoint, restore on 4 devices, 60 ms more: the weights, traces and spikes
    of an uninterrupted 120 ms run."""
    ref, rec = _recurrent()
    ref.simulate(120.0)
    first, _ = _recurrent()
    first.simulate(60.0)
    first.checkpoint(tmp_path / "ck")
    sim, rec2 = _recurrent(devices=4)
    sim.restore(tmp_path / "ck")
    sim.simulate(60.0)
    for key in ("senders", "times"):
        assert np.array_equal(sim.events(rec2[0])[key], ref.events(rec[0])[key])
    for key, value in ref.events(rec[1]).items():  # the weight_recorder's, from 0
        assert np.array_equal(sim.events(rec2[1])[key], value), key
    for a, b in zip(_weights(sim), _weights(ref), strict=True):
        assert np.array_equal(a, b)
    assert np.array_equal(_kplus(sim), _kplus(ref))


def _only(where, keep):
    return {k: v if k == "version" else v[keep] for k, v in where.items()}


def _kplus(sim):
    where = sim.connections()
    return sim.synapse_values(_only(where, where["label"] == "stdp_synapse"), "Kplus")


def test_rebuild_after_connect_keeps_the_plastic_state():
    sim, _ = _recurrent()
    sim.simulate(50.0)
    before = _weights(sim)
    history = np.asarray(sim.state.post.step).copy()
    new = sim.create("iaf_psc_alpha", 3)
    sim.connect(new, new, syn_spec={"synapse_model": "stdp_synapse", "weight": 5.0})
    sim.prepare()  # rebuilt with the new neurons and synapses
    _, tgt, w = _weights(sim)
    old = ~np.isin(tgt, new)
    assert np.array_equal(w[old], before[2]) and np.all(w[~old] == 5.0)
    assert np.array_equal(np.asarray(sim.state.post.step)[: history.shape[0]], history)
    sim.simulate(20.0)


def test_facade_copy_model_set_defaults_and_get_connections():
    nest.ResetKernel()
    nest.CopyModel("stdp_synapse", "my_stdp", {"lambda": 0.02, "Wmax": 80.0})
    nest.SetDefaults("my_stdp", {"alpha": 1.1})
    assert nest.GetDefaults("my_stdp", ("lambda", "alpha", "Wmax", "tau_plus")) == (
        0.02, 1.1, 80.0, 20.0)  # fmt: skip
    pop = nest.Create("iaf_psc_alpha", 6, {"I_e": 400.0})
    nest.Connect(pop[:3], pop[3:], "all_to_all", {"synapse_model": "my_stdp", "weight": 40.0})
    nest.Connect(pop[3:], pop[:3], "all_to_all", {"weight": 10.0})
    nest.Simulate(200.0)
    conns = nest.GetConnections(synapse_model="my_stdp")
    assert len(conns) == 9 and set(conns.get("synapse_model")) == {"my_stdp"}
    w = conns.get("weight")
    assert np.all(w != 40.0) and np.all((w > 0) & (w <= 80.0))
    assert np.all(conns.get("Wmax") == 80.0) and np.all(conns.get("alpha") == 1.1)
    conns.set(weight=12.0)
    assert np.all(nest.GetConnections(synapse_model="my_stdp").get("weight") == 12.0)
    static = nest.GetConnections(synapse_model="static_synapse")
    assert len(static) == 9 and np.all(static.get("weight") == 10.0)
    with pytest.raises(ValueError, match="delays of plastic synapses"):
        conns.set(delay=2.0)
    with pytest.raises(ValueError, match="same sign"):
        conns.set(weight=-1.0)
    nest.Simulate(10.0)


@pytest.mark.parametrize(
    ("spec", "match"),
    [({"Wmax": -10.0}, "same sign"), ({"tau_plus": -1.0}, "tau_plus"),
     ({"lambda": -0.1}, "lambda"), ({"alpha": -1.0}, "alpha"), ({"mu_plus": -1.0}, "mu_plus"),
     ({"Wmax": 0.0}, "Wmax"), ({"Kplus": -1.0}, "Kplus"), ({"tau_minus": 3.0}, "syn_spec key"),
     ({"lambda": [0.1, 0.2]}, "must be a number or a random parameter"),
     ({"synapse_model": "stdp_triplet_synapse"}, "synapse_model")],
)  # fmt: skip
def test_bad_parameters_name_the_argument_and_change_nothing(spec, match):
    sim = Simulator(H)
    pop = sim.create("iaf_psc_alpha", 3)
    with pytest.raises(ValueError, match=match):
        sim.connect(pop, pop, syn_spec={"synapse_model": "stdp_synapse", "weight": 5.0, **spec})
    assert sim.projections == []
    with pytest.raises(ValueError, match="tau_minus"):
        sim.set(pop, {"tau_minus": 0.0})
    assert sim.get(pop, "tau_minus") == [20.0] * 3
    nest.ResetKernel()
    with pytest.raises(ValueError, match="lambda"):
        nest.CopyModel("stdp_synapse", "bad", {"lambda": -1.0})
    with pytest.raises(ValueError, match="stdp_synapse parameter"):
        nest.SetDefaults("stdp_synapse", {"lamda": 0.1})
    assert nest.GetDefaults("stdp_synapse", "lambda") == 0.01


def test_connectivity_bytes_per_plastic_synapse():
    sim = Simulator(H)
    pop = sim.create("iaf_psc_alpha", 100)
    sim.connect(pop, pop, syn_spec={"synapse_model": "stdp_synapse", "weight": 5.0})
    sim.prepare()
    ptr = (pop.size + 1) * 8  # int64 row pointers of the static and the plastic CSR
    assert (sim.connectivity_bytes - 2 * ptr) / sim.n_synapses == 20  # 4 CSR + 16 state


# ------------------------------------------------------------------------------------------
# NEST 3.10 itself (make test-peers)
# ------------------------------------------------------------------------------------------
RULES = [(m, {}) for m in STDP_MODELS] + [("stdp_synapse", {"mu_plus": 0.0, "mu_minus": 0.0})]


def _nest_protocol(api, model, params, n_pre=20, n_post=5, seed=7, recorded=True):
    """Parrots replay fixed trains (~20 Hz) onto ``iaf_psc_alpha`` cells driven near
    threshold (I_e 350 pA; rheobase 375 pA), all to all through plastic synapses with
    delays of 0.5-3 ms per connection, recorded by a weight_recorder; 1 s. Returns the
    weights (by source, target), the cells' spikes (senders and steps, by step then
    sender) and the recorded events (senders, targets, steps, weights by step, sender,
    target). ``recorded=False``: no weight_recorder and NEST's default ``tau_minus`` for
    all, so that snnjax's native plastic kernel runs (no events then)."""
    rng = np.random.default_rng(seed)
    api.ResetKernel()
    api.resolution = H
    trains = [np.unique(np.round(rng.uniform(1.0, 1000.0, 20), 1)) for _ in range(n_pre)]
    gens = api.Create("spike_generator", n_pre)
    for g, times in zip(gens, trains, strict=True):
        g.set(spike_times=times)
    parrots = api.Create("parrot_neuron", n_pre)
    cells = api.Create(
        "iaf_psc_alpha", n_post, {"I_e": 350.0, "tau_minus": 25.0 if recorded else 20.0}
    )
    api.Connect(gens, parrots, "one_to_one")
    wr = api.Create("weight_recorder")
    api.CopyModel(model, "recorded", {"weight_recorder": wr} if recorded else {})
    spec = {"synapse_model": "recorded", "weight": 45.0, "Wmax": 120.0, "lambda": 0.05,
            **params}  # fmt: skip
    for cell in cells:  # one delay per connection
        delays = np.round(rng.uniform(0.5, 3.0, (1, n_pre)), 1)
        api.Connect(parrots, cell, "all_to_all", {**spec, "delay": delays})
    rec = api.Create("spike_recorder")
    api.Connect(cells, rec)
    api.Simulate(1000.0)
    conns = api.GetConnections(parrots, cells)
    src, tgt, w = (np.asarray(conns.get(k), float) for k in ("source", "target", "weight"))
    order = np.lexsort((tgt, src))
    ev = rec.get("events")
    steps, senders = np.round(np.asarray(ev["times"]) / H).astype(int), np.asarray(ev["senders"])
    by_time = np.lexsort((senders, steps))  # NEST lists a step's spikes in its own order
    wev = {k: np.asarray(v) for k, v in wr.get("events").items()}
    w_steps = np.round(wev["times"] / H).astype(int)
    w_order = np.lexsort((wev["targets"], wev["senders"], w_steps))
    recorded = np.stack([wev["senders"], wev["targets"], w_steps, wev["weights"]])[:, w_order]
    return w[order], senders[by_time], steps[by_time], recorded


@pytest.mark.peers
@pytest.mark.parametrize("recorded", [True, False], ids=["recorded", "native-kernel"])
@pytest.mark.parametrize(("model", "params"), RULES, ids=[*STDP_MODELS, "additive"])
def test_weights_and_spikes_as_nest(model, params, recorded):
    real = pytest.importorskip("nest")
    w_ref, s_ref, t_ref, rec_ref = _nest_protocol(real, model, params, recorded=recorded)
    w, s, t, rec = _nest_protocol(nest, model, params, recorded=recorded)
    assert len(t_ref) > 20 and np.std(w_ref) > 1.0  # the cells spike, the weights moved
    assert np.array_equal(s, s_ref) and np.array_equal(t, t_ref)
    np.testing.assert_allclose(w, w_ref, rtol=1e-4, atol=1e-3)
    # the weight_recorder: every transmitted weight, at the same times
    assert rec.shape == rec_ref.shape and np.array_equal(rec[:3], rec_ref[:3])
    np.testing.assert_allclose(rec[3], rec_ref[3], rtol=1e-4, atol=1e-3)


def test_plastic_brunel_script_same_spikes_under_mpirun(tmp_path):
    """``simulation/brunel_stdp.py`` on one process and on 2 and 4 MPI ranks: the same
    spikes; the summary has the E -> E weights at every snapshot, and the plots are written."""
    args = ["simulation/brunel_stdp.py", "--order", "40", "--simtime", "80", "--seed", "3",
            "--snapshots", "2"]  # fmt: skip
    out = {}
    for name, ranks in (("one", 0), ("mpi", 2), ("mpi4", 4)):
        flags = ["--out", str(tmp_path / f"{name}.json"), "--spikes-out",
                 str(tmp_path / f"{name}.npz")]  # fmt: skip
        if ranks:
            proc = _mpirun(ranks, *args, *flags, "--no-plot")
        else:
            proc = subprocess.run([sys.executable, *args, *flags], cwd=ROOT,
                                  capture_output=True, text=True)  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-3000:]
        out[name] = np.load(tmp_path / f"{name}.npz")
    assert len(out["one"]["times"]) > 100
    for key in ("senders", "times"):
        assert np.array_equal(out["one"][key], out["mpi"][key])
        assert np.array_equal(out["one"][key], out["mpi4"][key])
    summary = json.loads((tmp_path / "one.json").read_text())
    snaps = summary["weights"]["snapshots"]
    assert [s["t_ms"] for s in snaps] == [0.0, 40.0, 80.0]
    assert snaps[0]["std"] == 0.0 and snaps[-1]["std"] > 0.0
    assert sum(snaps[-1]["counts"]) == 160 * 16  # NE x CE plastic synapses
    assert (tmp_path / "one_weights.png").stat().st_size > 10_000


def test_weight_histogram_plot_checks_its_input(tmp_path):
    with pytest.raises(ValueError, match="snapshots"):
        weight_histogram_plot([], tmp_path / "w.png")
    with pytest.raises(ValueError, match="bins"):
        weight_histogram_plot([(0.0, np.ones(3))], tmp_path / "w.png", bins=0)
    weight_histogram_plot([(0.0, np.ones(3))], tmp_path / "w.png")
    assert (tmp_path / "w.png").exists()
