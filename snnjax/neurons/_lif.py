r"""Integrate-and-fire (IF) and leaky integrate-and-fire (LIF) neurons.

LIF in continuous time, with input current :math:`I(t)`:

.. math:: \tau \dot v = -v + R\,I(t), \qquad v \ge \vartheta \Rightarrow \text{spike, reset}

Discrete update per step :math:`\Delta t` (exact for input that arrives as a jump
:math:`x_t` at the step; decay → integrate → spike → reset):

.. math::
    h_t &= \beta\, v_{t-1} + x_t, \qquad \beta = e^{-\Delta t/\tau} \\
    s_t &= H(h_t - \vartheta) \\
    v_t &= h_t - s_t\,\vartheta \;\;\text{(soft)} \quad\text{or}\quad
           (1 - s_t)\,h_t + s_t\,v_\text{reset} \;\;\text{(hard)}

IF is the same with :math:`\beta = 1` (no leak).
"""

import dataclasses
from typing import NamedTuple

from .._types import Array, NeuronParam
from ..surrogate import Surrogate
from ._base import SpikingModel, as_param, decay_factor, fire_and_reset


class LIFState(NamedTuple):
    """State of IF and LIF neurons: the membrane potential ``v`` (after reset)."""

    v: Array


class IFParams(NamedTuple):
    """Parameters of IF neurons (arrays broadcastable to the neuron shape)."""

    threshold: Array
    v_reset: Array


class LIFParams(NamedTuple):
    """Parameters of LIF neurons (arrays broadcastable to the neuron shape)."""

    beta: Array
    threshold: Array
    v_reset: Array


def if_integrate(params: IFParams, state: LIFState, x: Array) -> LIFState:
    r"""IF decay + integrate: :math:`h_t = v_{t-1} + x_t` (no leak)."""
    del params
    return LIFState(state.v + x)


def lif_integrate(params: LIFParams, state: LIFState, x: Array) -> LIFState:
    r"""LIF decay + integrate: :math:`h_t = \beta v_{t-1} + x_t`."""
    return LIFState(params.beta * state.v + x)


def lif_fire(
    params: LIFParams | IFParams,
    pre: LIFState,
    *,
    reset: str,
    detach_reset: bool,
    surrogate: Surrogate,
) -> tuple[LIFState, Array]:
    r"""IF/LIF spike + reset of the pre-spike membrane :math:`h_t`: ``(LIFState(v_t), s_t)``."""
    v, s = fire_and_reset(
        pre.v,
        params.threshold,
        params.v_reset,
        reset=reset,
        detach_reset=detach_reset,
        surrogate=surrogate,
    )
    return LIFState(v), s


def if_step(params: IFParams, state: LIFState, x: Array, **spike_config) -> tuple[LIFState, Array]:
    """One IF step: :func:`if_integrate` then :func:`lif_fire` (``spike_config``: reset,
    detach_reset, surrogate)."""
    return lif_fire(params, if_integrate(params, state, x), **spike_config)


def lif_step(
    params: LIFParams, state: LIFState, x: Array, **spike_config
) -> tuple[LIFState, Array]:
    """One LIF step: :func:`lif_integrate` then :func:`lif_fire` (``spike_config``: reset,
    detach_reset, surrogate)."""
    return lif_fire(params, lif_integrate(params, state, x), **spike_config)


@dataclasses.dataclass(frozen=True)
class IF(SpikingModel):
    r"""Integrate-and-fire neuron without leak: :math:`h_t = v_{t-1} + x_t`.

    Args:
        reset: ``'soft'`` (subtract threshold) or ``'hard'`` (to ``v_reset``).
        detach_reset: stop the gradient through the reset term.
        surrogate: surrogate derivative for the spike.

    Examples:
        >>> model = IF(reset="hard")
        >>> params = model.params(threshold=1.0)
    """

    Params = IFParams
    State = LIFState

    def params(self, *, threshold: NeuronParam = 1.0, v_reset: NeuronParam = 0.0) -> IFParams:
        r"""Validated parameters.

        Args:
            threshold: firing threshold :math:`\vartheta`.
            v_reset: reset potential (hard reset only).
        """
        return IFParams(as_param(threshold, "threshold"), as_param(v_reset, "v_reset"))

    def _integrate(self, params, state, x):
        return if_integrate(params, state, x)

    def _fire(self, params, pre):
        return lif_fire(params, pre, **self.spike_config)


@dataclasses.dataclass(frozen=True)
class LIF(SpikingModel):
    r"""Leaky integrate-and-fire neuron (equations in the module docstring).

    Args:
        reset: ``'soft'`` (subtract threshold) or ``'hard'`` (to ``v_reset``).
        detach_reset: stop the gradient through the reset term.
        surrogate: surrogate derivative for the spike.

    Examples:
        >>> model = LIF(reset="soft", surrogate="arctan")
        >>> params = model.params(tau=10.0, dt=1.0, threshold=1.0)
    """

    Params = LIFParams
    State = LIFState

    def params(
        self,
        *,
        beta: NeuronParam | None = None,
        tau: NeuronParam | None = None,
        dt: float = 1.0,
        threshold: NeuronParam = 1.0,
        v_reset: NeuronParam = 0.0,
    ) -> LIFParams:
        r"""Validated parameters; give the decay as ``beta`` or as ``tau`` and ``dt``.

        Args:
            beta: membrane decay per step in ``[0, 1]``.
            tau: membrane time constant ``> 0``, in the unit of ``dt``.
            dt: step size ``> 0``.
            threshold: firing threshold :math:`\vartheta`.
            v_reset: reset potential (hard reset only).
        """
        beta = decay_factor(beta, tau, dt, name="beta")
        return LIFParams(
            as_param(beta, "beta"), as_param(threshold, "threshold"), as_param(v_reset, "v_reset")
        )

    def _integrate(self, params, state, x):
        return lif_integrate(params, state, x)

    def _fire(self, params, pre):
        return lif_fire(params, pre, **self.spike_config)
