"""NEST workflows: changes between runs, GetConnections, spike_generator options, long
delays, and bad input that leaves the kernel intact (``snnjax.sim``)."""

import subprocess
import sys

import numpy as np
import pytest

import snnjax.sim as nest
from snnjax.sim import Simulator


def _net(devices=1, weight=-30.0, delay=None, seed=5):
    """Twenty iaf_psc_alpha neurons with Poisson and DC input and random inhibition."""
    sim = Simulator(0.1, seed=seed, devices=devices)
    n = sim.create("iaf_psc_alpha", 20, {"I_e": 300.0, "V_m": nest.random.uniform(-70.0, -55.0)})
    pg = sim.create("poisson_generator", 1, {"rate": 8000.0})
    dc = sim.create("dc_generator", 1, {"amplitude": 50.0})
    rec = sim.create("spike_recorder")
    mm = sim.create("multimeter", 1, {"record_from": ["V_m"], "interval": 0.1})
    sim.connect(pg, n, "all_to_all", {"weight": 20.0, "delay": 1.0})
    sim.connect(dc, n[:5], "all_to_all", {"weight": 1.0, "delay": 2.0})
    sim.connect(n, n, {"rule": "fixed_indegree", "indegree": 5},
                {"weight": weight, "delay": delay or nest.random.uniform(1.0, 3.0)})  # fmt: skip
    sim.connect(n, rec)
    sim.connect(mm, n)
    return sim, n, pg, dc, rec, mm


def _events(sim, rec, mm):
    ev, mv = sim.events(rec[0]), sim.events(mm[0])
    return ev["senders"], ev["times"], mv["V_m"]


def _equal(a, b) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_set_between_runs_equals_a_fresh_network_from_the_same_state(tmp_path):
    """Neuron parameters and state, generators: changed between runs without recompiling,
    bitwise what a fresh network restored at that time and changed there gives."""
    changes = [("n", {"I_e": 500.0, "V_m": -60.0, "E_L": -65.0}), ("pg", {"rate": 12000.0}),
               ("dc", {"amplitude": 80.0, "stop": 70.0})]  # fmt: skip
    sim, *nodes = _net()
    sim.simulate(50.0)
    sim.checkpoint(tmp_path)
    compiles = sim.stats["compiles"]
    for name, params in changes:
        node = dict(zip(("n", "pg", "dc"), nodes[:3], strict=True))[name]
        sim.set(node[:3] if name == "n" else node, params)
    assert sim.get(nodes[0][:3], "V_m") == [-60.0] * 3 and sim.get(nodes[0][:1], "E_L") == [-65.0]
    sim.simulate(50.0)
    assert sim.stats["compiles"] == compiles  # swapped arrays, same executable
    fresh, *fnodes = _net()
    fresh.prepare()
    fresh.restore(tmp_path)
    for name, params in changes:
        node = dict(zip(("n", "pg", "dc"), fnodes[:3], strict=True))[name]
        fresh.set(node[:3] if name == "n" else node, params)
    fresh.simulate(50.0)
    a, b = _events(sim, *nodes[3:]), _events(fresh, *fnodes[3:])
    assert len(a[1]) > 200 and _equal(a, b)


