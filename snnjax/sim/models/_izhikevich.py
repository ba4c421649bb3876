r"""``izhikevich``: Izhikevich (2003), NEST's forward-Euler scheme.

Input spikes are jumps of the membrane (weights in mV); the state holds NEST's absolute
``V_m`` and ``U_m``. No refractory period.
"""

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from ..._types import Array, ArrayLike
from ...neurons._base import fire_and_reset
from ...surrogate import Surrogate
from ._common import (
    Neurons,
    _check_h,
    _check_n,
    _check_params_type,
    _check_step,
    _default_surrogate,
    _f32,
    _initial,
    _input,
    _read,
    _validate_none,
)
from ._spec import ModelSpec


class IzhikevichParams(NamedTuple):
    """``izhikevich`` parameters (NEST names and units; host float64, bool flag)."""

    a: Array  #: time scale of the recovery variable (1/ms)
    b: Array  #: sensitivity of the recovery variable
    c: Array  #: reset value of ``V_m`` after a spike (mV)
    d: Array  #: increment of ``U_m`` after a spike (mV)
    I_e: Array  #: constant input current (pA, with R = 1)
    V_th: Array  #: spike cut-off (mV)
    V_min: Array  #: lower bound of the membrane (mV; ``-inf``: none)
    consistent_integration: Array  #: standard forward Euler (True) or the 2003 scheme


class IzhikevichState(NamedTuple):
    """``izhikevich`` state (float32, absolute values as NEST stores them)."""

    V_m: Array  #: membrane potential (mV)
    U_m: Array  #: recovery variable (mV)
    I: Array  #: current read from the ring buffer in the previous step (pA)  # noqa: E741


class IzhikevichProps(NamedTuple):
    """``izhikevich`` step size (float32): the Euler scheme needs no other constant."""

    h: Array  #: resolution (ms)


_FLAGS = frozenset({"consistent_integration"})


def izhikevich_init_state(
    params: IzhikevichParams, n: int, *, V_m: ArrayLike = -65.0, U_m: ArrayLike = -13.0
) -> IzhikevichState:
    """NEST's initial state of ``n`` neurons (see :data:`INITIAL_STATE`), no current."""
    n = _check_n(n)
    _check_params_type(IzhikevichParams, params, n)
    return IzhikevichState(
        _initial("V_m", V_m, n), _initial("U_m", U_m, n), jnp.zeros((n,), jnp.float32)
    )


def izhikevich_propagators(params: IzhikevichParams, h: float) -> IzhikevichProps:
    """The step size ``h`` (ms) as float32 (forward Euler has no other constant)."""
    _check_params_type(IzhikevichParams, params)
    h, _ = _check_h(h)
    return IzhikevichProps(_f32(h))


def izhikevich_step(
    props: IzhikevichProps,
    params: IzhikevichParams,
    state: IzhikevichState,
    in_ex: Neurons,
    in_in: Neurons,
    i_stim: Neurons,
    *,
    surrogate: Surrogate | None = None,
    detach_reset: bool = False,
) -> tuple[IzhikevichState, Neurons]:
    r"""One step of ``izhikevich`` in NEST's order and Euler scheme (``izhikevich::update``).

    Continuous time (input spikes are jumps of :math:`w_j` mV of :math:`V`):

    .. math::
        \frac{dV}{dt} = 0.04 V^2 + 5 V + 140 - U + I_0 + I_e, \qquad
        \frac{dU}{dt} = a (b V - U), \qquad V \ge V_\text{th} \Rightarrow
        V \leftarrow c,\ U \leftarrow U + d

    Discrete update of step :math:`k` with ``consistent_integration`` (NEST's default,
    forward Euler; :math:`f(V, U) = 0.04 V^2 + 5V + 140 - U + I_0 + I_e`):

    .. math::
        V' = V + \big(h f(V, U) + W_k\big), \qquad U' = U + h a (b V - U)

    and otherwise Izhikevich's published scheme (two half steps of :math:`V`, with the
    input inside :math:`f`, then :math:`U` from the new :math:`V`):
    :math:`V \leftarrow V + \tfrac h2 (f(V, U) + W_k)` twice,
    :math:`U \leftarrow U + h a (b V - U)`. Then :math:`V \leftarrow \max(V, V_\text{min})`,
    spike where :math:`V \ge V_\text{th}`: :math:`V \leftarrow c`, :math:`U \leftarrow U + d`;
    finally :math:`I_0 \leftarrow I_\text{stim}(k)`. No refractory period.

    Args:
        props: from :func:`izhikevich_propagators`.
        params: from ``make_params("izhikevich", ...)``.
        state: the state before the step.
        in_ex: summed weights (mV) of the excitatory spikes delivered in this step.
        in_in: summed weights (mV, negative) of the inhibitory spikes.
        i_stim: current (pA) from current generators in this step's buffer slot.
        surrogate: surrogate gradient of the spike (default fast sigmoid).
        detach_reset: pass no gradient through the reset.

    Returns:
        ``(state, spikes)``, spikes float32 0/1.
    """
    shape = _check_step(
        "izhikevich",
        (IzhikevichProps, IzhikevichParams, IzhikevichState),
        props, params, state, {"in_ex": in_ex, "in_in": in_in, "i_stim": i_stim},
    )  # fmt: skip
    p, q = _read(params, props, len(shape), _FLAGS)
    h = q.h
    w = _input(in_ex, shape) + _input(in_in, shape)
    v0, u0, i0 = state.V_m, state.U_m, state.I

    def f(v, u):
        return 0.04 * v * v + 5.0 * v + 140.0 - u + i0 + p.I_e

    v_euler = v0 + (h * f(v0, u0) + w)
    u_euler = u0 + h * p.a * (p.b * v0 - u0)
    v_half = v0 + h * 0.5 * (f(v0, u0) + w)
    v_pub = v_half + h * 0.5 * (f(v_half, u0) + w)
    u_pub = u0 + h * p.a * (p.b * v_pub - u0)
    v = jnp.where(p.consistent_integration, v_euler, v_pub)
    u = jnp.where(p.consistent_integration, u_euler, u_pub)
    v = jnp.maximum(v, p.V_min)
    v, s = fire_and_reset(
        v, p.V_th, p.c, reset="hard", detach_reset=detach_reset,
        surrogate=surrogate or _default_surrogate(),
    )  # fmt: skip
    u = u + s * p.d
    return IzhikevichState(v, u, jnp.broadcast_to(_input(i_stim, shape), shape)), s


def _izhikevich_V_m(params: IzhikevichParams, state: IzhikevichState) -> Neurons:
    """The membrane potential, stored absolute."""
    del params
    return state.V_m


#: ``izhikevich`` in the registry (``V_min`` default ``-inf``: NEST's ``-DBL_MAX``).
SPEC = ModelSpec(
    name="izhikevich",
    Params=IzhikevichParams,
    State=IzhikevichState,
    Props=IzhikevichProps,
    init_state=izhikevich_init_state,
    propagators=izhikevich_propagators,
    step=izhikevich_step,
    validate=_validate_none,
    defaults={
        "a": 0.02,
        "b": 0.2,
        "c": -65.0,
        "d": 8.0,
        "I_e": 0.0,
        "V_th": 30.0,
        "V_min": -np.inf,
        "consistent_integration": True,
    },
    initial_state={"V_m": -65.0, "U_m": -13.0},
    recordables={"V_m": "V_m", "U_m": "U_m"},
    V_m=_izhikevich_V_m,
)
