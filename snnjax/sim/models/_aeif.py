r"""``aeif_cond_exp`` and ``aeif_cond_alpha``: adaptive exponential integrate-and-fire
(Brette & Gerstner 2005) with conductance synapses, integrated as NEST does.

.. math::
    C_m \frac{dV}{dt} = -g_L (V - E_L) + g_L \Delta_T e^{(V - V_\text{th})/\Delta_T}
        - g_\text{ex}(V - E_\text{ex}) - g_\text{in}(V - E_\text{in}) - w + I_e + I_\text{stim},
    \qquad \tau_w \frac{dw}{dt} = a (V - E_L) - w,

with :math:`V` bounded by ``V_peak`` in the right-hand side (``V_reset`` and
:math:`dV/dt = 0` while refractory) and the conductances of :mod:`._iaf_cond` (exponential
or alpha). NEST integrates with GSL's RKF45 under the ``yp`` control (``gsl_error_tol`` on
both :math:`y` and :math:`h\,dy/dt`), starting with an internal step of
:math:`\min(0.01, h)` ms, and handles spikes *inside* the sub-step loop: after every
accepted sub-step, ``V_m < -1e3`` or :math:`|w| > 10^6` is a numerical instability;
a refractory neuron is clamped to ``V_reset``; otherwise ``V_m >= V_peak`` (``V_th`` when
:math:`\Delta_T = 0`) is a spike: ``V_m = V_reset``, ``w += b``, refractory for ``t_ref``
(one more step, counted down after the loop). Several spikes in one step are emitted
together (a multiplicity). Then the step's input spikes are added to the conductances and
the step's current becomes ``I_stim``.

Float32 caveat: NEST's default ``gsl_error_tol = 1e-6`` is below float32's resolution of
``V_m`` (about 4e-6 mV at -60 mV), so the error estimate is floored at a few float32 ulps
of the state; see the module tests for the measured agreement with NEST.
"""

import functools
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from ..._errors import check_range
from ..._types import Array, ArrayLike
from ...neurons._base import fire_and_reset
from .._native import rkf45_native
from ._common import (
    _check_n,
    _check_params_type,
    _check_step,
    _default_surrogate,
    _f32,
    _initial,
    _input,
    _read,
    native_rows_block,
    ode_fields,
)
from ._rkf45 import Control, evolve, step_constants
from ._spec import ModelSpec

_F32_LOG_MAX = float(np.log(np.finfo(np.float32).max))


class AeifCondParams(NamedTuple):
    """``aeif_cond_exp`` / ``aeif_cond_alpha`` parameters (NEST names and units)."""

    C_m: Array  #: membrane capacitance (pF)
    V_th: Array  #: spike initiation threshold (mV)
    t_ref: Array  #: refractory period (ms)
    g_L: Array  #: leak conductance (nS)
    E_L: Array  #: leak reversal potential (mV)
    V_reset: Array  #: reset potential (mV)
    E_ex: Array  #: excitatory reversal potential (mV)
    E_in: Array  #: inhibitory reversal potential (mV)
    tau_syn_ex: Array  #: excitatory synaptic time constant (ms)
    tau_syn_in: Array  #: inhibitory synaptic time constant (ms)
    a: Array  #: subthreshold adaptation (nS)
    b: Array  #: spike-triggered adaptation (pA)
    Delta_T: Array  #: slope factor (mV)
    tau_w: Array  #: adaptation time constant (ms)
    I_e: Array  #: constant input current (pA)
    V_peak: Array  #: spike detection threshold (mV)
    gsl_error_tol: Array  #: error tolerance of the integrator


class AeifCondExpState(NamedTuple):
    """``aeif_cond_exp`` state (float32; ``r`` int32)."""

    V_m: Array  #: membrane potential (mV)
    g_ex: Array  #: excitatory conductance (nS)
    g_in: Array  #: inhibitory conductance (nS)
    w: Array  #: adaptation current (pA)
    i_0: Array  #: the previous step's current (pA): NEST's ``I_stim_``
    r: Array  #: refractory steps left
    step: Array  #: the integrator's current step size (ms)


class AeifCondAlphaState(NamedTuple):
    """``aeif_cond_alpha`` state (float32; ``r`` int32)."""

    V_m: Array  #: membrane potential (mV)
    dg_ex: Array  #: derivative of the excitatory conductance (nS/ms)
    g_ex: Array  #: excitatory conductance (nS)
    dg_in: Array  #: derivative of the inhibitory conductance (nS/ms)
    g_in: Array  #: inhibitory conductance (nS)
    w: Array  #: adaptation current (pA)
    i_0: Array  #: the previous step's current (pA)
    r: Array  #: refractory steps left
    step: Array  #: the integrator's current step size (ms)


