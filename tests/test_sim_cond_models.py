"""Conductance-based and adaptive models (``iaf_cond_*``, ``aeif_cond_*``) and GSL's RKF45."""

import dataclasses

import numpy as np
import pytest
from scipy.integrate import solve_ivp

import snnjax.sim as nest
from snnjax.sim import Simulator
from snnjax.sim._native import RKF45_MODELS, native_available
from snnjax.sim.models._rkf45 import CONTROL_Y, evolve

COND = ("iaf_cond_exp", "iaf_cond_alpha")
BETA = {"tau_rise_ex": 0.5, "tau_decay_ex": 3.0, "tau_rise_in": 1.0, "tau_decay_in": 8.0,
        "g_L": 10.0, "C_m": 200.0}  # fmt: skip
AEIF = ("aeif_cond_exp", "aeif_cond_alpha", "aeif_psc_exp")
HH = ("hh_psc_alpha", "hh_cond_exp_traub")
HH_OTHER = {"g_L": 20.0, "t_ref": 3.0, "C_m": 150.0}
AEIF_OTHER = {"a": 0.0, "b": 60.0, "t_ref": 2.0, "Delta_T": 1.0, "tau_w": 100.0, "V_peak": -20.0}
COBA = {"g_L": 10.0, "C_m": 200.0, "E_L": -60.0, "V_th": -50.0, "V_reset": -60.0, "t_ref": 5.0,
        "E_ex": 0.0, "E_in": -80.0, "tau_syn_ex": 5.0, "tau_syn_in": 10.0}  # fmt: skip


def _trace(model, params, spikes=(), weights=(), t=60.0, i_e_steps=()):
    sim = Simulator(0.1)
    n = sim.create(model, 1, params)
    mm = sim.create("multimeter", 1, {"record_from": ["V_m", "g_ex", "g_in"], "interval": 0.1})
    sim.connect(mm, n)
    if len(spikes):
        sg = sim.create("spike_generator", 1, {"spike_times": spikes, "spike_weights": weights})
        sim.connect(sg, n, "all_to_all", {"weight": 1.0, "delay": 1.0})
    sim.simulate(t)
    for i_e, more in i_e_steps:
        sim.set(n, {"I_e": i_e})
        sim.simulate(more)
    return sim.events(mm[0]), sim


@pytest.mark.parametrize("model", [*COND, "iaf_cond_beta"])
def test_constant_current_steady_state(model):
    ev, _ = _trace(model, {"I_e": 100.0}, t=300.0)
    v_inf = -70.0 + 100.0 / 16.6667  # E_L + I_e / g_L, below threshold
    assert ev["V_m"][-1] == pytest.approx(v_inf, abs=1e-3)
    assert np.all(ev["g_ex"] == 0.0)


@pytest.mark.parametrize("model", COND)
def test_psp_against_a_float64_reference(model):
    """One excitatory and one inhibitory input: RKF45 (float32) within 2e-3 mV of a
    tight float64 solution of the same ODE, conductance peaks as NEST defines them."""
    p = COBA
    ev, _ = _trace(model, p, spikes=[5.0, 20.0], weights=[6.0, -67.0])
    t = ev["times"]
    alpha = model == "iaf_cond_alpha"

    def rhs(tt, y):
        v = y[0]
        if alpha:
            g_ex, g_in = y[2], y[4]
            dg = [-y[1] / p["tau_syn_ex"], y[1] - y[2] / p["tau_syn_ex"],
                  -y[3] / p["tau_syn_in"], y[3] - y[4] / p["tau_syn_in"]]  # fmt: skip
        else:
            g_ex, g_in = y[1], y[2]
            dg = [-y[1] / p["tau_syn_ex"], -y[2] / p["tau_syn_in"]]
        dv = -p["g_L"] * (v - p["E_L"]) - g_ex * (v - p["E_ex"]) - g_in * (v - p["E_in"])
        return [dv / p["C_m"], *dg]

    y = np.array([-70.0] + [0.0] * (4 if alpha else 2))
    ref, now = [], 0.0
    # spikes stamped 5 and 20 ms, delay 1 ms: added at the end of steps 59 and 209
    for stop, kick in ((6.0, (1, 6.0)), (21.0, (3 if alpha else 2, 67.0)), (60.0, None)):
        sol = solve_ivp(rhs, (now, stop), y, rtol=1e-12, atol=1e-12, dense_output=True)
        mask = (t > now + 1e-9) & (t <= stop + 1e-9)
        ref.append(sol.sol(t[mask])[0])
        y, now = sol.y[:, -1].copy(), stop
        if kick:
            y[kick[0]] += kick[1] * (np.e / p["tau_syn_ex" if kick[0] == 1 else "tau_syn_in"]
                                     if alpha else 1.0)  # fmt: skip
    np.testing.assert_allclose(ev["V_m"], np.concatenate(ref), atol=2e-3)
    peak = ev["g_ex"].max()
    assert peak == pytest.approx(6.0, rel=1e-3 if not alpha else 2e-3)


