"""The reference networks (Brunel 2000, Potjans & Diesmann 2014): parameter tables, derived
quantities against hand computations, validation, configs, the builders' calls on a recording
stub of ``nest``, the run plumbing on that stub, and (opt-in, ``-m peers``) the scripts on NEST.
"""

import dataclasses
import json
import math
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from snnjax.networks import (
    PD14_CONN_PROBS,
    PD14_FULL_NUM_NEURONS,
    PD14_K_EXT,
    PD14_POPULATIONS,
    PD14_RATES_HZ,
    PD14_V0_OPTIMIZED_MEAN,
    PD14_V0_OPTIMIZED_STD,
    BrunelParams,
    MicrocircuitParams,
    RunSettings,
    brunel_derived,
    build_brunel,
    build_microcircuit,
    cli,
    load_config,
    make_parser,
    microcircuit_derived,
    psc_over_psp_alpha,
    psc_over_psp_exp,
    run_network,
)

ROOT = pathlib.Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------------------------
# A stub of the PyNEST subset that records every call.


class FakeNodes:
    def __init__(self, owner, ids, model):
        self.owner, self.ids, self.model = owner, list(ids), model

    def __len__(self):
        return len(self.ids)

    def __add__(self, other):
        return FakeNodes(self.owner, self.ids + other.ids, self.model)

    def __getitem__(self, key):
        ids = self.ids[key]
        return FakeNodes(self.owner, ids if isinstance(ids, list) else [ids], self.model)

    def tolist(self):
        return list(self.ids)

    def set(self, params=None, **kwargs):
        self.owner.calls.append(("set", self, {**(params or {}), **kwargs}))

    def get(self, key):
        assert key == "events"
        senders = [i for i in self.owner.spiking if i in self.owner.watched(self)]
        return {
            "senders": np.array(senders, dtype=np.int64),
            "times": np.linspace(1.0, self.owner.t_run - 0.1, len(senders)),
        }


class FakeNest:
    resolution = 0.1

    def __init__(self, spiking=()):
        self.calls, self.next_id, self.spiking, self.t_run = [], 1, list(spiking), 0.0
        self.random = type("R", (), {"normal": staticmethod(lambda **kw: ("normal", kw))})
        self.math = type(
            "M", (), {"redraw": staticmethod(lambda dist, min, max: ("redraw", dist, min, max))}
        )

    def Create(self, model, n=1, params=None):
        nodes = FakeNodes(self, range(self.next_id, self.next_id + n), model)
        self.next_id += n
        self.calls.append(("Create", model, n, params))
        return nodes

    def CopyModel(self, old, new, params):
        self.calls.append(("CopyModel", old, new, params))

    def Connect(self, pre, post, conn_spec=None, syn_spec=None):
        self.calls.append(("Connect", pre, post, conn_spec, syn_spec))

    def watched(self, rec):
        return {i for c in self.of("Connect") if c[2].ids == rec.ids for i in c[1].ids}

    def of(self, kind):
        return [c for c in self.calls if c[0] == kind]

    # kernel calls used by run_network
    def ResetKernel(self):
        self.calls.append(("ResetKernel",))

    def SetKernelStatus(self, status):
        self.calls.append(("SetKernelStatus", status))

    def Prepare(self):
        self.calls.append(("Prepare",))

    def Run(self, t):
        self.t_run = t
        self.calls.append(("Run", t))

    def Cleanup(self):
        self.calls.append(("Cleanup",))

    def Rank(self):
        return 0

    def GetKernelStatus(self, key):
        assert key == "num_connections"
        return sum(len(c[1]) * len(c[2]) for c in self.of("Connect"))  # all_to_all upper bound


# ---------------------------------------------------------------------------------------------
# PSP -> PSC conversion


def _numeric_peak(kernel, C_m, tau_m, tau_syn):
    """Peak of V for a unit-amplitude PSC by quadrature of the convolution on a fine grid:
    V(t) = (1/C) int_0^t i(s) exp(-(t-s)/tau_m) ds."""
    h = 1e-4
    t = np.arange(0.0, 30.0, h)
    v = h / C_m * np.exp(-t / tau_m) * np.cumsum(kernel(t, tau_syn) * np.exp(t / tau_m))
    return v.max()


