"""Shared plumbing of the network scripts: config, backend, timing, summary, outputs.

``simulation/brunel.py`` and ``simulation/microcircuit.py`` are thin wrappers around
:func:`cli`: a YAML config (flat keys: the fields of the network's parameter dataclass plus
those of :class:`RunSettings`) overridden by command-line flags, a backend (``snnjax``:
``import snnjax.sim as nest``; ``nest``: PyNEST 3.10), then :func:`run_network`, which times
the build and the simulation the way NEST's microcircuit example does and writes a JSON
summary, optionally the spikes (``.npz``) and a raster plot (``.png`` next to the JSON).
"""

import argparse
import dataclasses
import importlib
import itertools
import json
import pathlib
import resource
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import yaml

from .._errors import check_one_of, check_range
from ..analysis import raster_plot, summary, weight_histogram_plot
from ..sim._exchange import EXCHANGES
from ..sim._mpi import abort_on_error, mpi, under_mpirun
from ..sim._placement import PLACEMENTS

BACKENDS = ("snnjax", "nest")
"""``snnjax``: :mod:`snnjax.sim` (PyNEST-compatible facade); ``nest``: PyNEST itself."""
NATIVE = {"auto": None, "on": True, "off": False}
"""``--native``: the kernel attribute ``native`` of :mod:`snnjax.sim` (native CPU kernels)."""

_MAX_SEED = 2**32 - 1  # NEST: "RNG seed must be in (0, 2^32-1)", both ends allowed in practice


@dataclasses.dataclass(frozen=True)
class RunSettings:
    """How to run a network (kernel settings and durations).

    Attributes:
        simtime: recorded simulation time in ms; statistics cover ``[presim, presim +
            simtime)``.
        presim: warm-up time in ms simulated before the recording window (NEST's
            microcircuit example uses 500 ms).
        resolution: time step ``h`` in ms.
        seed: kernel ``rng_seed``, in ``[1, 2**32 - 1]``.
        threads: kernel ``local_num_threads``.
        backend: one of :data:`BACKENDS`.
        devices: snnjax: local devices to shard the network over (``shard_map``); under
            ``mpirun`` every rank is one shard instead.
        exchange: snnjax: the spike exchange between shards (``all_gather``,
            ``all_to_all``, ``point_to_point``).
        placement: snnjax: which shard owns each neuron (``round_robin``, ``block``,
            ``partition``).
        native: snnjax: the native CPU kernels (``auto``: where built and on CPU, ``on``:
            required, ``off``: pure JAX; the same spikes).
    """

    simtime: float = 1000.0
    presim: float = 0.0
    resolution: float = 0.1
    seed: int = 55
    threads: int = 1
    backend: str = "snnjax"
    devices: int = 1
    exchange: str = "all_gather"
    placement: str = "round_robin"
    native: str = "auto"

    def __post_init__(self):
        check_range("simtime", self.simtime, low=0.0, low_inclusive=False)
        check_range("presim", self.presim, low=0.0)
        check_range("resolution", self.resolution, low=0.0, low_inclusive=False)
        for name, high in (("seed", _MAX_SEED), ("threads", None), ("devices", None)):
            value = getattr(self, name)
            bad = isinstance(value, bool) or not isinstance(value, int)
            if bad or value < 1 or (high is not None and value > high):
                upper = "" if high is None else f" and <= {high}"
                raise ValueError(f"`{name}` must be an int >= 1{upper}; got {value!r}")
        check_one_of("backend", self.backend, BACKENDS)
        check_one_of("exchange", self.exchange, EXCHANGES)
        check_one_of("placement", self.placement, PLACEMENTS)
        check_one_of("native", self.native, NATIVE)


