r"""What every neuron model shares: the model protocol, decay parameters and the reset.

A *model* is a small frozen dataclass holding only static configuration (reset mode,
surrogate, ...): it is hashable and serves as a static argument to ``jit`` and
``custom_vjp``. Its numbers live apart, in a ``Params`` NamedTuple of arrays (learnable,
per-neuron or scalar), and its dynamic variables in a ``State`` NamedTuple. The maths is a
pure function ``step(params, state, x) -> (state, out)``: the same function drives the
training scan, the reference of the fused kernels and the simulator.

Update order within one step, for every model: **decay → integrate → spike → reset**,
split in two halves that the time-scan backward uses separately:

* ``integrate(params, state, x) -> pre``: decay and add the input, giving the *pre-spike
  state* ``pre`` (same NamedTuple type as the state; e.g. the membrane before reset);
* ``fire(params, pre) -> (state, out)``: threshold, spike and reset.
"""

import abc
import dataclasses
from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._errors import check_broadcastable, check_one_of, check_range
from .._types import Array, NeuronParam, Step
from ..surrogate import Surrogate, get_surrogate, spike

RESETS = ("soft", "hard")


def decay_factor(
    beta: NeuronParam | None, tau: NeuronParam | None, dt: float, *, name: str = "beta"
) -> NeuronParam:
    r"""A per-step decay factor from either ``beta`` directly or ``tau`` and ``dt``.

    .. math:: \beta = e^{-\Delta t / \tau}

    (the exact solution of :math:`\tau \dot v = -v` over one step).

    Args:
        beta: decay factor in ``[0, 1]``; exclusive with ``tau``.
        tau: time constant ``> 0`` (same unit as ``dt``); exclusive with ``beta``.
        dt: step size ``> 0``.
        name: the parameter's name in error messages (``'beta'``, ``'alpha'``, ``'rho'``).

    Returns:
        ``beta``, as given or computed.
    """
    tau_name = {"beta": "tau", "alpha": "tau_syn", "rho": "tau_adapt"}.get(name, "tau")
    if (beta is None) == (tau is None):
        raise ValueError(f"give exactly one of `{name}` and `{tau_name}`")
    check_range("dt", dt, low=0.0, low_inclusive=False)
    if tau is not None:
        check_range(tau_name, tau, low=0.0, low_inclusive=False)
        return jnp.exp(-dt / jnp.asarray(tau, jnp.float32))
    check_range(name, beta, low=0.0, high=1.0)
    return beta


def as_param(value: NeuronParam, name: str) -> Array:
    """A float32 array for a parameter value; errors name the parameter."""
    check_range(name, value)  # finite numbers only
    return jnp.asarray(value, dtype=jnp.float32)


def apply_reset(
    h: Array, s: Array, threshold: Array, v_reset: Array, *, reset: str, detach: bool
) -> Array:
    r"""Reset the membrane ``h`` of the neurons that spiked (``s = 1``).

    .. math::
        \text{soft:}\quad v = h - s\,\vartheta \qquad
        \text{hard:}\quad v = (1 - s)\,h + s\,v_\text{reset}

    With ``detach=True`` the spike is passed through ``stop_gradient`` in the reset term,
    so no gradient flows through the reset term.
    """
    if detach:
        s = jax.lax.stop_gradient(s)
    if reset == "soft":
        return h - s * threshold
    return h - s * (h - v_reset)


def fire_and_reset(
    h: Array,
    threshold: Array,
    v_reset: Array,
    *,
    reset: str,
    detach_reset: bool,
    surrogate: Surrogate,
) -> tuple[Array, Array]:
    """Spike where ``h >= threshold`` (see :mod:`snnjax.surrogate`), then reset.

    Returns:
        ``(v, s)``: the membrane after reset and the spikes.
    """
    s = spike(h - threshold, surrogate)
    return apply_reset(h, s, threshold, v_reset, reset=reset, detach=detach_reset), s


def align_params(params: NamedTuple, ndim: int) -> NamedTuple:
    """Give each parameter leading unit axes up to rank ``ndim`` (trailing axes are neurons)."""
    return jax.tree.map(
        lambda p: jnp.reshape(p, (1,) * (ndim - jnp.ndim(p)) + jnp.shape(p)), params
    )


