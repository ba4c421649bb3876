"""Sharded simulation: the same spikes on 1, 2, 4, 8 devices and 1, 2, 4 MPI ranks, for every
exchange scheme and placement; RemoteCreate/RemoteConnect; placement; MPI fault behaviour."""

import json
import os
import pathlib
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

import snnjax.sim as nest
from snnjax.networks import MicrocircuitParams, build_microcircuit
from snnjax.sim import EXCHANGES, PLACEMENTS, ConnSpec, Simulator, place
from snnjax.sim._placement import cross_shard_synapses

ROOT = pathlib.Path(__file__).resolve().parents[1]
PARAMS = {"tau_m": 20.0, "C_m": 1.0, "t_ref": 2.0, "V_reset": 0.0, "V_th": 20.0, "E_L": 0.0}


def _brunel(devices=1, exchange="all_gather", placement="round_robin", order=40, t=150.0):
    """A small Brunel network with a multimeter: (senders, times, V_m samples, simulator)."""
    sim = Simulator(0.1, seed=3, devices=devices, exchange=exchange, placement=placement)
    e = sim.create("iaf_psc_delta", 4 * order, {**PARAMS, "V_m": 0.0})
    i = sim.create("iaf_psc_delta", order, {**PARAMS, "V_m": nest.random.uniform(0.0, 20.0)})
    noise = sim.create("poisson_generator", 1, {"rate": 20000.0})
    dc = sim.create("dc_generator", 1, {"amplitude": 0.5, "start": 50.0, "stop": 80.0})
    rec = sim.create("spike_recorder")
    mm = sim.create("multimeter", 1, {"record_from": ["V_m"], "interval": 0.5})
    everyone = np.concatenate([e, i])
    sim.connect(noise, everyone, "all_to_all", {"weight": 0.1, "delay": 1.5})
    sim.connect(dc, e[:7], "all_to_all", {"weight": 1.0, "delay": 0.1})
    sim.connect(e, everyone, {"rule": "fixed_indegree", "indegree": 16},
                {"weight": 0.1, "delay": nest.random.uniform(1.0, 2.0)})  # fmt: skip
    sim.connect(i, everyone, {"rule": "fixed_indegree", "indegree": 4},
                {"weight": -0.5, "delay": 1.5})  # fmt: skip
    sim.connect(everyone, rec)
    sim.connect(mm, everyone[::23])
    sim.simulate(t)
    ev, mv = sim.events(rec[0]), sim.events(mm[0])
    return ev["senders"], ev["times"], mv["V_m"], sim


@pytest.fixture(scope="module")
def reference():
    return _brunel()


def _same(a, b) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a[:3], b[:3], strict=True))


@pytest.mark.parametrize("exchange", EXCHANGES)
@pytest.mark.parametrize("placement", PLACEMENTS)
def test_brunel_identical_on_4_devices(reference, exchange, placement):
    out = _brunel(4, exchange, placement)
    assert len(reference[0]) > 500  # the network is active
    assert _same(reference, out)
    stats = out[3].exchange_stats()
    assert stats["shards"] == 4 and sum(stats["neurons_per_shard"]) == 200
    assert sum(stats["spikes_per_shard"]) == len(reference[0])
    assert 0 < stats["payload_bytes_per_step"] <= stats["padded_bytes_per_step"]


@pytest.mark.parametrize(
    ("devices", "exchange", "placement"),
    [(2, "all_gather", "block"), (2, "point_to_point", "partition"),
     (8, "all_to_all", "round_robin"), (8, "point_to_point", "block")],
)  # fmt: skip
def test_brunel_identical_on_2_and_8_devices(reference, devices, exchange, placement):
    assert _same(reference, _brunel(devices, exchange, placement))


def _pd14(devices, exchange="all_gather", placement="round_robin"):
    nest.ResetKernel()
    nest.SetKernelStatus({"resolution": 0.1, "rng_seed": 7, "devices": devices,
                          "spike_exchange": exchange, "placement": placement})  # fmt: skip
    net = build_microcircuit(nest, MicrocircuitParams(scale=0.01, k_scale=0.05))
    nest.Simulate(100.0)
    senders, times = [], []
    for rec in net["recorders"].values():
        events = rec.get("events")
        senders.append(events["senders"])
        times.append(events["times"])
    return np.concatenate(senders), np.concatenate(times)


