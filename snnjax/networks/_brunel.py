r"""Brunel (2000) sparse random network of excitatory and inhibitory integrate-and-fire neurons.

Built through a PyNEST-compatible module (``import nest`` or ``import snnjax.sim as nest``) the
way NEST 3.10's examples ``brunel_delta_nest.py`` (``iaf_psc_delta``) and
``brunel_alpha_nest.py`` build it; the ``iaf_psc_exp`` variant follows the alpha example with
the exponential PSC kernel (NEST's ``brunel_exp_multisynapse_nest.py`` instead uses
``C_m = 1`` pF and a PSC of ``J`` pA on 100 receptor ports, which the PyNEST subset of
:mod:`snnjax.sim` does not have).

References:
    Brunel N (2000). Dynamics of sparsely connected networks of excitatory and inhibitory
    spiking neurons. Journal of Computational Neuroscience 8, 183-208.
"""

import dataclasses
import math
from typing import Any, NamedTuple

import numpy as np

from .._errors import check_one_of, check_range
from ._psp import psc_over_psp_alpha, psc_over_psp_exp

BRUNEL_MODELS = ("iaf_psc_delta", "iaf_psc_exp", "iaf_psc_alpha")
"""Neuron models :func:`build_brunel` accepts."""

_DEFAULT_C_M = {"iaf_psc_delta": 1.0, "iaf_psc_exp": 250.0, "iaf_psc_alpha": 250.0}


def _positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`{name}` must be a positive int; got {value!r}")


@dataclasses.dataclass(frozen=True)
class BrunelParams:
    """Parameters of the Brunel (2000) network; defaults are those of NEST's examples.

    Attributes:
        order: network size: ``NE = 4 * order`` excitatory, ``NI = order`` inhibitory neurons.
        model: neuron model, one of :data:`BRUNEL_MODELS`.
        g: ratio of inhibitory to excitatory synaptic strength.
        eta: external (Poisson) rate relative to the threshold rate :math:`\\nu_\\theta`.
        epsilon: connection probability; in-degrees ``CE = int(epsilon*NE)``,
            ``CI = int(epsilon*NI)``.
        J: excitatory PSP amplitude in mV (converted to a PSC in pA for the exp/alpha models).
        delay: synaptic delay of every connection in ms.
        tau_m: membrane time constant in ms.
        V_th: threshold in mV above the resting potential ``E_L = 0``.
        V_reset: reset potential in mV: ``0.0`` as NEST's example scripts (Brunel 2000
            used 10 mV).
        t_ref: refractory period in ms.
        C_m: membrane capacitance in pF; ``None`` picks the examples' value, 1 pF for
            ``iaf_psc_delta`` (where it has no effect on the dynamics) and 250 pF otherwise.
        tau_syn: synaptic time constant in ms (exp/alpha models only).
    """

    order: int = 2500
    model: str = "iaf_psc_delta"
    g: float = 5.0
    eta: float = 2.0
    epsilon: float = 0.1
    J: float = 0.1
    delay: float = 1.5
    tau_m: float = 20.0
    V_th: float = 20.0
    V_reset: float = 0.0
    t_ref: float = 2.0
    C_m: float | None = None
    tau_syn: float = 0.5

    def __post_init__(self):
        _positive_int("order", self.order)
        check_one_of("model", self.model, BRUNEL_MODELS)
        check_range("g", self.g, low=0.0)
        for name in ("eta", "J", "delay", "tau_m", "V_th", "tau_syn"):
            check_range(name, getattr(self, name), low=0.0, low_inclusive=False)
        check_range("epsilon", self.epsilon, low=0.0, high=1.0, low_inclusive=False)
        check_range("V_reset", self.V_reset, high=self.V_th, high_inclusive=False)
        check_range("t_ref", self.t_ref, low=0.0)
        if self.C_m is not None:
            check_range("C_m", self.C_m, low=0.0, low_inclusive=False)
        if int(self.epsilon * self.order) < 1:
            raise ValueError(
                "`order` * `epsilon` must be >= 1 so that every neuron has an inhibitory input; "
                f"got order={self.order}, epsilon={self.epsilon}"
            )


class BrunelDerived(NamedTuple):
    r"""Quantities :func:`build_brunel` derives from :class:`BrunelParams`.

    Attributes:
        NE: number of excitatory neurons, ``4 * order``.
        NI: number of inhibitory neurons, ``order``.
        CE: excitatory in-degree, ``int(epsilon * NE)``.
        CI: inhibitory in-degree, ``int(epsilon * NI)``.
        J_ex: excitatory weight (mV for ``iaf_psc_delta``, pA otherwise).
        J_in: inhibitory weight, ``-g * J_ex``.
        nu_th: threshold rate :math:`\nu_\theta` in spikes/ms.
        nu_ex: external rate per input, ``eta * nu_th`` in spikes/ms.
        p_rate: rate of the single Poisson generator in Hz, ``1000 * nu_ex * CE``.
        neuron_params: the ``params`` dict of both ``nest.Create`` calls.
    """

    NE: int
    NI: int
    CE: int
    CI: int
    J_ex: float
    J_in: float
    nu_th: float
    nu_ex: float
    p_rate: float
    neuron_params: dict[str, float]


