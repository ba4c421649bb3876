"""Native CPU kernels of the simulator (XLA FFI custom calls), chosen per platform.

The kernels live in ``csrc/deliver.cc``, ``csrc/plastic.cc``, ``csrc/neuron_ode.cc``,
``csrc/neuron_exact.cc`` and ``csrc/sim_kernels.cc`` and are compiled by the package's
install (``setup.py``, headers from ``jaxlib``). Each one is the twin of a pure-JAX
function, which stays the reference and the path on other platforms (bit for bit but for
the plastic and RKF45 kernels):

* :func:`deliver_native`: :func:`~snnjax.sim._delivery.deliver` (ring update and spike
  list), multi-threaded by ring slot (each element's sum keeps the canonical order);
* :func:`take_native`: :func:`~snnjax.sim._network.take_inputs` (in place: XLA copied
  both rings every block around its gather and scatter);
* :func:`poisson_values`: :func:`~snnjax.sim._network._poisson`;
* :func:`emit_native`: the scatter-add of :func:`~snnjax.sim._network._emit` (generator
  output into its ring buffer, in place);
* :func:`deliver_plastic_native`: :func:`~snnjax.sim._plastic.deliver_plastic` without a
  weight recorder (one plastic projection's updates and delivery, in place), and
  :func:`rkf45_native`: :func:`~snnjax.sim.models._rkf45.evolve` for the ``iaf_cond_*``,
  AdEx and HH models: the two kernels that are not bit for bit their twins (float32
  rounding, see there);
* :func:`block_native`: a block's steps of an exactly integrated, ``iaf_cond_*``,
  ``aeif_*`` or ``hh_*`` model (the simulator's scan over the model's step function).

:func:`use_native` resolves a :class:`~snnjax.sim.Simulator`'s ``native`` option: ``None``
picks the native kernels where they are built and JAX runs on CPU, ``True`` requires them,
``False`` forces pure JAX.
"""

import functools

import jax
import jax.numpy as jnp

from ._stdp import STDP_MODELS

try:  # built by `pip install` (setup.py); absent where no C++ compiler was found
    from . import _sim_kernels
except ImportError:  # pragma: no cover - depends on the install
    _sim_kernels = None

__all__ = [
    "block_native", "deliver_native", "deliver_plastic_native", "emit_native",
    "native_available", "poisson_values", "rkf45_native", "take_native", "use_native",
]  # fmt: skip


def native_available() -> bool:
    """Whether the native CPU kernels were built (``pip install`` with a C++ compiler)."""
    return _sim_kernels is not None


@functools.cache
def _register() -> None:
    for name, capsule in _sim_kernels.handlers().items():
        jax.ffi.register_ffi_target(name, capsule, platform="cpu")


def use_native(native: bool | None, platform: str) -> bool:
    """Resolve the ``native`` option for devices of ``platform`` (``ValueError`` if
    ``native=True`` cannot be honoured)."""
    if native is not None and not isinstance(native, bool):
        raise ValueError(f"`native` must be True, False or None; got {native!r}")
    if native is False:
        return False
    ok = native_available() and platform == "cpu"
    if native and not ok:
        why = (
            f"the devices are {platform!r} (native kernels are CPU only)"
            if native_available()
            else "the native kernels were not built (reinstall snnjax with a C++ compiler)"
        )
        raise ValueError(f"`native`=True, but {why}; use native=None or False")
    if ok:
        _register()
    return ok


def _call(name: str, results, args, *, rank: int, aliases=None, **attrs):
    """The kernel ``name`` on ``args`` (registered with XLA on first use): ``results`` are
    the unbatched result shapes, ``rank`` the unbatched rank of ``args[0]``, ``aliases``
    results written in place of arguments (``{argument: result}``), ``attrs`` the kernel's
    attributes.

    Under ``jax.vmap`` (nested too) one call runs every instance: each argument gets the
    batch dimensions, of size 1 where it is shared (the kernels broadcast those), and an
    argument written in place is broadcast to a copy per instance.
    """
    _register()
    aliases = aliases or {}
    single = isinstance(results, jax.ShapeDtypeStruct)
    results = (results,) if single else tuple(results)

    @jax.custom_batching.custom_vmap
    def call(*args):
        lead = args[0].ndim - rank  # batch dimensions: every argument has them
        batch = tuple(max(x.shape[k] for x in args) for k in range(lead))
        shapes = tuple(jax.ShapeDtypeStruct(batch + r.shape, r.dtype) for r in results)
        out = jax.ffi.ffi_call(name, shapes, input_output_aliases=aliases)(*args, **attrs)
        return out[0] if single else out

    @call.def_vmap
    def _(axis_size, in_batched, *args):
        args = [
            x if b else jnp.broadcast_to(x, (axis_size, *x.shape)) if i in aliases else x[None]
            for i, (x, b) in enumerate(zip(args, in_batched, strict=True))
        ]
        return call(*args), True if single else (True,) * len(results)

    return call(*args)


