r"""The Brette et al. (2007) benchmark networks COBA, CUBA and COBAHH (Vogels & Abbott 2005),
and COBA with AdEx neurons.

``N = 4000 * scale`` neurons, 80 % excitatory, connected at random with probability
``epsilon / scale`` (``pairwise_bernoulli``, no autapses, so the expected in-degree stays
``epsilon * 4000 = 80`` whatever ``scale``), delays of one time step; no external input:
the activity is kept up by the recurrent input and a constant drive (COBA: ``I_e``; CUBA:
``E_L`` above threshold) or started by the neurons that start above rest (COBAHH). Built
through a PyNEST-compatible module (``import nest`` or ``import snnjax.sim as nest``) as
Brian2's examples ``COBAHH.py`` / ``CUBA.py`` and the Brian2 benchmark COBA script define
them:

* ``coba``: ``iaf_cond_exp``, :data:`COBA_NEURON_PARAMS` (``g_L = 10`` nS, ``C_m = 200`` pF,
  i.e. :math:`\tau_m = 20` ms; ``I_e = 200`` pA, the benchmark's ``I = 20`` mV times
  ``g_L``), weights 6 nS (E) and -67 nS (I; NEST's sign convention for the inhibitory
  conductance), ``V_m(0)`` uniform in [-60, -50] mV.
* ``cuba``: ``iaf_psc_exp``, :data:`CUBA_NEURON_PARAMS`, weights 16.2 pA (E) and -90 pA (I)
  (see :func:`cuba_weight_pA`), ``V_m(0)`` uniform in [-60, -50] mV.
* ``cobahh``: ``hh_cond_exp_traub`` (Traub & Miles), :data:`COBAHH_NEURON_PARAMS` (area
  20000 µm², 1 µF/cm², ``g_L`` 5e-5 S/cm², ``g_Na`` 100 mS/cm², ``g_K`` 30 mS/cm²), weights
  6 nS and -67 nS; ``V_m(0) ~ N(-65, 5²)`` mV as Brian2's ``COBAHH.py``, the gating
  variables at NEST's defaults (their equilibrium at -60 mV), so the neurons set above rest
  fire at once and start the activity. Brian2 also draws the initial conductances
  (``g_ex ~ N(40, 15²)``, ``g_in ~ N(200, 120²)`` nS), which NEST's ``hh_cond_exp_traub``
  does not let a script set; they start at 0 here. A spike is NEST's: ``V_m`` above
  ``V_T + 30 = -33`` mV and falling (Brian2: ``v > -20`` mV), then ``t_ref = 3`` ms
  without spikes (Brian2's ``refractory``).
* ``coba_adex`` (an extension, not one of the study's networks): COBA with adaptive
  exponential neurons, ``aeif_cond_exp`` with COBA's parameters as :data:`COBA_NEURON_PARAMS`
  (``V_th = -50`` mV the spike initiation threshold), ``Delta_T = 2`` mV, ``V_peak = 0``
  mV and Brette & Gerstner's (2005) adaptation ``a = 4`` nS, ``b = 80.5`` pA,
  ``tau_w = 144`` ms (NEST's defaults), integrated as NEST does (adaptive RKF45, spikes
  inside the integration loop); the same weights and initial ``V_m`` as COBA. The
  adaptation lowers the rates to ~10 Hz (COBA: ~18 Hz).

References:
    Brette R, Gerstner W (2005). Adaptive exponential integrate-and-fire model as an
    effective description of neuronal activity. J Neurophysiol 94, 3637-3642.
    Brette R, Rudolph M, Carnevale T, et al. (2007). Simulation of networks of spiking
    neurons: a review of tools and strategies. J Comput Neurosci 23, 349-398.
    Vogels TP, Abbott LF (2005). Signal propagation and logic gating in networks of
    integrate-and-fire neurons. J Neurosci 25, 10786-10795.
"""

import dataclasses
from typing import Any, NamedTuple

from .._errors import check_one_of, check_range

BRETTE_MODELS = ("coba", "cuba", "cobahh", "coba_adex")
"""Networks :func:`build_brette` builds."""

BRETTE_NEURON_MODELS = {
    "coba": "iaf_cond_exp",
    "cuba": "iaf_psc_exp",
    "cobahh": "hh_cond_exp_traub",
    "coba_adex": "aeif_cond_exp",
}
"""The NEST neuron model of each network."""

COBA_NEURON_PARAMS = {
    "g_L": 10.0,
    "C_m": 200.0,
    "E_L": -60.0,
    "V_th": -50.0,
    "V_reset": -60.0,
    "t_ref": 5.0,
    "E_ex": 0.0,
    "E_in": -80.0,
    "tau_syn_ex": 5.0,
    "tau_syn_in": 10.0,
    "I_e": 200.0,
}
"""COBA: ``iaf_cond_exp`` parameters (nS, pF, mV, ms, pA)."""

COBA_ADEX_NEURON_PARAMS = {
    **COBA_NEURON_PARAMS, "Delta_T": 2.0, "V_peak": 0.0, "a": 4.0, "b": 80.5, "tau_w": 144.0,
}  # fmt: skip
"""``coba_adex``: ``aeif_cond_exp`` parameters (nS, pF, mV, ms, pA)."""

