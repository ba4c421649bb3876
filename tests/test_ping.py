"""The coupled PING assemblies: parameters, the connectivity rules (no E -> E inside an
assembly, intra-assembly densities, the out-projecting cells), the gamma rhythm, the script's
summary, the same spikes on 2 devices (``placement=block``) as on 1, the spectrum helper, and
(opt-in, ``-m peers``) the same builder on NEST 3.10 with both inter-assembly rules.

One network (4 assemblies x 40 cells, 100 ms warm-up + 400 ms) is simulated twice, at the
same time: in this process (1 device; its synapses are then read with ``GetConnections``)
and by ``simulation/ping.py --devices 2 --placement block`` in a subprocess: about 40 s on
2 cores, nearly all of it compiling (the HH step, and one XLA compile per ``Connect`` and
shard).
"""

import dataclasses
import json
import math
import pathlib
import re
import runpy
import subprocess
import sys

import numpy as np
import pytest

import snnjax.sim
from snnjax.networks import (
    PingParams,
    RunSettings,
    build_ping,
    load_config,
    ping_derived,
    rate_spectrum,
    simulate_network,
)

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "simulation" / "ping.py"
SMALL = PingParams(n_assemblies=4, cells=40)
RUN = RunSettings(simtime=400.0, presim=100.0, seed=1)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """The small network on 1 device (in process) and on 2 devices (the script)."""
    tmp = tmp_path_factory.mktemp("ping")
    args = [sys.executable, str(SCRIPT), "--assemblies", "4", "--cells", "40",
            "--simtime", "400", "--presim", "100", "--seed", "1", "--devices", "2",
            "--placement", "block", "--out", str(tmp / "two.json"),
            "--spikes-out", str(tmp / "two.npz")]  # fmt: skip
    proc = subprocess.Popen(args, cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    try:
        nest = snnjax.sim
        res = simulate_network(nest, build_ping, SMALL, RUN)
        cells = res["net"]["populations"]["E"] + res["net"]["populations"]["I"]
        conns = nest.GetConnections(cells, cells)
        synapses = {k: np.asarray(conns.get(k)) for k in ("source", "target", "weight", "delay")}
        out, err = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert proc.returncode == 0, err[-3000:]
    return {
        "res": res,
        "synapses": synapses,
        "stdout": out,
        "two": json.loads((tmp / "two.json").read_text()),
        "two_spikes": np.load(tmp / "two.npz"),
        "png": tmp / "two.png",
    }


# ---------------------------------------------------------------------------------------------
# Parameters


def test_ping_derived():
    d = ping_derived(PingParams())
    assert (d.NE, d.NI, d.n_out_E, d.n_out_I) == (80, 20, 8, 2)
    assert (d.w_EI, d.w_IE, d.w_II) == (0.5, -4.0, -2.0)
    # 8 x (0.5 (2 NE NI + NI (NI - 1)) + (8 + 2) x 3)
    assert d.n_synapses_expected == 8 * (0.5 * (2 * 80 * 20 + 20 * 19) + 10 * 3)
    s = ping_derived(SMALL)
    assert (s.NE, s.NI, s.n_out_E, s.n_out_I) == (32, 8, 3, 1)
    # weights scaled by 100 / cells: the same summed input per cell
    assert (s.w_EI, s.w_IE, s.w_II) == pytest.approx((1.25, -10.0, -5.0))
    assert ping_derived(PingParams(n_assemblies=1, cells=40)).n_synapses_expected == 284


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_assemblies": 0}, r"`n_assemblies` must be an int >= 1; got 0"),
        ({"cells": 2.5}, r"`cells` must be an int >= 2; got 2.5"),
        ({"out_rule": "fixed_indegree"}, r"`out_rule` must be one of 'pairwise_bernoulli', "),
        ({"n_assemblies": 2, "cells": 2, "outdegree": 3}, r"`outdegree` must be at most .* \(2\)"),
        ({"p_intra": 1.5}, r"`p_intra` must lie in \[0, 1\]"),
        ({"w_IE": 4.0}, r"`w_IE` must lie in \(-inf, 0\]"),
        ({"frac_exc": 1.0}, r"`frac_exc` \* `cells` must round to 1 .. cells - 1 E cells"),
        ({"delay": 0.0}, r"`delay` must lie in \(0, inf\)"),
    ],
)
def test_ping_params_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PingParams(**kwargs)


