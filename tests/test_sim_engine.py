"""The simulator and its PyNEST facade: single neurons against the model alone and closed
forms, devices' timing, Poisson statistics, determinism, overflow, bad input, and (opt-in)
the same PyNEST scripts run by NEST 3.10."""

import numpy as np
import pytest

import snnjax.sim as nest
from snnjax import sim
from snnjax.sim import Simulator, _nest


def _brunel(nest, order=50, seed=1, max_spikes=None, T=100.0):
    """Brunel's network as NEST's brunel_delta example, written against the PyNEST API."""
    nest.ResetKernel()
    nest.SetKernelStatus({"resolution": 0.1, "rng_seed": seed})
    if max_spikes and nest.__name__ == "snnjax.sim":
        nest.max_spikes = max_spikes
    NE, NI = 4 * order, order
    CE, CI = NE // 10, NI // 10
    J, g = 0.1, 5.0
    pars = dict(C_m=1.0, tau_m=20.0, t_ref=2.0, E_L=0.0, V_reset=10.0, V_th=20.0, V_m=0.0)
    e = nest.Create("iaf_psc_delta", NE, params=pars)
    i = nest.Create("iaf_psc_delta", NI, params=pars)
    noise = nest.Create(
        "poisson_generator", params={"rate": 2.0 * 20.0 / (J * CE * 20.0) * 1e3 * CE}
    )
    rec = nest.Create("spike_recorder")
    nest.CopyModel("static_synapse", "excitatory", {"weight": J, "delay": 1.5})
    nest.Connect(noise, e + i, syn_spec="excitatory")
    nest.Connect(e, e + i, {"rule": "fixed_indegree", "indegree": CE}, "excitatory")
    nest.Connect(
        i, e + i, {"rule": "fixed_indegree", "indegree": CI}, {"weight": -g * J, "delay": 1.5}
    )
    nest.Connect(e + i, rec)
    nest.Simulate(T)
    ev = rec.get("events")
    return np.asarray(ev["senders"]), np.asarray(ev["times"]), np.asarray(e.tolist())


def test_dc_driven_neuron_spikes_as_the_model_alone():
    s = Simulator(resolution=0.1)
    n = s.create("iaf_psc_exp", 3, {"I_e": [300.0, 400.0, 500.0]})
    rec = s.create("spike_recorder")
    s.connect(n, rec)
    s.simulate(100.0)
    ev = s.events(rec[0])
    model = sim.get_model("iaf_psc_exp")
    params = model.params(I_e=np.array([300.0, 400.0, 500.0]))
    props, state = model.propagators(params, 0.1), model.init_state(params, 3)
    expected = []
    for k in range(1000):
        state, spk = model.step(props, params, state, np.zeros(3), np.zeros(3), np.zeros(3))
        expected += [(i + 1, round((k + 1) * 0.1, 6)) for i in np.flatnonzero(np.asarray(spk))]
    got = list(zip(ev["senders"].tolist(), np.round(ev["times"], 6).tolist(), strict=True))
    assert got == sorted(expected, key=lambda x: (x[1], x[0])) and len(got) > 0


def test_spike_generator_delay_and_multimeter_against_closed_form():
    """A spike at t_s with delay d moves V_m at t_s + d (NEST's timing); between input the
    membrane relaxes as exp(-t/tau_m): checked sample by sample."""
    nest.ResetKernel()
    nest.resolution = 0.1
    n = nest.Create("iaf_psc_delta", params={"E_L": -70.0, "V_m": -70.0, "tau_m": 10.0})
    sg = nest.Create("spike_generator", params={"spike_times": [5.0, 5.0, 7.3]})
    mm = nest.Create("multimeter", params={"record_from": ["V_m"], "interval": 0.1})
    nest.Connect(sg, n, syn_spec={"weight": 2.0, "delay": 1.0})
    nest.Connect(mm, n)
    nest.Simulate(12.0)
    ev = mm.get("events")
    t, v = ev["times"], ev["V_m"]
    np.testing.assert_allclose(t, np.arange(1, 121) * 0.1)
    expected = -70.0 + np.where(t >= 6.0 - 1e-9, 4.0 * np.exp(-(t - 6.0) / 10.0), 0.0)
    expected += np.where(t >= 8.3 - 1e-9, 2.0 * np.exp(-(t - 8.3) / 10.0), 0.0)
    np.testing.assert_allclose(v, expected, atol=1e-4)
    assert mm.get("n_events") == 120 and ev["senders"].tolist() == [n.global_id] * 120


