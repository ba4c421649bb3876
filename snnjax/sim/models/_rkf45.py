r"""GSL's adaptive Runge-Kutta-Fehlberg 4(5), as NEST drives it, vectorised over neurons.

NEST integrates its conductance-based, adaptive and Hodgkin-Huxley models with GSL's
``gsl_odeiv_step_rkf45`` stepper, a standard step-size control and
``gsl_odeiv_evolve_apply``, called in a loop until the simulation step ``h`` is covered;
each neuron keeps its last internal step size (``IntegrationStep_``) into the next step.
:func:`evolve` reproduces that loop for many neurons at once: every neuron has its own
time, step size and derivative, they advance in lockstep (``lax.while_loop``, masked), and
each iteration is one ``try_step`` of GSL's ``evolve_apply`` per neuron that is not done:

1. ``h0 = min(step, h - t)`` (the last, shortened one is *final*: ``t`` becomes ``h``);
2. one RKF45 step from ``y`` with ``k1 = dy/dt(y)`` (reused while retried), giving the
   fifth-order ``y'``, the error estimate ``yerr`` and ``dy/dt(y')``;
3. GSL's standard control: :math:`D_i = \epsilon_\text{rel}(a_y|y'_i| + a_{\dot y}
   h_0|\dot y'_i|) + \epsilon_\text{abs}`, :math:`r = \max_i |yerr_i| / D_i`; if
   :math:`r > 1.1` the step is retried with :math:`h_0 \max(0.2, 0.9 r^{-1/5})`;
   if :math:`r < 0.5` the next step is :math:`h_0 \min(5, \max(1, 0.9 r^{-1/6}))`.

The state is float32 (NEST: double); the right-hand side is the model's, a function of the
state only (inputs are constant over a step, as in NEST). Optionally (``lo``) the state is
*compensated*: each variable carries the float32 rounding error of its accumulated updates
(:math:`y = y_\text{hi} + y_\text{lo}`, Fast2Sum after every accepted step), which the
next step adds back. Rounding a state of ~65 mV to float32 every step is what makes a
fast Hodgkin-Huxley swing differ from NEST's double by 1e-2 mV; compensated, by ~6e-4 mV.

Reverse mode cannot go through a loop of dynamic length (``lax.while_loop``); traced
under :func:`bounded_attempts`, :func:`evolve` runs a static number of lockstep
iterations instead (``fori_loop`` over chunks of :data:`_CHUNK`, each skipped by a
``lax.cond`` once every neuron has reached ``h``; an iteration after that changes
nothing, so the numbers are the dynamic loop's to float32 rounding, XLA compiling the
static body apart, while the bound suffices; a neuron still short of ``h`` after it has
failed, as after ``_MAX_ITERATIONS``). Gradients then go through every accepted attempt,
the step-size control included.
"""

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._common import _check_h, _check_params_type, _f32, refractory_steps

# Runge-Kutta-Fehlberg coefficients (GSL's rkf45.c).
_AH = (1.0 / 4.0, 3.0 / 8.0, 12.0 / 13.0, 1.0, 1.0 / 2.0)
_B3 = (3.0 / 32.0, 9.0 / 32.0)
_B4 = (1932.0 / 2197.0, -7200.0 / 2197.0, 7296.0 / 2197.0)
_B5 = (8341.0 / 4104.0, -32832.0 / 4104.0, 29440.0 / 4104.0, -845.0 / 4104.0)
_B6 = (-6080.0 / 20520.0, 41040.0 / 20520.0, -28352.0 / 20520.0, 9295.0 / 20520.0,
       -5643.0 / 20520.0)  # fmt: skip
_C = (902880.0 / 7618050.0, 0.0, 3953664.0 / 7618050.0, 3855735.0 / 7618050.0,
      -1371249.0 / 7618050.0, 277020.0 / 7618050.0)  # fmt: skip
_EC = (1.0 / 360.0, 0.0, -128.0 / 4275.0, -2197.0 / 75240.0, 1.0 / 50.0, 2.0 / 55.0)
_ORDER = 5  # rkf45_order()
_MAX_ITERATIONS = 100_000  # lockstep attempts per simulation step before giving up
_PHASE1 = 1  # lockstep iterations over every neuron before the rest are compacted
_CAP_DIV = 32  # compacted neurons per round: a power of two >= n / _CAP_DIV
_BOUND = [0]  # the lockstep iterations of a bounded evolve (0: the dynamic loop)
_CHUNK = 8  # a bounded evolve's iterations between two checks that any neuron is short of h