def test_scaled_microcircuit_identical_on_1_2_4_8_devices():
    ref = _pd14(1)
    assert len(ref[0]) > 50
    for devices, exchange, placement in [(2, "all_to_all", "partition"),
                                         (4, "point_to_point", "round_robin"),
                                         (8, "all_gather", "block")]:  # fmt: skip
        out = _pd14(devices, exchange, placement)
        assert all(np.array_equal(a, b) for a, b in zip(ref, out, strict=True)), devices


def _remote(build_remote: bool):
    sim = Simulator(0.1, seed=5, devices=2, placement="block")
    create = (lambda r, *a: sim.create(*a, shard=r)) if build_remote else (
        lambda r, *a: sim.create(*a))  # fmt: skip
    a = create(0, "iaf_psc_exp", 60, {"I_e": 300.0})
    b = create(1, "iaf_psc_exp", 60, {"I_e": 380.0})
    rec = sim.create("spike_recorder")
    sim.connect(a, b, {"rule": "fixed_indegree", "indegree": 10}, {"weight": 200.0, "delay": 1.0})
    sim.connect(b, a, {"rule": "pairwise_bernoulli", "p": 0.1}, {"weight": -100.0, "delay": 2.0})
    sim.connect(np.concatenate([a, b]), rec)
    sim.simulate(200.0)
    return sim.events(rec[0]), sim.owner


def test_remote_create_equals_create_with_block_placement():
    (ev_r, owner_r), (ev_b, owner_b) = _remote(True), _remote(False)
    assert np.array_equal(owner_r, np.repeat([0, 1], 60))
    assert np.array_equal(owner_r, owner_b)
    assert len(ev_r["times"]) > 50
    assert np.array_equal(ev_r["senders"], ev_b["senders"])
    assert np.array_equal(ev_r["times"], ev_b["times"])


def test_remote_connect_checks_the_ranks():
    nest.ResetKernel()
    nest.SetKernelStatus({"devices": 2})
    a = nest.RemoteCreate(0, "iaf_psc_alpha", 3)
    b = nest.RemoteCreate(1, "iaf_psc_alpha", 3)
    nest.RemoteConnect(0, a, 1, b, "all_to_all", {"weight": 1.0})
    with pytest.raises(ValueError, match=r"`source` must be nodes created by RemoteCreate\(1"):
        nest.RemoteConnect(1, a, 1, b)
    with pytest.raises(ValueError, match=r"`shard` \(rank\) must be in \[0, 1\]"):
        nest.RemoteCreate(2, "iaf_psc_alpha", 3)
    with pytest.raises(ValueError, match="must be a neuron model"):
        nest.RemoteCreate(0, "spike_recorder", 1)
    nest.ResetKernel()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"exchange": "broadcast"}, "`exchange` must be one of"),
     ({"placement": "random"}, "`placement` must be one of"),
     ({"devices": 0}, "`devices` must be a positive int"),
     ({"devices": 64}, "`devices`=64, but JAX sees 8 device")],
)  # fmt: skip
def test_bad_distribution_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Simulator(0.1, **kwargs)


def test_placements():
    pops = [(0, 100), (100, 125)]
    free = np.full(125, -1)
    rr = place("round_robin", 4, free, pops)
    assert np.array_equal(rr, np.arange(125) % 4)
    block = place("block", 4, free, pops)
    assert np.all(np.diff(block) >= 0) and np.bincount(block).tolist() == [32, 31, 31, 31]
    pinned = free.copy()
    pinned[100:] = 3
    assert np.all(place("block", 4, pinned, pops)[100:] == 3)
    with pytest.raises(ValueError, match="pinned to shard 3, but there are only 2 shards"):
        place("block", 2, pinned, pops)


def test_partition_keeps_clusters_together():
    # Four clusters of 100 neurons, dense inside and one sparse link each: METIS must keep
    # clusters whole, so far fewer synapses cross shards than with round robin.
    pops = [(100 * k, 100 * (k + 1)) for k in range(4)]
    ids = [np.arange(a, b) for a, b in pops]
    dense, sparse = ConnSpec("fixed_indegree", indegree=20), ConnSpec("fixed_indegree", indegree=1)
    edges = [(ids[k], ids[k], dense) for k in range(4)]
    edges += [(ids[k], ids[(k + 1) % 4], sparse) for k in range(4)]
    order = np.random.default_rng(0).permutation(4)  # clusters created in any order
    edges = [edges[k] for k in order] + edges[4:]
    part = place("partition", 4, np.full(400, -1), pops, edges)
    assert sorted(np.bincount(part).tolist()) == [100] * 4
    assert all(len(set(part[a:b])) == 1 for a, b in pops)


