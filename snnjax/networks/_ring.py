r"""The Brunel ring (NEST GPU's multi-GPU showcase): one Brunel network per rank, in a ring.

``K`` copies of the Brunel (2000) network (:class:`~snnjax.networks.BrunelParams`), network
``k`` on shard (MPI rank, or local device) ``k``, each driven by its own Poisson generator.
The in-degrees are those of one Brunel network whatever ``K`` is, but a fraction of them
comes from the *left* neighbour ``k - 1 (mod K)``: by default 60 % of the excitatory and 10 %
of the inhibitory inputs, so activity flows forward round the ring. At ``perturb_start`` the
drive of network 0 drops by ``perturb_drop`` (25 %) for ``perturb_stop - perturb_start`` ms;
the dip travels to network 1, 2, ... (weaker at each step).

The drop needs no ``SetStatus`` between ``Simulate`` calls: network 0 is driven by Poisson
generators whose rates add up to the Brunel rate (a superposition of independent Poisson
trains is a Poisson train): ``(1 - drop) * rate`` always, plus ``drop * rate`` before
``perturb_start`` (``stop``) and another after ``perturb_stop`` (``start``).
"""

import dataclasses
import math
import os
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from numpy.typing import ArrayLike

from .._errors import check_range
from ..analysis import rates as neuron_rates
from ._brunel import BrunelParams, brunel_derived

BASELINE_MS = 200.0
"""Length of the window before the perturbation that :func:`ring_perturbation_rates` averages."""


@dataclasses.dataclass(frozen=True)
class BrunelRingParams(BrunelParams):
    """Parameters of the Brunel ring: those of :class:`BrunelParams` (one network) and the ring.

    Attributes:
        networks: number of networks ``K``; ``None``: one per shard (MPI ranks, or the kernel's
            ``devices``). With more than one shard it must equal the number of shards; on one
            shard any ``K`` works (every network on shard 0).
        left_fraction_ex: fraction of the excitatory in-degree ``CE`` drawn from the left
            neighbour's excitatory neurons; the rest, ``(1 - f) * CE`` rounded half up, from the
            network's own.
        left_fraction_in: the same for the inhibitory in-degree ``CI``.
        perturb_start: start of the drop of network 0's drive in ms.
        perturb_stop: its end in ms, ``> perturb_start``.
        perturb_drop: the relative drop of network 0's external rate, in ``[0, 1]``.
    """

    networks: int | None = None
    left_fraction_ex: float = 0.6
    left_fraction_in: float = 0.1
    perturb_start: float = 500.0
    perturb_stop: float = 600.0
    perturb_drop: float = 0.25

    def __post_init__(self):
        super().__post_init__()
        if self.networks is not None and (
            isinstance(self.networks, bool) or not isinstance(self.networks, int)
            or self.networks < 1
        ):  # fmt: skip
            raise ValueError(f"`networks` must be None or a positive int; got {self.networks!r}")
        for name in ("left_fraction_ex", "left_fraction_in", "perturb_drop"):
            check_range(name, getattr(self, name), low=0.0, high=1.0)
        check_range("perturb_start", self.perturb_start, low=0.0)
        check_range("perturb_stop", self.perturb_stop, low=self.perturb_start, low_inclusive=False)


def ring_indegrees(params: BrunelRingParams) -> dict[str, int]:
    """The in-degrees of every neuron: ``{"E_own", "E_left", "I_own", "I_left"}``.

    ``E_own = (1 - left_fraction_ex) * CE`` rounded half up, ``E_left = CE - E_own``, the same
    for ``I`` with ``CI``; so ``E_own + E_left = CE`` and ``I_own + I_left = CI`` of
    :func:`brunel_derived`, for any number of networks.

    Examples:
        >>> ring_indegrees(BrunelRingParams(order=100))
        {'E_own': 16, 'E_left': 24, 'I_own': 9, 'I_left': 1}
    """
    d = brunel_derived(params)
    e_own = math.floor((1.0 - params.left_fraction_ex) * d.CE + 0.5)
    i_own = math.floor((1.0 - params.left_fraction_in) * d.CI + 0.5)
    return {"E_own": e_own, "E_left": d.CE - e_own, "I_own": i_own, "I_left": d.CI - i_own}