def test_config_gives_the_defaults():
    params, run = load_config(ROOT / "configs" / "ping.yaml", PingParams)
    assert params == PingParams()
    assert run == RunSettings(simtime=1000.0, presim=100.0, resolution=0.1, seed=1)


def test_rate_spectrum_finds_a_40_hz_rhythm():
    rng = np.random.default_rng(0)
    cycles = np.arange(5.0, 500.0, 25.0)  # 40 Hz volleys of 20 cells, 2 ms jitter
    times = np.concatenate([c + rng.normal(0.0, 2.0, 20) for c in cycles])
    senders = np.tile(np.arange(1, 21), len(cycles))
    got = rate_spectrum(senders, times, np.arange(1, 21), 0.0, 500.0)
    assert got["peak_hz"] == 40.0 and got["resolution_hz"] == 2.0
    assert got["power_fraction"] > 0.5
    none = rate_spectrum([], [], np.arange(1, 21), 0.0, 500.0)
    assert math.isnan(none["peak_hz"]) and math.isnan(none["power_fraction"])


# ---------------------------------------------------------------------------------------------
# The built network


def test_connectivity_rules(small):
    syn, net = small["synapses"], small["res"]["net"]
    d = ping_derived(SMALL)
    src, tgt = syn["source"], syn["target"]
    n = SMALL.n_assemblies * SMALL.cells
    assembly_of = np.zeros(n + 1, np.int64)
    is_e = np.zeros(n + 1, bool)
    for a, asm in enumerate(net["assemblies"]):
        assembly_of[asm["E"].tolist() + asm["I"].tolist()] = a
        is_e[asm["E"].tolist()] = True
    # the assemblies are contiguous blocks of ids, E first
    ids = np.arange(1, n + 1)
    np.testing.assert_array_equal(assembly_of[1:], (ids - 1) // SMALL.cells)
    np.testing.assert_array_equal(is_e[1:], (ids - 1) % SMALL.cells < d.NE)
    np.testing.assert_allclose(syn["delay"], 1.0)
    assert not np.any(src == tgt)

    inside = assembly_of[src] == assembly_of[tgt]
    # no E -> E inside an assembly
    assert not np.any(inside & is_e[src] & is_e[tgt])
    asm0 = net["assemblies"][0]["E"]
    assert len(snnjax.sim.GetConnections(asm0, asm0)) == 0
    # E -> I, I -> E, I -> I densities ~ p_intra (pooled over the assemblies)
    for pre_e, post_e, pairs, w in ((True, False, d.NE * d.NI, d.w_EI),
                                    (False, True, d.NI * d.NE, d.w_IE),
                                    (False, False, d.NI * (d.NI - 1), d.w_II)):  # fmt: skip
        sel = inside & (is_e[src] == pre_e) & (is_e[tgt] == post_e)
        np.testing.assert_allclose(syn["weight"][sel], w, rtol=1e-6)
        total = SMALL.n_assemblies * pairs
        sd = math.sqrt(total * 0.25)
        assert abs(sel.sum() - 0.5 * total) < 4 * sd, (pre_e, post_e, sel.sum(), total)

    # out of the assemblies: exactly the first 10 % of the E and of the I cells project
    out_src = np.unique(src[~inside])
    expected = np.concatenate([np.asarray(s.tolist()) for s in net["out_sources"]])
    assert len(expected) == SMALL.n_assemblies * (d.n_out_E + d.n_out_I) == 16
    assert set(out_src) <= set(expected.tolist()) and len(out_src) >= 12
    assert len(expected) / n == pytest.approx(0.1)
    n_out = (~inside).sum()  # ~ Binomial(16 x 120, 3 / 120): mean 48
    assert abs(n_out - 48) < 4 * math.sqrt(48), n_out
    np.testing.assert_allclose(syn["weight"][~inside & is_e[src]], d.w_EI, rtol=1e-6)
    np.testing.assert_allclose(syn["weight"][~inside & ~is_e[src]], d.w_IE, rtol=1e-6)
    assert abs(len(src) - d.n_synapses_expected) < 4 * math.sqrt(d.n_synapses_expected)


# ---------------------------------------------------------------------------------------------
# Activity, the script, devices


def test_gamma_rhythm_and_the_script_summary(small):
    res, two = small["res"], small["two"]
    e_ids = res["ids"]["E"]
    got = rate_spectrum(res["senders"], res["times"], e_ids, 100.0, 500.0)
    # measured (seed 1): 35 Hz, power fraction 0.80; seeds 2, 3: 35, 37.5 Hz
    assert 25.0 <= got["peak_hz"] <= 45.0 and got["power_fraction"] > 0.3, got
    assert two["gamma_peak_hz"] == got["peak_hz"]
    assert two["gamma_power_fraction"] == pytest.approx(got["power_fraction"])
    assert two["gamma_resolution_hz"] == 2.5
    assert len(two["gamma_assembly_peaks_hz"]) == 4
    assert all(25.0 <= f <= 45.0 for f in two["gamma_assembly_peaks_hz"])
    assert "E rate spectral peak 35.0 Hz" in small["stdout"]
    # E and I fire about once per cycle
    for pop in ("E", "I"):
        assert 20.0 < two["rates_hz"][pop] < 50.0, two["rates_hz"]
    assert two["n_neurons"] == 160 and two["params"]["out_rule"] == "pairwise_bernoulli"
    assert abs(two["n_synapses"] - two["n_synapses_expected"]) < 4 * math.sqrt(1184)
    shards = two["shards"]
    assert (shards["shards"], shards["placement"]) == (2, "block")
    assert shards["neurons_per_shard"] == [80, 80]
    assert shards["load_imbalance"] < 1.2 and shards["payload_bytes_per_step"] > 0
    assert small["png"].stat().st_size > 0


def test_same_spikes_on_two_devices_with_block_placement(small):
    res, two = small["res"], small["two_spikes"]
    assert len(res["times"]) > 1000
    one = np.lexsort((res["senders"], res["times"]))
    other = np.lexsort((two["senders"], two["times"]))
    np.testing.assert_array_equal(two["times"][other], res["times"][one])
    np.testing.assert_array_equal(two["senders"][other], res["senders"][one])


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--cells", "1"], r"`cells` must be an int >= 2; got 1"),
        (["--assemblies", "x"], "argument --assemblies: invalid int value: 'x'"),
    ],
)
def test_script_bad_arguments_give_a_usage_error(args, match, capsys):
    main = runpy.run_path(str(SCRIPT))["main"]
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "usage:" in err and re.search(match, err), err