def test_changes_take_effect_as_in_nest():
    """What a generator emitted before a change is still in flight: a dc amplitude changed
    at 10 ms acts from 10 ms + delay, exactly as two generators with windows do; an E_L
    change keeps the absolute V_m (and V_th); spike times set later replace the train."""

    def run(split):
        sim = Simulator(0.1, seed=1)
        n = sim.create("iaf_psc_exp", 1)
        mm = sim.create("multimeter", 1, {"record_from": ["V_m"], "interval": 0.1})
        sg = sim.create("spike_generator", 1, {"spike_times": [2.0, 6.0] if split else
                                               [2.0, 6.0, 14.0]})  # fmt: skip
        sim.connect(mm, n)
        sim.connect(sg, n, "all_to_all", {"weight": 200.0, "delay": 1.0})
        if split:
            dc = sim.create("dc_generator", 1, {"amplitude": 100.0})
            sim.connect(dc, n, "all_to_all", {"weight": 1.0, "delay": 3.0})
            sim.simulate(10.0)
            sim.set(dc, {"amplitude": 300.0})
            sim.set(sg, {"spike_times": [14.0]})
            sim.simulate(10.0)
        else:
            dc = sim.create("dc_generator", 2, {"amplitude": 100.0})
            # NEST: a current generator is active in step t iff start < t + 2 <= stop, so the
            # step that emits at 9.9 ms (still before the change) needs stop = 10.1 here.
            sim.set(dc[:1], {"stop": 10.1})
            sim.set(dc[1:], {"amplitude": 300.0, "start": 10.1})
            sim.connect(dc, n, "all_to_all", {"weight": 1.0, "delay": 3.0})
            sim.simulate(20.0)
        return sim.events(mm[0])["V_m"]

    np.testing.assert_array_equal(run(True), run(False))
    sim = Simulator(0.1)
    n = sim.create("iaf_psc_delta", 1, {"V_m": -60.0})
    sim.simulate(1.0)
    before = sim.get(n, "V_m")[0]
    sim.set(n, {"E_L": -60.0, "V_th": -50.0})
    assert sim.get(n, "V_m")[0] == pytest.approx(before, abs=1e-5)


def test_a_poisson_generator_switched_on_between_runs():
    sim = Simulator(0.1, seed=3)
    pg = sim.create("poisson_generator", 2)  # rate 0
    parrot = sim.create("parrot_neuron", 2)
    rec = sim.create("spike_recorder")
    sim.connect(pg, parrot, "one_to_one", {"weight": 1.0, "delay": 2.0})
    sim.connect(parrot, rec)
    sim.simulate(50.0)
    compiles = sim.stats["compiles"]
    sim.set(pg[1:], {"rate": 2000.0, "stop": 80.0})
    sim.simulate(50.0)
    ev = sim.events(rec[0])
    assert sim.stats["compiles"] == compiles and set(ev["senders"]) == {parrot[1]}
    assert ev["times"].min() > 52.0 and ev["times"].max() <= 82.0 and len(ev["times"]) > 30


def test_recorders_change_between_runs():
    sim = Simulator(0.1)
    n = sim.create("iaf_psc_alpha", 2, {"I_e": 600.0})
    rec = sim.create("spike_recorder")
    sim.connect(n, rec)
    sim.simulate(100.0)
    first = sim.events(rec[0])["times"]
    sim.set(rec, {"stop": 150.0})  # applies to what is recorded from now on
    sim.simulate(100.0)
    times = sim.events(rec[0])["times"]
    assert np.array_equal(times[times <= 100.0], first) and times.max() <= 150.0
    assert sim.get(rec, "n_events") == [len(times)]
    sim.set(rec, {"n_events": 0, "stop": np.inf})
    sim.simulate(50.0)
    assert sim.events(rec[0])["times"].min() > 200.0
    with pytest.raises(ValueError, match=r"`n_events` can only be set to 0"):
        sim.set(rec, {"n_events": 3})


def test_create_and_connect_after_a_run_keep_state_and_spikes_in_flight():
    """A neuron that only receives (B) sees exactly the same input with or without nodes
    and connections added mid-run elsewhere; spikes in flight (delay 5 ms) arrive."""

    def run(grow, devices=1):
        sim = Simulator(0.1, seed=2, devices=devices)
        a = sim.create("iaf_psc_exp", 4, {"I_e": 600.0})
        b = sim.create("iaf_psc_exp", 1)
        mm = sim.create("multimeter", 1, {"record_from": ["V_m"], "interval": 0.1})
        sim.connect(a, b, "all_to_all", {"weight": 80.0, "delay": 5.0})
        sim.connect(mm, b)
        sim.simulate(23.4)  # spikes of a are in flight
        if grow:
            c = sim.create("iaf_psc_alpha", 3)
            sim.connect(a, c, "all_to_all", {"weight": 200.0, "delay": 0.5})  # shorter: new m
            rec = sim.create("spike_recorder")
            sim.connect(c, rec)
        sim.simulate(40.0)
        return sim.events(mm[0])["V_m"], (sim.events(rec[0])["times"] if grow else None)

    ref, _ = run(False)
    for devices in (1, 2):
        got, c_times = run(True, devices)
        np.testing.assert_array_equal(ref, got)
        assert len(c_times) and c_times.min() > 23.4