def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def load_config(
    path: str | pathlib.Path | None,
    params_cls: type,
    overrides: Mapping[str, Any] | None = None,
    run_defaults: RunSettings | None = None,
) -> tuple[Any, RunSettings]:
    """Read a flat YAML config into ``(params_cls(...), RunSettings(...))``.

    Keys are the fields of ``params_cls`` and of :class:`RunSettings`; ``overrides`` (e.g.
    command-line flags) win over the file, and ``None`` values in them are ignored. Every
    key is checked before anything is built.

    Args:
        path: YAML file (read with ``yaml.safe_load``), or ``None`` for no file.
        params_cls: the network's frozen parameter dataclass.
        overrides: values that replace the file's.
        run_defaults: defaults of the run settings the file does not give.

    Returns:
        The network parameters and the run settings.

    Raises:
        ValueError: for a file that is not a mapping, an unknown key (naming it and listing
            the valid keys) or an invalid value.

    Examples:
        >>> params, run = load_config(None, BrunelParams, {"order": 100})  # doctest: +SKIP
    """
    raw: dict[str, Any] = {}
    if path is not None:
        loaded = yaml.safe_load(pathlib.Path(path).read_text())
        if loaded is not None and not isinstance(loaded, dict):
            raise ValueError(
                f"`config` {path} must be a mapping of keys to values; got {type(loaded).__name__}"
            )
        raw = dict(loaded or {})
    net_keys, run_keys = _field_names(params_cls), _field_names(RunSettings)
    valid = net_keys + run_keys
    for key in raw:
        if key not in valid:
            where = f" in {path}" if path is not None else ""
            raise ValueError(f"unknown config key `{key}`{where}; valid keys: {', '.join(valid)}")
    for key, value in (overrides or {}).items():
        if key not in valid:
            raise ValueError(f"unknown override `{key}`; valid keys: {', '.join(valid)}")
        if value is not None:
            raw[key] = value
    params = params_cls(**{k: v for k, v in raw.items() if k in net_keys})
    run = dataclasses.replace(
        run_defaults or RunSettings(), **{k: v for k, v in raw.items() if k in run_keys}
    )
    return params, run


def import_backend(backend: str) -> Any:
    """The PyNEST-compatible module of ``backend`` (one of :data:`BACKENDS`)."""
    check_one_of("backend", backend, BACKENDS)
    if backend == "snnjax":
        return importlib.import_module("snnjax.sim")
    try:
        return importlib.import_module("nest")
    except ImportError as err:
        raise ImportError(
            "`backend` 'nest' needs PyNEST: pip install nest-simulator==3.10.0"
        ) from err


def _log(progress: bool, message: str) -> None:
    if progress:
        print(message, file=sys.stderr, flush=True)


