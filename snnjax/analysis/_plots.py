"""Figures of spike data: a raster with population rates, and the PD14 statistics figure.

Figures are built on :class:`matplotlib.figure.Figure` with an explicit Agg canvas, so nothing
here touches pyplot or the global backend (``matplotlib.use`` is never called) and the
functions are safe in scripts, notebooks and headless jobs alike. The spike data are the same
NEST-style ``senders``/``times`` arrays as in :mod:`snnjax.analysis._stats`.
"""

import os

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from numpy.typing import ArrayLike

from .._errors import check_range
from ._stats import (
    _bin_index,
    _check_int,
    _check_populations,
    _check_window,
    _cv,
    _n_bins,
    _pearson,
    _population_spikes,
    _rates,
    _subset,
    _window,
)


def _figure(**kwargs) -> Figure:
    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)
    return fig


def _color(i: int) -> str:
    return f"C{i % 10}"


def raster_plot(
    senders: ArrayLike,
    times: ArrayLike,
    populations: dict[str, ArrayLike],
    path: str | os.PathLike,
    t_start: float,
    t_stop: float,
    *,
    max_neurons: int = 200,
    bin_ms: float = 5.0,
    title: str | None = None,
) -> None:
    r"""Save a spike raster over the population rates as one image (PNG).

    Top: the spikes of a sample of at most ``max_neurons`` neurons of each population (drawn
    with ``np.random.default_rng(0)``, sorted by id), populations stacked from the top in the
    order of ``populations``, one colour each and labelled on the y axis. Bottom: the rate
    of each whole population in bins of ``bin_ms``,

    .. math::

        \nu(b) = \frac{1000\, C(b)}{N\, \Delta_\mathrm{bin}}\ \mathrm{Hz},

    with :math:`C(b)` the spike count of all :math:`N` neurons of the population in the bin.

    Args:
        senders: global neuron id of each spike, shape ``[spikes]``.
        times: spike times in ms, shape ``[spikes]``.
        populations: ``{name: ids}``; a single population works too.
        path: output file; the format follows its suffix (``.png`` intended).
        t_start: start of the window in ms (inclusive).
        t_stop: end of the window in ms (exclusive), ``> t_start``.
        max_neurons: neurons shown per population in the raster, ``>= 1``.
        bin_ms: bin width of the rate histogram in ms, in ``(0, t_stop - t_start]``.
        title: optional figure title.
    """
    duration = _check_window(t_start, t_stop)
    n_bins = _n_bins(duration, bin_ms)
    max_neurons = _check_int("max_neurons", max_neurons, 1)
    pops = _check_populations(populations)
    senders, times = _window(senders, times, t_start, t_stop)

    samples = {name: _subset(ids, max_neurons, 0) for name, ids in pops.items()}
    total = sum(s.size for s in samples.values())
    edges = t_start + bin_ms * np.arange(n_bins + 1)

    fig = _figure(figsize=(8.0, 6.0), layout="constrained")
    ax_r, ax_h = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    ticks, labels, top = [], [], total
    for i, (name, ids) in enumerate(pops.items()):
        sample = samples[name]
        pos, t = _population_spikes(senders, times, sample)
        ax_r.plot(t, top - pos, ls="none", marker=".", ms=1.5, mew=0, color=_color(i))
        if sample.size:
            ticks.append(top - (sample.size - 1) / 2)
            labels.append(name)
        top -= sample.size

        _, t_all = _population_spikes(senders, times, ids)
        b = _bin_index(t_all, t_start, bin_ms, n_bins)
        counts = np.bincount(b[b >= 0], minlength=n_bins)
        rate = counts * (1000.0 / (bin_ms * max(ids.size, 1)))
        ax_h.stairs(rate, edges, color=_color(i), label=name)

    ax_r.set_yticks(ticks, labels)
    ax_r.set_ylim(0.5, max(total, 1) + 0.5)
    ax_r.set_ylabel(f"neurons (≤ {max_neurons} per population)")
    ax_h.set_xlim(t_start, t_stop)
    ax_h.set_xlabel("time (ms)")
    ax_h.set_ylabel(f"rate (Hz, {bin_ms:g} ms bins)")
    if len(pops) > 1:
        ax_h.legend(fontsize="x-small", ncol=min(len(pops), 4), frameon=False)
    if title is not None:
        fig.suptitle(title)
    fig.savefig(path, dpi=120)