def _params(params: tuple, n: int) -> tuple:
    """A kernel's parameters as its buffers: float32, ``[1]`` for one value, else ``[n]``."""

    def vec(x):
        x = jnp.asarray(x, jnp.float32)
        return x.reshape(1) if x.size == 1 else jnp.broadcast_to(x, (n,))

    return tuple(map(vec, params))


def _int1(x) -> jax.Array:
    """A scalar as the ``int32[1]`` buffer the kernels read."""
    return jnp.asarray(x, jnp.int32).reshape(1)


def deliver_native(ring, csr, spikes, t0, *, max_spikes: int, threads: int = 1):
    """:func:`~snnjax.sim._delivery.deliver` natively: ``(ring, index, count, n_spikes,
    n_synapses)``, the spike list as :func:`~snnjax.sim._delivery.spike_list`'s.

    Args:
        ring: ``float32[2, D, n]`` (updated in place where XLA can).
        csr: the :class:`~snnjax.sim._delivery.DeviceCSR`.
        spikes: ``float32[m, n_sources]`` spike counts of the block.
        t0: the block's first step.
        max_spikes: capacity of the spike list (every spike is delivered).
        threads: threads to use, each owning a range of ring slots (the caller and XLA's
            intra-op pool); a thread per 8,192 synapses of the block at most.
    """
    ring, n_syn, index, count, n_spikes = _call(
        "snnjax_deliver",
        (
            jax.ShapeDtypeStruct(ring.shape, ring.dtype),
            jax.ShapeDtypeStruct((), csr.ptr.dtype),
            jax.ShapeDtypeStruct((max_spikes,), jnp.int32),
            jax.ShapeDtypeStruct((max_spikes,), jnp.float32),
            jax.ShapeDtypeStruct((), jnp.int32),
        ),
        (ring, csr.ptr, csr.packed, csr.weight, _int1(csr.shift), csr.delay,
         spikes.astype(jnp.float32), _int1(t0)),
        rank=3, aliases={0: 0}, threads=threads,
    )  # fmt: skip
    return ring, index, count, n_spikes, n_syn


def take_native(ring, ext, t0, steps: int, live, *, generators: bool = True):
    """:func:`~snnjax.sim._network.take_inputs` natively (both rings updated in place)."""
    n = ring.shape[2]
    return _call(
        "snnjax_take",
        (
            jax.ShapeDtypeStruct(ring.shape, ring.dtype),
            jax.ShapeDtypeStruct(ext.shape, ext.dtype),
            jax.ShapeDtypeStruct((3, steps, n), jnp.float32),
        ),
        (ring, ext, _int1(t0), _int1(live)),
        rank=3, aliases={0: 0, 1: 1}, ext=int(generators),
    )  # fmt: skip


def poisson_values(p, t0, steps: int, *, threads: int = 1) -> jax.Array:
    """:func:`~snnjax.sim._network._poisson` natively: ``float32[steps, c]`` counts times
    weights of one :class:`~snnjax.sim._network.PoissonInput`."""
    return _call(
        "snnjax_poisson",
        jax.ShapeDtypeStruct((steps, p.counter.shape[0]), jnp.float32),
        (p.key, p.counter, p.weight, p.row, p.table, p.size, p.lo, p.hi, _int1(t0)),
        rank=1, threads=threads,
    )  # fmt: skip


def emit_native(ext, value, delay, target, channel, t0, live, *, threads: int = 1):
    """:func:`~snnjax.sim._network._emit`'s scatter-add natively: ``value[j, c]`` of the
    first ``live`` steps added into ``ext[channel, (t0 + j + delay[c]) % Dx, target[c]]``
    (``channel[c]`` -1: 0 or 1 by the value's sign), in place, in the same order."""
    return _call(
        "snnjax_emit",
        jax.ShapeDtypeStruct(ext.shape, ext.dtype),
        (ext, value, delay, target, jnp.asarray(channel, jnp.int32), _int1(t0), _int1(live)),
        rank=3, aliases={0: 0}, threads=threads,
    )  # fmt: skip