def test_psc_over_psp_matches_published_value_and_a_numeric_peak():
    assert psc_over_psp_exp(250.0, 10.0, 0.5) * 0.15 == pytest.approx(87.8, abs=0.01)
    exp_kernel = lambda t, ts: np.exp(-t / ts)  # noqa: E731
    alpha_kernel = lambda t, ts: np.e / ts * t * np.exp(-t / ts)  # noqa: E731
    for C_m, tau_m, tau_syn in ((250.0, 10.0, 0.5), (250.0, 20.0, 0.5), (1.0, 20.0, 2.0)):
        peak = _numeric_peak(exp_kernel, C_m, tau_m, tau_syn)
        assert 1.0 / psc_over_psp_exp(C_m, tau_m, tau_syn) == pytest.approx(peak, rel=1e-3)
        peak = _numeric_peak(alpha_kernel, C_m, tau_m, tau_syn)
        assert 1.0 / psc_over_psp_alpha(C_m, tau_m, tau_syn) == pytest.approx(peak, rel=1e-3)


def test_psc_over_psp_rejects_equal_time_constants():
    with pytest.raises(ValueError, match="`tau_syn` must differ from `tau_m`"):
        psc_over_psp_exp(250.0, 10.0, 10.0)


# ---------------------------------------------------------------------------------------------
# Brunel


def test_brunel_derived_delta_and_exp():
    d = brunel_derived(BrunelParams())
    assert (d.NE, d.NI, d.CE, d.CI) == (10000, 2500, 1000, 250)
    assert (d.J_ex, d.J_in) == (0.1, -0.5)
    # nu_th = theta / (J CE tau_m) = 20 / (0.1 * 1000 * 20) = 0.01 / ms; p_rate = 1000*2*0.01*CE
    assert d.nu_th == pytest.approx(0.01)
    assert d.p_rate == pytest.approx(20000.0)
    assert d.neuron_params == {
        "C_m": 1.0,
        "tau_m": 20.0,
        "t_ref": 2.0,
        "E_L": 0.0,
        "V_reset": 0.0,
        "V_m": 0.0,
        "V_th": 20.0,
    }

    e = brunel_derived(BrunelParams(model="iaf_psc_exp", order=100))
    factor = psc_over_psp_exp(250.0, 20.0, 0.5)
    assert e.J_ex == pytest.approx(0.1 * factor)
    assert e.J_in == pytest.approx(-5.0 * 0.1 * factor)
    # the mean drive of one input at nu_th equals theta: nu_th CE J_ex tau_s tau_m / C_m = 20
    assert e.nu_th * e.CE * e.J_ex * 0.5 * 20.0 / 250.0 == pytest.approx(20.0)
    assert e.neuron_params["C_m"] == 250.0 and e.neuron_params["tau_syn_ex"] == 0.5

    a = brunel_derived(BrunelParams(model="iaf_psc_alpha", order=100))
    assert a.nu_th * a.CE * a.J_ex * math.e * 0.5 * 20.0 / 250.0 == pytest.approx(20.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"model": "iaf_cond_exp"}, r"`model` must be one of 'iaf_psc_delta', 'iaf_psc_exp'"),
        ({"order": 0}, r"`order` must be a positive int"),
        ({"order": 2.5}, r"`order` must be a positive int"),
        ({"epsilon": 0.0}, r"`epsilon` must lie in \(0, 1\]"),
        ({"g": -1.0}, r"`g` must lie in \[0, inf\)"),
        ({"V_reset": 25.0}, r"`V_reset` must lie in \(-inf, 20\)"),
        ({"order": 5}, r"`order` \* `epsilon` must be >= 1"),
        ({"C_m": 0.0}, r"`C_m` must lie in \(0, inf\)"),
    ],
)
def test_brunel_params_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BrunelParams(**kwargs)


@pytest.mark.parametrize("model", ["iaf_psc_delta", "iaf_psc_exp"])
def test_build_brunel_calls(model):
    nest = FakeNest()
    params = BrunelParams(order=10, model=model)
    d = brunel_derived(params)
    net = build_brunel(nest, params)

    creates = nest.of("Create")
    assert [(c[1], c[2]) for c in creates] == [
        (model, 40),
        (model, 10),
        ("poisson_generator", 1),
        ("spike_recorder", 1),
        ("spike_recorder", 1),
    ]
    assert creates[0][3] == creates[1][3] == d.neuron_params
    assert creates[2][3] == {"rate": pytest.approx(d.p_rate)}
    assert nest.of("CopyModel") == [
        ("CopyModel", "static_synapse", "excitatory", {"weight": d.J_ex, "delay": 1.5}),
        ("CopyModel", "static_synapse", "inhibitory", {"weight": d.J_in, "delay": 1.5}),
    ]
    exc, inh = net["populations"]["E"].ids, net["populations"]["I"].ids
    conns = [(c[1].ids, c[2].ids, c[3], c[4]) for c in nest.of("Connect")]
    noise, rec_e, rec_i = [1 + 50], [52], [53]
    assert conns == [
        (noise, exc, None, "excitatory"),
        (noise, inh, None, "excitatory"),
        (exc, rec_e, None, None),
        (inh, rec_i, None, None),
        (exc, exc + inh, {"rule": "fixed_indegree", "indegree": 4}, "excitatory"),
        (inh, exc + inh, {"rule": "fixed_indegree", "indegree": 1}, "inhibitory"),
    ]
    assert net["recorders"]["E"].ids == rec_e and net["recorders"]["I"].ids == rec_i
    assert net["n_device_connections"] == 100
    assert net["n_synapses_expected"] == 50 * 5