def _violins(ax: Axes, datasets: list[np.ndarray]) -> None:
    """One violin per dataset at x = 0, 1, ...; a dot where a KDE is impossible."""
    for i, data in enumerate(datasets):
        if data.size == 0:
            continue
        if np.ptp(data) == 0:  # a single value: the KDE would be singular
            ax.plot([i], [data[0]], ls="none", marker="o", ms=4, color=_color(i))
            continue
        parts = ax.violinplot([data], positions=[i], widths=0.8, showmedians=True)
        for body in parts["bodies"]:
            body.set_facecolor(_color(i))
            body.set_edgecolor(_color(i))
            body.set_alpha(0.6)
        for key in ("cbars", "cmins", "cmaxes", "cmedians"):
            if key in parts:
                parts[key].set_color(_color(i))


def statistics_figure(
    senders: ArrayLike,
    times: ArrayLike,
    populations: dict[str, ArrayLike],
    path: str | os.PathLike,
    t_start: float,
    t_stop: float,
    *,
    bin_ms: float = 2.0,
    n_neurons: int = 200,
    reference_rates: dict[str, float] | None = None,
) -> None:
    """Save the statistics figure of Potjans & Diesmann (2014, Fig. 6) as one image (PNG).

    Three panels of violin plots, one violin per population (in the order of
    ``populations``): the firing rate of every neuron (:func:`rates`), the CV of the ISIs of
    the neurons with at least 3 spikes (:func:`cv_isi`), and the Pearson correlation
    coefficients of pairs of a sample of ``n_neurons`` neurons binned in ``bin_ms``
    (:func:`pearson_correlations`, seed 0). A population whose values are all equal shows as
    a dot; one without any value (no neuron with 3 spikes, no pair with non-zero variance)
    is left blank.

    Args:
        senders: global neuron id of each spike, shape ``[spikes]``.
        times: spike times in ms, shape ``[spikes]``.
        populations: ``{name: ids}``; a single population works too.
        path: output file; the format follows its suffix (``.png`` intended).
        t_start: start of the window in ms (inclusive).
        t_stop: end of the window in ms (exclusive), ``> t_start``.
        bin_ms: bin width for the correlations in ms, in ``(0, t_stop - t_start]``.
        n_neurons: neurons per population sampled for the correlations, ``>= 2``.
        reference_rates: optional ``{name: rate in Hz}`` (e.g. the published rates), drawn
            as black diamonds on the rate panel; names must be keys of ``populations``, and
            populations without an entry get no marker.
    """
    duration = _check_window(t_start, t_stop)
    n_bins = _n_bins(duration, bin_ms)
    n_neurons = _check_int("n_neurons", n_neurons, 2)
    pops = _check_populations(populations)
    if reference_rates is not None:
        if not isinstance(reference_rates, dict):
            raise ValueError(
                "`reference_rates` must be a dict {population: rate in Hz} or None; "
                f"got {type(reference_rates).__name__}"
            )
        unknown = [k for k in reference_rates if str(k) not in pops]
        if unknown:
            raise ValueError(
                f"`reference_rates` must name populations among {list(pops)}; got {unknown}"
            )
        for k, v in reference_rates.items():
            check_range(f"reference_rates[{k!r}]", v, low=0.0)
    senders, times = _window(senders, times, t_start, t_stop)

    rate_data, cv_data, corr_data = [], [], []
    for ids in pops.values():
        pos, t = _population_spikes(senders, times, ids)
        rate_data.append(_rates(pos, ids.size, duration))
        cv_data.append(_cv(pos, t, ids.size, 3))
        corr_data.append(_pearson(senders, times, ids, t_start, bin_ms, n_bins, n_neurons, 0))

    names = list(pops)
    fig = _figure(figsize=(max(9.0, 1.8 * len(names)), 3.6), layout="constrained")
    axes = fig.subplots(1, 3)
    panels = (
        (rate_data, "rate (spikes/s)"),
        (cv_data, "irregularity (CV ISI)"),
        (corr_data, f"synchrony (correlation, {bin_ms:g} ms bins)"),
    )
    for ax, (data, label) in zip(axes, panels, strict=True):
        _violins(ax, data)
        ax.set_xticks(range(len(names)), names, rotation=45 if len(names) > 3 else 0)
        ax.set_xlim(-0.6, len(names) - 0.4)
        ax.set_title(label, fontsize="medium")
    axes[2].axhline(0.0, color="0.6", lw=0.5, zorder=0)
    if reference_rates:
        xs = [i for i, n in enumerate(names) if n in {str(k) for k in reference_rates}]
        ref = {str(k): float(v) for k, v in reference_rates.items()}
        ys = [ref[names[i]] for i in xs]
        axes[0].plot(xs, ys, ls="none", marker="D", ms=5, color="k", label="reference")
        axes[0].legend(fontsize="x-small", frameon=False)
    fig.savefig(path, dpi=120)