def deliver_plastic_native(model: str, ring, arrays, state, post, h_tau_minus, index, count,
                           t0, *, tables: tuple[int, int], threads: int = 1):  # fmt: skip
    r"""One plastic projection's updates and delivery for a block natively (no weight
    recorder): ``(ring, state, lost)`` as :func:`~snnjax.sim._plastic.deliver_plastic`, the
    ring and the projection's state updated in place.

    Not bit for bit the pure function: the same algorithm and order, in float32, but its
    powers :math:`x^\mu` are computed inline (within one ulp of libm's ``powf``, which XLA
    calls) and XLA fuses some of its multiply-adds where the kernel does not, so weights
    differ by float32 rounding (about 1e-7 relative per update; spikes and weights then
    drift apart as in any chaotic network). Deterministic, and the same on any split.

    Args:
        model: the STDP model.
        ring, arrays, state, post, h_tau_minus, index, count, t0: as ``deliver_plastic``
            (``index``, ``count``: the block's spike list); ``arrays.params.h_tau_plus``
            one value and ``h_tau_minus`` the same for every neuron.
        tables: ``(K_plus, K_minus)``: the kernel's exponentials are tables
            :math:`e^{-k h/\tau_\pm}`, ``k = 0 .. K``, computed here by XLA (the pure
            function's values), ``K`` where XLA's float32 ``exp`` is 0.
        threads: threads, each owning a range of ring slots.
    """
    p, csr = arrays.params, arrays.csr
    k = (jnp.arange(tables[0] + 1, dtype=jnp.int32), jnp.arange(tables[1] + 1, dtype=jnp.int32))
    plus = jnp.exp(-k[0] * p.h_tau_plus)  # XLA hoists both out of the block loop
    minus = jnp.exp(-k[1] * h_tau_minus[:1])
    shapes = tuple(jax.ShapeDtypeStruct(x.shape, x.dtype) for x in (ring, *state))
    ring, *st, lost = _call(
        "snnjax_deliver_plastic",
        (*shapes, jax.ShapeDtypeStruct((), jnp.int32)),
        (ring, *state, csr.ptr, csr.packed, _int1(csr.shift), csr.delay, p.lam, p.alpha,
         p.mu_plus, p.mu_minus, p.Wmax, plus, minus, h_tau_minus, post.step, post.total,
         post.count, post.last, post.k, index, count, _int1(t0)),
        rank=3, aliases={k: k for k in range(5)}, model=STDP_MODELS.index(model),
        threads=threads,
    )  # fmt: skip
    return ring, type(state)(*st), lost


#: The models :func:`rkf45_native` integrates, and their kernel's model number.
RKF45_MODELS = {"iaf_cond_exp": 0, "iaf_cond_alpha": 1, "iaf_cond_beta": 1,
                "hh_cond_exp_traub": 2, "hh_psc_alpha": 3, "aeif_cond_exp": 4,
                "aeif_cond_alpha": 5, "aeif_psc_exp": 6}  # fmt: skip


def rkf45_native(model: str, y: tuple, step, params: tuple, *, lo: tuple | None = None,
                 threads: int = 0):  # fmt: skip
    r"""One step's ODE of a model of :data:`RKF45_MODELS` natively: GSL's adaptive RKF45
    as :func:`~snnjax.sim.models._rkf45.evolve` (the model's control: absolute tolerance
    1e-3; the ``aeif_*``: ``yp`` with ``gsl_error_tol``, and their spikes inside the loop;
    each neuron its own step size), in lockstep over chunks of 8 neurons
    (``csrc/rkf45.h``) instead of over all of them: ``(y, step, failed)``, with ``lo`` also
    the new compensation.

    Not bit for bit ``evolve``: the same algorithm and float32 state, but XLA fuses some
    multiply-adds, its ``exp``/``log`` (step control) are not the kernel's, and the kernel
    multiplies by reciprocals where the JAX right-hand side divides; so values differ by
    float32 rounding (spike trains of a network then drift apart as in any chaotic
    network). Each neuron is integrated on its own: the same numbers on any split.

    Args:
        model: a key of :data:`RKF45_MODELS`.
        y: the state, a tuple of ``float32[n]`` (the model's ``evolve`` state; the
            ``aeif_*``: then their refractory steps left, spike count and instability
            flag, updated by the step's spikes).
        step: ``float32[n]`` each neuron's carried step size.
        params: the kernel's parameters in its order (``csrc/neuron_ode.cc``), each a
            number, ``[1]`` or ``[n]``.
        lo: the compensation of ``y`` (the Hodgkin-Huxley models: required).
        threads: threads (the caller and XLA's intra-op pool; 0: all).
    """
    n = step.shape[-1]

    rows = (*y, *lo) if lo is not None else y
    row = jax.ShapeDtypeStruct((n,), jnp.float32)
    step, failed, *out = _call(
        "snnjax_rkf45",
        (row, jax.ShapeDtypeStruct((n,), jnp.int32), *(row,) * len(rows)),
        (step, *rows, *_params(params, n)),
        rank=1, aliases={1 + r: 2 + r for r in range(len(rows))}, model=RKF45_MODELS[model],
        threads=threads,
    )  # fmt: skip
    y, failed = tuple(out[: len(y)]), failed.astype(bool)
    return (y, step, failed) if lo is None else (y, step, failed, tuple(out[len(y) :]))