def simulate_network(
    nest: Any,
    build: Callable[[Any, Any], dict[str, Any]],
    params: Any,
    run: RunSettings,
    *,
    progress: bool = False,
    time_exchange: bool = False,
    checkpoint: str | pathlib.Path | None = None,
    resume: str | pathlib.Path | None = None,
) -> dict[str, Any]:
    """Reset the kernel, build, prepare, run ``presim + simtime`` and collect the spikes.

    With ``resume`` (snnjax), the state of a checkpoint of the same network is restored
    after ``Prepare`` and the run continues from its time up to ``presim + simtime`` (the
    recorders hold every spike from 0); with ``checkpoint``, the state at the end is
    written there (:func:`snnjax.sim.Checkpoint`).

    ``build_s`` is the wall time from ``ResetKernel`` to the end of ``nest.Prepare()``
    (creation, connection and NEST's presynaptic set-up, as NEST's microcircuit example
    measures it); ``sim_s`` that of ``nest.Run(presim + simtime)``; ``nest.Cleanup()`` follows.

    Args:
        nest: the backend module.
        build: ``build(nest, params) -> {"populations", "recorders", "n_device_connections",
            ...}`` (:func:`~snnjax.networks.build_brunel` or
            :func:`~snnjax.networks.build_microcircuit`).
        params: the network parameters for ``build``.
        run: the run settings.
        progress: print phases to stderr and let the kernel print its progress.
        time_exchange: snnjax: also time the spike exchange alone against a whole block
            (:meth:`snnjax.sim.Simulator.time_exchange`, in ``shards["timing"]``).
        checkpoint: snnjax: directory to write the final state to.
        resume: snnjax: checkpoint directory to continue from.

    Returns:
        ``{"net", "ids": {pop: int64 ids}, "senders", "times", "build_s", "sim_s",
        "num_connections", "connectivity_bytes", "resumed_ms"}``; ``connectivity_bytes`` is
        ``None`` for PyNEST (it is a key only :mod:`snnjax.sim` has).
    """
    if run.backend != "snnjax" and (checkpoint is not None or resume is not None):
        raise ValueError("`checkpoint`/`resume` need the snnjax backend (NEST has none)")
    _log(progress, f"building ({run.backend}, {type(params).__name__})")
    t0 = time.perf_counter()
    nest.ResetKernel()
    kernel = {
        "resolution": run.resolution,
        "rng_seed": run.seed,
        "local_num_threads": run.threads,
        "print_time": progress,
        "overwrite_files": True,
    }
    if run.backend == "snnjax":
        kernel.update(devices=run.devices, spike_exchange=run.exchange, placement=run.placement,
                      native=NATIVE[run.native])  # fmt: skip
    nest.SetKernelStatus(kernel)
    net = build(nest, params)
    nest.Prepare()
    resumed = 0.0
    if resume is not None:
        nest.Restore(str(resume))
        resumed = float(nest.GetKernelStatus("biological_time"))
    total = run.presim + run.simtime
    if resumed > total + 1e-9:
        raise ValueError(
            f"`simtime` (+ `presim`) must reach past the checkpoint's {resumed:g} ms; got {total:g}"
        )
    build_s = time.perf_counter() - t0
    num_connections = int(nest.GetKernelStatus("num_connections"))
    conn_bytes = shards = None
    if run.backend == "snnjax":
        value = nest.GetKernelStatus("connectivity_bytes")
        conn_bytes = None if value is None else int(value)

    _log(progress, f"built in {build_s:.2f} s; simulating {resumed:g} .. {total:g} ms")
    steps = round((total - resumed) / run.resolution)
    observe, parts = net.get("observe"), net.get("snapshots", 1)
    cuts = np.linspace(0, steps, parts + 1).round().astype(int) if observe else [0, steps]
    observed = [(resumed, observe())] if observe else []
    sim_s = 0.0
    stats = nest.simulator().stats if run.backend == "snnjax" else {}
    compile_built = stats.get("compile_s", 0.0)
    for a, b in itertools.pairwise(cuts):  # the builder's snapshots between the parts
        t1 = time.perf_counter()
        nest.Run((b - a) * run.resolution)
        sim_s += time.perf_counter() - t1
        if observe:
            observed.append((resumed + b * run.resolution, observe()))
    compile_s = stats.get("compile_s", 0.0)
    sim_s -= compile_s - compile_built  # recompiles in the run (grown buffers) apart
    nest.Cleanup()
    if checkpoint is not None:
        nest.Checkpoint(str(checkpoint))
    _log(progress, f"simulated in {sim_s:.2f} s")
    if run.backend == "snnjax":
        shards = nest.GetKernelStatus("exchange_stats")
        if time_exchange:
            shards["timing"] = nest.simulator().time_exchange()

    ids, senders, times = {}, [], []
    for name, nodes in net["populations"].items():
        ids[name] = np.asarray(nodes.tolist(), dtype=np.int64)
        events = net["recorders"][name].get("events")
        senders.append(np.asarray(events["senders"], dtype=np.int64))
        times.append(np.asarray(events["times"], dtype=np.float64))
    return {
        "net": net,
        "ids": ids,
        "senders": np.concatenate(senders),
        "times": np.concatenate(times),
        "build_s": build_s,
        "sim_s": sim_s,
        "compile_s": compile_s,
        "num_connections": num_connections,
        "connectivity_bytes": conn_bytes,
        "shards": shards,
        "rank": int(nest.Rank()),
        "resumed_ms": resumed,
        "observed": observed,
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def run_network(
    name: str,
    build: Callable[[Any, Any], dict[str, Any]],
    params: Any,
    run: RunSettings,
    *,
    out: str | pathlib.Path | None = None,
    spikes_out: str | pathlib.Path | None = None,
    plot: bool = True,
    progress: bool = False,
    nest: Any = None,
    time_exchange: bool = False,
    checkpoint: str | pathlib.Path | None = None,
    resume: str | pathlib.Path | None = None,
) -> dict[str, Any]:
    """Simulate a network on ``run.backend`` and summarise it; write the requested outputs.

    The summary (also written to ``out`` as JSON) has: ``network``, ``backend``, ``seed``,
    ``threads``, ``resolution_ms``, ``simtime_ms``, ``presim_ms``, ``params`` (the network
    dataclass), ``n_neurons``; ``n_synapses``: neuron-to-neuron synapses, i.e.
    ``GetKernelStatus("num_connections")`` minus the generator and recorder connections the
    builder reports (``n_device_connections``), and ``n_synapses_expected`` from the
    connection rules (the two agree for ``fixed_indegree`` and ``fixed_total_number``);
    ``n_spikes`` in the window; ``rates_hz``, ``cv_isi``, ``correlation``, ``fano`` per
    population from :func:`snnjax.analysis.summary` over ``[presim, presim + simtime)``;
    ``build_s`` (snnjax: with the ahead-of-time compilation), ``sim_s`` (without any
    compilation), ``compile_s`` (snnjax: all compilation, build and run; under ``mpirun``
    too), ``rtf = sim_s / (simulated time / 1000)``,
    ``resumed_ms`` (the
    checkpoint's time with ``resume``, else 0: the run simulated the rest);
    ``connectivity_bytes`` (``None`` on NEST); ``peak_rss_mb`` (``ru_maxrss / 1024`` of this
    process, JAX included); ``shards`` (snnjax: shard count, exchange scheme, placement,
    per-shard build time, neurons, synapses and spikes, exchange bytes per step, load
    imbalance; see :meth:`snnjax.sim.Simulator.exchange_stats`). Under ``mpirun`` rank 0
    writes the files (every rank holds the merged spikes).

    Args:
        name: network name for the summary and plot title (``"brunel"``, ``"microcircuit"``).
        build: the network builder.
        params: its parameters.
        run: the run settings.
        out: JSON file to write, with the raster plot next to it (same stem, ``.png``).
        spikes_out: ``.npz`` file for ``senders``, ``times``, ``population_names``,
            ``population_ranges`` (first and last id of each population, inclusive),
            ``t_start``, ``t_stop``.
        plot: write the raster plot (needs ``out``).
        progress: print phases to stderr and the kernel's progress.
        nest: the simulator module to use instead of importing ``run.backend`` (which still
            names it in the summary and decides whether ``connectivity_bytes`` is queried).
        time_exchange, checkpoint, resume: see :func:`simulate_network`.

    Returns:
        The summary dict.
    """
    if nest is None:
        nest = import_backend(run.backend)
    res = simulate_network(nest, build, params, run, progress=progress,
                           time_exchange=time_exchange, checkpoint=checkpoint,
                           resume=resume)  # fmt: skip
    observed = res.pop("observed")
    t_start, t_stop = run.presim, run.presim + run.simtime
    stats = summary(res["senders"], res["times"], res["ids"], t_start, t_stop)
    in_window = (res["times"] >= t_start) & (res["times"] < t_stop)
    n_neurons = int(sum(ids.size for ids in res["ids"].values()))
    result = {
        "network": name,
        "backend": run.backend,
        "seed": run.seed,
        "threads": run.threads,
        "resolution_ms": run.resolution,
        "simtime_ms": run.simtime,
        "presim_ms": run.presim,
        "params": dataclasses.asdict(params),
        "n_neurons": n_neurons,
        "n_synapses": res["num_connections"] - int(res["net"]["n_device_connections"]),
        "n_synapses_expected": int(res["net"]["n_synapses_expected"]),
        "n_spikes": int(in_window.sum()),
        **stats,
        "build_s": res["build_s"],
        "sim_s": res["sim_s"],
        "compile_s": res["compile_s"],
        "rtf": res["sim_s"]
        / (max(run.presim + run.simtime - res["resumed_ms"], run.resolution) / 1e3),
        "resumed_ms": res["resumed_ms"],
        "connectivity_bytes": res["connectivity_bytes"],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "shards": res["shards"],
    }
    if observed:  # plastic weights over time (the builder's snapshots)
        top = max(float(w.max(initial=0.0)) for _, w in observed) or 1.0
        edges = np.linspace(0.0, top, 41)
        result["weights"] = {
            "edges": edges,
            "snapshots": [{"t_ms": t, "mean": float(w.mean()), "std": float(w.std()),
                           "counts": np.histogram(w, edges)[0]} for t, w in observed],
        }  # fmt: skip
    result = _jsonable(result)
    if res["rank"] != 0:  # every rank holds all spikes (merged); rank 0 writes them
        return result

    if spikes_out is not None:
        names = list(res["ids"])
        ranges = [[int(res["ids"][n].min()), int(res["ids"][n].max())] for n in names]
        pathlib.Path(spikes_out).parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            spikes_out,
            senders=res["senders"],
            times=res["times"],
            population_names=np.array(names),
            population_ranges=np.array(ranges, dtype=np.int64),
            t_start=t_start,
            t_stop=t_stop,
        )
    if out is not None:
        out = pathlib.Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
        if plot:
            raster_plot(
                res["senders"],
                res["times"],
                res["ids"],
                out.with_suffix(".png"),
                t_start,
                t_stop,
                title=f"{name} ({run.backend}), {n_neurons} neurons",
            )
            if observed:
                weight_histogram_plot(observed, out.with_name(f"{out.stem}_weights.png"),
                                      title=f"{name} ({run.backend}): plastic weights")  # fmt: skip
    return result


