r"""What the NEST models share: validation, NEST's time grid, the iaf propagators, step helpers.

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

import contextlib
from collections.abc import Collection, Iterator
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..._errors import check_broadcastable, check_range
from ..._types import Array, ArrayLike, Float
from ...neurons._base import align_params, fire_and_reset
from ...surrogate import Surrogate, get_surrogate
from .._native import block_native

#: NEST's tics per millisecond (its default ``tics_per_ms``); ``h`` must be whole tics.
TICS_PER_MS = 1000.0

Neurons = Float[Array, "*neurons"]
_F32_MAX = float(np.finfo(np.float32).max)


def _default_surrogate() -> Surrogate:
    return get_surrogate("fast_sigmoid")


# --------------------------------------------------------------------------------------------
# Validation of parameters (host side)
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


def _validate_iaf(model: str, p: dict[str, np.ndarray]) -> None:
    """NEST's checks in ``Parameters_::set`` shared by the iaf models."""
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


def _validate_none(model: str, p: dict[str, np.ndarray]) -> None:
    del model, p  # NEST checks nothing more for izhikevich and parrot_neuron


# --------------------------------------------------------------------------------------------
# NEST's time grid and the iaf propagators (host side, float64)
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Argument checks and step helpers
# --------------------------------------------------------------------------------------------


_PRECISION = [jnp.float32]  # the float type of the neuron steps traced now


@contextlib.contextmanager
def step_precision(dtype) -> Iterator[None]:
    """Trace the neuron steps in ``dtype`` inside the block (``jnp.float64`` needs
    ``jax.enable_x64``): for float64 gradient checks of the same functions. The simulator
    itself always runs float32 (NEST's numbers in float32, see the model docs)."""
    if jnp.dtype(dtype) not in (jnp.dtype(jnp.float32), jnp.dtype(jnp.float64)):
        raise ValueError(f"`dtype` must be float32 or float64; got {dtype!r}")
    _PRECISION.append(jnp.dtype(dtype).type)
    try:
        yield
    finally:
        _PRECISION.pop()


def _f32(x: ArrayLike) -> Array:
    """``x`` in the float type of the neuron steps (float32 unless :func:`step_precision`)."""
    return jnp.asarray(x, dtype=_PRECISION[-1])


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


def _iaf_init_state(params_cls, state_cls, params, n, V_m):
    """An iaf state at ``V_m`` (absolute mV) with every current zero and no refractoriness."""
    n = _check_n(n)
    _check_params_type(params_cls, params, n)
    v = _initial("V_m", V_m, n) - _f32(params.E_L)
    zeros, r = jnp.zeros((n,), jnp.float32), jnp.zeros((n,), jnp.int32)
    return state_cls(**{f: v if f == "v" else r if f == "r" else zeros for f in state_cls._fields})


def _iaf_V_m(params: NamedTuple, state: NamedTuple) -> Neurons:
    """The absolute ``V_m`` of an iaf state: ``v + E_L``, ``E_L`` aligned to trailing axes."""
    E_L = _f32(params.E_L)  # per-neuron: aligned to the trailing axes of the state
    return state.v + jnp.reshape(E_L, (1,) * (jnp.ndim(state.v) - E_L.ndim) + E_L.shape)


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


def _read(params: NamedTuple, props: NamedTuple, ndim: int, flags: Collection[str] = ()):
    """Params as float32 (the ``flags`` as bool) and props, both aligned to the state's rank."""
    params = type(params)(
        *(
            jnp.asarray(p) if k in flags else _f32(p)
            for k, p in zip(params._fields, params, strict=True)
        )
    )
    return align_params(params, ndim), align_params(props, ndim)


def ode_fields(state) -> list[str]:
    """The state fields a numerically integrated model's ODE integrates (all but ``i_0``,
    ``r``, ``step`` and the compensations ``*_lo``), in the state's order."""
    return [f for f in state._fields if f not in ("i_0", "r", "step") and f[-3:] != "_lo"]


def native_rows_block(name, state, names, params, inputs, live, *, lo, threads):
    """``live`` steps of a numerically integrated model by its native block kernel
    (:func:`~snnjax.sim._native.block_native`): the state fields ``names``, then ``i_0``
    and ``step``, as the kernel's rows; ``(state, spikes, bad)``."""
    rows = (*(getattr(state, f) for f in names), state.i_0, state.step)
    rows, r, spikes, bad = block_native(name, inputs, live, state.r, rows, params, lo=lo,
                                        threads=threads)  # fmt: skip
    fields = dict(zip(names, rows[:-2], strict=True), i_0=rows[-2], step=rows[-1], r=r)
    return type(state)(**fields), spikes, bad
