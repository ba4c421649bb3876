"""The spike function: exact Heaviside forward (``x >= 0``), surrogate derivatives backward."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from snnjax.surrogate import (
    ArcTan,
    FastSigmoid,
    Rectangle,
    Sigmoid,
    Triangle,
    get_surrogate,
    spike,
)

SURROGATES = [FastSigmoid(25.0), ArcTan(2.0), Sigmoid(5.0), Triangle(0.5), Rectangle(0.8)]
# Area under each derivative, from its smooth stand-in: sigma(+inf) - sigma(-inf).
AREAS = {
    FastSigmoid: lambda s: 2.0 / s.slope,
    ArcTan: lambda s: 1.0,
    Sigmoid: lambda s: 1.0,
    Triangle: lambda s: 1.0,
    Rectangle: lambda s: 1.0,
}


@pytest.mark.parametrize("surrogate", SURROGATES, ids=lambda s: type(s).__name__)
def test_forward_is_exact_heaviside(surrogate):
    x = jnp.array([-1.0, -1e-7, -jnp.finfo(jnp.float32).tiny, 0.0, 1e-7, 3.0])
    np.testing.assert_array_equal(spike(x, surrogate), [0, 0, 0, 1, 1, 1])
    np.testing.assert_array_equal(surrogate(x), [0, 0, 0, 1, 1, 1])


@pytest.mark.parametrize("surrogate", SURROGATES, ids=lambda s: type(s).__name__)
def test_gradient_at_threshold_finite_positive(surrogate):
    g = jax.grad(lambda x: spike(x, surrogate))(0.0)
    assert np.isfinite(g) and g > 0


@pytest.mark.parametrize("surrogate", SURROGATES, ids=lambda s: type(s).__name__)
def test_gradient_is_the_surrogate_derivative(surrogate, rng):
    x = jnp.asarray(rng.normal(size=64), jnp.float32)
    g = jax.vmap(jax.grad(lambda x: spike(x, surrogate)))(x)
    np.testing.assert_allclose(g, surrogate.grad(x), rtol=1e-6)
    # Chain rule: d/dx spike(3x - 1) = 3 sigma'(3x - 1).
    g2 = jax.vmap(jax.grad(lambda x: spike(3.0 * x - 1.0, surrogate)))(x)
    np.testing.assert_allclose(g2, 3.0 * surrogate.grad(3.0 * x - 1.0), rtol=1e-5)


@pytest.mark.parametrize("surrogate", SURROGATES, ids=lambda s: type(s).__name__)
def test_derivative_integrates_to_the_step_height(surrogate):
    """Each documented formula is the derivative of a smooth step of the stated height."""
    x = np.linspace(-400.0, 400.0, 8_000_001)
    area = np.trapezoid(np.asarray(surrogate.grad(jnp.asarray(x))), x)
    np.testing.assert_allclose(area, AREAS[type(surrogate)](surrogate), rtol=5e-3)


def test_get_surrogate_by_name_and_alias():
    assert get_surrogate("superspike", slope=10.0) == FastSigmoid(10.0)
    assert get_surrogate("atan") == ArcTan()
    assert get_surrogate("boxcar", width=0.5) == Rectangle(0.5)
    assert hash(get_surrogate("triangle")) == hash(Triangle())


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: get_surrogate("relu"), r"`surrogate` must be one of 'fast_sigmoid', .*'relu'"),
        (lambda: get_surrogate("sigmoid", alpha=2.0), r"`Sigmoid parameter` must be one of"),
        (lambda: FastSigmoid(slope=-1.0), r"`slope` must lie in \(0, inf\)"),
        (lambda: Triangle(width=0.0), r"`width` must lie in \(0, inf\)"),
        (lambda: ArcTan(alpha=float("nan")), r"`alpha` must lie in"),
    ],
)
def test_bad_surrogate_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()
