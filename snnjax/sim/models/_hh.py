r"""Hodgkin-Huxley neurons as NEST has them: ``hh_psc_alpha`` and ``hh_cond_exp_traub``.

.. math::
    C_m \frac{dV}{dt} = -g_\text{Na} m^3 h (V - E_\text{Na}) - g_K n^4 (V - E_K)
        - g_L (V - E_L) + I_\text{syn} + I_e + I_\text{stim}, \qquad
    \frac{dx}{dt} = \alpha_x(V)(1 - x) - \beta_x(V) x \quad (x = m, h, n)

* ``hh_psc_alpha``: the original squid-axon rates (V in mV, rest -65 mV); alpha-shaped
  synaptic *currents* (a spike of weight :math:`w` pA adds :math:`w e/\tau` to
  :math:`dI/dt`, inhibitory weights stay negative); a spike is emitted where ``V_m >= 0``
  mV at a local maximum (``V_m`` of the step's start above the new one), then
  ``t_ref`` of pseudo-refractoriness (no detection, no clamp).
* ``hh_cond_exp_traub``: Traub & Miles (1991) rates of :math:`V - V_T` (Brette et al. 2007's
  COBAHH), exponential synaptic *conductances* (nS); spikes where ``V_m >= V_T + 30`` at a
  local maximum.

Both: GSL's RKF45, absolute tolerance 1e-3 (:mod:`._rkf45`), the internal step carried
over, the state compensated (each variable also carries its float32 rounding error,
``*_lo``: a fast swing of ``V_m`` then follows NEST's double to ~6e-4 mV, not 1e-2);
then the step's spikes are added to the synapses, the refractory count or spike check,
and the step's current becomes ``I_stim``. The gating variables start at their
steady state for NEST's default initial ``V_m`` (as NEST does, whatever ``V_m`` is set
to). The rate functions :math:`x/(e^{x/c} - 1)` are evaluated with ``expm1`` and their
limit at 0 (float32).
"""

import functools
import math
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from ..._errors import check_range
from ..._types import Array, ArrayLike
from .._native import rkf45_native
from ._common import (
    _check_n,
    _check_params_type,
    _check_step,
    _initial,
    _input,
    _read,
    native_rows_block,
    ode_fields,
)
from ._rkf45 import CONTROL_Y, evolve, step_constants
from ._spec import ModelSpec


def _x_over_expm1(x, c, xp=jnp):
    """:math:`x / (e^{x/c} - 1)`, continuous at 0 (limit ``c``)."""
    small = xp.abs(x) < 1e-4
    safe = xp.where(small, 1.0, x)
    return xp.where(small, c * (1.0 - x / (2.0 * c)), safe / xp.expm1(safe / c))


def _rates_squid(v, xp=jnp):
    """``(alpha, beta)`` of ``m``, ``h``, ``n`` (``hh_psc_alpha``)."""
    return (
        (0.1 * _x_over_expm1(-(v + 40.0), 10.0, xp), 4.0 * xp.exp(-(v + 65.0) / 18.0)),
        (0.07 * xp.exp(-(v + 65.0) / 20.0), 1.0 / (1.0 + xp.exp(-(v + 35.0) / 10.0))),
        (0.01 * _x_over_expm1(-(v + 55.0), 10.0, xp), 0.125 * xp.exp(-(v + 65.0) / 80.0)),
    )


def _rates_traub(v, xp=jnp):
    """``(alpha, beta)`` of ``m``, ``h``, ``n`` at ``v`` = ``V_m - V_T`` (traub)."""
    return (
        (0.32 * _x_over_expm1(13.0 - v, 4.0, xp), 0.28 * _x_over_expm1(v - 40.0, 5.0, xp)),
        (0.128 * xp.exp((17.0 - v) / 18.0), 4.0 / (1.0 + xp.exp((40.0 - v) / 5.0))),
        (0.032 * _x_over_expm1(15.0 - v, 5.0, xp), 0.5 * xp.exp((10.0 - v) / 40.0)),
    )


def _steady(rates, v: float, xp=np) -> dict[str, float]:
    (am, bm), (ah, bh), (an, bn) = rates(float(v), xp)
    return {"Act_m": float(am / (am + bm)), "Inact_h": float(ah / (ah + bh)),
            "Act_n": float(an / (an + bn))}  # fmt: skip


