"""The PD14 microcircuit against its published full-scale statistics.

Runs ``simulation/microcircuit.py`` (snnjax, by default full scale: 77,169 neurons,
~3·10⁸ synapses; presim 500 ms, 1 s recorded) in its own process and checks, per
population, the rate against the published full-scale rate (Potjans & Diesmann 2014, NEST's
``full_mean_rates``; within ``--rate-tol``, 10 %) and the CV of the ISIs (in [0.4, 0.8]).
Prints a Markdown table and exits non-zero if a check fails.

Usage::

    python benchmarks/pd14_validation.py                 # full scale (~6 min, ~9.5 GB here)
    python benchmarks/pd14_validation.py --scale 0.1     # scaled (rates then drift)
"""

import argparse
import json
import pathlib
import subprocess
import sys
import tempfile

from snnjax.networks import PD14_RATES_HZ

ROOT = pathlib.Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--k-scale", dest="k_scale", type=float, default=1.0)
    parser.add_argument("--simtime", type=float, default=1000.0)
    parser.add_argument("--presim", type=float, default=500.0)
    parser.add_argument("--seed", type=int, default=55)
    parser.add_argument("--rate-tol", type=float, default=0.10, help="relative rate tolerance")
    parser.add_argument("--out", type=pathlib.Path, default=None, help="keep the JSON summary")
    a = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        out = a.out or pathlib.Path(tmp) / "pd14.json"
        cmd = [sys.executable, str(ROOT / "simulation" / "microcircuit.py"), "--no-plot",
               "--scale", str(a.scale), "--k-scale", str(a.k_scale), "--simtime",
               str(a.simtime), "--presim", str(a.presim), "--seed", str(a.seed),
               "--out", str(out)]  # fmt: skip
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        res = json.loads(out.read_text())
    rows = []
    for pop, ref in PD14_RATES_HZ.items():
        rate, cv = res["rates_hz"][pop], res["cv_isi"][pop]
        rows.append({
            "population": pop, "rate": rate, "published": ref, "rel": rate / ref - 1.0,
            "cv": cv, "ok": abs(rate / ref - 1.0) <= a.rate_tol and 0.4 <= cv <= 0.8,
        })  # fmt: skip
    print(
        f"PD14 scale {a.scale:g}, k-scale {a.k_scale:g}: {res['n_neurons']} neurons, "
        f"{res['n_synapses']} synapses ({res['connectivity_bytes'] / res['n_synapses']:.2f} "
        f"B/syn); build {res['build_s']:.1f} s, simulate {res['sim_s']:.1f} s (RTF "
        f"{res['rtf']:.1f}), peak RSS {res['peak_rss_mb']:.0f} MB\n"
    )
    print("| population | rate (Hz) | published | difference | CV ISI | ok |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        ok = "yes" if r["ok"] else "NO"
        print(f"| {r['population']} | {r['rate']:.3f} | {r['published']:.3f} | "
              f"{100 * r['rel']:+.1f} % | {r['cv']:.3f} | {ok} |")  # fmt: skip
    if not all(r["ok"] for r in rows):
        raise SystemExit(1)
    return rows


if __name__ == "__main__":
    main()
