r"""``iaf_cond_exp`` and ``iaf_cond_alpha``: conductance-based LIF, integrated as NEST does.

Both share the membrane equation (NEST's ``iaf_cond_*_dynamics``)

.. math::
    C_m \frac{dV}{dt} = -g_L (V - E_L) - g_\text{ex}(V - E_\text{ex})
        - g_\text{in}(V - E_\text{in}) + I_\text{stim} + I_e,

evaluated at :math:`\min(V, V_\text{th})` (at :math:`V_\text{reset}`, with :math:`dV/dt =
0`, while refractory); conductances (nS) decay exponentially (``iaf_cond_exp``: a spike of
weight :math:`w` adds :math:`w` to :math:`g`) or as alpha functions (``iaf_cond_alpha``:
:math:`\dot g = \gamma - g/\tau`, :math:`\dot\gamma = -\gamma/\tau`, a spike adds
:math:`w e/\tau` to :math:`\gamma`, so :math:`g` peaks at :math:`w` after :math:`\tau`).
Positive weights are excitatory, negative ones inhibitory (``g_in`` grows by :math:`|w|`).

One step (NEST's ``update``): the ODE over ``h`` with GSL's adaptive RKF45 (absolute
tolerance 1e-3, :mod:`._rkf45`), each neuron carrying its internal step size; then (exp)
the step's spikes are added to the conductances; the refractory count is decremented and
``V_m`` clamped to ``V_reset``, or a spike is emitted where ``V_m >= V_th`` (shared core,
:func:`snnjax.neurons.fire_and_reset`); (alpha) the spikes are added; the step's current
becomes ``I_stim`` for the next step. ``V_m`` is kept absolute (float32).

A step whose integration does not reach ``h`` (NEST: ``GSLSolverFailure``) or gives a
non-finite ``V_m`` leaves ``V_m = NaN``; the simulator reports the neuron.
"""

import functools
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from ..._errors import check_range
from ..._types import Array, ArrayLike
from .._native import rkf45_native
from ._common import (
    Neurons,
    _check_n,
    _check_params_type,
    _check_step,
    _default_surrogate,
    _fire,
    _initial,
    _input,
    _read,
    native_rows_block,
    ode_fields,
)
from ._rkf45 import CONTROL_Y, evolve, step_constants
from ._spec import ModelSpec


class IafCondParams(NamedTuple):
    """``iaf_cond_exp`` / ``iaf_cond_alpha`` parameters (NEST names and units)."""

    V_th: Array  #: threshold (mV)
    V_reset: Array  #: reset potential (mV)
    t_ref: Array  #: refractory period (ms)
    g_L: Array  #: leak conductance (nS)
    C_m: Array  #: membrane capacitance (pF)
    E_ex: Array  #: excitatory reversal potential (mV)
    E_in: Array  #: inhibitory reversal potential (mV)
    E_L: Array  #: leak reversal potential (mV)
    tau_syn_ex: Array  #: excitatory synaptic time constant (ms)
    tau_syn_in: Array  #: inhibitory synaptic time constant (ms)
    I_e: Array  #: constant input current (pA)


class IafCondExpState(NamedTuple):
    """``iaf_cond_exp`` state (float32; ``r`` int32)."""

    V_m: Array  #: membrane potential (mV, absolute)
    g_ex: Array  #: excitatory conductance (nS)
    g_in: Array  #: inhibitory conductance (nS)
    i_0: Array  #: current of the previous step's buffer slot (pA): NEST's ``I_stim_``
    r: Array  #: refractory steps left
    step: Array  #: the integrator's current step size (ms): NEST's ``IntegrationStep_``


class IafCondAlphaState(NamedTuple):
    """``iaf_cond_alpha`` state (float32; ``r`` int32)."""

    V_m: Array  #: membrane potential (mV, absolute)
    dg_ex: Array  #: derivative of the excitatory conductance (nS/ms)
    g_ex: Array  #: excitatory conductance (nS)
    dg_in: Array  #: derivative of the inhibitory conductance (nS/ms)
    g_in: Array  #: inhibitory conductance (nS)
    i_0: Array  #: current of the previous step's buffer slot (pA)
    r: Array  #: refractory steps left
    step: Array  #: the integrator's current step size (ms)