def _num_shards(nest: Any) -> int:
    """MPI ranks, else the kernel's ``devices`` (snnjax; PyNEST has no such key)."""
    ranks = int(nest.NumProcesses())
    if ranks > 1 or not hasattr(nest, "RemoteCreate"):
        return ranks
    return int(nest.GetKernelStatus("devices"))


def ring_layout(nest: Any, params: BrunelRingParams) -> tuple[int, list[int]]:
    """The number of networks and the shard of each.

    Args:
        nest: the simulator module, after ``SetKernelStatus`` (it gives the shard count).
        params: the ring parameters.

    Returns:
        ``(K, shard_of_network)``: network ``k`` on shard ``k``, or all on shard 0 when
        there is one shard.

    Raises:
        ValueError: if ``networks`` differs from the number of shards (> 1).
    """
    shards = _num_shards(nest)
    k = shards if params.networks is None else params.networks
    if shards > 1 and k != shards:
        raise ValueError(
            f"`networks` must equal the number of shards ({shards}: MPI ranks or `devices`), "
            f"one network per shard, or the run must have one shard; got networks={k}"
        )
    return k, [n if shards > 1 else 0 for n in range(k)]


def build_brunel_ring(nest: Any, params: BrunelRingParams | None = None) -> dict[str, Any]:
    """Create and connect the Brunel ring through ``nest``, recording every neuron.

    Call it right after ``nest.ResetKernel()`` and ``SetKernelStatus`` (whose ``devices``,
    or ``mpirun``'s rank count, fixes the number of networks). Network ``k``'s neurons
    (``NE`` excitatory ``E{k}``, ``NI`` inhibitory ``I{k}``, parameters of
    :func:`brunel_derived`) are created with ``nest.RemoteCreate(shard, ...)`` (``nest.Create``
    on PyNEST, which has no ``RemoteCreate``). Every neuron of network ``k`` gets
    ``fixed_indegree`` inputs (:func:`ring_indegrees`) from ``E{k}``, ``E{k-1}``, ``I{k}`` and
    ``I{k-1}`` (indices mod ``K``; the ``k-1`` ones through ``nest.RemoteConnect``), with the
    synapse models ``"excitatory"`` and ``"inhibitory"`` of :func:`build_brunel`. Each
    generator is connected to its network's E and I neurons with one ``Connect`` each
    (separate connections draw independent trains); one ``spike_recorder`` per population.

    Args:
        nest: ``snnjax.sim`` (or PyNEST, one process).
        params: the ring parameters; ``None`` for the defaults.

    Returns:
        ``{"populations": {"E0": nodes, "I0": nodes, "E1": ...}, "recorders": {same keys},
        "networks": K, "shards": shard of each network, "indegrees": ring_indegrees(params),
        "n_device_connections", "n_synapses_expected": K * (NE + NI) * (CE + CI)}``.

    Examples:
        >>> import snnjax.sim as nest
        >>> nest.ResetKernel()
        >>> net = build_brunel_ring(nest, BrunelRingParams(order=10, networks=3))
        >>> list(net["populations"]), net["n_synapses_expected"]
        (['E0', 'I0', 'E1', 'I1', 'E2', 'I2'], 750)
    """
    p = BrunelRingParams() if params is None else params
    d = brunel_derived(p)
    deg = ring_indegrees(p)
    k_nets, shard = ring_layout(nest, p)
    remote = hasattr(nest, "RemoteCreate")

    def create(k: int, n: int):
        if remote:
            return nest.RemoteCreate(shard[k], p.model, n, d.neuron_params)
        return nest.Create(p.model, n, params=d.neuron_params)

    def connect(src: int, pre, tgt: int, post, indegree: int, syn: str) -> None:
        if indegree == 0:
            return
        conn = {"rule": "fixed_indegree", "indegree": indegree}
        if remote and src != tgt:
            nest.RemoteConnect(shard[src], pre, shard[tgt], post, conn, syn)
        else:
            nest.Connect(pre, post, conn, syn)

    exc, inh = [], []
    for k in range(k_nets):
        exc.append(create(k, d.NE))
        inh.append(create(k, d.NI))
    drive = []  # (network, generator) pairs
    for k in range(k_nets):
        if k == 0 and p.perturb_drop > 0:
            low = p.perturb_drop * d.p_rate
            parts = [{"rate": (1.0 - p.perturb_drop) * d.p_rate}]
            parts += [
                {"rate": low, "stop": p.perturb_start},
                {"rate": low, "start": p.perturb_stop},
            ]
            parts = [g for g in parts if g["rate"] > 0]
        else:
            parts = [{"rate": d.p_rate}]
        drive += [(k, nest.Create("poisson_generator", params=g)) for g in parts]
    recorders = {}
    for k in range(k_nets):
        recorders[f"E{k}"] = nest.Create("spike_recorder")
        recorders[f"I{k}"] = nest.Create("spike_recorder")

    nest.CopyModel("static_synapse", "excitatory", {"weight": d.J_ex, "delay": p.delay})
    nest.CopyModel("static_synapse", "inhibitory", {"weight": d.J_in, "delay": p.delay})

    for k, gen in drive:
        nest.Connect(gen, exc[k], syn_spec="excitatory")
        nest.Connect(gen, inh[k], syn_spec="excitatory")
    populations = {}
    for k in range(k_nets):
        populations[f"E{k}"], populations[f"I{k}"] = exc[k], inh[k]
        nest.Connect(exc[k], recorders[f"E{k}"])
        nest.Connect(inh[k], recorders[f"I{k}"])
    for k in range(k_nets):
        left, targets = (k - 1) % k_nets, exc[k] + inh[k]
        connect(k, exc[k], k, targets, deg["E_own"], "excitatory")
        connect(left, exc[left], k, targets, deg["E_left"], "excitatory")
        connect(k, inh[k], k, targets, deg["I_own"], "inhibitory")
        connect(left, inh[left], k, targets, deg["I_left"], "inhibitory")

    n = d.NE + d.NI
    return {
        "populations": populations,
        "recorders": recorders,
        "networks": k_nets,
        "shards": shard,
        "indegrees": deg,
        "n_device_connections": (len(drive) + k_nets) * n,  # generators, recorders
        "n_synapses_expected": k_nets * n * (d.CE + d.CI),
    }


