"""Distributed simulation on this machine: exchange traffic and time, strong and weak scaling.

Every configuration runs ``simulation/brunel.py`` / ``simulation/microcircuit.py`` in its
own process: ``--devices D`` (``D`` simulated CPU devices in one process, ``shard_map``) or
under ``mpirun -np R`` (one shard per rank, ``mpi4jax``), with ``--time-exchange`` (the
exchange alone at the measured activity vs a whole block). Prints Markdown tables:

- **schemes**: the three exchange schemes on Brunel and a scaled PD14 at ``--shards``
  devices: exchange bytes per step (spikes sent; buffers moved), exchange time fraction;
- **strong**: one Brunel network (``--order``) over 1..8 devices and 1..4 ranks;
- **weak**: Brunel with ``order = --weak-order x shards``.

Usage::

    python benchmarks/sim_scaling.py                    # all tables (~15 min on 2 cores)
    python benchmarks/sim_scaling.py --tables schemes --simtime 200
    python benchmarks/sim_scaling.py --smoke            # seconds (the tests run this)
"""

import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
_ENV = {
    **os.environ,
    "OMPI_ALLOW_RUN_AS_ROOT": "1",
    "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
    "OMPI_MCA_mpi_yield_when_idle": "1",
}  # ranks may share cores: do not spin


def run(script: str, args: list[str], *, devices: int = 1, ranks: int = 1) -> dict:
    """One configuration in its own process(es); the JSON summary of rank 0."""
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp) / "summary.json"
        cmd = [sys.executable, str(ROOT / "simulation" / script), "--out", str(out),
               "--no-plot", "--time-exchange", "--devices", str(devices), *args]  # fmt: skip
        if ranks > 1:
            mpirun = shutil.which("mpirun")
            if mpirun is None:
                raise SystemExit("mpirun not found: apt-get install openmpi-bin libopenmpi-dev")
            cmd = [mpirun, "--oversubscribe", "-np", str(ranks), *cmd]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=_ENV)
        return json.loads(out.read_text())


def _row(label: str, res: dict) -> str:
    sh = res["shards"]
    timing = sh.get("timing", {})
    return (
        f"| {label} | {res['n_neurons']} | {sh['shards']} | {sh['exchange']} | "
        f"{sh['placement']} | {res['build_s']:.1f} | {res['sim_s']:.1f} | {res['rtf']:.1f} | "
        f"{sh['payload_bytes_per_step']:.0f} | {sh['padded_bytes_per_step']:.0f} | "
        f"{100 * timing.get('exchange_fraction', 0.0):.0f} % | {sh['load_imbalance']:.2f} |"
    )


HEADER = (
    "| case | neurons | shards | exchange | placement | build s | sim s | RTF | "
    "sent B/step | moved B/step | exchange time | imbalance |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def main(argv: list[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tables", default="schemes,strong,weak")
    parser.add_argument("--order", type=int, default=500, help="Brunel order (strong, schemes)")
    parser.add_argument("--weak-order", type=int, default=250, help="Brunel order per shard")
    parser.add_argument("--scale", type=float, default=0.05, help="PD14 scale (schemes)")
    parser.add_argument("--simtime", type=float, default=500.0)
    parser.add_argument("--shards", type=int, default=4, help="devices for the schemes table")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (tests)")
    a = parser.parse_args(argv)
    if a.smoke:  # one collective run on 2 devices, one on 2 ranks
        a.order, a.simtime, a.shards, a.tables = 20, 50.0, 2, "smoke"
    t = ["--simtime", str(a.simtime)]
    rows = []
    tables = a.tables.split(",")
    if "schemes" in tables:
        pd14 = ["--scale", str(a.scale), "--k-scale", "0.1", "--presim", "0", *t]
        for ex in ("all_gather", "all_to_all", "point_to_point"):
            for script, args, name in (("brunel.py", ["--order", str(a.order), *t], "brunel"),
                                       ("microcircuit.py", pd14, "pd14")):  # fmt: skip
                res = run(script, [*args, "--exchange", ex, "--placement", "block"],
                          devices=a.shards)  # fmt: skip
                rows.append(_row(f"schemes {name}", res))
                print(rows[-1], flush=True)
    brunel = ["--exchange", "point_to_point", "--placement", "block", *t]
    if "smoke" in tables:
        brunel_args = ["--order", str(a.order), "--exchange", "all_to_all", *t]
        rows.append(_row("smoke devices", run("brunel.py", brunel_args, devices=2)))
        rows.append(_row("smoke mpirun", run("brunel.py", brunel_args, ranks=2)))
    if "strong" in tables:
        for devices, ranks in ((1, 1), (2, 1), (4, 1), (8, 1), (1, 2), (1, 4)):
            res = run("brunel.py", ["--order", str(a.order), *brunel], devices=devices,
                      ranks=ranks)  # fmt: skip
            rows.append(_row(f"strong {'mpirun' if ranks > 1 else 'devices'}", res))
            print(rows[-1], flush=True)
    if "weak" in tables:
        for devices, ranks in ((1, 1), (2, 1), (4, 1), (8, 1), (1, 2), (1, 4)):
            order = str(a.weak_order * devices * ranks)
            res = run("brunel.py", ["--order", order, *brunel], devices=devices, ranks=ranks)
            rows.append(_row(f"weak {'mpirun' if ranks > 1 else 'devices'}", res))
            print(rows[-1], flush=True)
    print(HEADER)
    print("\n".join(rows))
    return rows


if __name__ == "__main__":
    main()
