r"""Potjans & Diesmann (2014) cortical microcircuit, as NEST 3.10's PyNEST example builds it.

Eight populations of ``iaf_psc_exp`` neurons (excitatory and inhibitory in layers 2/3, 4, 5
and 6) under 1 mm² of cortex, connected with ``fixed_total_number`` (multapses and autapses
allowed) from the connection probabilities of the model, with normally distributed weights
and delays, driven by Poisson background input. Tables, derived quantities and the order of
the ``nest`` calls follow ``pynest/examples/Potjans_2014/{network_params,sim_params,
network,helpers}.py`` of NEST 3.x; the optional thalamic and DC stimuli of
``stimulus_params.py`` are off there by default and not built here.

References:
    Potjans TC, Diesmann M (2014). The cell-type specific cortical microcircuit: relating
    structure and activity in a full-scale spiking network model. Cerebral Cortex 24(3),
    785-806.
"""

import dataclasses
from typing import Any, NamedTuple

import numpy as np

from .._errors import check_one_of, check_range
from ._psp import psc_over_psp_exp


def _frozen(values, dtype) -> np.ndarray:
    arr = np.array(values, dtype=dtype)
    arr.setflags(write=False)
    return arr


PD14_POPULATIONS = ("L23E", "L23I", "L4E", "L4I", "L5E", "L5I", "L6E", "L6I")
"""Population names, in the order of every table below."""

PD14_FULL_NUM_NEURONS = _frozen([20683, 5834, 21915, 5479, 4850, 1065, 14395, 2948], np.int64)
"""Neurons per population at full scale (``scale = 1``)."""

PD14_CONN_PROBS = _frozen(
    [
        [0.1009, 0.1689, 0.0437, 0.0818, 0.0323, 0.0, 0.0076, 0.0],
        [0.1346, 0.1371, 0.0316, 0.0515, 0.0755, 0.0, 0.0042, 0.0],
        [0.0077, 0.0059, 0.0497, 0.135, 0.0067, 0.0003, 0.0453, 0.0],
        [0.0691, 0.0029, 0.0794, 0.1597, 0.0033, 0.0, 0.1057, 0.0],
        [0.1004, 0.0622, 0.0505, 0.0057, 0.0831, 0.3726, 0.0204, 0.0],
        [0.0548, 0.0269, 0.0257, 0.0022, 0.06, 0.3158, 0.0086, 0.0],
        [0.0156, 0.0066, 0.0211, 0.0166, 0.0572, 0.0197, 0.0396, 0.2252],
        [0.0364, 0.001, 0.0034, 0.0005, 0.0277, 0.008, 0.0658, 0.1443],
    ],
    np.float64,
)
"""Connection probabilities ``[target, source]`` between the populations."""

PD14_K_EXT = _frozen([1600, 1500, 2100, 1900, 2000, 1900, 2900, 2100], np.int64)
"""External (background Poisson) in-degree of each population at ``k_scale = 1``."""

PD14_RATES_HZ = {
    "L23E": 0.903,
    "L23I": 2.965,
    "L4E": 4.414,
    "L4I": 5.876,
    "L5E": 7.569,
    "L5I": 8.633,
    "L6E": 1.105,
    "L6I": 7.829,
}
"""Mean rates (spikes/s) of the full-scale network, NEST's ``full_mean_rates``: the reference
for comparisons and the input of the DC compensation at ``k_scale < 1``."""

PD14_V0_OPTIMIZED_MEAN = _frozen(
    [-68.28, -63.16, -63.33, -63.45, -63.11, -61.66, -66.72, -61.43], float
)
"""Mean initial membrane potential (mV) per population for ``V0_type="optimized"``."""

PD14_V0_OPTIMIZED_STD = _frozen([5.36, 4.57, 4.74, 4.94, 4.94, 4.55, 5.46, 4.48], float)
"""Standard deviation of the initial membrane potential (mV) for ``V0_type="optimized"``."""

PD14_V0_ORIGINAL = (-58.0, 10.0)
"""Mean and standard deviation (mV) of the initial membrane potential of every neuron for
``V0_type="original"``."""

PD14_NEURON_PARAMS = {
    "E_L": -65.0,
    "V_th": -50.0,
    "V_reset": -65.0,
    "C_m": 250.0,
    "tau_m": 10.0,
    "tau_syn": 0.5,
    "t_ref": 2.0,
}
"""``iaf_psc_exp`` parameters (mV, pF, ms); ``tau_syn`` sets ``tau_syn_ex`` and ``tau_syn_in``."""

