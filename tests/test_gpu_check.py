"""The GPU verification kit runs (``--smoke``: CPU, tiny sizes) and the source tree imports.

``benchmarks/gpu_check.py`` is run on a GPU only now and then, unattended, so its smoke mode
runs here: every section, the same code, and a report with every section ``ok``.
"""

import json
import pathlib
import runpy
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"


def test_gpu_check_smoke_writes_every_section(tmp_path):
    out = tmp_path / "gpu_check.json"
    res = subprocess.run(
        [sys.executable, str(SCRIPT), "--smoke", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    report = json.loads(out.read_text())
    sections = report["sections"]
    status = {name: s["status"] for name, s in sections.items()}
    assert status == dict.fromkeys(["env", "kernels", "lif_kernels", "train", "sim"], "ok"), (
        status,
        res.stdout[-3000:],
    )
    assert res.returncode == 0 and report["smoke"] and report["finished"]

    env = sections["env"]["result"]
    assert env["backend"] == "cpu" and env["import_hygiene"]["imported"] == []
    kernels = sections["kernels"]["result"]
    assert kernels["counts"]["passed"] == kernels["counts"]["selected"] >= 1
    assert {w["backend"] for w in kernels["worker_status"]} == {"cpu"}
    lif = sections["lif_kernels"]["result"]
    assert lif["interpret"] and len(lif["bandwidth"]) == len(lif["layer"]) == 1
    train = sections["train"]["result"]
    assert train["train_step"][0]["recurrent_samples_per_s"] > 0
    assert train["randman"]["steps"] == 2 and 0 <= train["randman"]["test_accuracy"] <= 1
    cases = sections["sim"]["result"]["cases"]
    assert [c["case"] for c in cases] == ["brunel", "pd14"]
    assert all(c["n_synapses"] > 0 and c["rtf"] > 0 and c["rates_hz"] for c in cases)
    assert sections["sim"]["result"]["pd14_plan"]["scale"] is None
    sweep = sections["sim"]["result"]["sweep"]
    assert sweep["instances"] == 4 and sweep["speedup_per_instance"] > 0


def test_plan_pd14_picks_the_largest_scale_that_fits():
    plan = runpy.run_path(str(SCRIPT))["plan_pd14"]
    probe = {"wall_s": 20.0, "build_s": 8.0, "sim_s": 2.0}  # fixed 10 s + 100 s per unit scale
    assert plan(probe, 0.1, (1.0, 0.5, 0.25), 200.0)[0] == 1.0  # 1.25 * 110 + 10 <= 200
    assert plan(probe, 0.1, (1.0, 0.5, 0.25), 100.0)[0] == 0.5  # 1.25 * 60 + 10 <= 100
    scale, reason, predicted = plan(probe, 0.1, (1.0, 0.5, 0.25), 40.0)
    assert scale is None and "fits" in reason and predicted["0.25"] == pytest.approx(35.0)
    assert plan(probe, 0.1, (), 1e9)[0] is None


def test_ops_and_sim_import_without_training_dependencies():
    """The GPU machines run the source tree without tonic, nir, pymetis or mpi4jax."""
    code = (
        "import sys\n"
        "for name in ('tonic', 'h5py', 'sklearn', 'pymetis', 'nir', 'mpi4jax'):\n"
        "    sys.modules[name] = None  # importing it now raises ImportError\n"
        "import snnjax, snnjax.ops, snnjax.sim, snnjax.networks, snnjax.analysis\n"
        "print('imported')\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert res.returncode == 0 and "imported" in res.stdout, res.stderr[-3000:]


def test_the_gpu_command_is_the_same_in_results_and_docstring():
    def command(text):
        lines = [
            line.strip() for line in text.splitlines() if "benchmarks/gpu_check.py --out" in line
        ]
        return [line for line in lines if line.startswith("set -o pipefail;")]

    doc = command(SCRIPT.read_text())
    assert len(doc) == 1 and len(doc[0]) <= 2000
    assert command((ROOT / "benchmarks" / "RESULTS.md").read_text()) == doc
