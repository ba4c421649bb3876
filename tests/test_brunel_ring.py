"""The Brunel ring: in-degrees on a recording stub, layout checks, and two small runs of the
script (one shard vs two devices): identical spikes, synapse counts, the drop of network 0's
rate during the perturbation, and the files written."""

import importlib.util
import json
import pathlib

import numpy as np
import pytest

import snnjax.sim as snest
from snnjax.networks import (
    BrunelRingParams,
    brunel_derived,
    build_brunel_ring,
    population_rate,
    ring_indegrees,
    ring_perturbation_rates,
)

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("brunel_ring", ROOT / "simulation/brunel_ring.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------------------------------------
# A stub of the PyNEST subset the builder uses, recording every connection.


class _Nodes:
    def __init__(self, ids, shard):
        self.ids, self.shard = list(ids), shard

    def __len__(self):
        return len(self.ids)

    def __add__(self, other):
        return _Nodes(self.ids + other.ids, self.shard)


class _StubNest:
    def __init__(self, ranks=1, devices=1):
        self.ranks, self.devices, self.next_id = ranks, devices, 1
        self.conns, self.generators = [], []

    def NumProcesses(self):
        return self.ranks

    def GetKernelStatus(self, key):
        assert key == "devices"
        return self.devices

    def RemoteCreate(self, rank, model, n, params):
        nodes = _Nodes(range(self.next_id, self.next_id + n), rank)
        self.next_id += n
        return nodes

    def Create(self, model, n=1, params=None):
        nodes = self.RemoteCreate(-1, model, n, params)
        if model == "poisson_generator":
            self.generators.append((nodes.ids[0], params))
        return nodes

    def CopyModel(self, old, new, params):
        pass

    def Connect(self, pre, post, conn_spec=None, syn_spec=None, remote=False):
        self.conns.append((pre, post, conn_spec, syn_spec, remote))

    def RemoteConnect(self, src_rank, pre, tgt_rank, post, conn_spec, syn_spec):
        assert (src_rank, tgt_rank) == (pre.shard, post.shard)
        self.Connect(pre, post, conn_spec, syn_spec, remote=True)


@pytest.mark.parametrize("networks", [1, 2, 3, 5])
def test_indegrees_are_constant_and_come_from_own_and_left(networks):
    params = BrunelRingParams(order=100)
    d, deg = brunel_derived(params), ring_indegrees(params)
    assert deg == {"E_own": 16, "E_left": 24, "I_own": 9, "I_left": 1}
    nest = _StubNest(devices=networks)
    net = build_brunel_ring(nest, params)
    pops = net["populations"]
    assert list(pops) == [f"{x}{k}" for k in range(networks) for x in "EI"]
    assert net["shards"] == (list(range(networks)) if networks > 1 else [0])
    name_of = {tuple(nodes.ids): name for name, nodes in pops.items()}
    for k in range(networks):
        targets = pops[f"E{k}"].ids + pops[f"I{k}"].ids
        indegree = {"E": 0, "I": 0}
        for pre, post, conn, syn, remote in nest.conns:
            if post.ids != targets or conn is None:
                continue
            src = name_of[tuple(pre.ids)]
            assert conn["rule"] == "fixed_indegree"
            assert int(src[1:]) in (k, (k - 1) % networks)
            assert remote == (int(src[1:]) != k)
            assert syn == ("excitatory" if src[0] == "E" else "inhibitory")
            indegree[src[0]] += conn["indegree"]
        assert indegree == {"E": d.CE, "I": d.CI}  # whatever the number of networks
    n = d.NE + d.NI
    assert net["n_synapses_expected"] == networks * n * (d.CE + d.CI)
    # network 0: 75 % always, 25 % before and 25 % after the drop; the others one each
    rates = [g["rate"] for _, g in nest.generators]
    assert len(rates) == networks + 2 and rates[3:] == [d.p_rate] * (networks - 1)
    assert rates[:3] == pytest.approx([0.75 * d.p_rate, 0.25 * d.p_rate, 0.25 * d.p_rate])
    assert nest.generators[1][1]["stop"] == 500.0 and nest.generators[2][1]["start"] == 600.0
    assert net["n_device_connections"] == (networks + 2 + networks) * n


def test_networks_must_match_the_shards():
    with pytest.raises(ValueError, match="`networks` must equal the number of shards"):
        build_brunel_ring(_StubNest(ranks=2), BrunelRingParams(order=10, networks=3))
    assert build_brunel_ring(_StubNest(), BrunelRingParams(order=10, networks=3))["networks"] == 3
    assert build_brunel_ring(_StubNest(ranks=4), BrunelRingParams(order=10))["networks"] == 4
    snest.ResetKernel()
    snest.SetKernelStatus({"devices": 2})
    with pytest.raises(ValueError, match="`networks`"):
        build_brunel_ring(snest, BrunelRingParams(order=10, networks=3))
    snest.ResetKernel()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"networks": 0}, "`networks`"),
        ({"left_fraction_ex": 1.5}, "`left_fraction_ex`"),
        ({"perturb_drop": -0.1}, "`perturb_drop`"),
        ({"perturb_stop": 400.0}, "`perturb_stop`"),
        ({"order": 0}, "`order`"),
    ],
)
def test_ring_params_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BrunelRingParams(**kwargs)


