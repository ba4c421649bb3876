r"""``aeif_psc_exp``: adaptive exponential integrate-and-fire with exponential synaptic
*currents* (NEST).

As ``aeif_cond_exp`` (:mod:`._aeif`: the same integration, spikes inside the sub-step loop,
``w += b``, instability checks), with the synaptic input a current,

.. math:: C_m \frac{dV}{dt} = \dots + I_\text{ex} - I_\text{in} - w + I_e + I_\text{stim},
    \qquad \tau_\text{syn} \frac{dI_X}{dt} = -I_X,

a spike of weight :math:`w` pA adding :math:`w` to :math:`I_\text{ex}` (``w > 0``) or
:math:`|w|` to :math:`I_\text{in}`.
"""

import functools
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from ..._types import Array, ArrayLike
from ._aeif import AeifProps, _step, _v_m, native_block
from ._aeif import validate as _validate_aeif
from ._common import _check_n, _check_params_type, _f32, _initial
from ._rkf45 import step_constants
from ._spec import ModelSpec


class AeifPscExpParams(NamedTuple):
    """``aeif_psc_exp`` parameters (NEST names and units)."""

    C_m: Array  #: membrane capacitance (pF)
    V_th: Array  #: spike initiation threshold (mV)
    t_ref: Array  #: refractory period (ms)
    g_L: Array  #: leak conductance (nS)
    E_L: Array  #: leak reversal potential (mV)
    V_reset: Array  #: reset potential (mV)
    tau_syn_ex: Array  #: excitatory synaptic time constant (ms)
    tau_syn_in: Array  #: inhibitory synaptic time constant (ms)
    a: Array  #: subthreshold adaptation (nS)
    b: Array  #: spike-triggered adaptation (pA)
    Delta_T: Array  #: slope factor (mV)
    tau_w: Array  #: adaptation time constant (ms)
    I_e: Array  #: constant input current (pA)
    V_peak: Array  #: spike detection threshold (mV)
    gsl_error_tol: Array  #: error tolerance of the integrator


class AeifPscExpState(NamedTuple):
    """``aeif_psc_exp`` state (float32; ``r`` int32)."""

    V_m: Array  #: membrane potential (mV)
    I_ex: Array  #: excitatory synaptic current (pA)
    I_in: Array  #: inhibitory synaptic current (pA, >= 0, subtracted)
    w: Array  #: adaptation current (pA)
    i_0: Array  #: the previous step's current (pA)
    r: Array  #: refractory steps left
    step: Array  #: the integrator's current step size (ms)


DEFAULTS = {
    "C_m": 281.0, "V_th": -50.4, "t_ref": 0.0, "g_L": 30.0, "E_L": -70.6, "V_reset": -60.0,
    "tau_syn_ex": 0.2, "tau_syn_in": 2.0, "a": 4.0, "b": 80.5, "Delta_T": 2.0,
    "tau_w": 144.0, "I_e": 0.0, "V_peak": 0.0, "gsl_error_tol": 1e-6,
}  # fmt: skip


def validate(model: str, p: dict[str, np.ndarray]) -> None:
    """NEST's checks (those of ``aeif_cond_exp``)."""
    _validate_aeif(model, p)


def propagators(params: AeifPscExpParams, h: float) -> AeifProps:
    """The step's constants (the currents need no normalisation)."""
    v_spike = _f32(np.where(params.Delta_T > 0, params.V_peak, params.V_th))
    return step_constants(AeifProps, params, h, 0.0, 0.0, v_spike=v_spike)


def aeif_psc_exp_init_state(
    params: AeifPscExpParams, n: int, *, V_m: ArrayLike = -70.6, w: ArrayLike = 0.0
) -> AeifPscExpState:
    """NEST's initial state of ``n`` neurons (the integrator's step starts at
    ``min(0.01, h)``)."""
    n = _check_n(n)
    _check_params_type(AeifPscExpParams, params, n)
    zeros = jnp.zeros((n,), jnp.float32)
    fields = {f: zeros for f in AeifPscExpState._fields}
    fields.update(V_m=_initial("V_m", V_m, n), w=_initial("w", w, n), r=jnp.zeros((n,), jnp.int32))
    fields["step"] = jnp.full((n,), jnp.nan, jnp.float32)
    return AeifPscExpState(**fields)


def aeif_psc_exp_step(props, params, state, in_ex, in_in, i_stim, *, surrogate=None,
                      detach_reset: bool = False, substeps: int = 0, native: bool = False,
                      threads: int = 0):  # fmt: skip
    """One step of ``aeif_psc_exp`` (weights in pA; see :func:`~._aeif.aeif_cond_exp_step`)."""
    return _step("psc", props, params, state, in_ex, in_in, i_stim, surrogate, detach_reset,
                 substeps, native, threads)  # fmt: skip


SPEC = ModelSpec(
    name="aeif_psc_exp", Params=AeifPscExpParams, State=AeifPscExpState, Props=AeifProps,
    init_state=aeif_psc_exp_init_state, propagators=propagators, step=aeif_psc_exp_step,
    validate=validate, defaults=DEFAULTS, initial_state={"V_m": -70.6, "w": 0.0},
    recordables={"V_m": "V_m", "I_syn_ex": "I_ex", "I_syn_in": "I_in", "w": "w"}, V_m=_v_m,
    numerical=True, native_ode=True, native_block=functools.partial(native_block, "psc"),
    attempts=256,
)  # fmt: skip