# ---------------------------------------------------------------------------------------------
# On NEST 3.10 (opt-in: ``pytest -m peers``)


@pytest.mark.peers
@pytest.mark.parametrize("out_rule", ["pairwise_bernoulli", "fixed_outdegree"])
def test_builder_on_nest(out_rule):
    """The same builder through PyNEST: no E -> E inside an assembly, with
    ``fixed_outdegree`` exactly 3 targets per out-projecting cell, and the E rate's peak in
    the gamma band (measured with ``fixed_outdegree``, seeds 1 and 2: 35 Hz, as snnjax)."""
    nest = pytest.importorskip("nest")
    params = PingParams(n_assemblies=4, cells=40, out_rule=out_rule)
    res = simulate_network(nest, build_ping, params, dataclasses.replace(RUN, backend="nest"))
    net = res["net"]
    cells = net["populations"]["E"] + net["populations"]["I"]
    conns = nest.GetConnections(cells, cells)  # not the spike recorders
    src, tgt = np.asarray(conns.get("source")), np.asarray(conns.get("target"))
    asm = (np.concatenate([src, tgt]) - 1) // params.cells
    inside = asm[: len(src)] == asm[len(src) :]
    is_e = (src - 1) % params.cells < 32
    assert not np.any(inside & is_e & ((tgt - 1) % params.cells < 32))
    out = np.concatenate([np.asarray(s.tolist()) for s in net["out_sources"]])
    counts = np.array([np.sum(src[~inside] == s) for s in out])
    if out_rule == "fixed_outdegree":
        np.testing.assert_array_equal(counts, 3)
    got = rate_spectrum(res["senders"], res["times"], res["ids"]["E"], 100.0, 500.0)
    assert 25.0 <= got["peak_hz"] <= 45.0, got