@dataclasses.dataclass(frozen=True)
class NeuronModel(abc.ABC):
    """Static configuration of a neuron model plus its pure step function.

    Subclasses define ``Params`` and ``State`` NamedTuples, :meth:`params` (validated
    construction) and :meth:`step`.
    """

    Params: ClassVar[type[NamedTuple]]
    State: ClassVar[type[NamedTuple]]
    #: Whether the output of :meth:`step` is spikes (``False`` for a readout).
    spiking: ClassVar[bool] = True

    @abc.abstractmethod
    def params(self, **kwargs: Any) -> NamedTuple:
        """Validated parameters as a ``Params`` NamedTuple of float32 arrays."""

    @abc.abstractmethod
    def _integrate(self, params: NamedTuple, state: NamedTuple, x: Step) -> NamedTuple:
        """Decay and integrate (``params`` already of the rank of ``x``): the pre-spike state."""

    @abc.abstractmethod
    def _fire(self, params: NamedTuple, pre: NamedTuple) -> tuple[NamedTuple, Array]:
        """Spike and reset the pre-spike state: ``(state, out)``."""

    def integrate(self, params: NamedTuple, state: NamedTuple, x: Step) -> NamedTuple:
        """First half of a step (decay → integrate): the pre-spike state."""
        return self._integrate(align_params(params, jnp.ndim(x)), state, x)

    def fire(self, params: NamedTuple, pre: NamedTuple) -> tuple[NamedTuple, Array]:
        """Second half of a step (spike → reset): ``(state_t, out_t)``."""
        return self._fire(align_params(params, jnp.ndim(pre[0])), pre)

    def step(self, params: NamedTuple, state: NamedTuple, x: Step) -> tuple[NamedTuple, Array]:
        """One time step: ``(params, state, x_t) -> (state_t, out_t)``.

        Parameters of lower rank than ``x_t`` (a scalar, or per-neuron over the trailing
        axes) get leading unit axes first, so broadcasting never relies on rank promotion.
        """
        params = align_params(params, jnp.ndim(x))
        return self._fire(params, self._integrate(params, state, x))

    def init_state(self, params: NamedTuple, shape: tuple[int, ...], dtype=jnp.float32):
        """The resting state (all variables zero) for a batch of neurons of ``shape``."""
        del params
        return self.State(*(jnp.zeros(shape, dtype) for _ in self.State._fields))

    def check_params(self, params: NamedTuple, neuron_shape: tuple[int, ...]) -> None:
        """Raise a ``ValueError`` unless ``params`` fit neurons of ``neuron_shape``.

        Args:
            params: a ``Params`` NamedTuple of this model.
            neuron_shape: the shape of one time step of the input, ``x.shape[1:]``.
        """
        if not isinstance(params, self.Params):
            raise ValueError(
                f"`params` must be a {self.Params.__name__} (from `{type(self).__name__}"
                f".params(...)`); got {type(params).__name__}"
            )
        for field, value in zip(params._fields, params, strict=True):
            check_broadcastable(f"params.{field}", np.shape(value), neuron_shape)


@dataclasses.dataclass(frozen=True)
class SpikingModel(NeuronModel):
    """Base of models that threshold and reset: holds the reset mode and the surrogate.

    Args:
        reset: ``'soft'`` (subtract the threshold) or ``'hard'`` (set to ``v_reset``).
        detach_reset: pass no gradient through the reset term.
        surrogate: a :class:`~snnjax.surrogate.Surrogate` or its name.
    """

    reset: str = "soft"
    detach_reset: bool = False
    surrogate: Surrogate | str = dataclasses.field(
        default_factory=lambda: get_surrogate("fast_sigmoid")
    )

    def __post_init__(self):
        check_one_of("reset", self.reset, RESETS)
        if not isinstance(self.detach_reset, bool):
            raise ValueError(f"`detach_reset` must be True or False; got {self.detach_reset!r}")
        object.__setattr__(self, "surrogate", get_surrogate(self.surrogate))

    @property
    def spike_config(self) -> dict[str, Any]:
        """The static keyword arguments of the pure ``*_step`` functions."""
        return {"reset": self.reset, "detach_reset": self.detach_reset, "surrogate": self.surrogate}
