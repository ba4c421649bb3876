"""Flax NNX layers: sequence driver == carry API, composition with Linear/Conv, learning."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import snnjax.nn as snn
from snnjax.ops import neuron_scan_reference

LAYERS = {
    "IF": lambda: snn.IF(8, reset="hard"),
    "LIF": lambda: snn.LIF(8, beta=0.9, learn=("beta", "threshold")),
    "CuBaLIF": lambda: snn.CuBaLIF(8, alpha=0.8, tau=10.0, surrogate="arctan"),
    "ALIF": lambda: snn.ALIF(8, beta=0.9, tau_adapt=50.0, b=0.2, learn="b"),
    "LI": lambda: snn.LI(8, tau=5.0, learn=("beta",)),
    "RecurrentLIF": lambda: snn.RecurrentLIF(8, rngs=nnx.Rngs(0), beta=0.9),
    "RecurrentALIF": lambda: snn.Recurrent(snn.ALIF(8, beta=0.9, rho=0.9), rngs=nnx.Rngs(1)),
}


@pytest.mark.parametrize("name", LAYERS)
def test_sequence_equals_step_by_step(name, rng):
    layer = LAYERS[name]()
    x = jnp.asarray(rng.normal(0.4, 0.6, (30, 3, 8)), jnp.float32)
    carry, out = layer(x, return_carry=True)
    c = layer.initialize_carry(x.shape[1:])
    # The step compiled as the sequence's body is: run eagerly, its unfused float32 rounding
    # (XLA fuses multiply-adds in compiled code) can flip a spike at the threshold (seen
    # in a full run, CuBaLIF with seed 4274486674).
    step = nnx.jit(lambda m, c, xt: m.step(c, xt))
    for t in range(x.shape[0]):
        c, o = step(layer, c, x[t])
        np.testing.assert_allclose(out[t], o, atol=1e-6, rtol=1e-6)
    for a, b in zip(jax.tree.leaves(carry), jax.tree.leaves(c), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5)
    # Continuing from a carry equals running the concatenated sequence.
    out2 = layer(x[10:], initial_carry=layer(x[:10], return_carry=True)[0])
    np.testing.assert_allclose(out2, out[10:], atol=1e-6, rtol=1e-6)


def test_layer_matches_core_model():
    layer = snn.LIF(5, tau=4.0, threshold=0.7, reset="hard", v_reset=-0.1)
    x = jnp.linspace(-1.0, 2.0, 40 * 2 * 5, dtype=jnp.float32).reshape(40, 2, 5)
    ref = neuron_scan_reference(
        layer.model, layer.model.params(tau=4.0, threshold=0.7, v_reset=-0.1), x
    )
    np.testing.assert_array_equal(layer(x), ref.outputs)


def test_recurrent_with_zero_weights_is_feed_forward(rng):
    rec = snn.RecurrentLIF(6, rngs=nnx.Rngs(0), beta=0.8, kernel_init=jax.nn.initializers.zeros)
    ff = snn.LIF(6, beta=0.8)
    x = jnp.asarray(rng.normal(0.5, 0.5, (20, 2, 6)), jnp.float32)
    np.testing.assert_array_equal(rec(x), ff(x))


def test_recurrent_weights_change_dynamics(rng):
    rec = snn.RecurrentLIF(6, rngs=nnx.Rngs(0), beta=0.8)
    x = jnp.asarray(rng.normal(0.5, 0.5, (20, 2, 6)), jnp.float32)
    assert not np.array_equal(rec(x), snn.LIF(6, beta=0.8)(x))


def test_composes_with_linear_and_conv():
    rngs = nnx.Rngs(0)
    dense = nnx.Sequential(
        nnx.Linear(12, 16, rngs=rngs),
        snn.LIF(16, beta=0.9),
        nnx.Linear(16, 3, rngs=rngs),
        snn.LI(3, beta=0.9),
    )
    assert dense(jnp.ones((7, 2, 12))).shape == (7, 2, 3)
    conv = nnx.Sequential(
        nnx.Conv(2, 4, (3, 3), rngs=rngs),
        snn.LIF(4, beta=0.9, learn="threshold"),
        nnx.Conv(4, 4, (3, 3), strides=2, rngs=rngs),
        snn.CuBaLIF(4, alpha=0.5, beta=0.9),
    )
    assert conv(jnp.ones((5, 2, 8, 8, 2))).shape == (5, 2, 4, 4, 4)


def test_learned_parameters_train_and_constants_do_not():
    rngs = nnx.Rngs(0)

    class Net(nnx.Module):
        def __init__(self):
            self.fc = nnx.Linear(4, 6, rngs=rngs)
            self.lif = snn.LIF(6, beta=0.9, learn=("beta",))
            self.out = snn.LI(6, beta=0.8)

        def __call__(self, x):
            return self.out(self.lif(self.fc(x)))

    net = Net()
    assert set(nnx.state(net.lif, nnx.Param).keys()) == {"beta"}
    assert nnx.state(net.lif, nnx.Param)["beta"][...].shape == (6,)
    x = jnp.full((20, 2, 4), 0.8)
    grads = nnx.grad(lambda m: jnp.mean(m(x) ** 2))(net)
    assert np.any(np.asarray(grads["lif"]["beta"][...]) != 0)
    assert "threshold" not in grads["lif"]
    opt = nnx.Optimizer(net, optax.sgd(0.1), wrt=nnx.Param)
    before = np.asarray(net.lif.beta[...]).copy()
    opt.update(net, grads)
    assert not np.array_equal(before, net.lif.beta[...])
    np.testing.assert_array_equal(net.lif.threshold[...], 1.0)


def test_learned_decay_is_clipped_to_unit_interval():
    layer = snn.LIF(3, beta=0.9, learn=("beta",))
    layer.beta[...] = jnp.array([1.5, -0.2, 0.5])
    np.testing.assert_array_equal(layer.neuron_params.beta, [1.0, 0.0, 0.5])


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: snn.LIF(8, beta=0.9, learn=("tau",)), r"`learn` must be one of 'beta', 'thr"),
        (lambda: snn.LIF(0, beta=0.9), r"`size` must be a positive int"),
        (lambda: snn.LIF(8, tua=3.0), r"`LIF argument` must be one of 'reset', .*'tau'.*'tua'"),
        (lambda: snn.LI(8, beta=0.9, reset="hard"), r"`LI argument` must be one of 'beta'"),
        (lambda: snn.LIF(8, beta=0.9, reset="sof"), r"`reset` must be one of 'soft', 'hard'"),
        (lambda: snn.LIF(8, beta=0.9, impl="gpu"), r"`impl` must be one of"),
        (lambda: snn.LIF(8, beta=0.9, threshold=jnp.ones(5)), r"`params.threshold` has shape"),
        (lambda: snn.LIF(8, beta=0.9)(jnp.ones((5, 2, 7))), r"`x` must have shape \[T, B, \.\.\."),
        (lambda: snn.LIF(8, beta=0.9)(jnp.ones((2, 8))), r"`x` must have shape .*rank >= 3"),
        (lambda: snn.LI(8, beta=0.9).step(None, jnp.ones(7)), r"`x` must have shape \[B,"),
        (lambda: snn.Recurrent(snn.LI(4, beta=0.9), rngs=nnx.Rngs(0)), r"`layer` must spike"),
        (lambda: snn.Recurrent(snn.LIF((2, 2), beta=0.9), rngs=nnx.Rngs(0)), r"one-axis `size`"),
    ],
)
def test_bad_layer_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()
