r"""Adaptive LIF (ALIF, the LSNN neuron of Bellec et al. 2018): a spike-triggered threshold.

Continuous time: each spike raises the threshold by :math:`b`, which relaxes back with
:math:`\tau_a`:

.. math::
    \tau_a \dot a = -a + \tau_a \textstyle\sum_k \delta(t - t_k), \qquad
    \vartheta(t) = \vartheta_0 + b\, a(t)

Discrete update per step (decay → integrate → spike → reset):

.. math::
    a'_t &= \rho\, a_{t-1}, \qquad \rho = e^{-\Delta t/\tau_a} \\
    h_t &= \beta\, v_{t-1} + x_t \\
    \vartheta_t &= \vartheta_0 + b\, a'_t, \qquad s_t = H(h_t - \vartheta_t) \\
    v_t &= \text{reset}(h_t, s_t; \vartheta_t), \qquad a_t = a'_t + s_t

(the soft reset subtracts the *adapted* threshold :math:`\vartheta_t`).
"""

import dataclasses
from typing import NamedTuple

from .._errors import check_range
from .._types import Array, NeuronParam
from ..surrogate import Surrogate
from ._base import SpikingModel, as_param, decay_factor, fire_and_reset


class ALIFState(NamedTuple):
    """State of ALIF neurons: membrane ``v`` and threshold adaptation ``a``."""

    v: Array
    a: Array


class ALIFParams(NamedTuple):
    """Parameters of ALIF neurons (arrays broadcastable to the neuron shape)."""

    beta: Array
    rho: Array
    b: Array
    threshold: Array
    v_reset: Array


def alif_integrate(params: ALIFParams, state: ALIFState, x: Array) -> ALIFState:
    r"""Decay + integrate: :math:`h_t = \beta v_{t-1} + x_t`, :math:`a'_t = \rho a_{t-1}`."""
    return ALIFState(params.beta * state.v + x, params.rho * state.a)


def alif_fire(
    params: ALIFParams,
    pre: ALIFState,
    *,
    reset: str,
    detach_reset: bool,
    surrogate: Surrogate,
) -> tuple[ALIFState, Array]:
    r"""Spike at :math:`h_t \ge \vartheta_0 + b a'_t`, reset, then :math:`a_t = a'_t + s_t`."""
    v, s = fire_and_reset(
        pre.v,
        params.threshold + params.b * pre.a,
        params.v_reset,
        reset=reset,
        detach_reset=detach_reset,
        surrogate=surrogate,
    )
    return ALIFState(v, pre.a + s), s


def alif_step(
    params: ALIFParams, state: ALIFState, x: Array, **spike_config
) -> tuple[ALIFState, Array]:
    """One ALIF step: :func:`alif_integrate` then :func:`alif_fire`."""
    return alif_fire(params, alif_integrate(params, state, x), **spike_config)


@dataclasses.dataclass(frozen=True)
class ALIF(SpikingModel):
    r"""Adaptive-threshold LIF neuron (equations in the module docstring).

    Args:
        reset: ``'soft'`` (subtract the adapted threshold) or ``'hard'`` (to ``v_reset``).
        detach_reset: stop the gradient through the reset term (not the adaptation).
        surrogate: surrogate derivative for the spike.

    Examples:
        >>> model = ALIF()
        >>> params = model.params(tau=20.0, tau_adapt=200.0, b=0.07)
    """

    Params = ALIFParams
    State = ALIFState

    def params(
        self,
        *,
        beta: NeuronParam | None = None,
        tau: NeuronParam | None = None,
        rho: NeuronParam | None = None,
        tau_adapt: NeuronParam | None = None,
        b: NeuronParam = 0.1,
        dt: float = 1.0,
        threshold: NeuronParam = 1.0,
        v_reset: NeuronParam = 0.0,
    ) -> ALIFParams:
        r"""Validated parameters; each decay as a factor or as a time constant and ``dt``.

        Args:
            beta: membrane decay per step in ``[0, 1]`` (or give ``tau``).
            tau: membrane time constant ``> 0``.
            rho: adaptation decay per step in ``[0, 1]`` (or give ``tau_adapt``).
            tau_adapt: adaptation time constant ``> 0``.
            b: threshold increment per spike, ``>= 0``.
            dt: step size ``> 0``.
            threshold: baseline threshold :math:`\vartheta_0`.
            v_reset: reset potential (hard reset only).
        """
        beta = decay_factor(beta, tau, dt, name="beta")
        rho = decay_factor(rho, tau_adapt, dt, name="rho")
        check_range("b", b, low=0.0)
        return ALIFParams(
            as_param(beta, "beta"),
            as_param(rho, "rho"),
            as_param(b, "b"),
            as_param(threshold, "threshold"),
            as_param(v_reset, "v_reset"),
        )

    def _integrate(self, params, state, x):
        return alif_integrate(params, state, x)

    def _fire(self, params, pre):
        return alif_fire(params, pre, **self.spike_config)
