"""snnjax.sim point neurons: NEST's exact integration against closed forms derived here.

Time grid (NEST): step k takes the state from t_k = k h to t_{k+1}; what the scan returns
for step k is the state NEST's multimeter records at t_{k+1}. A spike emitted in step k
has the time stamp t_{k+1}.
"""

import functools
import math
import pathlib
import runpy
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from snnjax import sim

H = 0.1
IAF = ("iaf_psc_delta", "iaf_psc_exp", "iaf_psc_alpha")
BENCH = pathlib.Path(__file__).parents[1] / "benchmarks" / "nest_single_neuron.py"


@functools.partial(jax.jit, static_argnums=0)
def _scan(model, props, params, state, in_ex, in_in, i_stim):
    def body(state, x):
        state, s = model.step(props, params, state, *x)
        return state, (state, s)

    return jax.lax.scan(body, state, (in_ex, in_in, i_stim))[1]


def simulate(name, params, K, *, h=H, in_ex=None, in_in=None, i_stim=None, **initial):
    """Run ``K`` steps; returns (V_m [K, n] float64 absolute mV, spikes [K, n], states)."""
    model = sim.NestModel(name)
    given = [x for x in (in_ex, in_in, i_stim) if x is not None]
    n = max([np.size(p) for p in params] + [np.shape(x)[1] for x in given] + [1])
    zeros = np.zeros((K, n), np.float32)
    inputs = [zeros if x is None else np.asarray(x, np.float32) for x in (in_ex, in_in, i_stim)]
    state = model.init_state(params, n, **initial)
    states, spikes = _scan(model, model.propagators(params, h), params, state, *inputs)
    v = None if name == "parrot_neuron" else np.asarray(model.V_m(params, states), np.float64)
    return v, np.asarray(spikes), states


def pulse(K, n, k, w):
    """Input of weight ``w`` (per neuron) in step ``k`` only."""
    x = np.zeros((K, n), np.float32)
    x[k] = w
    return x


# ------------------------------------------------------------------------------------------
# Closed forms
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", IAF)
def test_dc_response_is_the_exact_exponential_relaxation(name):
    """tau_m dV/dt = -(V - E_L) + R I_e  =>  V(t) = E_L + R I_e (1 - e^{-t/tau_m}), R = tau/C."""
    tau = np.array([10.0, 4.0, 25.0])
    C = np.array([250.0, 100.0, 400.0])
    I_e = np.array([300.0, -80.0, 150.0])
    E_L = np.array([-70.0, -65.0, -58.0])
    params = sim.make_params(name, tau_m=tau, C_m=C, I_e=I_e, E_L=E_L, V_th=E_L + 15.0)
    K = 800
    v, spikes, _ = simulate(name, params, K, V_m=E_L)

    t = (np.arange(K)[:, None] + 1) * H  # state after step k is at t_{k+1}
    expected = E_L + I_e * tau / C * (1 - np.exp(-t / tau))
    assert spikes.sum() == 0
    np.testing.assert_allclose(v, expected, rtol=0, atol=1e-4)


