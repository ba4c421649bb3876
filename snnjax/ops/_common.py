"""What every time-scan implementation shares: arguments, cotangents and the step maths.

Both implementations (``'xla'``: ``lax.scan``; ``'pallas'``: fused kernels) run the same
two per-step functions, built from the model's own ``integrate`` and ``fire``:

* :func:`forward_step`: ``state -> (state', out, pre)``;
* :func:`backward_step`: one reverse-time step. At step ``t`` it *finishes* step ``t + 1``'s
  ``integrate`` (whose primal inputs are the state after step ``t``, recomputed from the
  saved pre-spike state by ``fire``, and ``x[t + 1]``) and differentiates step ``t``'s
  ``fire``. Its carry is the cotangent of the pre-spike state, which is also what it
  emits per step: for models whose input enters additively (IF, LIF, LI, ALIF) that *is*
  the input cotangent, so no extra pass is needed. Primal values a model's maths does not
  need (e.g. the recomputed state when ``integrate`` is linear and no parameter gradient
  is asked for) are removed by the compiler.

Memory saved for the backward (save-membrane mode): the pre-spike state, 4 bytes per state
variable per neuron per step in float32 (IF/LIF/LI 4 B, CuBaLIF/ALIF 8 B).
"""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_derivatives import SymbolicZero

from .._types import Array, PyTree
from ..neurons import NeuronModel


class ScanResult(NamedTuple):
    """What :func:`~snnjax.ops.neuron_scan` returns.

    Attributes:
        outputs: ``[T, B, ...]`` spikes (membrane for a non-spiking readout such as LI).
        final_state: the model's state after the last step.
        traces: the state after every step (each field ``[T, B, ...]``, after reset), or
            ``None`` unless ``return_traces=True``.
    """

    outputs: Array
    final_state: Any
    traces: Any | None


def check_scan_args(model: Any, params: Any, x: Any, state: Any) -> None:
    """Validate the arguments of a time scan (shapes only; no tracing), raising ``ValueError``."""
    if not isinstance(model, NeuronModel):
        raise ValueError(
            "`model` must be a snnjax.neurons model (IF, LIF, CuBaLIF, ALIF, LI); "
            f"got {type(model).__name__}"
        )
    shape = np.shape(x)
    if len(shape) < 2:
        raise ValueError(
            f"`x` must be time-major with rank >= 2, [T, B, ...]; got shape {shape} (rank "
            f"{len(shape)}). Add a batch axis, e.g. x[:, None]"
        )
    if shape[0] < 1:
        raise ValueError(f"`x` must have at least one time step; got shape {shape}")
    if not jnp.issubdtype(jnp.result_type(x), jnp.floating):
        raise ValueError(f"`x` must be a floating-point array; got dtype {jnp.result_type(x)}")
    model.check_params(params, shape[1:])
    if state is not None:
        if not isinstance(state, model.State):
            raise ValueError(
                f"`state` must be a {model.State.__name__} or None; got {type(state).__name__}"
            )
        for field, value in zip(state._fields, state, strict=True):
            if np.shape(value) != shape[1:]:
                raise ValueError(
                    f"`state.{field}` has shape {np.shape(value)}; it must match one time step "
                    f"of `x`, {shape[1:]}"
                )


def prepare(model, params, x, state):
    """Validated ``x`` as an array and the initial state (float32 rest when ``None``)."""
    check_scan_args(model, params, x, state)
    x = jnp.asarray(x)
    if state is None:
        state = model.init_state(params, x.shape[1:], jnp.promote_types(x.dtype, jnp.float32))
    return x, state


def tree_add(a: PyTree, b: PyTree) -> PyTree:
    return jax.tree.map(jnp.add, a, b)


def forward_step(model: NeuronModel, params, state, x_t):
    """``(state', out, pre)``: one step, with the pre-spike state the backward needs."""
    pre = model.integrate(params, state, x_t.astype(state[0].dtype))
    new, out = model.fire(params, pre)
    return new, out.astype(x_t.dtype), pre


