r"""Run a neuron model over all time steps: ``neuron_scan``, its XLA path and its reference.

The XLA implementation is a ``lax.scan`` over time with a hand-written ``custom_vjp``:
the forward saves the pre-spike state of every step; the backward is one reverse-time
``lax.scan`` of :func:`~snnjax.ops._common.backward_step` (the model's own ``fire`` and
``integrate`` differentiated per step, so the maths exists once). Parameter cotangents are
accumulated at full neuron shape and reduced to the parameters' shapes once at the end,
and are not computed at all when no parameter is differentiated (``symbolic_zeros``).

Memory saved for the backward, per neuron per step: the pre-spike state, 4 bytes per state
variable in float32 (IF/LIF/LI: 4 B, CuBaLIF and ALIF: 8 B). The input ``x`` is held by
reference (no copy).
"""

import functools

import jax
import jax.numpy as jnp

from .._errors import check_one_of
from .._types import PyTree, Sequence
from ..neurons import NeuronModel
from ._common import (
    ScanResult,
    backward_step,
    broadcast_params,
    first_integrate_cotangents,
    forward_step,
    input_cotangents,
    output_cotangents,
    prepare,
    split_primals,
    tree_add,
)
from ._pallas import BlockSizes, neuron_scan_pallas
from ._pallas_backend import MEMORY_MODES

IMPLS = ("auto", "xla", "pallas")


def neuron_scan(
    model: NeuronModel,
    params: PyTree,
    x: Sequence,
    state: PyTree | None = None,
    *,
    return_traces: bool = False,
    impl: str = "auto",
    memory: str = "save_pre",
    block_sizes: BlockSizes | None = None,
    interpret: bool | None = None,
) -> ScanResult:
    r"""Run ``model`` over every time step of the input currents ``x``.

    For :math:`t = 0, \dots, T-1`: ``state, out[t] = model.step(params, state, x[t])``.

    Args:
        model: a neuron model (:class:`~snnjax.neurons.LIF`, ...), static configuration.
        params: its parameters (``model.params(...)``), each broadcastable to ``x.shape[1:]``.
        x: input currents, **time-major** ``[T, B, ...]`` (rank >= 2); float32, float16 or
            bfloat16 (the state is kept in float32 either way; outputs are in ``x.dtype``).
        state: initial state (each field of shape ``x.shape[1:]``); rest (zeros) if ``None``.
        return_traces: also return the state after every step.
        impl: ``'xla'`` (``lax.scan`` with a hand-written reverse-time backward),
            ``'pallas'`` (fused kernels: one kernel walks a block of time steps for a block
            of neurons, forward and backward), or ``'auto'`` (``'pallas'`` on GPU,
            ``'xla'`` elsewhere).
        memory: what the forward keeps for the backward (``impl='pallas'`` only):
            ``'save_pre'`` (the pre-spike state of every step; fast) or ``'recompute'``
            (only the state at time-block boundaries; the backward recomputes each block).
        block_sizes: kernel block sizes (``impl='pallas'``); defaults per backend.
        interpret: run Pallas kernels in interpret mode (default: on CPU, where it is the
            only way they run; slow, for tests).

    Returns:
        A :class:`ScanResult` ``(outputs, final_state, traces)``.

    Raises:
        ValueError: bad ``model``, ``params``, ``x``, ``state``, ``impl``, ``memory`` or
            ``block_sizes``, before any tracing.

    Examples:
        >>> model = snnjax.neurons.LIF()
        >>> params = model.params(beta=0.9)
        >>> x = jnp.ones((100, 8, 32))  # [T, B, N]
        >>> spikes, final, _ = neuron_scan(model, params, x)
    """
    check_one_of("impl", impl, IMPLS)
    check_one_of("memory", memory, MEMORY_MODES)
    x, state = prepare(model, params, x, state)
    if impl == "auto":
        impl = "pallas" if jax.default_backend() == "gpu" else "xla"
    if impl == "pallas":
        return neuron_scan_pallas(
            model,
            params,
            x,
            state,
            return_traces=bool(return_traces),
            memory=memory,
            block_sizes=block_sizes,
            interpret=interpret,
        )
    return _neuron_scan_xla(model, bool(return_traces), params, state, x)


def _scan_forward(model, params, state, x, *, return_traces: bool, save_pre: bool):
    def body(s, x_t):
        new, out, pre = forward_step(model, params, s, x_t)
        return new, (out, new if return_traces else None, pre if save_pre else None)

    final, (outputs, traces, pres) = jax.lax.scan(body, state, x)
    return ScanResult(outputs, final, traces), pres


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _neuron_scan_xla_vjp(model, return_traces, params, state, x):
    return _scan_forward(model, params, state, x, return_traces=return_traces, save_pre=False)[0]


def _neuron_scan_xla_fwd(model, return_traces, params, state, x):
    params, state, x, need_params = split_primals(params, state, x)
    result, pres = _scan_forward(
        model, params, state, x, return_traces=return_traces, save_pre=True
    )
    # The flag travels in the residuals' tree structure (() or None), never as a value.
    return result, (params, state, pres, x, () if need_params else None)


def _neuron_scan_xla_bwd(model, return_traces, residuals, cotangent: ScanResult):
    params, state0, pres, x, params_flag = residuals
    need_params = params_flag is not None
    T = x.shape[0]
    params_full, reduce_to_params = broadcast_params(params, x.shape[1:])
    g_outputs, g_traces, g_final = output_cotangents(model, return_traces, cotangent, x, state0)

    def body(carry, inputs):
        g_pre_next, g_params = carry
        t, pre_t, g_out, g_trace = inputs
        x_next = jax.lax.dynamic_index_in_dim(x, jnp.minimum(t + 1, T - 1), keepdims=False)
        g_extra = jax.tree.map(lambda g: jnp.where(t == T - 1, g, 0), g_final)
        if g_trace is not None:
            g_extra = tree_add(g_extra, g_trace)
        g_pre, g_p = backward_step(model, params_full, pre_t, x_next, g_pre_next, g_extra, g_out)
        return (g_pre, tree_add(g_params, g_p) if need_params else None), g_pre

    init = (
        jax.tree.map(jnp.zeros_like, state0),
        jax.tree.map(jnp.zeros_like, params_full) if need_params else None,
    )
    xs = (jnp.arange(T), pres, g_outputs, g_traces)
    (g_pre0, g_params_full), g_pres = jax.lax.scan(body, init, xs, reverse=True)

    g_p0, g_state0 = first_integrate_cotangents(model, params_full, state0, x[0], g_pre0)
    g_x = input_cotangents(model, params_full, state0, pres, x, g_pres)
    g_params = reduce_to_params(tree_add(g_params_full, g_p0))[0] if need_params else None
    return g_params, g_state0, g_x


_neuron_scan_xla_vjp.defvjp(_neuron_scan_xla_fwd, _neuron_scan_xla_bwd, symbolic_zeros=True)
_neuron_scan_xla = jax.jit(_neuron_scan_xla_vjp, static_argnums=(0, 1))


def neuron_scan_reference(
    model: NeuronModel,
    params: PyTree,
    x: Sequence,
    state: PyTree | None = None,
    *,
    return_traces: bool = False,
) -> ScanResult:
    """Plain ``lax.scan`` of ``model.step``, differentiated by JAX's autodiff.

    The reference that tests compare :func:`neuron_scan` (both implementations) against,
    and the "naive" baseline of the benchmarks. Same arguments and result as
    :func:`neuron_scan`.
    """
    x, state = prepare(model, params, x, state)
    return _scan_forward(model, params, state, x, return_traces=return_traces, save_pre=False)[0]
