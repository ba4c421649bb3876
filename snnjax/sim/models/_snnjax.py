r"""The trainer's discrete neurons as simulator models: ``snnjax_lif``, ``snnjax_cuba_lif``,
``snnjax_li``.

These run a network trained with :mod:`snnjax.neurons` (or imported from NIR,
:func:`snnjax.sim.import_nir`) in the simulator, on its devices and shards. One simulator
step is one trainer step; inputs arrive as jumps in the step they are delivered (spike
weights, ``i_stim`` and ``I_e`` alike), as the trainer's :math:`x_t`:

.. math::
    x_k &= g\,(W^\text{ex}_k + W^\text{in}_k + I^\text{stim}_k + I_e),
        \qquad \ell = (1 - \beta)\,E_L \\
    \text{snnjax\_lif:}\quad h_k &= \beta\,v_{k-1} + x_k + \ell, \qquad
        s_k = H(h_k - V_\text{th}), \qquad v_k = \text{reset}(h_k, s_k) \\
    \text{snnjax\_cuba\_lif:}\quad i_k &= \alpha\,i_{k-1} + x_k, \qquad
        h_k = \beta\,v_{k-1} + i_k + \ell, \qquad \text{spike and reset as above} \\
    \text{snnjax\_li:}\quad v_k &= \beta\,v_{k-1} + x_k + \ell \quad \text{(never spikes)}

with :math:`\beta = e^{-h/\tau_m}`, :math:`\alpha = e^{-h/\tau_\text{syn}}` (float64 on the
host, stored in float32), the soft reset :math:`v = h - s\,V_\text{th}` or the hard reset
:math:`v = h - s\,(h - V_\text{reset})` of the shared core
(:func:`snnjax.neurons.fire_and_reset`'s halves), no refractoriness. With the defaults ``gain = 1``,
``E_L = 0`` every step is the trainer's arithmetic (:func:`snnjax.neurons.lif_step`,
:func:`~snnjax.neurons.cuba_lif_step`, :func:`~snnjax.neurons.li_step`): ``gain·x + 0`` is
``x`` exactly. ``gain`` maps a continuous-time input resistance onto the step (NIR's
:math:`(1 - \beta) R`, see :func:`snnjax.sim.import_nir`). Units are the trainer's
(dimensionless membrane); ``tau_m``, ``tau_syn`` in ms like ``h``.
"""

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from ..._errors import check_range
from ..._types import Array, ArrayLike
from ...neurons._base import apply_reset
from ...surrogate import Surrogate, spike
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
)
from ._spec import ModelSpec

_FLAGS = frozenset({"soft_reset"})


class SnnjaxLifParams(NamedTuple):
    """``snnjax_lif`` parameters (host float64, the flag bool)."""

    tau_m: Array  #: membrane time constant (ms)
    gain: Array  #: input gain per step (1: the trainer's ``x``)
    E_L: Array  #: leak (rest) potential
    V_th: Array  #: threshold
    V_reset: Array  #: reset potential (hard reset)
    I_e: Array  #: constant input, added every step
    soft_reset: Array  #: subtract ``V_th`` (True) or reset to ``V_reset`` (False)


class SnnjaxCubaLifParams(NamedTuple):
    """``snnjax_cuba_lif`` parameters (host float64, the flag bool)."""

    tau_m: Array  #: membrane time constant (ms)
    tau_syn: Array  #: synaptic current time constant (ms)
    gain: Array  #: input gain per step (1: the trainer's ``x``)
    E_L: Array  #: leak (rest) potential
    V_th: Array  #: threshold
    V_reset: Array  #: reset potential (hard reset)
    I_e: Array  #: constant input, added every step
    soft_reset: Array  #: subtract ``V_th`` (True) or reset to ``V_reset`` (False)


class SnnjaxLiParams(NamedTuple):
    """``snnjax_li`` parameters (host float64)."""

    tau_m: Array  #: membrane time constant (ms)
    gain: Array  #: input gain per step (1: the trainer's ``x``)
    E_L: Array  #: leak (rest) potential
    I_e: Array  #: constant input, added every step


class SnnjaxState(NamedTuple):
    """``snnjax_lif`` / ``snnjax_li`` state (float32)."""

    v: Array  #: membrane (absolute)


