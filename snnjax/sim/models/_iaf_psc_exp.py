r"""``iaf_psc_exp``: LIF with exponentially decaying synaptic currents (weights in pA).

Integrated exactly (Rotter & Diesmann 1999), with NEST's treatment of the singular case
:math:`\tau_m = \tau_\text{syn}` (:func:`~snnjax.sim.iaf_propagator_exp`); the membrane is
stored relative to ``E_L`` (``state.v = V_m - E_L``). NEST's stochastic threshold
(``delta > 0``) is not supported.
"""

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from ..._errors import check_range
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
    iaf_propagator_exp,
    refractory_steps,
)
from ._spec import ModelSpec


class IafPscExpParams(NamedTuple):
    """``iaf_psc_exp`` parameters (NEST names and units; host float64).

    ``rho`` and ``delta`` belong to NEST's stochastic threshold, which is off (and the
    only mode supported here) for ``delta = 0``.
    """

    C_m: Array  #: membrane capacitance (pF)
    tau_m: Array  #: membrane time constant (ms)
    tau_syn_ex: Array  #: excitatory synaptic time constant (ms)
    tau_syn_in: Array  #: inhibitory synaptic time constant (ms)
    t_ref: Array  #: refractory period (ms)
    E_L: Array  #: resting potential (mV)
    V_th: Array  #: threshold (mV)
    V_reset: Array  #: reset potential (mV)
    I_e: Array  #: constant input current (pA)
    rho: Array  #: stochastic firing intensity at threshold (1/s), unused for ``delta = 0``
    delta: Array  #: width of the stochastic threshold region (mV); must be 0


class IafPscExpState(NamedTuple):
    """``iaf_psc_exp`` state (float32, except the int32 counter ``r``)."""

    v: Array  #: membrane relative to ``E_L``, ``V_m - E_L`` (mV)
    i_syn_ex: Array  #: excitatory synaptic current (pA)
    i_syn_in: Array  #: inhibitory synaptic current (pA)
    i_0: Array  #: current read from the ring buffer in the previous step (pA)
    r: Array  #: refractory steps left (int32)


class IafPscExpProps(NamedTuple):
    """``iaf_psc_exp`` propagators (float32) and refractory steps (int32)."""

    expm1_tau_m: Array  #: :math:`P_{22} - 1 = \operatorname{expm1}(-h/\tau_m)`
    expm1_tau_ex: (
        Array  #: :math:`P_{11}^\text{ex} - 1 = \operatorname{expm1}(-h/\tau_\text{syn,ex})`
    )
    expm1_tau_in: (
        Array  #: :math:`P_{11}^\text{in} - 1 = \operatorname{expm1}(-h/\tau_\text{syn,in})`
    )
    P21ex: Array  #: current -> membrane, excitatory (mV/pA)
    P21in: Array  #: current -> membrane, inhibitory (mV/pA)
    P20: Array  #: :math:`\tau_m / C_m\,(1 - e^{-h/\tau_m})` (mV/pA)
    refractory_counts: Array  #: refractory period in steps


def _validate_iaf_psc_exp(model: str, p: dict[str, np.ndarray]) -> None:
    """NEST's checks of the iaf models, and ``delta = 0`` (no stochastic threshold)."""
    _validate_iaf(model, p)
    check_range("rho", p["rho"], low=0.0)
    check_range("delta", p["delta"], low=0.0)
    if np.any(p["delta"] != 0.0):
        raise ValueError(
            "`delta` must be 0 for 'iaf_psc_exp': the stochastic threshold (delta > 0) "
            f"is not supported; got {np.ravel(p['delta'])[:4].tolist()}"
        )


def iaf_psc_exp_init_state(
    params: IafPscExpParams, n: int, *, V_m: ArrayLike = -70.0
) -> IafPscExpState:
    """NEST's initial state of ``n`` neurons (see :data:`INITIAL_STATE`), no currents."""
    return _iaf_init_state(IafPscExpParams, IafPscExpState, params, n, V_m)


def iaf_psc_exp_propagators(params: IafPscExpParams, h: float) -> IafPscExpProps:
    r"""Exact propagators of ``iaf_psc_exp`` for resolution ``h`` (ms), float64 -> float32.

    .. math::
        P_{22} = e^{-h/\tau_m}, \quad P_{11} = e^{-h/\tau_s}, \quad
        P_{20} = \frac{\tau_m}{C_m}(1 - P_{22}), \quad
        P_{21} = \frac{1}{C_m}\frac{\tau_s\tau_m}{\tau_m - \tau_s}(P_{22} - P_{11})

    with :math:`P_{21} = h P_{22}/C_m` at :math:`\tau_m = \tau_s`
    (:func:`iaf_propagator_exp`).
    """
    _check_params_type(IafPscExpParams, params)
    h, _ = _check_h(h)
    p22 = np.exp(-h / params.tau_m)
    return IafPscExpProps(
        expm1_tau_m=_f32(np.expm1(-h / params.tau_m)),
        expm1_tau_ex=_f32(np.expm1(-h / params.tau_syn_ex)),
        expm1_tau_in=_f32(np.expm1(-h / params.tau_syn_in)),
        P21ex=_f32(iaf_propagator_exp(params.tau_syn_ex, params.tau_m, params.C_m, h)[0]),
        P21in=_f32(iaf_propagator_exp(params.tau_syn_in, params.tau_m, params.C_m, h)[0]),
        P20=_f32(params.tau_m / params.C_m * (1.0 - p22)),
        refractory_counts=jnp.asarray(refractory_steps(params.t_ref, h)),
    )