def add_field_flags(parser: argparse.ArgumentParser, defaults: Any, names) -> None:
    """Add ``--some-name`` for each field ``some_name`` of the dataclass instance
    ``defaults`` (``dest`` the field, its type and default the instance's value)."""
    for name in names:
        value = getattr(defaults, name)
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, type=type(value),
                            default=value, help=f"(default {value})")  # fmt: skip


def make_parser(description: str, default_config: str | pathlib.Path) -> argparse.ArgumentParser:
    """An ``ArgumentParser`` with the flags every network script shares.

    Network-specific flags are added by the script with ``dest`` equal to the name of a
    field of its parameter dataclass (e.g. ``--k-scale`` with ``dest="k_scale"``); :func:`cli`
    picks them up as overrides.

    Args:
        description: the script's one-line description.
        default_config: YAML config read when ``--config`` is not given.

    Returns:
        The parser.
    """
    parser = argparse.ArgumentParser(description=description)
    add = parser.add_argument
    add("--config", type=pathlib.Path, default=pathlib.Path(default_config), help="YAML config")
    add("--backend", choices=BACKENDS, default=None, help="simulator (default: config, snnjax)")
    add("--simtime", type=float, default=None, help="recorded simulation time (ms)")
    add("--presim", type=float, default=None, help="warm-up before recording (ms)")
    add("--seed", type=int, default=None, help="kernel rng_seed")
    add("--threads", type=int, default=None, help="kernel local_num_threads")
    add("--devices", type=int, default=None, help="snnjax: shard over this many devices")
    add("--exchange", choices=EXCHANGES, default=None, help="snnjax: spike exchange scheme")
    add("--placement", choices=PLACEMENTS, default=None, help="snnjax: neuron placement")
    add("--native", choices=list(NATIVE), default=None,
        help="snnjax: native CPU kernels (auto: where built, on CPU)")  # fmt: skip
    add("--out", type=pathlib.Path, default=None, help="JSON summary (default runs/NAME_BACKEND)")
    add("--spikes-out", type=pathlib.Path, default=None, help="write the spikes to this .npz")
    add("--no-plot", action="store_true", help="do not write the raster plot PNG")
    add("--progress", action="store_true", help="print phases and the kernel's progress")
    add("--time-exchange", action="store_true", help="snnjax: time the spike exchange alone")
    add(
        "--checkpoint",
        type=pathlib.Path,
        default=None,
        help="snnjax: write the state at the end of the run to this directory",
    )
    add(
        "--resume",
        type=pathlib.Path,
        default=None,
        help="snnjax: continue from this checkpoint (--simtime stays the total from 0)",
    )
    return parser