class HHPscAlphaParams(NamedTuple):
    """``hh_psc_alpha`` parameters (NEST names and units)."""

    t_ref: Array  #: duration of the pseudo-refractoriness (ms)
    g_Na: Array  #: sodium peak conductance (nS)
    g_K: Array  #: potassium peak conductance (nS)
    g_L: Array  #: leak conductance (nS)
    C_m: Array  #: membrane capacitance (pF)
    E_Na: Array  #: sodium reversal potential (mV)
    E_K: Array  #: potassium reversal potential (mV)
    E_L: Array  #: leak reversal potential (mV)
    tau_syn_ex: Array  #: rise time of the excitatory alpha current (ms)
    tau_syn_in: Array  #: rise time of the inhibitory alpha current (ms)
    I_e: Array  #: constant input current (pA)


class HHPscAlphaState(NamedTuple):
    """``hh_psc_alpha`` state (float32; ``r`` int32)."""

    V_m: Array  #: membrane potential (mV)
    Act_m: Array  #: sodium activation
    Inact_h: Array  #: sodium inactivation
    Act_n: Array  #: potassium activation
    dI_ex: Array  #: derivative of the excitatory current (pA/ms)
    I_ex: Array  #: excitatory synaptic current (pA)
    dI_in: Array  #: derivative of the inhibitory current (pA/ms)
    I_in: Array  #: inhibitory synaptic current (pA, <= 0)
    i_0: Array  #: the previous step's current (pA)
    r: Array  #: pseudo-refractory steps left
    step: Array  #: the integrator's current step size (ms)
    V_m_lo: Array  #: float32 rounding error of ``V_m`` (compensated integration), etc.
    Act_m_lo: Array
    Inact_h_lo: Array
    Act_n_lo: Array
    dI_ex_lo: Array
    I_ex_lo: Array
    dI_in_lo: Array
    I_in_lo: Array


class HHCondExpTraubParams(NamedTuple):
    """``hh_cond_exp_traub`` parameters (NEST names and units)."""

    g_Na: Array  #: sodium peak conductance (nS)
    g_K: Array  #: potassium peak conductance (nS)
    g_L: Array  #: leak conductance (nS)
    C_m: Array  #: membrane capacitance (pF)
    E_Na: Array  #: sodium reversal potential (mV)
    E_K: Array  #: potassium reversal potential (mV)
    E_L: Array  #: leak reversal potential (mV)
    V_T: Array  #: voltage offset of the rates (mV): spikes at ``V_T + 30``
    E_ex: Array  #: excitatory reversal potential (mV)
    E_in: Array  #: inhibitory reversal potential (mV)
    tau_syn_ex: Array  #: excitatory conductance time constant (ms)
    tau_syn_in: Array  #: inhibitory conductance time constant (ms)
    t_ref: Array  #: duration of the pseudo-refractoriness (ms)
    I_e: Array  #: constant input current (pA)


class HHCondExpTraubState(NamedTuple):
    """``hh_cond_exp_traub`` state (float32; ``r`` int32)."""

    V_m: Array  #: membrane potential (mV)
    Act_m: Array  #: sodium activation
    Inact_h: Array  #: sodium inactivation
    Act_n: Array  #: potassium activation
    g_ex: Array  #: excitatory conductance (nS)
    g_in: Array  #: inhibitory conductance (nS)
    i_0: Array  #: the previous step's current (pA)
    r: Array  #: pseudo-refractory steps left
    step: Array  #: the integrator's current step size (ms)
    V_m_lo: Array  #: float32 rounding error of ``V_m`` (compensated integration), etc.
    Act_m_lo: Array
    Inact_h_lo: Array
    Act_n_lo: Array
    g_ex_lo: Array
    g_in_lo: Array


class HHProps(NamedTuple):
    """Constants of a step."""

    h: Array  #: resolution (ms)
    refractory_counts: Array  #: pseudo-refractory period in steps (int32)
    psc_ex: Array  #: :math:`e/\tau_\text{syn,ex}` (``hh_psc_alpha``)
    psc_in: Array  #: :math:`e/\tau_\text{syn,in}`


