r"""``iaf_psc_alpha``: LIF with alpha-shaped synaptic currents (weights in pA, peak = weight).

Integrated exactly (Rotter & Diesmann 1999), with NEST's treatment of the singular case
:math:`\tau_m = \tau_\text{syn}` (:func:`~snnjax.sim.iaf_propagator_alpha`); the membrane is
stored relative to ``E_L`` (``state.v = V_m - E_L``).
"""

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from ..._types import Array, ArrayLike
from ...surrogate import Surrogate
from .._native import block_native
from ._common import (
    Neurons,
    _check_h,
    _check_params_type,
    _check_step,
    _default_surrogate,
    _f32,
    _fire,
    _iaf_init_state,
    _iaf_V_m,
    _input,
    _read,
    _validate_iaf,
    iaf_propagator_alpha,
    refractory_steps,
)
from ._spec import ModelSpec


class IafPscAlphaParams(NamedTuple):
    """``iaf_psc_alpha`` parameters (NEST names and units; host float64)."""

    C_m: Array  #: membrane capacitance (pF)
    tau_m: Array  #: membrane time constant (ms)
    tau_syn_ex: Array  #: excitatory synaptic time constant, rise time of the alpha (ms)
    tau_syn_in: Array  #: inhibitory synaptic time constant (ms)
    t_ref: Array  #: refractory period (ms)
    E_L: Array  #: resting potential (mV)
    V_th: Array  #: threshold (mV)
    V_reset: Array  #: reset potential (mV)
    I_e: Array  #: constant input current (pA)
    V_min: Array  #: lower bound of the membrane (mV; ``-inf``: none)


class IafPscAlphaState(NamedTuple):
    """``iaf_psc_alpha`` state (float32, except the int32 counter ``r``)."""

    v: Array  #: membrane relative to ``E_L``, ``V_m - E_L`` (mV)
    dI_ex: Array  #: derivative of the excitatory current (pA/ms)
    I_ex: Array  #: excitatory synaptic current (pA)
    dI_in: Array  #: derivative of the inhibitory current (pA/ms)
    I_in: Array  #: inhibitory synaptic current (pA)
    i_0: Array  #: current read from the ring buffer in the previous step (pA)
    r: Array  #: refractory steps left (int32)


class IafPscAlphaProps(NamedTuple):
    """``iaf_psc_alpha`` propagators (float32) and refractory steps (int32)."""

    expm1_tau_m: Array  #: :math:`e^{-h/\tau_m} - 1`
    P30: Array  #: :math:`-\tau_m / C_m\,(e^{-h/\tau_m} - 1)` (mV/pA)
    expm1_tau_ex: Array  #: :math:`P_{11}^\text{ex} - 1` (NEST's ``P11_ex_ = P22_ex_``, minus 1)
    P21ex: Array  #: :math:`h\,e^{-h/\tau_\text{syn,ex}}` (ms)
    P31ex: Array  #: dI -> membrane, excitatory (mV ms/pA)
    P32ex: Array  #: I -> membrane, excitatory (mV/pA)
    expm1_tau_in: Array  #: :math:`P_{11}^\text{in} - 1`
    P21in: Array  #: :math:`h\,e^{-h/\tau_\text{syn,in}}` (ms)
    P31in: Array  #: dI -> membrane, inhibitory (mV ms/pA)
    P32in: Array  #: I -> membrane, inhibitory (mV/pA)
    psc_ex: Array  #: :math:`e/\tau_\text{syn,ex}`, jump of dI per pA of weight (1/ms)
    psc_in: Array  #: :math:`e/\tau_\text{syn,in}` (1/ms)
    refractory_counts: Array  #: refractory period in steps


def iaf_psc_alpha_init_state(
    params: IafPscAlphaParams, n: int, *, V_m: ArrayLike = -70.0
) -> IafPscAlphaState:
    """NEST's initial state of ``n`` neurons (see :data:`INITIAL_STATE`), no currents."""
    return _iaf_init_state(IafPscAlphaParams, IafPscAlphaState, params, n, V_m)


