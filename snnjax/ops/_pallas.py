r"""Fused neuron-scan kernels in Pallas: temporal fusion, forward and backward.

One kernel instance walks ``block_t`` time steps for ``block_m`` neurons, keeping the state
in registers (Li et al. 2024, "Towards Scalable GPU-Accelerated SNN Training via Temporal
Fusion"); the backward is one reverse-time kernel. The per-step maths is
:func:`~snnjax.ops._common.forward_step` / :func:`~snnjax.ops._common.backward_step`, i.e.
the model's own ``integrate`` and ``fire`` (differentiated by ``jax.vjp`` inside the
kernel), so every model (IF, LIF, CuBaLIF, ALIF, LI; every reset mode and surrogate) gets a
kernel and the XLA path and the kernels cannot drift apart.

Layout: the neuron axes are flattened to ``M = B·N…`` and padded to a multiple of
``block_m``; parameters are broadcast to ``[M]`` rows. Time runs in blocks of ``block_t``
steps, one ``pallas_call`` per block, carrying the state (a ``lax.scan`` over blocks plus a
shorter call for a remainder), so any ``T`` works.

Memory modes (what the forward keeps for the backward, per neuron):

* ``'save_pre'``: the pre-spike state of every step (4 B per state variable per step);
* ``'recompute'``: only the state at each time-block boundary (4 B per state variable per
  *block*); the backward re-runs the forward kernel on each block before differentiating
  it, trading one extra forward for ``block_t``-fold less memory.

File order, as JAX's Pallas ops: forward kernel → its wrapper → backward kernel → its
wrapper → the differentiable op. The plain-JAX reference is
:func:`snnjax.ops.neuron_scan_reference`.
"""

import functools
import math

import jax
import jax.numpy as jnp
from jax.experimental import pallas as pl

from ._common import (
    ScanResult,
    backward_step,
    broadcast_params,
    first_integrate_cotangents,
    forward_step,
    input_cotangents,
    output_cotangents,
    split_primals,
    tree_add,
)
from ._pallas_backend import BlockSizes

# ----------------------------------------------------------------------------- forward


def _block_specs(bt: int, bs: BlockSizes):
    """Block specs of a per-neuron row ``[M]`` and of a time block ``[bt, M]``."""
    row = pl.BlockSpec((bs.block_m,), lambda i: (i,))
    return row, pl.BlockSpec((bt, bs.block_m), lambda i: (0, i))


