"""Neuron models: scan == hand-stepped loop == independent NumPy equations; closed forms."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _reference_models import run_numpy
from model_cases import CASES, case_id, make_model, random_params

from snnjax import neurons
from snnjax.ops import neuron_scan


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_scan_equals_hand_stepped_loop_and_numpy(case, rng):
    name, reset, detach = case
    model = make_model(name, reset, detach)
    T, B, N = 40, 3, 16
    p = random_params(name, rng, N)
    params = model.Params(**{k: jnp.asarray(v) for k, v in p.items()})
    x = rng.normal(0.3, 0.6, (T, B, N)).astype(np.float32)

    res = neuron_scan(model, params, jnp.asarray(x), return_traces=True)

    # 1. Hand-stepped Python loop over the model's (jitted) step function.
    step = jax.jit(model.step)
    state = model.init_state(params, (B, N))
    for t in range(T):
        state, out = step(params, state, jnp.asarray(x[t]))
        np.testing.assert_array_equal(res.outputs[t], out) if model.spiking else None
        np.testing.assert_allclose(res.outputs[t], out, atol=1e-6, rtol=1e-6)
        for field in model.State._fields:
            np.testing.assert_allclose(
                getattr(res.traces, field)[t], getattr(state, field), atol=1e-6, rtol=1e-6
            )
    for a, b in zip(res.final_state, state, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6, rtol=1e-6)

    # 2. Independent NumPy implementation of the documented equations.
    outs, traces = run_numpy(name, p, x, reset=reset)
    if model.spiking:
        np.testing.assert_array_equal(res.outputs, outs)
        assert 0 < outs.mean() < 1, "test inputs should make some, not all, neurons spike"
    for ours, theirs in zip(res.traces, traces, strict=True):
        # float32 rounding (FMA contraction in XLA, not in NumPy) accumulates over T steps.
        np.testing.assert_allclose(ours, theirs, atol=1e-5 * np.abs(theirs).max(), rtol=1e-5)


def _lif_hard_reset_spike_steps(beta, current, threshold, T):
    """Analytic firing steps of a hard-reset (to 0) LIF under constant input.

    After k steps from rest, v = I (1 - beta^k) / (1 - beta); the neuron first reaches the
    threshold at k* = ceil(log(1 - theta (1 - beta) / I) / log(beta)), and then every k* steps.
    """
    period = math.ceil(_steps_to_threshold(beta, current, threshold))
    return [t for t in range(T) if (t + 1) % period == 0]


def _steps_to_threshold(beta, current, threshold):
    ratio = threshold * (1 - beta) / current
    assert 0 < ratio < 1, "input must be suprathreshold"
    return math.log(1 - ratio) / math.log(beta)


@pytest.mark.parametrize("trial", range(5))
def test_lif_constant_input_fires_at_analytic_steps(trial, rng):
    del trial
    while True:  # redraw cases that are too close to a tie for float32
        beta = float(rng.uniform(0.6, 0.97))
        threshold = float(rng.uniform(0.5, 2.0))
        rheobase = threshold * (1 - beta)  # the smallest input that ever reaches threshold
        current = float(rheobase * rng.uniform(1.05, 3.0))
        k = _steps_to_threshold(beta, current, threshold)
        if abs(k - round(k)) > 1e-3:
            break
    T = 200
    expected = _lif_hard_reset_spike_steps(beta, current, threshold, T)
    model = neurons.LIF(reset="hard")
    params = model.params(beta=beta, threshold=threshold, v_reset=0.0)
    spikes = neuron_scan(model, params, jnp.full((T, 1, 1), current)).outputs[:, 0, 0]
    assert np.flatnonzero(np.asarray(spikes)).tolist() == expected
    # Below the rheobase the neuron never fires.
    quiet = neuron_scan(model, params, jnp.full((T, 1, 1), 0.95 * rheobase)).outputs
    assert not np.any(quiet)


def test_threshold_convention_reaching_threshold_spikes():
    """Documented convention: spike when v >= threshold (NEST, SpikingJelly).

    An IF neuron with soft reset under a constant input of exactly threshold/4 (exact in
    binary) reaches the threshold *exactly* at every 4th step: it spikes there. Under the
    strict ``v > threshold`` convention of snnTorch/Norse it would spike one step later.
    """
    model = neurons.IF(reset="soft")
    params = model.params(threshold=1.0)
    T = 16
    res = neuron_scan(model, params, jnp.full((T, 1, 1), 0.25), return_traces=True)
    assert np.flatnonzero(np.asarray(res.outputs[:, 0, 0])).tolist() == [3, 7, 11, 15]
    # Closed form of the soft reset: spikes so far = floor((t + 1) I / theta); v returns to 0.
    counts = np.cumsum(np.asarray(res.outputs[:, 0, 0]))
    np.testing.assert_array_equal(counts, np.floor((np.arange(T) + 1) * 0.25))
    np.testing.assert_array_equal(res.traces.v[3::4, 0, 0], 0.0)


def test_update_order_decay_integrate_spike_reset():
    """One LIF step from v=0.5 with x=0.6, beta=0.8: h = 0.4 + 0.6 = 1.0 -> spike -> reset."""
    for reset, v_after in (("soft", 0.0), ("hard", -0.2)):
        model = neurons.LIF(reset=reset)
        params = model.params(beta=0.8, threshold=1.0, v_reset=-0.2)
        state, s = model.step(params, neurons.LIFState(jnp.float32(0.5)), jnp.float32(0.6))
        assert float(s) == 1.0
        np.testing.assert_allclose(float(state.v), v_after, atol=1e-7)


def test_alif_threshold_adapts():
    model = neurons.ALIF(reset="soft")
    params = model.params(beta=1.0, rho=0.5, b=1.0, threshold=1.0)
    # Constant input 1.0: first spike at t=0 (h=1 >= 1); then a = 1, threshold at t=1 is
    # 1 + 1 * 0.5 = 1.5 while h = 0 + 1 = 1 -> no spike; at t=2: a' = 0.25, theta = 1.25, h = 2.
    res = neuron_scan(model, params, jnp.ones((3, 1, 1)), return_traces=True)
    assert res.outputs[:, 0, 0].tolist() == [1.0, 0.0, 1.0]
    np.testing.assert_allclose(res.traces.a[:, 0, 0], [1.0, 0.5, 1.25])


def test_decay_from_tau_and_dt():
    params = neurons.LIF().params(tau=10.0, dt=0.5)
    np.testing.assert_allclose(params.beta, math.exp(-0.05), rtol=1e-7)
    cuba = neurons.CuBaLIF().params(tau_syn=2.0, beta=0.9)
    np.testing.assert_allclose(cuba.alpha, math.exp(-0.5), rtol=1e-7)


def test_per_neuron_parameters_broadcast():
    model = neurons.LIF()
    thresholds = jnp.array([0.5, 1.0, 2.0])
    params = model.params(beta=1.0, threshold=thresholds)
    spikes = neuron_scan(model, params, jnp.full((8, 2, 3), 0.5)).outputs
    np.testing.assert_array_equal(spikes.sum(axis=0), [[8, 4, 2], [8, 4, 2]])


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: neurons.LIF(reset="sof"), r"`reset` must be one of 'soft', 'hard'; got 'sof'"),
        (lambda: neurons.LIF(surrogate="relu"), r"`surrogate` must be one of"),
        (lambda: neurons.LIF(detach_reset="yes"), r"`detach_reset` must be True or False"),
        (lambda: neurons.LIF().params(tau=-5.0), r"`tau` must lie in \(0, inf\)"),
        (lambda: neurons.LIF().params(beta=1.5), r"`beta` must lie in \[0, 1\]"),
        (lambda: neurons.LIF().params(beta=0.9, tau=5.0), r"exactly one of `beta` and `tau`"),
        (lambda: neurons.LIF().params(), r"exactly one of `beta` and `tau`"),
        (lambda: neurons.LIF().params(tau=5.0, dt=0.0), r"`dt` must lie in \(0, inf\)"),
        (lambda: neurons.CuBaLIF().params(tau_syn=0.0, beta=0.9), r"`tau_syn` must lie in"),
        (lambda: neurons.ALIF().params(beta=0.9, rho=0.9, b=-1.0), r"`b` must lie in \[0, inf\)"),
        (lambda: neurons.ALIF().params(beta=0.9, tau_adapt=-1.0), r"`tau_adapt` must lie in"),
        (lambda: neurons.IF().params(threshold=float("inf")), r"`threshold` must lie in"),
    ],
)
def test_bad_model_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_step_is_jittable_and_differentiable():
    model = neurons.CuBaLIF(reset="hard")
    params = model.params(alpha=0.9, beta=0.8)
    state = model.init_state(params, (4,))
    g = jax.jit(jax.grad(lambda x: model.step(params, state, x)[1].sum()))(jnp.full((4,), 1.0))
    assert np.all(np.asarray(g) > 0)