def test_cross_shard_synapses_follow_the_placement():
    def cross(placement):
        *_, sim = _brunel(4, "all_to_all", placement, order=20, t=10.0)
        return sim

    sim = cross("block")
    rows = [(np.diff(np.asarray(sim._built["arrays"].csr.ptr[s])), s) for s in range(4)]
    ptrs = [(np.concatenate([[0], np.cumsum(r)]), s) for r, s in rows]
    total = cross_shard_synapses(sim.owner, ptrs)
    assert 0 < total < sim.n_synapses  # some synapses stay on their shard
    assert total == sim.n_synapses - sum(int(r[sim.owner == s].sum()) for r, s in rows)


# ---------------------------------------------------------------------------------- MPI
MPIRUN = shutil.which("mpirun")
_MPI_ENV = {**os.environ, "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
            "OMPI_MCA_rmaps_base_oversubscribe": "1",
            "OMPI_MCA_mpi_yield_when_idle": "1"}  # fmt: skip


def _mpirun(n: int, *args: str, timeout: float = 240.0) -> subprocess.CompletedProcess:
    assert MPIRUN, "mpirun not found: apt-get install openmpi-bin libopenmpi-dev (see .ci/run)"
    cmd = [MPIRUN, "-np", str(n), "--oversubscribe", sys.executable, *args]
    return subprocess.run(cmd, env=_MPI_ENV, capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT)  # fmt: skip


def _brunel_script(tmp_path, name, *flags):
    out = tmp_path / f"{name}.json"
    args = ["simulation/brunel.py", "--order", "60", "--simtime", "150", "--no-plot",
            "--out", str(out), "--spikes-out", str(tmp_path / f"{name}.npz"), *flags]  # fmt: skip
    return args, out


