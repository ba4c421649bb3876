r"""NEST-compatible point neurons: exact integration and NEST's update order, as pure JAX.

Five NEST 3.x models, each as NamedTuples (``<Model>Params``, ``<Model>State``,
``<Model>Props``) and three pure functions (``<model>_init_state``, ``<model>_propagators``,
``<model>_step``); :class:`NestModel` bundles them under NEST's model name:

* ``iaf_psc_delta``: LIF, each input spike is a jump of the membrane (weights in mV);
* ``iaf_psc_exp``: LIF with exponentially decaying synaptic currents (weights in pA);
* ``iaf_psc_alpha``: LIF with alpha-shaped synaptic currents (weights in pA, peak = weight);
* ``izhikevich``: Izhikevich (2003), NEST's forward-Euler scheme;
* ``parrot_neuron``: repeats every input spike.

The linear models are integrated exactly (Rotter & Diesmann 1999): the subthreshold
dynamics is linear with piecewise-constant input, so one step of length :math:`h` is a
fixed matrix (the *propagators*), computed once on the host in float64 (as NEST does, with
its treatment of the singular case :math:`\tau_m = \tau_\text{syn}`) and stored in float32.
Spiking uses the shared core (:func:`snnjax.neurons.fire_and_reset`, hard reset,
``V_m >= V_th``) with a surrogate gradient, so the same step can be trained.

Units as NEST: mV, ms, pF, pA. Parameters are given as NEST's *absolute* values (``E_L``,
``V_th``, ``V_reset``, ``V_min`` in mV); the iaf models store the membrane relative to
``E_L`` (``state.v = V_m - E_L``, like NEST's internal ``y3_``/``V_m_``), which keeps float32
rounding small; :meth:`NestModel.V_m` gives the absolute potential a multimeter records.

**Time grid and delivery** (what a simulation engine driving these steps must follow):

* step :math:`k` advances the state from :math:`t_k = k h` to :math:`t_{k+1}`: the state
  after step :math:`k` is what NEST's multimeter records at :math:`t_{k+1}`, and a spike
  emitted in step :math:`k` has the time stamp :math:`t_{k+1}`;
* ``in_ex``, ``in_in`` of step :math:`k`: the summed ``weight * multiplicity`` of the spike
  events whose delivery stamp is :math:`t_{k+1}` (NEST's ring-buffer slot of that step),
  split by the sign of the weight (``> 0`` excitatory, else inhibitory). A spike at time
  :math:`t_s` with delay :math:`d` lands in step :math:`(t_s + d)/h - 1`. PSC models add
  the weights to the synaptic currents *after* the membrane update, so the membrane moves
  from step :math:`k+1` on (the PSC starts at :math:`t_{k+1}`); ``iaf_psc_delta`` and
  ``izhikevich`` add them to the membrane in step :math:`k` itself;
* ``i_stim`` of step :math:`k`: the summed current (pA) of the ``CurrentEvent``\s in the same
  slot. As in NEST (``S_.y0_ = ...get_value(lag)`` at the end of ``update``), it is stored in
  the state and drives the membrane from step :math:`k+1` on. A current generator
  (``dc_generator``) active over ``[start, stop)`` sends in the steps :math:`T` with
  :math:`\text{start} < (T + 2)h \le \text{stop}` (``StimulationDevice::is_active``) and its
  event reaches the slot of step :math:`T + d`.

Float32: a decay factor :math:`P = e^{-h/\tau}` is stored as :math:`P - 1`
(``expm1``, full relative precision) and applied as :math:`x + (P - 1)x`: NEST's :math:`Px`
in exact arithmetic (NEST's ``iaf_psc_alpha`` does this for the membrane), but a float32
:math:`P` close to 1 would shift the fixed points (e.g. the DC plateau) by ~1e-5 relative at
small ``h``. Against NEST 3.10 (double) the membrane then agrees to ~1e-5 mV
(``benchmarks/nest_single_neuron.py``).

Refractoriness: ``t_ref`` becomes ``ceil(round(t_ref * 1000) / round(h * 1000))`` steps (NEST's
``Time(Time::ms(t_ref)).get_steps()`` with 1000 tics per ms: nearest tic, then *up* to
whole steps; ``t_ref / h`` when ``t_ref`` is a multiple of ``h``). During those steps the
membrane is not integrated (it stays at ``V_reset``) while the synaptic currents evolve.
The hard reset is the shared core's :math:`h - s\,(h - V_\text{reset})`: exact for the
default ``V_reset = E_L`` (relative 0), otherwise within one float32 ulp of ``V_reset``.
"""

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._errors import check_broadcastable, check_one_of, check_range
from .._types import Array, ArrayLike, Float
from ..neurons._base import align_params, fire_and_reset
from ..surrogate import Surrogate, get_surrogate