@pytest.mark.parametrize("name", IAF)
def test_dc_first_spike_refractory_period_and_reset(name):
    """Spike at the first grid point after the analytic crossing, V_reset for t_ref, repeat.

    From rest, V - E_L = R I (1 - e^{-t/tau}) reaches theta = V_th - E_L at
    t* = tau ln(R I / (R I - theta)); NEST detects it at the end of the step that contains
    t*, i.e. at ceil(t*/h) h. The membrane then stays at V_reset (= E_L here) for t_ref and
    restarts from rest, so the spikes repeat with period ceil(t*/h) h + t_ref.
    """
    tau, C, I_e, theta, t_ref = 10.0, 250.0, 500.0, 15.0, 2.0
    params = sim.make_params(name, tau_m=tau, C_m=C, I_e=I_e, V_th=-70.0 + theta, t_ref=t_ref)
    RI = I_e * tau / C
    t_star = tau * math.log(RI / (RI - theta))
    n_first = math.ceil(t_star / H)
    assert abs(t_star / H - round(t_star / H)) > 1e-3, "too close to a grid point for float32"
    n_ref = round(t_ref / H)

    K = 700
    v, spikes, _ = simulate(name, params, K)
    stamps = np.nonzero(spikes[:, 0])[0] + 1  # spike time stamps in steps
    period = n_first + n_ref
    np.testing.assert_array_equal(stamps, n_first + period * np.arange(len(stamps)))
    assert len(stamps) == (K - n_first) // period + 1

    first = stamps[0]  # V at stamps first .. first + n_ref is V_reset, then relaxes again
    np.testing.assert_array_equal(v[first - 1 : first + n_ref, 0], -70.0)
    t = np.arange(1, n_first) * H  # time since the end of the refractory period
    expected = -70.0 + RI * (1 - np.exp(-t / tau))
    np.testing.assert_allclose(
        v[first + n_ref : first + n_ref + n_first - 1, 0], expected, atol=1e-4
    )


def test_refractory_steps_follow_nest_time_rounding():
    """NEST: t_ref -> nearest tic (1 us), then up to whole steps (Time::get_steps)."""
    t_ref = np.array([2.0, 2.05, 0.25, 0.0, 0.1004, 0.1006, 1.0])
    tics = np.floor(t_ref * 1000 + 0.5)
    expected = np.ceil(tics / round(H * 1000)).astype(int)
    np.testing.assert_array_equal(sim.refractory_steps(t_ref, H), expected)
    assert sim.refractory_steps(2.0, H) == 20  # a multiple of h: t_ref / h


