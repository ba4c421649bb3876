"""``neuron_scan``: custom-VJP gradients == plain autodiff; argument checks; no recompiles."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from grad_check import check_against_reference, make_problem, rel_err
from model_cases import CASES, case_id

from snnjax import neurons
from snnjax.ops import neuron_scan, neuron_scan_reference
from snnjax.surrogate import ArcTan, FastSigmoid, Rectangle, Sigmoid, Triangle

SURROGATES = [FastSigmoid(10.0), ArcTan(2.0), Sigmoid(4.0), Triangle(1.0), Rectangle(1.0)]
# Every spiking model x reset x detach x surrogate; LI does not spike, so one surrogate.
GRAD_CASES = [
    pytest.param(case, sur, id=f"{case_id(case)}-{type(sur).__name__}")
    for case in CASES
    for sur in (SURROGATES if case[0] != "LI" else SURROGATES[:1])
]


@pytest.mark.parametrize(("case", "surrogate"), GRAD_CASES)
def test_custom_vjp_matches_autodiff_reference(case, surrogate, rng):
    """float32, per-neuron parameters (tolerances in ``grad_check``)."""
    problem = make_problem(case, rng, (25, 3, 12), surrogate=surrogate)
    check_against_reference(*problem, impl="xla")


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_custom_vjp_matches_autodiff_reference_float64(case, rng):
    """float64, with a scalar parameter (its gradient sums over all of B, N, T): the two
    backward passes are the same mathematics, so they agree to float64 rounding."""
    with jax.enable_x64(True):
        problem = make_problem(
            case,
            rng,
            (25, 3, 12),
            dtype=jnp.float64,
            surrogate=SURROGATES[1],
            scalar_first_param=True,
        )
        check_against_reference(*problem, tol=1e-10, param_tol=1e-10, impl="xla")


def test_gradient_without_traces_and_only_wrt_input(rng):
    """The common training call: outputs only, gradient w.r.t. the input currents."""
    model = neurons.LIF(reset="soft", detach_reset=True)
    params = model.params(beta=0.9)
    x = jnp.asarray(rng.normal(0.2, 0.5, (50, 4, 8)), jnp.float32)
    w = jnp.asarray(rng.normal(size=x.shape), jnp.float32)

    def loss(scan, x):
        return jnp.sum(scan(model, params, x).outputs * w)

    g = jax.grad(lambda x: loss(neuron_scan, x))(x)
    g_ref = jax.grad(lambda x: loss(neuron_scan_reference, x))(x)
    assert rel_err(g, g_ref) <= 1e-5


def test_vmap_and_jit_compose(rng):
    model = neurons.CuBaLIF()
    params = model.params(alpha=0.8, beta=0.9)
    x = jnp.asarray(rng.normal(0.3, 0.5, (3, 20, 2, 5)), jnp.float32)  # [ensemble, T, B, N]
    f = jax.jit(jax.vmap(lambda x: neuron_scan(model, params, x).outputs))
    np.testing.assert_array_equal(
        f(x), jnp.stack([neuron_scan_reference(model, params, xi).outputs for xi in x])
    )


def test_conv_shaped_input_with_per_channel_params(rng):
    model = neurons.LIF()
    params = model.params(beta=jnp.linspace(0.5, 0.9, 4), threshold=jnp.ones(4))
    x = jnp.asarray(rng.normal(0.3, 0.5, (6, 2, 5, 5, 4)), jnp.float32)  # [T, B, H, W, C]
    res = neuron_scan(model, params, x)
    assert res.outputs.shape == x.shape
    np.testing.assert_array_equal(res.outputs, neuron_scan_reference(model, params, x).outputs)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"x": jnp.ones(10)}, ValueError, r"`x` must be time-major with rank >= 2.*\(10,\)"),
        ({"x": jnp.ones((0, 4))}, ValueError, r"`x` must have at least one time step"),
        ({"x": jnp.ones((5, 4), jnp.int32)}, ValueError, r"`x` must be a floating-point array"),
        (
            {"impl": "cuda"},
            ValueError,
            r"`impl` must be one of 'auto', 'xla', 'pallas'; got 'cuda'",
        ),
        ({"memory": "low"}, ValueError, r"`memory` must be one of 'save_pre', 'recompute'"),
        ({"model": "lif"}, ValueError, r"`model` must be a snnjax.neurons model"),
        ({"params": (0.9, 1.0, 0.0)}, ValueError, r"`params` must be a LIFParams"),
        (
            {"params": neurons.LIF().params(beta=jnp.full(3, 0.9))},
            ValueError,
            r"`params.beta` has shape \(3,\), which does not broadcast to the neuron shape \(4, 8",
        ),
        (
            {"state": neurons.LIFState(jnp.zeros((4, 7)))},
            ValueError,
            r"`state.v` has shape \(4, 7\); it must match one time step of `x`, \(4, 8\)",
        ),
        (
            {"state": neurons.CuBaLIFState(jnp.zeros((4, 8)), jnp.zeros((4, 8)))},
            ValueError,
            r"`state` must be a LIFState",
        ),
    ],
)
def test_bad_arguments_raise_before_tracing(kwargs, error, match):
    model = neurons.LIF()
    args = {"model": model, "params": model.params(beta=0.9), "x": jnp.ones((5, 4, 8))}
    args.update(kwargs)
    state = args.pop("state", None)
    kw = {k: args.pop(k) for k in ("impl", "memory") if k in args}
    with pytest.raises(error, match=match):
        neuron_scan(args["model"], args["params"], args["x"], state, **kw)


def test_no_recompile_on_second_train_step(rng):
    """A jitted train step over the scan compiles once and is reused on the next call."""
    compiles = []
    jax.monitoring.register_event_duration_secs_listener(
        lambda event, *_, **__: (
            compiles.append(event)
            if event == "/jax/core/compile/backend_compile_duration"
            else None
        )
    )
    model = neurons.ALIF()
    params = model.params(beta=0.9, rho=0.95)

    @jax.jit
    def train_step(w, x):
        def loss(w):
            return jnp.mean(neuron_scan(model, params, x @ w).outputs)

        return w - 0.1 * jax.grad(loss)(w)

    w = jnp.asarray(rng.normal(size=(6, 5)), jnp.float32)
    xs = [jnp.asarray(rng.normal(size=(10, 2, 6)), jnp.float32) for _ in range(4)]
    w = train_step(w, xs[0]).block_until_ready()
    n_first = len(compiles)
    assert n_first >= 1
    for x in xs[1:]:
        w = train_step(w, x).block_until_ready()
    assert len(compiles) == n_first
