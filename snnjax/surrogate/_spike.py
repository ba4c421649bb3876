r"""The spike function: an exact Heaviside forward with a pluggable surrogate derivative.

Threshold convention (one for all of snnjax, the trainer and the simulator alike): a neuron
spikes when its membrane **reaches** the threshold,

.. math::
    s = H(v - \vartheta), \qquad H(x) = \begin{cases} 1 & x \ge 0 \\ 0 & x < 0 \end{cases}

i.e. ``v >= threshold``, as in NEST (``V_m >= V_th``) and SpikingJelly. snnTorch and Norse use
``v > threshold``; the two differ only when the membrane lands exactly on the threshold.

In the backward pass the derivative of :math:`H` (a Dirac delta) is replaced by the
derivative :math:`\sigma'(x)` of a smooth stand-in (the *surrogate*).
"""

import abc
import dataclasses
import functools
from typing import ClassVar

import jax
import jax.numpy as jnp

from .._errors import check_one_of, check_range
from .._types import Array, ArrayLike


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def spike(x: ArrayLike, surrogate: "Surrogate") -> Array:
    r"""Heaviside step :math:`H(x)` (``x >= 0``) with the surrogate's derivative.

    Args:
        x: distance to threshold, :math:`v - \vartheta`.
        surrogate: the :class:`Surrogate` whose derivative replaces :math:`\delta(x)`.

    Returns:
        ``1.0`` where ``x >= 0`` else ``0.0``, in the dtype of ``x``.
    """
    x = jnp.asarray(x)
    return (x >= 0).astype(x.dtype)


@spike.defjvp
def _spike_jvp(surrogate, primals, tangents):
    (x,), (x_dot,) = primals, tangents
    return spike(x, surrogate), surrogate.grad(x) * x_dot


@dataclasses.dataclass(frozen=True)
class Surrogate(abc.ABC):
    """A surrogate derivative: a small, hashable object (usable as a static argument).

    Subclasses implement :meth:`grad`; calling the object applies :func:`spike` with it.
    """

    name: ClassVar[str]

    @abc.abstractmethod
    def grad(self, x: Array) -> Array:
        """The surrogate derivative :math:`\\sigma'(x)` at distance to threshold ``x``."""

    def __call__(self, x: ArrayLike) -> Array:
        return spike(x, self)


@dataclasses.dataclass(frozen=True)
class FastSigmoid(Surrogate):
    r"""SuperSpike / fast sigmoid (Zenke & Ganguli 2018), snnTorch's ``fast_sigmoid``.

    .. math:: \sigma'(x) = \frac{1}{(1 + k|x|)^2}, \qquad \sigma'(0) = 1

    Args:
        slope: steepness :math:`k > 0`.
    """

    slope: float = 25.0
    name: ClassVar[str] = "fast_sigmoid"

    def __post_init__(self):
        check_range("slope", self.slope, low=0.0, low_inclusive=False)

    def grad(self, x):
        return 1.0 / (1.0 + self.slope * jnp.abs(x)) ** 2


@dataclasses.dataclass(frozen=True)
class ArcTan(Surrogate):
    r"""Arctangent surrogate (Fang et al. 2021), as snnTorch's ``atan``.

    .. math:: \sigma'(x) = \frac{\alpha/2}{1 + (\pi \alpha x / 2)^2}, \qquad \sigma'(0) = \alpha/2

    Args:
        alpha: width parameter :math:`\alpha > 0`.
    """

    alpha: float = 2.0
    name: ClassVar[str] = "arctan"

    def __post_init__(self):
        check_range("alpha", self.alpha, low=0.0, low_inclusive=False)

    def grad(self, x):
        return (self.alpha / 2) / (1.0 + (jnp.pi / 2 * self.alpha * x) ** 2)