def test_beta_conductance_peaks_at_the_weight():
    """NEST's normalisation: a 6 nS spike peaks at 6 nS, at the beta function's peak time."""
    from snnjax.sim.models._iaf_cond_beta import beta_normalization_factor

    ev, _ = _trace("iaf_cond_beta", BETA, spikes=[5.0], weights=[6.0], t=30.0)
    assert ev["g_ex"].max() == pytest.approx(6.0, rel=2e-3)
    t_peak = 3.0 * 0.5 * np.log(3.0 / 0.5) / 2.5
    assert ev["times"][np.argmax(ev["g_ex"])] == pytest.approx(6.0 + t_peak, abs=0.1)
    assert beta_normalization_factor(2.0, 2.0) == pytest.approx(np.e / 2.0)
    with pytest.raises(ValueError, match="`tau_decay_ex` must lie in"):
        Simulator(0.1).create("iaf_cond_beta", 1, {"tau_decay_ex": 0.0})


@pytest.mark.parametrize(
    ("model", "substeps", "atol"), [("iaf_cond_exp", 1, 2e-4), ("hh_cond_exp_traub", 5, 2e-2)]
)
def test_fixed_substeps_against_the_adaptive_integrator(model, substeps, atol):
    """The cheaper option (``substeps`` fixed RK45 steps): the same spikes here, V_m close
    to the adaptive (NEST) integration away from spikes."""

    def run(k):
        sim = Simulator(0.1, substeps=k)
        n = sim.create(model, 1, {"I_e": 400.0 if model.startswith("iaf") else 900.0})
        mm = sim.create("multimeter", 1, {"record_from": ["V_m"], "interval": 0.1})
        rec = sim.create("spike_recorder")
        sim.connect(mm, n)
        sim.connect(n, rec)
        sim.simulate(100.0)
        return sim.events(mm[0]), sim.events(rec[0])["times"]

    (ref, s_ref), (got, s) = run(0), run(substeps)
    np.testing.assert_allclose(s, s_ref)
    assert len(s) >= 3
    far = np.min(np.abs(ref["times"][:, None] - s_ref[None, :]), axis=1) > 3.0
    np.testing.assert_allclose(got["V_m"][far], ref["V_m"][far], atol=atol)


def test_fixed_substeps_are_refused_for_aeif_and_checked():
    sim = Simulator(0.1, substeps=10)
    sim.create("aeif_cond_exp", 1)
    with pytest.raises(ValueError, match=r"`substeps` .* not supported by the aeif"):
        sim.simulate(1.0)
    with pytest.raises(ValueError, match=r"`substeps` must be an int >= 0"):
        Simulator(0.1, substeps=-1)


def test_rkf45_carries_its_step_and_reports_failure():
    import jax.numpy as jnp

    def stiff(y, aux, ctx):
        return (-50.0 * (y[0] - 1.0),)

    y, step, failed, _ = evolve(stiff, (jnp.zeros(3),), jnp.full(3, 0.1), 0.1, CONTROL_Y)
    assert not failed.any() and np.all(np.asarray(step) < 0.1)
    np.testing.assert_allclose(y[0], 1.0 - np.exp(-5.0), atol=2e-3)