class AeifProps(NamedTuple):
    """Constants of a step."""

    h: Array  #: resolution (ms)
    refractory_counts: Array  #: refractory period in steps (int32)
    psc_ex: Array  #: :math:`e/\tau_\text{syn,ex}` (alpha: jump of ``dg_ex`` per nS)
    psc_in: Array  #: :math:`e/\tau_\text{syn,in}`
    v_spike: Array  #: spike detection: ``V_peak``, or ``V_th`` when ``Delta_T = 0``


#: NEST 3.10 defaults (both models).
DEFAULTS = {
    "C_m": 281.0, "V_th": -50.4, "t_ref": 0.0, "g_L": 30.0, "E_L": -70.6, "V_reset": -60.0,
    "E_ex": 0.0, "E_in": -85.0, "tau_syn_ex": 0.2, "tau_syn_in": 2.0, "a": 4.0, "b": 80.5,
    "Delta_T": 2.0, "tau_w": 144.0, "I_e": 0.0, "V_peak": 0.0, "gsl_error_tol": 1e-6,
}  # fmt: skip
INITIAL_STATE = {"V_m": -70.6, "w": 0.0}


def validate(model: str, p: dict[str, np.ndarray]) -> None:
    """NEST's checks (``Parameters_::set``), ``g_L > 0``, and float32 overflow at spikes."""
    if np.any(p["V_peak"] < p["V_th"]):
        raise ValueError(f"`V_peak` must be >= `V_th` for '{model}'; got {p['V_peak']}")
    check_range("Delta_T", p["Delta_T"], low=0.0)
    ratio = (p["V_peak"] - p["V_th"]) / np.where(p["Delta_T"] > 0, p["Delta_T"], 1.0)
    if np.any((p["Delta_T"] > 0) & (ratio >= _F32_LOG_MAX - np.log(1e6))):
        raise ValueError(
            f"`(V_peak - V_th) / Delta_T` must be < {_F32_LOG_MAX - np.log(1e6):.1f} for "
            f"'{model}' (float32 overflow at spike time); increase Delta_T or lower V_peak"
        )
    if np.any(p["V_reset"] >= p["V_peak"]):
        raise ValueError(f"`V_reset` must be < `V_peak` for '{model}'; got {p['V_reset']}")
    for name in ("C_m", "g_L", "tau_syn_ex", "tau_syn_in", "tau_w", "gsl_error_tol"):
        check_range(name, p[name], low=0.0, low_inclusive=False)
    check_range("t_ref", p["t_ref"], low=0.0)


def propagators(params: AeifCondParams, h: float) -> AeifProps:
    """The step's constants."""
    v_spike = _f32(np.where(params.Delta_T > 0, params.V_peak, params.V_th))
    return step_constants(AeifProps, params, h, np.e / params.tau_syn_ex,
                          np.e / params.tau_syn_in, v_spike=v_spike)  # fmt: skip


def _init_state(state_cls, params, n, V_m, w):
    n = _check_n(n)
    _check_params_type(AeifCondParams, params, n)
    zeros = jnp.zeros((n,), jnp.float32)
    fields = {f: zeros for f in state_cls._fields}
    fields.update(V_m=_initial("V_m", V_m, n), w=_initial("w", w, n), r=jnp.zeros((n,), jnp.int32))
    fields["step"] = jnp.full((n,), jnp.nan, jnp.float32)
    return state_cls(**fields)


def aeif_cond_exp_init_state(
    params: AeifCondParams, n: int, *, V_m: ArrayLike = -70.6, w: ArrayLike = 0.0
) -> AeifCondExpState:
    """NEST's initial state of ``n`` neurons (the integrator's step is set by the first
    step: ``min(0.01, h)``)."""
    return _init_state(AeifCondExpState, params, n, V_m, w)


def aeif_cond_alpha_init_state(
    params: AeifCondParams, n: int, *, V_m: ArrayLike = -70.6, w: ArrayLike = 0.0
) -> AeifCondAlphaState:
    """NEST's initial state of ``n`` neurons (see :func:`aeif_cond_exp_init_state`)."""
    return _init_state(AeifCondAlphaState, params, n, V_m, w)


#: The model of each ``alpha`` of :func:`_step`.
_NAMES = {False: "aeif_cond_exp", True: "aeif_cond_alpha", "psc": "aeif_psc_exp"}


