"""snnjax's LIF against peer libraries from PyPI: snnTorch, SpikingJelly and Norse.

Run with ``make test-peers`` (it installs the CPU torch wheel and the peers, then runs
``pytest -m peers tests/peers``). The default ``pytest`` run never collects this module
(see ``tests/peers/conftest.py``), so it does not need torch.

Each equivalence test maps the peer's parameters onto ``snnjax.neurons.LIF``, feeds both the
same random float32 input ``[T, B, N]`` and asserts

* identical spike trains,
* the peer's membrane after reset equal to ``res.traces.v`` within ``1e-5``,
* the gradient of a random-weighted sum of the spikes w.r.t. the peer's input equal within
  a relative error of ``1e-4`` (elementwise, with an absolute floor of ``1e-4`` times the
  largest gradient entry).

The inputs are redrawn until no pre-reset membrane lies within ``1e-4`` of the threshold, so
the threshold conventions (snnjax and SpikingJelly ``>=``, snnTorch and Norse ``>``) and
float32 rounding cannot change a spike; the ``test_*_threshold_*`` tests then pin down what
happens when the membrane lands exactly on the threshold.
"""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import snnjax
from snnjax.ops import neuron_scan
from snnjax.surrogate import ArcTan, FastSigmoid, Sigmoid

try:
    with warnings.catch_warnings():
        # Norse decorates functions with `torch.jit.script`, deprecated in recent torch.
        warnings.simplefilter("ignore", DeprecationWarning)
        import norse.torch as norse
        import snntorch
        import torch
        from snntorch import surrogate as snntorch_surrogate
        from spikingjelly.activation_based import neuron as sj_neuron
        from spikingjelly.activation_based import surrogate as sj_surrogate
except ImportError as err:
    raise ImportError(
        f"the peer cross-checks need torch, snnTorch, SpikingJelly and Norse ({err}); "
        "run `make test-peers`, which installs them"
    ) from err

pytestmark = pytest.mark.peers

T, B, N = 50, 4, 32
THRESHOLD = 1.0
MARGIN = 1e-4  # no pre-reset membrane closer than this to the threshold
MEMBRANE_ATOL = 1e-5
GRAD_RTOL = 1e-4


# --- helpers -------------------------------------------------------------------------------


def _pre_reset_membrane(x, *, beta, threshold, reset, v_reset, in_scale, in_offset, v0):
    """The pre-reset membrane ``h`` of snnjax's LIF equations, in float64 NumPy."""
    v = np.full(x.shape[1:], v0, np.float64)
    hs = []
    for x_t in x.astype(np.float64):
        h = beta * v + in_scale * x_t + in_offset
        s = h >= threshold
        v = h - s * threshold if reset == "soft" else np.where(s, v_reset, h)
        hs.append(h)
    return np.stack(hs)


def _draw_input(rng, *, loc, scale, high=np.inf, **lif):
    """Random input ``[T, B, N]`` whose membrane stays at least ``MARGIN`` off the threshold.

    ``lif`` holds the arguments of :func:`_pre_reset_membrane` (the mapped snnjax LIF).
    Returns ``(x, h)``: the float32 input and the float64 pre-reset membrane.
    """
    for _ in range(100):
        x = np.minimum(rng.normal(loc, scale, (T, B, N)), high).astype(np.float32)
        h = _pre_reset_membrane(x, **lif)
        if np.min(np.abs(h - lif["threshold"])) > MARGIN:
            return x, h
    raise AssertionError("could not draw an input that keeps the membrane off the threshold")


def _snnjax_lif(
    x,
    w,
    *,
    beta,
    threshold,
    reset,
    v_reset,
    detach_reset,
    surrogate,
    in_scale=1.0,
    in_offset=0.0,
    v0=0.0,
):
    """snnjax's LIF on input ``in_scale * x + in_offset`` from ``v = v0``.

    Returns ``(spikes, v, grad)``: spikes and post-reset membrane ``[T, B, N]`` and the
    gradient of ``sum(w * spikes)`` w.r.t. ``x``.
    """
    model = snnjax.neurons.LIF(reset=reset, detach_reset=detach_reset, surrogate=surrogate)
    params = model.params(beta=beta, threshold=threshold, v_reset=v_reset)
    state = model.State(jnp.full(x.shape[1:], v0, jnp.float32))

    def loss(x):
        res = neuron_scan(model, params, x * in_scale + in_offset, state, return_traces=True)
        return jnp.sum(jnp.asarray(w) * res.outputs), res

    (_, res), grad = jax.value_and_grad(loss, has_aux=True)(jnp.asarray(x))
    return np.asarray(res.outputs), np.asarray(res.traces.v), np.asarray(grad)


