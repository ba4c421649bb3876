"""The simulator as a pure function (``snnjax.sim.functional``): the same spikes as
``Simulate``, jit/grad/vmap, capacities that raise, the float64 gradient check, the scripts."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from snnjax.networks import FitParams, SweepParams, brunel_sweep, fit_rates, grad_check
from snnjax.sim import Simulator, functional
from snnjax.sim._functional import poisson_table_jax
from snnjax.sim._network import poisson_table
from snnjax.sim.random import normal, uniform


def _network(**kw):
    """Two iaf_psc_exp populations with every input kind, random weights and delays."""
    sim = Simulator(0.1, seed=5, native=False, **kw)
    e = sim.create("iaf_psc_exp", 40, {"I_e": 150.0, "V_m": uniform(min=-70.0, max=-56.0)})
    i = sim.create("iaf_psc_exp", 10, {"I_e": 150.0})
    both = np.concatenate([e, i])
    pg = sim.create("poisson_generator", 2, {"rate": [6000.0, 9000.0]})
    dc = sim.create("dc_generator", 1, {"amplitude": 40.0, "start": 20.0, "stop": 60.0})
    sg = sim.create("spike_generator", 1, {"spike_times": [3.0, 7.5, 7.5, 41.2]})
    sim.connect(
        both,
        both,
        {"rule": "fixed_indegree", "indegree": 8},
        {"weight": normal(mean=40.0, std=10.0), "delay": uniform(min=1.0, max=4.0)},
    )
    sim.connect(i, both, {"rule": "pairwise_bernoulli", "p": 0.5},
                {"weight": -150.0, "delay": 1.5})  # fmt: skip
    sim.connect(pg, both, "all_to_all", {"weight": 25.0, "delay": 1.0})
    sim.connect(dc, e[:10])
    sim.connect(sg, both, "all_to_all", {"weight": 300.0, "delay": 2.0})
    rec = sim.create("spike_recorder")
    sim.connect(both, rec)
    mm = sim.create("multimeter", 1, {"record_from": ["V_m", "I_syn_ex"]})
    sim.connect(mm, e[:3])
    return sim, rec, mm


def _events(fn, spikes, t0=0):
    steps, cols = np.nonzero(np.asarray(spikes))
    return sorted(zip(np.round((t0 + steps + 1) * fn.h, 6).tolist(),
                      fn.neuron_ids[cols].tolist(), strict=True))  # fmt: skip


def _sim_events(sim, rec):
    ev = sim.events(rec[0])
    return sorted(zip(np.round(ev["times"], 6).tolist(), ev["senders"].tolist(), strict=True))


def test_run_gives_the_spikes_and_samples_of_simulate():
    sim, rec, mm = _network()
    fn = functional(sim)
    assert np.bincount(fn.projection).tolist() == [400, int(np.sum(fn.projection == 1))]
    state, trace = fn.run(fn.params, fn.state, 800)
    sim.simulate(80.0)
    assert _events(fn, trace.spikes) == _sim_events(sim, rec)
    ev = sim.events(mm[0])  # every 1 ms (the multimeter's interval); the trace every step
    for k, (name, neuron) in enumerate(fn.sample_keys):
        sel = ev["senders"] == fn.neuron_ids[neuron]
        steps = np.round(ev["times"][sel] / fn.h).astype(int) - 1
        assert len(steps) == 80
        assert np.array_equal(np.asarray(trace.samples[steps, k]), ev[name][sel])
    # continuing: from the simulator's state after 80 ms, or from the run's
    assert int(state.t) == sim.t_steps == 800
    _, trace2 = fn.run(fn.params, state, 300)
    fn_later = functional(sim)
    _, trace3 = fn_later.run(fn_later.params, fn_later.state, 300)
    assert np.array_equal(np.asarray(trace2.spikes), np.asarray(trace3.spikes))
    sim.simulate(30.0)
    assert _events(fn, trace2.spikes, 800) == [e for e in _sim_events(sim, rec) if e[0] > 80.0]


def test_vmap_equals_each_instance_and_the_compiled_run_is_reused():
    sim, _, _ = _network()
    fn = functional(sim)
    scales = jnp.array([0.8, 1.0, 1.3])

    def params(s):
        q = fn.params
        return q._replace(weight=q.weight * s, neurons=(
            {**q.neurons[0], "I_e": q.neurons[0]["I_e"] * s}, q.neurons[1]))  # fmt: skip

    batched = jax.vmap(lambda s: fn.run(params(s), fn.state, 500)[1])(scales)
    for b, s in enumerate(scales):
        alone = fn.run(params(s), fn.state, 500)[1]
        assert np.array_equal(np.asarray(alone.spikes), np.asarray(batched.spikes[b]))
        assert np.array_equal(np.asarray(alone.samples), np.asarray(batched.samples[b]))
    assert not np.array_equal(np.asarray(batched.spikes[0]), np.asarray(batched.spikes[2]))
    size = fn._compiled._cache_size()
    fn.run(params(0.9), fn.state, 500)
    fn.run(params(1.1), fn.state, 500)
    assert fn._compiled._cache_size() == size  # new values, same executable


@pytest.mark.parametrize("devices", [1, 2])
def test_native_kernels_give_the_pure_jax_values_and_gradients(devices):
    """functional(native=True): the kernels (batched under vmap, one call for all
    instances) give the pure-JAX run's spikes, samples and gradients bit for bit."""
    sim, _, _ = _network(devices=devices)
    pure, native = functional(sim, native=False), functional(sim, native=True)
    assert native.layout.native and not pure.layout.native
    scales = jnp.array([0.8, 1.0, 1.3])

    def run(fn, s, steps=400):
        q = fn.params
        q = q._replace(weight=q.weight * s, poisson=({**q.poisson[0], "weight": q.poisson[0][
            "weight"] * s, "rate": q.poisson[0]["rate"] * s},))  # fmt: skip
        return fn.run(q, fn.state, steps)[1]

    for fn in (pure, native):  # instances share nothing but the state they start from
        batched = jax.vmap(lambda s, fn=fn: run(fn, s))(scales)
        if fn is pure:
            want = batched
            continue
        for a, b in zip(jax.tree.leaves(want), jax.tree.leaves(batched), strict=True):
            assert np.array_equal(np.asarray(a), np.asarray(b))
        alone = run(native, scales[2])
        assert np.array_equal(np.asarray(alone.spikes), np.asarray(batched.spikes[2]))
    assert float(want.spikes[2].sum()) > float(want.spikes[0].sum()) > 0

    def loss(fn, w):
        return fn.run(fn.params._replace(weight=w), fn.state, 300)[1].spikes.sum()

    g = [jax.grad(lambda w, fn=fn: loss(fn, w))(fn.params.weight) for fn in (pure, native)]
    assert np.array_equal(np.asarray(g[0]), np.asarray(g[1])) and np.any(np.asarray(g[0]) != 0)


