"""The benchmark scripts run (tiny shapes; the figures themselves live in RESULTS.md)."""

import json
import pathlib
import runpy
import sys

BENCH = pathlib.Path(__file__).parents[1] / "benchmarks"


def _main(name):
    sys.path.insert(0, str(BENCH))
    try:
        return runpy.run_path(str(BENCH / name))["main"]
    finally:
        sys.path.remove(str(BENCH))


def test_lif_layer_benchmark_runs(capsys):
    _main("lif_layer.py")(
        ["--T", "3", "--batch", "2", "--n-in", "4", "--n-out", "8", "--reps", "1"]
    )
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| 3 |")]
    assert len(rows) == 1


def test_lif_kernels_benchmark_smoke(capsys):
    _main("lif_kernels.py")(["--smoke", "--reps", "1"])
    out = capsys.readouterr().out
    assert "| 12 | 8 |" in out and "| 16 | 6 | 2 |" in out


def test_train_step_benchmark_runs(capsys):
    _main("train_step.py")(["--batch", "8", "--T", "5", "--reps", "1"])
    assert "| 8 |" in capsys.readouterr().out


def test_sim_cpu_benchmark_smoke(capsys):
    rows = _main("sim_cpu.py")(["--smoke", "--backends", "snnjax"])
    assert [r["case"] for r in rows] == ["brunel", "pd14"]
    assert all(r["n_synapses"] > 0 and r["rates_hz"] for r in rows)
    assert capsys.readouterr().out.count("| snnjax |") == 2


def test_sim_scaling_benchmark_smoke(capsys):
    rows = _main("sim_scaling.py")(["--smoke"])
    assert len(rows) == 2 and all("| 2 | all_to_all |" in r for r in rows)
    assert "exchange time" in capsys.readouterr().out


def test_brette2007_benchmark_smoke(capsys, tmp_path):
    out = tmp_path / "bench.json"
    brian2 = tmp_path / "brian2.json"  # what brette2007_brian2.py writes (its own venv)
    brian2.write_text(
        json.dumps([{"case": "coba", "sim_s": 0.325, "rates_hz": {"E": 21.4, "I": 21.3}}])
    )
    rows = _main("brette2007.py")(["--smoke", "--backends", "snnjax", "--cases", "coba,cuba",
                                   "--out", str(out), "--brian2", str(brian2)])  # fmt: skip
    assert [r["case"] for r in rows] == ["coba", "cuba"]
    assert all(r["n_neurons"] == 200 and r["n_synapses"] > 0 and r["rates_hz"] for r in rows)
    table = capsys.readouterr().out
    assert table.count("| snnjax |") == 2 and "brian2 (cpp_standalone)" in table
    assert "| 0.325 (rates 21.40, 21.30) |" in table and "| not measured |" in table
    saved = json.loads(out.read_text())
    assert saved["brian2"][0]["case"] == "coba" and saved["scale"] == 0.05
    assert [r["case"] for r in saved["rows"]] == ["coba", "cuba"]


def test_ping_placement_benchmark_smoke(capsys, tmp_path):
    # one of the smoke mode's six runs (each compiles the HH network: ~20 s)
    out = tmp_path / "bench.json"
    rows = _main("ping_placement.py")(
        ["--smoke", "--devices", "2", "--placements", "block", "--out", str(out)]
    )
    assert [(r["devices"], r["placement"]) for r in rows] == [(2, "block")]
    assert rows[0]["n_neurons"] == 40 and rows[0]["shards"]["exchange"] == "all_to_all"
    assert rows[0]["gamma_peak_hz"] is not None
    assert "| 2 | block | 40 |" in capsys.readouterr().out
    saved = json.loads(out.read_text())
    assert (saved["assemblies"], saved["cells"], saved["simtime_ms"]) == (2, 20, 100.0)


def test_brunel_stdp_benchmark_smoke(capsys, tmp_path):
    out = tmp_path / "bench.json"
    rows = _main("brunel_stdp.py")(["--smoke", "--backends", "snnjax", "--out", str(out)])
    assert len(rows) == 1 and rows[0]["n_neurons"] == 100
    assert rows[0]["connectivity_bytes"] / rows[0]["n_synapses"] < 20
    assert "| snnjax | 100 |" in capsys.readouterr().out
    assert json.loads(out.read_text())["order"] == 20