def _torch_grad(x_torch, spikes, w):
    """Gradient of ``sum(w * spikes)`` w.r.t. the leaf tensor ``x_torch``."""
    (torch.from_numpy(w) * spikes).sum().backward()
    return x_torch.grad.numpy()


def _assert_equivalent(peer, ours):
    """Peer's ``(spikes, v, grad)`` against snnjax's."""
    spikes, v, grad = peer
    our_spikes, our_v, our_grad = ours
    assert 0 < our_spikes.mean() < 1, "the test input should make some, not all, neurons spike"
    np.testing.assert_array_equal(spikes, our_spikes, err_msg="spike trains differ")
    np.testing.assert_allclose(v, our_v, rtol=0, atol=MEMBRANE_ATOL, err_msg="membrane")
    scale = np.abs(our_grad).max()
    assert scale > 0, "the test should have a non-zero gradient"
    np.testing.assert_allclose(
        grad, our_grad, rtol=GRAD_RTOL, atol=GRAD_RTOL * scale, err_msg="input gradient"
    )


def _spike_steps(spikes):
    return np.flatnonzero(np.asarray(spikes).reshape(-1)).tolist()


# --- snnTorch ------------------------------------------------------------------------------


def _run_snntorch(x, w, *, beta, mechanism, spike_grad, reset_delay=False):
    lif = snntorch.Leaky(
        beta=beta,
        threshold=THRESHOLD,
        spike_grad=spike_grad,
        reset_mechanism=mechanism,
        reset_delay=reset_delay,
    )
    x_torch = torch.tensor(x, requires_grad=True)
    spikes, mems = [], []
    for x_t in x_torch:
        spk, mem = lif(x_t)
        spikes.append(spk)
        mems.append(mem)
    spikes = torch.stack(spikes)
    grad = _torch_grad(x_torch, spikes, w)
    return spikes.detach().numpy(), torch.stack(mems).detach().numpy(), grad


SNNTORCH_SURROGATES = {  # peer factory, snnjax surrogate
    "fast_sigmoid25": (lambda: snntorch_surrogate.fast_sigmoid(slope=25), FastSigmoid(25.0)),
    "atan2": (lambda: snntorch_surrogate.atan(alpha=2.0), ArcTan(2.0)),
}


@pytest.mark.parametrize(("mechanism", "reset"), [("subtract", "soft"), ("zero", "hard")])
@pytest.mark.parametrize("surrogate", list(SNNTORCH_SURROGATES))
def test_snntorch_leaky_equals_lif(mechanism, reset, surrogate, rng):
    """``Leaky(reset_delay=False)`` == ``LIF(detach_reset=False)``: its reset is not detached."""
    beta = 0.9
    peer_surrogate, our_surrogate = SNNTORCH_SURROGATES[surrogate]
    # Inputs capped at 0.9 keep h < 2 * threshold: snnTorch then never sees a post-reset
    # membrane above threshold, which would trigger its extra, delayed reset.
    lif = dict(beta=beta, threshold=THRESHOLD, reset=reset, v_reset=0.0)
    x, h = _draw_input(
        rng, loc=0.3, scale=0.4, high=0.9, in_scale=1.0, in_offset=0.0, v0=0.0, **lif
    )
    assert h.max() < 2 * THRESHOLD
    w = rng.normal(size=x.shape).astype(np.float32)
    peer = _run_snntorch(x, w, beta=beta, mechanism=mechanism, spike_grad=peer_surrogate())
    ours = _snnjax_lif(x, w, **lif, detach_reset=False, surrogate=our_surrogate)
    _assert_equivalent(peer, ours)