@pytest.mark.parametrize("channel", ["ex", "in"])
def test_exp_psp_closed_form_including_tau_m_equal_tau_syn(channel):
    """A spike of weight w in step k0 starts I(t) = w e^{-t/tau_s} at t_{k0+1}; then

    V(t) - E_L = w/C tau_m tau_s/(tau_m - tau_s) (e^{-t/tau_m} - e^{-t/tau_s}),
    and for tau_s = tau_m = tau the limit w/C t e^{-t/tau} (finite, no division by zero).
    """
    tau_m, C, w, k0, K = 10.0, 250.0, 120.0 if channel == "ex" else -120.0, 4, 400
    tau_s = np.array([2.0, 0.5, tau_m, tau_m * (1 + 1e-9)])
    n = len(tau_s)
    key = "tau_syn_ex" if channel == "ex" else "tau_syn_in"
    params = sim.make_params("iaf_psc_exp", tau_m=tau_m, C_m=C, **{key: tau_s})
    props = sim.iaf_psc_exp_propagators(params, H)
    assert np.all(np.isfinite(np.asarray(props.P21ex))) and np.all(np.isfinite(props.P21in))

    x = pulse(K, n, k0, w)
    v, _, states = simulate(
        "iaf_psc_exp", params, K, in_ex=x if channel == "ex" else None,
        in_in=x if channel == "in" else None,
    )  # fmt: skip
    np.testing.assert_array_equal(v[: k0 + 1], -70.0)  # no effect before t_{k0+1}
    t = (np.arange(K - k0 - 1)[:, None] + 1) * H  # time since t_{k0+1}, for steps k0+1 ...
    with np.errstate(divide="ignore", invalid="ignore"):
        regular = (
            w / C * tau_m * tau_s / (tau_m - tau_s) * (np.exp(-t / tau_m) - np.exp(-t / tau_s))
        )
    singular = w / C * t * np.exp(-t / tau_m)
    expected = np.where(np.abs(tau_s - tau_m) < 1e-6, singular, regular)
    np.testing.assert_allclose(v[k0 + 1 :] + 70.0, expected, rtol=0, atol=1e-5)
    i_syn = np.asarray(states.i_syn_ex if channel == "ex" else states.i_syn_in)[k0:]
    t_i = np.arange(K - k0)[:, None] * H  # the current starts at t_{k0+1}: after step k0
    np.testing.assert_allclose(i_syn, w * np.exp(-t_i / tau_s), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("channel", ["ex", "in"])
def test_alpha_psp_closed_form_including_tau_m_equal_tau_syn(channel):
    """A spike of weight w starts I(t) = w (t/tau_s) e^{1 - t/tau_s} (peak w at tau_s); then

    V(t) - E_L = (1/C) int_0^t e^{-(t-s)/tau_m} I(s) ds
               = w e/(tau_s C) e^{-t/tau_m} (1 - e^{-a t}(1 + a t)) / a^2,  a = 1/tau_s - 1/tau_m,
    and for a = 0 the limit w e/(tau C) t^2/2 e^{-t/tau}.
    """
    tau_m, C, w, k0, K = 10.0, 250.0, 80.0 if channel == "ex" else -80.0, 3, 400
    tau_s = np.array([2.0, 0.5, tau_m, 20.0])
    n = len(tau_s)
    key = "tau_syn_ex" if channel == "ex" else "tau_syn_in"
    params = sim.make_params("iaf_psc_alpha", tau_m=tau_m, C_m=C, **{key: tau_s})
    x = pulse(K, n, k0, w)
    v, _, states = simulate(
        "iaf_psc_alpha", params, K, in_ex=x if channel == "ex" else None,
        in_in=x if channel == "in" else None,
    )  # fmt: skip
    np.testing.assert_array_equal(v[: k0 + 1], -70.0)
    t = (np.arange(K - k0 - 1)[:, None] + 1) * H
    a = 1 / tau_s - 1 / tau_m
    with np.errstate(divide="ignore", invalid="ignore"):
        regular = np.exp(-t / tau_m) * (1 - np.exp(-a * t) * (1 + a * t)) / a**2
    integral = np.where(a == 0, t**2 / 2 * np.exp(-t / tau_m), regular)
    expected = w * math.e / (tau_s * C) * integral
    np.testing.assert_allclose(v[k0 + 1 :] + 70.0, expected, rtol=0, atol=1e-5)
    current = np.asarray(states.I_ex if channel == "ex" else states.I_in)[k0:]
    t_i = np.arange(K - k0)[:, None] * H  # the current starts at t_{k0+1}: after step k0
    np.testing.assert_allclose(current, w * t_i / tau_s * np.exp(1 - t_i / tau_s), atol=1e-4)


def test_delta_psp_is_an_immediate_jump_then_decay():
    """iaf_psc_delta: a spike of w mV in step k0 moves V in that very step (at t_{k0+1}),

    then V(t) - E_L = w e^{-(t - t_{k0+1})/tau_m}."""
    tau, w, k0, K = np.array([10.0, 3.0]), np.array([0.7, -1.3]), 5, 200
    params = sim.make_params("iaf_psc_delta", tau_m=tau)
    _, _, states = simulate("iaf_psc_delta", params, K, in_ex=pulse(K, 2, k0, w))
    v = np.asarray(states.v)  # V_m - E_L
    np.testing.assert_array_equal(v[:k0], 0.0)
    t = np.arange(K - k0)[:, None] * H
    np.testing.assert_allclose(v[k0:], w * np.exp(-t / tau), rtol=0, atol=1e-6)


def test_delta_refractory_input_is_dropped_or_discounted():
    """Spikes arriving while refractory: dropped (default) or, with refractory_input, added in
    the first free step, discounted by e^{-r h/tau_m} for the r refractory steps left then."""
    tau, K, k_in, w_in = 10.0, 120, 5, 3.0
    params = sim.make_params("iaf_psc_delta", tau_m=tau, refractory_input=np.array([False, True]))
    in_ex = pulse(K, 2, 0, 20.0)  # 20 mV > 15 mV: spike in step 0
    in_ex[k_in] = w_in
    _, spikes, states = simulate("iaf_psc_delta", params, K, in_ex=in_ex)
    v = np.asarray(states.v)  # V_m - E_L
    np.testing.assert_array_equal(np.nonzero(spikes)[0], [0, 0])
    n_ref = 20
    # Step j (1 <= j <= n_ref) starts with r = n_ref + 1 - j refractory steps left.
    r_left = n_ref + 1 - k_in
    np.testing.assert_array_equal(v[: n_ref + 1], 0.0)  # reset, held while refractory
    np.testing.assert_array_equal(v[n_ref + 1 :, 0], 0.0)  # dropped
    t = np.arange(K - n_ref - 1) * H  # from the first free step (n_ref + 1) on
    expected = w_in * math.exp(-r_left * H / tau) * np.exp(-t / tau)
    np.testing.assert_allclose(v[n_ref + 1 :, 1], expected, rtol=0, atol=1e-6)


def test_v_min_is_a_lower_bound():
    K = 50
    params = sim.make_params("iaf_psc_delta", V_min=np.array([-72.0, -np.inf]))
    v, _, _ = simulate("iaf_psc_delta", params, K, in_in=pulse(K, 2, 3, -5.0))
    assert v[3, 0] == -72.0 and v[3, 1] == pytest.approx(-75.0)


@pytest.mark.parametrize("name", IAF)
def test_stimulus_current_acts_from_the_next_step(name):
    """NEST reads the current buffer at the end of a step (S_.y0_/i_0_ = ...): a current in
    step k0's slot holds over step k0 + 1 only: V - E_L = R I (1 - e^{-h/tau}), then decays."""
    tau, C, amp, k0, K = 10.0, 250.0, 400.0, 7, 60
    params = sim.make_params(name, tau_m=tau, C_m=C)
    _, _, states = simulate(name, params, K, i_stim=pulse(K, 1, k0, amp))
    v = np.asarray(states.v)  # V_m - E_L
    np.testing.assert_array_equal(v[: k0 + 1], 0.0)
    t = np.arange(K - k0 - 1)[:, None] * H
    expected = amp * tau / C * (1 - math.exp(-H / tau)) * np.exp(-t / tau)
    np.testing.assert_allclose(v[k0 + 1 :], expected, rtol=0, atol=1e-6)


def _izhikevich_numpy(p, K, h, I_e, consistent):
    """Independent float64 loop of NEST's izhikevich::update (no input spikes)."""
    v, u, out_v, out_s = -65.0, -13.0, [], []
    for _ in range(K):
        if consistent:
            v, u = v + h * (0.04 * v * v + 5 * v + 140 - u + I_e), u + h * p["a"] * (p["b"] * v - u)
        else:
            v += h / 2 * (0.04 * v * v + 5 * v + 140 - u + I_e)
            v += h / 2 * (0.04 * v * v + 5 * v + 140 - u + I_e)
            u += h * p["a"] * (p["b"] * v - u)
        spike = v >= p["V_th"]
        if spike:
            v, u = p["c"], u + p["d"]
        out_v.append(v)
        out_s.append(spike)
    return np.array(out_v), np.array(out_s)


def test_izhikevich_matches_hand_stepped_euler():
    """Both of NEST's schemes (per-neuron flag) against a float64 loop: same spike steps."""
    K, I_e = 1000, 14.0
    params = sim.make_params("izhikevich", I_e=I_e, consistent_integration=np.array([True, False]))
    v, spikes, _ = simulate("izhikevich", params, K)
    p = {k: float(sim.DEFAULTS["izhikevich"][k]) for k in ("a", "b", "c", "d", "V_th")}
    for i, consistent in enumerate((True, False)):
        v_ref, s_ref = _izhikevich_numpy(p, K, H, I_e, consistent)
        assert s_ref.sum() >= 3
        np.testing.assert_array_equal(spikes[:, i], s_ref)
        # float32 round-off grows on the upswing (dV/dt ~ V^2); subthreshold it is tiny.
        below = v_ref < -40.0
        np.testing.assert_allclose(v[below, i], v_ref[below], atol=1e-3)


def test_parrot_repeats_every_spike():
    counts = np.array([[0, 1], [2, 0], [0, 0], [1, 3]], np.float32)
    params = sim.make_params("parrot_neuron")
    _, spikes, _ = simulate("parrot_neuron", params, 4, in_ex=counts, in_in=counts[::-1])
    np.testing.assert_array_equal(spikes, counts + counts[::-1])


# ------------------------------------------------------------------------------------------
# Propagators
# ------------------------------------------------------------------------------------------


def test_propagators_are_continuous_through_the_singular_case():
    tau_m, C = 10.0, 250.0
    tau_s = tau_m * (1 + np.array([-1e-6, -1e-12, 0.0, 1e-12, 1e-6]))
    p32 = sim.iaf_propagator_exp(tau_s, tau_m, C, H)[0]
    p31, p32a = sim.iaf_propagator_alpha(tau_s, tau_m, C, H)
    limit32 = H / C * math.exp(-H / tau_m)  # lim_{tau_s -> tau_m} of P32
    limit31 = H * H / (2 * C) * math.exp(-H / tau_m)  # ... and of P31
    np.testing.assert_allclose(p32, limit32, rtol=1e-6)
    np.testing.assert_allclose(p32a, p32, rtol=0)
    np.testing.assert_allclose(p31, limit31, rtol=1e-6)


# ------------------------------------------------------------------------------------------
# Validation
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "kwargs", "match"),
    [
        ("iaf_psc_exp", {"C_m": 0.0}, "`C_m`"),
        ("iaf_psc_exp", {"C_m": np.array([250.0, -1.0])}, "`C_m`"),
        ("iaf_psc_alpha", {"tau_m": -1.0}, "`tau_m`"),
        ("iaf_psc_exp", {"tau_syn_ex": 0.0}, "`tau_syn_ex`"),
        ("iaf_psc_alpha", {"tau_syn_in": -2.0}, "`tau_syn_in`"),
        ("iaf_psc_delta", {"t_ref": -0.1}, "`t_ref`"),
        ("iaf_psc_delta", {"V_reset": -55.0}, "`V_reset` must be smaller than `V_th`"),
        ("iaf_psc_exp", {"V_th": -80.0}, "`V_reset` must be smaller than `V_th`"),
        ("iaf_psc_exp", {"delta": 0.5}, "`delta`"),
        ("iaf_psc_exp", {"E_L": float("nan")}, "`E_L`"),
        ("iaf_psc_delta", {"V_min": float("nan")}, "`V_min`"),
        ("iaf_psc_delta", {"refractory_input": 1.0}, "`refractory_input`"),
        ("izhikevich", {"a": "fast"}, "`a`"),
        ("iaf_psc_exp", {"C_m": [1.0, 2.0], "tau_m": [1.0, 2.0, 3.0]}, "broadcast"),
        ("iaf_psc_delta", {"tau_syn_ex": 2.0}, r"`tau_syn_ex`.*'iaf_psc_delta'.*'C_m'"),
        ("parrot_neuron", {"V_th": 1.0}, r"`V_th`.*'parrot_neuron'"),
        ("iaf_psc_exq", {}, "`model_name` must be one of 'iaf_psc_delta', 'iaf_psc_exp'"),
    ],
)
def test_make_params_rejects_bad_input(model, kwargs, match):
    with pytest.raises(ValueError, match=match):
        sim.make_params(model, **kwargs)


