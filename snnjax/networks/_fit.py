r"""Fitting a spiking network's parameters to target rates by gradient descent through
the simulation, and checking those gradients against finite differences.

:func:`fit_rates` builds a scaled Brunel network of ``iaf_psc_exp`` neurons
(:func:`build_brunel`), turns it into a pure function (:func:`snnjax.sim.functional`) and
fits four log-scales, the external drive of E and of I (their Poisson weights) and the
coupling (excitatory and inhibitory weights), so that the E and I rates over ``simtime``
match targets: the loss is :math:`\sum_X \log^2(\nu_X / \nu_X^*)`, its gradient flows
through every step and synapse (surrogate gradients through the spikes), Adam (optax)
takes the steps.

:func:`grad_check` is the gradient's test: in float64 (``jax.enable_x64``,
:func:`~snnjax.sim.models.step_precision`) with the exact, zero derivative of the spike
(``surrogate='exact'``), autodiff of a smooth observable (the mean membrane potential of
the recorded neurons) against central finite differences, at a point where neither
perturbation moves a spike.
"""

import dataclasses
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm import tqdm

from .._errors import check_range
from ._brunel import BrunelParams, build_brunel

N_PARAMS = 4
PARAM_NAMES = ("drive_E", "drive_I", "J_E", "J_I")
"""The fitted log-scales: Poisson weight onto E, onto I; E and I synaptic weights."""


@dataclasses.dataclass(frozen=True)
class FitParams:
    """What :func:`fit_rates` fits and how.

    Attributes:
        target_E, target_I: target rates (Hz).
        order: network size (``NE = 4 order``, ``NI = order``).
        eta, g, J: the Brunel parameters the fit starts from.
        simtime: simulated time (ms) of each loss evaluation, after ``presim`` (ms) of
            warm-up with the initial parameters (its end is every evaluation's start).
        steps: gradient steps; ``learning_rate``: Adam's first (cosine decay to a tenth).
        seed: the network's seed.
    """

    target_E: float = 10.0
    target_I: float = 20.0
    order: int = 100
    eta: float = 2.0
    g: float = 5.0
    J: float = 0.1
    simtime: float = 500.0
    presim: float = 100.0
    steps: int = 100
    learning_rate: float = 0.05
    seed: int = 1

    def __post_init__(self):
        for name in ("target_E", "target_I", "simtime", "learning_rate"):
            check_range(name, getattr(self, name), low=0.0, low_inclusive=False)
        check_range("presim", self.presim, low=0.0)
        if not isinstance(self.steps, int) or self.steps < 0:
            raise ValueError(f"`steps` must be an int >= 0; got {self.steps!r}")


@dataclasses.dataclass(frozen=True)
class _Problem:
    fn: Any  # the Functional
    state: Any  # the RunState after presim
    n_exc: int
    steps: int

    def params(self, theta):
        """The network's params with the four log-scales ``theta`` applied."""
        q, s = self.fn.params, jnp.exp(theta)
        w = q.weight * jnp.where(jnp.asarray(self.fn.projection) == 0, s[2], s[3])
        poisson = tuple({**d, "weight": d["weight"] * s[i]} for i, d in enumerate(q.poisson))
        return q._replace(weight=w, poisson=poisson)

    def trace(self, theta):
        return self.fn.run(self.params(theta), self.state, self.steps)[1]

    def rates(self, theta):
        spikes = self.trace(theta).spikes
        T = self.steps * self.fn.h / 1000.0
        n = self.n_exc
        return jnp.stack([spikes[:, :n].sum() / (n * T),
                          spikes[:, n:].sum() / ((spikes.shape[1] - n) * T)])  # fmt: skip


def _problem(p: FitParams, **functional_kw) -> _Problem:
    import snnjax.sim as nest

    nest.ResetKernel()
    nest.SetKernelStatus({"resolution": 0.1, "rng_seed": p.seed, "native": False})
    net = build_brunel(nest, BrunelParams(order=p.order, model="iaf_psc_exp", eta=p.eta,
                                          g=p.g, J=p.J))  # fmt: skip
    mm = nest.Create("multimeter", params={"record_from": ["V_m"]})
    nest.Connect(mm, net["populations"]["E"][:20])
    fn = nest.functional(**functional_kw)
    pre = round(p.presim / fn.h)
    state = fn.run(fn.params, fn.state, pre)[0] if pre else fn.state
    return _Problem(fn, state, len(net["populations"]["E"]), round(p.simtime / fn.h))