V0_TYPES = ("optimized", "original")


def _exc_inh_matrix(val_exc: float, val_inh: float, num_pops: int) -> np.ndarray:
    """``[target, source]`` matrix with ``val_exc`` in even (E) and ``val_inh`` in odd columns."""
    matrix = np.zeros((num_pops, num_pops))
    matrix[:, 0:num_pops:2] = val_exc
    matrix[:, 1:num_pops:2] = val_inh
    return matrix


def num_synapses_from_conn_probs(
    conn_probs: np.ndarray, popsize1: np.ndarray, popsize2: np.ndarray
) -> np.ndarray:
    r"""Total number of synapses from connection probabilities, as NEST's ``helpers.py``.

    With :math:`K` synapses drawn independently between :math:`N_1 N_2` pairs (multapses
    allowed), a given pair stays unconnected with probability
    :math:`(1 - 1/(N_1 N_2))^K`; equating :math:`1 - p` to it gives

    .. math::

        K = \frac{\ln(1 - p)}{\ln\left((N_1 N_2 - 1) / (N_1 N_2)\right)}.

    Args:
        conn_probs: probabilities, shape ``[len(popsize1), len(popsize2)]``.
        popsize1: sizes of the first (target) populations.
        popsize2: sizes of the second (source) populations.

    Returns:
        The (real-valued) numbers of synapses, same shape as ``conn_probs``.
    """
    prod = np.outer(popsize1, popsize2).astype(np.float64)
    return np.log(1.0 - np.asarray(conn_probs)) / np.log((prod - 1.0) / prod)


def dc_input_compensating_poisson(
    bg_rate: float, K_ext: np.ndarray, tau_syn: float, PSC_ext: float
) -> np.ndarray:
    r"""DC (pA) equal to the mean of the Poisson input, :math:`\nu_{bg} K_{ext} J_{ext} \tau_s`.

    Args:
        bg_rate: background rate per input in spikes/s.
        K_ext: external in-degrees.
        tau_syn: synaptic time constant in ms.
        PSC_ext: external weight in pA.

    Returns:
        ``bg_rate * K_ext * PSC_ext * tau_syn * 0.001`` per population.
    """
    return bg_rate * np.asarray(K_ext) * PSC_ext * tau_syn * 0.001


def adjust_weights_and_input_to_synapse_scaling(
    full_num_neurons: np.ndarray,
    full_num_synapses: np.ndarray,
    k_scale: float,
    mean_PSC_matrix: np.ndarray,
    PSC_ext: float,
    tau_syn: float,
    full_mean_rates: np.ndarray,
    DC_amp: np.ndarray,
    poisson_input: bool,
    bg_rate: float,
    K_ext: np.ndarray,
) -> tuple[np.ndarray, float, np.ndarray]:
    r"""Weights and DC that keep the mean and variance of the input when in-degrees shrink.

    In-degrees scaled by :math:`k` (``k_scale``) with weights :math:`w/\sqrt{k}` keep the
    input variance; the mean then falls short by :math:`(1-\sqrt{k})` times the full-scale
    mean input, which a DC makes up (NEST's ``helpers.py``):

    .. math::

        I_{DC,i} = I_{DC,i}^{0} + 10^{-3}\,\tau_s (1 - \sqrt{k})
            \Big(\sum_j w_{ij} \frac{K_{ij}}{N_i} \nu_j
                 + [\text{poisson}]\; w_{ext} K_{ext,i} \nu_{bg}\Big),

    with :math:`K_{ij}` the full-scale synapse numbers, :math:`N_i` the full population
    sizes and :math:`\nu_j` the full-scale rates (spikes/s).

    Args:
        full_num_neurons: full-scale population sizes.
        full_num_synapses: full-scale synapse numbers ``[target, source]``.
        k_scale: in-degree scaling factor.
        mean_PSC_matrix: mean weights in pA, ``[target, source]``.
        PSC_ext: external weight in pA.
        tau_syn: synaptic time constant in ms.
        full_mean_rates: full-scale rates in spikes/s.
        DC_amp: DC before the adjustment in pA.
        poisson_input: whether the external input is Poisson (else it is already in ``DC_amp``).
        bg_rate: background rate per input in spikes/s.
        K_ext: full-scale external in-degrees.

    Returns:
        ``(PSC_matrix_new, PSC_ext_new, DC_amp_new)``.
    """
    root = np.sqrt(k_scale)
    PSC_matrix_new = mean_PSC_matrix / root
    PSC_ext_new = PSC_ext / root
    indegree_matrix = full_num_synapses / np.asarray(full_num_neurons)[:, np.newaxis]
    input_rec = np.sum(mean_PSC_matrix * indegree_matrix * np.asarray(full_mean_rates), axis=1)
    DC_amp_new = DC_amp + 0.001 * tau_syn * (1.0 - root) * input_rec
    if poisson_input:
        input_ext = PSC_ext * np.asarray(K_ext) * bg_rate
        DC_amp_new = DC_amp_new + 0.001 * tau_syn * (1.0 - root) * input_ext
    return PSC_matrix_new, PSC_ext_new, DC_amp_new


