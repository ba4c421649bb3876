r"""``iaf_psc_delta``: LIF, each input spike is a jump of the membrane (weights in mV).

Integrated exactly (Rotter & Diesmann 1999); the membrane is stored relative to ``E_L``
(``state.v = V_m - E_L``). Spikes arriving while the neuron is refractory are dropped, or,
with ``refractory_input``, gathered (discounted by the decay left until the end of the
refractory period) and added when it ends, as NEST does.
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
    refractory_steps,
)
from ._spec import ModelSpec


class IafPscDeltaParams(NamedTuple):
    """``iaf_psc_delta`` parameters (NEST names and units; host float64, bool flags)."""

    C_m: Array  #: membrane capacitance (pF)
    tau_m: Array  #: membrane time constant (ms)
    t_ref: Array  #: refractory period (ms)
    E_L: Array  #: resting potential (mV)
    V_th: Array  #: threshold (mV)
    V_reset: Array  #: reset potential (mV)
    I_e: Array  #: constant input current (pA)
    V_min: Array  #: lower bound of the membrane (mV; ``-inf``: none)
    refractory_input: Array  #: integrate spikes arriving while refractory (bool)


class IafPscDeltaState(NamedTuple):
    """``iaf_psc_delta`` state (float32, except the int32 counter ``r``)."""

    v: Array  #: membrane relative to ``E_L``, ``V_m - E_L`` (mV)
    i_0: Array  #: current read from the ring buffer in the previous step (pA)
    r: Array  #: refractory steps left (int32)
    refr_spikes: Array  #: discounted input gathered while refractory (mV)


class IafPscDeltaProps(NamedTuple):
    """``iaf_psc_delta`` propagators (float32) and refractory steps (int32)."""

    expm1_tau_m: Array  #: :math:`P_{33} - 1 = \operatorname{expm1}(-h/\tau_m)`
    P30: Array  #: :math:`\tau_m / C_m\,(1 - e^{-h/\tau_m})` (mV/pA)
    h_over_tau_m: Array  #: :math:`h / \tau_m`, discount of refractory input
    refractory_counts: Array  #: refractory period in steps


_FLAGS = frozenset({"refractory_input"})


def iaf_psc_delta_init_state(
    params: IafPscDeltaParams, n: int, *, V_m: ArrayLike = -70.0
) -> IafPscDeltaState:
    """NEST's initial state of ``n`` neurons (see :data:`INITIAL_STATE`), no input."""
    return _iaf_init_state(IafPscDeltaParams, IafPscDeltaState, params, n, V_m)


def iaf_psc_delta_propagators(params: IafPscDeltaParams, h: float) -> IafPscDeltaProps:
    r"""Exact propagators of ``iaf_psc_delta`` for resolution ``h`` (ms), float64 -> float32.

    .. math:: P_{33} = e^{-h/\tau_m}, \qquad P_{30} = \frac{\tau_m}{C_m}(1 - P_{33})
    """
    _check_params_type(IafPscDeltaParams, params)
    h, _ = _check_h(h)
    p33 = np.exp(-h / params.tau_m)
    return IafPscDeltaProps(
        expm1_tau_m=_f32(np.expm1(-h / params.tau_m)),
        P30=_f32(1 / params.C_m * (1 - p33) * params.tau_m),
        h_over_tau_m=_f32(h / params.tau_m),
        refractory_counts=jnp.asarray(refractory_steps(params.t_ref, h)),
    )