def iaf_psc_alpha_propagators(params: IafPscAlphaParams, h: float) -> IafPscAlphaProps:
    r"""Exact propagators of ``iaf_psc_alpha`` for resolution ``h`` (ms), float64 -> float32.

    .. math::
        P_{11} = e^{-h/\tau_s}, \quad P_{21} = h P_{11}, \quad
        P_{30} = -\frac{\tau_m}{C_m}\operatorname{expm1}(-h/\tau_m)

    and :math:`P_{31}, P_{32}` from :func:`iaf_propagator_alpha` (singular case included).
    """
    _check_params_type(IafPscAlphaParams, params)
    h, _ = _check_h(h)
    p11ex = np.exp(-h / params.tau_syn_ex)
    p11in = np.exp(-h / params.tau_syn_in)
    p31ex, p32ex = iaf_propagator_alpha(params.tau_syn_ex, params.tau_m, params.C_m, h)
    p31in, p32in = iaf_propagator_alpha(params.tau_syn_in, params.tau_m, params.C_m, h)
    return IafPscAlphaProps(
        expm1_tau_m=_f32(np.expm1(-h / params.tau_m)),
        P30=_f32(-params.tau_m / params.C_m * np.expm1(-h / params.tau_m)),
        expm1_tau_ex=_f32(np.expm1(-h / params.tau_syn_ex)),
        P21ex=_f32(h * p11ex),
        P31ex=_f32(p31ex),
        P32ex=_f32(p32ex),
        expm1_tau_in=_f32(np.expm1(-h / params.tau_syn_in)),
        P21in=_f32(h * p11in),
        P31in=_f32(p31in),
        P32in=_f32(p32in),
        psc_ex=_f32(np.e / params.tau_syn_ex),
        psc_in=_f32(np.e / params.tau_syn_in),
        refractory_counts=jnp.asarray(refractory_steps(params.t_ref, h)),
    )


def iaf_psc_alpha_step(
    props: IafPscAlphaProps,
    params: IafPscAlphaParams,
    state: IafPscAlphaState,
    in_ex: Neurons,
    in_in: Neurons,
    i_stim: Neurons,
    *,
    surrogate: Surrogate | None = None,
    detach_reset: bool = False,
) -> tuple[IafPscAlphaState, Neurons]:
    r"""One step of ``iaf_psc_alpha`` in NEST's order (``iaf_psc_alpha::update``).

    Continuous time (:math:`v = V_m - E_L`); a spike of weight :math:`w` (pA) starts the
    alpha current :math:`I(t) = w\,\frac{t}{\tau_s} e^{1 - t/\tau_s}` (peak :math:`w` at
    :math:`\tau_s`), i.e. it sets :math:`dI \mathrel{+}= w\,e/\tau_s`:

    .. math::
        \frac{dv}{dt} = -\frac{v}{\tau_m} + \frac{I_\text{ex} + I_\text{in} + I_0 + I_e}{C_m},
        \qquad \frac{d\,dI_X}{dt} = -\frac{dI_X}{\tau_{s,X}}, \qquad
        \frac{dI_X}{dt} = dI_X - \frac{I_X}{\tau_{s,X}}

    Discrete update of step :math:`k` (for :math:`X \in \{\text{ex}, \text{in}\}`):

    .. math::
        r_k = 0:&\quad v \leftarrow \max\!\big(P_{30}(i_0 + I_e) + \textstyle\sum_X
                  (P_{31}^X dI_X + P_{32}^X I_X) + \operatorname{expm1}(-h/\tau_m)\,v + v,\;
                  V_\text{min} - E_L\big) \qquad r_k > 0:\quad r \leftarrow r_k - 1 \\
        &\quad I_X \leftarrow P_{21}^X dI_X + P_{11}^X I_X, \qquad
               dI_X \leftarrow P_{11}^X dI_X + \frac{e}{\tau_{s,X}} W^X_k \\
        &\quad v \ge V_\text{th} - E_L \Rightarrow \text{spike},\ v \leftarrow V_\text{reset}
                  - E_L,\ r \leftarrow \lceil t_\text{ref}/h \rceil \\
        &\quad i_0 \leftarrow I_\text{stim}(k)

    Args:
        props: from :func:`iaf_psc_alpha_propagators`.
        params: from ``make_params("iaf_psc_alpha", ...)``.
        state: the state before the step.
        in_ex: summed weights (pA, ``> 0``) of the spikes delivered in this step.
        in_in: summed weights (pA, ``<= 0``) of the inhibitory spikes.
        i_stim: current (pA) from current generators in this step's buffer slot.
        surrogate: surrogate gradient of the spike (default fast sigmoid).
        detach_reset: pass no gradient through the reset.

    Returns:
        ``(state, spikes)``, spikes float32 0/1.
    """
    shape = _check_step(
        "iaf_psc_alpha",
        (IafPscAlphaProps, IafPscAlphaParams, IafPscAlphaState),
        props, params, state, {"in_ex": in_ex, "in_in": in_in, "i_stim": i_stim},
    )  # fmt: skip
    p, q = _read(params, props, len(shape))
    free = state.r == 0
    v_free = (
        q.P30 * (state.i_0 + p.I_e)
        + q.P31ex * state.dI_ex
        + q.P32ex * state.I_ex
        + q.P31in * state.dI_in
        + q.P32in * state.I_in
        + q.expm1_tau_m * state.v
        + state.v
    )
    v_free = jnp.maximum(v_free, p.V_min - p.E_L)
    v = jnp.where(free, v_free, state.v)
    r = jnp.where(free, state.r, state.r - 1)
    I_ex = state.I_ex + (q.P21ex * state.dI_ex + q.expm1_tau_ex * state.I_ex)
    dI_ex = state.dI_ex + q.expm1_tau_ex * state.dI_ex + q.psc_ex * _input(in_ex, shape)
    I_in = state.I_in + (q.P21in * state.dI_in + q.expm1_tau_in * state.I_in)
    dI_in = state.dI_in + q.expm1_tau_in * state.dI_in + q.psc_in * _input(in_in, shape)
    v, r, s = _fire(
        v, r, p.V_th - p.E_L, p.V_reset - p.E_L, q.refractory_counts,
        surrogate or _default_surrogate(), detach_reset,
    )  # fmt: skip
    i_0 = jnp.broadcast_to(_input(i_stim, shape), shape)
    return IafPscAlphaState(v, dI_ex, I_ex, dI_in, I_in, i_0, r), s


