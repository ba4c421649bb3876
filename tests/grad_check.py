"""Shared gradient check: any ``neuron_scan`` implementation against the autodiff reference.

Tolerances, float32: input and initial-state gradients within a relative error of 1e-5;
parameter gradients within 1e-4. A parameter's gradient is a sum over batch and time of
terms of both signs, and two correct summation orders differ by ~1e-5 relative from
cancellation alone (seen: 1.2e-5). The float64 runs (tolerance 1e-10) show that the two
backward passes are the same mathematics.
"""

import jax
import jax.numpy as jnp
import numpy as np
from model_cases import make_model, random_params

from snnjax.ops import neuron_scan, neuron_scan_reference


def rel_err(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30)


def make_problem(
    case, rng, shape, *, dtype=jnp.float32, surrogate="fast_sigmoid", scalar_first_param=False
):
    """A random model/params/input/state and loss weights for ``case``."""
    name, reset, detach = case
    model = make_model(name, reset, detach, surrogate)
    _, B, N = shape
    state_dtype = jnp.promote_types(dtype, jnp.float32)

    def arr(a, dt=state_dtype):
        return jnp.asarray(a, dt)

    params = model.Params(**{k: arr(v) for k, v in random_params(name, rng, N).items()})
    if scalar_first_param:
        params = params._replace(**{params._fields[0]: params[0][0]})
    x = arr(rng.normal(0.3, 0.5, shape), dtype)
    state = model.State(*(arr(rng.normal(0, 0.3, (B, N))) for _ in model.State._fields))
    weights = [arr(rng.normal(size=shape)) for _ in range(1 + len(state))]
    return model, params, x, state, weights


def loss_fn(scan, model, weights, **kw):
    """A scalar loss touching outputs, every trace and the final state with random weights."""

    def loss(params, state, x):
        res = scan(model, params, x, state, return_traces=True, **kw)
        total = jnp.sum(res.outputs.astype(weights[0].dtype) * weights[0])
        for tr, w in zip(res.traces, weights[1:], strict=True):
            total += jnp.sum(jnp.tanh(tr) * w)
        return total + sum(jnp.sum(jnp.sin(s)) for s in res.final_state)

    return loss


def check_against_reference(model, params, x, state, weights, *, tol=1e-5, param_tol=1e-4, **kw):
    """Forward (exact spikes, traces) and gradients of ``neuron_scan(**kw)`` vs the reference."""
    res = neuron_scan(model, params, x, state, return_traces=True, **kw)
    ref = neuron_scan_reference(model, params, x, state, return_traces=True)
    np.testing.assert_array_equal(res.outputs, ref.outputs)
    if model.spiking:
        assert 0 < float(ref.outputs.mean()) < 1, "inputs should make some neurons spike"
    for a, b in zip([*res.traces, *res.final_state], [*ref.traces, *ref.final_state], strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6, rtol=1e-6)

    argnums = (0, 1, 2)
    g = jax.grad(loss_fn(neuron_scan, model, weights, **kw), argnums)(params, state, x)
    g_ref = jax.grad(loss_fn(neuron_scan_reference, model, weights), argnums)(params, state, x)
    for i, (part, part_ref) in enumerate(zip(g, g_ref, strict=True)):
        for path, a, b in zip(
            [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(part_ref)[0]],
            jax.tree.leaves(part),
            jax.tree.leaves(part_ref),
            strict=True,
        ):
            name = ("params", "state", "x")[i] + path
            assert a.shape == b.shape and a.dtype == b.dtype, name
            assert np.all(np.isfinite(a)), name
            limit = param_tol if i == 0 else tol
            assert rel_err(a, b) <= limit, f"{name}: rel. err {rel_err(a, b):.2e} > {limit}"
