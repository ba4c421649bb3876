r"""Leaky integrator (LI): a non-spiking readout whose output is its membrane.

.. math:: \tau \dot v = -v + R\,I(t)

Discrete update per step: :math:`v_t = \beta\, v_{t-1} + x_t`, output :math:`v_t`.
"""

import dataclasses
from typing import NamedTuple

from .._types import Array, NeuronParam
from ._base import NeuronModel, as_param, decay_factor


class LIState(NamedTuple):
    """State of a leaky integrator: its membrane ``v``."""

    v: Array


class LIParams(NamedTuple):
    """Parameters of a leaky integrator (``beta`` broadcastable to the neuron shape)."""

    beta: Array


def li_integrate(params: LIParams, state: LIState, x: Array) -> LIState:
    r"""Decay + integrate: :math:`v_t = \beta v_{t-1} + x_t`."""
    return LIState(params.beta * state.v + x)


def li_step(params: LIParams, state: LIState, x: Array) -> tuple[LIState, Array]:
    r"""One LI step: :math:`v_t = \beta v_{t-1} + x_t`; the output is :math:`v_t`."""
    state = li_integrate(params, state, x)
    return state, state.v


@dataclasses.dataclass(frozen=True)
class LI(NeuronModel):
    """Leaky-integrator readout (never spikes; the output is the membrane).

    Examples:
        >>> model = LI()
        >>> params = model.params(tau=20.0)
    """

    Params = LIParams
    State = LIState
    spiking = False

    def params(
        self, *, beta: NeuronParam | None = None, tau: NeuronParam | None = None, dt: float = 1.0
    ) -> LIParams:
        """Validated parameters; give the decay as ``beta`` or as ``tau`` and ``dt``.

        Args:
            beta: decay per step in ``[0, 1]``.
            tau: time constant ``> 0``, in the unit of ``dt``.
            dt: step size ``> 0``.
        """
        return LIParams(as_param(decay_factor(beta, tau, dt, name="beta"), "beta"))

    def _integrate(self, params, state, x):
        return li_integrate(params, state, x)

    def _fire(self, params, pre):
        del params  # a leaky integrator never fires: its output is its membrane
        return pre, pre.v
