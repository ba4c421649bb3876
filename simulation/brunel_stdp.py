"""Simulate the Brunel network with plastic E -> E synapses (stdp_synapse) on snnjax or NEST.

Usage::

    python simulation/brunel_stdp.py                 # configs/brunel_stdp.yaml on snnjax
    python simulation/brunel_stdp.py --backend nest --order 500 --simtime 1000 --threads 2

Writes the JSON summary of ``simulation/brunel.py`` plus ``weights`` (the E -> E weight
histogram and its mean and spread at each snapshot) to ``--out``, a raster plot and the
weight histogram over time (``*_weights.png``) next to it.
"""

import pathlib

from snnjax.networks import BRUNEL_MODELS, PlasticBrunelParams, build_brunel, cli, make_parser

CONFIG = pathlib.Path(__file__).resolve().parents[1] / "configs" / "brunel_stdp.yaml"


def main(argv: list[str] | None = None) -> dict:
    parser = make_parser(__doc__.split("\n")[0], CONFIG)
    parser.add_argument("--order", type=int, default=None, help="NE = 4*order, NI = order")
    parser.add_argument("--model", choices=BRUNEL_MODELS, default=None, help="neuron model")
    parser.add_argument("--snapshots", type=int, default=None, help="weight reads in the run")
    return cli(parser, argv, name="brunel_stdp", params_cls=PlasticBrunelParams,
               build=build_brunel)  # fmt: skip


if __name__ == "__main__":
    main()
