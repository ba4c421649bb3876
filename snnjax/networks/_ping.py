r"""Coupled PING assemblies (Omelyusik et al., "On Scaling Neuronal Network Simulations Using
Distributed Computing"): gamma oscillators of Traub HH cells, sparsely coupled.

``n_assemblies`` assemblies of ``cells`` ``hh_cond_exp_traub`` neurons each, 80 % excitatory
(E) and 20 % inhibitory (I). Inside an assembly (Börgers & Kopell's pyramidal-interneuron
gamma, PING): E -> I, I -> E and I -> I, each ``pairwise_bernoulli`` with ``p_intra = 0.5``
(no autapses), and **no E -> E**. The E cells are driven by a constant current (``I_e``, each
cell's drawn uniformly in ``drive_E * [1 - drive_spread, 1 + drive_spread]``); a volley of E
spikes fires the I cells, whose inhibition (``tau_syn_in = 10`` ms) silences the E cells until
it has decayed enough for the drive to win again: one gamma cycle (30-40 Hz with the
defaults, E and I cells firing about once per cycle). The I cells get no drive of their own
(NEST's Traub defaults, ``V_T = -63`` mV, fire alone at about 14 Hz without input; an E
cell with the 300 pA of the defaults at 59 Hz).

The defaults were tuned at 4 x 40 cells: the E rate's spectral peak (:func:`rate_spectrum`)
lies at 35-37.5 Hz (seeds 1-3; NEST 3.10: 35 Hz), 36.7 Hz at 8 x 50 and 8 x 100, with E and I
rates of 32-36 Hz. ``w_EI = 1`` nS made the I cells fire 1.3 times per cycle (I 43 Hz, E
24 Hz, peak 30-37 Hz, a weaker peak).

Between assemblies: the first ``round(frac_out * NE)`` E cells and the first
``round(frac_out * NI)`` I cells of every assembly (10 % by default; which cells it is does not
matter, the intra-assembly synapses are random) also project to ``outdegree = 3`` random cells
(E or I) of *all the other* assemblies together, one ``Connect`` per assembly and cell type:

* ``out_rule="pairwise_bernoulli"`` (the default): each (source, other-assembly cell) pair with
  ``p = outdegree / ((n_assemblies - 1) * cells)``, so ``outdegree`` targets on average
  (binomial);
* ``out_rule="fixed_outdegree"``: exactly ``outdegree`` targets each (multapses allowed). On
  more than one shard, snnjax's ``fixed_outdegree`` fails at ``Prepare`` (``IndexError`` in
  ``snnjax.sim._connect._position``) when a shard owns none of the projection's targets,
  e.g. 2 assemblies with ``placement="block"`` on 2 devices; hence the default.

Their synapses carry the weight of the source's intra-assembly synapses (E: ``w_EI``; I:
``w_IE``). So an assembly's cells receive a few synapses from outside, against
``p_intra * NI`` (I inputs) and ``p_intra * NE`` (E inputs) from inside: separate
oscillators, weakly coupled (enough to pull them close in phase: the whole E population's
spectral peak is about as sharp as a single assembly's).

The assemblies are created one after the other, E then I (ids ``1 + a * cells`` to
``(a + 1) * cells`` for assembly ``a``, the first ``NE`` of them E), so ``placement="block"``
keeps an assembly on one shard when ``n_assemblies`` is a multiple of the shards, and
``placement="partition"`` (METIS over the expected synapse counts) finds a similar cut.

Weights are given per synapse at the reference size ``cells = 100`` and scaled by
``100 / cells``, which keeps every cell's summed input (``p_intra`` x presynaptic cells x
weight) and so the gamma frequency the same whatever ``cells`` is.
"""

import dataclasses
import math
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from .._errors import check_one_of, check_range
from ._ring import population_rate

PING_NEURON_MODEL = "hh_cond_exp_traub"
"""The neuron model of every cell (NEST's defaults: Traub & Miles, 20000 µm², ``tau_syn_ex``
5 ms, ``tau_syn_in`` 10 ms, ``E_in = -80`` mV, ``t_ref = 2`` ms)."""

