"""GPU verification kit: every GPU check of snnjax as one prepared command.

A GPU is lent only now and then, for a few minutes, and nothing can be debugged on it, so
this script runs all the checks unattended, in at most ``--budget`` seconds (default 450:
under 8 minutes), and always leaves a JSON report (``--out``). Each section runs in its own
process under its own time limit (a hang or a slow compile costs only that section; the
time a section does not use passes to the next ones), prints as it goes, and writes its
results after every step; the report is rewritten atomically (temp file + rename) every few
seconds and after every section, so a run that is killed still leaves what it measured.

Sections (budget in seconds on a GPU):

* ``env`` (30): Python, JAX/jaxlib and package versions, devices and GPU name
  (``nvidia-smi``), git commit, and that ``import snnjax.ops`` / ``import snnjax.sim`` pull
  in none of the training-data dependencies (tonic, h5py, scikit-learn, pymetis; nor nir,
  mpi4jax). Without a GPU (and without ``--smoke``) the run stops after it.
* ``kernels`` (110): ``tests/test_pallas.py`` on the GPU, the kernels compiled through
  Triton (its ``INTERPRET`` flag is ``False`` there): forward and gradients equal to the
  reference for every model, reset and memory mode, odd shapes, bf16, float64. Split over
  4 processes (the compilation is CPU-bound); the outcome of every test is recorded, the
  odd-shape and bf16 tests first.
* ``lif_kernels`` (70): the tables of ``benchmarks/lif_kernels.py``: fused LIF
  forward + backward bandwidth vs a measured device copy, speed-up over the XLA scan at
  T = 100/500/1000, the Open Neuromorphic layer (Linear n→n + LIF, T = 500, batch 16,
  n = 4096/16384).
* ``train`` (80): ``benchmarks/train_step.py`` (batch 64 and 128, T = 100) and the
  default randman training run of ``make demo`` (``training/train.py --config
  configs/randman_rsnn.yaml``; 30 epochs).
* ``sim`` (160): ``simulation/brunel.py`` (order 2500, 1 s) and
  ``simulation/microcircuit.py`` (PD14, presim 0.5 s + 1 s: first at scale 0.1, then the
  largest of scale 1 / 0.5 / 0.25 that the first run's timing predicts to fit the time
  left but 60 s, see :func:`plan_pd14`), each in its own process as
  ``benchmarks/sim_cpu.py`` runs them: build time, simulation time, RTF, rates,
  bytes/synapse; then ``simulation/sweep.py`` (#15: 64 Brunel instances as one vmapped
  run, batched vs one by one: ``speedup_per_instance`` on the GPU).

``--smoke`` runs the same code on CPU at tiny sizes (the kernels in interpret mode);
``tests/test_gpu_check.py`` runs it in the default suite, so the script cannot rot.

Usage, from the repository root (the working tree, not an installed package)::

    python3 benchmarks/gpu_check.py --out gpu_check.json        # on a GPU machine
    python3 benchmarks/gpu_check.py --out x.json --sections kernels sim
    python benchmarks/gpu_check.py --smoke --out /tmp/gpu_check.json
    python benchmarks/gpu_check.py --download-wheels .whl       # here: wheels to carry

The GPU machines have JAX with CUDA, flax, optax, orbax, h5py, scikit-learn and mpi4py but
no tonic and no nir, which the ``train`` section imports (``snnjax.train`` reads the
randman data through tonic's SHD reader and imports nir), so their wheels (and tonic's
import-time dependencies) are carried from here; the other sections need none of them.
Prepare here (once; ``.whl/`` is ignored through ``.git/info/exclude``)::

    echo /.whl/ >> .git/info/exclude
    .venv/bin/python benchmarks/gpu_check.py --download-wheels .whl

then run this one line on the GPU machine, from the repository root, with ``.whl`` carried
along (device tool: ``carry: [".whl"]``, ``timeout_s: 540``; ``$OUT`` is the folder whose
files come back); it is the command of ``benchmarks/RESULTS.md``, character for character::

    set -o pipefail; python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || echo "no carried wheels: the train section will fail"; PYTHONPATH=/tmp/site:. python3 benchmarks/gpu_check.py --out $OUT/gpu_check.json 2>&1 | tee $OUT/gpu_check.log

Section statuses in the report: ``ok``; ``partial`` (ran out of time; what fitted is
recorded, with the reason); ``failed`` (a test failed or a step raised: the traceback is
stored); ``timeout`` (killed at its limit: what it wrote so far is kept); ``skipped``.
JAX 0.11 warns at every Triton ``pallas_call`` that the backend is deprecated; the kernel
tests filter that warning (``pyproject.toml``).
"""  # noqa: E501 (the one-line command above)