#: NEST's tics per millisecond (its default ``tics_per_ms``); ``h`` must be whole tics.
TICS_PER_MS = 1000.0

Neurons = Float[Array, "*neurons"]
_F32_MAX = float(np.finfo(np.float32).max)


def _default_surrogate() -> Surrogate:
    return get_surrogate("fast_sigmoid")


# --------------------------------------------------------------------------------------------
# Parameters, state and propagators of each model
# --------------------------------------------------------------------------------------------


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


class ParrotNeuronParams(NamedTuple):
    """``parrot_neuron`` has no parameters."""


class ParrotNeuronState(NamedTuple):
    """``parrot_neuron`` has no state."""


class ParrotNeuronProps(NamedTuple):
    """``parrot_neuron`` has no propagators."""


#: NEST 3.x defaults of every parameter, per model (``nest.GetDefaults(model)``). NEST's
#: ``V_min`` default ``-DBL_MAX`` (iaf_psc_delta, izhikevich) is written ``-inf`` here (the
#: same: no lower bound; ``-DBL_MAX`` has no float32 value).
DEFAULTS: dict[str, dict[str, float | bool]] = {
    "iaf_psc_delta": {
        "C_m": 250.0, "tau_m": 10.0, "t_ref": 2.0, "E_L": -70.0, "V_th": -55.0,
        "V_reset": -70.0, "I_e": 0.0, "V_min": -np.inf, "refractory_input": False,
    },
    "iaf_psc_exp": {
        "C_m": 250.0, "tau_m": 10.0, "tau_syn_ex": 2.0, "tau_syn_in": 2.0, "t_ref": 2.0,
        "E_L": -70.0, "V_th": -55.0, "V_reset": -70.0, "I_e": 0.0, "rho": 0.01, "delta": 0.0,
    },
    "iaf_psc_alpha": {
        "C_m": 250.0, "tau_m": 10.0, "tau_syn_ex": 2.0, "tau_syn_in": 2.0, "t_ref": 2.0,
        "E_L": -70.0, "V_th": -55.0, "V_reset": -70.0, "I_e": 0.0, "V_min": -np.inf,
    },
    "izhikevich": {
        "a": 0.02, "b": 0.2, "c": -65.0, "d": 8.0, "I_e": 0.0, "V_th": 30.0,
        "V_min": -np.inf, "consistent_integration": True,
    },
    "parrot_neuron": {},
}  # fmt: skip

#: NEST 3.x initial state (absolute mV) of a new neuron, per model; ``init_state`` takes
#: these as keyword defaults (scalars or per-neuron arrays may be passed instead). NEST keeps
#: the *absolute* ``V_m`` (and ``V_th``, ``V_reset``, ``V_min``) when ``E_L`` is changed, so a
#: neuron created with ``E_L = -60`` starts at ``V_m = -70`` mV, not at rest: pass
#: ``V_m=params.E_L`` to start at rest.
INITIAL_STATE: dict[str, dict[str, float]] = {
    "iaf_psc_delta": {"V_m": -70.0},
    "iaf_psc_exp": {"V_m": -70.0},
    "iaf_psc_alpha": {"V_m": -70.0},
    "izhikevich": {"V_m": -65.0, "U_m": -13.0},
    "parrot_neuron": {},
}

_BOOL_PARAMS = frozenset({"refractory_input", "consistent_integration"})


# --------------------------------------------------------------------------------------------
# Validation and host-side helpers
# --------------------------------------------------------------------------------------------