def test_sharded_runs_give_the_same_spikes_and_gradients():
    def run(devices):
        sim, rec, _ = _network(devices=devices)
        fn = functional(sim)
        _, trace = fn.run(fn.params, fn.state, 500)
        sim.simulate(50.0)
        assert _events(fn, trace.spikes) == _sim_events(sim, rec)
        g = jax.grad(lambda q: fn.run(q, fn.state, 300)[1].spikes.sum())(fn.params)
        batched = jax.vmap(
            lambda s: (
                fn.run(fn.params._replace(weight=fn.params.weight * s), fn.state, 300)[1].spikes
            )
        )(jnp.array([0.9, 1.1]))
        return fn, trace, g, batched

    fn1, t1, g1, b1 = run(1)
    fn4, t4, g4, b4 = run(4)
    assert fn4.mesh is not None and np.shape(fn4.params.weight)[0] == 4
    assert np.array_equal(np.asarray(t1.spikes), np.asarray(t4.spikes))
    assert np.array_equal(np.asarray(t1.samples), np.asarray(t4.samples))
    assert np.array_equal(np.asarray(b1), np.asarray(b4))
    # the same gradient (4 shards: stacked and padded, summed in another order)
    ie1, ie4 = (sum(float(jnp.sum(g.neurons[p]["I_e"])) for p in range(2)) for g in (g1, g4))
    assert np.isclose(ie1, ie4, rtol=1e-5) and ie1 > 0
    n_per_proj = [np.sum(fn.projection == k) for fn in (fn1, fn4) for k in (0, 1)]
    assert n_per_proj[:2] == n_per_proj[2:]


