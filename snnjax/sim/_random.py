"""Random parameters for synapses, as NEST's ``nest.random`` / ``nest.math`` objects.

``snnjax.sim.random.normal(mean=1.5, std=0.75)`` and ``snnjax.sim.math.redraw(d, min=0.1)``
stand for the same draws as in PyNEST; they are sampled per synapse from a key that
depends only on ``(seed, projection, target, synapse index)``, so a network is the same
however it is split over devices or ranks.
"""

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp

from .._errors import check_range

_MAX_REDRAWS = 64


@dataclasses.dataclass(frozen=True)
class Parameter:
    """A random parameter: ``sample(key, shape)`` draws float32 values.

    Parameters are pytrees (their numbers are leaves), so one compiled sampler serves every
    mean/std/bound: ``jax.jit(lambda p, k: p.sample(k, ()))`` does not recompile per value.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        jax.tree_util.register_pytree_node(cls, _flatten, functools.partial(_unflatten, cls))

    def sample(self, key, shape):  # pragma: no cover - abstract
        raise NotImplementedError


def _flatten(p: Parameter):
    names = tuple(f.name for f in dataclasses.fields(p))
    return tuple(getattr(p, n) for n in names), names


def _unflatten(cls, names, children):
    """Rebuild without ``__init__`` (the values may be tracers: validated at creation)."""
    p = object.__new__(cls)
    for name, value in zip(names, children, strict=True):
        object.__setattr__(p, name, value)
    return p


@jax.jit
def sample_per_id(spec: Parameter, base, ids):
    """One draw of ``spec`` per id, from ``fold_in(base, id)``: independent of the split."""
    return jax.vmap(lambda i: spec.sample(jax.random.fold_in(base, i), ()))(ids)


@dataclasses.dataclass(frozen=True)
class normal(Parameter):
    """Normal distribution ``N(mean, std²)``."""

    mean: float = 0.0
    std: float = 1.0

    def __post_init__(self):
        check_range("mean", self.mean)
        check_range("std", self.std, low=0.0)

    def sample(self, key, shape):
        return self.mean + self.std * jax.random.normal(key, shape, jnp.float32)


@dataclasses.dataclass(frozen=True)
class uniform(Parameter):
    """Uniform distribution on ``[min, max)``."""

    min: float = 0.0
    max: float = 1.0

    def __post_init__(self):
        check_range("min", self.min)
        check_range("max", self.max)
        if not self.max > self.min:
            raise ValueError(f"`max` must be > `min`; got min={self.min}, max={self.max}")

    def sample(self, key, shape):
        return jax.random.uniform(key, shape, jnp.float32, self.min, self.max)


@dataclasses.dataclass(frozen=True)
class lognormal(Parameter):
    """Log-normal: ``exp(N(mean, std²))`` (NEST's parametrisation)."""

    mean: float = 0.0
    std: float = 1.0

    def __post_init__(self):
        check_range("mean", self.mean)
        check_range("std", self.std, low=0.0)

    def sample(self, key, shape):
        return jnp.exp(normal(self.mean, self.std).sample(key, shape))


@dataclasses.dataclass(frozen=True)
class redraw(Parameter):
    """Values of ``dist`` redrawn until they fall in ``[min, max]`` (NEST's ``math.redraw``).

    Draws are repeated per element (at most 64 times; a value still outside after that
    raises at sampling time, never silently clips).
    """

    dist: Parameter
    min: float = -math.inf
    max: float = math.inf

    def __post_init__(self):
        if not isinstance(self.dist, Parameter):
            raise ValueError(f"`dist` must be a random parameter; got {self.dist!r}")
        if not self.max > self.min:
            raise ValueError(f"`max` must be > `min`; got min={self.min}, max={self.max}")

    def sample(self, key, shape):
        def body(carry):
            i, values, ok = carry
            fresh = self.dist.sample(jax.random.fold_in(key, i), shape)
            values = jnp.where(ok, values, fresh)
            return i + 1, values, (values >= self.min) & (values <= self.max)

        def cond(carry):
            i, _, ok = carry
            return (i < _MAX_REDRAWS) & ~jnp.all(ok)

        init = (jnp.int32(0), jnp.zeros(shape, jnp.float32), jnp.zeros(shape, bool))
        _, values, ok = jax.lax.while_loop(cond, body, body(init))
        return jnp.where(ok, values, jnp.nan)  # NaN is caught by the builder's check
