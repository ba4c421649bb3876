r"""Run a neuron model over all time steps: ``neuron_scan`` and its plain-autodiff reference.

The XLA implementation is a ``lax.scan`` over time with a hand-written ``custom_vjp``. Its
backward pass is one reverse-time scan that, at each step, differentiates the model's own
``step`` function at the saved pre-step state (``jax.vjp`` of ``step``; the maths exists
once). Parameter cotangents are accumulated at full neuron shape ``[B, ...]`` and reduced
to the parameters' shapes once at the end, instead of once per step.

Memory saved for the backward, per neuron element and time step: the model's state before
the step, i.e. 4 bytes per state variable in float32 (IF/LIF/LI: 4 B, CuBaLIF and ALIF: 8 B).
Intermediates (pre-reset membrane, surrogate derivative, reset masks) are recomputed in
the backward rather than stored. The input ``x`` is held by reference (no copy) and the
outputs are what the caller asked for. Plain autodiff of the same scan (the reference)
stores its intermediates instead.
"""

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_derivatives import SymbolicZero

from .._errors import check_one_of
from .._types import Array, PyTree, Sequence
from ..neurons import NeuronModel

IMPLS = ("auto", "xla", "pallas")


class ScanResult(NamedTuple):
    """What :func:`neuron_scan` returns.

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


def neuron_scan(
    model: NeuronModel,
    params: PyTree,
    x: Sequence,
    state: PyTree | None = None,
    *,
    return_traces: bool = False,
    impl: str = "auto",
) -> ScanResult:
    r"""Run ``model`` over every time step of the input currents ``x``.

    For :math:`t = 0, \dots, T-1`: ``state, out[t] = model.step(params, state, x[t])``.

    Args:
        model: a neuron model (:class:`~snnjax.neurons.LIF`, ...), static configuration.
        params: its parameters (``model.params(...)``), each broadcastable to ``x.shape[1:]``.
        x: input currents, **time-major** ``[T, B, ...]`` (rank >= 2).
        state: initial state (each field of shape ``x.shape[1:]``); rest (zeros) if ``None``.
        return_traces: also return the state after every step.
        impl: ``'xla'`` (``lax.scan`` with a hand-written reverse-time backward),
            ``'pallas'`` (fused GPU kernel), or ``'auto'`` (the best available on the
            current backend; ``'xla'`` for now).

    Returns:
        A :class:`ScanResult` ``(outputs, final_state, traces)``.

    Raises:
        ValueError: bad ``model``, ``params``, ``x``, ``state`` or ``impl``, before any tracing.
        NotImplementedError: ``impl='pallas'``, which the fused-kernel work has not landed yet.

    Examples:
        >>> model = snnjax.neurons.LIF()
        >>> params = model.params(beta=0.9)
        >>> x = jnp.ones((100, 8, 32))  # [T, B, N]
        >>> spikes, final, _ = neuron_scan(model, params, x)
    """
    check_one_of("impl", impl, IMPLS)
    x, state = _prepare(model, params, x, state)
    if impl == "pallas":
        raise NotImplementedError(
            "impl='pallas' (the fused GPU kernels) is not implemented yet; use impl='xla' or "
            "impl='auto'"
        )
    return _neuron_scan_xla(model, bool(return_traces), params, state, x)


def _prepare(model, params, x, state):
    """Validated ``x`` as an array and the initial state (rest when ``None``)."""
    check_scan_args(model, params, x, state)
    x = jnp.asarray(x)
    if state is None:
        state = model.init_state(params, x.shape[1:], x.dtype)
    return x, state


def _scan_forward(model, params, state, x, *, return_traces: bool, save_pre: bool, unroll: int):
    def body(s, x_t):
        pre = model.integrate(params, s, x_t)
        new, out = model.fire(params, pre)
        return new, (out, new if return_traces else None, pre if save_pre else None)

    final, (outputs, traces, pres) = jax.lax.scan(body, state, x, unroll=unroll)
    return ScanResult(outputs, final, traces), pres


def _unroll(x) -> int:
    """Time steps per loop iteration: amortises loop overhead on small steps."""
    return 1


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _neuron_scan_xla_vjp(model, return_traces, params, state, x):
    return _scan_forward(
        model, params, state, x, return_traces=return_traces, save_pre=False, unroll=_unroll(x)
    )[0]


def _neuron_scan_xla_fwd(model, return_traces, params, state, x):
    # With symbolic zeros, every primal leaf arrives as CustomVJPPrimal(value, perturbed).
    need_params = any(p.perturbed for p in jax.tree.leaves(params))
    params, state, x = jax.tree.map(lambda p: p.value, (params, state, x))
    result, pres = _scan_forward(
        model, params, state, x, return_traces=return_traces, save_pre=True, unroll=_unroll(x)
    )
    # The flag travels in the residuals' tree structure (() or None), never as a value.
    return result, (params, state, pres, x, () if need_params else None)


def _materialize(ct, like):
    """A cotangent as an array: symbolic zeros become zeros of the primal's shape/dtype."""
    return jnp.zeros(like.shape, like.dtype) if isinstance(ct, SymbolicZero) else ct