def test_multimeter_interval_start_stop_and_recordables():
    nest.ResetKernel()
    n = nest.Create("iaf_psc_exp", 2, params={"I_e": 200.0})
    mm = nest.Create(
        "multimeter",
        params={"record_from": ["V_m", "I_syn_ex"], "interval": 0.5, "start": 1.0, "stop": 3.0},
    )
    nest.Connect(mm, n)
    with pytest.raises(ValueError, match=r"`record_from` \['U_m'\] not recordable"):
        nest.Connect(nest.Create("multimeter", params={"record_from": ["U_m"]}), n)
    nest.Simulate(5.0)
    ev = mm.get("events")  # NEST 3.10 samples the same times (start < t <= stop)
    assert np.allclose(np.unique(ev["times"]), [1.5, 2.0, 2.5, 3.0])
    assert ev["senders"].tolist() == [1, 2] * 4 and set(ev) == {
        "senders",
        "times",
        "V_m",
        "I_syn_ex",
    }


def test_dc_generator_window_and_weight_shift_the_plateau():
    """A dc_generator adds amplitude * weight to I_e from start + d (NEST's window rule):
    the plateau of iaf_psc_delta approaches E_L + R I (R = tau_m / C_m)."""
    nest.ResetKernel()
    n = nest.Create("iaf_psc_delta", 2, params={"V_th": 1e3, "V_m": -70.0})
    dc = nest.Create("dc_generator", params={"amplitude": 100.0, "start": 10.0, "stop": 500.0})
    nest.Connect(dc, n[1], syn_spec={"weight": 2.0, "delay": 0.5})
    mm = nest.Create("multimeter", params={"record_from": ["V_m"], "interval": 0.1})
    nest.Connect(mm, n)
    nest.Simulate(300.0)
    ev = mm.get("events")
    v1 = ev["V_m"][ev["senders"] == 2]
    t1 = ev["times"][ev["senders"] == 2]
    assert np.all(ev["V_m"][ev["senders"] == 1] == -70.0)
    R = 10.0 / 250.0  # GOhm: mV per pA
    # Sent from step T with start < (T + 2) h, in the slot of step T + d, driving V_m from
    # the step after: first visible at start + d + h = 10.6 ms.
    assert np.all(v1[t1 < 10.55] == -70.0) and v1[t1 > 10.55][0] > -70.0
    np.testing.assert_allclose(v1[-1], -70.0 + R * 200.0, atol=1e-3)


def test_poisson_generator_counts_are_poisson_and_chunking_invariant():
    """Poisson input seen through parrot neurons: mean and Fano factor of the counts, and
    identical spikes whatever the chunk size (input keyed by target and step)."""

    def run(chunk):
        s = Simulator(resolution=0.1, seed=7, chunk=chunk)
        parrots = s.create("parrot_neuron", 200)
        pg = s.create("poisson_generator", params={"rate": 500.0})
        rec = s.create("spike_recorder")
        s.connect(pg, parrots, syn_spec={"weight": 1.0, "delay": 0.2})
        s.connect(parrots, rec)
        s.simulate(400.0)
        return s.events(rec[0])

    a, b = run(1000), run(37)
    np.testing.assert_array_equal(a["senders"], b["senders"])
    np.testing.assert_array_equal(a["times"], b["times"])
    counts = np.bincount(a["senders"] - 1, minlength=200)  # over 0.4 s at 500 Hz: mean 200
    assert abs(counts.mean() - 200.0) < 4.0  # 4 standard errors (sqrt(200 / 200) = 1)
    assert 0.7 < counts.var() / counts.mean() < 1.3
    assert a["times"].min() >= 0.3 - 1e-9  # emitted at 0.1 at the earliest, delay 0.2


def test_same_seed_same_spikes_and_growth_is_transparent():
    sa, ta, _ = _brunel(nest, seed=3)
    sb, tb, _ = _brunel(nest, seed=3, max_spikes=1000)
    sc, _, _ = _brunel(nest, seed=4)
    np.testing.assert_array_equal(sa, sb)
    np.testing.assert_array_equal(ta, tb)
    assert len(sa) > 100
    assert not np.array_equal(sa[:100], sc[:100])
    # 8 bytes per synapse plus one int64 row pointer per source.
    s = _nest._kernel.sim
    assert nest.GetKernelStatus("connectivity_bytes") == 8 * s.n_synapses + 8 * (s.n_neurons + 1)
    assert nest.GetKernelStatus("num_connections") == s.n_synapses + 2 * 250
    assert nest.GetKernelStatus("min_delay") == pytest.approx(1.5)


