"""The first simulation engine: single neurons as the model alone, determinism, overflow,
and (opt-in) a small Brunel network against NEST."""

import numpy as np
import pytest

from snnjax import sim
from snnjax.sim._engine import Simulator


def _brunel(order=50, seed=1, **kw):
    NE, NI = 4 * order, order
    CE, CI = NE // 10, NI // 10
    tau_m, theta, J, g, eta, D = 20.0, 20.0, 0.1, 5.0, 2.0, 1.5
    rate = eta * theta / (J * CE * tau_m) * 1000.0 * CE
    s = Simulator(resolution=0.1, seed=seed, chunk=100, **kw)
    pars = dict(C_m=1.0, tau_m=tau_m, t_ref=2.0, E_L=0.0, V_reset=10.0, V_th=theta)
    e = s.create("iaf_psc_delta", NE, **pars)
    i = s.create("iaf_psc_delta", NI, **pars)
    noise = s.create("poisson_generator", rate=rate)
    rec = s.create("spike_recorder")
    both = np.concatenate([e, i])
    s.connect(noise, both, syn_spec={"weight": J, "delay": D})
    s.connect(e, both, {"rule": "fixed_indegree", "indegree": CE}, {"weight": J, "delay": D})
    s.connect(i, both, {"rule": "fixed_indegree", "indegree": CI}, {"weight": -g * J, "delay": D})
    s.connect(both, rec)
    return s, e, i, rec


def test_dc_driven_neuron_spikes_as_the_model_alone():
    s = Simulator(resolution=0.1)
    n = s.create("iaf_psc_exp", 3, I_e=np.array([300.0, 400.0, 500.0]))
    rec = s.create("spike_recorder")
    s.connect(n, rec)
    s.simulate(100.0)
    senders, times = s.spikes(rec)
    model = sim.get_model("iaf_psc_exp")
    params = model.params(I_e=np.array([300.0, 400.0, 500.0]))
    props, state = model.propagators(params, 0.1), model.init_state(params, 3)
    expected = []
    for k in range(1000):
        state, spk = model.step(props, params, state, np.zeros(3), np.zeros(3), np.zeros(3))
        expected += [(i, round((k + 1) * 0.1, 6)) for i in np.flatnonzero(np.asarray(spk))]
    got = sorted(zip(senders.tolist(), np.round(times, 6).tolist(), strict=True))
    assert got == sorted(expected) and len(got) > 0


def test_same_seed_same_spikes_and_growth_is_transparent():
    a, *_, rec_a = _brunel(seed=3)
    a.simulate(100.0)
    b, *_, rec_b = _brunel(seed=3, max_spikes=250, synapse_capacity=250 * 200)
    b.simulate(100.0)
    c, *_, rec_c = _brunel(seed=4)
    c.simulate(100.0)
    sa, ta = a.spikes(rec_a)
    sb, tb = b.spikes(rec_b)
    np.testing.assert_array_equal(sa, sb)
    np.testing.assert_array_equal(ta, tb)
    assert len(sa) > 100
    assert not np.array_equal(sa, c.spikes(rec_c)[0][: len(sa)])
    # 8 bytes per synapse plus one int64 row pointer per source in each of the two CSRs
    # (excitatory, inhibitory weights).
    assert a.connectivity_bytes == 8 * a.n_synapses + 2 * 8 * (a.n + 1)


def test_overflow_with_fixed_capacity_raises_with_the_need():
    s, *_ = _brunel(max_spikes=1, synapse_capacity=10)
    with pytest.raises(RuntimeError, match=r"spike buffer overflow .* needed \d+ spiking neurons"):
        s.simulate(50.0)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda s: s.create("iaf_cond_exp", 2), r"`model` must be one of 'iaf_psc_delta'"),
        (lambda s: s.create("iaf_psc_exp", 0), r"`n` must be a positive int"),
        (lambda s: s.create("poisson_generator", rates=5.0), r"`poisson_generator parameter`"),
        (
            lambda s: s.connect(s.create("iaf_psc_exp", 2), s.create("poisson_generator")),
            r"a poisson_generator cannot be a connection target",
        ),
        (lambda s: s.connect([0], [0], "all_to_all", {"weigth": 1.0}), r"`syn_spec key`"),
    ],
)
def test_bad_network_arguments(call, match):
    s = Simulator()
    s.create("iaf_psc_exp", 1)
    with pytest.raises(ValueError, match=match):
        call(s)


@pytest.mark.peers
def test_brunel_rates_match_nest():
    """Opt-in (``make test-peers``): the same Brunel network (order 250) in NEST 3.10."""
    nest = pytest.importorskip("nest")
    nest.ResetKernel()
    nest.SetKernelStatus({"resolution": 0.1, "rng_seed": 1})
    order, T = 250, 500.0
    NE, NI = 4 * order, order
    CE, CI = NE // 10, NI // 10
    J, g, D = 0.1, 5.0, 1.5
    pars = dict(C_m=1.0, tau_m=20.0, t_ref=2.0, E_L=0.0, V_reset=10.0, V_th=20.0)
    e = nest.Create("iaf_psc_delta", NE, params=pars)
    i = nest.Create("iaf_psc_delta", NI, params=pars)
    noise = nest.Create(
        "poisson_generator", params={"rate": 2.0 * 20.0 / (J * CE * 20.0) * 1e3 * CE}
    )
    rec = nest.Create("spike_recorder")
    nest.Connect(noise, e + i, syn_spec={"weight": J, "delay": D})
    nest.Connect(e, e + i, {"rule": "fixed_indegree", "indegree": CE}, {"weight": J, "delay": D})
    nest.Connect(
        i, e + i, {"rule": "fixed_indegree", "indegree": CI}, {"weight": -g * J, "delay": D}
    )
    nest.Connect(e + i, rec)
    nest.Simulate(T)
    senders = np.asarray(rec.get("events")["senders"])
    nest_rate = np.isin(senders, np.asarray(e.tolist())).sum() / NE / (T / 1000)
    s, e_ids, _, rec_ids = _brunel(order=order, seed=1)
    s.simulate(T)
    ours = np.isin(s.spikes(rec_ids)[0], e_ids).sum() / NE / (T / 1000)
    assert abs(ours - nest_rate) <= 0.05 * nest_rate, (ours, nest_rate)