class IafCondProps(NamedTuple):
    """Constants of a step: resolution, refractory steps, alpha normalisation."""

    h: Array  #: resolution (ms)
    refractory_counts: Array  #: refractory period in steps (int32)
    psc_ex: Array  #: :math:`e/\tau_\text{syn,ex}` (alpha: jump of ``dg_ex`` per nS)
    psc_in: Array  #: :math:`e/\tau_\text{syn,in}`


#: NEST 3.10 defaults (both models).
DEFAULTS = {
    "V_th": -55.0, "V_reset": -60.0, "t_ref": 2.0, "g_L": 16.6667, "C_m": 250.0,
    "E_ex": 0.0, "E_in": -85.0, "E_L": -70.0, "tau_syn_ex": 0.2, "tau_syn_in": 2.0,
    "I_e": 0.0,
}  # fmt: skip
INITIAL_STATE = {"V_m": -70.0}


def validate(model: str, p: dict[str, np.ndarray]) -> None:
    """NEST's checks (``Parameters_::set``), plus ``g_L > 0``."""
    check_range("C_m", p["C_m"], low=0.0, low_inclusive=False)
    check_range("g_L", p["g_L"], low=0.0, low_inclusive=False)
    check_range("t_ref", p["t_ref"], low=0.0)
    for name in ("tau_syn_ex", "tau_syn_in"):
        check_range(name, p[name], low=0.0, low_inclusive=False)
    if np.any(p["V_reset"] >= p["V_th"]):
        raise ValueError(
            f"`V_reset` must be smaller than `V_th` for '{model}'; got V_reset="
            f"{np.ravel(p['V_reset'])[:4].tolist()}, V_th={np.ravel(p['V_th'])[:4].tolist()}"
        )


def propagators(params: IafCondParams, h: float) -> IafCondProps:
    """The step's constants (no propagators: the ODE is integrated numerically)."""
    return step_constants(IafCondProps, params, h, np.e / params.tau_syn_ex,
                          np.e / params.tau_syn_in)  # fmt: skip


def _init_state(state_cls, params, n, V_m, h):
    n = _check_n(n)
    _check_params_type(IafCondParams, params, n)
    zeros = jnp.zeros((n,), jnp.float32)
    fields = {f: zeros for f in state_cls._fields}
    fields.update(V_m=_initial("V_m", V_m, n), r=jnp.zeros((n,), jnp.int32))
    fields["step"] = jnp.full((n,), jnp.nan if h is None else h, jnp.float32)
    return state_cls(**fields)


def iaf_cond_exp_init_state(
    params: IafCondParams, n: int, *, V_m: ArrayLike = -70.0, h: float | None = None
) -> IafCondExpState:
    """NEST's initial state of ``n`` neurons; the integrator's step starts at ``h`` (the
    resolution; ``None``: set by the first step)."""
    return _init_state(IafCondExpState, params, n, V_m, h)


def iaf_cond_alpha_init_state(
    params: IafCondParams, n: int, *, V_m: ArrayLike = -70.0, h: float | None = None
) -> IafCondAlphaState:
    """NEST's initial state of ``n`` neurons (see :func:`iaf_cond_exp_init_state`)."""
    return _init_state(IafCondAlphaState, params, n, V_m, h)


#: The model of each ``alpha`` of :func:`_step`.
_NAMES = {False: "iaf_cond_exp", True: "iaf_cond_alpha", "beta": "iaf_cond_beta"}