def fit_rates(p: FitParams, progress: bool = True) -> dict:
    """Fit the four log-scales to the target rates (see the module doc).

    Returns:
        ``{"rates_target", "rates_initial", "rates_final"`` (dicts by population),
        ``"loss_initial", "loss_final", "steps", "scales"`` (the fitted factors by name),
        ``"loss_curve", "rates_curve"`` (per step), ``"step_s"`` (mean time of a gradient
        step), ``"n_neurons", "n_synapses"}``.
    """
    prob = _problem(p, detach_reset=True)
    target = jnp.array([p.target_E, p.target_I])

    def loss(theta):
        r = prob.rates(theta)
        return jnp.sum(jnp.log(jnp.maximum(r, 0.1) / target) ** 2), r

    value_and_grad = jax.jit(jax.value_and_grad(loss, has_aux=True))
    schedule = optax.cosine_decay_schedule(p.learning_rate, max(1, p.steps), alpha=0.1)
    opt = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(schedule))
    theta = jnp.zeros(N_PARAMS)
    opt_state = opt.init(theta)
    losses, rates, times = [], [], []
    bar = tqdm(range(p.steps + 1), desc="fit rates", disable=not progress)
    for i in bar:
        tic = time.perf_counter()
        (value, r), grad = value_and_grad(theta)
        value, r = float(value), np.asarray(r, np.float64)
        times.append(time.perf_counter() - tic)
        losses.append(value)
        rates.append(r.tolist())
        bar.set_postfix(loss=f"{value:.4g}", E=f"{r[0]:.2f}", I=f"{r[1]:.2f}")
        if i == p.steps:
            break
        updates, opt_state = opt.update(grad, opt_state)
        theta = optax.apply_updates(theta, updates)
    pops = ("E", "I")
    return {
        "rates_target": {"E": p.target_E, "I": p.target_I},
        "rates_initial": dict(zip(pops, rates[0], strict=True)),
        "rates_final": dict(zip(pops, rates[-1], strict=True)),
        "loss_initial": losses[0], "loss_final": losses[-1], "steps": p.steps,
        "scales": dict(zip(PARAM_NAMES, np.exp(np.asarray(theta)).tolist(), strict=True)),
        "loss_curve": losses, "rates_curve": rates,
        "step_s": float(np.mean(times[1:])) if len(times) > 1 else times[0],
        "n_neurons": int(prob.fn.neuron_ids.size), "n_synapses": len(prob.fn.projection),
    }  # fmt: skip


def grad_check(p: FitParams, eps: float = 1e-6, min_eps: float = 1e-11) -> dict:
    """Autodiff vs central finite differences in float64 (see the module doc).

    The observable is the mean membrane potential of the recorded E neurons over
    ``simtime``, differentiated with respect to the four log-scales at 0 with the exact
    (zero) spike derivative; each finite difference uses the largest step ``eps / 10**k``
    (down to ``min_eps``) whose perturbations, both signs, move no spike.

    Returns:
        ``{"grad", "finite_difference", "grad_check_rel_err"`` (max over the four of
        ``|ad - fd| / max(|fd|, 1e-12)``), ``"eps"`` (the step of each), ``"spikes"`` (in
        the window)``}``.

    Raises:
        RuntimeError: even ``min_eps`` moved a spike.
    """
    from snnjax.sim.models import step_precision

    prob = _problem(p, surrogate="exact")  # built and warmed up in float32
    steps = []
    with jax.enable_x64(True), step_precision(jnp.float64):

        def to64(tree):
            return jax.tree.map(lambda x: jnp.asarray(x, jnp.float64)
                                if jnp.issubdtype(jnp.asarray(x).dtype, jnp.floating) else x,
                                tree)  # fmt: skip

        fn = dataclasses.replace(prob.fn, params=to64(prob.fn.params))
        prob = dataclasses.replace(prob, fn=fn, state=to64(prob.state))

        def observable(theta):
            return jnp.mean(prob.trace(theta).samples)

        theta = jnp.zeros(N_PARAMS, jnp.float64)
        grad = np.asarray(jax.grad(observable)(theta))
        base = np.asarray(prob.trace(theta).spikes)

        def moves_no_spike(th):
            return np.array_equal(np.asarray(prob.trace(th).spikes), base)

        fd = []
        for k in range(N_PARAMS):
            h = eps  # down by 10x until neither side moves a spike
            while not all(moves_no_spike(theta.at[k].set(s * h)) for s in (1.0, -1.0)):
                h /= 10.0
                if h < min_eps:
                    raise RuntimeError(f"perturbations of {PARAM_NAMES[k]} down to {min_eps:g} "
                                       "move a spike")  # fmt: skip
            plus, minus = (float(observable(theta.at[k].set(s * h))) for s in (1.0, -1.0))
            fd.append((plus - minus) / (2 * h))
            steps.append(h)
    fd = np.asarray(fd)
    rel = np.abs(grad - fd) / np.maximum(np.abs(fd), 1e-12)
    return {"grad": grad.tolist(), "finite_difference": fd.tolist(),
            "grad_check_rel_err": float(rel.max()), "eps": steps,
            "spikes": int(base.sum())}  # fmt: skip
