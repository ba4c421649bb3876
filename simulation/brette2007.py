"""Simulate a Brette et al. (2007) network (COBA, CUBA, COBAHH, COBA with AdEx) on snnjax or NEST.

Usage::

    python simulation/brette2007.py                         # configs/brette2007.yaml (COBA)
    python simulation/brette2007.py --model cuba --scale 0.25 --simtime 500
    python simulation/brette2007.py --backend nest --threads 2 --out /tmp/coba_nest.json

Writes a JSON summary (rates, CV of ISIs, correlations, Fano factors per population, build
and simulation wall times, synapse count, memory) to ``--out`` and a raster plot next to it.
"""

import pathlib

from snnjax.networks import BRETTE_MODELS, BretteParams, build_brette, cli, make_parser

CONFIG = pathlib.Path(__file__).resolve().parents[1] / "configs" / "brette2007.yaml"


def main(argv: list[str] | None = None) -> dict:
    parser = make_parser(__doc__.split("\n")[0], CONFIG)
    parser.add_argument("--model", choices=BRETTE_MODELS, default=None, help="network")
    parser.add_argument(
        "--scale", type=float, default=None, help="N = 4000*scale; p = epsilon/scale"
    )
    return cli(parser, argv, name="brette2007", params_cls=BretteParams, build=build_brette)


if __name__ == "__main__":
    main()
