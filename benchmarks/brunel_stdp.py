"""The plastic Brunel network (E -> E ``stdp_synapse``) on snnjax and NEST 3.10, side by side.

Runs ``simulation/brunel_stdp.py`` once per backend, each in its own process, one after
the other (order 2500 = 12,500 neurons, 1 s, by default; ``--snapshots 1``: the weights
are read only at the start and the end, outside the timed simulation), and prints one
Markdown table: build and simulation time, the snnjax/NEST ratio of simulation times,
rates, the mean and spread of the E -> E weights at the end, memory per synapse and the
peak RSS. Memory per synapse: snnjax's ``connectivity_bytes`` (CSRs, plastic state and row
pointers) over all synapses; NEST's ``sizeof`` of ``stdp_synapse`` (the connection object
alone, without NEST's per-synapse source tables) for its plastic synapses.

Usage::

    python benchmarks/brunel_stdp.py                         # order 2500 (minutes)
    python benchmarks/brunel_stdp.py --order 500 --simtime 500
    python benchmarks/brunel_stdp.py --smoke --backends snnjax   # seconds (the tests run this)

NEST comes from ``pip install nest-simulator`` and runs with ``--threads`` threads (default 2).
"""

import argparse
import json
import pathlib
import sys

_HERE = str(pathlib.Path(__file__).resolve().parent)
if _HERE not in sys.path:  # python benchmarks/brunel_stdp.py puts it there; runpy may not
    sys.path.insert(0, _HERE)
from sim_cpu import _run  # noqa: E402  (one process per run, as sim_cpu.py)


def _nest_size_of() -> int | None:
    try:
        import nest
    except ImportError:
        return None
    return int(nest.GetDefaults("stdp_synapse", "sizeof"))


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--backends", default="nest,snnjax", help="comma-separated: nest, snnjax")
    p.add_argument("--order", type=int, default=2500, help="NE = 4 order, NI = order")
    p.add_argument("--simtime", type=float, default=1000.0, help="ms")
    p.add_argument("--seed", type=int, default=55)
    p.add_argument("--threads", type=int, default=2, help="NEST local_num_threads")
    p.add_argument("--smoke", action="store_true", help="order 20, 50 ms (seconds)")
    p.add_argument("--out", type=pathlib.Path, default=pathlib.Path("runs/brunel_stdp_bench.json"))
    a = p.parse_args(argv)
    order, simtime = (20, 50.0) if a.smoke else (a.order, a.simtime)
    args = ["--order", str(order), "--simtime", str(simtime), "--seed", str(a.seed),
            "--snapshots", "1"]  # fmt: skip
    print("| backend | neurons | synapses | build s | sim s | snnjax/NEST sim | rates E, I (Hz) "
          "| E->E weight mean ± sd | bytes/synapse | peak RSS MB |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    rows, nest = [], None
    for backend in a.backends.split(","):
        s = _run("brunel_stdp.py", backend, args, a.threads)
        nest = s if backend == "nest" else nest
        ratio = f"{s['sim_s'] / nest['sim_s']:.2f}" if nest and backend != "nest" else ""
        last = s["weights"]["snapshots"][-1]
        if backend == "snnjax":
            per_syn = f"{s['connectivity_bytes'] / s['n_synapses']:.1f} (all)"
        else:
            size = _nest_size_of()
            per_syn = "?" if size is None else f"{size} (stdp_synapse object)"
        rates = ", ".join(f"{s['rates_hz'][k]:.2f}" for k in ("E", "I"))
        print(f"| {backend} | {s['n_neurons']} | {s['n_synapses']} | {s['build_s']:.2f} | "
              f"{s['sim_s']:.2f} | {ratio} | {rates} | {last['mean']:.4f} ± {last['std']:.4f} "
              f"| {per_syn} | {s['peak_rss_mb']:.0f} |", flush=True)  # fmt: skip
        rows.append({"backend": backend, "bytes_per_synapse": per_syn, **s})
    a.out.parent.mkdir(parents=True, exist_ok=True)
    summary = {"order": order, "simtime_ms": simtime, "threads": a.threads}
    a.out.write_text(json.dumps({**summary, "rows": rows}, indent=2) + "\n")
    print(f"wrote {a.out}")
    return rows


if __name__ == "__main__":
    main()
