r"""The Brunel (2000) phase diagram as one batched simulation (``jax.vmap`` over instances).

:func:`brunel_sweep` builds one Brunel network (``iaf_psc_delta``, :func:`build_brunel`),
turns it into a pure function (:func:`snnjax.sim.functional`) and runs a grid of
``(g, eta)`` instances in one compiled, vmapped call: each instance has its own inhibitory
weights :math:`J_{in} = -g J` and external Poisson rate :math:`\eta\,\nu_\theta C_E`, the
same connectivity, initial state and random streams. Per instance it reports the mean
rate, the mean CV of the inter-spike intervals and the synchrony
:math:`\chi^2 = \mathrm{var}_t\,\bar s(t) / \overline{\mathrm{var}_t\,s_i(t)}` of spike counts
in bins (Golomb 2007; 0: asynchronous, 1: fully synchronous), and times the batched call
against running instances one by one through the same compiled function.
"""

import dataclasses
import math
import time

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from .._errors import check_range
from ..analysis import cv_isi
from ._brunel import BrunelParams, brunel_derived, build_brunel


@dataclasses.dataclass(frozen=True)
class SweepParams:
    """The grid and the network of :func:`brunel_sweep`.

    Attributes:
        g_values: relative inhibition ``g`` of the grid's rows.
        eta_values: external drive ``eta`` of its columns.
        order: network size (``NE = 4 order``, ``NI = order``, :class:`BrunelParams`).
        J: PSP amplitude (mV); with the small in-degrees of a small network, larger than
            Brunel's 0.1 mV so that the recurrent input matters.
        simtime: recorded time (ms) after ``presim`` (ms) of warm-up.
        bin_ms: bin of the synchrony measure (ms).
        one_by_one: instances also run one at a time (spread over the grid) to time them.
        seed: the network's seed (connectivity, Poisson streams).
        threads: threads of the native kernels (``local_num_threads``; XLA's own operations
            use every core).
    """

    g_values: tuple[float, ...] = (2.0, 3.0, 4.0, 4.5, 5.0, 5.5, 6.0, 8.0)
    eta_values: tuple[float, ...] = (0.6, 0.9, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0)
    order: int = 100
    J: float = 2.0
    simtime: float = 500.0
    presim: float = 100.0
    bin_ms: float = 2.0
    one_by_one: int = 8
    seed: int = 1
    threads: int = 2

    def __post_init__(self):
        for name in ("g_values", "eta_values"):
            values = getattr(self, name)
            if not values:
                raise ValueError(f"`{name}` must not be empty")
            for v in values:
                check_range(name, v, low=0.0, low_inclusive=name == "g_values")
        for name in ("simtime", "bin_ms", "J"):
            check_range(name, getattr(self, name), low=0.0, low_inclusive=False)
        check_range("presim", self.presim, low=0.0)
        for name in ("one_by_one", "threads"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` must be a positive int; got {value!r}")

    @property
    def grid(self) -> list[tuple[float, float]]:
        """``(g, eta)`` of every instance, row-major (g slow)."""
        return [(g, e) for g in self.g_values for e in self.eta_values]


def _synchrony(counts: np.ndarray, bin_steps: int) -> float:
    """:math:`\\chi^2` of ``counts[steps, N]`` binned by ``bin_steps``."""
    n = counts.shape[0] // bin_steps
    binned = counts[: n * bin_steps].reshape(n, bin_steps, -1).sum(1)
    single = binned.var(0).mean()
    return float(binned.mean(1).var() / single) if single > 0 else 0.0


def brunel_sweep(p: SweepParams, progress: bool = True) -> dict:
    """Run the ``(g, eta)`` grid of ``p`` as one vmapped simulation (see the module doc).

    Returns:
        ``{"instances", "g", "eta", "rate_hz", "cv_isi", "synchrony"`` (lists, row-major),
        ``"batched_s"`` (the batched call, compiled before), ``"one_by_one_s_per_instance"``
        (mean over ``p.one_by_one`` instances through the same compiled function),
        ``"speedup_per_instance"``, ``"n_neurons"``, ``"n_synapses"``}.
    """
    import snnjax.sim as nest

    grid = p.grid
    etas = np.array([e for _, e in grid])
    gs = np.array([g for g, _ in grid])
    base = BrunelParams(order=p.order, model="iaf_psc_delta", J=p.J, eta=max(etas), g=1.0)
    nest.ResetKernel()
    nest.SetKernelStatus({"resolution": 0.1, "rng_seed": p.seed, "local_num_threads": p.threads})
    build_brunel(nest, base)  # the largest rate: its Poisson table fits every eta
    d = brunel_derived(base)
    N = d.NE + d.NI
    # Forward only: a dynamic delivery loop, in tiles of about a block's synapses at 20 Hz.
    # A neuron spikes at most once per block (t_ref >= the delay, the block length).
    m = round(base.delay / 0.1)
    tile = 1 << max(6, math.ceil(math.log2(N * (d.CE + d.CI) * m * 1e-4 * 20.0)))
    fn = nest.functional(max_spikes=N * -(-m // (round(base.t_ref / 0.1) + 1)),
                         max_synapses=0, tile=tile, spike_dtype="uint8")  # fmt: skip
    inhibitory = jnp.asarray(fn.projection == 1)
    built = fn.params

    def instance(g, eta):  # the params of one instance
        w = jnp.where(inhibitory, built.weight * g, built.weight)  # built with g = 1
        poisson = tuple({**q, "rate": q["rate"] * (eta / base.eta)} for q in built.poisson)
        return built._replace(weight=w, poisson=poisson)

    pre = round(p.presim / 0.1)
    steps = round(p.simtime / 0.1)
    whole = -(-steps // fn.layout.m) * fn.layout.m  # whole blocks: the record needs no copy

    def run(params):
        state, _ = fn.run(params, fn.state, pre) if pre else (fn.state, None)
        return fn.run(params, state, whole)[1].spikes

    batched = jax.jit(jax.vmap(lambda g, e: run(instance(g, e))))
    single = jax.jit(lambda g, e: run(instance(g, e)))
    gj, ej = jnp.asarray(gs, jnp.float32), jnp.asarray(etas, jnp.float32)
    jax.block_until_ready(batched(gj, ej))  # compile (and warm up)
    tic = time.perf_counter()
    spikes = np.asarray(batched(gj, ej))[:, :steps]
    batched_s = time.perf_counter() - tic
    picks = np.linspace(0, len(grid) - 1, min(p.one_by_one, len(grid))).round().astype(int)
    jax.block_until_ready(single(gj[0], ej[0]))
    single_s = 0.0
    for i in tqdm(picks, desc="one by one", disable=not progress):
        tic = time.perf_counter()
        alone = np.asarray(single(gj[i], ej[i]))[:steps]
        single_s += (time.perf_counter() - tic) / len(picks)  # the check below not timed
        if not np.array_equal(alone, spikes[i]):
            raise RuntimeError(f"instance {i} alone differs from the batched run")
    ids = np.arange(N)
    rate, cv, sync = [], [], []
    for s in spikes:
        t, i = np.nonzero(s)
        rate.append(float(len(t) / N / (p.simtime / 1000.0)))
        cvs = cv_isi(i, t * 0.1, ids, 0.0, p.simtime)
        cv.append(float(np.nanmean(cvs)) if np.isfinite(cvs).any() else None)
        sync.append(_synchrony(s, round(p.bin_ms / 0.1)))
    return {
        "instances": len(grid), "g": gs.tolist(), "eta": etas.tolist(), "rate_hz": rate,
        "cv_isi": cv, "synchrony": sync, "batched_s": batched_s,
        "batched_s_per_instance": batched_s / len(grid), "one_by_one_s_per_instance": single_s,
        "one_by_one_instances": picks.tolist(), "speedup_per_instance":
        single_s / (batched_s / len(grid)), "n_neurons": N, "n_synapses": len(fn.projection),
        "simtime_ms": p.simtime, "presim_ms": p.presim,
    }  # fmt: skip