PSC_DEFAULTS = {
    "t_ref": 2.0, "g_Na": 12000.0, "g_K": 3600.0, "g_L": 30.0, "C_m": 100.0, "E_Na": 50.0,
    "E_K": -77.0, "E_L": -54.402, "tau_syn_ex": 0.2, "tau_syn_in": 2.0, "I_e": 0.0,
}  # fmt: skip
TRAUB_DEFAULTS = {
    "g_Na": 20000.0, "g_K": 6000.0, "g_L": 10.0, "C_m": 200.0, "E_Na": 50.0, "E_K": -90.0,
    "E_L": -60.0, "V_T": -63.0, "E_ex": 0.0, "E_in": -80.0, "tau_syn_ex": 5.0,
    "tau_syn_in": 10.0, "t_ref": 2.0, "I_e": 0.0,
}  # fmt: skip


def _rates_squid_nest(v: float, xp):
    """:func:`_rates_squid` written as NEST's ``hh_psc_alpha::State_`` constructor writes
    them (``1 - exp`` over the expm1 form, libm's ``exp``): its initial gates to the bit."""
    return (
        ((0.1 * (v + 40.0)) / (1.0 - xp.exp(-(v + 40.0) / 10.0)),
         4.0 * xp.exp(-(v + 65.0) / 18.0)),
        (0.07 * xp.exp(-(v + 65.0) / 20.0), 1.0 / (1.0 + xp.exp(-(v + 35.0) / 10.0))),
        ((0.01 * (v + 55.0)) / (1.0 - xp.exp(-(v + 55.0) / 10.0)),
         0.125 * xp.exp(-(v + 65.0) / 80.0)),
    )  # fmt: skip


# NEST computes the gates' steady state at its default initial V_m (traub: the raw V_m in
# the rates of V_m - V_T, as NEST's State_ constructor does).
PSC_INITIAL = {"V_m": -65.0, **_steady(_rates_squid_nest, -65.0, math)}
TRAUB_INITIAL = {"V_m": -60.0, **_steady(_rates_traub, -60.0)}


def validate(model: str, p: dict[str, np.ndarray]) -> None:
    """NEST's checks of both models."""
    del model
    check_range("C_m", p["C_m"], low=0.0, low_inclusive=False)
    check_range("t_ref", p["t_ref"], low=0.0)
    for name in ("tau_syn_ex", "tau_syn_in"):
        check_range(name, p[name], low=0.0, low_inclusive=False)
    for name in ("g_Na", "g_K", "g_L"):
        check_range(name, p[name], low=0.0)


def propagators(params, h: float) -> HHProps:
    """The step's constants."""
    return step_constants(HHProps, params, h, np.e / params.tau_syn_ex,
                          np.e / params.tau_syn_in)  # fmt: skip


def _init_state(cls, params_cls, params, n, initial):
    n = _check_n(n)
    _check_params_type(params_cls, params, n)
    zeros = jnp.zeros((n,), jnp.float32)
    fields = {f: zeros for f in cls._fields}
    fields.update({k: _initial(k, v, n) for k, v in initial.items()})
    fields.update(r=jnp.zeros((n,), jnp.int32), step=jnp.full((n,), jnp.nan, jnp.float32))
    for gate in ("Act_m", "Inact_h", "Act_n"):
        check_range(gate, np.asarray(initial[gate]), low=0.0)
    return cls(**fields)


def hh_psc_alpha_init_state(
    params: HHPscAlphaParams,
    n: int,
    *,
    V_m: ArrayLike = -65.0,
    Act_m: ArrayLike = PSC_INITIAL["Act_m"],
    Inact_h: ArrayLike = PSC_INITIAL["Inact_h"],
    Act_n: ArrayLike = PSC_INITIAL["Act_n"],
) -> HHPscAlphaState:
    """NEST's initial state of ``n`` neurons (gates at rest for -65 mV)."""
    initial = {"V_m": V_m, "Act_m": Act_m, "Inact_h": Inact_h, "Act_n": Act_n}
    return _init_state(HHPscAlphaState, HHPscAlphaParams, params, n, initial)


def hh_cond_exp_traub_init_state(
    params: HHCondExpTraubParams,
    n: int,
    *,
    V_m: ArrayLike = -60.0,
    Act_m: ArrayLike = TRAUB_INITIAL["Act_m"],
    Inact_h: ArrayLike = TRAUB_INITIAL["Inact_h"],
    Act_n: ArrayLike = TRAUB_INITIAL["Act_n"],
) -> HHCondExpTraubState:
    """NEST's initial state of ``n`` neurons (gates as NEST's constructor sets them)."""
    initial = {"V_m": V_m, "Act_m": Act_m, "Inact_h": Inact_h, "Act_n": Act_n}
    return _init_state(HHCondExpTraubState, HHCondExpTraubParams, params, n, initial)


