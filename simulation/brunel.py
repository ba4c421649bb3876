"""Simulate the Brunel (2000) network on snnjax or NEST and summarise its activity.

Usage::

    python simulation/brunel.py                      # configs/brunel.yaml on snnjax
    python simulation/brunel.py --backend nest --order 500 --simtime 500 --threads 2 \\
        --out /tmp/brunel_nest.json --spikes-out /tmp/brunel_nest.npz

Writes a JSON summary (rates, CV of ISIs, correlations, Fano factors per population, build
and simulation wall times, synapse count, memory) to ``--out`` and a raster plot next to it.
"""

import pathlib

from snnjax.networks import BRUNEL_MODELS, BrunelParams, build_brunel, cli, make_parser

CONFIG = pathlib.Path(__file__).resolve().parents[1] / "configs" / "brunel.yaml"


def main(argv: list[str] | None = None) -> dict:
    parser = make_parser(__doc__.split("\n")[0], CONFIG)
    parser.add_argument("--order", type=int, default=None, help="NE = 4*order, NI = order")
    parser.add_argument("--model", choices=BRUNEL_MODELS, default=None, help="neuron model")
    return cli(parser, argv, name="brunel", params_cls=BrunelParams, build=build_brunel)


if __name__ == "__main__":
    main()