@dataclasses.dataclass(frozen=True)
class Sigmoid(Surrogate):
    r"""Derivative of the logistic sigmoid, snnTorch's ``sigmoid``.

    .. math:: \sigma'(x) = k\,\varsigma(kx)\,(1 - \varsigma(kx)), \qquad \sigma'(0) = k/4

    Args:
        slope: steepness :math:`k > 0`.
    """

    slope: float = 5.0
    name: ClassVar[str] = "sigmoid"

    def __post_init__(self):
        check_range("slope", self.slope, low=0.0, low_inclusive=False)

    def grad(self, x):
        s = jax.nn.sigmoid(self.slope * x)
        return self.slope * s * (1.0 - s)


@dataclasses.dataclass(frozen=True)
class Triangle(Surrogate):
    r"""Triangular (piecewise-linear) surrogate (Bellec et al. 2018), unit area.

    .. math:: \sigma'(x) = \frac{1}{w}\max\left(0, 1 - \frac{|x|}{w}\right), \qquad \sigma'(0) = 1/w

    Args:
        width: half-width :math:`w > 0` of the triangle's support.
    """

    width: float = 1.0
    name: ClassVar[str] = "triangle"

    def __post_init__(self):
        check_range("width", self.width, low=0.0, low_inclusive=False)

    def grad(self, x):
        return jnp.maximum(0.0, 1.0 - jnp.abs(x) / self.width) / self.width


@dataclasses.dataclass(frozen=True)
class Rectangle(Surrogate):
    r"""Rectangular / boxcar surrogate (straight-through window), unit area.

    .. math:: \sigma'(x) = \frac{1}{w}\,\mathbb{1}\left[|x| < w/2\right], \qquad \sigma'(0) = 1/w

    Args:
        width: full width :math:`w > 0` of the window.
    """

    width: float = 1.0
    name: ClassVar[str] = "rectangle"

    def __post_init__(self):
        check_range("width", self.width, low=0.0, low_inclusive=False)

    def grad(self, x):
        return jnp.where(jnp.abs(x) < self.width / 2, 1.0 / self.width, 0.0).astype(x.dtype)


@dataclasses.dataclass(frozen=True)
class Exact(Surrogate):
    r"""No surrogate: the exact derivative of the step, 0 wherever it exists.

    .. math:: \sigma'(x) = 0

    Gradients then flow only along the smooth paths (integration, delivery, resets at fixed
    spike times): exact for perturbations that move no spike (gradient checks against
    finite differences).
    """

    name: ClassVar[str] = "exact"

    def grad(self, x):
        return jnp.zeros_like(x)


_BY_NAME: dict[str, type[Surrogate]] = {
    cls.name: cls for cls in (FastSigmoid, ArcTan, Sigmoid, Triangle, Rectangle, Exact)
}
_ALIASES = {"superspike": "fast_sigmoid", "atan": "arctan", "boxcar": "rectangle"}


def get_surrogate(surrogate: "str | Surrogate", **kwargs: float) -> Surrogate:
    """Look a surrogate up by name (for configs), or pass a :class:`Surrogate` through.

    Args:
        surrogate: a :class:`Surrogate`, or one of ``'fast_sigmoid'`` (alias
            ``'superspike'``), ``'arctan'`` (``'atan'``), ``'sigmoid'``, ``'triangle'``,
            ``'rectangle'`` (``'boxcar'``), ``'exact'`` (zero derivative).
        **kwargs: the surrogate's parameter (``slope``, ``alpha`` or ``width``).

    Returns:
        The surrogate object.

    Examples:
        >>> get_surrogate("superspike", slope=10.0)
        FastSigmoid(slope=10.0)
    """
    if isinstance(surrogate, Surrogate):
        if kwargs:
            raise ValueError("`surrogate` is already a Surrogate object; pass no keyword arguments")
        return surrogate
    check_one_of("surrogate", surrogate, [*_BY_NAME, *_ALIASES])
    cls = _BY_NAME[_ALIASES.get(surrogate, surrogate)]
    valid = {f.name for f in dataclasses.fields(cls)}
    for key in kwargs:
        check_one_of(f"{cls.__name__} parameter", key, sorted(valid))
    return cls(**kwargs)
