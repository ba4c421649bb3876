"""Checkpoint/restore: a run continued from a checkpoint on any number of devices or MPI
ranks gives exactly the spikes of an uninterrupted run (scripts and API)."""

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from test_sim_distributed import ROOT, _mpirun

import snnjax.sim as nest
from snnjax.sim import Simulator, _checkpoint

BRUNEL = ["simulation/brunel.py", "--order", "50", "--seed", "3", "--no-plot"]


def _script(tmp_path, name, simtime, *flags, ranks=0):
    args = [*BRUNEL, "--simtime", str(simtime), "--out", str(tmp_path / f"{name}.json"),
            "--spikes-out", str(tmp_path / f"{name}.npz"), *flags]  # fmt: skip
    if ranks:
        proc = _mpirun(ranks, *args)
    else:
        proc = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return np.load(tmp_path / f"{name}.npz"), json.loads((tmp_path / f"{name}.json").read_text())


def test_brunel_resumed_on_other_splits_equals_the_uninterrupted_run(tmp_path):
    """``--checkpoint`` at 60 ms (1 device and 2 ranks), ``--resume`` to 120 ms on 4
    devices, 2 ranks and 1 device: the spikes of an uninterrupted 120 ms run, from 0."""
    ref, ref_json = _script(tmp_path, "ref", 120)
    assert len(ref["times"]) > 300 and ref["times"].min() < 60.0
    _script(tmp_path, "first", 60, "--checkpoint", str(tmp_path / "ck"))
    _script(tmp_path, "first_mpi", 60, "--checkpoint", str(tmp_path / "ck_mpi"), ranks=2)
    for name, ck, flags, ranks in [("dev4", "ck", ["--devices", "4"], 0), ("mpi2", "ck", [], 2),
                                   ("from_mpi", "ck_mpi", [], 0)]:  # fmt: skip
        got, summary = _script(tmp_path, name, 120, "--resume", str(tmp_path / ck), *flags,
                               ranks=ranks)  # fmt: skip
        assert np.array_equal(got["senders"], ref["senders"]), name
        assert np.array_equal(got["times"], ref["times"]), name
        assert summary["rates_hz"] == ref_json["rates_hz"] and summary["resumed_ms"] == 60.0


def _net(seed=4, devices=1, n=30):
    sim = Simulator(0.1, seed=seed, devices=devices)
    pop = sim.create("iaf_psc_exp", n, {"I_e": 350.0, "V_m": nest.random.uniform(-70.0, -55.0)})
    pg = sim.create("poisson_generator", 1, {"rate": 6000.0})
    sg = sim.create("spike_generator", 1, {"spike_times": [5.0, 25.0, 45.0]})
    rec = sim.create("spike_recorder")
    mm = sim.create("multimeter", 1, {"record_from": ["V_m", "I_syn_ex"], "interval": 0.5})
    sim.connect(pg, pop, "all_to_all", {"weight": 15.0, "delay": 1.0})
    sim.connect(sg, pop[:4], "all_to_all", {"weight": 300.0, "delay": 4.0})
    sim.connect(
        pop,
        pop,
        {"rule": "pairwise_bernoulli", "p": 0.2},
        {"weight": nest.random.normal(20.0, 5.0), "delay": nest.random.uniform(0.5, 6.0)},
    )
    sim.connect(pop, rec)
    sim.connect(mm, pop[::3])
    return sim, pop, rec, mm


def _record(sim, rec, mm):
    ev, mv = sim.events(rec[0]), sim.events(mm[0])
    return [ev["senders"], ev["times"], mv["senders"], mv["times"], mv["V_m"], mv["I_syn_ex"]]


def test_restore_continues_bitwise_with_changed_synapses_and_recorders(tmp_path):
    sim, pop, rec, mm = _net()
    sim.simulate(20.0)
    where = sim.connections(source=pop[:10])
    sim.set_synapses(where, "weight", -np.arange(len(where["index"]), dtype=float))
    sim.set_synapses(where, "delay", 2.5)
    sim.set(rec, {"start": 10.0})
    sim.set(pop[5:8], {"I_e": 500.0})
    sim.simulate(17.3)
    sim.checkpoint(tmp_path / "ck")
    sim.simulate(30.0)
    reference = _record(sim, rec, mm)
    for devices in (1, 3):
        fresh, _, frec, fmm = _net(devices=devices)
        fresh.restore(tmp_path / "ck")  # also before any build
        fresh.simulate(30.0)
        got = _record(fresh, frec, fmm)
        assert all(np.array_equal(a, b) for a, b in zip(reference, got, strict=True)), devices


def test_a_checkpoint_of_another_network_or_into_a_used_one_is_refused(tmp_path):
    sim, *_ = _net()
    sim.simulate(5.0)
    sim.checkpoint(tmp_path)
    for other in (_net(seed=5)[0], _net(n=31)[0]):
        with pytest.raises(ValueError, match=r"different network"):
            other.restore(tmp_path)
    with pytest.raises(ValueError, match=r"already run"):
        sim.restore(tmp_path)
    with pytest.raises(ValueError, match=r"holds no checkpoint"):
        _net()[0].restore(tmp_path / "nothing")


def test_an_interrupted_write_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    sim, *_ = _net()
    sim.simulate(10.0)
    first = sim.checkpoint(tmp_path)
    sim.simulate(10.0)

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(_checkpoint.np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        sim.checkpoint(tmp_path)
    monkeypatch.undo()
    assert (tmp_path / "LATEST").read_text() == pathlib.Path(first).name
    fresh, *_ = _net()
    fresh.restore(tmp_path)
    assert fresh.t_steps == 100
