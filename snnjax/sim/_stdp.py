r"""NEST's STDP synapse models: defaults, checks, and the weight update of one presynaptic spike.

Four models of NEST's ``stdp_synapse`` family (Guetig et al. 2003; Morrison et al. 2008),
with their names, parameters and defaults. With :math:`\hat w = w / W_{max}`:

.. math::

    \text{facilitate}(w, k) = W_{max} \min\bigl(1, \hat w + \lambda (1 - \hat w)^{\mu_+} k\bigr)
    \qquad
    \text{depress}(w, k) = W_{max} \max\bigl(0, \hat w - \alpha\lambda \hat w^{\mu_-} k\bigr)

NEST updates a synapse only when a presynaptic spike (time :math:`t`, stamp of its step)
is delivered through it, treating the whole delay :math:`d` as dendritic: first
*facilitation* for the postsynaptic spikes :math:`t_j` in
:math:`(t_{last} - d,\ t - d]` (in time order), then *depression* with the postsynaptic
trace just before :math:`t - d`; :math:`t_{last}` is the synapse's previous presynaptic
spike (0 ms before the first). The models differ in the pairs they count:

* ``stdp_synapse`` (all to all): every post spike :math:`t_j` of the window with
  :math:`k = K_+ e^{(t_{last} - t_j - d)/\tau_+}`, :math:`K_+` the presynaptic trace
  (:math:`K_+ \leftarrow K_+ e^{(t_{last} - t)/\tau_+} + 1` after each pre spike); depression
  with :math:`K_-(t - d)`, the sum of :math:`e^{-(t - d - t_j)/\tau_-}` over earlier post
  spikes (:math:`\tau_-` = the postsynaptic neuron's ``tau_minus``).
* ``stdp_nn_symm_synapse``: every post spike of the window with
  :math:`k = e^{(t_{last} - t_j - d)/\tau_+}`; depression with the nearest earlier post
  spike only, :math:`e^{-(t - d - t_j)/\tau_-}`.
* ``stdp_nn_pre_centered_synapse``: the first post spike of the window with :math:`K_+`
  as ``stdp_synapse``, after which :math:`K_+ = 0`; nearest-neighbour depression.
* ``stdp_nn_restr_synapse``: the first post spike of the window with
  :math:`e^{(t_{last} - t_j - d)/\tau_+}`, and depression (nearest neighbour) only if the
  window held a post spike.

"Earlier" is strict and the window's right end inclusive, as NEST compares times.
Times here are integer steps: a spike in step ``k`` has the stamp ``(k + 1) h``.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._errors import check_range
from ._random import Parameter

STDP_MODELS = (
    "stdp_synapse",
    "stdp_nn_symm_synapse",
    "stdp_nn_pre_centered_synapse",
    "stdp_nn_restr_synapse",
)
RULE_PARAMS = ("tau_plus", "lambda", "alpha", "mu_plus", "mu_minus", "Wmax")
_RULE_DEFAULTS = {"tau_plus": 20.0, "lambda": 0.01, "alpha": 1.0, "mu_plus": 1.0,
                  "mu_minus": 1.0, "Wmax": 100.0}  # fmt: skip
#: NEST's defaults of every synapse model (``Kplus``: ``stdp_synapse``'s initial trace).
SYNAPSE_DEFAULTS = {
    "static_synapse": {"weight": 1.0, "delay": 1.0},
    **{
        m: {"weight": 1.0, "delay": 1.0, **_RULE_DEFAULTS, "weight_recorder": None}
        for m in STDP_MODELS
    },
}
SYNAPSE_DEFAULTS["stdp_synapse"]["Kplus"] = 0.0
EMPTY = -(2**30)  #: step of an empty entry of a postsynaptic spike history


class StdpParams(NamedTuple):
    """The rule parameters of one plastic projection (traced ``float32`` arrays: ``[1]``
    for one value, ``[nnz]`` for values drawn per synapse)."""

    h_tau_plus: jax.Array  #: resolution / tau_plus
    lam: jax.Array
    alpha: jax.Array
    mu_plus: jax.Array
    mu_minus: jax.Array
    Wmax: jax.Array


def check_stdp(model: str, spec: dict) -> None:
    """Raise a ``ValueError`` naming the first bad parameter of a ``model`` synapse.

    Values are numbers or, drawn per synapse, arrays; random parameters not yet drawn
    (:mod:`snnjax.sim.random`) are checked once drawn (at the build).
    """
    given = {k: v for k, v in spec.items() if not isinstance(v, Parameter)}
    if "tau_plus" in given:
        check_range("tau_plus", given["tau_plus"], low=0.0, low_inclusive=False)
    for name in ("lambda", "alpha", "mu_plus", "mu_minus", "Kplus"):
        if name in given:
            check_range(name, given[name], low=0.0)
    if "Wmax" in given:
        check_range("Wmax", given["Wmax"])
        if np.any(np.asarray(given["Wmax"]) == 0):
            raise ValueError("`Wmax` must not be 0 (weights are normalised by it)")
    if "weight" in given and "Wmax" in given:
        w, wmax = np.asarray(given["weight"], np.float64), np.asarray(given["Wmax"])
        if np.any((w >= 0) != (wmax >= 0)):
            raise ValueError(
                f"`weight` and `Wmax` of a {model} must have the same sign (NEST); got "
                f"Wmax {np.ravel(wmax)[:4].tolist()} and weights {np.ravel(w)[:4].tolist()}"
            )


def stdp_params(spec: dict, h: float) -> StdpParams:
    """The device parameters of a checked ``spec`` (numbers: ``[1]``; per-synapse arrays,
    in the CSR's order: ``[nnz]``)."""
    values = (h / np.asarray(spec["tau_plus"], np.float64), spec["lambda"], spec["alpha"],
              spec["mu_plus"], spec["mu_minus"], spec["Wmax"])  # fmt: skip
    return StdpParams(*(np.asarray(v, np.float32).reshape(-1) for v in values))


def facilitate(w, k, p: StdpParams):
    norm = w / p.Wmax + p.lam * jnp.power(1.0 - w / p.Wmax, p.mu_plus) * k
    return jnp.where(norm < 1.0, norm * p.Wmax, p.Wmax)


def depress(w, k, p: StdpParams):
    norm = w / p.Wmax - p.alpha * p.lam * jnp.power(w / p.Wmax, p.mu_minus) * k
    return jnp.where(norm > 0.0, norm * p.Wmax, 0.0)


def pre_spike(model: str, p: StdpParams, w, kplus, tlast, seen, j, d, n_upto, last, k_last,
              entry, h_tau_minus, window: int = 0):  # fmt: skip
    """NEST's update of synapses through which a presynaptic spike (step ``j``) passes.

    The target's spikes are numbered from 0 in time order (its *ordinals*); its recent
    history answers two questions about the step ``hi = j - d`` (the spike's time minus the
    dendritic delay): how many spikes it had up to ``hi`` (``n_upto``) and its last spike
    strictly before ``hi`` (``last``, with the trace :math:`K_-` just after it).

    Args:
        model: one of :data:`STDP_MODELS` (static).
        p: the rule parameters.
        w, kplus: ``float32[B]`` weights and presynaptic traces.
        tlast: ``int32[B]`` step of each synapse's previous presynaptic spike (-1: none).
        seen: ``int32[B]`` the target's spikes up to ``tlast - d`` (those already paired).
        j, d: ``int32[B]`` the spike's step and the synapses' delays (steps).
        n_upto: ``int32[B]`` the target's spikes up to step ``j - d``.
        last, k_last: ``[B]`` step of the target's last spike before ``j - d`` (:data:`EMPTY`:
            none) and :math:`K_-` just after it.
        entry: ``entry(ordinals) -> steps`` of the target's spikes (``int32[B]``).
        h_tau_minus: ``float32[B]`` resolution / the target's ``tau_minus``.
        window: a static bound on the window's spikes (the kept history's length: its
            loop then has a static trip count, reverse-mode differentiable); 0: the
            largest window of ``B``.

    Returns:
        ``(w, kplus, n_upto)``: the new weight, trace and ``seen``.
    """
    lo, hi = tlast - d, j - d  # the facilitation window (lo, hi], in post spike steps
    n_in = n_upto - seen  # its spikes: ordinals seen .. n_upto - 1
    has_prev = last > EMPTY
    nearest = jnp.where(has_prev, jnp.exp((last - hi) * h_tau_minus), 0.0)
    uses_kplus = model in ("stdp_synapse", "stdp_nn_pre_centered_synapse")
    scale = kplus if uses_kplus else jnp.ones_like(w)

    def pair(i, w):  # facilitation by the i-th post spike of the window
        dt = jnp.minimum(lo - entry(seen + i), 0)  # < 0 for every spike of the window
        new = facilitate(w, scale * jnp.exp(dt * p.h_tau_plus), p)
        return jnp.where(i < n_in, new, w)

    if model in ("stdp_synapse", "stdp_nn_symm_synapse"):  # every post spike of the window
        w = jax.lax.fori_loop(0, window or jnp.max(n_in, initial=0), pair, w)
    else:  # the first one
        w = pair(0, w)
    if model == "stdp_synapse":
        w = depress(w, jnp.where(has_prev, k_last, 0.0) * nearest, p)
    elif model == "stdp_nn_restr_synapse":
        w = jnp.where(n_in > 0, depress(w, nearest, p), w)
    else:
        w = depress(w, nearest, p)
    if model == "stdp_nn_pre_centered_synapse":
        kplus = jnp.where(n_in > 0, 0.0, kplus)
    if uses_kplus:
        kplus = kplus * jnp.exp((tlast - j) * p.h_tau_plus) + 1.0
    return w, kplus, n_upto


def needs_window(model: str, kplus):
    """Where an update reads the steps of its window's spikes (with ``K+ = 0`` the
    facilitation of ``stdp_synapse`` and ``stdp_nn_pre_centered_synapse`` changes nothing)."""
    if model in ("stdp_synapse", "stdp_nn_pre_centered_synapse"):
        return kplus != 0
    return jnp.ones(kplus.shape, bool)


def reference(model: str, spec: dict, pre_ms, post_ms, delay_ms: float, tau_minus: float = 20.0):
    """NEST's algorithm event by event in float64 (times in ms, full history), for tests.

    Args:
        model: one of :data:`STDP_MODELS`.
        spec: the synapse's parameters (``weight``, rule parameters, ``Kplus``).
        pre_ms, post_ms: the spike stamps of the pre- and postsynaptic neuron (ms).
        delay_ms: the synapse's delay.
        tau_minus: the postsynaptic neuron's ``tau_minus``.

    Returns:
        The weight after each presynaptic spike (the one it transmitted).
    """
    eps = 1e-6
    w, kplus, t_last = float(spec["weight"]), float(spec.get("Kplus", 0.0)), 0.0
    Wmax, lam, alpha = spec["Wmax"], spec["lambda"], spec["alpha"]
    post = np.sort(np.asarray(post_ms, np.float64))
    trace = np.zeros(len(post))  # K_- just after each post spike
    for i in range(len(post)):
        trace[i] = 1.0 + (trace[i - 1] * np.exp((post[i - 1] - post[i]) / tau_minus) if i else 0)

    def fac(w, k):
        norm = w / Wmax + lam * (1.0 - w / Wmax) ** spec["mu_plus"] * k
        return norm * Wmax if norm < 1.0 else Wmax

    def dep(w, k):
        norm = w / Wmax - alpha * lam * (w / Wmax) ** spec["mu_minus"] * k
        return norm * Wmax if norm > 0.0 else 0.0

    out = []
    for t in np.sort(np.asarray(pre_ms, np.float64)):
        window = post[(post >= t_last - delay_ms + eps) & (post < t - delay_ms + eps)]
        before = np.flatnonzero(t - delay_ms - post > eps)
        k_all = trace[before[-1]] * np.exp((post[before[-1]] - t + delay_ms) / tau_minus) \
            if len(before) else 0.0  # fmt: skip
        k_nn = np.exp((post[before[-1]] - t + delay_ms) / tau_minus) if len(before) else 0.0
        if model in ("stdp_synapse", "stdp_nn_symm_synapse"):
            for tp in window:
                decay = np.exp((t_last - tp - delay_ms) / spec["tau_plus"])
                w = fac(w, (kplus if model == "stdp_synapse" else 1.0) * decay)
        elif len(window):
            decay = np.exp((t_last - window[0] - delay_ms) / spec["tau_plus"])
            w = fac(w, (kplus if model == "stdp_nn_pre_centered_synapse" else 1.0) * decay)
        if model == "stdp_synapse":
            w = dep(w, k_all)
        elif model != "stdp_nn_restr_synapse" or len(window):
            w = dep(w, k_nn)
        if model == "stdp_nn_pre_centered_synapse" and len(window):
            kplus = 0.0
        kplus = kplus * np.exp((t_last - t) / spec["tau_plus"]) + 1.0
        t_last = t
        out.append(w)
    return np.asarray(out)