def _float_param(model: str, name: str, value: Any) -> np.ndarray:
    """A float64 host array for a parameter; only ``V_min`` may be ``-inf``."""
    if isinstance(value, jax.core.Tracer):
        raise ValueError(
            f"`{name}` of '{model}' must be a concrete number or array, not a traced value "
            "(parameters are validated and turned into propagators on the host)"
        )
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"`{name}` of '{model}' must be a number or an array; got {value!r}"
        ) from err
    if name == "V_min":
        # -DBL_MAX (NEST's "no bound") and anything below float32 range: no bound.
        arr = np.where(arr < -_F32_MAX, -np.inf, arr)
        bad = np.isnan(arr) | (arr > _F32_MAX)
        if np.any(bad):
            raise ValueError(f"`V_min` of '{model}' must be finite or -inf; got {arr[bad][:4]}")
        return arr
    check_range(name, arr)  # finite
    if np.any(np.abs(arr) > _F32_MAX):
        raise ValueError(f"`{name}` of '{model}' is out of float32 range; got {arr}")
    return arr


def _bool_param(model: str, name: str, value: Any) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype != np.bool_:
        raise ValueError(
            f"`{name}` of '{model}' must be True/False (or a bool array); got {value!r}"
        )
    return arr


def _check_model_name(model_name: str) -> None:
    check_one_of("model_name", model_name, MODEL_NAMES)


def make_params(model_name: str, **overrides: ArrayLike | bool) -> NamedTuple:
    """Validated parameters of a NEST model: NEST's defaults, updated by ``overrides``.

    Values are scalars or per-neuron arrays (all mutually broadcastable), kept on the host
    in float64 (bool for the flags) so that :func:`NestModel.propagators` sees exactly what
    NEST would; the step functions read them as float32.

    Args:
        model_name: one of :data:`MODEL_NAMES`.
        **overrides: NEST parameter names and values (mV, ms, pF, pA).

    Returns:
        The model's ``Params`` NamedTuple.

    Raises:
        ValueError: for an unknown model or parameter, or an invalid value (``C_m <= 0``,
            a time constant ``<= 0``, ``t_ref < 0``, ``V_reset >= V_th``, non-finite, ...).

    Examples:
        >>> p = make_params("iaf_psc_exp", I_e=376.0, tau_syn_ex=np.array([2.0, 10.0]))
        >>> float(p.C_m), p.tau_syn_ex.tolist()
        (250.0, [2.0, 10.0])
    """
    _check_model_name(model_name)
    spec = _SPECS[model_name]
    fields = spec.Params._fields
    unknown = [k for k in overrides if k not in fields]
    if unknown:
        listed = ", ".join(f"'{f}'" for f in fields) or "(none)"
        raise ValueError(
            f"unknown parameter(s) {', '.join(f'`{k}`' for k in unknown)} for model "
            f"'{model_name}'; its parameters are: {listed}"
        )
    values = {**DEFAULTS[model_name], **overrides}
    arrays = {
        k: (_bool_param if k in _BOOL_PARAMS else _float_param)(model_name, k, values[k])
        for k in fields
    }
    try:
        np.broadcast_shapes(*(a.shape for a in arrays.values()))
    except ValueError as err:
        shapes = ", ".join(f"`{k}` {a.shape}" for k, a in arrays.items() if a.ndim)
        raise ValueError(
            f"the parameters of '{model_name}' must broadcast together; got shapes {shapes}"
        ) from err
    spec.validate(model_name, arrays)
    return spec.Params(**arrays)


def _validate_iaf(model: str, p: dict[str, np.ndarray]) -> None:
    """NEST's checks in ``Parameters_::set`` of the iaf models."""
    check_range("C_m", p["C_m"], low=0.0, low_inclusive=False)
    for name in ("tau_m", "tau_syn_ex", "tau_syn_in"):
        if name in p:
            check_range(name, p[name], low=0.0, low_inclusive=False)
    check_range("t_ref", p["t_ref"], low=0.0)
    if np.any(p["V_reset"] >= p["V_th"]):
        raise ValueError(
            f"`V_reset` must be smaller than `V_th` for '{model}'; got V_reset="
            f"{np.ravel(p['V_reset'])[:4].tolist()}, V_th={np.ravel(p['V_th'])[:4].tolist()}"
        )
    if model == "iaf_psc_exp":
        check_range("rho", p["rho"], low=0.0)
        check_range("delta", p["delta"], low=0.0)
        if np.any(p["delta"] != 0.0):
            raise ValueError(
                "`delta` must be 0 for 'iaf_psc_exp': the stochastic threshold (delta > 0) "
                f"is not supported; got {np.ravel(p['delta'])[:4].tolist()}"
            )