import argparse
import collections
import datetime
import json
import math
import os
import pathlib
import platform
import runpy
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback

ROOT = pathlib.Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
SECTIONS = ("env", "kernels", "lif_kernels", "train", "sim")
BUDGET_S = {"env": 30, "kernels": 110, "lif_kernels": 70, "train": 80, "sim": 160}
SMOKE_BUDGET_S = {"env": 30, "kernels": 60, "lif_kernels": 45, "train": 60, "sim": 90}
GRACE_S = 3.0  # a child's own deadline falls this long before the parent kills it
# Training-data and optional dependencies that `import snnjax.ops` / `snnjax.sim` must not
# need (the GPU machines have no tonic, nir, pymetis or mpi4jax).
TRAINING_DEPS = ("tonic", "h5py", "sklearn", "pymetis", "nir", "mpi4jax")
# What the train section needs beyond the GPU image: tonic and nir, and the modules tonic
# imports (importRosbag, requests and its dependencies); pure Python but charset_normalizer.
CARRIED_WHEELS = "tonic importRosbag nir requests urllib3 idna certifi charset_normalizer".split()
PACKAGES = (
    "jax jaxlib jax-cuda13-plugin jax-cuda12-plugin flax optax orbax-checkpoint numpy scipy "
    "h5py scikit-learn tonic nir mpi4py triton pytest"
).split()
TRITON_WARNING = "ignore:The Pallas Triton backend is deprecated:DeprecationWarning"
PALLAS_TESTS = "tests/test_pallas.py"
# Run first (most informative per second), in this order; the rest follow in file order.
PALLAS_PRIORITY = (
    "test_block_shapes_and_lengths",
    "test_kernel_input_gradient_per_dtype",
    "test_kernels_match_reference",
    "test_kernels_match_reference_float64",
)
PALLAS_SKIP_ON_GPU = ("test_lowers_for_cuda",)  # export-only; the GPU runs the real kernels
PALLAS_SMOKE = ("test_kernels_match_reference[LIF-soft-save_pre]",)
PD14_LADDER = (1.0, 0.5, 0.25)
PD14_ANCHORS_RTF = {
    "nest_gpu_rtx4090": [0.39, 0.47],
    "nest_gpu_a100": [0.73, 0.85],
    "genn_rtx4090": [0.27, 0.27],
}  # published real-time factors of full-scale PD14 (NEST GPU, GeNN)


# ------------------------------------------------------------------------- JSON on disk


def _jsonable(value):
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value if isinstance(value, int | float | str | bool | type(None)) else str(value)


