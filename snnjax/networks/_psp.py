r"""Peak postsynaptic potential (PSP) of a current-based synapse, as NEST's examples compute it.

Reference networks specify synaptic strengths as PSP amplitudes in mV; the current-based
``iaf_psc_exp`` and ``iaf_psc_alpha`` models take PSC amplitudes in pA. The factors here
convert one into the other for a neuron at rest (no threshold, no refractoriness):

.. math::

    \tau_m \dot V = -V + \frac{\tau_m}{C_m} I(t),
    \qquad \mathrm{PSC} = \mathrm{PSP} \cdot \frac{\mathrm{PSC}}{\mathrm{PSP}}.
"""

import math

import numpy as np

from .._errors import check_range


def _check(C_m: float, tau_m: float, tau_syn: float) -> None:
    for name, value in (("C_m", C_m), ("tau_m", tau_m), ("tau_syn", tau_syn)):
        check_range(name, value, low=0.0, low_inclusive=False)
    if math.isclose(tau_m, tau_syn):
        raise ValueError(
            f"`tau_syn` must differ from `tau_m` (the PSP formula is singular); "
            f"got tau_syn={tau_syn}, tau_m={tau_m}"
        )


def psc_over_psp_exp(C_m: float, tau_m: float, tau_syn: float) -> float:
    r"""PSC amplitude (pA) per mV of peak PSP for an exponential current (``iaf_psc_exp``).

    The current :math:`I(t) = J e^{-t/\tau_s}` gives

    .. math::

        V(t) = \frac{J}{C_m} \frac{\tau_m \tau_s}{\tau_m - \tau_s}
               \left(e^{-t/\tau_m} - e^{-t/\tau_s}\right),
        \qquad t^* = \frac{\tau_m \tau_s}{\tau_m - \tau_s} \ln\frac{\tau_m}{\tau_s},

    and the factor is :math:`J / V(t^*)`. This is ``postsynaptic_potential_to_current`` of
    NEST's ``Potjans_2014/helpers.py``, written the same way.

    Args:
        C_m: membrane capacitance in pF.
        tau_m: membrane time constant in ms.
        tau_syn: synaptic time constant in ms, ``!= tau_m``.

    Returns:
        The factor in pA/mV.

    Examples:
        >>> round(0.15 * psc_over_psp_exp(250.0, 10.0, 0.5), 1)  # PD14's 0.15 mV
        87.8
    """
    _check(C_m, tau_m, tau_syn)
    sub = 1.0 / (tau_syn - tau_m)
    pre = tau_m * tau_syn / C_m * sub
    frac = (tau_m / tau_syn) ** sub
    return float(1.0 / (pre * (frac**tau_m - frac**tau_syn)))


def psc_over_psp_alpha(C_m: float, tau_m: float, tau_syn: float) -> float:
    r"""PSC amplitude (pA) per mV of peak PSP for an alpha current (``iaf_psc_alpha``).

    The current :math:`I(t) = J \frac{e}{\tau_s} t e^{-t/\tau_s}` (peak :math:`J` at
    :math:`t=\tau_s`) gives, with :math:`a = \tau_m/\tau_s`, :math:`b = 1/\tau_s - 1/\tau_m`,
    the PSP maximum at

    .. math::

        t^* = \frac{1}{b}\left(-W_{-1}\!\left(-\frac{e^{-1/a}}{a}\right) - \frac{1}{a}\right),
        \quad
        V(t^*) = \frac{J e}{\tau_s C_m b}
                 \left(\frac{e^{-t^*/\tau_m} - e^{-t^*/\tau_s}}{b} - t^* e^{-t^*/\tau_s}\right),

    with :math:`W_{-1}` the lower branch of Lambert's W, exactly as ``ComputePSPnorm`` of
    NEST's ``brunel_alpha_nest.py``; the factor is :math:`J / V(t^*)`.

    Args:
        C_m: membrane capacitance in pF.
        tau_m: membrane time constant in ms.
        tau_syn: synaptic time constant in ms, ``!= tau_m``.

    Returns:
        The factor in pA/mV.
    """
    import scipy.special  # only the alpha variant needs it

    _check(C_m, tau_m, tau_syn)
    a = tau_m / tau_syn
    b = 1.0 / tau_syn - 1.0 / tau_m
    x = -np.exp(-1.0 / a) / a  # in (-1/e, 0): the lower branch is real
    t_max = 1.0 / b * (-scipy.special.lambertw(x, k=-1).real - 1.0 / a)
    psp = (
        np.e
        / (tau_syn * C_m * b)
        * (
            (np.exp(-t_max / tau_m) - np.exp(-t_max / tau_syn)) / b
            - t_max * np.exp(-t_max / tau_syn)
        )
    )
    return float(1.0 / psp)