def _step(traub, props, params, state, in_ex, in_in, i_stim, surrogate, detach_reset,
          substeps=0, native=False, threads=0):  # fmt: skip
    del surrogate, detach_reset  # the spike is a local maximum: no threshold to smooth
    name = "hh_cond_exp_traub" if traub else "hh_psc_alpha"
    classes = (HHProps, HHCondExpTraubParams if traub else HHPscAlphaParams,
               HHCondExpTraubState if traub else HHPscAlphaState)  # fmt: skip
    inputs = {"in_ex": in_ex, "in_in": in_in, "i_stim": i_stim}
    shape = _check_step(name, classes, props, params, state, inputs)
    p, q = _read(params, props, len(shape))
    stim = state.i_0 + p.I_e
    names = ode_fields(state)

    def rhs(y, aux, ctx):  # per-neuron values from ctx only (evolve compacts them)
        del aux
        p, stim = ctx
        v, m, h, n = y[:4]
        i_na = p.g_Na * m * m * m * h * (v - p.E_Na)
        i_k = p.g_K * n * n * n * n * (v - p.E_K)
        i_l = p.g_L * (v - p.E_L)
        if traub:
            i_syn = -y[4] * (v - p.E_ex) - y[5] * (v - p.E_in)
            rates = _rates_traub(v - p.V_T)
        else:
            i_syn = y[5] + y[7]
            rates = _rates_squid(v)
        dv = (-(i_na + i_k + i_l) + i_syn + stim) / p.C_m
        gates = tuple(a * (1.0 - x) - b * x for (a, b), x in zip(rates, (m, h, n), strict=True))
        if traub:
            return (dv, *gates, -y[4] / p.tau_syn_ex, -y[5] / p.tau_syn_in)
        return (dv, *gates, -y[4] / p.tau_syn_ex, y[4] - y[5] / p.tau_syn_ex,
                -y[6] / p.tau_syn_in, y[6] - y[7] / p.tau_syn_in)  # fmt: skip

    fields = state._asdict()
    step = jnp.where(jnp.isnan(state.step), q.h, state.step)
    y, lo = tuple(fields[f] for f in names), tuple(fields[f"{f}_lo"] for f in names)
    if native and not substeps and len(shape) == 1:
        y, step, failed, lo = rkf45_native(name, y, step, (q.h, stim, *_ode_params(traub, p)),
                                           lo=lo, threads=threads)  # fmt: skip
    else:
        y, step, failed, _, lo = evolve(rhs, y, step, q.h, CONTROL_Y, substeps=substeps,
                                        ctx=(p, stim), lo=lo)  # fmt: skip
    fields.update(zip(names, y, strict=True), step=step)
    fields.update((f"{f}_lo", x) for f, x in zip(names, lo, strict=True))
    w_ex, w_in = _input(in_ex, shape), _input(in_in, shape)
    if traub:
        fields.update(g_ex=fields["g_ex"] + w_ex, g_in=fields["g_in"] - w_in)
    else:  # inhibitory current: the weight stays negative
        fields.update(dI_ex=fields["dI_ex"] + w_ex * q.psc_ex,
                      dI_in=fields["dI_in"] + w_in * q.psc_in)  # fmt: skip
    v = fields["V_m"]
    threshold = p.V_T + 30.0 if traub else 0.0
    spike = (state.r == 0) & (v >= threshold) & (state.V_m > v)
    r = jnp.where(state.r > 0, state.r - 1, jnp.where(spike, q.refractory_counts, state.r))
    fields.update(V_m=jnp.where(failed | ~jnp.isfinite(v), jnp.nan, v), r=r,
                  i_0=jnp.broadcast_to(_input(i_stim, shape), shape))  # fmt: skip
    return type(state)(**fields), spike.astype(jnp.float32)