@pytest.fixture(scope="module")
def script_reference(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ref")
    # pure JAX in one process; the ranks run the native kernels (the default on CPU)
    args, out = _brunel_script(tmp, "ref", "--native", "off")
    subprocess.run([sys.executable, *args], check=True, cwd=ROOT, capture_output=True)
    return np.load(tmp / "ref.npz"), json.loads(out.read_text())


@pytest.mark.parametrize(
    ("ranks", "exchange", "placement"),
    [(1, "all_gather", "round_robin"), (2, "all_gather", "round_robin"),
     (2, "all_to_all", "block"), (2, "point_to_point", "partition"),
     (4, "point_to_point", "round_robin")],
)  # fmt: skip
def test_mpirun_gives_the_same_spikes(tmp_path, script_reference, ranks, exchange, placement):
    ref, ref_json = script_reference
    args, out = _brunel_script(tmp_path, "mpi", "--exchange", exchange, "--placement", placement)
    proc = _mpirun(ranks, *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = np.load(tmp_path / "mpi.npz")
    assert len(ref["senders"]) > 500
    assert np.array_equal(ref["senders"], got["senders"])
    assert np.array_equal(ref["times"], got["times"])
    summary = json.loads(out.read_text())
    assert summary["rates_hz"] == ref_json["rates_hz"]
    assert summary["shards"]["shards"] == ranks
    assert len(summary["shards"]["build_s_per_shard"]) == ranks


def test_mpirun_remote_create_equals_block_placement(tmp_path):
    script = tmp_path / "remote.py"
    script.write_text(
        "import sys, numpy as np\n"
        "import snnjax.sim as nest\n"
        "remote = sys.argv[1] == 'remote'\n"
        "nest.SetKernelStatus({'rng_seed': 5, 'placement': 'block'})\n"
        "make = (lambda r, *a: nest.RemoteCreate(r, *a)) if remote else "
        "(lambda r, *a: nest.Create(*a))\n"
        "a = make(0, 'iaf_psc_exp', 60, {'I_e': 300.0})\n"
        "b = make(1, 'iaf_psc_exp', 60, {'I_e': 380.0})\n"
        "rec = nest.Create('spike_recorder')\n"
        "conn = nest.RemoteConnect if remote else (lambda r, x, q, y, *c: nest.Connect(x, y, *c))\n"
        "conn(0, a, 1, b, {'rule': 'fixed_indegree', 'indegree': 10}, "
        "{'weight': 200.0, 'delay': 1.0})\n"
        "conn(1, b, 0, a, {'rule': 'pairwise_bernoulli', 'p': 0.1}, "
        "{'weight': -100.0, 'delay': 2.0})\n"
        "nest.Connect(a + b, rec)\n"
        "nest.Simulate(200.0)\n"
        "ev = rec.get('events')\n"
        "if nest.Rank() == 0:\n"
        "    np.savez(sys.argv[2], senders=ev['senders'], times=ev['times'])\n"
    )
    for kind in ("remote", "plain"):
        proc = _mpirun(2, str(script), kind, str(tmp_path / f"{kind}.npz"))
        assert proc.returncode == 0, proc.stderr[-3000:]
    remote, plain = np.load(tmp_path / "remote.npz"), np.load(tmp_path / "plain.npz")
    assert len(remote["times"]) > 50
    assert np.array_equal(remote["senders"], plain["senders"])
    assert np.array_equal(remote["times"], plain["times"])


def test_mpirun_a_failing_rank_ends_the_job(tmp_path):
    script = tmp_path / "fail.py"
    script.write_text(
        "from snnjax.sim._mpi import abort_on_error, mpi\n"
        "import time\n"
        "abort_on_error()\n"
        "world = mpi().COMM_WORLD\n"
        "if world.Get_rank() == 1:\n"
        "    raise RuntimeError('rank 1 fails')\n"
        "world.barrier()  # rank 0 would wait here forever without the abort\n"
        "time.sleep(60)\n"
    )
    start = time.perf_counter()
    proc = _mpirun(2, str(script), timeout=60)
    assert proc.returncode != 0
    assert time.perf_counter() - start < 30
    assert "rank 1 fails" in proc.stderr


def test_mpirun_ranks_with_different_configs_are_detected(tmp_path):
    script = tmp_path / "differ.py"
    script.write_text(
        "import snnjax.sim as nest\n"
        "from snnjax.sim._mpi import abort_on_error\n"
        "abort_on_error()\n"
        "n = 10 + nest.Rank()  # a different network on every rank\n"
        "pop = nest.Create('iaf_psc_alpha', n)\n"
        "nest.Simulate(10.0)\n"
    )
    proc = _mpirun(2, str(script), timeout=120)
    assert proc.returncode != 0
    assert "describe a different network than rank 0" in proc.stderr


def test_mpirun_scaled_microcircuit_same_spikes(tmp_path):
    args = ["simulation/microcircuit.py", "--scale", "0.01", "--k-scale", "0.05", "--simtime",
            "100", "--presim", "0", "--no-plot"]  # fmt: skip
    single = [*args, "--out", str(tmp_path / "a.json"), "--spikes-out", str(tmp_path / "a.npz")]
    subprocess.run([sys.executable, *single], check=True, cwd=ROOT, capture_output=True)
    out = ["--out", str(tmp_path / "b.json"), "--spikes-out", str(tmp_path / "b.npz")]
    proc = _mpirun(2, *args, "--exchange", "all_to_all", "--placement", "partition", *out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    a, b = np.load(tmp_path / "a.npz"), np.load(tmp_path / "b.npz")
    assert len(a["senders"]) > 50
    assert np.array_equal(a["senders"], b["senders"]) and np.array_equal(a["times"], b["times"])


def test_fixed_outdegree_onto_a_shard_without_targets():
    """A shard that owns none of a projection's targets (block placement) builds nothing
    for it; the spikes equal one device's."""

    def run(devices):
        sim = Simulator(0.1, seed=2, devices=devices, placement="block")
        a = sim.create("iaf_psc_alpha", 10, {"I_e": 500.0})
        b = sim.create("iaf_psc_alpha", 10)
        rec = sim.create("spike_recorder")
        sim.connect(a, b, {"rule": "fixed_outdegree", "outdegree": 3}, {"weight": 300.0})
        sim.connect(b, rec)
        sim.simulate(50.0)
        return sim.events(rec[0])["times"]

    ref = run(1)
    assert len(ref) > 5 and np.array_equal(ref, run(2))