def _call(kernel, in_specs, out_specs, out_shape, bs: BlockSizes, interpret: bool, name: str):
    """``pallas_call`` over the row blocks, with the backend's compiler parameters."""
    M = out_shape[0].shape[-1]
    return pl.pallas_call(
        kernel,
        grid=(M // bs.block_m,),
        in_specs=in_specs,
        out_specs=out_specs,
        out_shape=out_shape,
        interpret=interpret,
        compiler_params=bs.compiler_params(),
        name=name,
    )


def _forward_kernel(x_ref, *refs, model, n_params, n_state, block_t, save_pre, return_traces):
    p_refs, s_refs = refs[:n_params], refs[n_params : n_params + n_state]
    out_ref, *rest = refs[n_params + n_state :]
    final_refs, rest = rest[:n_state], rest[n_state:]
    pre_refs, rest = (rest[:n_state], rest[n_state:]) if save_pre else ((), rest)
    trace_refs = rest if return_traces else ()
    params = model.Params(*(r[...] for r in p_refs))

    def body(t, state):
        new, out, pre = forward_step(model, params, state, x_ref[t, :])
        out_ref[t, :] = out
        for r, v in zip(pre_refs, pre, strict=False):
            r[t, :] = v
        for r, v in zip(trace_refs, new, strict=False):
            r[t, :] = v
        return new

    final = jax.lax.fori_loop(0, block_t, body, model.State(*(r[...] for r in s_refs)))
    for r, v in zip(final_refs, final, strict=True):
        r[...] = v


def _forward_block(model, params_m, state_m, x_blk, bs, *, save_pre, return_traces, interpret):
    """One ``pallas_call`` over a time block ``x_blk[bt, M]``: ``(out, final, pres, traces)``."""
    bt, M = x_blk.shape
    n_p, n_s = len(params_m), len(state_m)
    row, seq = _block_specs(bt, bs)
    seq_shapes = [jax.ShapeDtypeStruct((bt, M), s.dtype) for s in state_m]
    out_shape = [jax.ShapeDtypeStruct((bt, M), x_blk.dtype)]
    out_shape += [jax.ShapeDtypeStruct((M,), s.dtype) for s in state_m]
    out_specs = [seq] + [row] * n_s
    for wanted in (save_pre, return_traces):
        if wanted:
            out_shape += seq_shapes
            out_specs += [seq] * n_s
    kernel = functools.partial(
        _forward_kernel,
        model=model,
        n_params=n_p,
        n_state=n_s,
        block_t=bt,
        save_pre=save_pre,
        return_traces=return_traces,
    )
    name = f"snnjax_{type(model).__name__.lower()}_fwd"
    in_specs = [seq] + [row] * (n_p + n_s)
    outs = _call(kernel, in_specs, out_specs, out_shape, bs, interpret, name)(
        x_blk, *params_m, *state_m
    )
    out, final, rest = outs[0], model.State(*outs[1 : 1 + n_s]), outs[1 + n_s :]
    pres = model.State(*rest[:n_s]) if save_pre else None
    traces = model.State(*rest[n_s if save_pre else 0 :]) if return_traces else None
    return out, final, pres, traces


def _time_blocks(T: int, block_t: int) -> tuple[int, int, int]:
    """``(bt, n_full, tail)``: block length, number of full blocks, remainder steps."""
    bt = min(block_t, T)
    return bt, T // bt, T % bt


def _forward(model, params_m, state_m, x_m, bs, *, return_traces, save, interpret):
    """All time blocks. ``save``: ``None``, ``'save_pre'`` or ``'recompute'`` (boundaries).

    Returns ``(out[T, M], final, traces, saved)`` with ``saved`` the pre-spike states
    ``[T, M]`` or the block-start states ``[n_blocks, M]``.
    """
    T, M = x_m.shape
    bt, n_full, tail = _time_blocks(T, bs.block_t)
    run = functools.partial(
        _forward_block,
        model,
        params_m,
        bs=bs,
        save_pre=save == "save_pre",
        return_traces=return_traces,
        interpret=interpret,
    )

    def body(state, x_blk):
        out, final, pres, traces = run(state, x_blk)
        return final, (out, pres, traces, state if save == "recompute" else None)

    x_full = x_m[: n_full * bt].reshape(n_full, bt, M)
    state, (out, pres, traces, bounds) = jax.lax.scan(body, state_m, x_full)
    merge = functools.partial(jax.tree.map, lambda a: a.reshape(n_full * bt, *a.shape[2:]))
    out, pres, traces = merge(out), merge(pres), merge(traces)
    if tail:
        out_t, state_t, pres_t, traces_t = run(state, x_m[n_full * bt :])
        cat = functools.partial(jax.tree.map, lambda a, b: jnp.concatenate([a, b]))
        out, pres, traces = cat(out, out_t), cat(pres, pres_t), cat(traces, traces_t)
        bounds = None if bounds is None else cat(bounds, jax.tree.map(lambda a: a[None], state))
        state = state_t
    return out, state, traces, pres if save == "save_pre" else bounds


# ---------------------------------------------------------------------------- backward


def _backward_kernel(*refs, model, n_params, n_state, block_t, has_traces, need_params):
    x_ref, x_next_ref, g_out_ref, *refs = refs
    pre_refs, refs = refs[:n_state], refs[n_state:]
    g_trace_refs, refs = (refs[:n_state], refs[n_state:]) if has_traces else ((), refs)
    g_next_refs, g_extra_refs, refs = (
        refs[:n_state],
        refs[n_state : 2 * n_state],
        refs[2 * n_state :],
    )
    p_refs, refs = refs[:n_params], refs[n_params:]
    gp_in_refs, refs = (refs[:n_params], refs[n_params:]) if need_params else ((), refs)
    g_pre_refs, gp_out_refs = refs[:n_state], refs[n_state:]
    params = model.Params(*(r[...] for r in p_refs))
    last = block_t - 1

    def body(k, carry):
        g_pre_next, g_params = carry
        j = last - k
        pre_j = model.State(*(r[j, :] for r in pre_refs))
        x_next = jnp.where(j == last, x_next_ref[...], x_ref[jnp.minimum(j + 1, last), :])
        g_extra = [jnp.where(j == last, r[...], 0.0) for r in g_extra_refs]
        if has_traces:
            g_extra = [g + r[j, :] for g, r in zip(g_extra, g_trace_refs, strict=True)]
        g_pre, g_p = backward_step(
            model, params, pre_j, x_next, g_pre_next, model.State(*g_extra), g_out_ref[j, :]
        )
        for r, v in zip(g_pre_refs, g_pre, strict=True):
            r[j, :] = v
        return g_pre, tree_add(g_params, g_p) if need_params else g_params

    init_params = model.Params(*(r[...] for r in gp_in_refs)) if need_params else None
    init = (model.State(*(r[...] for r in g_next_refs)), init_params)
    _, g_params = jax.lax.fori_loop(0, block_t, body, init)
    for r, v in zip(gp_out_refs, g_params or (), strict=False):
        r[...] = v


def _backward_block(
    model,
    params_m,
    x_blk,
    x_next,
    g_out,
    pres,
    g_traces,
    g_pre_next,
    g_extra,
    g_params,
    bs,
    *,
    interpret,
):
    """One reverse ``pallas_call`` over a time block: ``(g_pres[bt, M], g_params)``."""
    bt, M = x_blk.shape
    n_p, n_s = len(params_m), len(pres)
    has_traces, need_params = g_traces is not None, g_params is not None
    row, seq = _block_specs(bt, bs)
    args = [x_blk, x_next, g_out, *pres, *(g_traces or ()), *g_pre_next, *g_extra, *params_m]
    specs = [seq, row, seq] + [seq] * n_s * (2 if has_traces else 1) + [row] * (2 * n_s + n_p)
    out_shape = [jax.ShapeDtypeStruct((bt, M), p.dtype) for p in pres]
    out_specs = [seq] * n_s
    if need_params:
        args += list(g_params)
        specs += [row] * n_p
        out_shape += [jax.ShapeDtypeStruct((M,), p.dtype) for p in params_m]
        out_specs += [row] * n_p
    kernel = functools.partial(
        _backward_kernel,
        model=model,
        n_params=n_p,
        n_state=n_s,
        block_t=bt,
        has_traces=has_traces,
        need_params=need_params,
    )
    name = f"snnjax_{type(model).__name__.lower()}_bwd"
    outs = _call(kernel, specs, out_specs, out_shape, bs, interpret, name)(*args)
    g_pres = model.State(*outs[:n_s])
    return g_pres, (model.Params(*outs[n_s:]) if need_params else None)


def _backward(
    model,
    params_m,
    state_m,
    x_m,
    saved,
    g_out,
    g_traces,
    g_final,
    bs,
    *,
    memory,
    need_params,
    interpret,
):
    """Reverse pass over all time blocks: ``(g_x[T, M], g_state0, g_params_m)``."""
    T, M = x_m.shape
    bt, n_full, tail = _time_blocks(T, bs.block_t)
    zeros = jax.tree.map(jnp.zeros_like, state_m)

    def block(t0, length, state_in, carry, g_extra, pres_blk):
        """Differentiate steps ``[t0, t0 + length)``; ``carry = (g_pre_next, g_params)``."""
        x_blk = jax.lax.dynamic_slice_in_dim(x_m, t0, length)
        if memory == "recompute":
            pres_blk = _forward_block(
                model,
                params_m,
                state_in,
                x_blk,
                bs,
                save_pre=True,
                return_traces=False,
                interpret=interpret,
            )[2]
        take = functools.partial(
            jax.tree.map, lambda a: jax.lax.dynamic_slice_in_dim(a, t0, length)
        )
        x_next = x_m[jnp.minimum(t0 + length, T - 1)]
        g_pres, g_params = _backward_block(
            model,
            params_m,
            x_blk,
            x_next,
            take(g_out),
            pres_blk,
            None if g_traces is None else take(g_traces),
            carry[0],
            g_extra,
            carry[1],
            bs,
            interpret=interpret,
        )
        g_x = input_cotangents(model, params_m, state_in, pres_blk, x_blk, g_pres)
        return (jax.tree.map(lambda a: a[0], g_pres), g_params), g_x

    def state_before(t0, c):
        """The state before step ``t0``: saved boundary, or re-fired from the saved pre."""
        if memory == "recompute":
            return jax.tree.map(lambda a: a[c], saved)
        fired = model.fire(params_m, jax.tree.map(lambda a: a[jnp.maximum(t0 - 1, 0)], saved))[0]
        return jax.tree.map(lambda s0, f: jnp.where(t0 == 0, s0, f), state_m, fired)

    def pres_of(t0, length):
        if memory == "recompute":
            return None
        return jax.tree.map(lambda a: jax.lax.dynamic_slice_in_dim(a, t0, length), saved)

    carry = (zeros, jax.tree.map(jnp.zeros_like, params_m) if need_params else None)
    g_x_tail = None
    if tail:
        t0 = n_full * bt
        carry, g_x_tail = block(
            t0, tail, state_before(t0, n_full), carry, g_final, pres_of(t0, tail)
        )

    def body(carry, c):
        t0 = c * bt
        g_extra = jax.tree.map(lambda g: jnp.where((c == n_full - 1) & (tail == 0), g, 0), g_final)
        return block(t0, bt, state_before(t0, c), carry, g_extra, pres_of(t0, bt))

    (g_pre0, g_params_m), g_x = jax.lax.scan(body, carry, jnp.arange(n_full), reverse=True)
    g_x = g_x.reshape(n_full * bt, M)
    if tail:
        g_x = jnp.concatenate([g_x, g_x_tail])
    g_p0, g_state0 = first_integrate_cotangents(model, params_m, state_m, x_m[0], g_pre0)
    return g_x, g_state0, (tree_add(g_params_m, g_p0) if need_params else None)


# ------------------------------------------------------------------ differentiable op


def _pad_rows(a, M_pad):
    """``[..., M] -> [..., M_pad]`` with zeros (padded neurons are inert: zero input)."""
    pad = M_pad - a.shape[-1]
    return a if pad == 0 else jnp.pad(a, [(0, 0)] * (a.ndim - 1) + [(0, pad)])


def _to_rows(params, state, x, bs):
    """Flatten neuron axes to padded rows: params/state ``[M_pad]``, x ``[T, M_pad]``."""
    T, neuron_shape = x.shape[0], x.shape[1:]
    M = math.prod(neuron_shape)
    M_pad = -(-M // bs.block_m) * bs.block_m
    rows = functools.partial(jax.tree.map, lambda a: _pad_rows(a.reshape(M), M_pad))
    params_full, reduce_to_params = broadcast_params(params, neuron_shape)
    return rows(params_full), rows(state), _pad_rows(x.reshape(T, M), M_pad), reduce_to_params


def _from_rows(a, shape):
    """Padded rows back to ``shape`` (``[..., M_pad] -> shape``)."""
    return a[..., : math.prod(shape[a.ndim - 1 :])].reshape(shape)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1, 2, 3, 4))
