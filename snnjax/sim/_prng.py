r"""The simulator's random keys: JAX's threefry-2x32, with the hash unrolled in plain ops.

Connectivity, per-synapse and per-node parameters are drawn from keys derived per synapse
(``fold_in(fold_in(base, target), index)``), so every draw has its *own* key. JAX's
threefry lowers the hash with a rolled 5-iteration loop, which on CPU costs ~20 ns per
element when the keys differ per element (vs ~3 ns for one shared key). :data:`PRNG`
is the same generator — JAX's ``threefry2x32`` with ``jax_threefry_partitionable``
semantics (the default), bit for bit (``tests/test_sim_connect.py`` checks
``fold_in``, ``split``, ``bits`` and the samplers against ``jax.random``) — with the 20
rounds written out as ``uint32`` array ops that XLA fuses into one loop over the
elements. Keys made with ``jax.random.key(seed, impl=PRNG)`` work with every
``jax.random`` function.

Threefry-2x32 (Salmon et al. 2011), key :math:`(k_0, k_1)`, :math:`k_2 = k_0 \oplus k_1
\oplus \mathtt{0x1BD11BDA}`, counter :math:`(x_0, x_1)`: add :math:`(k_0, k_1)`, then five
times four rounds :math:`x_0 \mathrel{+}= x_1,\ x_1 = \operatorname{rotl}(x_1, r) \oplus x_0`
(rotations 13 15 26 6 | 17 29 16 24, alternating) each followed by the key injection
:math:`x_0 \mathrel{+}= k_{(i+1) \bmod 3},\ x_1 \mathrel{+}= k_{(i+2) \bmod 3} + i + 1`.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.extend.random import define_prng_impl

_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))


@jax.jit  # one dispatch when called outside a trace (e.g. a projection's base key)
def _hash(k0, k1, x0, x1):
    """Threefry-2x32 of the counters ``(x0, x1)`` under the key ``(k0, k1)`` (uint32)."""
    ks = (k0, k1, k0 ^ k1 ^ np.uint32(0x1BD11BDA))
    x0, x1 = x0 + ks[0], x1 + ks[1]
    for i in range(5):
        for r in _ROTATIONS[i % 2]:
            x0 = x0 + x1
            x1 = ((x1 << np.uint32(r)) | (x1 >> np.uint32(32 - r))) ^ x0
        x0 = x0 + ks[(i + 1) % 3]
        x1 = x1 + ks[(i + 2) % 3] + np.uint32(i + 1)
    return x0, x1


def _counters(shape):
    """JAX's ``iota_2x32_shape``: the high and low words of each element's flat index."""
    size = math.prod(shape)
    if size >= 2**32:
        raise NotImplementedError("more than 2**32 random values from one key")
    lo = lax.iota(np.uint32, size).reshape(shape) if shape else jnp.zeros((), np.uint32)
    return jnp.zeros(shape, np.uint32), lo


def _seed(seed):
    """JAX's ``threefry_seed``: a 64-bit seed's two words, a 32-bit seed padded with 0."""
    seed = jnp.asarray(seed)
    hi = lax.shift_right_logical(seed, seed.dtype.type(32)) if seed.dtype.itemsize == 8 \
        else jnp.zeros((), seed.dtype)  # fmt: skip
    return jnp.stack([hi.astype(np.uint32), seed.astype(np.uint32)])


def _split(key, shape):
    x0, x1 = _hash(key[0], key[1], *_counters(shape))
    return jnp.stack([x0, x1], axis=len(shape))


def _fold_in(key, data):
    x0, x1 = _hash(key[0], key[1], jnp.zeros((), np.uint32), jnp.asarray(data, np.uint32))
    return jnp.stack([x0, x1])


def _random_bits(key, bit_width, shape):
    b0, b1 = _hash(key[0], key[1], *_counters(shape))
    if bit_width == 64:
        return (b0.astype(np.uint64) << np.uint64(32)) | b1.astype(np.uint64)
    bits = b0 ^ b1
    return bits if bit_width == 32 else bits.astype(f"uint{bit_width}")


#: JAX's threefry2x32 (partitionable), the hash unrolled: the same bits, faster per-key draws.
PRNG = define_prng_impl(
    key_shape=(2,),
    seed=_seed,
    split=_split,
    random_bits=_random_bits,
    fold_in=_fold_in,
    name="snnjax_threefry2x32",
)