def test_get_connections_and_synapse_collection():
    def build(devices):
        nest.ResetKernel()
        nest.SetKernelStatus({"devices": devices, "rng_seed": 3})
        nest.CopyModel("static_synapse", "inh", {"weight": -2.0})
        e = nest.Create("iaf_psc_delta", 30)
        i = nest.Create("iaf_psc_delta", 10)
        nest.Connect(e, e + i, {"rule": "fixed_indegree", "indegree": 4},
                     {"weight": 0.5, "delay": nest.random.uniform(1.0, 2.0)})  # fmt: skip
        nest.Connect(i, e, {"rule": "fixed_indegree", "indegree": 2}, "inh")
        return e, i

    e, i = build(1)
    conns = nest.GetConnections()
    assert len(conns) == 40 * 4 + 30 * 2 == nest.GetKernelStatus("num_connections")
    got = conns.get(["source", "target", "weight", "delay", "synapse_model"])
    order = np.lexsort((got["delay"], got["target"], got["source"]))
    assert np.array_equal(order, np.arange(len(conns)))  # canonical order
    assert set(got["synapse_model"]) == {"static_synapse", "inh"}
    assert np.all((got["weight"] == -2.0) == np.isin(got["source"], i.tolist()))
    assert np.all((got["delay"] >= 1.0) & (got["delay"] <= 2.0))
    inh = nest.GetConnections(i, e[:5], synapse_model="inh")
    assert len(inh) == 10 and set(inh.get("target")) <= set(e[:5].tolist())
    with pytest.raises(ValueError, match=r"`source` must be neurons"):
        nest.GetConnections(nest.Create("poisson_generator"))
    build(4)
    got4 = nest.GetConnections().get(["source", "target", "weight", "delay"])
    assert all(np.array_equal(got[k], got4[k]) for k in got4)  # any split: the same list


MPI_SCRIPT = """
import sys
import numpy as np
import snnjax.sim as nest
nest.SetKernelStatus({"rng_seed": 11})
n = nest.Create("iaf_psc_delta", 60, {"I_e": 400.0, "V_m": nest.random.uniform(-70, -56)})
rec = nest.Create("spike_recorder")
nest.Connect(n, n, {"rule": "fixed_indegree", "indegree": 6}, {"weight": 0.2, "delay": 1.0})
nest.Connect(n, rec)
nest.Simulate(20.0)
conns = nest.GetConnections(n[:30])  # local: this rank's synapses, no collective call
conns.set(weight=conns.get("source") * 0.05 - 1.0)
assert np.allclose(conns.get("weight"), conns.get("source") * 0.05 - 1.0, rtol=1e-6)
nest.Simulate(40.0)
ev = rec.get("events")
if nest.Rank() == 0:
    np.savez(sys.argv[1], senders=ev["senders"], times=ev["times"], local=len(conns))
"""