def _step(alpha, props, params, state, in_ex, in_in, i_stim, surrogate, detach_reset,
          substeps=0, native=False, threads=0):  # fmt: skip
    """One step; ``alpha``: alpha conductances (``True``), exponential *currents*
    (``"psc"``: ``aeif_psc_exp``), else exponential conductances; ``native``: the ODE and
    the spikes inside it by the native kernel (:func:`~snnjax.sim._native.rkf45_native`;
    one axis of neurons)."""
    name = _NAMES[alpha]
    psc = alpha == "psc"
    alpha = alpha is True
    if substeps:
        raise ValueError(
            "`substeps` (fixed RK45 steps) is not supported by the aeif models: their "
            "exponential spike needs NEST's adaptive steps; use substeps=0"
        )
    classes = (AeifProps, type(params), type(state))
    inputs = {"in_ex": in_ex, "in_in": in_in, "i_stim": i_stim}
    shape = _check_step(name, classes, props, params, state, inputs)
    p, q = _read(params, props, len(shape))
    surrogate = surrogate or _default_surrogate()
    stim = state.i_0 + p.I_e
    slope = jnp.where(p.Delta_T > 0, p.Delta_T, 1.0)
    names = ode_fields(state)
    iw = names.index("w")

    def rhs(y, aux, ctx):  # per-neuron values from ctx only (evolve compacts them)
        p, _, stim, slope = ctx
        refractory = aux[0] > 0
        v = jnp.where(refractory, p.V_reset, jnp.minimum(y[0], p.V_peak))
        w = y[iw]
        i_spike = jnp.where(p.Delta_T > 0, p.g_L * p.Delta_T * jnp.exp((v - p.V_th) / slope), 0.0)
        if psc:  # currents, the inhibitory one positive
            i_syn = y[1] - y[2]
        else:
            g_ex, g_in = (y[2], y[4]) if alpha else (y[1], y[2])
            i_syn = -g_ex * (v - p.E_ex) - g_in * (v - p.E_in)
        dv = (-p.g_L * (v - p.E_L) + i_spike + i_syn - w + stim) / p.C_m
        dv = jnp.where(refractory, 0.0, dv)
        dw = (p.a * (v - p.E_L) - w) / p.tau_w
        if alpha:
            return (dv, -y[1] / p.tau_syn_ex, y[1] - y[2] / p.tau_syn_ex,
                    -y[3] / p.tau_syn_in, y[3] - y[4] / p.tau_syn_in, dw)  # fmt: skip
        return dv, -y[1] / p.tau_syn_ex, -y[2] / p.tau_syn_in, dw

    def after(y, aux, ctx):
        p, q, _, _ = ctx
        r, count, bad = aux
        v, w = y[0], y[iw]
        bad = bad | (v < -1e3) | (jnp.abs(w) > 1e6) | ~jnp.isfinite(v)
        refractory = r > 0
        v_new, s = fire_and_reset(v, q.v_spike, p.V_reset, reset="hard",
                                  detach_reset=detach_reset, surrogate=surrogate)  # fmt: skip
        s = jnp.where(refractory, 0.0, s)
        v = jnp.where(refractory, p.V_reset, jnp.where(s > 0, v_new, v))
        r = jnp.where(s > 0, jnp.where(q.refractory_counts > 0, q.refractory_counts + 1, 0), r)
        y = tuple(v if i == 0 else w + s * p.b if i == iw else x for i, x in enumerate(y))
        return y, (r, count + s, bad)

    fields = state._asdict()
    step = jnp.where(jnp.isnan(state.step), jnp.minimum(0.01, q.h), state.step)
    y = tuple(fields[f] for f in names)
    if native and len(shape) == 1:  # then the refractory count, the spikes, instabilities
        zeros = jnp.zeros(shape, jnp.float32)
        rows, step, failed = rkf45_native(
            name, (*y, state.r.astype(jnp.float32), zeros, zeros), step,
            (q.h, stim, *_ode_params(psc, p, q)), threads=threads,
        )  # fmt: skip
        y, (r, spikes, bad) = rows[: len(y)], rows[len(y) :]
        r, bad = r.astype(jnp.int32), bad != 0
    else:
        control = Control(p.gsl_error_tol, p.gsl_error_tol, 0.0, 1.0)  # control_yp_new
        aux = (state.r, jnp.zeros(shape, state.V_m.dtype), jnp.zeros(shape, bool))
        y, step, failed, (r, spikes, bad) = evolve(
            rhs, y, step, q.h, control, aux, after, substeps, ctx=(p, q, stim, slope)
        )
    fields.update(zip(names, y, strict=True), step=step)
    w_ex, w_in = _input(in_ex, shape), -_input(in_in, shape)
    if alpha:
        fields.update(dg_ex=fields["dg_ex"] + w_ex * q.psc_ex,
                      dg_in=fields["dg_in"] + w_in * q.psc_in)  # fmt: skip
    else:
        ex, inh = names[1], names[2]  # g_ex, g_in or I_ex, I_in
        fields.update({ex: fields[ex] + w_ex, inh: fields[inh] + w_in})
    v = jnp.where(failed | bad, jnp.nan, fields["V_m"])
    fields.update(V_m=v, r=jnp.where(r > 0, r - 1, r),
                  i_0=jnp.broadcast_to(_input(i_stim, shape), shape))  # fmt: skip
    return type(state)(**fields), spikes