#: The models :func:`block_native` steps: their kernel and model number there.
BLOCK_MODELS = {
    "iaf_psc_delta": ("snnjax_exact_block", 0), "iaf_psc_exp": ("snnjax_exact_block", 1),
    "iaf_psc_alpha": ("snnjax_exact_block", 2), "iaf_cond_exp": ("snnjax_ode_block", 0),
    "iaf_cond_alpha": ("snnjax_ode_block", 1), "iaf_cond_beta": ("snnjax_ode_block", 1),
    "hh_cond_exp_traub": ("snnjax_ode_block", 2), "hh_psc_alpha": ("snnjax_ode_block", 3),
    "aeif_cond_exp": ("snnjax_ode_block", 4), "aeif_cond_alpha": ("snnjax_ode_block", 5),
    "aeif_psc_exp": ("snnjax_ode_block", 6),
}  # fmt: skip


def block_native(model: str, inputs, live, r, rows: tuple, params: tuple, *, lo: int,
                 threads: int = 1):  # fmt: skip
    r"""The first ``live`` steps of one block of a model of :data:`BLOCK_MODELS` natively
    (``csrc/block.h``; the exactly integrated models in ``csrc/neuron_exact.cc``, the
    ``iaf_cond_*``, ``aeif_*`` and ``hh_*`` in ``csrc/neuron_ode.cc``): ``(rows, r, spikes, bad)``,
    ``bad`` the number of neurons with a non-finite state value after the block; each
    neuron through all the steps in one call instead of a scan over XLA's kernels per step;
    bit for bit the model's step function (the numerically integrated ones with the native
    ODE, ``native=True``; ``iaf_psc_delta`` with ``refractory_input`` apart: its discount
    :math:`e^{-r h/\tau_m}` is libm's ``expf``, float32 rounding apart).

    Args:
        model: a key of :data:`BLOCK_MODELS`.
        inputs: ``float32[3, steps, N]``: the excitatory and inhibitory input and the
            current of every step, for the shard's ``N`` neurons.
        live: the steps to run (the others leave the state and spike nothing).
        r: ``int32[n]`` refractory steps left of neurons ``lo .. lo + n - 1``.
        rows: their float32 state rows (``float32[n]`` each, the kernel's order).
        params: the kernel's parameters in its order, each a number, ``[1]`` or ``[n]``.
        lo: the first neuron's index into ``inputs``.
        threads: threads (the caller and XLA's intra-op pool).
    """
    n, steps = r.shape[-1], inputs.shape[-2]

    row = jax.ShapeDtypeStruct((n,), jnp.float32)
    target, number = BLOCK_MODELS[model]
    spikes, r, bad, *rows = _call(
        target,
        (jax.ShapeDtypeStruct((steps, n), jnp.float32), jax.ShapeDtypeStruct((n,), jnp.int32),
         jax.ShapeDtypeStruct((1,), jnp.int32), *(row,) * len(rows)),
        (inputs, _int1(live), r, *rows, *_params(params, n)),
        rank=3, aliases={2: 1, **{3 + k: 3 + k for k in range(len(rows))}},
        model=number, lo=lo, threads=threads,
    )  # fmt: skip
    return tuple(rows), r, spikes, bad[..., 0]
