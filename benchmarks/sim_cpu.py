"""NEST 3.10 and snnjax side by side on this machine: Brunel and the PD14 microcircuit.

Each case runs ``simulation/brunel.py`` / ``simulation/microcircuit.py`` once per backend, in
its own process (own peak RSS), one after the other, and prints one Markdown table: build
time (snnjax: with its ahead-of-time compilation, also shown apart), simulation time
(without compilation), real-time factor (RTF = sim s / simulated s), snnjax/NEST ratios,
rates, synapses and bytes per synapse.

Usage::

    python benchmarks/sim_cpu.py                       # Brunel order 2500 + PD14 full scale
    python benchmarks/sim_cpu.py --cases brunel --order 500
    python benchmarks/sim_cpu.py --smoke --backends snnjax   # seconds (the tests run this)

NEST comes from ``pip install nest-simulator`` (``make test-peers`` installs it) and runs
with ``--threads`` threads (default 2, the cores of the CI machine).
"""

import argparse
import json
import pathlib
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _run(
    script: str, backend: str, args: list[str], threads: int, timeout: float | None = None
) -> dict:
    """Run ``simulation/<script>`` in its own process; its JSON summary.

    Raises ``subprocess.TimeoutExpired`` after ``timeout`` seconds (the process is killed)
    and ``subprocess.CalledProcessError`` if it fails.
    """
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp) / "summary.json"
        cmd = [sys.executable, str(ROOT / "simulation" / script), "--backend", backend,
               "--threads", str(threads), "--out", str(out), "--no-plot", *args]  # fmt: skip
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, timeout=timeout)
        return json.loads(out.read_text())


def _cases(a) -> dict[str, tuple[str, list[str]]]:
    if a.smoke:
        return {
            "brunel": ("brunel.py", ["--order", "20", "--simtime", "50"]),
            "pd14": ("microcircuit.py",
                     ["--scale", "0.01", "--k-scale", "0.05", "--simtime", "50", "--presim", "10"]),
        }  # fmt: skip
    return {
        "brunel": ("brunel.py", ["--order", str(a.order), "--simtime", str(a.simtime)]),
        "pd14": (
            "microcircuit.py",
            [
                "--scale",
                str(a.scale),
                "--k-scale",
                str(a.k_scale),
                "--simtime",
                str(a.simtime),
                "--presim",
                str(a.presim),
            ],
        ),
    }


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cases", default="brunel,pd14", help="comma-separated: brunel, pd14")
    p.add_argument("--backends", default="nest,snnjax",
                   help="comma-separated: nest, snnjax, snnjax-jax (snnjax without its native "
                        "CPU kernels)")  # fmt: skip
    p.add_argument("--order", type=int, default=2500)
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--k-scale", dest="k_scale", type=float, default=1.0)
    p.add_argument("--simtime", type=float, default=1000.0)
    p.add_argument("--presim", type=float, default=500.0, help="PD14 warm-up (ms)")
    p.add_argument("--threads", type=int, default=2,
                   help="local_num_threads (NEST; snnjax: its native kernels)")  # fmt: skip
    p.add_argument("--smoke", action="store_true", help="tiny networks (seconds)")
    a = p.parse_args(argv)
    cases = _cases(a)
    for name in a.cases.split(","):
        if name not in cases:
            p.error(f"--cases: unknown case {name!r}; valid: {', '.join(cases)}")
    rows = []
    print("| case | backend | neurons | synapses | bytes/syn | build s | compile s | sim s | RTF "
          "| snnjax/NEST sim | peak RSS MB | rates (Hz) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name in a.cases.split(","):
        script, args = cases[name]
        by_backend = {}
        for backend in a.backends.split(","):
            pure = backend == "snnjax-jax"
            s = _run(script, "snnjax" if pure else backend,
                     [*args, "--native", "off"] if pure else args, a.threads)  # fmt: skip
            by_backend[backend] = s
            nest = by_backend.get("nest")
            ratio = f"{s['sim_s'] / nest['sim_s']:.2f}" if nest and backend != "nest" else ""
            bps = (f"{s['connectivity_bytes'] / s['n_synapses']:.2f}"
                   if s.get("connectivity_bytes") and s["n_synapses"] else "")  # fmt: skip
            rates = ", ".join(f"{k} {v:.2f}" for k, v in s["rates_hz"].items())
            print(f"| {name} | {backend} | {s['n_neurons']} | {s['n_synapses']} | {bps} | "
                  f"{s['build_s']:.1f} | {s.get('compile_s', 0.0):.1f} | {s['sim_s']:.2f} | "
                  f"{s['rtf']:.2f} | {ratio} | "
                  f"{s['peak_rss_mb']:.0f} | {rates} |", flush=True)  # fmt: skip
            rows.append({"case": name, "backend": backend, **s})
    return rows


if __name__ == "__main__":
    main()