# ---------------------------------------------------------------------------------------------
# Microcircuit tables and derived quantities


def test_microcircuit_tables():
    assert PD14_POPULATIONS == ("L23E", "L23I", "L4E", "L4I", "L5E", "L5I", "L6E", "L6I")
    assert tuple(PD14_RATES_HZ) == PD14_POPULATIONS
    assert PD14_FULL_NUM_NEURONS.tolist() == [20683, 5834, 21915, 5479, 4850, 1065, 14395, 2948]
    assert PD14_FULL_NUM_NEURONS.sum() == 77169
    assert PD14_K_EXT.tolist() == [1600, 1500, 2100, 1900, 2000, 1900, 2900, 2100]
    assert PD14_CONN_PROBS.shape == (8, 8)
    np.testing.assert_allclose(
        PD14_CONN_PROBS.sum(axis=1),
        [0.4352, 0.4345, 0.2506, 0.4201, 0.6949, 0.494, 0.4016, 0.2871],
        atol=1e-12,
    )
    # no input from L5I / L6I into L2/3, from L6I outside L6 (the zeros of the table)
    assert np.count_nonzero(PD14_CONN_PROBS == 0) == 9
    assert PD14_V0_OPTIMIZED_MEAN.shape == PD14_V0_OPTIMIZED_STD.shape == (8,)
    with pytest.raises(ValueError, match="read-only"):
        PD14_CONN_PROBS[0, 0] = 1.0


def test_microcircuit_synapse_numbers_match_nest_formula():
    d = microcircuit_derived(MicrocircuitParams())
    # L23E -> L23E: ln(1 - 0.1009) / ln((N^2 - 1) / N^2), N = 20683
    n = 20683 * 20683
    assert d.full_num_synapses[0, 0] == pytest.approx(math.log(0.8991) / math.log((n - 1) / n))
    assert d.num_synapses[0, 0] == 45_499_805
    # L5I -> L5E (target L5E = row 4, source L5I = column 5): p = 0.3726, 4850 x 1065 pairs
    n = 4850 * 1065
    assert d.full_num_synapses[4, 5] == pytest.approx(math.log(1 - 0.3726) / math.log((n - 1) / n))
    assert d.num_synapses[4, 5] == 2_407_889
    assert d.num_synapses.sum() == 298_880_968
    assert d.num_neurons.tolist() == PD14_FULL_NUM_NEURONS.tolist()
    assert d.ext_indegrees.tolist() == PD14_K_EXT.tolist()
    # weights: 0.15 mV -> 87.8 pA, inhibitory g = -4, L4E -> L23E doubled; no DC at k_scale = 1
    assert d.weight_ext == pytest.approx(87.81, abs=0.01)
    assert d.weight_matrix_mean[1, 0] == pytest.approx(d.weight_ext)
    assert d.weight_matrix_mean[1, 1] == pytest.approx(-4 * d.weight_ext)
    assert d.weight_matrix_mean[0, 2] == pytest.approx(2 * d.weight_ext)
    np.testing.assert_array_equal(d.dc_amp, 0.0)
    np.testing.assert_array_equal(d.delay_matrix_mean[:, 0::2], 1.5)
    np.testing.assert_array_equal(d.delay_matrix_mean[:, 1::2], 0.75)