@pytest.mark.parametrize(("mechanism", "reset"), [("subtract", "soft"), ("zero", "hard")])
def test_snntorch_immediate_reset_is_not_detached(mechanism, reset, rng):
    """With ``detach_reset=True`` the spikes agree but the gradients do not."""
    lif = dict(beta=0.9, threshold=THRESHOLD, reset=reset, v_reset=0.0)
    x, _ = _draw_input(
        rng, loc=0.3, scale=0.4, high=0.9, in_scale=1.0, in_offset=0.0, v0=0.0, **lif
    )
    w = rng.normal(size=x.shape).astype(np.float32)
    spikes, _, grad = _run_snntorch(
        x, w, beta=0.9, mechanism=mechanism, spike_grad=snntorch_surrogate.fast_sigmoid(25)
    )
    our_spikes, _, our_grad = _snnjax_lif(
        x, w, **lif, detach_reset=True, surrogate=FastSigmoid(25.0)
    )
    np.testing.assert_array_equal(spikes, our_spikes)
    rel = np.abs(grad - our_grad).max() / np.abs(our_grad).max()
    assert rel > 100 * GRAD_RTOL, f"gradients unexpectedly agree (rel. err. {rel:.2e})"


def test_snntorch_default_delayed_zero_reset_equals_hard_detached_lif(rng):
    """Default ``Leaky(reset_mechanism="zero")`` (``reset_delay=True``): the reset of a spike
    at step t is applied, detached, at step t+1. Spikes and gradients equal snnjax's hard
    reset with ``detach_reset=True``; snnTorch's returned membrane is the pre-reset one.
    """
    beta = 0.9
    lif = dict(beta=beta, threshold=THRESHOLD, reset="hard", v_reset=0.0)
    x, h = _draw_input(rng, loc=0.3, scale=0.4, in_scale=1.0, in_offset=0.0, v0=0.0, **lif)
    w = rng.normal(size=x.shape).astype(np.float32)
    spikes, mem, grad = _run_snntorch(
        x,
        w,
        beta=beta,
        mechanism="zero",
        spike_grad=snntorch_surrogate.fast_sigmoid(25),
        reset_delay=True,
    )
    our_spikes, our_v, our_grad = _snnjax_lif(
        x, w, **lif, detach_reset=True, surrogate=FastSigmoid(25.0)
    )
    our_h = beta * np.concatenate([np.zeros_like(our_v[:1]), our_v[:-1]]) + x
    _assert_equivalent((spikes, mem, grad), (our_spikes, our_h, our_grad))
    np.testing.assert_allclose(mem, h, rtol=0, atol=MEMBRANE_ATOL)


def test_snntorch_soft_reset_differs_once_the_membrane_stays_above_threshold():
    """After a soft reset that leaves v > threshold (h >= 2 threshold), snnTorch's delayed-reset
    bookkeeping (``mem_reset`` of the previous membrane) lowers the next membrane by the
    threshold before the test: it then fires only if h > 2 threshold. snnjax fires on h >= 1.
    """
    x = np.array([2.6, 0.6, 0.1], np.float32).reshape(3, 1, 1)
    w = np.ones_like(x)
    spikes, mem, _ = _run_snntorch(
        x, w, beta=1.0, mechanism="subtract", spike_grad=snntorch_surrogate.fast_sigmoid(25)
    )
    our_spikes, our_v, _ = _snnjax_lif(
        x,
        w,
        beta=1.0,
        threshold=THRESHOLD,
        reset="soft",
        v_reset=0.0,
        detach_reset=False,
        surrogate=FastSigmoid(25.0),
    )
    assert _spike_steps(our_spikes) == [0, 1, 2]  # h = 2.6, 2.2, 1.3
    assert _spike_steps(spikes) == [0, 1]
    np.testing.assert_allclose(our_v.reshape(-1), [1.6, 1.2, 0.3], atol=1e-6)
    np.testing.assert_allclose(mem.reshape(-1), [1.6, 1.2, 1.3], atol=1e-6)


@pytest.mark.parametrize(
    ("mechanism", "reset", "snntorch_steps"),
    [("subtract", "soft", [4, 8, 12]), ("zero", "hard", [4, 9, 14])],
)
def test_snntorch_threshold_is_strict(mechanism, reset, snntorch_steps):
    """IF-like (beta = 1), x = 0.25: the membrane lands exactly on 1.0 at step 3.

    snnjax (``>=``) spikes there; snnTorch (``>``) waits for 1.25 at step 4.
    """
    x = np.full((16, 1, 1), 0.25, np.float32)
    w = np.ones_like(x)
    spikes, mem, _ = _run_snntorch(
        x, w, beta=1.0, mechanism=mechanism, spike_grad=snntorch_surrogate.fast_sigmoid(25)
    )
    our_spikes, _, _ = _snnjax_lif(
        x,
        w,
        beta=1.0,
        threshold=THRESHOLD,
        reset=reset,
        v_reset=0.0,
        detach_reset=False,
        surrogate=FastSigmoid(25.0),
    )
    assert mem[3, 0, 0] == THRESHOLD
    assert _spike_steps(our_spikes) == [3, 7, 11, 15]
    assert _spike_steps(spikes) == snntorch_steps