def test_population_rate_and_perturbation_rates_by_hand():
    # neuron 1 fires every 10 ms over [0, 1000): 100 Hz; neuron 2 is silent before 500 ms and
    # fires every 10 ms after it: 0 Hz before, 100 Hz during
    t1 = np.arange(0.0, 1000.0, 10.0)
    t2 = np.arange(500.0, 1000.0, 10.0)
    senders = np.r_[np.ones(t1.size, int), np.full(t2.size, 2)]
    times = np.r_[t1, t2]
    centres, rate = population_rate(senders, times, [1, 2], 0.0, 1000.0, bin_ms=10.0, smooth_ms=0)
    assert centres[0] == 5.0 and rate.shape == (100,)
    assert np.allclose(rate[:50], 50.0) and np.allclose(rate[50:], 100.0)
    _, smooth = population_rate(senders, times, [1, 2], 0.0, 1000.0, bin_ms=10.0)
    assert np.allclose(smooth[:40], 50.0) and smooth.mean() == pytest.approx(rate.mean(), rel=0.01)
    rows = ring_perturbation_rates(
        senders, times, {"E0": [2], "I0": [1]}, BrunelRingParams(), 0.0, 1000.0
    )
    assert rows == [{"network": 0, "before_hz": 0.0, "during_hz": 100.0, "relative_change": None}]


# ---------------------------------------------------------------------------------------------
# Small runs of the script, in process.

_ARGS = ["--order", "60", "--simtime", "700"]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ring")
    main = _script().main
    sharded = main(
        [*_ARGS, "--devices", "2", "--out", str(tmp / "ring.json"),
         "--spikes-out", str(tmp / "ring.npz")]
    )  # fmt: skip
    single = main(
        [*_ARGS, "--networks", "2", "--no-plot", "--out", str(tmp / "one.json"),
         "--spikes-out", str(tmp / "one.npz")]
    )  # fmt: skip
    return tmp, sharded, single


def test_one_shard_and_two_devices_give_the_same_spikes(two_runs):
    tmp, sharded, single = two_runs
    a, b = np.load(tmp / "ring.npz"), np.load(tmp / "one.npz")
    assert a["senders"].size > 1000
    assert np.array_equal(a["senders"], b["senders"]) and np.array_equal(a["times"], b["times"])
    assert list(a["population_names"]) == ["E0", "I0", "E1", "I1"]
    assert sharded["ring"]["shard_of_network"] == [0, 1]
    assert single["ring"]["shard_of_network"] == [0, 0]


def test_synapse_counts(two_runs):
    _, sharded, single = two_runs
    d = brunel_derived(BrunelRingParams(order=60))
    per_network = (d.NE + d.NI) * (d.CE + d.CI)
    assert ring_indegrees(BrunelRingParams(order=60))["I_left"] == 1  # both links exercised
    for result in (sharded, single):
        assert result["n_synapses"] == result["n_synapses_expected"] == 2 * per_network
    # one network per shard: every shard holds the in-degrees of one network's neurons
    assert sharded["shards"]["synapses_per_shard"] == [per_network, per_network]
    assert single["shards"]["synapses_per_shard"] == [2 * per_network]


def test_perturbation_lowers_network_0_and_the_files_are_written(two_runs, tmp_path):
    tmp, sharded, _ = two_runs
    rows = sharded["ring"]["e_rates_hz"]
    assert [r["network"] for r in rows] == [0, 1]
    r0, r1 = rows
    assert r0["before_hz"] > 5.0
    assert r0["during_hz"] < 0.85 * r0["before_hz"]  # -25 % drive: about -40 % rate
    assert r0["relative_change"] < r1["relative_change"]  # network 1 only feels it through E0
    saved = json.loads((tmp / "ring.json").read_text())
    assert saved["ring"]["e_rates_hz"] == rows
    assert saved["rates_hz"].keys() == {"E0", "I0", "E1", "I1"}
    assert (tmp / "ring.png").stat().st_size > 0 and (tmp / "ring_rates.png").stat().st_size > 0
    assert not (tmp / "one_rates.png").exists()  # --no-plot


def test_shipped_config_is_valid():
    from snnjax.networks import BrunelRingParams, load_config

    config = pathlib.Path(__file__).resolve().parents[1] / "configs" / "brunel_ring.yaml"
    params, run = load_config(config, BrunelRingParams)
    assert params.perturb_drop == 0.25 and params.left_fraction_ex == 0.6
    assert run.simtime > params.perturb_stop