def test_microcircuit_scaling_and_dc_compensation_by_hand():
    k = 0.1
    d = microcircuit_derived(MicrocircuitParams(scale=0.1, k_scale=k))
    full = microcircuit_derived(MicrocircuitParams())
    assert d.num_neurons.tolist() == [2068, 583, 2192, 548, 485, 106, 1440, 295]
    assert d.ext_indegrees.tolist() == [160, 150, 210, 190, 200, 190, 290, 210]
    assert d.num_synapses[0, 0] == round(45_499_804.888 * 0.1 * 0.1)
    np.testing.assert_allclose(d.weight_matrix_mean, full.weight_matrix_mean / math.sqrt(k))
    assert d.weight_ext == pytest.approx(full.weight_ext / math.sqrt(k))

    # L6E (index 6) by hand: mean input of the full network times tau_syn (1 - sqrt(k)).
    w_e = 0.15 * psc_over_psp_exp(250.0, 10.0, 0.5)
    rates = [0.903, 2.965, 4.414, 5.876, 7.569, 8.633, 1.105, 7.829]
    sizes = [20683, 5834, 21915, 5479, 4850, 1065, 14395, 2948]
    probs = [0.0156, 0.0066, 0.0211, 0.0166, 0.0572, 0.0197, 0.0396, 0.2252]
    rec = 0.0
    for j in range(8):
        n = 14395 * sizes[j]
        K = math.log(1 - probs[j]) / math.log((n - 1) / n)
        w = w_e if j % 2 == 0 else -4 * w_e
        rec += w * K / 14395 * rates[j]
    ext = w_e * 2900 * 8.0
    expected = 0.001 * 0.5 * (1 - math.sqrt(k)) * (rec + ext)
    assert d.dc_amp[6] == pytest.approx(expected, rel=1e-10)

    # without Poisson input the background is a DC: bg K_ext w tau_s, plus the same recurrent part
    dc = microcircuit_derived(MicrocircuitParams(k_scale=k, poisson_input=False))
    expected = 8.0 * 2900 * w_e * 0.5 * 0.001 + 0.001 * 0.5 * (1 - math.sqrt(k)) * rec
    assert dc.dc_amp[6] == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"scale": 0.0}, r"`scale` must lie in \(0, 1\]"),
        ({"scale": 1.5}, r"`scale` must lie in \(0, 1\]"),
        ({"k_scale": 0.0}, r"`k_scale` must lie in \(0, 1\]"),
        ({"k_scale": 2.0}, r"`k_scale` must lie in \(0, 1\]"),
        ({"V0_type": "uniform"}, r"`V0_type` must be one of 'optimized', 'original'"),
        ({"poisson_input": "yes"}, r"`poisson_input` must be True or False"),
        ({"g": 4.0}, r"`g` must lie in \(-inf, 0\)"),
        ({"scale": 1e-4}, r"`scale` = 0.0001 leaves populations \['L5E', 'L5I', 'L6I'\]"),
    ],
)
def test_microcircuit_params_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MicrocircuitParams(**kwargs)


def test_build_microcircuit_calls():
    nest = FakeNest()
    params = MicrocircuitParams(scale=0.01, k_scale=0.1, V0_type="optimized")
    d = microcircuit_derived(params)
    net = build_microcircuit(nest, params)

    creates = nest.of("Create")
    assert [(c[1], c[2]) for c in creates[:8]] == [
        ("iaf_psc_exp", n) for n in d.num_neurons.tolist()
    ]
    assert (creates[8][1], creates[8][2]) == ("spike_recorder", 8)
    assert (creates[9][1], creates[9][2]) == ("poisson_generator", 8)
    assert creates[9][3]["rate"] == pytest.approx((8.0 * d.ext_indegrees).tolist())

    sets = nest.of("set")
    assert len(sets) == 16
    for i in range(8):
        par, v0 = sets[2 * i][2], sets[2 * i + 1][2]
        assert par["I_e"] == pytest.approx(d.dc_amp[i]) and par["I_e"] > 0
        assert par["tau_syn_ex"] == par["tau_syn_in"] == 0.5
        assert (par["V_th"], par["V_reset"], par["E_L"], par["C_m"]) == (-50, -65, -65, 250)
        assert v0 == {
            "V_m": (
                "normal",
                {"mean": PD14_V0_OPTIMIZED_MEAN[i], "std": PD14_V0_OPTIMIZED_STD[i]},
            )
        }

    conns = nest.of("Connect")
    assert len(conns) == 64 + 8 + 8
    pops = list(net["populations"].values())
    for k, (_, pre, post, conn_spec, syn_spec) in enumerate(conns[:64]):
        i, j = divmod(k, 8)  # target-major, as NEST's loop
        assert (pre.ids, post.ids) == (pops[j].ids, pops[i].ids)
        assert conn_spec == {"rule": "fixed_total_number", "N": int(d.num_synapses[i, j])}
        w = d.weight_matrix_mean[i, j]
        bounds = (-np.inf, 0.0) if w < 0 else (0.0, np.inf)
        tag, dist, lo, hi = syn_spec["weight"]
        assert (tag, dist[0], (lo, hi)) == ("redraw", "normal", bounds)
        assert dist[1] == {"mean": pytest.approx(w), "std": pytest.approx(abs(w) * 0.1)}
        tag, dist, lo, hi = syn_spec["delay"]
        mean = 1.5 if j % 2 == 0 else 0.75
        assert dist[1] == {"mean": mean, "std": mean * 0.5}
        assert (lo, hi) == (pytest.approx(0.05), np.inf)
        assert syn_spec["synapse_model"] == "static_synapse"
    for i, (_, pre, post, conn_spec, syn_spec) in enumerate(conns[64:72]):
        assert pre.ids == pops[i].ids and post.ids == net["recorders"][PD14_POPULATIONS[i]].ids
        assert conn_spec is None and syn_spec is None
    for i, (_, pre, post, conn_spec, syn_spec) in enumerate(conns[72:]):
        assert post.ids == pops[i].ids and len(pre) == 1
        assert conn_spec == {"rule": "all_to_all"}
        assert syn_spec == {
            "synapse_model": "static_synapse",
            "weight": pytest.approx(d.weight_ext),
            "delay": 1.5,
        }
    n = int(d.num_neurons.sum())
    assert net["n_device_connections"] == 2 * n
    assert net["n_synapses_expected"] == int(d.num_synapses.sum())