def _native_block(props, params, state, inputs, live, *, lo, threads):
    """:data:`SPEC`'s ``native_block``: ``live`` steps of :func:`iaf_psc_alpha_step`."""
    p, q = _read(params, props, 1)
    (v, dI_ex, I_ex, dI_in, I_in, i_0), r, spikes, bad = block_native(
        "iaf_psc_alpha", inputs, live, state.r,
        (state.v, state.dI_ex, state.I_ex, state.dI_in, state.I_in, state.i_0),
        (q.P30, q.P31ex, q.P32ex, q.P31in, q.P32in, q.expm1_tau_m, q.P21ex, q.expm1_tau_ex,
         q.psc_ex, q.P21in, q.expm1_tau_in, q.psc_in, p.I_e, p.V_min - p.E_L, p.V_th - p.E_L,
         p.V_reset - p.E_L, q.refractory_counts),
        lo=lo, threads=threads,
    )  # fmt: skip
    return IafPscAlphaState(v, dI_ex, I_ex, dI_in, I_in, i_0, r), spikes, bad


#: ``iaf_psc_alpha`` in the registry (``V_min`` default ``-inf``: NEST's ``-DBL_MAX``).
SPEC = ModelSpec(
    name="iaf_psc_alpha",
    Params=IafPscAlphaParams,
    State=IafPscAlphaState,
    Props=IafPscAlphaProps,
    init_state=iaf_psc_alpha_init_state,
    propagators=iaf_psc_alpha_propagators,
    step=iaf_psc_alpha_step,
    validate=_validate_iaf,
    defaults={
        "C_m": 250.0,
        "tau_m": 10.0,
        "tau_syn_ex": 2.0,
        "tau_syn_in": 2.0,
        "t_ref": 2.0,
        "E_L": -70.0,
        "V_th": -55.0,
        "V_reset": -70.0,
        "I_e": 0.0,
        "V_min": -np.inf,
    },
    initial_state={"V_m": -70.0},
    recordables={"V_m": None, "I_syn_ex": "I_ex", "I_syn_in": "I_in"},
    V_m=_iaf_V_m,
    native_block=_native_block,
)
