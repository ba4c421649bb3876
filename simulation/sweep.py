"""The Brunel (2000) phase diagram (g x eta) as one vmapped simulation.

Usage::

    python simulation/sweep.py --out runs/sweep.json          # 8 x 8 = 64 instances
    python simulation/sweep.py --g 3 5 --eta 1 2 --order 20 --simtime 100 --out /tmp/s.json

One network (``iaf_psc_delta``) runs as a pure function (:func:`snnjax.sim.functional`),
batched over the grid with ``jax.vmap`` in one compiled call; each instance has its own
inhibitory weight ``-g J`` and Poisson rate ``eta nu_th C_E``. Writes the JSON
(``instances``, per instance ``g``, ``eta``, ``rate_hz``, ``cv_isi``, ``synchrony``; the
batched time, the one-by-one time per instance through the same compiled function and
``speedup_per_instance``) and the rate, CV ISI and synchrony maps as ``*.png`` next to it.
"""

import argparse
import json
import pathlib

import numpy as np

from snnjax.analysis import phase_diagram_plot
from snnjax.networks import SweepParams, add_field_flags, brunel_sweep


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    d = SweepParams()
    parser.add_argument("--g", type=float, nargs="+", default=list(d.g_values))
    parser.add_argument("--eta", type=float, nargs="+", default=list(d.eta_values))
    add_field_flags(
        parser, d, ("order", "J", "simtime", "presim", "bin_ms", "one_by_one", "seed", "threads")
    )
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("runs/sweep.json"))
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument("--no-progress", action="store_true")
    a = parser.parse_args(argv)
    params = SweepParams(g_values=tuple(a.g), eta_values=tuple(a.eta), order=a.order, J=a.J,
                         simtime=a.simtime, presim=a.presim, bin_ms=a.bin_ms,
                         one_by_one=a.one_by_one, seed=a.seed, threads=a.threads)  # fmt: skip
    result = brunel_sweep(params, progress=not a.no_progress)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=2) + "\n")
    if not a.no_plot:
        shape = (len(a.g), len(a.eta))
        maps = {
            "rate (Hz)": np.reshape(result["rate_hz"], shape),
            "CV ISI": np.reshape([np.nan if v is None else v for v in result["cv_isi"]], shape),
            "synchrony": np.reshape(result["synchrony"], shape),
        }
        phase_diagram_plot(maps, a.g, a.eta, a.out.with_suffix(".png"),
                           title=f"Brunel (2000) phase diagram, {result['n_neurons']} neurons, "
                           f"{result['instances']} instances in one vmapped run")  # fmt: skip
    print(f"{result['instances']} instances: batched {result['batched_s']:.2f} s "
          f"({result['batched_s_per_instance'] * 1e3:.1f} ms per instance), one by one "
          f"{result['one_by_one_s_per_instance'] * 1e3:.1f} ms per instance: speedup "
          f"{result['speedup_per_instance']:.1f}x")  # fmt: skip
    return result


if __name__ == "__main__":
    main()