def test_build_microcircuit_without_poisson_original_v0():
    nest = FakeNest()
    net = build_microcircuit(
        nest, MicrocircuitParams(scale=0.01, poisson_input=False, V0_type="original")
    )
    assert [c[1] for c in nest.of("Create")].count("poisson_generator") == 0
    assert len(nest.of("Connect")) == 64 + 8
    assert nest.of("set")[1][2] == {"V_m": ("normal", {"mean": -58.0, "std": 10.0})}
    assert nest.of("set")[0][2]["I_e"] > 0
    assert net["n_device_connections"] == sum(len(p) for p in net["populations"].values())


# ---------------------------------------------------------------------------------------------
# Configs and the run plumbing


def test_configs_give_the_defaults():
    params, run = load_config(ROOT / "configs" / "brunel.yaml", BrunelParams)
    assert params == BrunelParams()
    assert run == RunSettings(simtime=1000.0, presim=0.0, seed=55)
    params, run = load_config(ROOT / "configs" / "microcircuit.yaml", MicrocircuitParams)
    assert params == MicrocircuitParams()
    assert (params.scale, params.k_scale) == (1.0, 1.0)
    assert run == RunSettings(simtime=1000.0, presim=500.0, seed=55)


def test_config_overrides_and_unknown_keys(tmp_path):
    cfg = tmp_path / "b.yaml"
    cfg.write_text("order: 50\nsimtime: 200\n")
    params, run = load_config(cfg, BrunelParams, {"order": 100, "seed": None, "threads": 2})
    assert (params.order, run.simtime, run.seed, run.threads) == (100, 200, 55, 2)

    cfg.write_text("ordr: 50\n")
    with pytest.raises(ValueError, match=r"unknown config key `ordr` .*valid keys: order, model"):
        load_config(cfg, BrunelParams)
    cfg.write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match=r"`config` .* must be a mapping"):
        load_config(cfg, BrunelParams)
    cfg.write_text("scale: 2.0\n")
    with pytest.raises(ValueError, match=r"`scale` must lie in \(0, 1\]"):
        load_config(cfg, MicrocircuitParams)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"seed": 0}, r"`seed` must be an int >= 1 and <= 4294967295"),
        ({"threads": 0}, r"`threads` must be an int >= 1"),
        ({"backend": "brian2"}, r"`backend` must be one of 'snnjax', 'nest'"),
        ({"simtime": 0.0}, r"`simtime` must lie in \(0, inf\)"),
    ],
)
def test_run_settings_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RunSettings(**kwargs)


def test_cli_bad_config_exits_with_usage_error(tmp_path, capsys):
    cfg = tmp_path / "b.yaml"
    cfg.write_text("epsilon: 0.1\nfoo: 1\n")
    parser = make_parser("test", cfg)
    parser.add_argument("--order", type=int, default=None)
    with pytest.raises(SystemExit) as exc:
        cli(parser, ["--order", "10"], name="brunel", params_cls=BrunelParams, build=build_brunel)
    assert exc.value.code == 2
    assert "unknown config key `foo`" in capsys.readouterr().err