def iaf_psc_exp_step(
    props: IafPscExpProps,
    params: IafPscExpParams,
    state: IafPscExpState,
    in_ex: Neurons,
    in_in: Neurons,
    i_stim: Neurons,
    *,
    surrogate: Surrogate | None = None,
    detach_reset: bool = False,
) -> tuple[IafPscExpState, Neurons]:
    r"""One step of ``iaf_psc_exp`` in NEST's order (``iaf_psc_exp::update``).

    Continuous time (:math:`v = V_m - E_L`; spikes add their weight to the current):

    .. math::
        \frac{dv}{dt} = -\frac{v}{\tau_m} + \frac{I_\text{ex} + I_\text{in} + I_0 + I_e}{C_m},
        \qquad \frac{dI_X}{dt} = -\frac{I_X}{\tau_{\text{syn},X}} + \sum_j w_j\delta(t - t_j)

    Discrete update of step :math:`k`:

    .. math::
        r_k = 0:&\quad v \leftarrow P_{22} v + P_{21}^\text{ex} I_\text{ex}
                  + P_{21}^\text{in} I_\text{in} + P_{20}(I_e + i_0)
                  \qquad r_k > 0:\quad r \leftarrow r_k - 1 \\
        &\quad I_\text{ex} \leftarrow P_{11}^\text{ex} I_\text{ex} + W^\text{ex}_k, \qquad
               I_\text{in} \leftarrow P_{11}^\text{in} I_\text{in} + W^\text{in}_k \\
        &\quad v \ge V_\text{th} - E_L \Rightarrow \text{spike},\ v \leftarrow V_\text{reset}
                  - E_L,\ r \leftarrow \lceil t_\text{ref}/h \rceil \\
        &\quad i_0 \leftarrow I_\text{stim}(k)

    So a spike delivered in step :math:`k` moves the membrane from step :math:`k+1` on.

    Args:
        props: from :func:`iaf_psc_exp_propagators`.
        params: from ``make_params("iaf_psc_exp", ...)``.
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
        "iaf_psc_exp",
        (IafPscExpProps, IafPscExpParams, IafPscExpState),
        props, params, state, {"in_ex": in_ex, "in_in": in_in, "i_stim": i_stim},
    )  # fmt: skip
    p, q = _read(params, props, len(shape))
    free = state.r == 0
    # NEST: P22 v + ...; P22 v = v + expm1 v (added last) keeps float32 exact near P22 = 1.
    v_free = (
        state.i_syn_ex * q.P21ex
        + state.i_syn_in * q.P21in
        + (p.I_e + state.i_0) * q.P20
        + q.expm1_tau_m * state.v
        + state.v
    )
    v = jnp.where(free, v_free, state.v)
    r = jnp.where(free, state.r, state.r - 1)
    i_ex = state.i_syn_ex + q.expm1_tau_ex * state.i_syn_ex + _input(in_ex, shape)
    i_in = state.i_syn_in + q.expm1_tau_in * state.i_syn_in + _input(in_in, shape)
    v, r, s = _fire(
        v, r, p.V_th - p.E_L, p.V_reset - p.E_L, q.refractory_counts,
        surrogate or _default_surrogate(), detach_reset,
    )  # fmt: skip
    i_0 = jnp.broadcast_to(_input(i_stim, shape), shape)
    return IafPscExpState(v, i_ex, i_in, i_0, r), s


def _native_block(props, params, state, inputs, live, *, lo, threads):
    """:data:`SPEC`'s ``native_block``: ``live`` steps of :func:`iaf_psc_exp_step`."""
    p, q = _read(params, props, 1)
    (v, i_ex, i_in, i_0), r, spikes, bad = block_native(
        "iaf_psc_exp", inputs, live, state.r, (state.v, state.i_syn_ex, state.i_syn_in, state.i_0),
        (q.P21ex, q.P21in, q.P20, q.expm1_tau_m, q.expm1_tau_ex, q.expm1_tau_in, p.I_e,
         p.V_th - p.E_L, p.V_reset - p.E_L, q.refractory_counts),
        lo=lo, threads=threads,
    )  # fmt: skip
    return IafPscExpState(v, i_ex, i_in, i_0, r), spikes, bad


#: ``iaf_psc_exp`` in the registry.
SPEC = ModelSpec(
    name="iaf_psc_exp",
    Params=IafPscExpParams,
    State=IafPscExpState,
    Props=IafPscExpProps,
    init_state=iaf_psc_exp_init_state,
    propagators=iaf_psc_exp_propagators,
    step=iaf_psc_exp_step,
    validate=_validate_iaf_psc_exp,
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
        "rho": 0.01,
        "delta": 0.0,
    },
    initial_state={"V_m": -70.0},
    recordables={"V_m": None, "I_syn_ex": "i_syn_ex", "I_syn_in": "i_syn_in"},
    V_m=_iaf_V_m,
    native_block=_native_block,
)