@dataclasses.dataclass(frozen=True)
class MicrocircuitParams:
    """Parameters of the microcircuit; defaults are NEST's ``network_params.py`` at full scale.

    Attributes:
        scale: neuron-number scaling (NEST's ``N_scaling``), in ``(0, 1]``.
        k_scale: in-degree scaling (``K_scaling``), in ``(0, 1]``; below 1 the weights grow
            by ``1/sqrt(k_scale)`` and a DC keeps the mean input (see
            :func:`adjust_weights_and_input_to_synapse_scaling`).
        poisson_input: background as Poisson generators (``True``) or as the equivalent DC.
        V0_type: initial membrane potentials, ``"optimized"`` (per population) or
            ``"original"`` (``N(-58, 10)`` mV for all).
        bg_rate: background rate per external input in spikes/s.
        PSP_exc_mean: mean excitatory PSP in mV (doubled for L4E -> L23E).
        weight_rel_std: relative standard deviation of the weights.
        g: relative inhibitory strength (negative).
        delay_exc_mean: mean delay of excitatory connections in ms.
        delay_inh_mean: mean delay of inhibitory connections in ms.
        delay_rel_std: relative standard deviation of the delays.
        delay_poisson: delay of the background input in ms.
    """

    scale: float = 1.0
    k_scale: float = 1.0
    poisson_input: bool = True
    V0_type: str = "optimized"
    bg_rate: float = 8.0
    PSP_exc_mean: float = 0.15
    weight_rel_std: float = 0.1
    g: float = -4.0
    delay_exc_mean: float = 1.5
    delay_inh_mean: float = 0.75
    delay_rel_std: float = 0.5
    delay_poisson: float = 1.5

    def __post_init__(self):
        check_range("scale", self.scale, low=0.0, high=1.0, low_inclusive=False)
        check_range("k_scale", self.k_scale, low=0.0, high=1.0, low_inclusive=False)
        if not isinstance(self.poisson_input, bool):
            raise ValueError(f"`poisson_input` must be True or False; got {self.poisson_input!r}")
        check_one_of("V0_type", self.V0_type, V0_TYPES)
        for name in ("PSP_exc_mean", "delay_exc_mean", "delay_inh_mean", "delay_poisson"):
            check_range(name, getattr(self, name), low=0.0, low_inclusive=False)
        for name in ("bg_rate", "weight_rel_std", "delay_rel_std"):
            check_range(name, getattr(self, name), low=0.0)
        check_range("g", self.g, high=0.0, high_inclusive=False)
        sizes = np.round(PD14_FULL_NUM_NEURONS * self.scale).astype(int)
        if sizes.min() < 1:
            empty = [name for name, n in zip(PD14_POPULATIONS, sizes, strict=True) if n < 1]
            raise ValueError(
                f"`scale` = {self.scale} leaves populations {empty} without neurons; "
                f"use scale >= {0.5 / PD14_FULL_NUM_NEURONS.min():.2g}"
            )