def _windows(params: BrunelRingParams, t_start: float, t_stop: float) -> dict[str, tuple]:
    before = (max(params.perturb_start - BASELINE_MS, t_start), min(params.perturb_start, t_stop))
    during = (max(params.perturb_start, t_start), min(params.perturb_stop, t_stop))
    return {"before": before, "during": during}


def ring_perturbation_rates(
    senders: ArrayLike,
    times: ArrayLike,
    populations: dict[str, ArrayLike],
    params: BrunelRingParams,
    t_start: float,
    t_stop: float,
) -> list[dict[str, Any]]:
    """The mean excitatory rate of every network before and during the perturbation.

    ``before``: ``[perturb_start - BASELINE_MS, perturb_start)``, ``during``:
    ``[perturb_start, perturb_stop)``, both clipped to the recorded ``[t_start, t_stop)``.

    Args:
        senders: global neuron id of each spike, shape ``[spikes]``.
        times: spike times in ms, shape ``[spikes]``.
        populations: ``{"E0": ids, "I0": ids, "E1": ...}`` as :func:`build_brunel_ring` names
            them (only the ``E{k}`` are used).
        params: the ring parameters (the perturbation window).
        t_start: start of the recorded window in ms.
        t_stop: its end in ms.

    Returns:
        One dict per network: ``network``, ``before_hz``, ``during_hz`` (``None`` for an
        empty window) and ``relative_change = during / before - 1`` (``None`` if either is
        missing or ``before`` is 0).
    """
    windows = _windows(params, t_start, t_stop)
    out = []
    k = 0
    while f"E{k}" in populations:
        row: dict[str, Any] = {"network": k}
        for key, (a, b) in windows.items():
            ok = b > a
            rate = neuron_rates(senders, times, populations[f"E{k}"], a, b).mean() if ok else None
            row[f"{key}_hz"] = None if rate is None else float(rate)
        before, during = row["before_hz"], row["during_hz"]
        ok = before is not None and during is not None and before > 0
        row["relative_change"] = during / before - 1.0 if ok else None
        out.append(row)
        k += 1
    return out