def _ode_params(psc, p, q) -> tuple:
    """The native ODE's parameters after ``h`` and the current (``csrc/neuron_ode.cc``)."""
    synapses = (p.tau_syn_ex, p.tau_syn_in) if psc else (p.E_ex, p.E_in, p.tau_syn_ex,
                                                          p.tau_syn_in)  # fmt: skip
    return (p.V_reset, p.V_peak, p.V_th, p.E_L, p.g_L, p.C_m, p.Delta_T, p.a, p.b, p.tau_w,
            p.gsl_error_tol, q.v_spike, q.refractory_counts, *synapses)  # fmt: skip


def native_block(alpha, props, params, state, inputs, live, *, lo, threads):
    """A model's ``native_block`` (:class:`~._spec.ModelSpec`): ``live`` steps of
    :func:`_step` with the native ODE, by one call of the native block kernel
    (:func:`~snnjax.sim._native.block_native`; bit for bit)."""
    p, q = _read(params, props, 1)
    extra = (q.psc_ex, q.psc_in) if alpha is True else ()
    return native_rows_block(
        _NAMES[alpha], state, ode_fields(state),
        (q.h, p.I_e, *_ode_params(alpha == "psc", p, q), *extra), inputs, live, lo=lo,
        threads=threads,
    )  # fmt: skip


def aeif_cond_exp_step(props, params, state, in_ex, in_in, i_stim, *, surrogate=None,
                       detach_reset: bool = False, substeps: int = 0, native: bool = False,
                       threads: int = 0):  # fmt: skip
    """One step of ``aeif_cond_exp`` in NEST's order (see the module docstring).

    Args:
        props, params, state: from :func:`propagators`, ``make_params``, the previous step.
        in_ex, in_in: summed weights (nS) of this step's excitatory / inhibitory (``<= 0``)
            spikes.
        i_stim: current (pA) of this step's buffer slot (drives the next step).
        surrogate: surrogate gradient of the spike.
        detach_reset: pass no gradient through the reset.
        substeps: must be 0 (fixed steps lose the exponential spike: refused).
        native: the ODE (and the spikes inside it) by the native CPU kernel
            (:func:`~snnjax.sim._native.rkf45_native`; forward only, float32 rounding
            apart from the JAX loop).
        threads: the native kernel's threads (0: all of XLA's intra-op pool).

    Returns:
        ``(state, spikes)``; spikes count the spikes of the step (a multiplicity).
    """
    return _step(False, props, params, state, in_ex, in_in, i_stim, surrogate, detach_reset,
                 substeps, native, threads)  # fmt: skip


def aeif_cond_alpha_step(props, params, state, in_ex, in_in, i_stim, *, surrogate=None,
                         detach_reset: bool = False, substeps: int = 0,
                         native: bool = False, threads: int = 0):  # fmt: skip
    """One step of ``aeif_cond_alpha`` (see :func:`aeif_cond_exp_step`)."""
    return _step(True, props, params, state, in_ex, in_in, i_stim, surrogate, detach_reset,
                 substeps, native, threads)  # fmt: skip


def _v_m(params, state) -> Array:
    del params
    return state.V_m


_SHARED = {
    "Params": AeifCondParams, "Props": AeifProps, "propagators": propagators,
    "validate": validate, "defaults": DEFAULTS, "initial_state": INITIAL_STATE, "V_m": _v_m,
    "recordables": {"V_m": "V_m", "g_ex": "g_ex", "g_in": "g_in", "w": "w"},
    "numerical": True, "native_ode": True, "attempts": 256,  # needs ~130 at a spike
}  # fmt: skip
SPEC_EXP = ModelSpec(name="aeif_cond_exp", State=AeifCondExpState,
                     init_state=aeif_cond_exp_init_state, step=aeif_cond_exp_step,
                     native_block=functools.partial(native_block, False), **_SHARED)  # fmt: skip
SPEC_ALPHA = ModelSpec(name="aeif_cond_alpha", State=AeifCondAlphaState,
                       init_state=aeif_cond_alpha_init_state, step=aeif_cond_alpha_step,
                       native_block=functools.partial(native_block, True),
                       **_SHARED)  # fmt: skip