def write_json(path: pathlib.Path, data: dict) -> None:
    """Write ``data`` to ``path`` atomically: a temporary file in the same folder, renamed."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, default=_jsonable) + "\n")
    os.replace(tmp, path)


class Record:
    """A section's results: a JSON object rewritten on disk after every change.

    Args:
        path: the JSON file (what the parent process reads, also after a kill).
        deadline: ``time.time()`` by which the section must be done.
    """

    def __init__(self, path: pathlib.Path, deadline: float = math.inf):
        self.path, self.deadline, self.data = pathlib.Path(path), deadline, {}
        self.flush()

    def __setitem__(self, key: str, value) -> None:
        self.data[key] = value
        self.flush()

    def append(self, key: str, item) -> None:
        self.data.setdefault(key, []).append(item)
        self.flush()

    def remaining(self) -> float:
        """Seconds left before the deadline."""
        return self.deadline - time.time()

    def flush(self) -> None:
        write_json(self.path, self.data)


def _say(*parts) -> None:
    print(*parts, flush=True)


def _row(row: dict) -> str:
    return "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items())


def _command(cmd: list[str], timeout: float = 10.0) -> str | None:
    """Output of a short command, or ``None`` when it is missing or fails."""
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    except (OSError, subprocess.SubprocessError):
        return None
    return res.stdout.strip() if res.returncode == 0 else None


# ------------------------------------------------------------------------------ sections


def section_env(rec: Record, args) -> str:
    """Versions, devices, git commit; the import hygiene of ``snnjax.ops`` / ``snnjax.sim``."""
    import importlib.metadata

    import jax
    import jax.numpy as jnp

    def version(name):
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return None

    rec["python"] = sys.version
    rec["executable"] = sys.executable
    rec["platform"] = platform.platform()
    rec["hostname"] = platform.node()
    rec["cpu_count"] = os.cpu_count()
    rec["packages"] = {name: version(name) for name in PACKAGES}
    rec["jax"] = jax.__version__
    rec["backend"] = jax.default_backend()
    rec["devices"] = [
        {
            "id": d.id,
            "platform": d.platform,
            "device_kind": d.device_kind,
            "compute_capability": getattr(d, "compute_capability", None),
        }
        for d in jax.devices()
    ]
    stats = jax.devices()[0].memory_stats() or {}
    rec["device_memory_bytes"] = stats.get("bytes_limit")
    rec["device_sum_check"] = float(jnp.arange(10.0).sum())  # 45.0: the device computes
    rec["nvidia_smi"] = _command(
        ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"]
    )
    rec["git_commit"] = _command(["git", "rev-parse", "HEAD"])
    status = _command(["git", "status", "--porcelain"])
    rec["git_changed_files"] = None if status is None else len(status.splitlines())

    import snnjax.ops
    import snnjax.sim

    loaded = [name for name in TRAINING_DEPS if name in sys.modules]
    rec["snnjax_path"] = str(pathlib.Path(snnjax.ops.__file__).parents[1])
    rec["import_hygiene"] = {"checked": list(TRAINING_DEPS), "imported": loaded}
    _say(f"env: jax {jax.__version__}, backend {rec.data['backend']}, {rec.data['devices']}")
    _say(f"env: nvidia-smi {rec.data['nvidia_smi']}; training deps imported: {loaded}")
    if loaded:
        rec["error"] = f"import snnjax.ops / snnjax.sim imported {loaded}"
        return "failed"
    return "ok"


class PallasTests:
    """pytest plugin: select, order and shard ``tests/test_pallas.py``; record outcomes."""

    def __init__(self, rec: Record, shard: int, shards: int, smoke: bool):
        self.rec, self.shard, self.shards, self.smoke = rec, shard, shards, smoke
        rec.data["tests"] = {}

    def _wanted(self, item) -> bool:
        name = item.nodeid.rsplit("::", 1)[-1]
        if self.smoke:
            return name in PALLAS_SMOKE
        return getattr(item, "originalname", item.name) not in PALLAS_SKIP_ON_GPU

    def pytest_collection_modifyitems(self, session, config, items):
        def rank(pair):
            name = getattr(pair[1], "originalname", pair[1].name)
            order = PALLAS_PRIORITY.index(name) if name in PALLAS_PRIORITY else len(PALLAS_PRIORITY)
            return order, pair[0]

        wanted = [item for _, item in sorted(enumerate(items), key=rank) if self._wanted(item)]
        mine = wanted[self.shard :: self.shards]
        config.hook.pytest_deselected(items=[item for item in items if item not in mine])
        items[:] = mine
        self.rec["selected"] = [item.nodeid for item in mine]

    def pytest_runtest_logreport(self, report):
        if report.when != "call" and report.passed:
            return
        entry = {"outcome": report.outcome, "when": report.when, "duration_s": report.duration}
        if report.failed:
            entry["outcome"] = "failed" if report.when == "call" else "error"
            entry["message"] = str(report.longrepr)[-3000:]
        elif report.skipped:
            entry["message"] = str(report.longrepr)[-500:]
        self.rec.data["tests"][report.nodeid] = entry
        self.rec.flush()


def kernels_worker(rec: Record, args) -> str:
    """One shard of the Pallas kernel tests, in-process (JAX is first used by the tests)."""
    import pytest

    shard, shards = (int(v) for v in args.shard.split("/"))
    opts = [
        "-q",
        "-p",
        "no:cacheprovider",
        "--rootdir",
        str(ROOT),
        "-c",
        str(ROOT / "pyproject.toml"),
    ]
    plugin = PallasTests(rec, shard, shards, args.smoke)
    code = pytest.main([PALLAS_TESTS, *opts, "-W", TRITON_WARNING], plugins=[plugin])
    import jax

    rec["backend"] = jax.default_backend()
    rec["exit_code"] = int(code)
    return "ok" if int(code) in (0, 5) else "failed"  # 5: this shard got no tests


def section_kernels(rec: Record, args) -> str:
    """``tests/test_pallas.py`` split over worker processes sharing the GPU."""
    n = 1 if args.smoke else max(1, min(4, (os.cpu_count() or 1) // 4))
    env = {**os.environ, "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}  # several share the GPU
    parts = [rec.path.with_name(f"{rec.path.stem}.worker{i}.json") for i in range(n)]
    procs = [
        subprocess.Popen(
            _child_cmd("kernels-worker", part, rec.deadline, args.smoke, "--shard", f"{i}/{n}"),
            cwd=ROOT,
            env=env,
        )
        for i, part in enumerate(parts)
    ]
    rec["workers"] = n

    def merge():
        tests, selected, workers = {}, [], []
        for part in parts:
            try:
                data = json.loads(part.read_text())
            except (OSError, ValueError):
                data = {}
            tests.update(data.get("tests", {}))
            selected += data.get("selected", [])
            workers.append({k: data.get(k) for k in ("status", "backend", "exit_code", "error")})
        outcomes = collections.Counter(t["outcome"] for t in tests.values())
        rec.data.update(
            tests=tests,
            counts={
                **outcomes,
                "selected": len(selected),
                "not_run": len(set(selected) - set(tests)),
            },
            not_run=sorted(set(selected) - set(tests)),
            worker_status=workers,
        )
        rec.flush()

    while any(p.poll() is None for p in procs) and rec.remaining() > 0:
        time.sleep(2.0)
        merge()
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()
    merge()
    counts = rec.data["counts"]
    failures = [k for k, t in rec.data["tests"].items() if t["outcome"] in ("failed", "error")]
    rec["failures"] = failures
    _say(f"kernels: {counts}; failures: {failures}")
    crashed = [p.returncode for p in procs if p.returncode not in (0, None)]
    if failures or crashed or not counts["selected"]:
        if crashed:
            rec["error"] = f"worker exit codes {[p.returncode for p in procs]}"
        return "failed"
    return "partial" if counts["not_run"] else "ok"


def section_lif_kernels(rec: Record, args) -> str:
    """The three tables of ``benchmarks/lif_kernels.py``."""
    import jax
    import lif_kernels

    on_gpu = jax.default_backend() == "gpu"
    kw = {"smoke": args.smoke, "reps": 1 if args.smoke else 20, "interpret": not on_gpu}
    rec["device"] = jax.devices()[0].device_kind
    rec["interpret"] = not on_gpu
    rec["block_sizes"] = repr(lif_kernels.sizes(args.smoke)["bs"])
    for key, rows in (("bandwidth", lif_kernels.bandwidth_rows), ("layer", lif_kernels.layer_rows)):
        rec[key] = []
        for row in rows(**kw):
            rec.append(key, row)
            _say(f"lif_kernels {key}: {_row(row)}")
    bw = rec.data["bandwidth"]
    rec["targets"] = {
        "bandwidth_fraction_min (target >= 0.8)": min(r["fraction"] for r in bw),
        "speedup_at_T500 (target >= 5)": next((r["speedup"] for r in bw if r["T"] == 500), None),
    }
    return "ok"


def section_train(rec: Record, args) -> str:
    """``benchmarks/train_step.py`` rows, then the default randman training run."""
    import jax
    import train_step

    batches, T, reps = ((8,), 5, 1) if args.smoke else ((64, 128), 100, 10)
    rec["backend"] = jax.default_backend()
    rec["device"] = jax.devices()[0].device_kind
    rec["feedforward_impl"] = "pallas" if rec.data["backend"] == "gpu" else "xla"
    rec["train_step"] = []
    for row in train_step.rows(batches, T, reps):
        rec.append("train_step", row)
        _say(f"train_step: {_row(row)}")

    need = 10.0 if args.smoke else 40.0
    if rec.remaining() < need:
        rec["randman"] = {"skipped": f"{rec.remaining():.0f} s left, < {need:.0f} s"}
        return "partial"
    extra = ["train.epochs=1", "train.max_steps=2"] if args.smoke else []
    config = "configs/randman_rsnn.yaml"
    main = runpy.run_path(str(ROOT / "training" / "train.py"))["main"]
    with tempfile.TemporaryDirectory(prefix="gpu_check_randman_") as tmp:
        paths = [f"data.root={tmp}/data", f"train.log_dir={tmp}/run"]
        argv = ["--config", str(ROOT / config), "--no-resume", *paths, *extra]
        _say(f"train: training/train.py --config {config} --no-resume {' '.join(extra)}")
        t0 = time.perf_counter()
        summary = main(argv)
        wall = time.perf_counter() - t0
    rec["randman"] = {
        "command": f"training/train.py --config {config} --no-resume {' '.join(extra)}".strip(),
        "wall_s": wall,
        "steps": summary.get("step"),
        "epochs": summary["config"]["train"]["epochs"],
        "test_accuracy": summary.get("test_accuracy"),
        "train_accuracy": summary.get("train_accuracy"),
        "logistic_baseline_accuracy": summary.get("logistic_baseline_accuracy"),
    }
    _say(f"train: randman {_row(rec.data['randman'])}")
    return "ok"


def plan_pd14(
    probe: dict,
    probe_scale: float,
    ladder: tuple[float, ...],
    remaining_s: float,
    *,
    safety: float = 1.25,
    margin_s: float = 10.0,
) -> tuple[float | None, str, dict[str, float]]:
    """The largest PD14 scale of ``ladder`` predicted to fit in ``remaining_s`` seconds.

    Cost model from the run at ``probe_scale``: a fixed part (process start, imports,
    analysis: ``wall_s - build_s - sim_s``) plus build and simulation time proportional to
    the scale (neurons, synapses and spikes all are; the probe's compile time is scaled
    too, so the prediction errs high). A scale fits when ``safety * predicted + margin_s``
    is within the time left.

    Args:
        probe: the probe run's ``wall_s``, ``build_s`` and ``sim_s``.
        probe_scale: its neuron-number scale.
        ladder: the candidate scales (only those above ``probe_scale`` count).
        remaining_s: seconds left.
        safety: factor on the prediction.
        margin_s: seconds kept in reserve.

    Returns:
        ``(scale or None, reason, {scale: predicted seconds})``.

    Examples:
        >>> plan_pd14({"wall_s": 20, "build_s": 8, "sim_s": 2}, 0.1, (1.0, 0.5), 200.0)[0]
        0.5
    """
    fixed = max(probe["wall_s"] - probe["build_s"] - probe["sim_s"], 0.0)
    per_scale = (probe["build_s"] + probe["sim_s"]) / probe_scale
    predicted = {s: fixed + per_scale * s for s in ladder if s > probe_scale}
    for s in sorted(predicted, reverse=True):
        if safety * predicted[s] + margin_s <= remaining_s:
            reason = f"scale {s}: predicted {predicted[s]:.0f} s, {remaining_s:.0f} s left"
            return s, reason, {str(k): v for k, v in predicted.items()}
    if not predicted:
        reason = f"no scale above {probe_scale} in the ladder"
    else:
        reason = (
            f"no scale of {sorted(predicted)} fits the {remaining_s:.0f} s left "
            f"(predicted {', '.join(f'{k}: {v:.0f} s' for k, v in predicted.items())})"
        )
    return None, reason, {str(k): v for k, v in predicted.items()}


def _sim_case(rec: Record, case: str, script: str, argv: list[str], meta: dict) -> dict | None:
    """Run one network script (as ``sim_cpu.py`` does) within the time left; record a row."""
    import sim_cpu

    timeout = rec.remaining() - 1.0
    row = {"case": case, **meta, "args": " ".join(argv)}
    if timeout < 5.0:
        rec.append("cases", {**row, "error": f"skipped: {max(timeout, 0):.0f} s left"})
        return None
    _say(f"sim: {script} {row['args']} (timeout {timeout:.0f} s)")
    t0 = time.perf_counter()
    try:
        s = sim_cpu._run(script, "snnjax", argv, threads=1, timeout=timeout)
    except subprocess.TimeoutExpired:
        rec.append("cases", {**row, "error": f"timeout after {timeout:.0f} s"})
        return None
    except subprocess.CalledProcessError as err:
        rec.append("cases", {**row, "error": f"exit code {err.returncode} (see log)"})
        return None
    row.update(
        wall_s=time.perf_counter() - t0,
        n_neurons=s["n_neurons"],
        n_synapses=s["n_synapses"],
        bytes_per_synapse=(s["connectivity_bytes"] / s["n_synapses"])
        if s.get("connectivity_bytes") and s["n_synapses"]
        else None,
        build_s=s["build_s"],
        sim_s=s["sim_s"],
        rtf=s["rtf"],
        simtime_ms=s["simtime_ms"],
        presim_ms=s["presim_ms"],
        rates_hz=s["rates_hz"],
        cv_isi=s.get("cv_isi"),
        peak_rss_mb=s["peak_rss_mb"],
    )
    if case == "pd14" and meta.get("scale") == 1.0 and meta.get("k_scale") == 1.0:
        from snnjax.networks import PD14_RATES_HZ

        row["rate_rel_diff_vs_published"] = {
            pop: (rate - PD14_RATES_HZ[pop]) / PD14_RATES_HZ[pop]
            for pop, rate in s["rates_hz"].items()
            if rate is not None and pop in PD14_RATES_HZ
        }
    rec.append("cases", row)
    _say(f"sim: {_row({k: v for k, v in row.items() if not isinstance(v, dict)})}")
    return row


SWEEP_RESERVE_S = 60.0  # the sim section's time kept for the sweep after PD14
SWEEP_KEYS = ("instances", "n_neurons", "batched_s", "batched_s_per_instance",
              "one_by_one_s_per_instance", "speedup_per_instance")  # fmt: skip


def _sweep_case(rec: Record, smoke: bool) -> bool:
    """#15's Brunel phase diagram as one vmapped simulation (``simulation/sweep.py``: 64
    instances of order 100 batched vs one by one; pure JAX off the CPU) within the time
    left: ``rec["sweep"]``; False where it failed (not for lack of time)."""
    argv = ("--g 3 5 --eta 1 2 --order 10 --simtime 50 --presim 10 --one-by-one 2".split()
            if smoke else [])  # fmt: skip
    timeout = rec.remaining() - 1.0
    if timeout < 5.0:
        rec["sweep"] = {"error": f"skipped: {max(timeout, 0):.0f} s left"}
        return True
    _say(f"sim: sweep.py {' '.join(argv)} (timeout {timeout:.0f} s)")
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp) / "sweep.json"
        cmd = [sys.executable, str(ROOT / "simulation" / "sweep.py"), "--out", str(out),
               "--no-plot", "--no-progress", *argv]  # fmt: skip
        try:
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, timeout=timeout)
        except subprocess.TimeoutExpired:
            rec["sweep"] = {"error": f"timeout after {timeout:.0f} s"}
            return True
        except subprocess.CalledProcessError as err:
            rec["sweep"] = {"error": f"exit code {err.returncode} (see log)"}
            return False
        result = json.loads(out.read_text())
    rec["sweep"] = {key: result[key] for key in SWEEP_KEYS}
    _say(f"sim: sweep {_row(rec.data['sweep'])}")
    return True


def section_sim(rec: Record, args) -> str:
    """Brunel order 2500, then PD14 at scale 0.1 and at the largest scale that fits with
    :data:`SWEEP_RESERVE_S` left, then the vmapped sweep."""
    rec["pd14_anchors_rtf"] = PD14_ANCHORS_RTF
    rec["cases"] = []
    if args.smoke:
        brunel, simtime, presim = 20, 50.0, 10.0
        probe_scale, k_scale, ladder = 0.01, 0.05, ()
    else:
        brunel, simtime, presim = 2500, 1000.0, 500.0
        probe_scale, k_scale, ladder = 0.1, 1.0, PD14_LADDER
    argv = f"--order {brunel} --simtime {simtime}".split()
    _sim_case(rec, "brunel", "brunel.py", argv, {"order": brunel})

    def pd14(scale):
        argv = f"--scale {scale} --k-scale {k_scale} --simtime {simtime} --presim {presim}"
        meta = {"scale": scale, "k_scale": k_scale}
        return _sim_case(rec, "pd14", "microcircuit.py", argv.split(), meta)

    probe = pd14(probe_scale)
    if probe is not None:
        scale, reason, predicted = plan_pd14(probe, probe_scale, ladder,
                                             rec.remaining() - SWEEP_RESERVE_S)  # fmt: skip
        rec["pd14_plan"] = {"scale": scale, "reason": reason, "predicted_s": predicted}
        _say(f"sim: PD14 plan: {reason}")
        if scale is not None:
            pd14(scale)
    swept = _sweep_case(rec, args.smoke)
    errors = [c["error"] for c in rec.data["cases"] if "error" in c]
    if not swept or any(e.startswith("exit code") for e in errors):
        return "failed"
    out_of_time = errors or "error" in rec.data["sweep"]  # timeout, skipped
    return "partial" if out_of_time else "ok"


CHILDREN = {
    "env": section_env,
    "kernels": section_kernels,
    "kernels-worker": kernels_worker,
    "lif_kernels": section_lif_kernels,
    "train": section_train,
    "sim": section_sim,
}


def _child(args) -> int:
    """Run one section in this process; its status and any traceback go into its file."""
    rec = Record(pathlib.Path(args.result), deadline=args.deadline)
    try:
        rec["status"] = CHILDREN[args.child](rec, args) or "ok"
    except BaseException:  # recorded for the parent, whatever it was (SystemExit included)
        rec.data["error"] = traceback.format_exc()
        rec["status"] = "failed"
        _say(rec.data["error"])
    return 0


# -------------------------------------------------------------------------------- parent


class _Interrupted(Exception):
    pass


def _on_signal(signum, frame):
    raise _Interrupted(signal.Signals(signum).name)


def _child_cmd(name: str, result: pathlib.Path, deadline: float, smoke: bool, *more) -> list:
    """This script, run as the child process of section ``name``."""
    flags = ["--result", str(result), "--deadline", repr(deadline), *more]
    return [sys.executable, __file__, "--child", name, *flags, *(["--smoke"] if smoke else [])]


def _child_env(smoke: bool) -> dict[str, str]:
    env = dict(os.environ)
    paths = [str(ROOT), str(BENCH), *filter(None, [env.get("PYTHONPATH")])]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["PYTHONUNBUFFERED"] = "1"
    if smoke:
        env["JAX_PLATFORMS"] = "cpu"
    return env


def _kill_group(proc: subprocess.Popen) -> None:
    """End a section's process group (the section and the processes it started)."""
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            pass


