"""Spike-train statistics against hand-made trains, closed forms and loop references."""

import json

import numpy as np
import pytest

from snnjax.analysis import (
    cv_isi,
    fano_factor,
    pearson_correlations,
    raster_plot,
    rates,
    statistics_figure,
    summary,
)


def _poisson(rng, ids, rate_hz, t_stop):
    """Independent Poisson trains of ``ids`` on ``[0, t_stop)`` ms, time-sorted."""
    counts = rng.poisson(rate_hz * t_stop / 1000.0, size=len(ids))
    senders = np.repeat(np.asarray(ids), counts)
    times = rng.uniform(0.0, t_stop, size=senders.size)
    order = np.argsort(times)
    return senders[order], times[order]


# ----------------------------------------------------------------------------------------------
# rates


def test_rates_exact_with_silent_neurons_and_foreign_senders():
    senders = np.array([5, 7, 5, 5, 99, 7])  # 99 is not in ids
    times = np.array([10.0, 20.0, 30.0, 40.0, 50.0, 60.0])
    ids = np.array([7, 3, 5])  # unsorted, 3 never spikes
    r = rates(senders, times, ids, 0.0, 500.0)
    np.testing.assert_array_equal(r, [4.0, 0.0, 6.0])  # 2, 0, 3 spikes in 0.5 s


def test_rates_non_contiguous_ids():
    senders = np.array([10, 30, 30, 20, 40])
    times = np.arange(5.0)
    r = rates(senders, times, [40, 10, 30], 0.0, 1000.0)
    np.testing.assert_array_equal(r, [1.0, 1.0, 2.0])


def test_rates_contiguous_unsorted_ids_match_loop():
    rng = np.random.default_rng(6)
    ids = rng.permutation(np.arange(10, 60))  # a contiguous range in shuffled order
    senders = rng.integers(0, 70, size=2000)
    times = rng.uniform(0.0, 250.0, size=2000)
    want = [np.count_nonzero(senders == i) * 4.0 for i in ids]
    np.testing.assert_allclose(rates(senders, times, ids, 0.0, 250.0), want)


def test_window_start_inclusive_stop_exclusive():
    senders = np.zeros(5, dtype=np.int64)
    times = np.array([99.9, 100.0, 150.0, 199.99, 200.0])
    r = rates(senders, times, [0], 100.0, 200.0)
    np.testing.assert_allclose(r, [30.0])  # 100.0, 150.0, 199.99 in 0.1 s
    f = fano_factor(senders, times, [0], 100.0, 200.0, bin_ms=50.0)
    assert f == pytest.approx(np.var([2, 1]) / 1.5)  # 99.9 and 200.0 excluded


def test_rates_no_spikes_at_all():
    r = rates([], [], [1, 2, 3], 0.0, 100.0)
    np.testing.assert_array_equal(r, [0.0, 0.0, 0.0])


# ----------------------------------------------------------------------------------------------
# CV of ISIs


def test_cv_regular_train_is_zero():
    times = np.arange(0.0, 1000.0, 12.5)
    cv = cv_isi(np.full(times.size, 3), times, [3], 0.0, 1000.0)
    np.testing.assert_allclose(cv, [0.0], atol=1e-12)


def test_cv_two_isi_train_by_formula():
    # Alternating intervals a, b: mean (a + b) / 2, std |a - b| / 2.
    a, b = 2.0, 6.0
    isis = np.tile([a, b], 10)
    times = np.concatenate([[0.0], np.cumsum(isis)])
    cv = cv_isi(np.zeros(times.size, dtype=int), times, [0], 0.0, 1000.0)
    np.testing.assert_allclose(cv, [abs(a - b) / (a + b)])


def test_cv_poisson_near_one():
    rng = np.random.default_rng(1234)
    times = np.cumsum(rng.exponential(10.0, size=20_000))
    times = times[times < 150_000.0]
    cv = cv_isi(np.zeros(times.size, dtype=int), times, [0], 0.0, 150_000.0)
    assert cv.shape == (1,)
    assert cv[0] == pytest.approx(1.0, abs=0.03)


def test_cv_unsorted_times_min_spikes_and_order():
    # Neuron 4: spikes at 0, 1, 4 (given out of order) -> ISIs 1, 3 -> CV 0.5.
    # Neuron 2: 2 spikes only (omitted with min_spikes=3, kept with 2 -> CV 0).
    # Neuron 9: silent. Neuron 4 has a spike outside the window, which must not count.
    senders = np.array([4, 2, 4, 2, 4, 4])
    times = np.array([4.0, 5.0, 0.0, 7.0, 1.0, 500.0])
    np.testing.assert_allclose(cv_isi(senders, times, [9, 4, 2], 0.0, 100.0), [0.5])
    np.testing.assert_allclose(
        cv_isi(senders, times, [9, 4, 2], 0.0, 100.0, min_spikes=2), [0.5, 0.0]
    )
    assert cv_isi(senders, times, [9], 0.0, 100.0).shape == (0,)