class MicrocircuitDerived(NamedTuple):
    """Quantities :func:`build_microcircuit` derives, as NEST's ``Network.__derive_parameters``.

    Attributes:
        num_neurons: neurons per population, ``round(N_full * scale)``.
        full_num_synapses: real-valued full-scale synapse numbers ``[target, source]``.
        num_synapses: ``round(full_num_synapses * scale * k_scale)``, the ``N`` of each
            ``fixed_total_number`` projection.
        ext_indegrees: ``round(K_ext * k_scale)``.
        psc_over_psp: PSC (pA) per mV of PSP.
        weight_matrix_mean: mean weights in pA ``[target, source]`` (after k-scaling).
        weight_ext: weight of the background input in pA (after k-scaling).
        dc_amp: DC (``I_e``) per population in pA.
        delay_matrix_mean: mean delays in ms ``[target, source]``.
    """

    num_neurons: np.ndarray
    full_num_synapses: np.ndarray
    num_synapses: np.ndarray
    ext_indegrees: np.ndarray
    psc_over_psp: float
    weight_matrix_mean: np.ndarray
    weight_ext: float
    dc_amp: np.ndarray
    delay_matrix_mean: np.ndarray


def microcircuit_derived(params: MicrocircuitParams) -> MicrocircuitDerived:
    """Population sizes, synapse numbers, weights and DC of the (scaled) microcircuit.

    Args:
        params: the network parameters.

    Returns:
        A :class:`MicrocircuitDerived`.
    """
    p = params
    npop = len(PD14_POPULATIONS)
    tau_syn = PD14_NEURON_PARAMS["tau_syn"]
    full_num_synapses = num_synapses_from_conn_probs(
        PD14_CONN_PROBS, PD14_FULL_NUM_NEURONS, PD14_FULL_NUM_NEURONS
    )
    num_neurons = np.round(PD14_FULL_NUM_NEURONS * p.scale).astype(int)
    num_synapses = np.round(full_num_synapses * p.scale * p.k_scale).astype(int)
    ext_indegrees = np.round(PD14_K_EXT * p.k_scale).astype(int)

    psc_over_psp = psc_over_psp_exp(PD14_NEURON_PARAMS["C_m"], PD14_NEURON_PARAMS["tau_m"], tau_syn)
    psp_matrix = _exc_inh_matrix(p.PSP_exc_mean, p.PSP_exc_mean * p.g, npop)
    psp_matrix[0, 2] = 2.0 * p.PSP_exc_mean  # L4E -> L23E
    weight_matrix = psp_matrix * psc_over_psp
    weight_ext = p.PSP_exc_mean * psc_over_psp

    if p.poisson_input:
        dc_amp = np.zeros(npop)
    else:
        dc_amp = dc_input_compensating_poisson(p.bg_rate, PD14_K_EXT, tau_syn, weight_ext)
    if p.k_scale != 1:
        weight_matrix, weight_ext, dc_amp = adjust_weights_and_input_to_synapse_scaling(
            PD14_FULL_NUM_NEURONS,
            full_num_synapses,
            p.k_scale,
            weight_matrix,
            weight_ext,
            tau_syn,
            np.array([PD14_RATES_HZ[name] for name in PD14_POPULATIONS]),
            dc_amp,
            p.poisson_input,
            p.bg_rate,
            PD14_K_EXT,
        )
    return MicrocircuitDerived(
        num_neurons=num_neurons,
        full_num_synapses=full_num_synapses,
        num_synapses=num_synapses,
        ext_indegrees=ext_indegrees,
        psc_over_psp=psc_over_psp,
        weight_matrix_mean=weight_matrix,
        weight_ext=float(weight_ext),
        dc_amp=np.asarray(dc_amp, dtype=np.float64),
        delay_matrix_mean=_exc_inh_matrix(p.delay_exc_mean, p.delay_inh_mean, npop),
    )


