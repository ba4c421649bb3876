"""Reverse mode through NEST's adaptive RKF45 (``iaf_cond_*``, ``aeif_*``, ``hh_*``) in
functional runs: float64 gradients against central finite differences, the bound on a
step's attempts (``max_attempts``) and its error, the native path's gradients, forward
mode."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from snnjax.sim import NestModel, Simulator, functional
from snnjax.sim._native import native_available
from snnjax.sim.models import step_precision
from snnjax.sim.models._rkf45 import bounded_attempts

# model -> (input weight, I_e scale): every neuron spikes a few times in 30 ms
CASES = {"iaf_cond_exp": (4.0, 450.0), "aeif_cond_exp": (4.0, 600.0),
         "hh_psc_alpha": (300.0, 700.0)}  # fmt: skip
STEPS = 300


def _functional(model, native=False, **kw):
    """Eight neurons of ``model`` (I_e 0.6-1.2x the scale), a spike generator into all of
    them, sparse recurrent synapses, every V_m sampled."""
    weight, i_e = CASES[model]
    sim = Simulator(0.1, seed=3, native=native)
    n = sim.create(model, 8, {"I_e": list(np.linspace(0.6, 1.2, 8) * i_e)})
    sg = sim.create("spike_generator", 1, {"spike_times": [2.0, 5.0, 9.3, 14.0]})
    sim.connect(sg, n, "all_to_all", {"weight": weight, "delay": 1.0})
    sim.connect(n, n, {"rule": "fixed_indegree", "indegree": 3},
                {"weight": weight / 2, "delay": 1.5})  # fmt: skip
    mm = sim.create("multimeter", 1, {"record_from": ["V_m"]})
    sim.connect(mm, n)
    return functional(sim, surrogate="exact", native=native, **kw)


def _scaled(fn, params, theta):
    """``params`` with the weights scaled by ``e^theta[0]`` and I_e by ``e^theta[1]``."""
    neurons = ({**params.neurons[0], "I_e": params.neurons[0]["I_e"] * jnp.exp(theta[1])},)
    return params._replace(weight=params.weight * jnp.exp(theta[0]), neurons=neurons)


@pytest.mark.parametrize("model", CASES)
def test_gradients_match_float64_finite_differences(model):
    """d mean(V_m) / d log(weights), d log(I_e): autodiff through every accepted RKF45
    attempt (the step-size control included) vs central differences at 1e-6 that move no
    spike (the spike's exact derivative is zero), in float64."""
    fn = _functional(model)
    with jax.enable_x64(True), step_precision(jnp.float64):

        def to64(tree):
            return jax.tree.map(lambda x: jnp.asarray(x, jnp.float64)
                                if jnp.issubdtype(jnp.asarray(x).dtype, jnp.floating) else x,
                                tree)  # fmt: skip

        params, state = to64(fn.params), to64(fn.state)

        def trace(theta):
            return fn.run(_scaled(fn, params, theta), state, STEPS)[1]

        def observable(theta):
            return jnp.mean(trace(theta).samples)

        theta = jnp.zeros(2, jnp.float64)
        grad = np.asarray(jax.jit(jax.grad(observable))(theta))
        base = np.asarray(trace(theta).spikes)
        assert base.sum() >= 2  # spikes happen; none moves below
        for k, eps in enumerate((1e-6, 1e-6)):
            for sign in (1.0, -1.0):
                assert np.array_equal(np.asarray(trace(theta.at[k].set(sign * eps)).spikes), base)
            plus, minus = (float(observable(theta.at[k].set(s * eps))) for s in (1.0, -1.0))
            fd = (plus - minus) / (2 * eps)
            assert grad[k] == pytest.approx(fd, rel=1e-4), (k, grad[k], fd)


def test_too_few_attempts_raise_from_the_reverse_pass():
    fn = _functional("aeif_cond_exp", max_attempts=8)

    def loss(theta):
        return jnp.mean(fn.run(_scaled(fn, fn.params, theta), fn.state, STEPS)[1].samples)

    forward = float(loss(jnp.zeros(2)))  # the forward pass keeps its dynamic loop
    assert np.isfinite(forward)
    with pytest.raises(Exception, match=r"needed more than 8 attempts in one step"):
        jax.block_until_ready(jax.grad(loss)(jnp.zeros(2)))
    with pytest.raises(ValueError, match="`max_attempts` must be an int >= 1"):
        _functional("aeif_cond_exp", max_attempts=0)


def test_a_bounded_loop_gives_the_dynamic_loops_numbers():
    """Iterations after every neuron reached h change nothing: the states of 300 steps
    of eight AdEx neurons (two spikes each, ~130 attempts at a spike) equal the dynamic
    loop's to float32 rounding (XLA compiles the static loop's body apart); too small a
    bound leaves a neuron short of h: V_m = NaN."""
    m = NestModel("aeif_cond_exp")
    params = m.params(I_e=np.linspace(360.0, 720.0, 8))
    props, zero = m.propagators(params, 0.1), jnp.zeros(8)

    def run():
        def body(s, _):
            s, spikes = m.step(props, params, s, zero, zero, zero)
            return s, (spikes, s.V_m)

        return jax.jit(lambda s: jax.lax.scan(body, s, None, 3000))(m.init_state(params, 8))

    _, (spikes, v) = run()
    with bounded_attempts(256):
        _, (spikes_b, v_b) = run()
    with bounded_attempts(64):
        _, (_, v_short) = run()
    np.testing.assert_array_equal(spikes_b, spikes)
    assert int(spikes.sum()) >= 8
    np.testing.assert_allclose(v_b, v, atol=1e-2)  # 1e-2 mV: the upstroke's slope
    assert np.isnan(np.asarray(v_short)).any()
    assert NestModel("aeif_cond_exp").attempts == 256
    assert NestModel("iaf_cond_exp", substeps=2).attempts == 0  # fixed steps: a static loop
    assert NestModel("iaf_psc_exp").attempts == 0


@pytest.mark.skipif(not native_available(), reason="native kernels not built")
def test_native_runs_take_the_bounded_twins_gradients():
    """On CPU the forward pass is the native kernels' (float32 rounding apart from JAX's),
    the gradient the bounded pure-JAX twin's: close to the pure path's."""
    grads = []
    for native in (True, False):
        fn = _functional("iaf_cond_exp", native=native)

        def loss(theta, fn=fn):
            return jnp.mean(fn.run(_scaled(fn, fn.params, theta), fn.state, STEPS)[1].samples)

        grads.append(np.asarray(jax.grad(loss)(jnp.zeros(2))))
    assert np.all(grads[0] != 0)
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-3)


@pytest.mark.parametrize("native", [False, True])
def test_forward_mode_gives_the_reverse_modes_derivative(native):
    """``jax.jvp`` (a custom_jvp over the kernels and the bounded loops: their twins'
    tangents) equals ``jax.grad`` along each direction."""
    if native and not native_available():
        pytest.skip("native kernels not built")
    fn = _functional("iaf_cond_exp", native=native)

    def loss(theta):
        return jnp.mean(fn.run(_scaled(fn, fn.params, theta), fn.state, STEPS)[1].samples)

    grad = np.asarray(jax.grad(loss)(jnp.zeros(2)))
    for k in range(2):
        tangent = jax.jvp(loss, (jnp.zeros(2),), (jnp.zeros(2).at[k].set(1.0),))[1]
        assert float(tangent) == pytest.approx(grad[k], rel=1e-5)