def run_section(name: str, timeout: float, smoke: bool, tmp: pathlib.Path, update) -> dict:
    """Run section ``name`` in a child process for at most ``timeout`` seconds.

    The child's output is echoed line by line (its last lines are kept); ``update(entry)``
    is called every few seconds with what the child has written so far.
    """
    part = tmp / f"{name}.json"
    cmd = _child_cmd(name, part, time.time() + timeout - GRACE_S, smoke)
    t0 = time.time()
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=_child_env(smoke),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    tail = collections.deque(maxlen=60)

    def pump():
        for line in proc.stdout:
            tail.append(line.rstrip("\n")[-1000:])
            print(f"[{name}] {line}", end="", flush=True)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    entry = {"status": "running", "timeout_s": round(timeout, 1)}

    def collect():
        try:
            data = json.loads(part.read_text())
        except (OSError, ValueError):
            data = {}
        entry.update(
            wall_s=round(time.time() - t0, 1),
            result={k: v for k, v in data.items() if k not in ("status", "error")},
            error=data.get("error"),
            log_tail=list(tail),
        )
        return data.get("status")

    try:
        while True:
            try:
                proc.wait(timeout=min(5.0, max(timeout - (time.time() - t0), 0.1)))
                break
            except subprocess.TimeoutExpired:
                collect()
                update(entry)
                if time.time() - t0 >= timeout:
                    _kill_group(proc)
                    entry["status"] = "timeout"
                    break
    except BaseException:
        _kill_group(proc)
        reader.join(timeout=5.0)
        collect()
        update(entry)
        raise
    reader.join(timeout=5.0)
    status = collect()
    if entry["status"] != "timeout":
        entry["exit_code"] = proc.returncode
        if status is None:
            entry["status"] = "failed"
            entry["error"] = entry["error"] or f"exit code {proc.returncode}, no status written"
        else:
            entry["status"] = status
    return entry


