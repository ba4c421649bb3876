r"""``iaf_cond_beta``: conductance-based LIF with beta-function conductances (NEST).

The membrane, refractoriness, spike handling and integration are ``iaf_cond_alpha``'s
(:mod:`._iaf_cond`); each conductance is a beta function of its rise and decay times,

.. math:: \dot g = \gamma - g/\tau_\text{rise}, \qquad \dot\gamma = -\gamma/\tau_\text{decay},

and a spike of weight :math:`w` (nS) adds :math:`w\,\kappa` to :math:`\gamma`, with NEST's
``beta_normalization_factor`` :math:`\kappa = (1/\tau_r - 1/\tau_d) / (e^{-t_p/\tau_d} -
e^{-t_p/\tau_r})`, :math:`t_p = \tau_d\tau_r\ln(\tau_d/\tau_r)/(\tau_d - \tau_r)` (so
:math:`g` peaks at :math:`w`), or :math:`e/\tau_d` when the two times (nearly) coincide.
"""

import functools
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from ..._errors import check_range
from ..._types import Array, ArrayLike
from ._common import _check_n, _check_params_type, _initial
from ._iaf_cond import IafCondAlphaState, IafCondProps, _step, _v_m, native_block
from ._iaf_cond import validate as _validate_cond
from ._rkf45 import step_constants
from ._spec import ModelSpec

_EPS = np.finfo(np.float64).eps


class IafCondBetaParams(NamedTuple):
    """``iaf_cond_beta`` parameters (NEST names and units)."""

    V_th: Array  #: threshold (mV)
    V_reset: Array  #: reset potential (mV)
    t_ref: Array  #: refractory period (ms)
    g_L: Array  #: leak conductance (nS)
    C_m: Array  #: membrane capacitance (pF)
    E_ex: Array  #: excitatory reversal potential (mV)
    E_in: Array  #: inhibitory reversal potential (mV)
    E_L: Array  #: leak reversal potential (mV)
    tau_rise_ex: Array  #: excitatory rise time (ms)
    tau_decay_ex: Array  #: excitatory decay time (ms)
    tau_rise_in: Array  #: inhibitory rise time (ms)
    tau_decay_in: Array  #: inhibitory decay time (ms)
    I_e: Array  #: constant input current (pA)


DEFAULTS = {
    "V_th": -55.0, "V_reset": -60.0, "t_ref": 2.0, "g_L": 16.6667, "C_m": 250.0,
    "E_ex": 0.0, "E_in": -85.0, "E_L": -70.0, "tau_rise_ex": 0.2, "tau_decay_ex": 0.2,
    "tau_rise_in": 2.0, "tau_decay_in": 2.0, "I_e": 0.0,
}  # fmt: skip


def beta_normalization_factor(tau_rise, tau_decay) -> np.ndarray:
    """NEST's ``beta_normalization_factor`` (float64): the jump of :math:`\\gamma` per nS
    that makes the conductance peak at 1 nS."""
    tau_rise, tau_decay = np.broadcast_arrays(np.asarray(tau_rise, np.float64),
                                              np.asarray(tau_decay, np.float64))  # fmt: skip
    diff = tau_decay - tau_rise
    distinct = np.abs(diff) > _EPS
    safe = np.where(distinct, diff, 1.0)
    t_peak = tau_decay * tau_rise * np.log(tau_decay / tau_rise) / safe
    peak = np.where(distinct, np.exp(-t_peak / tau_decay) - np.exp(-t_peak / tau_rise), 0.0)
    beta = (1.0 / tau_rise - 1.0 / tau_decay) / np.where(np.abs(peak) < _EPS, 1.0, peak)
    return np.where(np.abs(peak) < _EPS, np.e / tau_decay, beta)


def validate(model: str, p: dict[str, np.ndarray]) -> None:
    """NEST's checks: ``iaf_cond_alpha``'s, with the four time constants."""
    for name in ("tau_rise_ex", "tau_decay_ex", "tau_rise_in", "tau_decay_in"):
        check_range(name, p[name], low=0.0, low_inclusive=False)
    _validate_cond(model, {**p, "tau_syn_ex": p["tau_decay_ex"], "tau_syn_in": p["tau_decay_in"]})


def propagators(params: IafCondBetaParams, h: float) -> IafCondProps:
    """The step's constants (the beta normalisation in float64, stored as float32)."""
    return step_constants(
        IafCondProps, params, h,
        beta_normalization_factor(params.tau_rise_ex, params.tau_decay_ex),
        beta_normalization_factor(params.tau_rise_in, params.tau_decay_in),
    )  # fmt: skip


def iaf_cond_beta_init_state(
    params: IafCondBetaParams, n: int, *, V_m: ArrayLike = -70.0
) -> IafCondAlphaState:
    """NEST's initial state of ``n`` neurons (the integrator's step starts at ``h``)."""
    n = _check_n(n)
    _check_params_type(IafCondBetaParams, params, n)
    zeros = jnp.zeros((n,), jnp.float32)
    fields = {f: zeros for f in IafCondAlphaState._fields}
    fields.update(V_m=_initial("V_m", V_m, n), r=jnp.zeros((n,), jnp.int32))
    fields["step"] = jnp.full((n,), jnp.nan, jnp.float32)
    return IafCondAlphaState(**fields)


def iaf_cond_beta_step(props, params, state, in_ex, in_in, i_stim, *, surrogate=None,
                       detach_reset: bool = False, substeps: int = 0,
                       native: bool = False, threads: int = 0):  # fmt: skip
    """One step of ``iaf_cond_beta`` (see :func:`~._iaf_cond.iaf_cond_exp_step`)."""
    return _step("beta", props, params, state, in_ex, in_in, i_stim, surrogate, detach_reset,
                 substeps, native, threads)  # fmt: skip


SPEC = ModelSpec(
    name="iaf_cond_beta", Params=IafCondBetaParams, State=IafCondAlphaState,
    Props=IafCondProps, init_state=iaf_cond_beta_init_state, propagators=propagators,
    step=iaf_cond_beta_step, validate=validate, defaults=DEFAULTS,
    initial_state={"V_m": -70.0}, recordables={"V_m": "V_m", "g_ex": "g_ex", "g_in": "g_in"},
    V_m=_v_m, numerical=True, native_ode=True, native_block=functools.partial(native_block, "beta"),
    attempts=16,
)  # fmt: skip