def build_microcircuit(nest: Any, params: MicrocircuitParams | None = None) -> dict[str, Any]:
    r"""Create and connect the microcircuit through ``nest``, recording every neuron.

    Calls, in the order of NEST's ``network.py``: for each population ``Create`` of
    ``iaf_psc_exp``, ``set`` of its parameters and DC ``I_e``, ``set`` of
    ``V_m = nest.random.normal(...)``; ``Create`` of 8 ``spike_recorder``\ s and (with
    ``poisson_input``) 8 ``poisson_generator``\ s at ``bg_rate * ext_indegrees``; then a
    ``fixed_total_number`` ``Connect`` for each of the 64 ``(target, source)`` pairs (also
    where ``N = 0``, as NEST does) with

    * weight ``nest.math.redraw(nest.random.normal(mean=w, std=|w| * weight_rel_std),
      min=0, max=inf)`` for ``w > 0`` and ``min=-inf, max=0`` for ``w < 0``;
    * delay ``nest.math.redraw(nest.random.normal(mean=d, std=d * delay_rel_std),
      min=nest.resolution - 0.5 * nest.resolution, max=inf)``;

    ``Connect`` of each population to its recorder; and of each generator to its population
    (``all_to_all``, weight ``weight_ext``, delay ``delay_poisson``). The delays read
    ``nest.resolution``, so set the kernel first.

    Args:
        nest: ``nest`` (PyNEST 3.10) or ``snnjax.sim``.
        params: the network parameters; ``None`` for the full-scale defaults.

    Returns:
        ``{"populations": {name: nodes}, "recorders": {name: rec}, "n_device_connections":
        int, "n_synapses_expected": int}`` with names :data:`PD14_POPULATIONS`;
        ``n_device_connections`` (neurons -> recorders plus generators -> neurons) is what
        ``GetKernelStatus("num_connections")`` counts beyond the recurrent synapses.

    Examples:
        >>> import nest  # doctest: +SKIP
        >>> nest.ResetKernel()  # doctest: +SKIP
        >>> params = MicrocircuitParams(scale=0.1, k_scale=0.1)
        >>> net = build_microcircuit(nest, params)  # doctest: +SKIP
        >>> nest.Simulate(1500.0)  # doctest: +SKIP
    """
    p = MicrocircuitParams() if params is None else params
    d = microcircuit_derived(p)
    npar = PD14_NEURON_PARAMS

    pops = []
    for i in range(len(PD14_POPULATIONS)):
        population = nest.Create("iaf_psc_exp", int(d.num_neurons[i]))
        population.set(
            C_m=npar["C_m"],
            tau_m=npar["tau_m"],
            tau_syn_ex=npar["tau_syn"],
            tau_syn_in=npar["tau_syn"],
            E_L=npar["E_L"],
            V_th=npar["V_th"],
            V_reset=npar["V_reset"],
            t_ref=npar["t_ref"],
            I_e=float(d.dc_amp[i]),
        )
        if p.V0_type == "optimized":
            mean, std = float(PD14_V0_OPTIMIZED_MEAN[i]), float(PD14_V0_OPTIMIZED_STD[i])
        else:
            mean, std = PD14_V0_ORIGINAL
        population.set(V_m=nest.random.normal(mean=mean, std=std))
        pops.append(population)

    recorders = nest.Create("spike_recorder", n=len(pops))
    if p.poisson_input:
        rates = [float(p.bg_rate * k) for k in d.ext_indegrees]
        poisson = nest.Create("poisson_generator", n=len(pops), params={"rate": rates})

    d_min = nest.resolution - 0.5 * nest.resolution
    for i, target in enumerate(pops):
        for j, source in enumerate(pops):
            w = float(d.weight_matrix_mean[i, j])
            w_min, w_max = (-np.inf, 0.0) if w < 0 else (0.0, np.inf)
            delay = float(d.delay_matrix_mean[i, j])
            syn_spec = {
                "synapse_model": "static_synapse",
                "weight": nest.math.redraw(
                    nest.random.normal(mean=w, std=abs(w * p.weight_rel_std)),
                    min=w_min,
                    max=w_max,
                ),
                "delay": nest.math.redraw(
                    nest.random.normal(mean=delay, std=delay * p.delay_rel_std),
                    min=d_min,
                    max=np.inf,
                ),
            }
            conn_spec = {"rule": "fixed_total_number", "N": int(d.num_synapses[i, j])}
            nest.Connect(source, target, conn_spec=conn_spec, syn_spec=syn_spec)

    for i, population in enumerate(pops):
        nest.Connect(population, recorders[i])
    if p.poisson_input:
        for i, population in enumerate(pops):
            nest.Connect(
                poisson[i],
                population,
                conn_spec={"rule": "all_to_all"},
                syn_spec={
                    "synapse_model": "static_synapse",
                    "weight": d.weight_ext,
                    "delay": p.delay_poisson,
                },
            )

    n = int(d.num_neurons.sum())
    return {
        "populations": dict(zip(PD14_POPULATIONS, pops, strict=True)),
        "recorders": {name: recorders[i] for i, name in enumerate(PD14_POPULATIONS)},
        "n_device_connections": n * (2 if p.poisson_input else 1),
        "n_synapses_expected": int(d.num_synapses.sum()),
    }