def _step(alpha, props, params, state, in_ex, in_in, i_stim, surrogate, detach_reset,
          substeps=0, native=False, threads=0):  # fmt: skip
    """One step; ``alpha``: the conductances are alpha (``True``) or beta (``"beta"``:
    ``iaf_cond_beta``'s rise and decay times) functions, else exponential; ``native``: the
    ODE by the native kernel (:func:`~snnjax.sim._native.rkf45_native`; adaptive, one
    axis of neurons)."""
    name = _NAMES[alpha]
    classes = (IafCondProps, type(params), IafCondAlphaState if alpha else IafCondExpState)
    inputs = {"in_ex": in_ex, "in_in": in_in, "i_stim": i_stim}
    shape = _check_step(name, classes, props, params, state, inputs)
    p, q = _read(params, props, len(shape))
    rise_ex, decay_ex, rise_in, decay_in = _taus(alpha, p)
    refractory = state.r > 0
    stim = state.i_0 + p.I_e

    def rhs(y, aux, ctx):  # per-neuron values from ctx only (evolve compacts them)
        del aux
        p, refractory, stim, rise_ex, decay_ex, rise_in, decay_in = ctx
        v = jnp.where(refractory, p.V_reset, jnp.minimum(y[0], p.V_th))
        g_ex, g_in = (y[2], y[4]) if alpha else (y[1], y[2])
        i_ex, i_in = g_ex * (v - p.E_ex), g_in * (v - p.E_in)
        dv = (-(p.g_L * (v - p.E_L)) - i_ex - i_in + stim) / p.C_m
        dv = jnp.where(refractory, 0.0, dv)
        if alpha:
            return (dv, -y[1] / decay_ex, y[1] - y[2] / rise_ex,
                    -y[3] / decay_in, y[3] - y[4] / rise_in)  # fmt: skip
        return dv, -y[1] / decay_ex, -y[2] / decay_in

    fields = state._asdict()
    names = ode_fields(state)
    step = jnp.where(jnp.isnan(state.step), q.h, state.step)
    y = tuple(fields[f] for f in names)
    if native and not substeps and len(shape) == 1:
        y, step, failed = rkf45_native(
            name, y, step, (q.h, refractory, stim, *_ode_params(alpha, p)), threads=threads
        )  # fmt: skip
    else:
        y, step, failed, _ = evolve(
            rhs, y, step, q.h, CONTROL_Y, substeps=substeps,
            ctx=(p, refractory, stim, rise_ex, decay_ex, rise_in, decay_in),
        )  # fmt: skip
    fields.update(zip(names, y, strict=True), step=step)
    w_ex, w_in = _input(in_ex, shape), -_input(in_in, shape)
    if not alpha:
        fields.update(g_ex=fields["g_ex"] + w_ex, g_in=fields["g_in"] + w_in)
    v = jnp.where(refractory, p.V_reset, fields["V_m"])
    r = jnp.where(refractory, state.r - 1, state.r)
    v, r, s = _fire(v, r, p.V_th, p.V_reset, q.refractory_counts,
                    surrogate or _default_surrogate(), detach_reset)  # fmt: skip
    if alpha:
        fields.update(dg_ex=fields["dg_ex"] + w_ex * q.psc_ex,
                      dg_in=fields["dg_in"] + w_in * q.psc_in)  # fmt: skip
    v = jnp.where(failed | ~jnp.isfinite(v), jnp.nan, v)
    fields.update(V_m=v, r=r, i_0=jnp.broadcast_to(_input(i_stim, shape), shape))
    return type(state)(**fields), s


def _taus(alpha, p) -> tuple:
    """``(rise_ex, decay_ex, rise_in, decay_in)``: the conductances' time constants."""
    if alpha == "beta":
        return p.tau_rise_ex, p.tau_decay_ex, p.tau_rise_in, p.tau_decay_in
    return p.tau_syn_ex, p.tau_syn_ex, p.tau_syn_in, p.tau_syn_in


def _ode_params(alpha, p) -> tuple:
    """The native ODE's parameters after ``h``, refractory and the current
    (``csrc/neuron_ode.cc``)."""
    rise_ex, decay_ex, rise_in, decay_in = _taus(alpha, p)
    taus = (rise_ex, decay_ex, rise_in, decay_in) if alpha else (decay_ex, decay_in)
    return p.V_reset, p.V_th, p.E_L, p.g_L, p.C_m, p.E_ex, p.E_in, *taus


