"""The Brette et al. (2007) benchmarks COBA, CUBA, COBAHH on snnjax and NEST 3.10, side by side.

Each case runs ``simulation/brette2007.py --model M`` once per backend, in its own process,
one after the other (4000 neurons, 1 s of biological time, dt = 0.1 ms, by default), and
prints one Markdown table: build time, simulation time, real-time factor (RTF = wall time /
simulated time), the snnjax/NEST ratio of simulation times, synapses and rates; the rows also
go to ``--out`` as JSON. A fourth case, ``coba_adex`` (COBA with ``aeif_cond_exp`` neurons,
not one of the study's networks), compares the AdEx integration with NEST's; Brian2 has
no twin of it here. A network whose neuron model snnjax lacks gets a "not available" row.

Usage::

    python benchmarks/brette2007.py                          # full size (minutes)
    python benchmarks/brette2007.py --cases coba --scale 0.5 --simtime 500
    python benchmarks/brette2007.py --smoke --backends snnjax   # seconds (the tests run this)

NEST comes from ``pip install nest-simulator`` and runs with ``--threads`` threads (default 2).

**Brian2** runs in a venv of its own (it needs ``numpy<2.4``; its ``cpp_standalone``
device needs a C++ compiler): ``benchmarks/brette2007_brian2.py`` builds the same three
networks in Brian2 and writes their simulation times; ``--brian2 FILE`` puts them in this
table's last column (otherwise it reads "not measured")::

    python -m venv /tmp/brian2 && /tmp/brian2/bin/pip install brian2 "numpy<2.4"
    /tmp/brian2/bin/python benchmarks/brette2007_brian2.py --out runs/brette2007_brian2.json
    python benchmarks/brette2007.py --brian2 runs/brette2007_brian2.json
"""

import argparse
import json
import pathlib
import sys

_HERE = str(pathlib.Path(__file__).resolve().parent)
if _HERE not in sys.path:  # python benchmarks/brette2007.py puts it there; runpy may not
    sys.path.insert(0, _HERE)
from sim_cpu import _run  # noqa: E402  (one process per run, as sim_cpu.py)

from snnjax.networks import BRETTE_NEURON_MODELS  # noqa: E402

CASES = ("coba", "cuba", "cobahh", "coba_adex")


def _snnjax_has(model: str) -> bool:
    """Whether snnjax has the neuron model of the network ``model``."""
    from snnjax.sim import MODEL_NAMES

    return BRETTE_NEURON_MODELS[model] in MODEL_NAMES


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cases", default=",".join(CASES),
                   help="comma-separated: " + ", ".join(CASES))  # fmt: skip
    p.add_argument("--backends", default="nest,snnjax", help="comma-separated: nest, snnjax")
    p.add_argument("--scale", type=float, default=1.0, help="N = 4000 * scale")
    p.add_argument("--simtime", type=float, default=1000.0, help="ms")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=2, help="NEST local_num_threads")
    p.add_argument("--smoke", action="store_true", help="scale 0.05, 50 ms (seconds)")
    p.add_argument("--out", type=pathlib.Path, default=pathlib.Path("runs/brette2007_bench.json"))
    p.add_argument("--brian2", type=pathlib.Path, default=None,
                   help="JSON of benchmarks/brette2007_brian2.py (its own venv)")  # fmt: skip
    a = p.parse_args(argv)
    brian2 = {r["case"]: r for r in json.loads(a.brian2.read_text())} if a.brian2 else {}
    cases = a.cases.split(",")
    for name in cases:
        if name not in CASES:
            p.error(f"--cases: unknown case {name!r}; valid: {', '.join(CASES)}")
    scale, simtime = (0.05, 50.0) if a.smoke else (a.scale, a.simtime)

    rows = []
    print("| case | backend | neurons | synapses | build s | sim s | RTF | snnjax/NEST sim | "
          "rates E, I (Hz) | brian2 (cpp_standalone) sim s |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in cases:
        b2 = brian2.get(name)
        b2_col = (f"{b2['sim_s']:.3f} (rates {b2['rates_hz']['E']:.2f}, {b2['rates_hz']['I']:.2f})"
                  if b2 else "not measured")  # fmt: skip
        args = ["--model", name, "--scale", str(scale), "--simtime", str(simtime),
                "--seed", str(a.seed)]  # fmt: skip
        nest = None
        for backend in a.backends.split(","):
            if backend == "snnjax" and not _snnjax_has(name):
                print(f"| {name} | snnjax | not available (no {BRETTE_NEURON_MODELS[name]}) "
                      f"| | | | | | | {b2_col} |", flush=True)  # fmt: skip
                rows.append({"case": name, "backend": backend, "available": False})
                continue
            s = _run("brette2007.py", backend, args, a.threads)
            nest = s if backend == "nest" else nest
            ratio = f"{s['sim_s'] / nest['sim_s']:.2f}" if nest and backend != "nest" else ""
            rates = ", ".join(
                "-" if s["rates_hz"][k] is None else f"{s['rates_hz'][k]:.2f}" for k in ("E", "I")
            )
            print(f"| {name} | {backend} | {s['n_neurons']} | {s['n_synapses']} | "
                  f"{s['build_s']:.2f} | {s['sim_s']:.2f} | {s['rtf']:.2f} | {ratio} | {rates} "
                  f"| {b2_col} |", flush=True)  # fmt: skip
            rows.append({"case": name, "backend": backend, "available": True, **s})
    a.out.parent.mkdir(parents=True, exist_ok=True)
    summary = {"scale": scale, "simtime_ms": simtime, "threads": a.threads,
               "brian2": list(brian2.values())}  # fmt: skip
    a.out.write_text(json.dumps({**summary, "rows": rows}, indent=2) + "\n")
    print(f"wrote {a.out}")
    return rows


if __name__ == "__main__":
    main()
