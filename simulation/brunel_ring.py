"""Simulate the Brunel ring (one Brunel network per rank or device) and plot the perturbation.

Usage::

    mpirun -np 4 python simulation/brunel_ring.py --out /tmp/ring/ring.json  # one per rank
    python simulation/brunel_ring.py --devices 4 --out /tmp/ring/ring.json   # one per device
    python simulation/brunel_ring.py --networks 3 --order 50                 # one process

Network ``k`` takes 60 % of its excitatory and 10 % of its inhibitory inputs from network
``k - 1``; network 0's drive drops by 25 % in [500, 600) ms and the dip travels round the
ring. Writes the JSON summary of ``simulation/brunel.py`` (populations ``E0``, ``I0``, ``E1``,
...) plus ``ring``: the number of networks, their shards, the in-degrees and, per network,
the mean E rate before and during the perturbation; the raster plot (``.png``) and the
E rate of every network over time (``_rates.png``) next to it. Under ``mpirun`` rank 0 writes.
"""

import json
import pathlib

import numpy as np

from snnjax.networks import (
    BRUNEL_MODELS,
    BrunelRingParams,
    build_brunel_ring,
    cli,
    make_parser,
    ring_perturbation_rates,
    ring_rates_plot,
)

CONFIG = pathlib.Path(__file__).resolve().parents[1] / "configs" / "brunel_ring.yaml"
NAME = "brunel_ring"


def main(argv: list[str] | None = None) -> dict:
    parser = make_parser(__doc__.split("\n")[0], CONFIG)
    parser.add_argument("--order", type=int, default=None, help="NE = 4*order, NI = order each")
    parser.add_argument("--model", choices=BRUNEL_MODELS, default=None, help="neuron model")
    parser.add_argument(
        "--networks", type=int, default=None, help="networks (default: one per rank or device)"
    )
    built = {}

    def build(nest, params):
        built.update(nest=nest, params=params, net=build_brunel_ring(nest, params))
        return built["net"]

    result = cli(parser, argv, name=NAME, params_cls=BrunelRingParams, build=build)
    nest, params, net = built["nest"], built["params"], built["net"]
    senders, times = [], []
    for rec in net["recorders"].values():  # after the run: every rank holds all spikes
        events = rec.get("events")
        senders.append(np.asarray(events["senders"], np.int64))
        times.append(np.asarray(events["times"], np.float64))
    senders, times = np.concatenate(senders), np.concatenate(times)
    populations = {k: np.asarray(v.tolist(), np.int64) for k, v in net["populations"].items()}
    t_start, t_stop = result["presim_ms"], result["presim_ms"] + result["simtime_ms"]
    rows = ring_perturbation_rates(senders, times, populations, params, t_start, t_stop)
    result["ring"] = {
        "networks": net["networks"],
        "shard_of_network": net["shards"],
        "indegrees": net["indegrees"],
        "perturbation": {
            "network": 0,
            "start_ms": params.perturb_start,
            "stop_ms": params.perturb_stop,
            "drop": params.perturb_drop,
        },
        "e_rates_hz": rows,
    }
    if int(nest.Rank()) != 0:
        return result

    args = parser.parse_args(argv)
    out = args.out or pathlib.Path("runs") / f"{NAME}_{result['backend']}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    if not args.no_plot:
        ring_rates_plot(
            senders, times, populations, params, out.with_name(f"{out.stem}_rates.png"),
            t_start, t_stop, title=f"Brunel ring: {net['networks']} networks, E rates",
        )  # fmt: skip
    for row in rows:
        before, during, change = row["before_hz"], row["during_hz"], row["relative_change"]
        if change is not None:
            print(f"  E{row['network']}: {before:.2f} Hz before, {during:.2f} Hz during "
                  f"({100 * change:+.1f} %)")  # fmt: skip
    return result


if __name__ == "__main__":
    main()