def _ode_params(traub, p) -> tuple:
    """The native ODE's parameters after ``h`` and the current (``csrc/neuron_ode.cc``)."""
    extra = (p.V_T, p.E_ex, p.E_in) if traub else ()
    return (p.g_Na, p.g_K, p.g_L, p.C_m, p.E_Na, p.E_K, p.E_L, *extra, p.tau_syn_ex,
            p.tau_syn_in)  # fmt: skip


def native_block(traub, props, params, state, inputs, live, *, lo, threads):
    """A model's ``native_block`` (:class:`~._spec.ModelSpec`): ``live`` steps of
    :func:`_step` with the native ODE, by one call of the native block kernel
    (:func:`~snnjax.sim._native.block_native`; bit for bit)."""
    p, q = _read(params, props, 1)
    names = ode_fields(state)
    extra = () if traub else (q.psc_ex, q.psc_in)
    return native_rows_block(
        "hh_cond_exp_traub" if traub else "hh_psc_alpha", state,
        names + [f"{f}_lo" for f in names],
        (q.h, p.I_e, *_ode_params(traub, p), q.refractory_counts, *extra), inputs, live, lo=lo,
        threads=threads,
    )  # fmt: skip


def hh_psc_alpha_step(props, params, state, in_ex, in_in, i_stim, *, surrogate=None,
                      detach_reset: bool = False, substeps: int = 0,
                      native: bool = False, threads: int = 0):  # fmt: skip
    """One step of ``hh_psc_alpha`` in NEST's order (see the module docstring).

    Args:
        props, params, state: from :func:`propagators`, ``make_params``, the previous step.
        in_ex, in_in: summed weights (pA) of this step's excitatory / inhibitory spikes.
        i_stim: current (pA) of this step's buffer slot (drives the next step).
        surrogate, detach_reset: unused (the spike is a local maximum of ``V_m``).
        substeps: 0: NEST's adaptive RKF45; ``k``: ``k`` fixed RK45 steps.
        native: the adaptive RKF45 by the native CPU kernel
            (:func:`~snnjax.sim._native.rkf45_native`; forward only, float32 rounding apart
            from the JAX loop).
        threads: the native kernel's threads (0: all of XLA's intra-op pool).

    Returns:
        ``(state, spikes)``.
    """
    return _step(False, props, params, state, in_ex, in_in, i_stim, surrogate, detach_reset,
                 substeps, native, threads)  # fmt: skip


def hh_cond_exp_traub_step(props, params, state, in_ex, in_in, i_stim, *, surrogate=None,
                           detach_reset: bool = False, substeps: int = 0,
                           native: bool = False, threads: int = 0):  # fmt: skip
    """One step of ``hh_cond_exp_traub`` (weights in nS; see :func:`hh_psc_alpha_step`)."""
    return _step(True, props, params, state, in_ex, in_in, i_stim, surrogate, detach_reset,
                 substeps, native, threads)  # fmt: skip


def _v_m(params, state) -> Array:
    del params
    return state.V_m


_GATES = {"V_m": "V_m", "Act_m": "Act_m", "Inact_h": "Inact_h", "Act_n": "Act_n"}
SPEC_PSC_ALPHA = ModelSpec(
    name="hh_psc_alpha", Params=HHPscAlphaParams, State=HHPscAlphaState, Props=HHProps,
    init_state=hh_psc_alpha_init_state, propagators=propagators, step=hh_psc_alpha_step,
    validate=validate, defaults=PSC_DEFAULTS, initial_state=PSC_INITIAL,
    recordables={**_GATES, "I_syn_ex": "I_ex", "I_syn_in": "I_in"}, V_m=_v_m, numerical=True,
    native_ode=True, native_block=functools.partial(native_block, False), attempts=64,
)  # fmt: skip
SPEC_TRAUB = ModelSpec(
    name="hh_cond_exp_traub", Params=HHCondExpTraubParams, State=HHCondExpTraubState,
    Props=HHProps, init_state=hh_cond_exp_traub_init_state, propagators=propagators,
    step=hh_cond_exp_traub_step, validate=validate, defaults=TRAUB_DEFAULTS,
    initial_state=TRAUB_INITIAL, recordables={**_GATES, "g_ex": "g_ex", "g_in": "g_in"},
    V_m=_v_m, numerical=True, native_ode=True, native_block=functools.partial(native_block, True),
    attempts=64,  # needs: hh_psc_alpha <= 4, hh_cond_exp_traub ~16
)  # fmt: skip