def iaf_psc_delta_step(
    props: IafPscDeltaProps,
    params: IafPscDeltaParams,
    state: IafPscDeltaState,
    in_ex: Neurons,
    in_in: Neurons,
    i_stim: Neurons,
    *,
    surrogate: Surrogate | None = None,
    detach_reset: bool = False,
) -> tuple[IafPscDeltaState, Neurons]:
    r"""One step of ``iaf_psc_delta`` in NEST's order (``iaf_psc_delta::update``).

    Continuous time (:math:`v = V_m - E_L`; input spikes are jumps of :math:`w_j` mV):

    .. math::
        \frac{dv}{dt} = -\frac{v}{\tau_m} + \frac{I_0(t) + I_e}{C_m}
                        + \sum_j w_j \delta(t - t_j)

    Discrete update of step :math:`k` (:math:`W_k` = ``in_ex + in_in``, mV):

    .. math::
        r_k = 0:&\quad v \leftarrow \max\!\big(P_{30}(i_0 + I_e) + P_{33} v + W_k
                  + b,\; V_\text{min} - E_L\big), \quad b \leftarrow 0 \\
        r_k > 0:&\quad b \leftarrow b + W_k\,e^{-r_k h/\tau_m}\ \text{(if refractory\_input,
                  else } W_k \text{ is dropped)}, \quad r \leftarrow r_k - 1 \\
        &\quad v \ge V_\text{th} - E_L \Rightarrow \text{spike},\ v \leftarrow V_\text{reset}
                  - E_L,\ r \leftarrow \lceil t_\text{ref}/h \rceil \\
        &\quad i_0 \leftarrow I_\text{stim}(k)

    Args:
        props: from :func:`iaf_psc_delta_propagators`.
        params: from ``make_params("iaf_psc_delta", ...)``.
        state: the state before the step.
        in_ex: summed weights (mV) of the excitatory spikes delivered in this step.
        in_in: summed weights (mV, negative) of the inhibitory spikes.
        i_stim: current (pA) from current generators in this step's buffer slot; drives
            the membrane from the next step on.
        surrogate: surrogate gradient of the spike (default fast sigmoid).
        detach_reset: pass no gradient through the reset.

    Returns:
        ``(state, spikes)``, spikes float32 0/1.
    """
    shape = _check_step(
        "iaf_psc_delta",
        (IafPscDeltaProps, IafPscDeltaParams, IafPscDeltaState),
        props, params, state, {"in_ex": in_ex, "in_in": in_in, "i_stim": i_stim},
    )  # fmt: skip
    p, q = _read(params, props, len(shape), _FLAGS)
    w = _input(in_ex, shape) + _input(in_in, shape)
    free = state.r == 0
    # NEST: P30 (i_0 + I_e) + P33 v + W; P33 v = v + expm1 v keeps float32 exact near P33 = 1.
    v_free = q.P30 * (state.i_0 + p.I_e) + q.expm1_tau_m * state.v + state.v + w + state.refr_spikes
    v_free = jnp.maximum(v_free, p.V_min - p.E_L)
    discount = jnp.exp(-state.r.astype(jnp.float32) * q.h_over_tau_m)
    gathered = jnp.where(p.refractory_input, state.refr_spikes + w * discount, 0.0)
    v = jnp.where(free, v_free, state.v)
    refr_spikes = jnp.where(free, 0.0, gathered)
    r = jnp.where(free, state.r, state.r - 1)
    v, r, s = _fire(
        v, r, p.V_th - p.E_L, p.V_reset - p.E_L, q.refractory_counts,
        surrogate or _default_surrogate(), detach_reset,
    )  # fmt: skip
    i_0 = jnp.broadcast_to(_input(i_stim, shape), shape)
    return IafPscDeltaState(v, i_0, r, jnp.broadcast_to(refr_spikes, shape)), s


def _native_block(props, params, state, inputs, live, *, lo, threads):
    """:data:`SPEC`'s ``native_block``: ``live`` steps of :func:`iaf_psc_delta_step`."""
    p, q = _read(params, props, 1, _FLAGS)
    (v, i_0, refr_spikes), r, spikes, bad = block_native(
        "iaf_psc_delta", inputs, live, state.r, (state.v, state.i_0, state.refr_spikes),
        (q.expm1_tau_m, q.P30, p.I_e, p.V_min - p.E_L, p.V_th - p.E_L, p.V_reset - p.E_L,
         q.refractory_counts, p.refractory_input, q.h_over_tau_m),
        lo=lo, threads=threads,
    )  # fmt: skip
    return IafPscDeltaState(v, i_0, r, refr_spikes), spikes, bad


#: ``iaf_psc_delta`` in the registry. NEST's ``V_min`` default ``-DBL_MAX`` is written
#: ``-inf`` (the same: no lower bound; ``-DBL_MAX`` has no float32 value).
SPEC = ModelSpec(
    name="iaf_psc_delta",
    Params=IafPscDeltaParams,
    State=IafPscDeltaState,
    Props=IafPscDeltaProps,
    init_state=iaf_psc_delta_init_state,
    propagators=iaf_psc_delta_propagators,
    step=iaf_psc_delta_step,
    validate=_validate_iaf,
    defaults={
        "C_m": 250.0,
        "tau_m": 10.0,
        "t_ref": 2.0,
        "E_L": -70.0,
        "V_th": -55.0,
        "V_reset": -70.0,
        "I_e": 0.0,
        "V_min": -np.inf,
        "refractory_input": False,
    },
    initial_state={"V_m": -70.0},
    recordables={"V_m": None},
    V_m=_iaf_V_m,
    native_block=_native_block,
)