def test_make_params_defaults_and_per_neuron_values():
    p = sim.make_params("iaf_psc_alpha", tau_syn_ex=np.array([1.0, 2.0, 3.0]))
    for field in p._fields:
        expected = sim.DEFAULTS["iaf_psc_alpha"][field] if field != "tau_syn_ex" else [1, 2, 3]
        np.testing.assert_array_equal(getattr(p, field), expected)
    # NEST's "no bound" -DBL_MAX is no bound here either (and has no float32 value).
    assert sim.make_params("izhikevich", V_min=-np.finfo(np.float64).max).V_min == -np.inf


def test_other_entry_points_reject_bad_input():
    model = sim.NestModel("iaf_psc_exp")
    params = model.params()
    props = model.propagators(params, H)
    state = model.init_state(params, 2)
    z = jnp.zeros(2)
    for h in (0.0, -0.1, 0.0004, 0.1005):
        with pytest.raises(ValueError, match="`h`"):
            model.propagators(params, h)
    for n in (0, 2.5, True):
        with pytest.raises(ValueError, match="`n`"):
            model.init_state(params, n)
    with pytest.raises(ValueError, match="`V_m`"):
        model.init_state(params, 2, V_m=np.zeros(3))
    with pytest.raises(ValueError, match=r"`params\.tau_m`"):
        model.init_state(model.params(tau_m=np.ones(3) * 10), 2)
    with pytest.raises(ValueError, match="`params`"):
        model.propagators(sim.make_params("iaf_psc_alpha"), H)
    with pytest.raises(ValueError, match="`in_ex`"):
        model.step(props, params, state, jnp.zeros(3), z, z)
    with pytest.raises(ValueError, match="`i_stim`"):
        model.step(props, params, state, z, z, jnp.zeros((2, 2)))
    with pytest.raises(ValueError, match="`props`"):
        model.step(sim.make_params("iaf_psc_exp"), params, state, z, z, z)
    with pytest.raises(ValueError, match="`name` must be one of"):
        sim.NestModel("iaf_cond_expo")