def brunel_derived(params: BrunelParams) -> BrunelDerived:
    r"""Sizes, in-degrees, weights and the external rate of the network.

    With :math:`\theta` = ``V_th``, :math:`C_E` = ``CE`` and the PSP amplitude :math:`J`:

    * ``iaf_psc_delta`` (``brunel_delta_nest.py``): the weight is the PSP jump,
      :math:`J_{ex} = J` mV, and :math:`\nu_\theta = \theta / (J C_E \tau_m)`.
    * ``iaf_psc_exp``: :math:`J_{ex} = J \cdot \mathrm{PSC}/\mathrm{PSP}` pA with the factor of
      :func:`~snnjax.networks.psc_over_psp_exp` (peak PSP :math:`J`), and the charge of one
      PSC, :math:`J_{ex}\tau_s`, fixes
      :math:`\nu_\theta = \theta C_m / (J_{ex} C_E \tau_m \tau_s)`.
    * ``iaf_psc_alpha`` (``brunel_alpha_nest.py``): the factor of
      :func:`~snnjax.networks.psc_over_psp_alpha` and, with the alpha charge
      :math:`J_{ex} e \tau_s`, :math:`\nu_\theta = \theta C_m / (J_{ex} C_E e \tau_m \tau_s)`.

    In every case :math:`J_{in} = -g J_{ex}`, :math:`\nu_{ex} = \eta \nu_\theta` and the one
    Poisson generator, connected to every neuron, fires at
    :math:`1000\,\nu_{ex} C_E` Hz (each neuron gets its own independent train).

    Args:
        params: the network parameters.

    Returns:
        A :class:`BrunelDerived`.
    """
    p = params
    NE, NI = 4 * p.order, p.order
    CE, CI = int(p.epsilon * NE), int(p.epsilon * NI)
    C_m = _DEFAULT_C_M[p.model] if p.C_m is None else p.C_m
    neuron_params = {
        "C_m": C_m,
        "tau_m": p.tau_m,
        "t_ref": p.t_ref,
        "E_L": 0.0,
        "V_reset": p.V_reset,
        "V_m": 0.0,
        "V_th": p.V_th,
    }
    if p.model == "iaf_psc_delta":
        J_ex = p.J
        nu_th = p.V_th / (J_ex * CE * p.tau_m)
    else:
        neuron_params["tau_syn_ex"] = p.tau_syn
        neuron_params["tau_syn_in"] = p.tau_syn
        if p.model == "iaf_psc_exp":
            J_ex = p.J * psc_over_psp_exp(C_m, p.tau_m, p.tau_syn)
            charge_per_pA = p.tau_syn
        else:
            J_ex = p.J * psc_over_psp_alpha(C_m, p.tau_m, p.tau_syn)
            charge_per_pA = math.e * p.tau_syn
        nu_th = p.V_th * C_m / (J_ex * CE * p.tau_m * charge_per_pA)
    nu_ex = p.eta * nu_th
    return BrunelDerived(
        NE=NE,
        NI=NI,
        CE=CE,
        CI=CI,
        J_ex=float(J_ex),
        J_in=float(-p.g * J_ex),
        nu_th=float(nu_th),
        nu_ex=float(nu_ex),
        p_rate=float(1000.0 * nu_ex * CE),
        neuron_params=neuron_params,
    )


