"""The native RKF45 kernel (``snnjax_rkf45``) against the pure-JAX ``evolve`` it replaces on
CPU (``iaf_cond_*``, ``aeif_*`` with their spikes inside the loop, ``hh_*``): the same spikes
and traces to float32 rounding, per neuron (any split), under vmap."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from snnjax.sim import Simulator
from snnjax.sim._native import RKF45_MODELS, native_available, rkf45_native, use_native

pytestmark = pytest.mark.skipif(not native_available(), reason="native kernels not built")

COBA = {"g_L": 10.0, "C_m": 200.0, "E_L": -60.0, "V_th": -50.0, "V_reset": -60.0, "t_ref": 5.0,
        "E_ex": 0.0, "E_in": -80.0, "tau_syn_ex": 5.0, "tau_syn_in": 10.0}  # fmt: skip
# (model, parameters, I_e steps, recorded besides V_m, input weight)
CASES = [
    ("iaf_cond_exp", COBA, (0.0, 250.0, 600.0), ["g_ex", "g_in"], 1.5),
    ("iaf_cond_alpha", {}, (0.0, 250.0, 600.0), ["g_ex", "g_in"], 1.5),
    ("iaf_cond_beta", {"tau_rise_ex": 0.5, "tau_decay_ex": 3.0}, (0.0, 250.0, 600.0),
     ["g_ex", "g_in"], 1.5),
    ("hh_cond_exp_traub", {}, (0.0, 300.0, 900.0), ["Act_m", "Inact_h", "Act_n", "g_ex"], 1.5),
    ("hh_psc_alpha", {"g_L": 20.0}, (0.0, 300.0, 900.0), ["Act_m", "Inact_h", "Act_n"], 50.0),
    ("aeif_cond_exp", {}, (0.0, 500.0, 900.0, 1200.0), ["g_ex", "g_in", "w"], 1.5),
    ("aeif_cond_alpha", {"a": 0.0, "b": 60.0, "t_ref": 2.0, "Delta_T": 1.0, "V_peak": -20.0},
     (0.0, 500.0, 900.0, 1200.0), ["g_ex", "w"], 1.5),
    ("aeif_psc_exp", {"t_ref": 1.0}, (0.0, 500.0, 900.0, 1200.0), ["I_syn_ex", "w"], 50.0),
]  # fmt: skip


def _run(model, params, steps, record, weight, native):
    sim = Simulator(0.1, native=native)
    n = sim.create(model, 3, {**params, "I_e": [0.0, 100.0, 200.0]})
    mm = sim.create("multimeter", 1, {"record_from": ["V_m", *record], "interval": 0.1})
    rec = sim.create("spike_recorder")
    spikes = {
        "spike_times": [3.0, 12.0, 12.0, 40.0, 95.0],
        "spike_weights": [2.0, 8.0, 4.0, -30.0, 12.0],
    }
    sg = sim.create("spike_generator", 1, spikes)
    sim.connect(sg, n, "all_to_all", {"weight": weight, "delay": 1.0})
    sim.connect(mm, n)
    sim.connect(n, rec)
    for i_e in steps:
        sim.set(n[:1], {"I_e": i_e})
        sim.simulate(40.0)
    return sim.events(mm[0]), sim.events(rec[0])


@pytest.mark.parametrize(("model", "params", "steps", "record", "weight"), CASES,
                         ids=[c[0] for c in CASES])  # fmt: skip
def test_native_integration_matches_the_jax_loop(model, params, steps, record, weight):
    """I_e steps between runs and weighted spikes: the same spike times; V_m and the other
    recordables within float32 rounding's reach away from spikes (HH: within 1 ms of one
    a 1e-5 ms shift of the upstroke moves V_m by up to ~1e-1 mV)."""
    (ref, s_ref), (got, s) = (_run(model, params, steps, record, weight, native)
                              for native in (False, True))  # fmt: skip
    assert len(s["times"]) >= 3
    np.testing.assert_array_equal(s["senders"], s_ref["senders"])
    np.testing.assert_allclose(s["times"], s_ref["times"])
    far = np.min(np.abs(ref["times"][:, None] - s_ref["times"][None, :]), axis=1,
                 initial=1e9) > 1.0  # fmt: skip
    for key in ["V_m", *record]:
        scale = max(1.0, float(np.abs(ref[key]).max()))
        np.testing.assert_allclose(got[key][far], ref[key][far], atol=2e-4 * scale, err_msg=key)


def _state(model, n, rng):
    """A random state of ``n`` neurons and the kernel's parameters (with per-neuron ones)."""
    rows = 6 if model == "hh_cond_exp_traub" else 3
    y = [jnp.asarray(rng.uniform(-70.0, -50.0, n), jnp.float32)]
    y += [jnp.asarray(rng.uniform(0.0, 1.0 if model.startswith("hh") else 30.0, n), jnp.float32)
          for _ in range(rows - 1)]  # fmt: skip
    if model == "hh_cond_exp_traub":
        stim = jnp.asarray(rng.uniform(0.0, 2000.0, n), jnp.float32)
        params = (0.1, stim, 20000.0, 6000.0, 10.0, 200.0, 50.0, -90.0, -60.0, -63.0, 0.0, -80.0,
                  5.0, 10.0)  # fmt: skip
        lo = tuple(jnp.zeros(n, jnp.float32) for _ in y)
    else:
        refractory = jnp.asarray(rng.random(n) < 0.2, jnp.float32)
        stim = jnp.asarray(rng.uniform(0.0, 400.0, n), jnp.float32)
        params = (0.1, refractory, stim, -60.0, -50.0, -60.0, 10.0, 200.0, 0.0, -80.0, 5.0, 10.0)
        lo = None
    step = jnp.asarray(rng.uniform(0.01, 0.3, n), jnp.float32)
    return tuple(y), step, params, lo