class SnnjaxCubaState(NamedTuple):
    """``snnjax_cuba_lif`` state (float32)."""

    i_syn: Array  #: synaptic current (in membrane units per step)
    v: Array  #: membrane (absolute)


class SnnjaxProps(NamedTuple):
    """Decays and the leak term (float32)."""

    beta: Array  #: :math:`e^{-h/\tau_m}`
    alpha: Array  #: :math:`e^{-h/\tau_\text{syn}}` (``snnjax_cuba_lif``; else 0)
    leak: Array  #: :math:`(1 - \beta) E_L`


def _validate(model: str, p: dict[str, np.ndarray]) -> None:
    del model
    for name in ("tau_m", "tau_syn"):
        if name in p:
            check_range(name, p[name], low=0.0, low_inclusive=False)


def _init_state(params_cls, state_cls):
    def init_state(params, n: int, *, V_m: ArrayLike = 0.0):
        n = _check_n(n)
        _check_params_type(params_cls, params, n)
        v = _initial("V_m", V_m, n)
        return state_cls(**{f: v if f == "v" else jnp.zeros((n,), jnp.float32)
                            for f in state_cls._fields})  # fmt: skip

    init_state.__doc__ = f"{state_cls.__name__} of ``n`` neurons at ``V_m`` (default 0: rest)."
    return init_state


def _propagators(params_cls):
    def propagators(params, h: float) -> SnnjaxProps:
        _check_params_type(params_cls, params)
        h, _ = _check_h(h)
        beta = np.exp(-h / params.tau_m)
        alpha = np.exp(-h / params.tau_syn) if hasattr(params, "tau_syn") else np.zeros(())
        return SnnjaxProps(_f32(beta), _f32(alpha), _f32((1.0 - beta) * params.E_L))

    propagators.__doc__ = "Decays :math:`e^{-h/\\tau}` in float64 -> float32 and the leak term."
    return propagators


def _x(p, in_ex, in_in, i_stim, shape):
    """The step's input: ``gain * (W_ex + W_in + I_stim + I_e)``."""
    u = _input(in_ex, shape) + _input(in_in, shape) + _input(i_stim, shape) + p.I_e
    return p.gain * u


def _spike(p, h, surrogate, detach_reset):
    """The shared core's spike and reset (``fire_and_reset``'s two halves), the reset chosen
    per neuron by ``soft_reset``."""
    s = spike(h - p.V_th, surrogate or _default_surrogate())
    v_soft, v_hard = (apply_reset(h, s, p.V_th, p.V_reset, reset=r, detach=detach_reset)
                      for r in ("soft", "hard"))  # fmt: skip
    return jnp.where(p.soft_reset, v_soft, v_hard), s


def snnjax_lif_step(
    props: SnnjaxProps,
    params: SnnjaxLifParams,
    state: SnnjaxState,
    in_ex: Neurons,
    in_in: Neurons,
    i_stim: Neurons,
    *,
    surrogate: Surrogate | None = None,
    detach_reset: bool = False,
) -> tuple[SnnjaxState, Neurons]:
    r"""One ``snnjax_lif`` step: :math:`h = \beta v + x + (1-\beta) E_L`, spike, reset (see
    the module docstring); with ``gain = 1``, ``E_L = 0`` the trainer's
    :func:`~snnjax.neurons.lif_step`."""
    shape = _check_step(
        "snnjax_lif", (SnnjaxProps, SnnjaxLifParams, SnnjaxState),
        props, params, state, {"in_ex": in_ex, "in_in": in_in, "i_stim": i_stim},
    )  # fmt: skip
    p, q = _read(params, props, len(shape), _FLAGS)
    x = _x(p, in_ex, in_in, i_stim, shape) + q.leak
    v, s = _spike(p, q.beta * state.v + x, surrogate, detach_reset)
    return SnnjaxState(jnp.broadcast_to(v, shape)), jnp.broadcast_to(s, shape)