def test_chunks_do_not_recompile():
    s = Simulator(resolution=0.1, seed=1, chunk=50)
    n = s.create("iaf_psc_exp", 10, {"I_e": 400.0})
    s.connect(n, n, {"rule": "fixed_indegree", "indegree": 3}, {"weight": 10.0, "delay": 1.0})
    s.prepare()
    compiled = dict(s._executables)
    s.run(20.0)
    s.run(20.0)
    assert s._executables == compiled and len(compiled) == 1


def test_overflow_with_fixed_capacity_raises_with_the_need():
    with pytest.raises(RuntimeError, match=r"spike buffer overflow .* max_spikes >= \d+"):
        _brunel(nest, max_spikes=2, T=50.0)


def test_node_collections_and_kernel_attributes():
    nest.ResetKernel()
    nest.rng_seed = 12
    assert nest.GetKernelStatus("rng_seed") == 12 and nest.resolution == 0.1
    a = nest.Create("iaf_psc_alpha", 5, params={"I_e": [0.0, 1.0, 2.0, 3.0, 4.0]})
    b = nest.Create("izhikevich", 2)
    assert (a + b).tolist() == [1, 2, 3, 4, 5, 6, 7] and a[1:3].tolist() == [2, 3]
    assert a[2].get("I_e") == 2.0 and a[::2].get("I_e") == (0.0, 2.0, 4.0)
    a[0].set(I_e=7.0)
    a.V_m = nest.random.uniform(min=-70.0, max=-60.0)
    assert a[0].I_e == 7.0 and all(-70 <= v < -60 for v in a.get("V_m"))
    assert a.get(["C_m", "tau_m"]) == {"C_m": (250.0,) * 5, "tau_m": (10.0,) * 5}
    with pytest.raises(ValueError, match=r"`C_m`"):
        a.set(C_m=[1.0, 1.0, -1.0, 1.0, 1.0])
    assert a.get("C_m") == (250.0,) * 5  # all or nothing
    assert nest.GetKernelStatus("network_size") == 7 and b.get("model") == ("izhikevich",) * 2
    nest.SetDefaults("iaf_psc_alpha", {"C_m": 100.0})
    nest.CopyModel("iaf_psc_alpha", "my_neuron", {"tau_m": 5.0})
    c = nest.Create("my_neuron")
    assert (c.C_m, c.tau_m, nest.GetDefaults("my_neuron", "tau_m")) == (100.0, 5.0, 5.0)
    with pytest.raises(ValueError, match=r"`resolution` cannot be changed after nodes"):
        nest.resolution = 0.2
    nest.ResetKernel()
    assert nest.GetKernelStatus("network_size") == 0 and nest.rng_seed == 143202461


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: nest.Create("iaf_cond_beta_x", 2), r"`model` must be one of 'iaf_psc_delta'"),
        (lambda: nest.Create("iaf_psc_exp", 0), r"`n` must be a positive int"),
        (lambda: nest.Create("iaf_psc_exp", 2, {"tau": 1.0}), r"`iaf_psc_exp parameter`"),
        (lambda: nest.Create("iaf_psc_exp", 2, {"C_m": -1.0}), r"`C_m`"),
        (
            lambda: nest.Create("poisson_generator", params={"rates": 5.0}),
            r"`poisson_generator parameter`",
        ),
        (lambda: nest.Create("poisson_generator", params={"rate": -5.0}), r"`rate`"),
        (
            lambda: nest.Create("spike_generator", params={"spike_times": [2.0, 1.0]}),
            r"`spike_times` must be sorted",
        ),
        (
            lambda: nest.Create("spike_generator", params={"spike_times": [1.05]}),
            r"multiples of the resolution",
        ),
        (lambda: nest.Create("multimeter", params={"interval": 0.05}), r"`interval`"),
        (
            lambda: nest.Connect(_n(), nest.Create("poisson_generator")),
            r"a poisson_generator cannot be a connection target",
        ),
        (lambda: nest.Connect(_n(), _n(), "all_to_all", {"weigth": 1.0}), r"`syn_spec key`"),
        (
            lambda: nest.Connect(_n(), _n(), "all_to_all", {"delay": 0.04}),
            r"`delay` must lie in \[resolution, .*\] = \[0.1, ",
        ),
        (lambda: nest.Connect(_n(), _n(), "all_to_all", {"delay": -1.0}), r"`delay` must lie in"),
        (
            lambda: nest.Connect(_n(), _n(), {"rule": "fixed_in", "indegree": 2}),
            r"`conn_spec rule` must be one of",
        ),
        (
            lambda: nest.Connect(_n(), _n(), "all_to_all", "stdp_triplet_synapse"),
            r"`synapse_model` must be one of",
        ),
        (
            lambda: nest.Connect(
                nest.Create("poisson_generator"), _n(), {"rule": "fixed_indegree", "indegree": 1}
            ),
            r"rule for a poisson_generator",
        ),
        (lambda: nest.Connect([1], _n()), r"`pre` must be a NodeCollection"),
        (lambda: nest.GetKernelStatus("resolutoin"), r"`kernel attribute` must be one of"),
    ],
)
def test_bad_input_names_the_argument(call, match):
    nest.ResetKernel()
    with pytest.raises(ValueError, match=match):
        call()
    assert _nest._kernel.sim._built is None  # nothing built