def test_rkf45_compensated_state_follows_the_float64_solution():
    """500 ms of relaxation from -50 to -65 mV in 5,000 steps: rounded to float32 every
    step the state drifts by ~1e-3 mV; with its rounding error carried (``lo``) it stays
    within a few 1e-6 mV of the exact solution."""
    import jax
    import jax.numpy as jnp

    tau = jnp.asarray(np.linspace(20.0, 80.0, 64), jnp.float32)

    def f(y, aux, ctx):
        return ((-65.0 - y[0]) / ctx, -y[1] / 5.0)

    def run(compensated):
        def body(_, c):
            y, step, lo = c
            if compensated:
                y, step, _, _, lo = evolve(f, y, step, 0.1, CONTROL_Y, ctx=tau, lo=lo)
            else:
                y, step, _, _ = evolve(f, y, step, 0.1, CONTROL_Y, ctx=tau)
            return y, step, lo

        start = ((jnp.full(64, -50.0), jnp.full(64, 3.0)), jnp.full(64, 0.1),
                 (jnp.zeros(64), jnp.zeros(64)))  # fmt: skip
        y, _, lo = jax.jit(lambda: jax.lax.fori_loop(0, 5000, body, start))()
        return np.asarray(y[0], np.float64) + np.asarray(lo[0], np.float64)

    exact = -65.0 + 15.0 * np.exp(-500.0 / np.asarray(tau, np.float64))
    assert np.abs(run(False) - exact).max() > 5e-4  # lo stays zero: plain float32
    assert np.abs(run(True) - exact).max() < 2e-5


@pytest.mark.parametrize("compensated", [False, True])
def test_rkf45_compaction_gives_the_plain_loops_numbers(compensated):
    """600 neurons (compacted after a few lockstep iterations) == two halves of 300 (the
    plain lockstep loop), bit for bit; the stiff ones need tens of steps, the rest one."""
    import jax
    import jax.numpy as jnp

    n = 600
    rate = jnp.asarray(np.geomspace(0.1, 3000.0, n)[np.random.default_rng(0).permutation(n)],
                       jnp.float32)  # fmt: skip

    def f(y, aux, ctx):
        return (-ctx * (y[0] - 1.0) + jnp.sin(5.0 * y[0]), -0.5 * y[1])

    def run(y, step, rate):
        lo = tuple(jnp.full_like(v, 1e-7) for v in y) if compensated else None
        out = evolve(f, y, step, 0.1, CONTROL_Y, ctx=rate, lo=lo)
        return out[:3] + out[4:]  # without aux (None)

    run = jax.jit(run)
    y0, step0 = (jnp.zeros(n), jnp.ones(n)), jnp.full(n, 0.1)
    full = run(y0, step0, rate)
    assert len(full) == (4 if compensated else 3)
    for part in (slice(0, 300), slice(300, n)):
        half = run(tuple(v[part] for v in y0), step0[part], rate[part])
        for a, b in zip(jax.tree.leaves(half), jax.tree.leaves(full), strict=True):
            np.testing.assert_array_equal(a, b[part])
    assert np.ptp(np.asarray(full[1])) > 0 and not full[2].any()


def test_a_non_finite_state_raises_naming_the_neuron(monkeypatch):
    """A solver failure (here forced: V_m becomes NaN above -65 mV) stops the run with the
    neuron's id, and the simulation stays where the failing chunk started."""
    import jax.numpy as jnp

    from snnjax.sim.models import _registry

    spec = _registry._SPECS["iaf_cond_exp"]

    def broken(props, params, state, *inputs, **kw):
        state, s = spec.step(props, params, state, *inputs, **kw)
        return state._replace(V_m=jnp.where(state.V_m > -65.0, jnp.nan, state.V_m)), s

    monkeypatch.setitem(_registry._SPECS, "iaf_cond_exp",
                        dataclasses.replace(spec, step=broken, native_block=None))  # fmt: skip
    sim = Simulator(0.1)
    sim.create("iaf_psc_exp", 2, {"I_e": 500.0})  # another model, other state shapes
    sim.create("iaf_cond_exp", 3, {"I_e": [0.0, 0.0, 300.0]})
    sim.simulate(0.5)
    with pytest.raises(RuntimeError, match=r"iaf_cond_exp neuron\(s\) \[5\] between t = "):
        sim.simulate(50.0)
    assert sim.t_steps == 5


@pytest.mark.parametrize("native", [True, False])
def test_a_solver_failure_raises_naming_the_neuron(native):
    """A membrane potential that overflows (1e38 pA into 1e-6 pF) stops the run with the
    neuron's id, from the native block kernel too (which counts its own non-finite
    neurons)."""
    if native and not native_available():
        pytest.skip("native kernels not built")
    sim = Simulator(0.1, native=native)
    sim.create("iaf_cond_exp", 3, {"I_e": [300.0, 300.0, 1e38], "C_m": [250.0, 250.0, 1e-6]})
    with pytest.raises(RuntimeError, match=r"iaf_cond_exp neuron\(s\) \[3\] between t = "):
        sim.simulate(1.0)
    assert sim.t_steps == 0