def build_brunel(nest: Any, params: BrunelParams | None = None) -> dict[str, Any]:
    """Create and connect the Brunel network through ``nest``, recording every neuron.

    Call it right after ``nest.ResetKernel()`` (and ``SetKernelStatus``): it defines the
    synapse models ``"excitatory"`` and ``"inhibitory"`` with ``nest.CopyModel`` as NEST's
    examples do. Calls, in the examples' order: ``Create`` of E, I, one
    ``poisson_generator`` and two ``spike_recorder``\\ s; ``CopyModel`` x2; ``Connect``
    noise -> E and noise -> I (all-to-all, ``"excitatory"``); E -> recorder E and I ->
    recorder I (all-to-all, default synapse; the examples record only 50 neurons);
    E -> E+I (``fixed_indegree`` ``CE``, ``"excitatory"``) and I -> E+I (``fixed_indegree``
    ``CI``, ``"inhibitory"``). Autapses and multapses are allowed (NEST's defaults).

    Args:
        nest: ``nest`` (PyNEST 3.10) or ``snnjax.sim``.
        params: the network parameters; ``None`` for the defaults.

    Returns:
        ``{"populations": {"E": nodes, "I": nodes}, "recorders": {"E": rec, "I": rec},
        "n_device_connections": 2 * (NE + NI), "n_synapses_expected": (NE + NI) * (CE + CI)}``;
        the node collections are ``nest``'s own. ``n_device_connections`` counts the
        generator and recorder connections that ``GetKernelStatus("num_connections")``
        includes.

    Examples:
        >>> import nest  # doctest: +SKIP
        >>> nest.ResetKernel()  # doctest: +SKIP
        >>> net = build_brunel(nest, BrunelParams(order=100))  # doctest: +SKIP
        >>> nest.Simulate(300.0)  # doctest: +SKIP
        >>> net["recorders"]["E"].get("n_events")  # doctest: +SKIP
    """
    p = BrunelParams() if params is None else params
    d = brunel_derived(p)
    nodes_ex = nest.Create(p.model, d.NE, params=d.neuron_params)
    nodes_in = nest.Create(p.model, d.NI, params=d.neuron_params)
    noise = nest.Create("poisson_generator", params={"rate": d.p_rate})
    espikes = nest.Create("spike_recorder")
    ispikes = nest.Create("spike_recorder")

    nest.CopyModel("static_synapse", "excitatory", {"weight": d.J_ex, "delay": p.delay})
    nest.CopyModel("static_synapse", "inhibitory", {"weight": d.J_in, "delay": p.delay})

    nest.Connect(noise, nodes_ex, syn_spec="excitatory")
    nest.Connect(noise, nodes_in, syn_spec="excitatory")
    nest.Connect(nodes_ex, espikes)
    nest.Connect(nodes_in, ispikes)

    nodes = nodes_ex + nodes_in
    indegree = {"rule": "fixed_indegree", "indegree": d.CE}
    if isinstance(p, PlasticBrunelParams):  # E -> E plastic, E -> I static
        nest.CopyModel("stdp_synapse", "plastic", {
            "weight": d.J_ex, "delay": p.delay, "Wmax": p.w_max * d.J_ex,
            "tau_plus": p.tau_plus, "lambda": p.stdp_lambda, "alpha": p.stdp_alpha,
            "mu_plus": p.mu, "mu_minus": p.mu})  # fmt: skip
        nest.Connect(nodes_ex, nodes_ex, indegree, "plastic")
        nest.Connect(nodes_ex, nodes_in, indegree, "excitatory")
    else:
        nest.Connect(nodes_ex, nodes, indegree, "excitatory")
    nest.Connect(nodes_in, nodes, {"rule": "fixed_indegree", "indegree": d.CI}, "inhibitory")

    n = d.NE + d.NI
    net = {
        "populations": {"E": nodes_ex, "I": nodes_in},
        "recorders": {"E": espikes, "I": ispikes},
        "n_device_connections": 2 * n,
        "n_synapses_expected": n * (d.CE + d.CI),
    }
    if isinstance(p, PlasticBrunelParams):
        sample = nodes_ex[: min(d.NE, OBSERVED_TARGETS)]  # PyNEST's get is memory-hungry
        net["observe"] = lambda: np.asarray(
            nest.GetConnections(nodes_ex, sample).get("weight"), np.float64
        )
        net["snapshots"] = p.snapshots
    return net


OBSERVED_TARGETS = 500
"""The E neurons whose incoming E -> E weights :class:`PlasticBrunelParams` runs read."""


@dataclasses.dataclass(frozen=True)
class PlasticBrunelParams(BrunelParams):
    r"""The Brunel network with plastic E -> E synapses (``stdp_synapse``), after
    Morrison et al. (2007), who showed that a balanced network with STDP on its excitatory
    recurrent synapses keeps its asynchronous irregular state with a unimodal weight
    distribution. They used power-law STDP (NEST's ``stdp_pl_synapse_hom``, not in
    :mod:`snnjax.sim`); here Gütig et al.'s (2003) weight-dependent ``stdp_synapse`` with
    :math:`\mu_\pm = ` ``mu``, which also gives a unimodal, stable distribution.

    Attributes:
        w_max: ``Wmax`` in units of the initial weight ``J_ex``.
        tau_plus: the presynaptic trace's time constant (ms); the neurons' ``tau_minus``
            keeps NEST's 20 ms.
        stdp_lambda, stdp_alpha: ``lambda`` and ``alpha`` of ``stdp_synapse``.
        mu: ``mu_plus = mu_minus``.
        snapshots: how many times the E -> E weights (those onto the first
            :data:`OBSERVED_TARGETS` E neurons) are read during the run (equal parts of
            it), for the weight histogram over time.

    References:
        Morrison A, Aertsen A, Diesmann M (2007). Spike-timing-dependent plasticity in
        balanced random networks. Neural Computation 19, 1437-1467.
        Gütig R, Aharonov R, Rotter S, Sompolinsky H (2003). Learning input correlations
        through nonlinear temporally asymmetric Hebbian plasticity. J Neurosci 23, 3697.
    """

    w_max: float = 2.0
    tau_plus: float = 20.0
    stdp_lambda: float = 0.01
    stdp_alpha: float = 1.0
    mu: float = 0.4
    snapshots: int = 10

    def __post_init__(self):
        super().__post_init__()
        check_range("w_max", self.w_max, low=1.0)
        check_range("tau_plus", self.tau_plus, low=0.0, low_inclusive=False)
        for name in ("stdp_lambda", "stdp_alpha", "mu"):
            check_range(name, getattr(self, name), low=0.0)
        _positive_int("snapshots", self.snapshots)