def test_run_network_on_a_stub(tmp_path):
    nest = FakeNest(spiking=[1, 2, 3, 41, 41])
    params = BrunelParams(order=10)
    run = RunSettings(simtime=100.0, presim=0.0, seed=7, threads=2, backend="nest")
    out = tmp_path / "b.json"
    result = run_network(
        "brunel", build_brunel, params, run, out=out, spikes_out=tmp_path / "s.npz", nest=nest
    )
    assert nest.calls[0] == ("ResetKernel",)
    assert nest.calls[1] == (
        "SetKernelStatus",
        {
            "resolution": 0.1,
            "rng_seed": 7,
            "local_num_threads": 2,
            "print_time": False,
            "overwrite_files": True,
        },
    )
    kinds = [c[0] for c in nest.calls]
    assert kinds[-3:] == ["Prepare", "Run", "Cleanup"] and nest.t_run == 100.0

    assert json.loads(out.read_text()) == result
    assert out.with_suffix(".png").stat().st_size > 0
    assert result["rates_hz"]["E"] == pytest.approx(3 / 40 / 0.1)
    assert result["rates_hz"]["I"] == pytest.approx(2 / 10 / 0.1)
    assert result["n_neurons"] == 50 and result["n_spikes"] == 5
    # the stub counts fixed_indegree as all-to-all (40 * 50 + 10 * 50), the device connections
    # (2 * 50) are taken off
    assert result["n_synapses"] == 50 * 50 and result["n_synapses_expected"] == 250
    assert result["params"] == dataclasses.asdict(params)
    assert result["connectivity_bytes"] is None and result["peak_rss_mb"] > 0
    assert result["rtf"] == pytest.approx(result["sim_s"] / 0.1)
    for key in ("cv_isi", "correlation", "fano", "build_s", "backend", "seed", "simtime_ms"):
        assert key in result

    spikes = np.load(tmp_path / "s.npz")
    assert spikes["senders"].tolist() == [1, 2, 3, 41, 41]
    assert spikes["population_names"].tolist() == ["E", "I"]
    assert spikes["population_ranges"].tolist() == [[1, 40], [41, 50]]


# ---------------------------------------------------------------------------------------------
# The scripts on real NEST (opt-in: ``pytest -m peers``)


def _run_script(script, args, tmp_path):
    pytest.importorskip("nest")
    out = tmp_path / "out.json"
    flags = ["--backend", "nest", "--out", str(out), "--spikes-out", str(tmp_path / "spikes.npz")]
    subprocess.run(
        [sys.executable, str(ROOT / "simulation" / script), *flags, *args],
        check=True,
        cwd=tmp_path,
        timeout=600,
    )
    result = json.loads(out.read_text())
    assert out.with_suffix(".png").exists() and (tmp_path / "spikes.npz").exists()
    for key in (
        "rates_hz",
        "cv_isi",
        "correlation",
        "fano",
        "build_s",
        "sim_s",
        "rtf",
        "n_neurons",
        "n_synapses",
        "connectivity_bytes",
        "peak_rss_mb",
        "backend",
        "seed",
        "params",
        "simtime_ms",
    ):
        assert key in result, key
    assert result["backend"] == "nest" and result["connectivity_bytes"] is None
    assert result["n_synapses"] == result["n_synapses_expected"]
    return result


@pytest.mark.peers
def test_brunel_script_on_nest(tmp_path):
    result = _run_script("brunel.py", ["--order", "100", "--simtime", "300"], tmp_path)
    assert result["n_neurons"] == 500 and result["n_synapses"] == 500 * (40 + 10)
    assert set(result["rates_hz"]) == {"E", "I"}
    assert math.isfinite(result["rates_hz"]["E"]) and result["rates_hz"]["E"] > 0


@pytest.mark.peers
def test_microcircuit_script_on_nest(tmp_path):
    args = ["--scale", "0.05", "--simtime", "200", "--presim", "100"]
    result = _run_script("microcircuit.py", args, tmp_path)
    assert tuple(result["rates_hz"]) == PD14_POPULATIONS
    assert result["presim_ms"] == 100.0 and result["params"]["scale"] == 0.05
    rates = np.array(list(result["rates_hz"].values()), dtype=float)
    assert np.all(np.isfinite(rates)) and rates.mean() > 0
