"""Simulate the Potjans & Diesmann (2014) microcircuit on snnjax or NEST and summarise it.

Usage::

    python simulation/microcircuit.py                # configs/microcircuit.yaml on snnjax
    python simulation/microcircuit.py --backend nest --scale 0.1 --k-scale 0.1 \\
        --simtime 500 --presim 500 --threads 2 --out /tmp/mc_nest.json

Statistics cover ``[presim, presim + simtime)``; the JSON summary goes to ``--out`` with a
raster plot next to it. Compare the rates with ``snnjax.networks.PD14_RATES_HZ`` (full scale).
"""

import pathlib

from snnjax.networks import MicrocircuitParams, build_microcircuit, cli, make_parser

CONFIG = pathlib.Path(__file__).resolve().parents[1] / "configs" / "microcircuit.yaml"


def main(argv: list[str] | None = None) -> dict:
    parser = make_parser(__doc__.split("\n")[0], CONFIG)
    parser.add_argument("--scale", type=float, default=None, help="neuron-number scaling")
    parser.add_argument(
        "--k-scale", dest="k_scale", type=float, default=None, help="in-degree scaling"
    )
    return cli(
        parser, argv, name="microcircuit", params_cls=MicrocircuitParams, build=build_microcircuit
    )


if __name__ == "__main__":
    main()