def _budgets(sections: list[str], smoke: bool, total: float | None) -> dict[str, float]:
    base = SMOKE_BUDGET_S if smoke else BUDGET_S
    budgets = {name: float(base[name]) for name in sections}
    if total is not None:
        scale = total / sum(budgets.values())
        budgets = {name: b * scale for name, b in budgets.items()}
    return budgets


def _machine() -> dict:
    return {
        "hostname": platform.node(),
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }


def download_wheels(dest: str) -> int:
    """Download the wheels the GPU machines lack (versions as installed here) into ``dest``."""
    import importlib.metadata

    pins = [f"{name}=={importlib.metadata.version(name)}" for name in CARRIED_WHEELS]
    platforms = ["manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"]
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    cmd += ["--python-version", "3.12", "--implementation", "cp"]
    cmd += [f"--platform={name}" for name in platforms] + ["-d", dest, *pins]
    _say(" ".join(cmd))
    return subprocess.run(cmd).returncode


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=pathlib.Path, help="JSON report (rewritten as it goes)")
    p.add_argument("--smoke", action="store_true", help="CPU, tiny sizes, interpret mode")
    p.add_argument(
        "--sections",
        nargs="+",
        choices=SECTIONS,
        default=list(SECTIONS),
        help="sections to run (env always runs first)",
    )
    p.add_argument(
        "--budget",
        type=float,
        default=None,
        help="total seconds (default: the sum of the section budgets, 450 on GPU)",
    )
    p.add_argument("--download-wheels", metavar="DIR", help="fetch the wheels to carry; exit")
    p.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    p.add_argument("--deadline", type=float, default=math.inf, help=argparse.SUPPRESS)
    p.add_argument("--shard", default="0/1", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return _child(args)
    if args.download_wheels:
        return download_wheels(args.download_wheels)
    if args.out is None:
        p.error("--out is required")

    sections = ["env"] + [s for s in SECTIONS if s in args.sections and s != "env"]
    budgets = _budgets(sections, args.smoke, args.budget)
    start = time.time()
    end = start + sum(budgets.values())
    report = {
        "tool": "benchmarks/gpu_check.py",
        "command": " ".join([pathlib.Path(sys.executable).name, *sys.argv]),
        "smoke": args.smoke,
        "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "finished": None,
        "wall_s": None,
        "budget_s": round(end - start, 1),
        "machine": _machine(),
        "sections": {n: {"status": "pending", "budget_s": round(b, 1)} for n, b in budgets.items()},
    }
    out = args.out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)

    def save():
        report["wall_s"] = round(time.time() - start, 1)
        write_json(out, report)

    def update(entry):
        report["sections"][name].update(entry)
        save()

    save()
    signal.signal(signal.SIGTERM, _on_signal)
    _say(f"gpu_check: sections {sections}, budget {end - start:.0f} s, report {out}")
    tmp_dir = tempfile.TemporaryDirectory(prefix="gpu_check_")  # the sections' own files
    tmp, stop = pathlib.Path(tmp_dir.name), None
    try:
        for i, name in enumerate(sections):
            if stop:
                update({"status": "skipped", "error": stop})
                continue
            timeout = end - time.time() - sum(budgets[n] for n in sections[i + 1 :])
            if timeout < 5.0:
                update({"status": "skipped", "error": f"no time left ({timeout:.0f} s)"})
                continue
            _say(f"\n=== {name} (up to {timeout:.0f} s) ===")
            update(run_section(name, timeout, args.smoke, tmp, update))
            entry = report["sections"][name]
            _say(f"=== {name}: {entry['status']} in {entry.get('wall_s', 0):.1f} s ===")
            backend = entry.get("result", {}).get("backend")
            if name == "env" and not args.smoke and backend not in (None, "gpu"):
                stop = f"JAX sees no GPU (backend {backend!r}); nothing else is run"
    except _Interrupted as err:
        for entry in report["sections"].values():
            if entry["status"] in ("pending", "running"):
                entry["status"] = "interrupted"
                entry["error"] = f"gpu_check received {err}"
    finally:
        report["finished"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        save()
        tmp_dir.cleanup()
    _say(f"\n=== gpu_check: {report['wall_s']:.0f} s, wrote {out} ===")
    for n, entry in report["sections"].items():
        error = (entry.get("error") or "").strip().splitlines()[-1:]
        _say(f"{n:12s} {entry['status']:12s} {entry.get('wall_s') or 0:6.1f} s  {''.join(error)}")
    return 0 if all(e["status"] == "ok" for e in report["sections"].values()) else 1


if __name__ == "__main__":
    sys.path[:0] = [str(ROOT), str(BENCH)]
    sys.exit(main())