def weight_histogram_plot(snapshots, path: str | os.PathLike, *, bins: int = 40,
                          title: str | None = None) -> None:  # fmt: skip
    """Save the distribution of synaptic weights over time as one image (PNG).

    Left: the histogram of every snapshot as a column of a heat map (time on x, weight on
    y, fraction of synapses per bin in colour) with the mean weight drawn over it. Right:
    the first and the last histogram.

    Args:
        snapshots: ``[(t_ms, weights), ...]`` in time order (at least one, with weights).
        path: output file (``.png`` intended).
        bins: weight bins, ``>= 1``.
        title: optional figure title.
    """
    bins = _check_int("bins", bins, 1)
    if not snapshots or any(np.size(w) == 0 for _, w in snapshots):
        raise ValueError("`snapshots` must hold at least one non-empty set of weights")
    times = np.array([t for t, _ in snapshots], np.float64)
    lo = min(float(np.min(w)) for _, w in snapshots)
    hi = max(float(np.max(w)) for _, w in snapshots)
    edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
    hist = np.stack([np.histogram(w, edges)[0] / np.size(w) for _, w in snapshots], 1)
    fig = _figure(figsize=(10, 4), layout="constrained")
    heat, final = fig.subplots(1, 2, width_ratios=[2, 1])
    step = np.diff(times).mean() if len(times) > 1 else 1.0
    x = np.concatenate([times - step / 2, [times[-1] + step / 2]])
    vmax = hist[:, 1:].max() if len(times) > 1 else None  # the initial delta saturates
    mesh = heat.pcolormesh(x, edges, hist, cmap="viridis", shading="flat", vmax=vmax)
    fig.colorbar(mesh, ax=heat, label="fraction of synapses")
    heat.plot(times, [np.mean(w) for _, w in snapshots], color="w", lw=1.5, label="mean")
    heat.set(xlabel="time (ms)", ylabel="weight")
    heat.legend(loc="upper right")
    centers = (edges[:-1] + edges[1:]) / 2
    for i, label in ((0, f"{times[0]:g} ms"), (-1, f"{times[-1]:g} ms")):
        final.step(centers, hist[:, i], where="mid", label=label)
    final.set(xlabel="weight", ylabel="fraction of synapses")
    final.legend()
    if title:
        fig.suptitle(title)
    fig.savefig(path, dpi=100)