def cli(
    parser: argparse.ArgumentParser,
    argv: list[str] | None,
    *,
    name: str,
    params_cls: type,
    build: Callable[[Any, Any], dict[str, Any]],
) -> dict[str, Any]:
    """Parse ``argv``, load the config with the flags as overrides and :func:`run_network`.

    Writes the JSON to ``--out`` (default ``runs/{name}_{backend}.json``) and prints a short
    report. A bad config key or value exits with the parser's usage error (status 2).

    Args:
        parser: from :func:`make_parser`, plus the network's own flags.
        argv: arguments (``None``: ``sys.argv[1:]``).
        name: network name.
        params_cls: the network's parameter dataclass.
        build: the network builder.

    Returns:
        The summary dict.
    """
    args = parser.parse_args(argv)
    abort_on_error()  # under mpirun: one failing rank ends the whole job
    overrides = {
        key: getattr(args, key)
        for key in (*_field_names(params_cls), *_field_names(RunSettings))
        if hasattr(args, key)
    }
    try:
        params, run = load_config(args.config, params_cls, overrides)
    except (ValueError, TypeError, OSError) as err:
        parser.error(str(err))
    if run.devices > 1:  # CPU: as many host devices (must precede JAX's first use)
        import jax

        jax.config.update("jax_num_cpu_devices", max(run.devices, jax.config.jax_num_cpu_devices))
    out = args.out or pathlib.Path("runs") / f"{name}_{run.backend}.json"
    result = run_network(
        name,
        build,
        params,
        run,
        out=out,
        spikes_out=args.spikes_out,
        plot=not args.no_plot,
        progress=args.progress,
        time_exchange=args.time_exchange,
        checkpoint=args.checkpoint,
        resume=args.resume,
    )
    if under_mpirun() and mpi().COMM_WORLD.Get_rank() != 0:
        return result
    rates = ", ".join(
        f"{pop} {rate:.3f}" if rate is not None else f"{pop} -"
        for pop, rate in result["rates_hz"].items()
    )
    print(
        f"{name} on {run.backend}: {result['n_neurons']} neurons, {result['n_synapses']} "
        f"synapses; rates (Hz): {rates}; build {result['build_s']:.2f} s, simulate "
        f"{result['sim_s']:.2f} s (rtf {result['rtf']:.2f}); wrote {out}"
    )
    return result
