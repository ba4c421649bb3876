r"""Current-based LIF (CuBa-LIF): an exponentially decaying synaptic current feeds the membrane.

Continuous time:

.. math::
    \tau_\text{syn} \dot i = -i + \tau_\text{syn} \textstyle\sum_k w_k \delta(t - t_k), \qquad
    \tau_\text{mem} \dot v = -v + R\, i

Discrete update per step (decay → integrate → spike → reset), as snnTorch's ``Synaptic``:

.. math::
    i_t &= \alpha\, i_{t-1} + x_t, \qquad \alpha = e^{-\Delta t/\tau_\text{syn}} \\
    h_t &= \beta\, v_{t-1} + i_t, \qquad \beta = e^{-\Delta t/\tau_\text{mem}} \\
    s_t &= H(h_t - \vartheta), \qquad v_t = \text{reset}(h_t, s_t)
"""

import dataclasses
from typing import NamedTuple

from .._types import Array, NeuronParam
from ..surrogate import Surrogate
from ._base import SpikingModel, as_param, decay_factor, fire_and_reset


class CuBaLIFState(NamedTuple):
    """State of CuBa-LIF neurons: synaptic current ``i_syn`` and membrane ``v``."""

    i_syn: Array
    v: Array


class CuBaLIFParams(NamedTuple):
    """Parameters of CuBa-LIF neurons (arrays broadcastable to the neuron shape)."""

    alpha: Array
    beta: Array
    threshold: Array
    v_reset: Array


def cuba_lif_integrate(params: CuBaLIFParams, state: CuBaLIFState, x: Array) -> CuBaLIFState:
    r"""Decay + integrate: :math:`i_t = \alpha i_{t-1} + x_t`, :math:`h_t = \beta v_{t-1} + i_t`."""
    i_syn = params.alpha * state.i_syn + x
    return CuBaLIFState(i_syn, params.beta * state.v + i_syn)


def cuba_lif_fire(
    params: CuBaLIFParams,
    pre: CuBaLIFState,
    *,
    reset: str,
    detach_reset: bool,
    surrogate: Surrogate,
) -> tuple[CuBaLIFState, Array]:
    """Spike + reset of the pre-spike membrane (the current is not reset)."""
    v, s = fire_and_reset(
        pre.v,
        params.threshold,
        params.v_reset,
        reset=reset,
        detach_reset=detach_reset,
        surrogate=surrogate,
    )
    return CuBaLIFState(pre.i_syn, v), s


def cuba_lif_step(
    params: CuBaLIFParams, state: CuBaLIFState, x: Array, **spike_config
) -> tuple[CuBaLIFState, Array]:
    """One CuBa-LIF step: :func:`cuba_lif_integrate` then :func:`cuba_lif_fire`."""
    return cuba_lif_fire(params, cuba_lif_integrate(params, state, x), **spike_config)


@dataclasses.dataclass(frozen=True)
class CuBaLIF(SpikingModel):
    r"""Current-based LIF neuron (equations in the module docstring).

    Args:
        reset: ``'soft'`` (subtract threshold) or ``'hard'`` (to ``v_reset``).
        detach_reset: stop the gradient through the reset term.
        surrogate: surrogate derivative for the spike.

    Examples:
        >>> model = CuBaLIF()
        >>> params = model.params(tau_syn=5.0, tau=10.0, dt=1.0)
    """

    Params = CuBaLIFParams
    State = CuBaLIFState

    def params(
        self,
        *,
        alpha: NeuronParam | None = None,
        tau_syn: NeuronParam | None = None,
        beta: NeuronParam | None = None,
        tau: NeuronParam | None = None,
        dt: float = 1.0,
        threshold: NeuronParam = 1.0,
        v_reset: NeuronParam = 0.0,
    ) -> CuBaLIFParams:
        r"""Validated parameters; each decay as a factor or as a time constant and ``dt``.

        Args:
            alpha: synaptic decay per step in ``[0, 1]`` (or give ``tau_syn``).
            tau_syn: synaptic time constant ``> 0``.
            beta: membrane decay per step in ``[0, 1]`` (or give ``tau``).
            tau: membrane time constant ``> 0``.
            dt: step size ``> 0``.
            threshold: firing threshold :math:`\vartheta`.
            v_reset: reset potential (hard reset only).
        """
        alpha = decay_factor(alpha, tau_syn, dt, name="alpha")
        beta = decay_factor(beta, tau, dt, name="beta")
        return CuBaLIFParams(
            as_param(alpha, "alpha"),
            as_param(beta, "beta"),
            as_param(threshold, "threshold"),
            as_param(v_reset, "v_reset"),
        )

    def _integrate(self, params, state, x):
        return cuba_lif_integrate(params, state, x)

    def _fire(self, params, pre):
        return cuba_lif_fire(params, pre, **self.spike_config)