def _validate_none(model: str, p: dict[str, np.ndarray]) -> None:
    del model, p  # NEST checks nothing more for izhikevich and parrot_neuron


def _check_h(h: float) -> tuple[float, int]:
    """The resolution in ms and in tics; NEST requires a whole number of tics."""
    if isinstance(h, jax.core.Tracer) or np.ndim(h) != 0:
        raise ValueError(f"`h` must be a positive Python number (ms); got {h!r}")
    check_range("h", h, low=0.0, low_inclusive=False)
    tics = h * TICS_PER_MS
    if abs(tics - round(tics)) > 1e-9 * max(1.0, tics) or round(tics) < 1:
        raise ValueError(
            f"`h` must be a whole number of tics ({1 / TICS_PER_MS:g} ms), as in NEST; got {h!r}"
        )
    return float(h), round(tics)


def refractory_steps(t_ref: ArrayLike, h: float) -> np.ndarray:
    """NEST's ``Time(Time::ms(t_ref)).get_steps()``: nearest tic, then up to whole steps.

    Args:
        t_ref: refractory period(s) in ms, ``>= 0``.
        h: resolution in ms.

    Returns:
        int32 host array of steps (``t_ref / h`` when ``t_ref`` is a multiple of ``h``).
    """
    _, tics_per_step = _check_h(h)
    t_ref = np.asarray(t_ref, np.float64)
    check_range("t_ref", t_ref, low=0.0)
    tics = np.floor(t_ref * TICS_PER_MS + 0.5)  # static_cast<tic_t>(t * TICS_PER_MS + 0.5)
    # (tics + TICS_PER_STEP - 1) * TICS_PER_STEP_INV, truncated as NEST's cast to long.
    steps = np.trunc((tics + (tics_per_step - 1)) * (1.0 / tics_per_step))
    return steps.astype(np.int32)


def iaf_propagator_exp(tau_syn: ArrayLike, tau_m: ArrayLike, C_m: ArrayLike, h: float):
    r"""NEST's ``IAFPropagatorExp``: the propagator from a synaptic current to the membrane.

    The membrane response at :math:`h` to a unit current decaying with :math:`\tau_s`:

    .. math::
        P_{VI} = \frac{1}{C_m}\frac{\tau_s\tau_m}{\tau_m - \tau_s}
                 \left(e^{-h/\tau_m} - e^{-h/\tau_s}\right)
               = \frac{\beta}{C_m}\,e^{-h/\tau_s}\,
                 \operatorname{expm1}\!\left(h\,\frac{\tau_m - \tau_s}{\tau_s\tau_m}\right),
        \qquad \beta = \frac{\tau_s\tau_m}{\tau_m - \tau_s}

    Where that is not a normal positive number (:math:`\tau_m = \tau_s` gives
    :math:`\infty\cdot 0`), its limit :math:`P_{VI} = h\,e^{-h/\tau_m}/C_m` is used, as in
    NEST's ``IAFPropagator::evaluate_P32_``.

    Returns:
        ``(P_VI, exp(-h/tau_s), expm1(h (tau_m - tau_s)/(tau_s tau_m)), beta, gamma)`` as
        float64 host arrays (``gamma = beta / C_m``).
    """
    tau_syn, tau_m, C_m = (np.asarray(x, np.float64) for x in (tau_syn, tau_m, C_m))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        beta = tau_syn * tau_m / (tau_m - tau_syn)  # inf when tau_m == tau_syn
        gamma = beta / C_m
        inv_beta = (tau_m - tau_syn) / (tau_syn * tau_m)  # explicit: 0 when equal
        exp_h_tau_syn = np.exp(-h * (1.0 / tau_syn))
        expm1_h_tau = np.expm1(h * inv_beta)
        p32 = gamma * exp_h_tau_syn * expm1_h_tau
        normal = np.isfinite(p32) & (p32 >= np.finfo(np.float64).tiny)
        p32 = np.where(normal, p32, h * (1.0 / C_m) * np.exp(-h * (1.0 / tau_m)))
    return p32, exp_h_tau_syn, expm1_h_tau, beta, gamma


