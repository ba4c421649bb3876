r"""Recurrent spiking layers: a neuron layer fed back its own spikes through a weight matrix.

.. math:: \text{input}_t = x_t + W_\text{rec}^\top s_{t-1}

The recurrence puts a matrix product inside the time loop, so the sequence driver is a
``lax.scan`` over :meth:`Recurrent.step` differentiated by JAX's autodiff (the fused
elementwise scan of the feed-forward layers does not apply). Feed the input projection
(``nnx.Linear``) from outside: it then runs as one large matrix product over all steps.
"""

from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from .._types import Array, PyTree, Sequence, Step
from ._neurons import LIF, NeuronLayer

_ORTHOGONAL = jax.nn.initializers.orthogonal()


class Recurrent(nnx.Module):
    """Wrap a 1-D neuron layer with recurrent weights ``w_rec[size, size]``.

    The carry is ``(neuron_state, previous_spikes)``.

    Args:
        layer: the neuron layer (its ``size`` must be one axis).
        rngs: random streams for the weight initialisation.
        kernel_init: initialiser of ``w_rec`` (default: orthogonal, scale 1).

    Examples:
        >>> rsnn = Recurrent(ALIF(256, tau=20.0, tau_adapt=200.0), rngs=nnx.Rngs(0))
        >>> spikes = rsnn(currents)  # currents[T, B, 256]
    """

    def __init__(
        self,
        layer: NeuronLayer,
        *,
        rngs: nnx.Rngs,
        kernel_init: Any = _ORTHOGONAL,
    ):
        if not isinstance(layer, NeuronLayer) or len(layer.size) != 1:
            raise ValueError(
                "`layer` must be a snnjax.nn neuron layer with a one-axis `size`; "
                f"got {type(layer).__name__}"
            )
        if not layer.model.spiking:
            raise ValueError("`layer` must spike to be recurrent; a readout (LI) does not")
        self.layer = layer
        (n,) = layer.size
        self.w_rec = nnx.Param(kernel_init(rngs.params(), (n, n), jnp.float32))

    def initialize_carry(self, input_shape: tuple[int, ...], dtype: Any = jnp.float32) -> PyTree:
        """``(neuron_state, previous_spikes)`` at rest for one step of shape ``[B, size]``."""
        return self.layer.initialize_carry(input_shape, dtype), jnp.zeros(input_shape, dtype)

    def step(self, carry: PyTree, x: Step) -> tuple[PyTree, Array]:
        """One step: ``((state, s_prev), x_t) -> ((state, s_t), s_t)``."""
        state, s_prev = carry
        state, s = self.layer.step(state, x + s_prev @ self.w_rec[...])
        return (state, s), s

    def __call__(
        self, x: Sequence, *, initial_carry: PyTree | None = None, return_carry: bool = False
    ) -> Array | tuple[PyTree, Array]:
        """Run over a time-major sequence ``x[T, B, size]``; returns spikes (and the carry)."""
        self.layer._check_step_shape("x", jnp.shape(x), lead=2)
        carry = (
            self.initialize_carry(x.shape[1:], x.dtype) if initial_carry is None else initial_carry
        )
        params, w = self.layer.neuron_params, self.w_rec[...]
        model = self.layer.model

        def body(c, x_t):
            state, s_prev = c
            state, s = model.step(params, state, x_t + s_prev @ w)
            return (state, s), s

        carry, spikes = jax.lax.scan(body, carry, x)
        return (carry, spikes) if return_carry else spikes


class RecurrentLIF(Recurrent):
    """A recurrent LIF layer: ``Recurrent(LIF(size, **lif_kwargs), rngs=rngs)``.

    Args:
        size: number of neurons.
        rngs: random streams for ``w_rec``.
        kernel_init: initialiser of ``w_rec``.
        **lif_kwargs: arguments of :class:`LIF` (``beta``/``tau``, ``threshold``, ...).
    """

    def __init__(
        self,
        size: int,
        *,
        rngs: nnx.Rngs,
        kernel_init: Any = _ORTHOGONAL,
        **lif_kwargs: Any,
    ):
        super().__init__(LIF(size, **lif_kwargs), rngs=rngs, kernel_init=kernel_init)