def test_get_connections_under_mpirun_is_local_and_deadlock_free(tmp_path):
    from test_sim_distributed import ROOT, _mpirun

    script = tmp_path / "conns.py"
    script.write_text(MPI_SCRIPT)
    single = subprocess.run([sys.executable, str(script), str(tmp_path / "one.npz")], cwd=ROOT,
                            capture_output=True, text=True)  # fmt: skip
    assert single.returncode == 0, single.stderr[-3000:]
    proc = _mpirun(2, str(script), str(tmp_path / "two.npz"), timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    one, two = np.load(tmp_path / "one.npz"), np.load(tmp_path / "two.npz")
    assert 0 < int(two["local"]) < int(one["local"])  # rank 0 sees its share only
    assert len(one["times"]) > 100
    assert np.array_equal(one["senders"], two["senders"]) and np.array_equal(
        one["times"], two["times"]
    )


def _conn_run(set_after, weight=0.8, delay=1.5, devices=1):
    sim = Simulator(0.1, seed=8, devices=devices)
    n = sim.create("iaf_psc_delta", 40, {"I_e": 400.0, "V_m": nest.random.uniform(-70, -56)})
    rec = sim.create("spike_recorder")
    w, d = (0.3, 1.0) if set_after else (weight, delay)
    sim.connect(n, n, {"rule": "fixed_indegree", "indegree": 6}, {"weight": w, "delay": d})
    sim.connect(n, rec)
    if set_after:
        where = sim.connections()
        sim.set_synapses(where, "weight", weight)
        sim.set_synapses(where, "delay", delay)
        assert np.all(sim.synapse_values(where, "delay") == delay)
    sim.simulate(60.0)
    return sim.events(rec[0])["times"], sim.events(rec[0])["senders"]


@pytest.mark.parametrize("devices", [1, 2])
def test_synapse_set_equals_connecting_with_those_values(devices):
    ref = _conn_run(False)
    assert len(ref[0]) > 50
    assert _equal(ref, _conn_run(True, devices=devices))


def test_weights_changed_between_runs_and_kept_over_a_rebuild():
    sim = Simulator(0.1, seed=8)
    n = sim.create("iaf_psc_delta", 40, {"I_e": 400.0, "V_m": nest.random.uniform(-70, -56)})
    sim.connect(n, n, {"rule": "fixed_indegree", "indegree": 6}, {"weight": 0.3, "delay": 1.0})
    sim.simulate(10.0)
    where = sim.connections(source=n[:5])
    sim.set_synapses(where, "weight", np.arange(len(where["index"]), dtype=float))
    sim.create("iaf_psc_delta", 2)  # a rebuild carries the changed synapses over
    sim.simulate(10.0)
    where = sim.connections(source=n[:5])
    np.testing.assert_array_equal(
        sim.synapse_values(where, "weight"), np.arange(len(where["index"]))
    )
    with pytest.raises(ValueError, match=r"`weight` must be finite"):
        sim.set_synapses(where, "weight", np.nan)
    sim.create("iaf_psc_delta", 1)
    sim.simulate(0.1)
    with pytest.raises(ValueError, match=r"call GetConnections again"):
        sim.synapse_values(where, "weight")


def test_spike_generator_weights_offgrid_times_and_checks():
    sim = Simulator(0.1)
    sg = sim.create("spike_generator", 1, {"spike_times": [1.02, 3.0], "allow_offgrid_times": True,
                                           "spike_weights": [2.0, -1.0]})  # fmt: skip
    assert sim.get(sg, "spike_times")[0].tolist() == pytest.approx([1.1, 3.0])
    n = sim.create("iaf_psc_delta", 1, {"V_th": 1e3})
    mm = sim.create("multimeter", 1, {"record_from": ["V_m"], "interval": 0.1})
    sim.connect(sg, n, "all_to_all", {"weight": 3.0, "delay": 1.0})
    sim.connect(mm, n)
    sim.simulate(5.0)
    v, t = sim.events(mm[0])["V_m"], sim.events(mm[0])["times"]
    jump = {s: v[np.searchsorted(t, s + 0.1)] - v[np.searchsorted(t, s - 0.1)] for s in (2.1, 4.0)}
    assert jump[2.1] == pytest.approx(6.0, abs=0.1)  # 2 x 3: stamped 1.1 ms, delay 1 ms
    assert jump[4.0] == pytest.approx(-3.0, abs=0.1)
    bad = [
        ({"spike_times": [2.0, 1.0]}, r"sorted"),
        ({"spike_times": [0.0]}, r"> 0"),
        ({"spike_times": [1.05]}, r"allow_offgrid_times"),
        ({"spike_times": [1.0, 2.0], "spike_weights": [1.0]}, r"`spike_weights` must have one"),
        ({"precise_times": True}, r"`precise_times` must be False"),
        ({"spike_times": [np.nan]}, r"`spike_times` must lie in"),
    ]
    for params, match in bad:
        with pytest.raises(ValueError, match=match):
            sim.create("spike_generator", 1, params)
    shifted = sim.create("spike_generator", 1, {"spike_times": [5.0], "shift_now_spikes": True})
    assert sim.get(shifted, "spike_times")[0].tolist() == pytest.approx([5.1])


@pytest.mark.parametrize(("h", "delay"), [(0.1, 40.0), (0.01, 3.5)])
def test_delays_longer_than_255_steps(h, delay):
    """PD14's delays at h = 0.01 ms and long-range delays: the spike lands on time."""
    sim = Simulator(h)
    sg = sim.create("spike_generator", 1, {"spike_times": [1.0]})
    p = sim.create("parrot_neuron", 1)
    n = sim.create("iaf_psc_delta", 1, {"V_th": 1e3})
    mm = sim.create("multimeter", 1, {"record_from": ["V_m"], "interval": h})
    sim.connect(sg, p, "all_to_all", {"weight": 1.0, "delay": h})
    sim.connect(p, n, "all_to_all", {"weight": 5.0, "delay": delay})
    sim.connect(mm, n)
    sim.simulate(delay + 5.0)
    ev = sim.events(mm[0])
    first = ev["times"][np.argmax(ev["V_m"] > -70.0 + 1.0)]
    assert first == pytest.approx(1.0 + h + delay)
    assert sim.connectivity_bytes <= 8 * sim.n_synapses + 8 * (sim.n_neurons + 1)


def _small_network():
    """A fresh small network (facade) with a recorder: spikes after 30 ms."""
    nest.ResetKernel()
    n = nest.Create("iaf_psc_exp", 10, {"I_e": 380.0, "V_m": nest.random.uniform(-70, -55)})
    pg = nest.Create("poisson_generator", params={"rate": 5000.0})
    rec = nest.Create("spike_recorder")
    nest.Connect(pg, n, syn_spec={"weight": 5.0, "delay": 1.0})
    nest.Connect(n, n, {"rule": "fixed_indegree", "indegree": 3}, {"weight": 20.0, "delay": 2.0})
    nest.Connect(n, rec)
    return n, pg, rec


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda n, pg: nest.Connect(n, n, "all_to_all", {"weight": np.nan}), r"`weight` must be"),
        (lambda n, pg: nest.Connect(n, n, "all_to_all", {"weight": [np.inf] * 100}), r"`weight`"),
        (lambda n, pg: nest.Connect(n, n, "all_to_all", {"delay": np.inf}), r"`delay` must be"),
        (lambda n, pg: nest.Connect(pg, n, "all_to_all", {"weight": np.nan}), r"`weight` must"),
        (lambda n, pg: pg.set(rate=np.nan), r"`rate` must lie in \[0, inf\)"),
        (lambda n, pg: pg.set(stop=-1.0), r"`stop` must lie in \[0, inf\]"),
        (lambda n, pg: n.set(V_m=np.nan), r"`V_m` must lie in"),
        (lambda n, pg: n.set(tau_m=np.inf), r"`tau_m` must lie in"),
        (lambda n, pg: n.set(C_m=[1.0] * 9 + [-1.0]), r"`C_m` must lie in \(0, inf\)"),
        (lambda n, pg: nest.Simulate(-5.0), r"`t_ms` must lie in \[0, inf\)"),
        (lambda n, pg: nest.Simulate(np.nan), r"`t_ms` must lie in"),
        (lambda n, pg: nest.Simulate(0.05), r"multiple of the resolution"),
        (lambda n, pg: nest.SetDefaults("static_synapse", {"weight": np.nan}), r"`weight` must"),
        (lambda n, pg: nest.CopyModel("static_synapse", "x", {"delay": -1.0}), r"`delay` must"),
        (lambda n, pg: nest.Create("iaf_psc_exp", 2, {"I_e": np.nan}), r"`I_e` must lie in"),
    ],
)
def test_bad_input_raises_at_the_call_and_changes_nothing(call, match):
    """Before and after the first run: the error names the argument, and the kernel then
    builds and runs exactly as if the call had never been made."""
    n, pg, rec = _small_network()
    nest.Simulate(30.0)
    reference = rec.get("events")["times"]
    n, pg, rec = _small_network()
    with pytest.raises(ValueError, match=match):
        call(n, pg)  # before the build
    nest.Simulate(20.0)
    with pytest.raises(ValueError, match=match):
        call(n, pg)  # after a run
    nest.Simulate(10.0)
    assert len(reference) > 10 and np.array_equal(rec.get("events")["times"], reference)
    assert nest.GetKernelStatus("network_size") == 12


