"""Array type aliases used across snnjax (one place, as in diffrax's ``_custom_types``).

snnjax is **time-major everywhere**: a sequence is ``[T, B, ...]`` with time first, batch
second and neuron axes last (``[T, B, N]`` for dense layers, ``[T, B, H, W, C]`` after a
convolution). Every function that takes a time axis says so in its signature.
"""

from typing import TypeAlias

from jaxtyping import Array, ArrayLike, Bool, Float, Int, PyTree

Scalar: TypeAlias = Float[ArrayLike, ""]
#: A per-neuron parameter: a scalar or an array broadcastable to the neuron shape.
NeuronParam: TypeAlias = Float[ArrayLike, "..."]
#: Input currents or spikes over time, time-major.
Sequence: TypeAlias = Float[Array, "time batch *neurons"]
#: One time step of a sequence.
Step: TypeAlias = Float[Array, "batch *neurons"]

__all__ = [
    "Array",
    "ArrayLike",
    "Bool",
    "Float",
    "Int",
    "NeuronParam",
    "PyTree",
    "Scalar",
    "Sequence",
    "Step",
]