def _neuron_scan_xla_bwd(model, return_traces, residuals, cotangent: ScanResult):
    params, state0, pres, x, params_flag = residuals
    need_params = params_flag is not None
    T, neuron_shape = x.shape[0], x.shape[1:]
    # Differentiate w.r.t. parameters broadcast to the neuron shape; reduce once at the end.
    params_full, reduce_to_params = jax.vjp(
        lambda p: jax.tree.map(lambda a: jnp.broadcast_to(a, neuron_shape), p), params
    )
    g_outputs = _materialize(cotangent.outputs, x)
    g_traces = None
    if return_traces and not all(isinstance(c, SymbolicZero) for c in cotangent.traces):
        g_traces = model.State(*jax.tree.map(_materialize, tuple(cotangent.traces), tuple(state0)))
    g_final = model.State(*jax.tree.map(_materialize, tuple(cotangent.final_state), tuple(state0)))

    def integrate_vjp(state, x_t, g_pre):
        """Cotangents of ``integrate`` (params, state, x) at (state, x_t) for ``g_pre``."""
        return jax.vjp(model.integrate, params_full, state, x_t)[1](g_pre)

    def body(carry, inputs):
        # Iteration t (reverse): finishes step t + 1's `integrate` (which needs the state
        # after step t) and differentiates step t's `fire`. The carry is the cotangent of
        # step t + 1's pre-spike state; it is also the per-step output, so XLA writes the
        # value it already holds, and for a model whose input enters additively (IF, LIF,
        # LI) the input cotangent *is* that output: no extra pass.
        g_pre_next, g_params = carry
        t, pre_t, g_out, g_trace = inputs
        state_t = model.fire(params_full, pre_t)[0]  # removed by XLA when unused
        x_next = jax.lax.dynamic_index_in_dim(x, jnp.minimum(t + 1, T - 1), keepdims=False)
        g_p_int, g_state, _ = integrate_vjp(state_t, x_next, g_pre_next)
        g_state = jax.tree.map(lambda a, b: a + jnp.where(t == T - 1, b, 0), g_state, g_final)
        if g_trace is not None:
            g_state = _tree_add(g_state, g_trace)
        g_p_fire, g_pre = jax.vjp(model.fire, params_full, pre_t)[1]((g_state, g_out))
        if need_params:
            g_params = _tree_add(g_params, _tree_add(g_p_fire, g_p_int))
        return (g_pre, g_params), g_pre

    init = (
        model.State(*(jnp.zeros(neuron_shape, a.dtype) for a in pres)),
        jax.tree.map(jnp.zeros_like, params_full) if need_params else None,
    )
    xs = (jnp.arange(T), pres, g_outputs, g_traces)
    (g_pre0, g_params_full), g_pres = jax.lax.scan(body, init, xs, reverse=True)

    # Step 0's `integrate` from the initial state; input cotangents for all steps at once
    # (the state before each step is recomputed only if `integrate` needs it).
    g_p0, g_state0, _ = integrate_vjp(state0, x[0], g_pre0)
    fired = jax.vmap(lambda pre: model.fire(params_full, pre)[0])(pres)
    prevs = jax.tree.map(lambda s0, f: jnp.concatenate([s0[None], f[:-1]]), state0, fired)
    g_x = jax.vmap(lambda prev, x_t, g: integrate_vjp(prev, x_t, g)[2])(prevs, x, g_pres)
    g_params = None
    if need_params:
        (g_params,) = reduce_to_params(_tree_add(g_params_full, g_p0))
    return g_params, g_state0, g_x


_neuron_scan_xla_vjp.defvjp(_neuron_scan_xla_fwd, _neuron_scan_xla_bwd, symbolic_zeros=True)
_neuron_scan_xla = jax.jit(_neuron_scan_xla_vjp, static_argnums=(0, 1))


def _tree_add(a: PyTree, b: PyTree) -> PyTree:
    return jax.tree.map(jnp.add, a, b)


def neuron_scan_reference(
    model: NeuronModel,
    params: PyTree,
    x: Sequence,
    state: PyTree | None = None,
    *,
    return_traces: bool = False,
) -> ScanResult:
    """Plain ``lax.scan`` of ``model.step``, differentiated by JAX's autodiff.

    The reference that tests compare :func:`neuron_scan` against (and the "naive" baseline
    of ``benchmarks/lif_layer.py``). Same arguments and result as :func:`neuron_scan`.
    """
    x, state = _prepare(model, params, x, state)
    return _scan_forward(
        model, params, state, x, return_traces=return_traces, save_pre=False, unroll=1
    )[0]