def native_block(alpha, props, params, state, inputs, live, *, lo, threads):
    """A model's ``native_block`` (:class:`~._spec.ModelSpec`): ``live`` steps of
    :func:`_step` with the native ODE, by one call of the native block kernel
    (:func:`~snnjax.sim._native.block_native`; bit for bit)."""
    p, q = _read(params, props, 1)
    names = ode_fields(state)
    extra = (q.psc_ex, q.psc_in) if alpha else ()
    return native_rows_block(
        _NAMES[alpha], state, names,
        (q.h, p.I_e, *_ode_params(alpha, p), q.refractory_counts, *extra), inputs, live, lo=lo,
        threads=threads,
    )  # fmt: skip


def iaf_cond_exp_step(props, params, state, in_ex: Neurons, in_in: Neurons, i_stim: Neurons, *,
                      surrogate=None, detach_reset: bool = False, substeps: int = 0,
                      native: bool = False, threads: int = 0):  # fmt: skip
    """One step of ``iaf_cond_exp`` in NEST's order (see the module docstring).

    Args:
        props, params, state: from :func:`propagators`, ``make_params``, the previous step.
        in_ex: summed weights (nS, ``> 0``) of the spikes delivered in this step.
        in_in: summed weights (nS, ``<= 0``) of the inhibitory spikes.
        i_stim: current (pA) of this step's buffer slot (drives the next step).
        surrogate: surrogate gradient of the spike (default fast sigmoid).
        detach_reset: pass no gradient through the reset.
        substeps: 0: NEST's adaptive RKF45; ``k``: ``k`` fixed RK45 steps.
        native: the adaptive RKF45 by the native CPU kernel
            (:func:`~snnjax.sim._native.rkf45_native`, registered by
            :func:`~snnjax.sim._native.use_native`; forward only, float32 rounding apart
            from the JAX loop).
        threads: the native kernel's threads (0: all of XLA's intra-op pool).

    Returns:
        ``(state, spikes)``.
    """
    return _step(False, props, params, state, in_ex, in_in, i_stim, surrogate, detach_reset,
                 substeps, native, threads)  # fmt: skip


def iaf_cond_alpha_step(props, params, state, in_ex: Neurons, in_in: Neurons, i_stim: Neurons,
                        *, surrogate=None, detach_reset: bool = False,
                        substeps: int = 0, native: bool = False, threads: int = 0):  # fmt: skip
    """One step of ``iaf_cond_alpha`` (see :func:`iaf_cond_exp_step`)."""
    return _step(True, props, params, state, in_ex, in_in, i_stim, surrogate, detach_reset,
                 substeps, native, threads)  # fmt: skip


def _v_m(params: IafCondParams, state) -> Array:
    del params
    return state.V_m


_SHARED = {
    "Params": IafCondParams, "Props": IafCondProps, "propagators": propagators,
    "validate": validate, "defaults": DEFAULTS, "initial_state": INITIAL_STATE, "V_m": _v_m,
    "numerical": True, "native_ode": True, "attempts": 16,  # needs: <= 4
}  # fmt: skip
SPEC_EXP = ModelSpec(
    name="iaf_cond_exp", State=IafCondExpState, init_state=iaf_cond_exp_init_state,
    step=iaf_cond_exp_step, recordables={"V_m": "V_m", "g_ex": "g_ex", "g_in": "g_in"},
    native_block=functools.partial(native_block, False), **_SHARED,
)  # fmt: skip
SPEC_ALPHA = ModelSpec(
    name="iaf_cond_alpha", State=IafCondAlphaState, init_state=iaf_cond_alpha_init_state,
    step=iaf_cond_alpha_step, recordables={"V_m": "V_m", "g_ex": "g_ex", "g_in": "g_in"},
    native_block=functools.partial(native_block, True), **_SHARED,
)  # fmt: skip