def test_gradients_flow_through_weights_parameters_and_generators():
    sim, _, _ = _network()
    fn = functional(sim)

    def loss(q):
        return fn.run(q, fn.state, 400)[1].spikes.sum()

    g = jax.grad(loss)(fn.params)
    assert np.all(np.isfinite(np.asarray(g.weight))) and np.any(np.asarray(g.weight) != 0)
    assert float(jnp.sum(g.neurons[0]["I_e"])) > 0  # more drive, more spikes
    assert float(jnp.sum(g.poisson[0]["weight"])) > 0
    assert float(jnp.sum(g.poisson[0]["rate"])) == 0.0  # discrete: no gradient
    # the smooth path alone (exact spike derivative): the membrane's mean vs I_e
    exact = functional(sim, surrogate="exact")

    def v_mean(i_e):
        q = exact.params
        q = q._replace(neurons=({**q.neurons[0], "I_e": q.neurons[0]["I_e"] + i_e},
                                q.neurons[1]))  # fmt: skip
        v = [k for k, (name, _) in enumerate(exact.sample_keys) if name == "V_m"]
        return exact.run(q, exact.state, 30)[1].samples[:, v].mean()

    assert float(jax.grad(v_mean)(0.0)) > 0


def test_samples_of_every_neuron_carry_their_gradient():
    """A multimeter on every neuron of a population (its samples shaped as the spikes, a
    block record's leaves of one shape once stored bitcast together: no gradient)."""
    sim = Simulator(0.1, seed=3, native=False)
    n = sim.create("iaf_psc_exp", 8, {"I_e": 450.0})
    mm = sim.create("multimeter", 1, {"record_from": ["V_m"]})
    sim.connect(mm, n)
    fn = functional(sim, surrogate="exact")

    def v_mean(i_e):
        q = fn.params._replace(neurons=({**fn.params.neurons[0],
                                         "I_e": fn.params.neurons[0]["I_e"] + i_e},))  # fmt: skip
        return fn.run(q, fn.state, 30)[1].samples.mean()

    assert float(jax.grad(v_mean)(0.0)) > 0


def test_the_float64_gradient_check():
    out = grad_check(FitParams(order=10, simtime=60.0, presim=20.0))
    assert out["spikes"] > 0  # spikes happen, yet no perturbation moves one
    assert out["grad_check_rel_err"] <= 1e-4
    assert out["grad"][0] != 0.0


def test_capacities_raise_inside_compiled_grad_and_vmap():
    sim, _, _ = _network()
    fn = functional(sim, max_spikes=2)
    with pytest.raises(Exception, match="spike buffer overflow"):
        jax.block_until_ready(fn.run(fn.params, fn.state, 400))
    fn = functional(sim, max_synapses=4, tile=4)
    with pytest.raises(Exception, match="delivery overflow"):
        jax.block_until_ready(
            jax.grad(lambda w: fn.run(fn.params._replace(weight=w), fn.state, 400)[1].spikes.sum())(
                fn.params.weight
            )
        )
    fn = functional(sim)
    q = fn.params._replace(poisson=({**fn.params.poisson[0], "rate": jnp.array([6e6, 9e3])},))
    with pytest.raises(Exception, match="longer table"):
        jax.block_until_ready(fn.run(q, fn.state, 20))


def test_uint8_record_holds_the_same_spikes_and_raises_past_255():
    sim, _, _ = _network()
    wide, small = functional(sim), functional(sim, spike_dtype="uint8")
    a, b = (np.asarray(fn.run(fn.params, fn.state, 400)[1].spikes) for fn in (wide, small))
    assert b.dtype == np.uint8 and a.sum() > 0 and np.array_equal(a, b)
    # a parrot neuron repeats a spike of multiplicity 300: more than uint8 holds
    sim = Simulator(0.1, native=False)
    sg = sim.create("spike_generator", 1, {"spike_times": [0.3, 2.0],
                                           "spike_multiplicities": [255, 300]})  # fmt: skip
    parrot = sim.create("parrot_neuron", 1)
    sim.connect(sg, parrot)
    fn = functional(sim, spike_dtype="uint8")
    assert int(np.asarray(fn.run(fn.params, fn.state, 20)[1].spikes).max()) == 255
    with pytest.raises(Exception, match="record overflow"):
        jax.block_until_ready(fn.run(fn.params, fn.state, 40))


def test_rates_as_parameters():
    sim, _, _ = _network()
    fn = functional(sim)
    same = fn.params._replace(poisson=({**fn.params.poisson[0],
                                        "rate": jnp.array([6000.0, 9000.0])},))  # fmt: skip
    a = fn.run(fn.params, fn.state, 300)[1].spikes
    assert np.array_equal(np.asarray(a), np.asarray(fn.run(same, fn.state, 300)[1].spikes))
    lower = fn.params._replace(poisson=({**fn.params.poisson[0],
                                         "rate": jnp.array([1000.0, 1000.0])},))  # fmt: skip
    assert float(fn.run(lower, fn.state, 300)[1].spikes.sum()) < float(a.sum())
    for lam in (0.0, 0.01, 0.6, 7.5):
        host = poisson_table(lam)
        table, size = poisson_table_jax(jnp.float32(lam), 64)
        assert int(size) == len(host)
        diff = np.asarray(table)[: len(host)].astype(np.int64) - host.astype(np.int64)
        assert np.abs(diff).max(initial=0) < 2e-6 * 2**32


