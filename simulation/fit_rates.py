"""Fit a scaled Brunel network to target E/I rates by gradient descent through the simulation.

Usage::

    python simulation/fit_rates.py --out runs/fit_rates.json
    python simulation/fit_rates.py --order 50 --steps 20 --simtime 300 --out /tmp/fit.json

The network (``iaf_psc_exp``, :func:`snnjax.networks.build_brunel`) runs as a pure
function (:func:`snnjax.sim.functional`); four log-scales (the Poisson drive of E and of I,
the excitatory and inhibitory weights) are fitted with Adam on
``sum_X log(rate_X / target_X)**2`` over ``--simtime`` ms, surrogate gradients through every
step and synapse. Then the gradient itself is checked: float64 autodiff of the mean
membrane potential of 20 E neurons (exact, zero spike derivative) against central finite
differences (:func:`snnjax.networks.grad_check`). Writes the JSON (``rates_target``,
``rates_final``, ``loss_initial``, ``loss_final``, ``steps``, ``grad_check_rel_err``, the
curves, times) and the curves as ``*.png`` next to it.
"""

import argparse
import dataclasses
import json
import pathlib
import time

from snnjax.analysis import fit_curves_plot
from snnjax.networks import FitParams, add_field_flags, fit_rates, grad_check


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    defaults = FitParams()
    fields = ("target_E", "target_I", "order", "eta", "g", "J", "simtime", "presim", "steps",
              "learning_rate", "seed")  # fmt: skip
    add_field_flags(parser, defaults, fields)
    parser.add_argument("--eps", type=float, default=1e-6, help="finite-difference step")
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("runs/fit_rates.json"))
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument("--no-progress", action="store_true")
    a = parser.parse_args(argv)
    params = FitParams(**{k: v for k, v in vars(a).items() if hasattr(defaults, k)})
    tic = time.perf_counter()
    result = fit_rates(params, progress=not a.no_progress)
    result["fit_s"] = time.perf_counter() - tic
    tic = time.perf_counter()
    result.update(grad_check(params, eps=a.eps))
    result["grad_check_s"] = time.perf_counter() - tic
    result["params"] = dataclasses.asdict(params)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=2) + "\n")
    if not a.no_plot:
        curves = {pop: [r[i] for r in result["rates_curve"]] for i, pop in enumerate("EI")}
        fit_curves_plot(result["loss_curve"], curves, result["rates_target"],
                        a.out.with_suffix(".png"), title="Brunel (iaf_psc_exp): rates fitted "
                        "through the simulation")  # fmt: skip
    final, target = result["rates_final"], result["rates_target"]
    print(f"rates E {final['E']:.2f} Hz (target {target['E']:g}), I {final['I']:.2f} Hz "
          f"(target {target['I']:g}); loss {result['loss_initial']:.3g} -> "
          f"{result['loss_final']:.3g} in {result['steps']} steps; grad check rel. error "
          f"{result['grad_check_rel_err']:.2e}")  # fmt: skip
    return result


if __name__ == "__main__":
    main()