@pytest.mark.parametrize("native", [True, False])
@pytest.mark.parametrize("model", AEIF)
def test_an_aeif_instability_raises_naming_the_neuron(model, native):
    """NEST's instability checks inside the integration loop (``|w| > 1e6`` pA here; the
    native kernel and the JAX loop alike): the run stops with the neuron's id."""
    if native and not native_available():
        pytest.skip("native kernels not built")
    sim = Simulator(0.1, native=native)
    sim.create(model, 3, {"I_e": 300.0, "w": [0.0, 0.0, 2e6]})
    with pytest.raises(RuntimeError, match=rf"{model} neuron\(s\) \[3\] between t = "):
        sim.simulate(1.0)
    assert sim.t_steps == 0


@pytest.mark.parametrize("model", AEIF)
def test_adaptation_relaxes_with_tau_w(model):
    """a = 0 decouples w: from w(0) = 100 pA it decays as exp(-t / tau_w)."""
    sim = Simulator(0.1)
    n = sim.create(model, 1, {"a": 0.0, "w": 100.0})
    mm = sim.create("multimeter", 1, {"record_from": ["w"], "interval": 0.1})
    sim.connect(mm, n)
    sim.simulate(100.0)
    ev = sim.events(mm[0])
    np.testing.assert_allclose(ev["w"], 100.0 * np.exp(-ev["times"] / 144.0), rtol=1e-5)


def test_hh_rests_at_its_steady_state():
    """hh_psc_alpha without input stays at -65 mV with its gates at their steady state."""
    sim = Simulator(0.1)
    n = sim.create("hh_psc_alpha", 1)
    mm = sim.create("multimeter", 1, {"record_from": ["V_m", "Act_m", "Inact_h", "Act_n"]})
    sim.connect(mm, n)
    sim.simulate(50.0)
    ev, init = sim.events(mm[0]), nest.INITIAL_STATE["hh_psc_alpha"]
    assert np.all(np.abs(ev["V_m"] + 65.0) < 0.02)
    for gate in ("Act_m", "Inact_h", "Act_n"):
        np.testing.assert_allclose(ev[gate], init[gate], atol=2e-4)
    assert init["Act_m"] == pytest.approx(0.05293248525724958, rel=1e-9)  # NEST's values


@pytest.mark.parametrize(
    ("params", "match"),
    [({"C_m": 0.0}, "`C_m`"), ({"g_Na": -1.0}, "`g_Na`"), ({"tau_syn_in": 0.0}, "`tau_syn_in`"),
     ({"t_ref": -0.5}, "`t_ref`"), ({"Act_m": -0.1}, "`Act_m`")],
)  # fmt: skip
@pytest.mark.parametrize("model", HH)
def test_bad_hh_parameters(model, params, match):
    with pytest.raises(ValueError, match=match):
        Simulator(0.1).create(model, 2, params)


@pytest.mark.parametrize(
    ("params", "match"),
    [({"V_peak": -60.0}, "`V_peak` must be >= `V_th`"), ({"Delta_T": -1.0}, "`Delta_T`"),
     ({"tau_w": 0.0}, "`tau_w`"), ({"gsl_error_tol": 0.0}, "`gsl_error_tol`"),
     ({"V_reset": 10.0}, "`V_reset` must be < `V_peak`"), ({"g_L": 0.0}, "`g_L`"),
     ({"Delta_T": 0.4}, "float32 overflow")],
)  # fmt: skip
@pytest.mark.parametrize("model", AEIF)
def test_bad_aeif_parameters(model, params, match):
    with pytest.raises(ValueError, match=match):
        Simulator(0.1).create(model, 2, params)


@pytest.mark.parametrize(
    ("params", "match"),
    [({"C_m": 0.0}, "`C_m`"), ({"g_L": -1.0}, "`g_L`"), ({"tau_syn_ex": 0.0}, "`tau_syn_ex`"),
     ({"V_reset": -50.0, "V_th": -55.0}, "`V_reset` must be"), ({"t_ref": -1.0}, "`t_ref`")],
)  # fmt: skip
@pytest.mark.parametrize("model", COND)
def test_bad_parameters(model, params, match):
    with pytest.raises(ValueError, match=match):
        Simulator(0.1).create(model, 2, params)