def iaf_propagator_alpha(tau_syn: ArrayLike, tau_m: ArrayLike, C_m: ArrayLike, h: float):
    r"""NEST's ``IAFPropagatorAlpha``: ``(P31, P32)``, from ``dI`` and ``I`` to the membrane.

    .. math::
        P_{31} = \frac{\beta}{C_m}\,e^{-h/\tau_s}
                 \left(\beta\,\operatorname{expm1}\!\left(\frac{h}{\beta}\right) - h\right),
        \qquad P_{32} = P_{VI} \;\text{(see } \texttt{iaf\_propagator\_exp}\text{)}

    :math:`P_{31}` takes its singular form :math:`\tfrac12 h^2 e^{-h/\tau_m} / C_m` unless
    :math:`h > 10^{-7}\,\tau_m^2 / |\tau_m - \tau_s|` (NEST's ``h_min_regular_``), where the
    regular form loses all precision near :math:`\tau_m = \tau_s`.
    """
    tau_syn, tau_m, C_m = (np.asarray(x, np.float64) for x in (tau_syn, tau_m, C_m))
    p32, exp_h_tau_syn, expm1_h_tau, beta, gamma = iaf_propagator_exp(tau_syn, tau_m, C_m, h)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        h_min_regular = 1e-7 * tau_m * tau_m / np.abs(tau_m - tau_syn)
        p31 = gamma * exp_h_tau_syn * (beta * expm1_h_tau - h)
        p31_singular = 0.5 * h * h * (1.0 / C_m) * np.exp(-h * (1.0 / tau_m))
        p31 = np.where(h > h_min_regular, p31, p31_singular)
    return p31, p32


def _f32(x: ArrayLike) -> Array:
    return jnp.asarray(x, dtype=jnp.float32)


def _check_params_type(cls: type, params: Any, n: int | None = None) -> None:
    if not isinstance(params, cls):
        raise ValueError(
            f"`params` must be a {cls.__name__} (from `make_params`); got {type(params).__name__}"
        )
    if n is not None:
        for field, value in zip(params._fields, params, strict=True):
            check_broadcastable(f"params.{field}", np.shape(value), (n,))


def _check_n(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"`n` must be a positive int (number of neurons); got {n!r}")
    return int(n)


def _initial(name: str, value: ArrayLike, n: int) -> Array:
    """A float32 ``(n,)`` array from a scalar or per-neuron initial value."""
    if not isinstance(value, jax.core.Tracer):
        check_range(name, value)
    check_broadcastable(name, np.shape(value), (n,))
    return jnp.broadcast_to(_f32(value), (n,))


def _check_step(model: str, classes: tuple[type, type, type], props, params, state, inputs):
    """Static checks of a step's arguments (types and shapes; free under ``jit``)."""
    values = (props, params, state)
    for arg, cls, value in zip(("props", "params", "state"), classes, values, strict=True):
        if not isinstance(value, cls):
            raise ValueError(
                f"`{arg}` must be a {cls.__name__} for '{model}'; got {type(value).__name__}"
            )
    shape = jnp.shape(state[0])
    for name, x in inputs.items():
        check_broadcastable(name, jnp.shape(x), shape)
    for field, value in zip(params._fields, params, strict=True):
        check_broadcastable(f"params.{field}", jnp.shape(value), shape)
    return shape


def _input(x: ArrayLike, shape: tuple[int, ...]) -> Array:
    """A step input as float32, with leading unit axes up to the state's rank."""
    x = _f32(x)
    return jnp.reshape(x, (1,) * (len(shape) - x.ndim) + x.shape)


def _fire(v, r, theta, v_reset, counts, surrogate, detach_reset):
    """Spike where ``v >= theta`` (shared core, hard reset) and restart the refractory count."""
    v, s = fire_and_reset(
        v, theta, v_reset, reset="hard", detach_reset=detach_reset, surrogate=surrogate
    )
    return v, jnp.where(s > 0, counts, r), s


def _read(params: NamedTuple, props: NamedTuple, ndim: int):
    """Params as float32 (flags as bool) and props, both aligned to the state's rank."""
    params = type(params)(
        *(
            jnp.asarray(p) if k in _BOOL_PARAMS else _f32(p)
            for k, p in zip(params._fields, params, strict=True)
        )
    )
    return align_params(params, ndim), align_params(props, ndim)


