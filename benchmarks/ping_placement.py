"""Coupled PING assemblies on 2 and 4 local devices: the three neuron placements side by side.

Each case runs ``simulation/ping.py --devices D --placement P`` once, in its own process (so
that ``jax_num_cpu_devices`` can be set; on CPU the "devices" share the host's cores), one
after the other, and prints one Markdown table: build and simulation time, load imbalance
(max / mean synapses per shard), spikes sent to other shards per step (``payload``) and the
buffer bytes moved with the fixed-capacity padding (``padded``), rates, and the E rate's
spectral peak. The rows also go to ``--out`` as JSON.

The exchange defaults to ``all_to_all``: each shard sends a spike only to the shards holding
its targets, so a placement that keeps the assemblies together sends less (with
``all_gather`` every spike goes to every shard whatever the placement). ``block`` keeps each
assembly on one shard when the shards divide ``n_assemblies``; ``partition`` (METIS) cuts the
few inter-assembly synapses; ``round_robin`` spreads every assembly over all shards.

Usage::

    python benchmarks/ping_placement.py                        # 8 x 100 cells, 1 s (minutes)
    python benchmarks/ping_placement.py --assemblies 8 --cells 50 --simtime 300 --devices 2
    python benchmarks/ping_placement.py --smoke                # 2 x 20 cells, 100 ms
"""

import argparse
import json
import pathlib
import sys

_HERE = str(pathlib.Path(__file__).resolve().parent)
if _HERE not in sys.path:  # python benchmarks/ping_placement.py puts it there; runpy may not
    sys.path.insert(0, _HERE)
from sim_cpu import _run  # noqa: E402  (one process per run, as sim_cpu.py)

PLACEMENTS = ("round_robin", "block", "partition")
EXCHANGES = ("all_gather", "all_to_all", "point_to_point")


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--placements", default=",".join(PLACEMENTS), help="comma-separated")
    p.add_argument("--devices", default="2,4", help="comma-separated device counts (>= 2)")
    p.add_argument("--exchange", choices=EXCHANGES, default="all_to_all")
    p.add_argument("--assemblies", type=int, default=8)
    p.add_argument("--cells", type=int, default=100, help="cells per assembly")
    p.add_argument("--simtime", type=float, default=1000.0, help="recorded time (ms)")
    p.add_argument("--presim", type=float, default=100.0, help="warm-up (ms)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--smoke", action="store_true", help="2 x 20 cells, 100 ms (no warm-up)")
    p.add_argument("--out", type=pathlib.Path, default=pathlib.Path("runs/ping_placement.json"))
    a = p.parse_args(argv)
    placements = a.placements.split(",")
    for name in placements:
        if name not in PLACEMENTS:
            p.error(f"--placements: unknown placement {name!r}; valid: {', '.join(PLACEMENTS)}")
    try:
        devices = [int(d) for d in a.devices.split(",")]
    except ValueError:
        p.error(f"--devices: expected comma-separated ints; got {a.devices!r}")
    if any(d < 2 for d in devices):
        p.error(f"--devices: every count must be >= 2; got {a.devices!r}")
    if a.smoke:
        a.assemblies, a.cells, a.simtime, a.presim = 2, 20, 100.0, 0.0

    rows = []
    print(f"PING: {a.assemblies} assemblies x {a.cells} cells, {a.simtime:g} ms "
          f"(+ {a.presim:g} ms warm-up), exchange {a.exchange}")  # fmt: skip
    print("| devices | placement | neurons | synapses | build s | sim s | load imbalance | "
          "payload B/step | padded B/step | rates E, I (Hz) | gamma peak Hz (power) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for n_dev in devices:
        for placement in placements:
            args = ["--assemblies", str(a.assemblies), "--cells", str(a.cells),
                    "--simtime", str(a.simtime), "--presim", str(a.presim),
                    "--seed", str(a.seed), "--devices", str(n_dev),
                    "--placement", placement, "--exchange", a.exchange]  # fmt: skip
            s = _run("ping.py", "snnjax", args, threads=1)
            sh = s["shards"]
            rates = ", ".join(_fmt(s["rates_hz"][k], ".1f") for k in ("E", "I"))
            gamma = f"{_fmt(s['gamma_peak_hz'], '.1f')} ({_fmt(s['gamma_power_fraction'], '.2f')})"
            print(f"| {n_dev} | {placement} | {s['n_neurons']} | {s['n_synapses']} | "
                  f"{s['build_s']:.1f} | {s['sim_s']:.2f} | {sh['load_imbalance']:.3f} | "
                  f"{sh['payload_bytes_per_step']:.2f} | {sh['padded_bytes_per_step']:.1f} | "
                  f"{rates} | {gamma} |", flush=True)  # fmt: skip
            rows.append({"devices": n_dev, "placement": placement, **s})
    a.out.parent.mkdir(parents=True, exist_ok=True)
    summary = {"assemblies": a.assemblies, "cells": a.cells, "simtime_ms": a.simtime,
               "presim_ms": a.presim, "exchange": a.exchange}  # fmt: skip
    a.out.write_text(json.dumps({**summary, "rows": rows}, indent=2) + "\n")
    print(f"wrote {a.out}")
    return rows


if __name__ == "__main__":
    main()