def test_cond_network_identical_on_devices():
    def run(devices):
        sim = Simulator(0.1, seed=4, devices=devices)
        e = sim.create("iaf_cond_exp", 80, {**COBA, "I_e": 200.0,
                                            "V_m": nest.random.uniform(-60.0, -50.0)})  # fmt: skip
        i = sim.create("iaf_cond_alpha", 20, {**COBA, "I_e": 200.0})
        rec = sim.create("spike_recorder")
        pop = np.concatenate([e, i])
        sim.connect(e, pop, {"rule": "pairwise_bernoulli", "p": 0.1}, {"weight": 6.0, "delay": 0.5})
        sim.connect(
            i, pop, {"rule": "pairwise_bernoulli", "p": 0.1}, {"weight": -67.0, "delay": 0.5}
        )
        sim.connect(pop, rec)
        sim.simulate(100.0)
        ev = sim.events(rec[0])
        return ev["senders"], ev["times"]

    ref = run(1)
    assert len(ref[1]) > 20
    for devices in (2, 4):
        got = run(devices)
        assert np.array_equal(ref[0], got[0]) and np.array_equal(ref[1], got[1])


# ----------------------------------------------------------------------- opt-in: NEST 3.10
def _syn_keys(model: str) -> list[str]:
    """The recordables compared besides V_m."""
    if model.startswith("hh"):
        return ["Act_m", "Inact_h", "Act_n"]
    syn = ["I_syn_ex", "I_syn_in"] if model == "aeif_psc_exp" else ["g_ex", "g_in"]
    return syn + (["w"] if model.startswith("aeif") else [])


def _protocol(backend, model, params, native=None):
    """NEST's single-neuron protocol: I_e steps between Simulate calls, weighted spikes
    (``native``: snnjax's kernel attribute)."""
    backend.ResetKernel()
    backend.resolution = 0.1
    if backend is nest:
        backend.SetKernelStatus({"native": native})
    n = backend.Create(model, 1, params=params)
    record = ["V_m", *_syn_keys(model)]
    mm = backend.Create("multimeter", params={"record_from": record, "interval": 0.1})
    rec = backend.Create("spike_recorder")
    sg = backend.Create("spike_generator", params={
        "spike_times": [3.0, 12.0, 12.0, 40.0, 95.0, 130.0, 131.5],
        "spike_weights": [2.0, 8.0, 4.0, -30.0, 12.0, 20.0, -5.0]})  # fmt: skip
    weight = 50.0 if model in ("hh_psc_alpha", "aeif_psc_exp") else 1.5  # pA or nS
    backend.Connect(sg, n, syn_spec={"weight": weight, "delay": 1.0})
    backend.Connect(mm, n)
    backend.Connect(n, rec)
    steps = {"aeif": (0.0, 500.0, 900.0, 150.0, 1200.0), "hh": (0.0, 300.0, 900.0, 150.0, 1500.0)}
    for i_e in steps.get(model.split("_")[0], (0.0, 250.0, 600.0, 150.0, 900.0)):
        n.set(I_e=i_e)
        backend.Simulate(40.0)
    ev = mm.get("events")
    return ev, rec.get("events")["times"]


_CASES = ([(m, p) for m in COND for p in ({}, COBA)] + [("iaf_cond_beta", p) for p in ({}, BETA)]
          + [(m, p) for m in AEIF for p in ({}, AEIF_OTHER)]
          + [(m, p) for m in HH for p in ({}, HH_OTHER)])  # fmt: skip


@pytest.mark.peers
@pytest.mark.parametrize(
    ("model", "params", "native"),
    # on CPU the ODE of iaf_cond_* and hh_* runs natively (None); False: the JAX loop
    [(m, p, None) for m, p in _CASES] + [(m, p, False) for m, p in _CASES if m in RKF45_MODELS],
    ids=lambda x: x if isinstance(x, str) else ("other" if x else "defaults")
    if isinstance(x, dict) else {None: "native", False: "jax"}[x],
)  # fmt: skip
def test_traces_as_nest(model, params, native):
    real = pytest.importorskip("nest")
    ref, s_ref = _protocol(real, model, params)
    got, s = _protocol(nest, model, params, native)
    np.testing.assert_allclose(s, s_ref)
    assert len(s) >= 3
    common, i_ref, i = np.intersect1d(np.round(ref["times"], 6), np.round(got["times"], 6),
                                      return_indices=True)  # fmt: skip
    # farther than 1 ms from a spike (HH: its float32 state compensated, _rkf45)
    far = np.min(np.abs(common[:, None] - np.asarray(s_ref)[None, :]), axis=1, initial=1e9)
    far = far > 1.0
    for key in ["V_m", *_syn_keys(model)]:
        np.testing.assert_allclose(got[key][i][far], ref[key][i_ref][far], atol=1e-3, err_msg=key)