# --------------------------------------------------------------------------------------------
# iaf_psc_delta
# --------------------------------------------------------------------------------------------


def _iaf_init_state(params_cls, state_cls, params, n, V_m):
    """An iaf state at ``V_m`` (absolute mV) with every current zero and no refractoriness."""
    n = _check_n(n)
    _check_params_type(params_cls, params, n)
    v = _initial("V_m", V_m, n) - _f32(params.E_L)
    zeros, r = jnp.zeros((n,), jnp.float32), jnp.zeros((n,), jnp.int32)
    return state_cls(**{f: v if f == "v" else r if f == "r" else zeros for f in state_cls._fields})


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
    p, q = _read(params, props, len(shape))
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


# --------------------------------------------------------------------------------------------
# iaf_psc_exp
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# iaf_psc_alpha
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# izhikevich
# --------------------------------------------------------------------------------------------


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
    p, q = _read(params, props, len(shape))
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


# --------------------------------------------------------------------------------------------
# parrot_neuron
# --------------------------------------------------------------------------------------------


def parrot_neuron_init_state(params: ParrotNeuronParams, n: int) -> ParrotNeuronState:
    """The (empty) state of ``n`` parrot neurons."""
    _check_n(n)
    _check_params_type(ParrotNeuronParams, params)
    return ParrotNeuronState()


def parrot_neuron_propagators(params: ParrotNeuronParams, h: float) -> ParrotNeuronProps:
    """No propagators (checks ``h`` only)."""
    _check_params_type(ParrotNeuronParams, params)
    _check_h(h)
    return ParrotNeuronProps()


def parrot_neuron_step(
    props: ParrotNeuronProps,
    params: ParrotNeuronParams,
    state: ParrotNeuronState,
    in_ex: Neurons,
    in_in: Neurons,
    i_stim: Neurons,
    **unused: Any,
) -> tuple[ParrotNeuronState, Neurons]:
    r"""One step of ``parrot_neuron``: emit as many spikes as arrive (``parrot_neuron::update``).

    .. math:: s_k = N^\text{ex}_k + N^\text{in}_k

    NEST's parrot counts spike *events* (their multiplicity) on receptor port 0 and ignores
    the weights, so here ``in_ex`` / ``in_in`` are spike **counts** delivered in this step
    (the engine passes multiplicities, not weights); ``i_stim`` is ignored (NEST's parrot
    takes no current). The output is the float32 count (the multiplicity of the spike sent).
    """
    del unused
    for arg, cls, value in zip(
        ("props", "params", "state"),
        (ParrotNeuronProps, ParrotNeuronParams, ParrotNeuronState),
        (props, params, state),
        strict=True,
    ):
        if not isinstance(value, cls):
            raise ValueError(f"`{arg}` must be a {cls.__name__}; got {type(value).__name__}")
    shape = jnp.broadcast_shapes(jnp.shape(in_ex), jnp.shape(in_in))
    check_broadcastable("i_stim", jnp.shape(i_stim), shape)
    return state, jnp.broadcast_to(_input(in_ex, shape), shape) + jnp.broadcast_to(
        _input(in_in, shape), shape
    )


# --------------------------------------------------------------------------------------------
# Registry and the model object
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Spec:
    Params: type
    State: type
    Props: type
    init_state: Callable
    propagators: Callable
    step: Callable
    validate: Callable


_SPECS: dict[str, _Spec] = {
    "iaf_psc_delta": _Spec(
        IafPscDeltaParams, IafPscDeltaState, IafPscDeltaProps, iaf_psc_delta_init_state,
        iaf_psc_delta_propagators, iaf_psc_delta_step, _validate_iaf,
    ),
    "iaf_psc_exp": _Spec(
        IafPscExpParams, IafPscExpState, IafPscExpProps, iaf_psc_exp_init_state,
        iaf_psc_exp_propagators, iaf_psc_exp_step, _validate_iaf,
    ),
    "iaf_psc_alpha": _Spec(
        IafPscAlphaParams, IafPscAlphaState, IafPscAlphaProps, iaf_psc_alpha_init_state,
        iaf_psc_alpha_propagators, iaf_psc_alpha_step, _validate_iaf,
    ),
    "izhikevich": _Spec(
        IzhikevichParams, IzhikevichState, IzhikevichProps, izhikevich_init_state,
        izhikevich_propagators, izhikevich_step, _validate_none,
    ),
    "parrot_neuron": _Spec(
        ParrotNeuronParams, ParrotNeuronState, ParrotNeuronProps, parrot_neuron_init_state,
        parrot_neuron_propagators, parrot_neuron_step, _validate_none,
    ),
}  # fmt: skip

