"""Time pipeline over 2/4/8 simulated CPU devices == the single-device scan."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from grad_check import rel_err

from snnjax import neurons
from snnjax.ops import neuron_scan, neuron_scan_pipelined


def _mesh(D):
    return jax.make_mesh((D,), ("time",), devices=jax.devices()[:D])


def _loss(scan, model, w, **kw):
    def loss(params, state, x):
        res = scan(model, params, x, state, **kw)
        return jnp.sum(res.outputs * w) + sum(jnp.sum(jnp.sin(s)) for s in res.final_state)

    return loss


@pytest.mark.parametrize("micro_batches", [1, 2, 4])
@pytest.mark.parametrize("D", [2, 4, 8])
def test_pipeline_equals_single_device(D, micro_batches, rng):
    model = neurons.ALIF(reset="hard")
    # Per-neuron parameters: their gradients sum over batch and time only (see grad_check).
    params = model.params(
        beta=jnp.linspace(0.8, 0.95, 6), rho=jnp.full(6, 0.95), b=jnp.full(6, 0.2)
    )
    x = jnp.asarray(rng.normal(0.3, 0.6, (16, 4, 6)), jnp.float32)
    state = model.State(*(jnp.asarray(rng.normal(0, 0.3, (4, 6)), jnp.float32) for _ in "va"))
    w = jnp.asarray(rng.normal(size=x.shape), jnp.float32)
    kw = {"mesh": _mesh(D), "axis_name": "time", "micro_batches": micro_batches}

    res = neuron_scan_pipelined(model, params, x, state, **kw)
    ref = neuron_scan(model, params, x, state)
    np.testing.assert_array_equal(res.outputs, ref.outputs)
    # Micro-batches change the array shapes XLA compiles for, and with them its choice of
    # fused multiply-adds: the membrane may differ in the last bit, the spikes may not.
    for a, b in zip(res.final_state, ref.final_state, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)

    g = jax.grad(_loss(neuron_scan_pipelined, model, w, **kw), (0, 1, 2))(params, state, x)
    g_ref = jax.grad(_loss(neuron_scan, model, w), (0, 1, 2))(params, state, x)
    # Same arithmetic up to float32 rounding (see above); parameter cotangents are also
    # summed over devices in another order (tolerances as in grad_check).
    for part, part_ref, tol in zip(g, g_ref, (1e-4, 1e-5, 1e-5), strict=True):
        for a, b in zip(jax.tree.leaves(part), jax.tree.leaves(part_ref), strict=True):
            assert rel_err(a, b) <= tol


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"axis_name": "t"}, r"`axis_name` must be one of \('time',\); got 't'"),
        ({"micro_batches": 3}, r"`micro_batches` must be a positive int dividing .* B=4"),
        ({"x": jnp.ones((15, 4, 6))}, r"T=15 must be a multiple of the `time` axis size 4"),
    ],
)
def test_pipeline_bad_arguments(kwargs, match):
    model = neurons.LIF()
    args = {"x": jnp.ones((16, 4, 6)), "axis_name": "time", "micro_batches": 1, **kwargs}
    with pytest.raises(ValueError, match=match):
        neuron_scan_pipelined(model, model.params(beta=0.9), args.pop("x"), mesh=_mesh(4), **args)