# ------------------------------------------------------------------------------------------
# jit, vectorisation, determinism, gradients
# ------------------------------------------------------------------------------------------

PER_NEURON = {
    "iaf_psc_delta": {"tau_m": [5.0, 10.0, 20.0, 8.0, 12.0], "refractory_input": [0, 1] * 2 + [1]},
    "iaf_psc_exp": {"tau_syn_ex": [0.5, 2.0, 10.0, 3.0, 1.0], "C_m": 200.0},
    "iaf_psc_alpha": {"tau_syn_in": [0.5, 2.0, 10.0, 3.0, 1.0], "V_min": -80.0},
    "izhikevich": {"a": [0.02, 0.1, 0.02, 0.02, 0.03], "consistent_integration": [1, 0] * 2 + [1]},
    "parrot_neuron": {},
    "iaf_cond_exp": {"tau_syn_ex": [0.5, 2.0, 10.0, 3.0, 1.0], "C_m": 200.0},
    "iaf_cond_alpha": {"tau_syn_in": [0.5, 2.0, 10.0, 3.0, 1.0], "g_L": 10.0},
    "aeif_cond_exp": {"b": [0.0, 80.5, 10.0, 5.0, 1.0], "t_ref": 2.0},
    "aeif_cond_alpha": {"a": [0.0, 4.0, 1.0, 2.0, 8.0], "Delta_T": 0.0},
    "hh_psc_alpha": {"g_L": [30.0, 20.0, 10.0, 40.0, 30.0]},
    "iaf_cond_beta": {"tau_rise_ex": [0.1, 0.2, 0.5, 1.0, 2.0], "tau_decay_ex": 3.0},
    "aeif_psc_exp": {"tau_syn_ex": [0.5, 2.0, 10.0, 3.0, 1.0]},
    "hh_cond_exp_traub": {"V_T": [-63.0, -60.0, -65.0, -63.0, -58.0]},
    "snnjax_lif": {"tau_m": [5.0, 10.0, 20.0, 8.0, 12.0], "soft_reset": [0, 1] * 2 + [1]},
    "snnjax_cuba_lif": {"tau_syn": [0.5, 2.0, 10.0, 3.0, 1.0], "soft_reset": [0, 1] * 2 + [0]},
    "snnjax_li": {"gain": [0.5, 1.0, 2.0, 1.0, 0.1], "E_L": -1.0},
}