CUBA_NEURON_PARAMS = {
    "C_m": 200.0,
    "tau_m": 20.0,
    "E_L": -49.0,
    "V_th": -50.0,
    "V_reset": -60.0,
    "t_ref": 5.0,
    "tau_syn_ex": 5.0,
    "tau_syn_in": 10.0,
    "I_e": 0.0,
}
"""CUBA: ``iaf_psc_exp`` parameters (pF, ms, mV, pA); ``E_L = -49`` mV lies above threshold."""

COBAHH_NEURON_PARAMS = {
    "g_Na": 20000.0,
    "g_K": 6000.0,
    "g_L": 10.0,
    "C_m": 200.0,
    "E_Na": 50.0,
    "E_K": -90.0,
    "E_L": -60.0,
    "V_T": -63.0,
    "E_ex": 0.0,
    "E_in": -80.0,
    "tau_syn_ex": 5.0,
    "tau_syn_in": 10.0,
    "t_ref": 3.0,
}
"""COBAHH: ``hh_cond_exp_traub`` parameters (nS, pF, mV, ms) for a 20000 µm² membrane."""

# Brian2's CUBA.py: we = (60 * 0.27 / 10) mV, wi = (-20 * 4.5 / 10) mV
CUBA_W_MV = (60.0 * 0.27 / 10.0, -20.0 * 4.5 / 10.0)
"""CUBA: Brian2's voltage jumps of ``ge`` / ``gi`` in mV (E, I)."""

COND_WEIGHTS_NS = (6.0, -67.0)
"""COBA and COBAHH: peak conductances in nS (E, I; negative: the inhibitory receptor)."""


def cuba_weight_pA(w_mV: float, C_m: float = 200.0, tau_m: float = 20.0) -> float:
    r"""The ``iaf_psc_exp`` PSC amplitude (pA) equivalent to a Brian2 CUBA jump of ``w_mV``.

    Brian2's CUBA adds ``w`` (a voltage) to :math:`g`, which decays with :math:`\tau_s` and
    drives :math:`\tau_m \dot v = g - (v - E_L)`; ``iaf_psc_exp`` adds :math:`J` (pA) to
    :math:`I`, which decays with the same :math:`\tau_s` and drives
    :math:`\tau_m \dot V = \frac{\tau_m}{C_m} I - (V - E_L)`. The two ODEs are the same
    (not only the same integrated charge) when :math:`\frac{\tau_m}{C_m} J = w`:

    .. math::

        J = w \, \frac{C_m}{\tau_m} = w \, g_L,
        \qquad \text{mV} \cdot \frac{\text{pF}}{\text{ms}} = \text{pA}.

    With :math:`C_m = 200` pF and :math:`\tau_m = 20` ms (:math:`g_L = 10` nS, the value the
    ``/ 10`` in Brian2's weights stands for): :math:`J_E = 1.62 \cdot 10 = 16.2` pA
    (:math:`= 0.27` nS :math:`\times` 60 mV) and :math:`J_I = -9 \cdot 10 = -90` pA
    (:math:`= 4.5` nS :math:`\times` -20 mV). ``C_m`` only scales ``J``: the voltage
    dynamics are the same for any ``C_m``.

    Args:
        w_mV: Brian2's jump in mV.
        C_m: membrane capacitance in pF.
        tau_m: membrane time constant in ms.

    Returns:
        The PSC amplitude in pA.
    """
    return float(w_mV * C_m / tau_m)


@dataclasses.dataclass(frozen=True)
class BretteParams:
    """Parameters of the Brette et al. (2007) networks.

    Attributes:
        model: one of :data:`BRETTE_MODELS`.
        scale: network size relative to the benchmarks' 4000 neurons (3200 E, 800 I).
        epsilon: connection probability at ``scale = 1``; the one used is
            ``epsilon / scale``, so ``scale`` must be at least ``epsilon``.
        delay: synaptic delay of every connection in ms; ``None``: the resolution.
    """

    model: str = "coba"
    scale: float = 1.0
    epsilon: float = 0.02
    delay: float | None = None

    def __post_init__(self):
        check_one_of("model", self.model, BRETTE_MODELS)
        check_range("epsilon", self.epsilon, low=0.0, high=1.0, low_inclusive=False)
        check_range("scale", self.scale, low=self.epsilon)
        if self.delay is not None:
            check_range("delay", self.delay, low=0.0, low_inclusive=False)


class BretteDerived(NamedTuple):
    """Quantities :func:`build_brette` derives from :class:`BretteParams`.

    Attributes:
        NE: excitatory neurons, ``round(3200 * scale)``.
        NI: inhibitory neurons, ``round(800 * scale)``.
        p: connection probability, ``epsilon / scale``.
        neuron_model: the NEST model name.
        neuron_params: the ``params`` of both ``nest.Create`` calls.
        w_ex: excitatory weight (nS or pA).
        w_in: inhibitory weight (nS or pA, negative).
    """

    NE: int
    NI: int
    p: float
    neuron_model: str
    neuron_params: dict[str, float]
    w_ex: float
    w_in: float