@contextlib.contextmanager
def bounded_attempts(attempts: int) -> Iterator[None]:
    """Trace :func:`evolve` with at most ``attempts`` lockstep iterations per step, in a
    static loop (reverse-mode differentiable; see the module docstring)."""
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
        raise ValueError(f"`attempts` must be an int >= 1; got {attempts!r}")
    _BOUND.append(attempts)
    try:
        yield
    finally:
        _BOUND.pop()


class Control(NamedTuple):
    """GSL's standard step-size control (``gsl_odeiv_control_standard_new``)."""

    eps_abs: float
    eps_rel: float = 0.0
    a_y: float = 1.0
    a_dydt: float = 0.0


#: ``gsl_odeiv_control_y_new(1e-3, 0.0)``: iaf_cond_* and hh_* models.
CONTROL_Y = Control(1e-3)


def step_constants(cls: type, params, h: float, psc_ex, psc_in, **extra) -> NamedTuple:
    """The ``Props`` of a numerically integrated model: ``h`` and the refractory steps per
    neuron, the spike-input normalisations ``psc_ex``/``psc_in`` (float64 -> float32) and
    any ``extra`` fields."""
    _check_params_type(type(params), params)
    h, _ = _check_h(h)
    n = np.broadcast_shapes(*(np.shape(x) for x in params))
    return cls(h=jnp.full(n, h, jnp.float32),
               refractory_counts=jnp.asarray(refractory_steps(params.t_ref, h)),
               psc_ex=jnp.broadcast_to(_f32(psc_ex), n), psc_in=jnp.broadcast_to(_f32(psc_in), n),
               **extra)  # fmt: skip


def rkf45_step(f: Callable, y: tuple, k1: tuple, h0, lo: tuple | None = None):
    r"""One RKF45 step of length ``h0`` (per neuron) from ``y`` with ``k1 = f(y)``.

    With ``lo`` (the compensation of ``y``, see the module docstring) the new state is
    :math:`y'_\text{hi} = y + \delta`, :math:`y'_\text{lo} = \delta - (y'_\text{hi} - y)`
    with :math:`\delta = h_0 \sum_i c_i k_i + y_\text{lo}` (Fast2Sum: exact while
    :math:`|\delta| \le |y|`, a step's change being small against the state).

    Returns:
        ``(y', yerr, f(y'))``, each a tuple like ``y``; with ``lo``, also ``y'_lo``.
    """

    def axpy(coefs, ks):
        return tuple(
            yi + h0 * sum(c * k[i] for c, k in zip(coefs, ks, strict=True) if c != 0.0)
            for i, yi in enumerate(y)
        )

    k2 = f(axpy((_AH[0],), (k1,)))
    k3 = f(axpy(_B3, (k1, k2)))
    k4 = f(axpy(_B4, (k1, k2, k3)))
    k5 = f(axpy(_B5, (k1, k2, k3, k4)))
    k6 = f(axpy(_B6, (k1, k2, k3, k4, k5)))
    ks = (k1, k2, k3, k4, k5, k6)
    err = tuple(h0 * sum(c * k[i] for c, k in zip(_EC, ks, strict=True) if c != 0.0)
                for i in range(len(y)))  # fmt: skip
    if lo is None:
        new = axpy(_C, ks)
        return new, err, f(new)
    delta = tuple(h0 * sum(c * k[i] for c, k in zip(_C, ks, strict=True) if c != 0.0) + lo[i]
                  for i in range(len(y)))  # fmt: skip
    new = tuple(yi + di for yi, di in zip(y, delta, strict=True))
    new_lo = tuple(di - (ni - yi) for yi, di, ni in zip(y, delta, new, strict=True))
    return new, err, f(new), new_lo


def _adjust(control: Control, y, yerr, yp, h0):
    """GSL's ``std_control_hadjust``: ``(decrease?, increase?, new h0)``."""
    rmax = jnp.full_like(h0, jnp.finfo(h0.dtype).tiny)
    for yi, ei, pi in zip(y, yerr, yp, strict=True):
        d0 = control.eps_rel * (control.a_y * jnp.abs(yi) + control.a_dydt * jnp.abs(h0 * pi))
        rmax = jnp.maximum(rmax, jnp.abs(ei) / jnp.abs(d0 + control.eps_abs))
    dec = rmax > 1.1
    inc = rmax < 0.5
    # rmax**(1/q) as exp(log(rmax) / q): XLA vectorises both, its float32 pow is a scalar
    # libm call per neuron (a quarter of COBA's time); within a few ulp of pow.
    log_rmax = jnp.log(rmax)
    r_dec = jnp.maximum(0.9 / jnp.exp(log_rmax * (1.0 / _ORDER)), 0.2)
    r_inc = jnp.clip(0.9 / jnp.exp(log_rmax * (1.0 / (_ORDER + 1.0))), 1.0, 5.0)
    return dec, inc, jnp.where(dec, r_dec * h0, jnp.where(inc, r_inc * h0, h0))