def _n():
    return nest.Create("iaf_psc_exp", 2)


# ----------------------------------------------------------------------- opt-in: NEST 3.10
def _single_neuron_script(nest, model):
    """One PyNEST script: DC steps and input spike trains into three neurons of ``model``."""
    nest.ResetKernel()
    nest.resolution = 0.1
    n = nest.Create(model, 3, params={"I_e": [0.0, 100.0, 420.0]})
    sg = nest.Create("spike_generator", params={"spike_times": [2.0, 5.0, 5.0, 7.3, 30.1]})
    dc = nest.Create("dc_generator", params={"amplitude": 300.0, "start": 10.0, "stop": 40.0})
    mm = nest.Create("multimeter", params={"record_from": ["V_m"], "interval": 0.1})
    rec = nest.Create("spike_recorder")
    scale = 0.01 if model == "iaf_psc_delta" else 1.0  # mV jumps vs pA currents
    nest.Connect(sg, n, syn_spec={"weight": 300.0 * scale, "delay": 1.0})
    nest.Connect(sg, n[2], syn_spec={"weight": -500.0 * scale, "delay": 2.3})
    nest.Connect(dc, n[:2], syn_spec={"weight": 1.0, "delay": 0.5})
    nest.Connect(mm, n)
    nest.Connect(n, rec)
    nest.Simulate(60.0)
    ev = mm.get("events")
    order = np.lexsort((ev["senders"], ev["times"]))
    return ev["times"][order], ev["V_m"][order], rec.get("events")


@pytest.mark.peers
@pytest.mark.parametrize("model", ["iaf_psc_delta", "iaf_psc_exp", "iaf_psc_alpha"])
def test_same_script_same_traces_as_nest(model):
    """The same PyNEST script on NEST 3.10 and on ``snnjax.sim``: V_m within 1e-4 mV,
    identical spike times (NEST's multimeter lags one min_delay: compare its samples)."""
    real = pytest.importorskip("nest")
    t_ref, v_ref, s_ref = _single_neuron_script(real, model)
    t, v, s = _single_neuron_script(nest, model)
    np.testing.assert_allclose(t[: len(t_ref)], t_ref)
    np.testing.assert_allclose(v[: len(v_ref)], v_ref, atol=1e-4)
    np.testing.assert_array_equal(s["senders"], s_ref["senders"])
    np.testing.assert_allclose(s["times"], s_ref["times"])
    assert len(s["times"]) >= 3


@pytest.mark.peers
def test_brunel_rates_match_nest():
    """The same Brunel script (order 250, 500 ms) on NEST 3.10 and snnjax: E rates within 5 %."""
    real = pytest.importorskip("nest")
    rates = []
    for backend in (real, nest):
        senders, _, e = _brunel(backend, order=250, seed=1, T=500.0)
        rates.append(np.isin(senders, e).sum() / len(e) / 0.5)
    assert abs(rates[1] - rates[0]) <= 0.05 * rates[0], rates


def test_poisson_generators_of_one_connect_are_independent():
    # Two generators connected all-to-all to one parrot: independent trains, so most steps
    # with a spike have exactly one (identical streams would give only pairs).
    sim = Simulator(0.1, seed=4)
    gens = sim.create("poisson_generator", 2, {"rate": 500.0})
    parrot = sim.create("parrot_neuron")
    rec = sim.create("spike_recorder")
    sim.connect(gens, parrot, "all_to_all", {"weight": 1.0, "delay": 1.0})
    sim.connect(parrot, rec)
    sim.simulate(2000.0)
    _, per_step = np.unique(sim.events(rec[0])["times"], return_counts=True)
    assert 1800 < per_step.sum() < 2200  # 2 x 500 Hz x 2 s
    assert np.mean(per_step == 1) > 0.9