REFERENCE_CELLS = 100
"""The assembly size at which :class:`PingParams`' weights are given."""

OUT_RULES = ("pairwise_bernoulli", "fixed_outdegree")
"""Rules of the projections between assemblies."""


@dataclasses.dataclass(frozen=True)
class PingParams:
    """Parameters of the coupled PING assemblies.

    Attributes:
        n_assemblies: number of assemblies.
        cells: cells per assembly ``K`` (``NE = round(frac_exc * K)`` E, the rest I).
        frac_exc: fraction of excitatory cells.
        p_intra: probability of an E -> I, I -> E and I -> I synapse inside an assembly.
        frac_out: fraction of the E and of the I cells of an assembly that also project to
            the other assemblies.
        outdegree: targets (in the other assemblies) of each of those cells (the mean for
            ``out_rule="pairwise_bernoulli"``).
        out_rule: ``"pairwise_bernoulli"`` or ``"fixed_outdegree"`` (module docstring).
        w_EI: E -> I peak conductance in nS at ``cells = 100`` (also the weight of the
            E cells' synapses onto other assemblies).
        w_IE: I -> E in nS, negative (inhibitory receptor); also the I cells' weight onto
            other assemblies.
        w_II: I -> I in nS, negative.
        drive_E: mean constant current ``I_e`` of the E cells in pA.
        drive_spread: relative half-width of the uniform spread of the E cells' ``I_e``.
        drive_I: constant current of the I cells in pA.
        delay: delay of every synapse in ms.
    """

    n_assemblies: int = 8
    cells: int = 100
    frac_exc: float = 0.8
    p_intra: float = 0.5
    frac_out: float = 0.1
    outdegree: int = 3
    out_rule: str = "pairwise_bernoulli"
    w_EI: float = 0.5
    w_IE: float = -4.0
    w_II: float = -2.0
    drive_E: float = 300.0
    drive_spread: float = 0.1
    drive_I: float = 0.0
    delay: float = 1.0

    def __post_init__(self):
        for name, low in (("n_assemblies", 1), ("cells", 2), ("outdegree", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"`{name}` must be an int >= {low}; got {value!r}")
        check_one_of("out_rule", self.out_rule, OUT_RULES)
        others = (self.n_assemblies - 1) * self.cells
        if self.out_rule == "pairwise_bernoulli" and others and self.outdegree > others:
            raise ValueError(
                f"`outdegree` must be at most the cells of the other assemblies ({others}) for "
                f"`out_rule` 'pairwise_bernoulli'; got {self.outdegree}"
            )
        check_range("frac_exc", self.frac_exc, low=0.0, high=1.0)
        check_range("p_intra", self.p_intra, low=0.0, high=1.0)
        check_range("frac_out", self.frac_out, low=0.0, high=1.0)
        check_range("w_EI", self.w_EI, low=0.0)
        check_range("w_IE", self.w_IE, high=0.0)
        check_range("w_II", self.w_II, high=0.0)
        check_range("drive_spread", self.drive_spread, low=0.0, high=1.0)
        check_range("delay", self.delay, low=0.0, low_inclusive=False)
        ne = round(self.frac_exc * self.cells)
        if ne < 1 or ne >= self.cells:
            raise ValueError(
                f"`frac_exc` * `cells` must round to 1 .. cells - 1 E cells; got {ne} of "
                f"{self.cells}"
            )


class PingDerived(NamedTuple):
    """Quantities :func:`build_ping` derives from :class:`PingParams`.

    Attributes:
        NE: E cells per assembly.
        NI: I cells per assembly.
        n_out_E: E cells per assembly that project to other assemblies.
        n_out_I: I cells per assembly that project to other assemblies.
        w_EI: E -> I weight in nS (scaled to ``cells``).
        w_IE: I -> E weight in nS.
        w_II: I -> I weight in nS.
        n_synapses_expected: mean number of synapses of the whole network.
    """

    NE: int
    NI: int
    n_out_E: int
    n_out_I: int
    w_EI: float
    w_IE: float
    w_II: float
    n_synapses_expected: int


def ping_derived(params: PingParams) -> PingDerived:
    """Sizes, scaled weights and the expected synapse count of the network.

    Args:
        params: the network parameters.

    Returns:
        A :class:`PingDerived`.
    """
    p = params
    ne = round(p.frac_exc * p.cells)
    ni = p.cells - ne
    n_out_e, n_out_i = round(p.frac_out * ne), round(p.frac_out * ni)
    scale = REFERENCE_CELLS / p.cells
    intra = p.p_intra * (2 * ne * ni + ni * (ni - 1))
    inter = (n_out_e + n_out_i) * p.outdegree if p.n_assemblies > 1 else 0
    return PingDerived(
        NE=ne,
        NI=ni,
        n_out_E=n_out_e,
        n_out_I=n_out_i,
        w_EI=p.w_EI * scale,
        w_IE=p.w_IE * scale,
        w_II=p.w_II * scale,
        n_synapses_expected=round(p.n_assemblies * (intra + inter)),
    )


def _union(collections: list[Any]) -> Any:
    out = collections[0]
    for nodes in collections[1:]:
        out = out + nodes
    return out


def build_ping(nest: Any, params: PingParams | None = None) -> dict[str, Any]:
    """Create and connect the coupled PING assemblies through ``nest``, recording every cell.

    Call it right after ``nest.ResetKernel()`` (and ``SetKernelStatus``). For each assembly in
    turn: ``Create`` of its E cells (``I_e`` drawn from the kernel seed) and of its I cells;
    ``V_m(0) ~ N(-65, 5²)`` mV for all. Then two ``spike_recorder``\\ s (E, I), the
    intra-assembly ``pairwise_bernoulli`` synapses E -> I, I -> E, I -> I
    (``allow_autapses=False``) and the projections of each assembly's out-projecting cells
    onto the union of the other assemblies (``out_rule``; see :mod:`snnjax.networks._ping`).

    Args:
        nest: ``nest`` (PyNEST 3.10) or ``snnjax.sim``.
        params: the network parameters; ``None`` for the defaults (8 x 100 cells).

    Returns:
        ``{"populations": {"E": nodes, "I": nodes}, "recorders": {"E": rec, "I": rec},
        "assemblies": [{"E": nodes, "I": nodes}, ...], "out_sources": [nodes, ...] (the
        out-projecting cells of each assembly), "n_device_connections": N,
        "n_synapses_expected": ...}``.

    Examples:
        >>> import snnjax.sim as nest  # doctest: +SKIP
        >>> nest.ResetKernel()  # doctest: +SKIP
        >>> net = build_ping(nest, PingParams(n_assemblies=4, cells=40))  # doctest: +SKIP
        >>> nest.Simulate(400.0)  # doctest: +SKIP
    """
    p = PingParams() if params is None else params
    d = ping_derived(p)
    syn = {"synapse_model": "static_synapse", "delay": p.delay}
    lo, hi = 1.0 - p.drive_spread, 1.0 + p.drive_spread

    assemblies = []
    for _ in range(p.n_assemblies):
        exc = nest.Create(PING_NEURON_MODEL, d.NE)
        if p.drive_spread > 0.0:
            exc.set(I_e=nest.random.uniform(min=p.drive_E * lo, max=p.drive_E * hi))
        else:
            exc.set(I_e=p.drive_E)
        inh = nest.Create(PING_NEURON_MODEL, d.NI, params={"I_e": p.drive_I})
        (exc + inh).set(V_m=nest.random.normal(mean=-65.0, std=5.0))
        assemblies.append({"E": exc, "I": inh})
    nodes_ex = _union([a["E"] for a in assemblies])
    nodes_in = _union([a["I"] for a in assemblies])
    espikes = nest.Create("spike_recorder")
    ispikes = nest.Create("spike_recorder")
    nest.Connect(nodes_ex, espikes)
    nest.Connect(nodes_in, ispikes)

    intra = {"rule": "pairwise_bernoulli", "p": p.p_intra, "allow_autapses": False}
    for a in assemblies:
        for pre, post, w in ((a["E"], a["I"], d.w_EI), (a["I"], a["E"], d.w_IE),
                             (a["I"], a["I"], d.w_II)):  # fmt: skip
            if p.p_intra > 0.0:
                nest.Connect(pre, post, intra, {**syn, "weight": w})

    out_sources = []
    for k, a in enumerate(assemblies):
        src_e, src_i = a["E"][: d.n_out_E], a["I"][: d.n_out_I]
        out_sources.append(src_e + src_i)
        others = [b[pop] for j, b in enumerate(assemblies) if j != k for pop in ("E", "I")]
        if not others or p.outdegree == 0:
            continue
        targets = _union(others)
        if p.out_rule == "fixed_outdegree":
            conn = {"rule": "fixed_outdegree", "outdegree": p.outdegree}
        else:
            conn = {"rule": "pairwise_bernoulli", "p": p.outdegree / len(targets)}
        for src, w in ((src_e, d.w_EI), (src_i, d.w_IE)):
            if len(src):
                nest.Connect(src, targets, conn, {**syn, "weight": w})

    return {
        "populations": {"E": nodes_ex, "I": nodes_in},
        "recorders": {"E": espikes, "I": ispikes},
        "assemblies": assemblies,
        "out_sources": out_sources,
        "n_device_connections": p.n_assemblies * p.cells,
        "n_synapses_expected": d.n_synapses_expected,
    }


def rate_spectrum(
    senders: ArrayLike,
    times: ArrayLike,
    ids: ArrayLike,
    t_start: float,
    t_stop: float,
    *,
    bin_ms: float = 1.0,
    fmin: float = 5.0,
    fmax: float = 200.0,
    band_hz: float = 5.0,
) -> dict[str, Any]:
    r"""The spectral peak of a population's rate (:func:`numpy.fft.rfft` of 1 ms bins).

    The rate is binned at ``bin_ms`` (no smoothing), its mean removed, a Hann window applied;
    the power :math:`|X(f)|^2` is searched for its maximum in ``[fmin, fmax]`` Hz.

    Args:
        senders: global neuron id of each spike.
        times: spike times in ms.
        ids: the population's neuron ids.
        t_start: start of the window in ms.
        t_stop: end of the window in ms (``> t_start``).
        bin_ms: bin width in ms.
        fmin: lowest frequency searched in Hz.
        fmax: highest frequency searched in Hz (at most the Nyquist frequency is used).
        band_hz: half-width of the band around the peak whose power ``power_fraction``
            counts.

    Returns:
        ``{"peak_hz": f, "power_fraction": P(|f' - f| <= band_hz) / P(fmin..fmax),
        "resolution_hz": 1000 / (t_stop - t_start)}``; ``peak_hz`` and ``power_fraction``
        are ``nan`` without spikes or without a frequency in the range.
    """
    check_range("fmax", fmax, low=fmin, low_inclusive=False)
    _, rate = population_rate(senders, times, ids, t_start, t_stop, bin_ms=bin_ms, smooth_ms=0.0)
    x = (rate - rate.mean()) * np.hanning(rate.size)
    freqs = np.fft.rfftfreq(rate.size, d=bin_ms / 1e3)
    power = np.abs(np.fft.rfft(x)) ** 2
    in_range = (freqs >= fmin) & (freqs <= fmax)
    out = {"peak_hz": math.nan, "power_fraction": math.nan,
           "resolution_hz": 1e3 / (rate.size * bin_ms)}  # fmt: skip
    total = power[in_range].sum()
    if not in_range.any() or total <= 0.0:
        return out
    peak = float(freqs[in_range][np.argmax(power[in_range])])
    band = in_range & (np.abs(freqs - peak) <= band_hz)
    out.update(peak_hz=peak, power_fraction=float(power[band].sum() / total))
    return out