# --- SpikingJelly --------------------------------------------------------------------------


def _run_spikingjelly(x, w, *, tau, v_reset, detach_reset, surrogate_function):
    node = sj_neuron.LIFNode(
        tau=tau,
        decay_input=True,
        v_threshold=THRESHOLD,
        v_reset=v_reset,
        surrogate_function=surrogate_function,
        detach_reset=detach_reset,
        step_mode="m",
        store_v_seq=True,
    )
    x_torch = torch.tensor(x, requires_grad=True)
    spikes = node(x_torch)
    grad = _torch_grad(x_torch, spikes, w)
    return spikes.detach().numpy(), node.v_seq.detach().numpy(), grad


SJ_SURROGATES = {  # peer factory, snnjax surrogate
    "ATan2": (lambda: sj_surrogate.ATan(alpha=2.0), ArcTan(2.0)),
    "Sigmoid4": (lambda: sj_surrogate.Sigmoid(alpha=4.0), Sigmoid(4.0)),
    "SuperSpike1": (lambda: sj_surrogate.SuperSpike(alpha=1.0), FastSigmoid(1.0)),
}


@pytest.mark.parametrize("v_reset", [None, 0.0, -0.25], ids=["soft", "hard0", "hard-0.25"])
@pytest.mark.parametrize("detach_reset", [False, True], ids=["attached", "detached"])
@pytest.mark.parametrize("surrogate", list(SJ_SURROGATES))
def test_spikingjelly_lifnode_equals_lif(v_reset, detach_reset, surrogate, rng):
    """``LIFNode(tau, decay_input=True)``: h = v + (x - (v - v_reset)) / tau, i.e.
    beta = 1 - 1/tau on input (x + v_reset) / tau (v_reset = 0 for the soft reset),
    starting from v = v_reset.
    """
    tau = 2.5
    peer_surrogate, our_surrogate = SJ_SURROGATES[surrogate]
    v_rest = 0.0 if v_reset is None else v_reset
    lif = dict(
        beta=1.0 - 1.0 / tau,
        threshold=THRESHOLD,
        reset="soft" if v_reset is None else "hard",
        v_reset=v_rest,
        in_scale=1.0 / tau,
        in_offset=v_rest / tau,
        v0=v_rest,
    )
    x, _ = _draw_input(rng, loc=0.8, scale=1.0, **lif)
    w = rng.normal(size=x.shape).astype(np.float32)
    peer = _run_spikingjelly(
        x,
        w,
        tau=tau,
        v_reset=v_reset,
        detach_reset=detach_reset,
        surrogate_function=peer_surrogate(),
    )
    ours = _snnjax_lif(x, w, **lif, detach_reset=detach_reset, surrogate=our_surrogate)
    _assert_equivalent(peer, ours)


@pytest.mark.parametrize(("v_reset", "reset"), [(None, "soft"), (0.0, "hard")])
def test_spikingjelly_threshold_is_inclusive(v_reset, reset):
    """tau = 2, x = 2: h = v/2 + 1 lands exactly on 1.0 at every step (after the reset to 0).

    SpikingJelly (``>=``) spikes at every step, like snnjax; a ``>`` peer would never spike.
    """
    x = np.full((8, 1, 1), 2.0, np.float32)
    w = np.ones_like(x)
    spikes, v, _ = _run_spikingjelly(
        x, w, tau=2.0, v_reset=v_reset, detach_reset=False, surrogate_function=sj_surrogate.ATan()
    )
    our_spikes, our_v, _ = _snnjax_lif(
        x,
        w,
        beta=0.5,
        threshold=THRESHOLD,
        reset=reset,
        v_reset=0.0,
        detach_reset=False,
        surrogate=ArcTan(2.0),
        in_scale=0.5,
    )
    assert _spike_steps(spikes) == _spike_steps(our_spikes) == list(range(8))
    np.testing.assert_array_equal(v, 0.0)
    np.testing.assert_array_equal(our_v, 0.0)


# --- Norse ---------------------------------------------------------------------------------