def population_rate(
    senders: ArrayLike,
    times: ArrayLike,
    ids: ArrayLike,
    t_start: float,
    t_stop: float,
    *,
    bin_ms: float = 5.0,
    smooth_ms: float = 5.0,
) -> tuple[np.ndarray, np.ndarray]:
    """The population rate in bins of ``bin_ms``, smoothed by a Gaussian of ``smooth_ms``.

    Args:
        senders: global neuron id of each spike.
        times: spike times in ms.
        ids: the population's neuron ids.
        t_start: start of the window in ms.
        t_stop: end of the window in ms (``> t_start``).
        bin_ms: bin width in ms, ``> 0``.
        smooth_ms: standard deviation of the Gaussian kernel in ms (reflected at the ends);
            ``0``: no smoothing.

    Returns:
        ``(centres, rate)``: bin centres in ms and the rate in Hz (spikes per neuron and s).
    """
    check_range("t_stop", t_stop, low=t_start, low_inclusive=False)
    check_range("bin_ms", bin_ms, low=0.0, low_inclusive=False)
    check_range("smooth_ms", smooth_ms, low=0.0)
    ids = np.asarray(ids, np.int64)
    senders, times = np.asarray(senders, np.int64), np.asarray(times, np.float64)
    n_bins = max(1, math.ceil((t_stop - t_start) / bin_ms - 1e-9))
    edges = t_start + bin_ms * np.arange(n_bins + 1)
    mine = np.isin(senders, ids)
    counts, _ = np.histogram(times[mine], bins=edges)
    rate = counts * (1000.0 / (bin_ms * max(ids.size, 1)))
    sigma = smooth_ms / bin_ms
    if sigma > 0 and n_bins > 1:
        half = min(math.ceil(3 * sigma), n_bins - 1)
        x = np.arange(-half, half + 1)
        kernel = np.exp(-0.5 * (x / sigma) ** 2)
        rate = np.convolve(np.pad(rate, half, mode="reflect"), kernel / kernel.sum(), "valid")
    return 0.5 * (edges[:-1] + edges[1:]), rate


def ring_rates_plot(
    senders: ArrayLike,
    times: ArrayLike,
    populations: dict[str, ArrayLike],
    params: BrunelRingParams,
    path: str | os.PathLike,
    t_start: float,
    t_stop: float,
    *,
    bin_ms: float = 5.0,
    smooth_ms: float = 5.0,
    title: str | None = None,
) -> None:
    """Save the excitatory rate of every network over time, one panel each (PNG).

    The perturbation window is shaded in every panel (network 0 is the perturbed one); the
    dashed line is each network's mean rate before it, the solid bar its mean rate during it
    (:func:`ring_perturbation_rates`).

    Args:
        senders: global neuron id of each spike.
        times: spike times in ms.
        populations: ``{"E0": ids, "I0": ids, ...}`` from :func:`build_brunel_ring`.
        params: the ring parameters.
        path: output file (format from its suffix).
        t_start: start of the window in ms.
        t_stop: end of the window in ms.
        bin_ms: bin width of :func:`population_rate`.
        smooth_ms: its smoothing.
        title: optional figure title.
    """
    rows = ring_perturbation_rates(senders, times, populations, params, t_start, t_stop)
    windows = _windows(params, t_start, t_stop)
    fig = Figure(figsize=(8.0, 1.0 + 1.4 * len(rows)), layout="constrained")
    FigureCanvasAgg(fig)
    axes = np.atleast_1d(fig.subplots(len(rows), 1, sharex=True, squeeze=False)[:, 0])
    for ax, row in zip(axes, rows, strict=True):
        k = row["network"]
        t, rate = population_rate(
            senders, times, populations[f"E{k}"], t_start, t_stop,
            bin_ms=bin_ms, smooth_ms=smooth_ms,
        )  # fmt: skip
        ax.axvspan(params.perturb_start, params.perturb_stop, color="0.85", lw=0)
        ax.plot(t, rate, color=f"C{k % 10}", lw=1.0)
        if row["before_hz"] is not None:
            ax.axhline(row["before_hz"], color="0.3", lw=0.8, ls="--")
        if row["during_hz"] is not None:
            ax.hlines(row["during_hz"], *windows["during"], color="0.1", lw=1.6)
        change = row["relative_change"]
        label = f"E{k}" + ("" if change is None else f"  ({100 * change:+.1f} % during)")
        ax.text(0.01, 0.06, label, transform=ax.transAxes, fontsize="small",
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8})  # fmt: skip
        ax.set_ylim(bottom=0.0)
        ax.set_ylabel("E rate (Hz)")
    axes[-1].set_xlim(t_start, t_stop)
    axes[-1].set_xlabel("time (ms)")
    if title is not None:
        fig.suptitle(title)
    fig.savefig(path, dpi=120)