def brette_derived(params: BretteParams) -> BretteDerived:
    """Sizes, connection probability, neuron parameters and weights of the network.

    Args:
        params: the network parameters.

    Returns:
        A :class:`BretteDerived`.
    """
    p = params
    if p.model == "cuba":
        neuron_params = dict(CUBA_NEURON_PARAMS)
        C_m, tau_m = neuron_params["C_m"], neuron_params["tau_m"]
        w_ex, w_in = (cuba_weight_pA(w, C_m, tau_m) for w in CUBA_W_MV)
    else:
        neuron_params = dict({"coba": COBA_NEURON_PARAMS, "cobahh": COBAHH_NEURON_PARAMS,
                              "coba_adex": COBA_ADEX_NEURON_PARAMS}[p.model])  # fmt: skip
        w_ex, w_in = COND_WEIGHTS_NS
    return BretteDerived(
        NE=round(3200 * p.scale),
        NI=round(800 * p.scale),
        p=float(min(p.epsilon / p.scale, 1.0)),
        neuron_model=BRETTE_NEURON_MODELS[p.model],
        neuron_params=neuron_params,
        w_ex=float(w_ex),
        w_in=float(w_in),
    )


def _available_models(nest: Any) -> tuple[str, ...] | None:
    """The backend's neuron models (``None``: it cannot tell, e.g. a test stub)."""
    if hasattr(nest, "MODEL_NAMES"):  # snnjax.sim
        return tuple(nest.MODEL_NAMES)
    if hasattr(nest, "node_models"):  # PyNEST 3
        return tuple(nest.node_models)
    return None


def build_brette(nest: Any, params: BretteParams | None = None) -> dict[str, Any]:
    """Create and connect a Brette et al. (2007) network through ``nest``, recording every neuron.

    Call it right after ``nest.ResetKernel()`` (and ``SetKernelStatus``). Calls: ``Create``
    of E and I (``neuron_params``), ``set`` of their initial state (random, from the kernel
    seed), ``Create`` of two ``spike_recorder``\\ s, ``Connect`` E -> recorder E and
    I -> recorder I, then E -> E+I and I -> E+I (``pairwise_bernoulli`` with ``p``,
    ``allow_autapses=False``, ``static_synapse`` with ``w_ex`` / ``w_in`` and ``delay``).

    Args:
        nest: ``nest`` (PyNEST 3.10) or ``snnjax.sim``.
        params: the network parameters; ``None`` for the defaults (COBA, 4000 neurons).

    Returns:
        ``{"populations": {"E": nodes, "I": nodes}, "recorders": {"E": rec, "I": rec},
        "n_device_connections": NE + NI, "n_synapses_expected": round(p * N * (N - 1)),
        "p": p}``; ``n_synapses_expected`` is the mean of the random synapse count.

    Raises:
        ValueError: for ``cobahh`` on a backend without ``hh_cond_exp_traub``.

    Examples:
        >>> import snnjax.sim as nest  # doctest: +SKIP
        >>> nest.ResetKernel()  # doctest: +SKIP
        >>> net = build_brette(nest, BretteParams(model="cuba", scale=0.1))  # doctest: +SKIP
        >>> nest.Simulate(200.0)  # doctest: +SKIP
    """
    p = BretteParams() if params is None else params
    d = brette_derived(p)
    models = _available_models(nest)
    if models is not None and d.neuron_model not in models:
        raise ValueError(
            f"`model` {p.model!r} needs the neuron model {d.neuron_model!r}, which this "
            "backend does not have yet; available networks: "
            + ", ".join(repr(m) for m in BRETTE_MODELS if BRETTE_NEURON_MODELS[m] in models)
        )
    delay = float(nest.resolution) if p.delay is None else p.delay

    nodes_ex = nest.Create(d.neuron_model, d.NE, params=d.neuron_params)
    nodes_in = nest.Create(d.neuron_model, d.NI, params=d.neuron_params)
    nodes = nodes_ex + nodes_in
    if p.model == "cobahh":
        nodes.set(V_m=nest.random.normal(mean=-65.0, std=5.0))
    else:
        nodes.set(V_m=nest.random.uniform(min=-60.0, max=-50.0))
    espikes = nest.Create("spike_recorder")
    ispikes = nest.Create("spike_recorder")
    nest.Connect(nodes_ex, espikes)
    nest.Connect(nodes_in, ispikes)

    conn = {"rule": "pairwise_bernoulli", "p": d.p, "allow_autapses": False}
    for pre, w in ((nodes_ex, d.w_ex), (nodes_in, d.w_in)):
        nest.Connect(pre, nodes, conn, {"synapse_model": "static_synapse", "weight": w,
                                        "delay": delay})  # fmt: skip

    n = d.NE + d.NI
    return {
        "populations": {"E": nodes_ex, "I": nodes_in},
        "recorders": {"E": espikes, "I": ispikes},
        "n_device_connections": n,
        "n_synapses_expected": round(d.p * n * (n - 1)),
        "p": d.p,
    }