def test_a_failed_rebuild_keeps_the_running_network():
    """Random weights are drawn at the build: a projection whose redraws fail makes the
    next run raise, and the network stays as it was before that run."""
    sim = Simulator(0.1, seed=1)
    n = sim.create("iaf_psc_alpha", 5, {"I_e": 500.0})
    sim.simulate(20.0)
    v = sim.get(n, "V_m")
    impossible = nest.math.redraw(nest.random.normal(0.0, 1.0), min=50.0, max=51.0)
    sim.connect(n, n, "all_to_all", {"weight": impossible})
    with pytest.raises(ValueError, match=r"redraw bounds"):
        sim.simulate(10.0)
    assert sim.t_steps == 200 and sim.get(n, "V_m") == v


# ----------------------------------------------------------------------- opt-in: NEST 3.10
PD14_NEURON = {"C_m": 250.0, "tau_m": 10.0, "tau_syn_ex": 0.5, "tau_syn_in": 0.5,
               "t_ref": 2.0, "E_L": -65.0, "V_th": -50.0, "V_reset": -65.0}  # fmt: skip


def _i_e_protocol(nest, model, params):
    """NEST's single-neuron protocol: I_e steps (and a V_m reset) between Simulate calls."""
    nest.ResetKernel()
    nest.resolution = 0.1
    n = nest.Create(model, 1, params=params)
    mm = nest.Create("multimeter", params={"record_from": ["V_m"], "interval": 0.1})
    rec = nest.Create("spike_recorder")
    nest.Connect(mm, n)
    nest.Connect(n, rec)
    for step, i_e in enumerate([0.0, 450.0, 200.0, 800.0, 0.0, 376.0]):
        n.set(I_e=i_e)
        if step == 3:
            n.set(V_m=-58.0)
        nest.Simulate(40.0)
    ev = mm.get("events")
    return ev["times"], ev["V_m"], rec.get("events")["times"]