def test_cv_matches_loop_reference():
    rng = np.random.default_rng(7)
    ids = np.arange(100, 140)
    senders, times = _poisson(rng, ids, 30.0, 1000.0)
    got = cv_isi(senders, times, ids, 200.0, 900.0)
    want = []
    for i in ids:
        t = np.sort(times[(senders == i) & (times >= 200.0) & (times < 900.0)])
        if t.size >= 3:
            isi = np.diff(t)
            want.append(isi.std() / isi.mean())
    np.testing.assert_allclose(got, want, rtol=1e-12)


# ----------------------------------------------------------------------------------------------
# Pearson correlations


def test_pearson_identical_trains_are_one():
    rng = np.random.default_rng(3)
    t = np.sort(rng.uniform(0.0, 2000.0, size=300))
    senders = np.concatenate([np.full(t.size, 1), np.full(t.size, 2), np.full(t.size, 3)])
    times = np.concatenate([t, t, t])
    r = pearson_correlations(senders, times, [1, 2, 3], 0.0, 2000.0, bin_ms=5.0)
    assert r.shape == (3,)
    np.testing.assert_allclose(r, 1.0)


def test_pearson_independent_poisson_near_zero():
    rng = np.random.default_rng(11)
    ids = np.arange(50)
    senders, times = _poisson(rng, ids, 20.0, 20_000.0)
    r = pearson_correlations(senders, times, ids, 0.0, 20_000.0, bin_ms=5.0)
    assert r.shape == (50 * 49 // 2,)
    assert abs(r.mean()) < 0.005
    assert np.abs(r).max() < 0.1


def test_pearson_matches_loop_reference_and_drops_silent():
    rng = np.random.default_rng(5)
    ids = np.array([8, 3, 12, 20, 6, 15])  # 20 stays silent -> dropped
    senders, times = _poisson(rng, ids[ids != 20], 40.0, 500.0)
    common = np.sort(rng.uniform(0.0, 500.0, size=15))  # shared spikes: positive correlations
    senders = np.concatenate([senders, np.repeat([3, 12], common.size)])
    times = np.concatenate([times, np.tile(common, 2)])
    got = pearson_correlations(senders, times, ids, 0.0, 500.0, bin_ms=4.0, n_neurons=10)

    kept = [i for i in sorted(ids) if i != 20]
    counts = np.zeros((len(kept), 125))
    for row, i in enumerate(kept):
        for t in times[senders == i]:
            counts[row, int(t // 4.0)] += 1
    want = []
    for a in range(len(kept)):
        for b in range(a + 1, len(kept)):
            want.append(np.corrcoef(counts[a], counts[b])[0, 1])
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_pearson_subset_is_seeded():
    rng = np.random.default_rng(2)
    ids = np.arange(300)
    senders, times = _poisson(rng, ids, 20.0, 1000.0)
    a = pearson_correlations(senders, times, ids, 0.0, 1000.0, n_neurons=20, seed=1)
    b = pearson_correlations(senders, times, ids, 0.0, 1000.0, n_neurons=20, seed=1)
    c = pearson_correlations(senders, times, ids, 0.0, 1000.0, n_neurons=20, seed=2)
    assert a.shape == (190,)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_pearson_all_silent_is_empty():
    assert pearson_correlations([], [], [1, 2, 3], 0.0, 100.0).shape == (0,)


# ----------------------------------------------------------------------------------------------
# Fano factor


def test_fano_poisson_near_one():
    rng = np.random.default_rng(9)
    ids = np.arange(200)
    senders, times = _poisson(rng, ids, 10.0, 50_000.0)
    f = fano_factor(senders, times, ids, 0.0, 50_000.0, bin_ms=10.0)
    assert f == pytest.approx(1.0, abs=0.06)


def test_fano_regular_constant_counts_is_zero():
    # 4 neurons, each firing regularly every 5 ms, phase-shifted: 8 spikes in every 10 ms bin.
    ids = np.arange(4)
    times = np.concatenate([np.arange(0.5 + k, 1000.0, 5.0) for k in range(4)])
    senders = np.repeat(ids, times.size // 4)
    assert fano_factor(senders, times, ids, 0.0, 1000.0, bin_ms=10.0) == 0.0


def test_fano_silent_is_nan_and_partial_bin_dropped():
    assert np.isnan(fano_factor([], [], [0, 1], 0.0, 100.0))
    # Window 25 ms in 10 ms bins: two whole bins; the spike at 22 ms is in the dropped one.
    f = fano_factor([0, 0, 0, 0], [1.0, 2.0, 15.0, 22.0], [0], 0.0, 25.0, bin_ms=10.0)
    assert f == pytest.approx(np.var([2, 1]) / 1.5)


# ----------------------------------------------------------------------------------------------
# summary


def test_summary_keys_values_and_json():
    rng = np.random.default_rng(4)
    pops = {"E": np.arange(1, 81), "I": np.arange(81, 101), "silent": np.arange(101, 111)}
    senders, times = _poisson(rng, np.arange(1, 101), 15.0, 2000.0)
    s = summary(senders, times, pops, 0.0, 2000.0)
    assert set(s) == {"rates_hz", "cv_isi", "correlation", "fano"}
    for stat in s.values():
        assert set(stat) == set(pops)
    json.dumps(s, allow_nan=False)
    assert s["rates_hz"]["E"] == pytest.approx(rates(senders, times, pops["E"], 0, 2000).mean())
    assert s["rates_hz"]["silent"] == 0.0
    assert s["cv_isi"]["silent"] is None
    assert s["correlation"]["silent"] is None
    assert s["fano"]["silent"] is None
    assert s["cv_isi"]["E"] == pytest.approx(cv_isi(senders, times, pops["E"], 0.0, 2000.0).mean())
    assert s["correlation"]["I"] == pytest.approx(
        pearson_correlations(senders, times, pops["I"], 0.0, 2000.0).mean()
    )
    assert s["fano"]["E"] == pytest.approx(fano_factor(senders, times, pops["E"], 0.0, 2000.0))
    assert all(type(v) is float for v in s["rates_hz"].values())


# ----------------------------------------------------------------------------------------------
# plots


def _png_ok(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 1000


def test_raster_plot_writes_png(tmp_path):
    rng = np.random.default_rng(0)
    pops = {"E": np.arange(1, 401), "I": np.arange(401, 501), "empty": np.arange(0)}
    senders, times = _poisson(rng, np.arange(1, 501), 10.0, 500.0)
    raster_plot(senders, times, pops, tmp_path / "raster.png", 0.0, 500.0, title="test")
    _png_ok(tmp_path / "raster.png")
    raster_plot(senders, times, {"E": pops["E"]}, tmp_path / "one.png", 100.0, 300.0)
    _png_ok(tmp_path / "one.png")


def test_statistics_figure_writes_png(tmp_path):
    rng = np.random.default_rng(1)
    pops = {"L23E": np.arange(1, 201), "L23I": np.arange(201, 251), "quiet": np.arange(251, 260)}
    senders, times = _poisson(rng, np.arange(1, 251), 8.0, 2000.0)
    # "quiet": one neuron with a single spike -> all rates equal except one, no CV, no pairs.
    senders = np.append(senders, 255)
    times = np.append(times, 3.0)
    statistics_figure(
        senders,
        times,
        pops,
        tmp_path / "stats.png",
        0.0,
        2000.0,
        reference_rates={"L23E": 0.9, "L23I": 2.8},
    )
    _png_ok(tmp_path / "stats.png")
    statistics_figure(senders, times, {"L23E": pops["L23E"]}, tmp_path / "one.png", 0.0, 2000.0)
    _png_ok(tmp_path / "one.png")


# ----------------------------------------------------------------------------------------------
# argument checks


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: rates([1], [1.0], [1], 10.0, 10.0), "`t_stop`"),
        (lambda: rates([1], [1.0], [1], 10.0, 5.0), "`t_stop`"),
        (lambda: rates([1], [1.0], [1], float("nan"), 5.0), "`t_start`"),
        (lambda: rates([1, 2], [1.0], [1], 0.0, 5.0), "`times`"),
        (lambda: rates([1.5], [1.0], [1], 0.0, 5.0), "`senders`"),
        (lambda: rates([[1]], [[1.0]], [1], 0.0, 5.0), "`senders`"),
        (lambda: rates([1], [1.0], [1, 1], 0.0, 5.0), "`ids`"),
        (lambda: cv_isi([1], [1.0], [1], 0.0, 5.0, min_spikes=1), "`min_spikes`"),
        (lambda: cv_isi([1], [1.0], [1], 0.0, 5.0, min_spikes=2.5), "`min_spikes`"),
        (lambda: pearson_correlations([1], [1.0], [1], 0.0, 5.0, bin_ms=0.0), "`bin_ms`"),
        (lambda: pearson_correlations([1], [1.0], [1], 0.0, 5.0, bin_ms=6.0), "`bin_ms`"),
        (lambda: pearson_correlations([1], [1.0], [1], 0.0, 5.0, n_neurons=1), "`n_neurons`"),
        (lambda: fano_factor([1], [1.0], [1], 0.0, 5.0, bin_ms=-1.0), "`bin_ms`"),
        (lambda: summary([1], [1.0], {}, 0.0, 5.0), "`populations`"),
        (lambda: summary([1], [1.0], {"E": [1, 1]}, 0.0, 5.0), "populations"),
    ],
)
def test_bad_arguments_raise(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_plot_bad_arguments_raise(tmp_path):
    path = tmp_path / "x.png"
    pops = {"E": [1, 2]}
    with pytest.raises(ValueError, match="`max_neurons`"):
        raster_plot([1], [1.0], pops, path, 0.0, 10.0, max_neurons=0)
    with pytest.raises(ValueError, match="`t_stop`"):
        raster_plot([1], [1.0], pops, path, 0.0, -1.0)
    with pytest.raises(ValueError, match="`reference_rates`"):
        statistics_figure([1], [1.0], pops, path, 0.0, 10.0, reference_rates={"I": 1.0})
    with pytest.raises(ValueError, match="reference_rates"):
        statistics_figure([1], [1.0], pops, path, 0.0, 10.0, reference_rates={"E": -1.0})
    assert not path.exists()