def _run_norse(x, w, *, tau_mem_inv, dt, v_reset, alpha, reset_method=None):
    kwargs = {} if reset_method is None else {"reset_method": reset_method}
    p = norse.LIFBoxParameters(
        tau_mem_inv=torch.tensor(tau_mem_inv),
        v_leak=torch.tensor(0.0),
        v_th=torch.tensor(THRESHOLD),
        v_reset=torch.tensor(v_reset),
        method="super",
        alpha=torch.tensor(alpha),
        **kwargs,
    )
    cell = norse.LIFBoxCell(p, dt=dt)
    x_torch = torch.tensor(x, requires_grad=True)
    state, spikes, vs = None, [], []
    for x_t in x_torch:
        z, state = cell(x_t, state)
        spikes.append(z)
        vs.append(state.v)
    spikes = torch.stack(spikes)
    grad = _torch_grad(x_torch, spikes, w)
    return spikes.detach().numpy(), torch.stack(vs).detach().numpy(), grad


@pytest.mark.parametrize("v_reset", [0.0, -0.25])
@pytest.mark.parametrize("alpha", [100.0, 5.0])
def test_norse_lifbox_equals_lif(v_reset, alpha, rng):
    """``LIFBoxCell`` (Euler, v += dt * tau_mem_inv * (v_leak - v + i), v_leak = 0):
    beta = 1 - dt * tau_mem_inv on input dt * tau_mem_inv * i; hard reset, not detached.
    ``method="super"`` is 1 / (1 + |x|)^2 whatever ``alpha``: snnjax ``FastSigmoid(1.0)``.
    """
    tau_mem_inv, dt = 100.0, 1e-3
    c = dt * tau_mem_inv
    lif = dict(beta=1.0 - c, threshold=THRESHOLD, reset="hard", v_reset=v_reset)
    x, _ = _draw_input(rng, loc=1.0, scale=2.0, in_scale=c, in_offset=0.0, v0=0.0, **lif)
    w = rng.normal(size=x.shape).astype(np.float32)
    peer = _run_norse(x, w, tau_mem_inv=tau_mem_inv, dt=dt, v_reset=v_reset, alpha=alpha)
    ours = _snnjax_lif(x, w, **lif, detach_reset=False, surrogate=FastSigmoid(1.0), in_scale=c)
    _assert_equivalent(peer, ours)


def test_norse_lifbox_subtract_reset_equals_soft_lif(rng):
    """``LIFBoxParameters(reset_method=reset_subtract)``: snnjax's soft reset, not detached."""
    tau_mem_inv, dt = 100.0, 1e-3
    c = dt * tau_mem_inv
    lif = dict(beta=1.0 - c, threshold=THRESHOLD, reset="soft", v_reset=0.0)
    x, _ = _draw_input(rng, loc=1.0, scale=2.0, in_scale=c, in_offset=0.0, v0=0.0, **lif)
    w = rng.normal(size=x.shape).astype(np.float32)
    peer = _run_norse(
        x,
        w,
        tau_mem_inv=tau_mem_inv,
        dt=dt,
        v_reset=0.0,
        alpha=100.0,
        reset_method=norse.functional.reset.reset_subtract,
    )
    ours = _snnjax_lif(x, w, **lif, detach_reset=False, surrogate=FastSigmoid(1.0), in_scale=c)
    _assert_equivalent(peer, ours)


def test_norse_threshold_is_strict():
    """dt * tau_mem_inv = 0.5, x = 2: the membrane lands exactly on 1.0 from rest.

    snnjax (``>=``) spikes at every step (reset to 0, then 1.0 again); Norse (``>``) keeps
    v = 1.0 at step 0, spikes on 1.5 at step 1, and so on every other step.
    """
    x = np.full((8, 1, 1), 2.0, np.float32)
    w = np.ones_like(x)
    spikes, v, _ = _run_norse(x, w, tau_mem_inv=1.0, dt=0.5, v_reset=0.0, alpha=100.0)
    our_spikes, _, _ = _snnjax_lif(
        x,
        w,
        beta=0.5,
        threshold=THRESHOLD,
        reset="hard",
        v_reset=0.0,
        detach_reset=False,
        surrogate=FastSigmoid(1.0),
        in_scale=0.5,
    )
    assert v[0, 0, 0] == THRESHOLD
    assert _spike_steps(our_spikes) == list(range(8))
    assert _spike_steps(spikes) == [1, 3, 5, 7]