def test_bad_input():
    sim = Simulator(0.1, devices=1, native=False)
    sim.create("iaf_psc_exp", 2)
    for kw, match in (({"max_spikes": 0}, "max_spikes"), ({"max_synapses": -1}, "max_synapses"),
                      ({"tile": 2.5}, "tile"), ({"surrogate": "nope"}, "surrogate"),
                      ({"detach_reset": 1}, "detach_reset"),
                      ({"native": "yes"}, "native"),
                      ({"spike_dtype": "int8"}, "spike_dtype")):  # fmt: skip
        with pytest.raises(ValueError, match=match):
            functional(sim, **kw)
    fn = functional(sim)
    with pytest.raises(ValueError, match="steps"):
        fn.run(fn.params, fn.state, 0)


_MPI_RUN = """
import json, sys
import jax, numpy as np
sys.path.insert(0, "tests")
from test_sim_functional import _network
from snnjax.sim import functional
from snnjax.sim._mpi import abort_on_error, mpi
abort_on_error()
world = mpi().COMM_WORLD
fn = functional(_network(mpi=world)[0])
trace = fn.run(fn.params, fn.state, 600)[1]
steps, cols = np.nonzero(np.asarray(trace.spikes))
events = sorted(zip(steps.tolist(), fn.neuron_ids[cols].tolist()))
samples = {str(k): np.asarray(trace.samples[:, i]).tolist() for i, k in enumerate(fn.sample_keys)}
try:
    jax.grad(lambda q: fn.run(q, fn.state, 30)[1].spikes.sum())(fn.params)
    error = ""
except NotImplementedError as err:
    error = str(err)
parts = world.gather((events, samples, error, fn.neuron_ids.tolist()))
if world.Get_rank() == 0:
    json.dump({"events": sorted(e for p in parts for e in p[0]),
               "samples": {k: v for p in parts for k, v in p[1].items()},
               "errors": [p[2] for p in parts], "ids": [p[3] for p in parts]},
              open(sys.argv[1], "w"))
"""


def test_mpirun_functional_runs_give_the_spikes_of_one_process(tmp_path):
    """Under ``mpirun -np 2`` each rank runs its shard; together the spikes and samples of
    the same network run in one process; reverse mode raises a clear error."""
    from test_sim_distributed import _mpirun

    fn = functional(_network()[0])
    trace = fn.run(fn.params, fn.state, 600)[1]
    steps, cols = np.nonzero(np.asarray(trace.spikes))
    (tmp_path / "run.py").write_text(_MPI_RUN)
    proc = _mpirun(2, str(tmp_path / "run.py"), str(tmp_path / "out.json"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads((tmp_path / "out.json").read_text())
    assert len(got["events"]) > 100
    events = sorted(zip(steps.tolist(), fn.neuron_ids[cols].tolist(), strict=True))
    assert got["events"] == [list(e) for e in events]
    assert sorted(got["ids"][0] + got["ids"][1]) == sorted(fn.neuron_ids.tolist())
    assert len(got["ids"][0]) > 0 and len(got["ids"][1]) > 0  # both ranks hold neurons
    assert sorted(got["samples"]) == sorted(str(k) for k in fn.sample_keys)
    for i, k in enumerate(fn.sample_keys):
        assert got["samples"][str(k)] == np.asarray(trace.samples[:, i]).tolist(), k
    assert all("gradients under MPI" in e for e in got["errors"]), got["errors"]


def test_fit_rates_and_sweep_run_small(tmp_path):
    # The full fit (order 100, 100 steps) and sweep (8 x 8) are in benchmarks/RESULTS.md.
    p = FitParams(order=10, simtime=100.0, presim=20.0, steps=4, target_E=5.0, target_I=5.0)
    out = fit_rates(p, progress=False)
    assert out["steps"] == 4 and len(out["loss_curve"]) == 5
    assert out["loss_final"] < out["loss_initial"]
    s = brunel_sweep(
        SweepParams(
            g_values=(3.0, 6.0),
            eta_values=(1.0, 2.0),
            order=10,
            simtime=60.0,
            presim=10.0,
            one_by_one=2,
        ),
        progress=False,
    )
    assert s["instances"] == 4 and len(s["rate_hz"]) == 4
    assert s["rate_hz"][1] > s["rate_hz"][0]  # more drive
    json.dumps(s)