def evolve(f: Callable, y: tuple, step, h, control: Control, aux=None, after=None,
           substeps: int = 0, ctx=None, lo: tuple | None = None):  # fmt: skip
    """Integrate ``dy/dt = f(y, aux, ctx)`` over ``(0, h]`` as NEST's ``while (t < h)
    gsl_odeiv_evolve_apply(...)`` loop does, for every neuron at once.

    The lockstep loop costs, per iteration, one attempt of every neuron, for as many
    iterations as the slowest neuron needs (a spiking HH neuron: tens; a quiet one: one).
    With 512 neurons or more, after one lockstep iteration (:data:`_PHASE1`; most neurons
    finish there) the neurons still short of ``h`` are compacted, up to a power of two
    ``>= n / 32`` at a time (:data:`_CAP_DIV`), and finish in a loop of their own (with
    their rows of ``ctx``, ``control`` and ``h``). Every neuron goes through the same
    operations as in the plain loop: the same numbers. ``f`` and ``after`` must therefore
    read per-neuron values from ``y``, ``aux`` and ``ctx`` only, never from closed-over
    ``[n]`` arrays.

    Args:
        f: the right-hand side, ``f(y, aux, ctx) -> dy/dt`` on tuples of ``[n]`` arrays.
        y: the state (a tuple of ``[n]`` float32 arrays).
        step: ``[n]`` each neuron's current internal step size (NEST's
            ``IntegrationStep_``).
        h: the simulation step (ms; a number or ``[n]``).
        control: the step-size control (fields: numbers or ``[n]`` arrays).
        aux: a pytree of ``[n]`` arrays the right-hand side reads (e.g. the refractory
            count), changed only by ``after``.
        after: ``after(y, aux, ctx) -> (y, aux)``, run after every accepted step of a
            neuron (NEST's aeif models handle spikes there, inside the loop); the next
            step's derivative is then evaluated anew, as ``evolve_apply`` does.
        substeps: 0 for the adaptive loop; ``k > 0``: instead ``k`` fixed RK45 steps of
            ``h / k`` (the fifth-order solution, no error control; ``step`` unchanged).
        ctx: a read-only pytree for ``f`` and ``after`` (parameters: ``[n]`` arrays,
            numbers or ``[1]`` arrays).
        lo: the compensation of ``y`` (a tuple like it; zeros to start): integrate
            ``y + lo`` (module docstring); where ``after`` changes a variable, its
            compensation restarts at zero.

    Returns:
        ``(y, step, failed, aux)``: the state at ``h``, the step size to carry over,
        ``[n]`` bool: the loop did not reach ``h`` (NEST raises ``GSLSolverFailure``), and
        the final ``aux``; with ``lo``, also the final compensation.
    """
    h = jnp.asarray(h, jnp.float32)
    if lo is not None:  # carried beside aux (through the compaction too)
        y, step, failed, both = evolve(
            lambda y, a, ctx: f(y, a.aux, ctx), y, step, h, control, _Compensated(aux, lo),
            None if after is None else functools.partial(_after_lo, after), substeps, ctx,
        )  # fmt: skip
        return y, step, failed, both.aux, both.lo
    if substeps:
        return _fixed(f, y, step, h, aux, after, substeps, ctx)
    carry = (jnp.int32(0), jnp.zeros_like(step), step, y, f(y, aux, ctx), aux)
    n = step.shape[0] if step.ndim == 1 else 0
    cap = 1 << max(6, (n // _CAP_DIV - 1).bit_length()) if n >= 512 else 0
    if _BOUND[-1]:  # a static loop over every neuron, recomputed in reverse mode
        bounded = jax.checkpoint(lambda c: _iterate(f, after, control, h, ctx, c, _BOUND[-1], True))
        _, t, step, y, _, aux = bounded(carry)
        return y, step, t < h, aux
    if not cap:
        _, t, step, y, _, aux = _iterate(f, after, control, h, ctx, carry, _MAX_ITERATIONS)
        return y, step, t < h, aux
    carry = _iterate(f, after, control, h, ctx, carry, _PHASE1)
    h = jnp.broadcast_to(h, (n,))

    def one_round(state):  # the first `cap` neurons short of h, to the end
        (i, t, step, y, k1, aux), failed = state
        idx = jnp.nonzero((t < h) & ~failed, size=cap, fill_value=n)[0]
        valid, at = idx < n, jnp.minimum(idx, n - 1)

        def take(a):
            return a[at] if jnp.shape(a) == (n,) else a

        def put(a, b):
            return a.at[idx].set(b, mode="drop")  # idx = n: padding, dropped

        sub = (jnp.int32(_PHASE1), jnp.where(valid, t[at], h[at]), step[at],
               tuple(map(take, y)), tuple(map(take, k1)), jax.tree.map(take, aux))  # fmt: skip
        _, t_s, step_s, y_s, k1_s, aux_s = _iterate(
            f, after, Control(*map(take, control)), h[at], jax.tree.map(take, ctx), sub,
            _MAX_ITERATIONS,
        )  # fmt: skip
        carry = (i, put(t, t_s), put(step, step_s), tuple(map(put, y, y_s)),
                 tuple(map(put, k1, k1_s)), jax.tree.map(put, aux, aux_s))  # fmt: skip
        return carry, failed.at[idx].set(t_s < h[at], mode="drop")  # reached the cap

    def more(state):
        (_, t, *_), failed = state
        return jnp.any((t < h) & ~failed)

    (_, t, step, y, _, aux), _ = jax.lax.while_loop(more, one_round, (carry, jnp.zeros((n,), bool)))
    return y, step, t < h, aux


class _Compensated(NamedTuple):
    """``aux`` of a compensated integration: the caller's ``aux`` and the compensation."""

    aux: Any
    lo: tuple


def _after_lo(after, y, both: _Compensated, ctx):
    """``after`` on a compensated state: a variable it changes restarts uncompensated."""
    y_after, aux = after(y, both.aux, ctx)
    lo = tuple(jnp.where(a == b, c, 0.0) for a, b, c in zip(y_after, y, both.lo, strict=True))
    return y_after, _Compensated(aux, lo)


def _rk_step(f, y, k1, h0, aux):
    """:func:`rkf45_step` with ``aux``'s compensation if it has one: ``(y', yerr, f(y'),
    the new compensation or None)``."""
    if not isinstance(aux, _Compensated):
        return (*rkf45_step(f, y, k1, h0), None)
    return rkf45_step(f, y, k1, h0, aux.lo)


def _iterate(f, after, control: Control, h, ctx, carry, limit: int, static: bool = False):
    """GSL's ``try_step`` of every neuron short of ``h``, in lockstep, until all reach it or
    ``limit`` iterations are done (``static``: ``limit`` iterations, those after all reach
    it changing nothing): ``carry = (i, t, step, y, k1, aux)``."""

    def cond(carry):
        i, t, *_ = carry
        return (i < limit) & jnp.any(t < h)

    def body(carry):
        i, t, step, y, k1, aux = carry
        active = t < h
        dt = h - t
        final = step > dt
        h0 = jnp.where(final, dt, step)
        new, err, k_new, lo = _rk_step(lambda x: f(x, aux, ctx), y, k1, h0, aux)
        t_new = jnp.where(final, h, t + h0)
        dec, _, h_adj = _adjust(control, new, err, k_new, h0)
        retry = dec & (jnp.abs(h_adj) < jnp.abs(h0)) & (t_new + h_adj != t_new)
        ok = active & ~retry
        step = jnp.where(active, jnp.where(dec & ~retry, h0, h_adj), step)
        y = _pick(ok, new, y)
        if lo is not None:
            aux = aux._replace(lo=_pick(ok, lo, aux.lo))
        if after is None:
            k1 = _pick(ok, k_new, k1)
        else:
            y_after, aux_after = after(y, aux, ctx)
            y = _pick(ok, y_after, y)
            aux = jax.tree.map(lambda a, b: jnp.where(ok, a, b), aux_after, aux)
            k1 = _pick(ok, f(y, aux, ctx), k1)
        return i + 1, jnp.where(ok, t_new, t), step, y, k1, aux

    if static:  # chunks of _CHUNK iterations, each skipped once every neuron is done

        def chunk(_, c):
            return jax.lax.cond(cond(c), lambda c: jax.lax.fori_loop(
                0, _CHUNK, lambda _, c: body(c), c), lambda c: c, c)  # fmt: skip

        return jax.lax.fori_loop(0, -(-limit // _CHUNK), chunk, carry)
    return jax.lax.while_loop(cond, body, carry)


def _fixed(f, y, step, h, aux, after, substeps: int, ctx):
    """``substeps`` fixed RK45 steps (the cheaper option; documented error vs NEST)."""
    dt = h / substeps

    def body(_, carry):
        y, aux = carry
        y, _, _, lo = _rk_step(lambda x: f(x, aux, ctx), y, f(y, aux, ctx), dt, aux)
        aux = aux if lo is None else aux._replace(lo=lo)
        return after(y, aux, ctx) if after is not None else (y, aux)

    y, aux = jax.lax.fori_loop(0, substeps, body, (y, aux))
    return y, step, jnp.zeros(step.shape, bool), aux


def _pick(mask, a: tuple, b: tuple) -> tuple:
    return tuple(jnp.where(mask, ai, bi) for ai, bi in zip(a, b, strict=True))
