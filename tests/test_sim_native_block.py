"""The native block kernels (``snnjax_exact_block``: the exactly integrated models;
``snnjax_ode_block``: the ``iaf_cond_*``, ``aeif_*`` and ``hh_*``) == the model's step
function (with the native ODE) scanned over the block's steps, bit for bit (per-neuron
parameters, refractoriness, a shorter last block, an offset into the shard's inputs,
threads, vmap), and their count of non-finite neurons; ``iaf_psc_delta`` with
``refractory_input`` to float32 rounding."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from snnjax.sim import NestModel
from snnjax.sim._native import BLOCK_MODELS, native_available, use_native

pytestmark = pytest.mark.skipif(not native_available(), reason="native kernels not built")

STEPS, N, LO, n = 15, 700, 150, 500
AEIF = {"I_e": (400.0, 900.0), "t_ref": (0.0, 3.0), "a": (0.0, 8.0), "b": (0.0, 100.0),
        "Delta_T": (1.0, 3.0), "tau_w": (50.0, 200.0), "V_peak": (-30.0, 0.0)}  # fmt: skip
# (model, per-neuron parameter ranges, input scale)
CASES = [
    ("iaf_psc_delta", {"tau_m": (5.0, 30.0), "V_th": (-56.0, -50.0), "I_e": (0.0, 60.0),
                       "V_min": (-75.0, -71.0), "t_ref": (0.5, 3.0)}, 1.0),
    ("iaf_psc_exp", {"tau_m": (5.0, 30.0), "tau_syn_ex": (0.3, 4.0), "tau_syn_in": (1.0, 8.0),
                     "I_e": (0.0, 300.0), "t_ref": (0.5, 3.0)}, 300.0),
    ("iaf_psc_alpha", {"tau_m": (5.0, 30.0), "tau_syn_ex": (0.3, 4.0), "tau_syn_in": (1.0, 8.0),
                       "I_e": (0.0, 300.0), "V_min": (-75.0, -71.0), "t_ref": (0.5, 3.0)},
     300.0),
    ("iaf_cond_exp", {"tau_syn_ex": (0.2, 2.0), "tau_syn_in": (1.0, 5.0), "I_e": (150.0, 500.0),
                      "t_ref": (0.5, 3.0), "V_th": (-56.0, -50.0)}, 8.0),
    ("iaf_cond_alpha", {"tau_syn_ex": (0.2, 2.0), "tau_syn_in": (1.0, 5.0),
                        "I_e": (150.0, 500.0), "t_ref": (0.5, 3.0)}, 8.0),
    ("iaf_cond_beta", {"tau_rise_ex": (0.1, 0.5), "tau_decay_ex": (1.0, 3.0),
                       "tau_rise_in": (0.2, 1.0), "tau_decay_in": (2.0, 6.0),
                       "I_e": (150.0, 500.0), "t_ref": (0.5, 3.0)}, 8.0),
    ("hh_cond_exp_traub", {"tau_syn_ex": (2.0, 8.0), "tau_syn_in": (5.0, 15.0),
                           "I_e": (0.0, 30.0), "t_ref": (1.0, 3.0)}, 30.0),
    ("hh_psc_alpha", {"tau_syn_ex": (0.1, 1.0), "tau_syn_in": (1.0, 4.0), "I_e": (300.0, 900.0),
                      "t_ref": (1.0, 3.0)}, 300.0),
    ("aeif_cond_exp", {**AEIF, "tau_syn_ex": (0.2, 2.0), "tau_syn_in": (1.0, 5.0)}, 8.0),
    ("aeif_cond_alpha", {**AEIF, "tau_syn_ex": (0.2, 2.0), "tau_syn_in": (1.0, 5.0)}, 8.0),
    ("aeif_psc_exp", {**AEIF, "tau_syn_ex": (0.2, 2.0), "tau_syn_in": (1.0, 5.0)}, 300.0),
]  # fmt: skip


def _setup(rng, model, ranges, flags=None):
    m = NestModel(model)
    params = m.params(**{k: rng.uniform(*r, n) for k, r in ranges.items()}, **(flags or {}))
    props = m.propagators(params, 0.1)
    state = m.init_state(params, n, V_m=rng.uniform(-70.0, -52.0, n))
    return m, params, props, state


def _inputs(rng, scale, batch=()):
    shape = (*batch, STEPS, N)
    ex = rng.poisson(0.3, shape) * scale * rng.uniform(0.5, 1.0, shape)
    inh = -rng.poisson(0.2, shape) * scale * rng.uniform(0.5, 1.0, shape)
    stim = rng.normal(100.0, 50.0, shape)
    return jnp.asarray(np.stack([ex, inh, stim], axis=-3), jnp.float32)


def _scan(m, props, params, state, inputs, live):
    """The model's step scanned over the block, as the simulator's step loop does (the
    ODE of the ``iaf_cond_*`` by the native kernel)."""

    def step(s, x):
        ex, inh, stim, on = x
        new, spikes = m.step(props, params, s, ex[LO : LO + n], inh[LO : LO + n],
                             stim[LO : LO + n], native=True, threads=1)  # fmt: skip
        return jax.tree.map(lambda a, b: jnp.where(on, a, b), new, s), jnp.where(on, spikes, 0)

    return jax.lax.scan(step, state, (*inputs, jnp.arange(STEPS) < live))


def _same(x, y):
    """Bit for bit (-0.0 != 0.0, NaNs by payload)."""
    xs, ys = jax.tree.leaves(x), jax.tree.leaves(y)
    return len(xs) == len(ys) and all(
        np.array_equal(np.asarray(a).view(np.uint32), np.asarray(b).view(np.uint32))
        for a, b in zip(xs, ys, strict=True)
    )


@pytest.mark.parametrize(("model", "ranges", "scale"), CASES, ids=[c[0] for c in CASES])
def test_block_kernel_is_the_step_bit_for_bit(rng, model, ranges, scale):
    use_native(None, "cpu")
    m, params, props, state = _setup(rng, model, ranges)
    pure = jax.jit(lambda s, x, live: _scan(m, props, params, s, x, live))
    native = {
        k: jax.jit(
            lambda s, x, live, k=k: m.native_block(props, params, s, x, live, lo=LO, threads=k)
        )
        for k in (1, 2)
    }
    a = b = c = state
    spikes = refractory = 0
    for live in (STEPS,) * 20 + (7, 0, STEPS):  # a shorter block, an empty one
        inputs = _inputs(rng, scale)
        a, sa = pure(a, inputs, live)
        b, sb, bad_b = native[1](b, inputs, live)
        c, sc, bad_c = native[2](c, inputs, live)
        assert _same((b, sb), (a, sa)) and _same((c, sc), (a, sa))
        assert int(bad_b) == int(bad_c) == 0
        spikes += int(sa.sum())
        refractory += int(np.count_nonzero(a.r))
        assert not np.asarray(sa[live:]).any()
    assert spikes > 300 and refractory > 100  # thresholds and refractoriness exercised


def test_block_kernel_under_vmap(rng):
    use_native(None, "cpu")
    model, ranges, scale = CASES[1]
    m, params, props, state = _setup(rng, model, ranges)
    B = 3
    states = jax.tree.map(lambda x: jnp.stack([x] * B), state)
    inputs = _inputs(rng, scale, (B,))
    lives = jnp.asarray([STEPS, 4, 0], jnp.int32)
    want = jax.jit(jax.vmap(lambda s, x, live: _scan(m, props, params, s, x, live)))
    got = jax.jit(
        jax.vmap(lambda s, x, live: m.native_block(props, params, s, x, live, lo=LO, threads=2))
    )
    assert _same(got(states, inputs, lives)[:2], want(states, inputs, lives))
    shared = jax.jit(
        jax.vmap(lambda x: m.native_block(props, params, state, x, STEPS, lo=LO, threads=1))
    )
    for i in range(B):  # a shared state: each instance's own copy
        one = m.native_block(props, params, state, inputs[i], STEPS, lo=LO, threads=1)
        assert _same(jax.tree.map(lambda x, i=i: x[i], shared(inputs)), one)


@pytest.mark.parametrize("model", ["iaf_psc_exp", "iaf_cond_exp"])
def test_block_kernel_counts_non_finite_neurons(rng, model):
    """A neuron with a non-finite state value counts once (what the simulator reports as
    a solver failure), under vmap per instance."""
    use_native(None, "cpu")
    _, ranges, scale = next(c for c in CASES if c[0] == model)
    m, params, props, state = _setup(rng, model, ranges)
    fields = state._asdict()
    first, second = [f for f in state._fields if f != "r"][:2]
    fields[first] = fields[first].at[np.array([3, 40])].set(jnp.nan)
    fields[second] = fields[second].at[np.array([40, 41])].set(jnp.inf)  # neurons 3, 40, 41
    bad_state = type(state)(**fields)
    inputs = _inputs(rng, scale)
    _, _, bad = m.native_block(props, params, bad_state, inputs, STEPS, lo=LO, threads=2)
    assert int(bad) == 3
    states = jax.tree.map(lambda a, b: jnp.stack([a, b]), state, bad_state)
    _, _, bad = jax.vmap(lambda s: m.native_block(props, params, s, inputs, STEPS, lo=LO,
                                                  threads=1))(states)  # fmt: skip
    assert bad.tolist() == [0, 3]


def test_refractory_input_to_float32_rounding(rng):
    use_native(None, "cpu")
    model, ranges, scale = CASES[0]
    m, params, props, state = _setup(rng, model, ranges, {"refractory_input": True})
    a = b = state
    for _ in range(10):
        inputs = _inputs(rng, scale)
        a, sa = _scan(m, props, params, a, inputs, STEPS)
        b, sb, _ = m.native_block(props, params, b, inputs, STEPS, lo=LO, threads=1)
        assert np.array_equal(sa, sb) and np.array_equal(a.r, b.r)
        np.testing.assert_allclose(b.v, a.v, rtol=0, atol=1e-5)
        np.testing.assert_allclose(b.refr_spikes, a.refr_spikes, rtol=0, atol=1e-5)
    assert np.abs(np.asarray(a.refr_spikes)).max() > 0  # gathered while refractory


def test_models_and_errors():
    assert set(BLOCK_MODELS) == {c[0] for c in CASES}
    assert all(NestModel(m).has_native_block for m in BLOCK_MODELS)
    assert not NestModel("izhikevich").has_native_block
    assert not NestModel("iaf_cond_exp", substeps=2).has_native_block  # fixed steps: JAX
    m = NestModel("izhikevich")
    with pytest.raises(ValueError, match="no native block kernel"):
        m.native_block(None, None, None, None, 1, lo=0, threads=1)