def snnjax_cuba_lif_step(
    props: SnnjaxProps,
    params: SnnjaxCubaLifParams,
    state: SnnjaxCubaState,
    in_ex: Neurons,
    in_in: Neurons,
    i_stim: Neurons,
    *,
    surrogate: Surrogate | None = None,
    detach_reset: bool = False,
) -> tuple[SnnjaxCubaState, Neurons]:
    r"""One ``snnjax_cuba_lif`` step: :math:`i = \alpha i + x`,
    :math:`h = \beta v + i + (1-\beta) E_L`, spike, reset; with ``gain = 1``, ``E_L = 0`` the
    trainer's :func:`~snnjax.neurons.cuba_lif_step`."""
    shape = _check_step(
        "snnjax_cuba_lif", (SnnjaxProps, SnnjaxCubaLifParams, SnnjaxCubaState),
        props, params, state, {"in_ex": in_ex, "in_in": in_in, "i_stim": i_stim},
    )  # fmt: skip
    p, q = _read(params, props, len(shape), _FLAGS)
    i_syn = q.alpha * state.i_syn + _x(p, in_ex, in_in, i_stim, shape)
    v, s = _spike(p, q.beta * state.v + i_syn + q.leak, surrogate, detach_reset)
    return (
        SnnjaxCubaState(jnp.broadcast_to(i_syn, shape), jnp.broadcast_to(v, shape)),
        jnp.broadcast_to(s, shape),
    )


def snnjax_li_step(
    props: SnnjaxProps,
    params: SnnjaxLiParams,
    state: SnnjaxState,
    in_ex: Neurons,
    in_in: Neurons,
    i_stim: Neurons,
    **unused,
) -> tuple[SnnjaxState, Neurons]:
    r"""One ``snnjax_li`` step: :math:`v = \beta v + x + (1-\beta) E_L` (the trainer's
    :func:`~snnjax.neurons.li_step` for ``gain = 1``, ``E_L = 0``); it never spikes (the
    output is zeros; record ``V_m``)."""
    del unused
    shape = _check_step(
        "snnjax_li", (SnnjaxProps, SnnjaxLiParams, SnnjaxState),
        props, params, state, {"in_ex": in_ex, "in_in": in_in, "i_stim": i_stim},
    )  # fmt: skip
    p, q = _read(params, props, len(shape))
    v = q.beta * state.v + (_x(p, in_ex, in_in, i_stim, shape) + q.leak)
    return SnnjaxState(jnp.broadcast_to(v, shape)), jnp.zeros(shape, v.dtype)


def _V_m(params, state):
    del params
    return state.v


_SPIKING = {"V_th": 1.0, "V_reset": 0.0, "I_e": 0.0, "soft_reset": True}


def _spec(name, Params, State, step, defaults, recordables):
    return ModelSpec(
        name=name,
        Params=Params,
        State=State,
        Props=SnnjaxProps,
        init_state=_init_state(Params, State),
        propagators=_propagators(Params),
        step=step,
        validate=_validate,
        defaults=defaults,
        initial_state={"V_m": 0.0},
        recordables=recordables,
        V_m=_V_m,
        nest=False,
    )


#: The trainer's LIF (:class:`snnjax.neurons.LIF`).
SPEC_LIF = _spec(
    "snnjax_lif", SnnjaxLifParams, SnnjaxState, snnjax_lif_step,
    {"tau_m": 10.0, "gain": 1.0, "E_L": 0.0, **_SPIKING}, {"V_m": None},
)  # fmt: skip
#: The trainer's current-based LIF (:class:`snnjax.neurons.CuBaLIF`).
SPEC_CUBA_LIF = _spec(
    "snnjax_cuba_lif", SnnjaxCubaLifParams, SnnjaxCubaState, snnjax_cuba_lif_step,
    {"tau_m": 10.0, "tau_syn": 5.0, "gain": 1.0, "E_L": 0.0, **_SPIKING},
    {"V_m": None, "I_syn": "i_syn"},
)  # fmt: skip
#: The trainer's leaky-integrator readout (:class:`snnjax.neurons.LI`).
SPEC_LI = _spec(
    "snnjax_li", SnnjaxLiParams, SnnjaxState, snnjax_li_step,
    {"tau_m": 10.0, "gain": 1.0, "E_L": 0.0, "I_e": 0.0}, {"V_m": None},
)  # fmt: skip