#: The NEST model names available.
MODEL_NAMES: tuple[str, ...] = tuple(_SPECS)


@dataclasses.dataclass(frozen=True)
class NestModel:
    """A NEST point-neuron model: static config (hashable) + its pure functions.

    Args:
        name: NEST model name, one of :data:`MODEL_NAMES`.
        surrogate: surrogate gradient of the spike (a :class:`~snnjax.surrogate.Surrogate`
            or its name); the forward pass is exactly NEST's ``V_m >= V_th``.
        detach_reset: pass no gradient through the reset.

    Examples:
        >>> model = NestModel("iaf_psc_exp")
        >>> params = model.params(I_e=400.0)
        >>> props = model.propagators(params, h=0.1)
        >>> state = model.init_state(params, 3)
        >>> zero = jnp.zeros(3)
        >>> state, spikes = jax.jit(model.step)(props, params, state, zero, zero, zero)
        >>> spikes.shape
        (3,)
    """

    name: str
    surrogate: Surrogate | str = dataclasses.field(default_factory=_default_surrogate)
    detach_reset: bool = False

    def __post_init__(self):
        check_one_of("name", self.name, MODEL_NAMES)
        object.__setattr__(self, "surrogate", get_surrogate(self.surrogate))
        if not isinstance(self.detach_reset, bool):
            raise ValueError(f"`detach_reset` must be True or False; got {self.detach_reset!r}")

    @property
    def _spec(self) -> _Spec:
        return _SPECS[self.name]

    @property
    def Params(self) -> type:
        """The ``Params`` NamedTuple class."""
        return self._spec.Params

    @property
    def State(self) -> type:
        """The ``State`` NamedTuple class."""
        return self._spec.State

    @property
    def Props(self) -> type:
        """The ``Props`` NamedTuple class (propagators)."""
        return self._spec.Props

    @property
    def defaults(self) -> Mapping[str, float | bool]:
        """NEST's default parameters of this model."""
        return dict(DEFAULTS[self.name])

    def params(self, **overrides: ArrayLike | bool) -> NamedTuple:
        """Validated parameters (see :func:`make_params`)."""
        return make_params(self.name, **overrides)

    def init_state(self, params: NamedTuple, n: int, **initial: ArrayLike) -> NamedTuple:
        """NEST's initial state of ``n`` neurons (``V_m=...`` etc. to override)."""
        return self._spec.init_state(params, n, **initial)

    def propagators(self, params: NamedTuple, h: float) -> NamedTuple:
        """Exact propagators for resolution ``h`` (ms), computed once on the host."""
        return self._spec.propagators(params, h)

    def step(
        self,
        props: NamedTuple,
        params: NamedTuple,
        state: NamedTuple,
        in_ex: Neurons,
        in_in: Neurons,
        i_stim: Neurons,
    ) -> tuple[NamedTuple, Neurons]:
        """One NEST update step: ``(state, spikes)`` (see the model's ``*_step`` function)."""
        return self._spec.step(
            props, params, state, in_ex, in_in, i_stim,
            surrogate=self.surrogate, detach_reset=self.detach_reset,
        )  # fmt: skip

    def V_m(self, params: NamedTuple, state: NamedTuple) -> Neurons:
        """The absolute membrane potential (mV), as NEST's multimeter records it.

        ``state`` may carry leading axes (e.g. states stacked over time by ``lax.scan``).
        """
        if self.name == "izhikevich":
            return state.V_m
        if self.name == "parrot_neuron":
            raise ValueError("`parrot_neuron` has no membrane potential")
        E_L = _f32(params.E_L)  # per-neuron: aligned to the trailing axes of the state
        return state.v + jnp.reshape(E_L, (1,) * (jnp.ndim(state.v) - E_L.ndim) + E_L.shape)


def get_model(name: str, **config: Any) -> NestModel:
    """The :class:`NestModel` called ``name`` (``surrogate=``, ``detach_reset=`` optional)."""
    return NestModel(name, **config)