@pytest.mark.peers
@pytest.mark.parametrize("model", ["iaf_psc_exp", "iaf_psc_alpha"])
@pytest.mark.parametrize("params", [{}, PD14_NEURON], ids=["defaults", "pd14"])
def test_i_e_changed_between_runs_as_nest(model, params):
    real = pytest.importorskip("nest")
    t_ref, v_ref, s_ref = _i_e_protocol(real, model, params)
    t, v, s = _i_e_protocol(nest, model, params)
    common, i_ref, i = np.intersect1d(np.round(t_ref, 6), np.round(t, 6), return_indices=True)
    assert len(common) >= len(t_ref) - 20
    np.testing.assert_allclose(v[i], v_ref[i_ref], atol=1e-4)
    np.testing.assert_allclose(s, s_ref)
    assert len(s) >= 5


def test_set_with_one_dict_per_node_and_generator_weight_arrays():
    """``nodes.set([{...}, ...])`` (NEST's list form) and generator connections with NEST's
    ``all_to_all`` array shape ``(post, pre)``; a bad list changes nothing."""
    nest.ResetKernel()
    nest.resolution = 0.1
    sg = nest.Create("spike_generator", 2)
    n = nest.Create("iaf_psc_delta", 3, {"V_th": 1e3})
    mm = nest.Create("multimeter", 1, {"record_from": ["V_m"], "interval": 0.1})
    weights = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]])  # (post, pre)
    nest.Connect(sg, n, "all_to_all", {"weight": weights, "delay": 0.1})
    nest.Connect(mm, n)
    nest.Simulate(1.0)  # built: the list form must reach the running network
    sg.set([{"spike_times": [2.0]}, {"spike_times": [3.0], "spike_weights": [2.0]}])
    assert [list(t) for t in sg.get("spike_times")] == [[2.0], [3.0]]
    with pytest.raises(ValueError, match="one dict per node"):
        sg.set([{"spike_times": [4.0]}])
    with pytest.raises(ValueError, match="sorted"):
        sg.set([{"spike_times": [5.0]}, {"spike_times": [6.0, 5.5]}])
    assert [list(t) for t in sg.get("spike_times")] == [[2.0], [3.0]]  # all or nothing
    nest.Simulate(3.5)
    ev = mm.get("events")
    v = {s: ev["V_m"][(ev["senders"] == s) & np.isclose(ev["times"], 4.5)] for s in n.tolist()}
    np.testing.assert_allclose([v[s][0] + 70.0 for s in n.tolist()],
                               weights[:, 0] * np.exp(-2.4 / 10) + weights[:, 1] * 2
                               * np.exp(-1.4 / 10), rtol=1e-5)  # fmt: skip
    nest.ResetKernel()