def _pallas_scan(model, return_traces, memory, bs, interpret, params, state, x):
    return _pallas_forward(model, return_traces, bs, interpret, params, state, x, save=None)[0]


def _pallas_forward(model, return_traces, bs, interpret, params, state, x, *, save):
    params_m, state_m, x_m, _ = _to_rows(params, state, x, bs)
    out, final, traces, saved = _forward(
        model,
        params_m,
        state_m,
        x_m,
        bs,
        return_traces=return_traces,
        save=save,
        interpret=interpret,
    )
    shape = x.shape
    result = ScanResult(
        _from_rows(out, shape),
        jax.tree.map(lambda a: _from_rows(a, shape[1:]), final),
        None if traces is None else jax.tree.map(lambda a: _from_rows(a, shape), traces),
    )
    return result, saved


def _pallas_scan_fwd(model, return_traces, memory, bs, interpret, params, state, x):
    params, state, x, need_params = split_primals(params, state, x)
    result, saved = _pallas_forward(
        model, return_traces, bs, interpret, params, state, x, save=memory
    )
    return result, (params, state, x, saved, () if need_params else None)


def _pallas_scan_bwd(model, return_traces, memory, bs, interpret, residuals, cotangent):
    params, state0, x, saved, params_flag = residuals
    need_params = params_flag is not None
    params_m, state_m, x_m, reduce_to_params = _to_rows(params, state0, x, bs)
    g_out, g_traces, g_final = output_cotangents(model, return_traces, cotangent, x, state0)
    M_pad, T = x_m.shape[1], x.shape[0]
    seq_rows = functools.partial(jax.tree.map, lambda a: _pad_rows(a.reshape(T, -1), M_pad))
    g_x, g_state0, g_params_m = _backward(
        model,
        params_m,
        state_m,
        x_m,
        saved,
        seq_rows(g_out),
        seq_rows(g_traces),
        jax.tree.map(lambda a: _pad_rows(a.reshape(-1), M_pad), g_final),
        bs,
        memory=memory,
        need_params=need_params,
        interpret=interpret,
    )
    g_params = None
    if need_params:
        g_params_full = jax.tree.map(lambda a: _from_rows(a, x.shape[1:]), g_params_m)
        (g_params,) = reduce_to_params(g_params_full)
    g_state0 = model.State(*(_from_rows(a, x.shape[1:]) for a in g_state0))
    return g_params, g_state0, _from_rows(g_x, x.shape)


_pallas_scan.defvjp(_pallas_scan_fwd, _pallas_scan_bwd, symbolic_zeros=True)
_pallas_scan_jit = jax.jit(_pallas_scan, static_argnums=(0, 1, 2, 3, 4))


def neuron_scan_pallas(model, params, x, state, *, return_traces, memory, block_sizes, interpret):
    """The ``impl='pallas'`` path of :func:`snnjax.ops.neuron_scan` (arguments validated)."""
    bs = block_sizes if block_sizes is not None else BlockSizes.get_default()
    if not isinstance(bs, BlockSizes):
        raise ValueError(f"`block_sizes` must be a BlockSizes; got {type(bs).__name__}")
    if interpret is None:
        interpret = jax.default_backend() == "cpu"
    return _pallas_scan_jit(model, return_traces, memory, bs, bool(interpret), params, state, x)