@pytest.mark.parametrize("model", ["iaf_cond_exp", "hh_cond_exp_traub"])
def test_each_neuron_on_its_own(model):
    """Any split of the neurons (the threads' parts, the shards), and a vmapped batch of
    instances, gives every neuron the same bits as integrating it alone."""
    use_native(True, "cpu")
    rng = np.random.default_rng(3)
    n = 1500  # several parts of the two threads, a part's last chunk partial
    y, step, params, lo = _state(model, n, rng)
    full = rkf45_native(model, y, step, params, lo=lo)
    for part in (slice(0, 7), slice(7, 1030), slice(1030, n)):
        sub = tuple(p[part] if jnp.ndim(p) else p for p in params)
        half = rkf45_native(model, tuple(v[part] for v in y), step[part], sub,
                            lo=None if lo is None else tuple(v[part] for v in lo))  # fmt: skip
        for a, b in zip(jax.tree.leaves(half), jax.tree.leaves(full), strict=True):
            np.testing.assert_array_equal(a, b[part])
    assert not np.asarray(full[2]).any() and np.ptp(np.asarray(full[1])) > 0

    # vmap over three instances (the second and third share the parameters' values)
    ys = [_state(model, 40, np.random.default_rng(s)) for s in (5, 6, 6)]

    def one(y, step, lo):
        return rkf45_native(model, y, step, ys[0][2], lo=lo)

    stack = jax.tree.map(lambda *a: jnp.stack(a), *[(y, s, lo) for y, s, _, lo in ys])
    batched = jax.vmap(one)(*stack)
    for k, (y, s, _, lo) in enumerate(ys):
        alone = one(y, s, lo)
        for a, b in zip(jax.tree.leaves(alone), jax.tree.leaves(batched), strict=True):
            np.testing.assert_array_equal(a, b[k])


def test_threads_give_the_same_bits_call_after_call():
    """Many calls in a row on two threads (the pool thread that helped joins the next
    call while it lingers) equal one thread's, bit for bit."""
    use_native(True, "cpu")
    y, step, params, _ = _state("iaf_cond_exp", 3000, np.random.default_rng(4))

    def run(threads):
        def body(_, c):
            y, step = c
            y, step, _ = rkf45_native("iaf_cond_exp", y, step, params, threads=threads)
            return (jnp.minimum(y[0], -50.0), y[1] + 0.5, y[2]), step

        return jax.jit(lambda c: jax.lax.fori_loop(0, 300, body, c))((y, step))

    for a, b in zip(jax.tree.leaves(run(1)), jax.tree.leaves(run(2)), strict=True):
        np.testing.assert_array_equal(a, b)


def test_rkf45_native_models_and_errors():
    """Every model the kernel knows is one the simulator has, with ``native_ode``."""
    from snnjax.sim.models._registry import _SPECS

    assert all(_SPECS[m].native_ode for m in RKF45_MODELS)
    use_native(True, "cpu")
    y, step, params, _ = _state("iaf_cond_exp", 4, np.random.default_rng(0))
    with pytest.raises(Exception, match="12 parameter buffers"):
        rkf45_native("iaf_cond_exp", y, step, params[:-1])
