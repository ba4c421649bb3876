"""Spike-train statistics of NEST-style spike data, vectorised in NumPy.

Every function takes the spikes as two flat arrays, ``senders`` (global neuron ids) and
``times`` (ms), the ``ids`` of the neurons of one population and a window
``[t_start, t_stop)`` in ms: a spike counts when ``t_start <= t < t_stop``. Neurons of ``ids``
that never spike count with zero spikes; spikes of senders not in ``ids`` are ignored.

Nothing loops over neurons or spikes in Python: senders are mapped to positions in ``ids``
with :func:`numpy.searchsorted` (or an offset when ``ids`` is a contiguous range, as NEST
populations are), and per-neuron sums use :func:`numpy.bincount`, so 10^7 spikes of 10^5
neurons take about a second.
"""

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .._errors import check_range

# ---------------------------------------------------------------------------------------------
# Validation and the shared mapping of spikes to neurons and bins.


def _as_ints(name: str, value: ArrayLike) -> np.ndarray:
    """``value`` as a 1-D ``int64`` array, or a ``ValueError`` naming ``name``."""
    arr = np.asarray(value)
    if arr.ndim != 1:
        raise ValueError(f"`{name}` must be a 1-D array; got shape {arr.shape}")
    if arr.size == 0:
        return arr.astype(np.int64)
    if arr.dtype.kind not in "iu":
        raise ValueError(f"`{name}` must be an array of integer neuron ids; got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def _check_window(t_start: float, t_stop: float) -> float:
    """Validate the window and return its duration in ms."""
    check_range("t_start", t_start)
    check_range("t_stop", t_stop, low=float(t_start), low_inclusive=False)
    return float(t_stop) - float(t_start)


def _window(
    senders: ArrayLike, times: ArrayLike, t_start: float, t_stop: float
) -> tuple[np.ndarray, np.ndarray]:
    """Validated ``(senders, times)`` restricted to ``t_start <= t < t_stop``."""
    _check_window(t_start, t_stop)
    senders = _as_ints("senders", senders)
    times = np.asarray(times, dtype=np.float64)
    if times.shape != senders.shape:
        raise ValueError(
            f"`times` must have the same shape as `senders` {senders.shape}; got {times.shape}"
        )
    keep = (times >= t_start) & (times < t_stop)
    if keep.all():
        return senders, times
    return senders[keep], times[keep]


def _check_ids(ids: ArrayLike, name: str = "ids") -> np.ndarray:
    """``ids`` as a 1-D ``int64`` array without duplicates."""
    ids = _as_ints(name, ids)
    if ids.size > 1:
        s = np.sort(ids)
        dup = s[1:][s[1:] == s[:-1]]
        if dup.size:
            raise ValueError(f"`{name}` must not contain duplicate ids; got {dup[:4].tolist()}")
    return ids


def _positions(senders: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Position in ``ids`` of each sender that is in ``ids``, and the mask of those senders.

    Returns ``(pos, mask)`` with ``ids[pos] == senders[mask]``.
    """
    n = ids.size
    if n == 0 or senders.size == 0:
        return np.zeros(0, np.int64), np.zeros(senders.shape, bool)
    first, last = int(ids.min()), int(ids.max())
    if last - first + 1 == n:  # a contiguous range: an offset (and a permutation if unsorted)
        rel = senders - first
        mask = (rel >= 0) & (rel < n)
        rel = rel[mask]
        if np.all(ids[1:] > ids[:-1]):
            return rel, mask
        inverse = np.empty(n, np.int64)
        inverse[ids - first] = np.arange(n)
        return inverse[rel], mask
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    idx = np.searchsorted(sorted_ids, senders)
    np.minimum(idx, n - 1, out=idx)
    mask = sorted_ids[idx] == senders
    return order[idx[mask]], mask


def _population_spikes(
    senders: np.ndarray, times: np.ndarray, ids: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(pos, times)`` of the windowed spikes whose senders are in ``ids``."""
    pos, mask = _positions(senders, ids)
    return pos, times[mask]


def _n_bins(duration: float, bin_ms: float) -> int:
    """Number of whole bins of ``bin_ms`` in the window (a trailing partial bin is dropped)."""
    check_range("bin_ms", bin_ms, low=0.0, low_inclusive=False)
    n = math.floor(round(duration / float(bin_ms), 9))
    if n < 1:
        raise ValueError(
            f"`bin_ms` must lie in (0, {duration:g}] (the window t_stop - t_start); got {bin_ms}"
        )
    return n


def _bin_index(times: np.ndarray, t_start: float, bin_ms: float, n_bins: int) -> np.ndarray:
    """Bin of each time (``-1`` where it falls in the dropped partial bin)."""
    b = np.floor((times - t_start) / bin_ms).astype(np.int64)
    b[b >= n_bins] = -1
    return b


def _check_int(name: str, value: Any, low: int) -> int:
    """``value`` as an ``int`` no smaller than ``low``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"`{name}` must be an integer >= {low}; got {value!r}")
    check_range(name, value, low=low)
    return int(value)


def _subset(ids: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` ids drawn without replacement by ``default_rng(seed)``, sorted (all if fewer)."""
    if ids.size <= n:
        return np.sort(ids)
    return np.sort(np.random.default_rng(seed).choice(ids, size=n, replace=False))


# ---------------------------------------------------------------------------------------------
# Statistics on already validated, windowed spikes of one population (positions in ``ids``).


def _stable_order(pos: np.ndarray, n: int) -> np.ndarray:
    """``np.argsort(pos, kind="stable")`` for ``0 <= pos < n``, as 16-bit radix passes.

    NumPy radix-sorts 16-bit keys but merge-sorts wider ones (about 7x slower for 10^7).
    """
    if n <= 1 << 16:
        return np.argsort(pos.astype(np.uint16), kind="stable")
    order = np.argsort((pos & 0xFFFF).astype(np.uint16), kind="stable")
    high = pos[order] >> 16
    if n <= 1 << 32:
        return order[np.argsort(high.astype(np.uint16), kind="stable")]
    return order[np.argsort(high, kind="stable")]


def _rates(pos: np.ndarray, n: int, duration: float) -> np.ndarray:
    return np.bincount(pos, minlength=n) * (1000.0 / duration)


def _cv(pos: np.ndarray, t: np.ndarray, n: int, min_spikes: int) -> np.ndarray:
    if pos.size == 0:
        return np.zeros(0)
    if t.size > 1 and not np.all(t[1:] >= t[:-1]):  # NEST output is usually time-sorted
        by_time = np.argsort(t, kind="stable")
        pos, t = pos[by_time], t[by_time]
    by_neuron = _stable_order(pos, n)  # stable: times stay sorted within a neuron
    pos, t = pos[by_neuron], t[by_neuron]
    same = pos[1:] == pos[:-1]
    isi = np.diff(t)[same]
    owner = pos[1:][same]
    counts = np.bincount(pos, minlength=n)
    n_isi = np.bincount(owner, minlength=n)
    mean = np.bincount(owner, isi, minlength=n).astype(np.float64)  # int if no ISI at all
    chosen = counts >= min_spikes
    chosen &= mean > 0  # ISIs all zero: the CV is undefined
    mean[chosen] /= n_isi[chosen]
    dev = isi - mean[owner]
    var = np.bincount(owner, dev * dev, minlength=n)
    return np.sqrt(var[chosen] / n_isi[chosen]) / mean[chosen]


def _binned_counts(
    pos: np.ndarray, t: np.ndarray, n: int, t_start: float, bin_ms: float, n_bins: int
) -> np.ndarray:
    """Spike counts ``[n, n_bins]`` of the neurons at positions ``0..n-1``."""
    b = _bin_index(t, t_start, bin_ms, n_bins)
    keep = b >= 0
    flat = pos[keep] * n_bins + b[keep]
    return np.bincount(flat, minlength=n * n_bins).reshape(n, n_bins)


def _pearson(
    senders: np.ndarray,
    times: np.ndarray,
    ids: np.ndarray,
    t_start: float,
    bin_ms: float,
    n_bins: int,
    n_neurons: int,
    seed: int,
) -> np.ndarray:
    sub = _subset(ids, n_neurons, seed)
    pos, t = _population_spikes(senders, times, sub)
    counts = _binned_counts(pos, t, sub.size, t_start, bin_ms, n_bins)
    counts = counts[counts.var(axis=1) > 0]
    if counts.shape[0] < 2:
        return np.zeros(0)
    r = np.corrcoef(counts)
    return r[np.triu_indices(counts.shape[0], k=1)]


def _fano(t: np.ndarray, t_start: float, bin_ms: float, n_bins: int) -> float:
    b = _bin_index(t, t_start, bin_ms, n_bins)
    counts = np.bincount(b[b >= 0], minlength=n_bins)
    mean = counts.mean()
    if mean == 0:
        return math.nan
    return float(counts.var() / mean)


# ---------------------------------------------------------------------------------------------
# Public API.


def rates(
    senders: ArrayLike, times: ArrayLike, ids: ArrayLike, t_start: float, t_stop: float
) -> np.ndarray:
    r"""Firing rate of each neuron of ``ids`` in the window.

    .. math::

        \nu_i = \frac{1000\, n_i}{t_\mathrm{stop} - t_\mathrm{start}}\ \mathrm{Hz},

    with :math:`n_i` the number of spikes of neuron :math:`i` with
    :math:`t_\mathrm{start} \le t < t_\mathrm{stop}` (times in ms).

    Args:
        senders: global neuron id of each spike, shape ``[spikes]`` (integers).
        times: spike times in ms, shape ``[spikes]``.
        ids: the neurons of the population, shape ``[neurons]`` (no duplicates).
        t_start: start of the window in ms (inclusive).
        t_stop: end of the window in ms (exclusive), ``> t_start``.

    Returns:
        Rates in Hz, shape ``[neurons]``, aligned with ``ids`` (zero for silent neurons).

    Examples:
        >>> rates([1, 1, 2], [1.0, 5.0, 9.0], ids=[1, 2, 3], t_start=0.0, t_stop=1000.0)
        array([2., 1., 0.])
    """
    duration = _check_window(t_start, t_stop)
    ids = _check_ids(ids)
    senders, times = _window(senders, times, t_start, t_stop)
    pos, _ = _positions(senders, ids)
    return _rates(pos, ids.size, duration)


def cv_isi(
    senders: ArrayLike,
    times: ArrayLike,
    ids: ArrayLike,
    t_start: float,
    t_stop: float,
    min_spikes: int = 3,
) -> np.ndarray:
    r"""Coefficient of variation of the inter-spike intervals of each neuron.

    For the :math:`k = n_i - 1` intervals :math:`\tau_j` between the successive spikes of
    neuron :math:`i` in the window,

    .. math::

        \mathrm{CV}_i = \frac{\sigma_\tau}{\bar\tau}, \qquad
        \bar\tau = \frac{1}{k}\sum_j \tau_j, \qquad
        \sigma_\tau^2 = \frac{1}{k}\sum_j (\tau_j - \bar\tau)^2

    (population standard deviation, ``ddof=0``): 0 for a regular train, 1 for Poisson.

    Args:
        senders: global neuron id of each spike, shape ``[spikes]``.
        times: spike times in ms, shape ``[spikes]`` (need not be sorted).
        ids: the neurons of the population, shape ``[neurons]``.
        t_start: start of the window in ms (inclusive).
        t_stop: end of the window in ms (exclusive), ``> t_start``.
        min_spikes: neurons with fewer spikes in the window are omitted; ``>= 2``.

    Returns:
        The CVs of the neurons with at least ``min_spikes`` spikes, in the order of ``ids``;
        shape ``[qualifying neurons]``, possibly empty. Neurons whose intervals are all zero
        (every spike at the same time) are omitted too, as their CV is undefined.

    Examples:
        >>> cv_isi([0, 0, 0], [0.0, 1.0, 4.0], ids=[0], t_start=0.0, t_stop=10.0)
        array([0.5])
    """
    _check_window(t_start, t_stop)
    min_spikes = _check_int("min_spikes", min_spikes, 2)
    ids = _check_ids(ids)
    senders, times = _window(senders, times, t_start, t_stop)
    pos, t = _population_spikes(senders, times, ids)
    return _cv(pos, t, ids.size, min_spikes)


def pearson_correlations(
    senders: ArrayLike,
    times: ArrayLike,
    ids: ArrayLike,
    t_start: float,
    t_stop: float,
    bin_ms: float = 2.0,
    n_neurons: int = 200,
    seed: int = 0,
) -> np.ndarray:
    r"""Pearson correlation coefficients of the binned spike counts of pairs of neurons.

    A subset of ``n_neurons`` ids (drawn without replacement by
    ``np.random.default_rng(seed)`` and sorted; all of ``ids`` if fewer) is binned into
    ``floor((t_stop - t_start) / bin_ms)`` bins of ``bin_ms`` (a trailing partial bin is
    dropped), giving counts :math:`c_i(b)`, and for each distinct pair :math:`i < j`

    .. math::

        r_{ij} = \frac{\mathrm{cov}(c_i, c_j)}{\sqrt{\mathrm{var}(c_i)\,\mathrm{var}(c_j)}}.

    **Pairs in which a neuron has zero variance (e.g. a silent neuron) are dropped**, since
    their coefficient is undefined: the result holds the upper triangle (``k=1``) of
    :func:`numpy.corrcoef` over the neurons with non-zero variance only.

    Args:
        senders: global neuron id of each spike, shape ``[spikes]``.
        times: spike times in ms, shape ``[spikes]``.
        ids: the neurons of the population, shape ``[neurons]``.
        t_start: start of the window in ms (inclusive).
        t_stop: end of the window in ms (exclusive), ``> t_start``.
        bin_ms: bin width in ms, in ``(0, t_stop - t_start]``.
        n_neurons: size of the subset, ``>= 2``.
        seed: seed of the subset draw.

    Returns:
        The coefficients, shape ``[m * (m - 1) / 2]`` for the ``m`` neurons of the subset with
        non-zero count variance, in row-major upper-triangle order (possibly empty).
    """
    duration = _check_window(t_start, t_stop)
    n_bins = _n_bins(duration, bin_ms)
    n_neurons = _check_int("n_neurons", n_neurons, 2)
    ids = _check_ids(ids)
    senders, times = _window(senders, times, t_start, t_stop)
    return _pearson(senders, times, ids, t_start, bin_ms, n_bins, n_neurons, seed)


def fano_factor(
    senders: ArrayLike,
    times: ArrayLike,
    ids: ArrayLike,
    t_start: float,
    t_stop: float,
    bin_ms: float = 10.0,
) -> float:
    r"""Fano factor of the population spike count.

    With :math:`C(b)` the number of spikes of all neurons of ``ids`` in bin :math:`b` of
    ``bin_ms`` (``floor((t_stop - t_start) / bin_ms)`` whole bins; a trailing partial bin is
    dropped),

    .. math::

        F = \frac{\mathrm{var}(C)}{\mathrm{mean}(C)}

    (``ddof=0``): 1 for a Poisson population count, 0 for a constant one, and large for
    synchronous activity.

    Args:
        senders: global neuron id of each spike, shape ``[spikes]``.
        times: spike times in ms, shape ``[spikes]``.
        ids: the neurons of the population, shape ``[neurons]``.
        t_start: start of the window in ms (inclusive).
        t_stop: end of the window in ms (exclusive), ``> t_start``.
        bin_ms: bin width in ms, in ``(0, t_stop - t_start]``.

    Returns:
        The Fano factor, or ``nan`` if the population is silent in the window.
    """
    duration = _check_window(t_start, t_stop)
    n_bins = _n_bins(duration, bin_ms)
    ids = _check_ids(ids)
    senders, times = _window(senders, times, t_start, t_stop)
    _, t = _population_spikes(senders, times, ids)
    return _fano(t, t_start, bin_ms, n_bins)


def _mean_or_none(x: np.ndarray) -> float | None:
    if x.size == 0:
        return None
    m = float(np.mean(x))
    return m if math.isfinite(m) else None


def _check_populations(populations: dict[str, ArrayLike]) -> dict[str, np.ndarray]:
    if not isinstance(populations, dict) or not populations:
        raise ValueError(
            "`populations` must be a non-empty dict {name: ids}; "
            f"got {type(populations).__name__} {populations!r:.80}"
        )
    return {str(k): _check_ids(v, f"populations[{k!r}]") for k, v in populations.items()}


def summary(
    senders: ArrayLike,
    times: ArrayLike,
    populations: dict[str, ArrayLike],
    t_start: float,
    t_stop: float,
) -> dict[str, dict[str, float | None]]:
    """Mean statistics of each population, as plain JSON-serialisable Python values.

    Uses the defaults of the functions above: :func:`cv_isi` with ``min_spikes=3``,
    :func:`pearson_correlations` with ``bin_ms=2``, 200 neurons, ``seed=0``, and
    :func:`fano_factor` with ``bin_ms=10``. The window is applied once and each population's
    spikes are extracted once, so this is cheaper than calling them one by one.

    Args:
        senders: global neuron id of each spike, shape ``[spikes]``.
        times: spike times in ms, shape ``[spikes]``.
        populations: ``{name: ids}`` of each population.
        t_start: start of the window in ms (inclusive).
        t_stop: end of the window in ms (exclusive), ``> t_start``.

    Returns:
        ``{"rates_hz": {pop: mean rate}, "cv_isi": {pop: mean CV}, "correlation": {pop: mean
        Pearson coefficient}, "fano": {pop: Fano factor}}``, with floats, and ``None`` where
        a statistic is undefined (no neuron with 3 spikes, no pair with non-zero variance, a
        silent population, an empty population, a window shorter than a bin).
    """
    duration = _check_window(t_start, t_stop)
    pops = _check_populations(populations)
    senders, times = _window(senders, times, t_start, t_stop)
    corr_bins = math.floor(round(duration / 2.0, 9))
    fano_bins = math.floor(round(duration / 10.0, 9))
    out: dict[str, dict[str, float | None]] = {
        "rates_hz": {},
        "cv_isi": {},
        "correlation": {},
        "fano": {},
    }
    for name, ids in pops.items():
        pos, t = _population_spikes(senders, times, ids)
        out["rates_hz"][name] = _mean_or_none(_rates(pos, ids.size, duration))
        out["cv_isi"][name] = _mean_or_none(_cv(pos, t, ids.size, 3))
        corr = (
            _pearson(senders, times, ids, t_start, 2.0, corr_bins, 200, 0)
            if corr_bins >= 1
            else np.zeros(0)
        )
        out["correlation"][name] = _mean_or_none(corr)
        fano = _fano(t, t_start, 10.0, fano_bins) if fano_bins >= 1 else math.nan
        out["fano"][name] = fano if math.isfinite(fano) else None
    return out