def backward_step(model: NeuronModel, params, pre_t, x_next, g_pre_next, g_state_extra, g_out):
    """One reverse-time step (see the module docstring).

    Args:
        params: parameters at full neuron shape (cotangents are per element).
        pre_t: the saved pre-spike state of step ``t``.
        x_next: the input of step ``t + 1`` (any value at the last step).
        g_pre_next: cotangent of step ``t + 1``'s pre-spike state (zeros at the last step).
        g_state_extra: cotangent reaching the state after step ``t`` from outside the
            recurrence (its trace; the final-state cotangent at the last step).
        g_out: cotangent of step ``t``'s output.

    Returns:
        ``(g_pre_t, g_params_t)``.
    """
    state_t = model.fire(params, pre_t)[0]
    _, integrate_vjp = jax.vjp(model.integrate, params, state_t, x_next.astype(state_t[0].dtype))
    g_p_int, g_state, _ = integrate_vjp(g_pre_next)
    g_state = tree_add(g_state, g_state_extra)
    _, fire_vjp = jax.vjp(model.fire, params, pre_t)
    g_p_fire, g_pre = fire_vjp((g_state, g_out.astype(state_t[0].dtype)))
    return g_pre, tree_add(g_p_fire, g_p_int)


def input_cotangents(model: NeuronModel, params, state_in, pres, x, g_pres):
    """``g_x[t]`` for a run of steps from their pre-spike states and cotangents.

    Args:
        state_in: the state before the first of these steps.
        pres, x, g_pres: per-step pre-spike states, inputs and pre-spike cotangents.
    """
    fired = jax.vmap(lambda pre: model.fire(params, pre)[0])(pres)
    prevs = jax.tree.map(lambda s0, f: jnp.concatenate([s0[None], f[:-1]]), state_in, fired)

    def one(prev, x_t, g):
        return jax.vjp(model.integrate, params, prev, x_t.astype(prev[0].dtype))[1](g)[2]

    return jax.vmap(one)(prevs, x, g_pres).astype(x.dtype)


def first_integrate_cotangents(model: NeuronModel, params, state0, x0, g_pre0):
    """Cotangents ``(g_params, g_state0)`` of step 0's ``integrate``."""
    _, integrate_vjp = jax.vjp(model.integrate, params, state0, x0.astype(state0[0].dtype))
    g_p, g_state0, _ = integrate_vjp(g_pre0)
    return g_p, g_state0


def split_primals(params, state, x):
    """Unwrap ``CustomVJPPrimal`` leaves; returns values and whether params need gradients."""
    need_params = any(p.perturbed for p in jax.tree.leaves(params))
    params, state, x = jax.tree.map(lambda p: p.value, (params, state, x))
    return params, state, x, need_params


def materialize(ct, like):
    """A cotangent as an array: symbolic zeros become zeros of the primal's shape/dtype."""
    return jnp.zeros(like.shape, like.dtype) if isinstance(ct, SymbolicZero) else ct


def output_cotangents(model, return_traces, cotangent: ScanResult, x, state0):
    """``(g_outputs, g_traces or None, g_final)`` with symbolic zeros resolved."""
    g_outputs = materialize(cotangent.outputs, x)
    g_traces = None
    if return_traces and not all(isinstance(c, SymbolicZero) for c in cotangent.traces):
        zeros_like_traces = [jax.ShapeDtypeStruct(x.shape, s.dtype) for s in state0]
        g_traces = model.State(*map(materialize, cotangent.traces, zeros_like_traces))
    g_final = model.State(*map(materialize, cotangent.final_state, state0))
    return g_outputs, g_traces, g_final


def broadcast_params(params, neuron_shape):
    """Parameters at full neuron shape, and the function mapping their cotangents back."""
    return jax.vjp(lambda p: jax.tree.map(lambda a: jnp.broadcast_to(a, neuron_shape), p), params)