@pytest.mark.parametrize("name", sim.MODEL_NAMES)
def test_step_jits_vectorises_and_is_deterministic(name, rng):
    n, B = 5, 3
    kwargs = {
        k: np.asarray(v, bool)
        if k in ("refractory_input", "consistent_integration", "soft_reset")
        else v
        for k, v in PER_NEURON[name].items()
    }
    model = sim.NestModel(name)
    params = model.params(**kwargs)
    props = model.propagators(params, H)
    state = model.init_state(params, n)
    scale = 10.0 if name == "parrot_neuron" else 400.0
    xs = [jnp.asarray(np.round(rng.uniform(0, scale, (B, n))), jnp.float32) for _ in range(3)]

    step = jax.jit(model.step)
    s1, out1 = step(props, params, state, xs[0][0], -xs[1][0], xs[2][0])
    s2, out2 = step(props, params, state, xs[0][0], -xs[1][0], xs[2][0])
    ref_state, ref_out = model.step(props, params, state, xs[0][0], -xs[1][0], xs[2][0])
    assert out1.shape == (n,) and out1.dtype == jnp.float32
    for a, b, c in zip(jax.tree.leaves((s1, out1)), jax.tree.leaves((s2, out2)),
                       jax.tree.leaves((ref_state, ref_out)), strict=True):  # fmt: skip
        np.testing.assert_array_equal(a, b)  # deterministic
        np.testing.assert_allclose(a, c, rtol=1e-6, atol=1e-6)  # jit == eager
    assert step._cache_size() == 1  # no recompilation

    # A batch of populations: vmap over a leading axis == one call per batch entry.
    batched = jax.vmap(model.step, in_axes=(None, None, None, 0, 0, 0))
    bs, bout = batched(props, params, state, xs[0], -xs[1], xs[2])
    for b in range(B):
        sb, ob = step(props, params, state, xs[0][b], -xs[1][b], xs[2][b])
        np.testing.assert_allclose(bout[b], ob, rtol=1e-6, atol=1e-6)
        for x, y in zip(jax.tree.leaves(bs), jax.tree.leaves(sb), strict=True):
            np.testing.assert_allclose(x[b], y, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", ["iaf_psc_delta", "izhikevich"])
def test_surrogate_gradient_flows_through_the_spike(name):
    model = sim.NestModel(name, surrogate="arctan")
    params = model.params()
    props = model.propagators(params, H)
    theta = -55.0 if name == "iaf_psc_delta" else 30.0
    state = model.init_state(params, 1, V_m=theta - 0.5)

    def n_spikes(x):
        return model.step(props, params, state, x, jnp.zeros(1), jnp.zeros(1))[1].sum()

    g = jax.grad(n_spikes)(jnp.zeros(1))
    assert np.isfinite(g).all() and g[0] > 0
    assert n_spikes(jnp.ones(1) * 5.0) == 1.0  # the forward pass is still exact


def test_nest_model_is_a_static_jit_argument():
    a, b = sim.NestModel("iaf_psc_exp"), sim.get_model("iaf_psc_exp")
    assert a == b and hash(a) == hash(b)
    assert a.defaults == sim.DEFAULTS["iaf_psc_exp"] and a.Params is sim.IafPscExpParams


# ------------------------------------------------------------------------------------------
# The NEST cross-check script
# ------------------------------------------------------------------------------------------


def test_nest_cross_check_says_so_without_nest(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "nest", None)  # `import nest` fails
    assert runpy.run_path(str(BENCH))["main"](["--T", "1"]) is None
    assert "NEST is not installed" in capsys.readouterr().out


@pytest.mark.peers
def test_matches_nest_simulator(capsys):
    """Opt-in (``pytest -m peers``, needs ``pip install nest-simulator``): NEST 3.x itself."""
    pytest.importorskip("nest")
    rows = runpy.run_path(str(BENCH))["main"](["--T", "100", "--models", *IAF, "parrot_neuron"])
    assert "defaults and initial states: identical" in capsys.readouterr().out
    for model, _, dv, n_nest, n_ours, identical, _ in rows:
        assert identical and n_nest == n_ours > 0, model
        assert model == "parrot_neuron" or dv <= 1e-4, (model, dv)
