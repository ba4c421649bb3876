"""Flax NNX layers wrapping the neuron models of :mod:`snnjax.neurons`.

Each layer holds a static model (reset mode, surrogate) and its parameters as NNX
variables: :class:`flax.nnx.Param` for the ones named in ``learn`` (per-neuron, trained),
:class:`NeuronConstant` for the rest. A layer is used two ways:

* **sequence driver** ``layer(x)`` on time-major ``x[T, B, ..., *size]``: runs the fused
  time scan (:func:`snnjax.ops.neuron_scan`) and returns ``out[T, B, ..., *size]``;
* **carry API** ``carry, out_t = layer.step(carry, x_t)`` for step-by-step use, with
  ``carry = layer.initialize_carry(x_t.shape)``.

Layers compose with ``nnx.Linear``/``nnx.Conv`` (which act on the trailing axis and accept
the extra leading time axis), e.g. ``nnx.Sequential(nnx.Linear(700, 256, rngs=rngs), LIF(256,
beta=0.9), nnx.Linear(256, 20, rngs=rngs), LI(20, beta=0.9))``.
"""

import dataclasses
import inspect
from collections.abc import Iterable
from typing import Any

import jax.numpy as jnp
import numpy as np
from flax import nnx

from .. import neurons
from .._errors import check_one_of
from .._types import Array, PyTree, Sequence, Step
from ..ops import IMPLS, neuron_scan

_DECAYS = ("alpha", "beta", "rho")  # kept in [0, 1] when learned


class NeuronConstant(nnx.Variable):
    """A neuron parameter that is not trained (not an :class:`flax.nnx.Param`)."""


def _as_size(size: int | Iterable[int]) -> tuple[int, ...]:
    size = (size,) if isinstance(size, int | np.integer) else tuple(size)
    if not size or not all(isinstance(n, int | np.integer) and n > 0 for n in size):
        raise ValueError(f"`size` must be a positive int or a tuple of them; got {size!r}")
    return tuple(int(n) for n in size)


class NeuronLayer(nnx.Module):
    """Base class: a neuron model (``model_type``) with its parameters as NNX variables.

    Subclasses set ``model_type``; the keyword arguments are split between the model's
    static configuration (its dataclass fields, e.g. ``reset``, ``detach_reset``,
    ``surrogate``) and its parameters (the arguments of ``model_type().params``, e.g.
    ``beta``/``tau``, ``dt``, ``threshold``, ``v_reset``), so a layer accepts exactly what
    the model does and validates it the same way.

    Args:
        size: the neuron shape: trailing axes of the input (e.g. ``1024``, or channels ``C``
            after a convolution; parameters broadcast over the other axes).
        learn: names of parameters to train, stored per neuron with shape ``size``.
        impl: time-scan implementation (see :func:`snnjax.ops.neuron_scan`).
        **kwargs: the model's configuration and parameters (see above).
    """

    model_type: type[neurons.NeuronModel]

    def __init__(
        self,
        size: int | Iterable[int],
        *,
        learn: Iterable[str] = (),
        impl: str = "auto",
        **kwargs: Any,
    ):
        config_names = [f.name for f in dataclasses.fields(self.model_type)]
        param_names = list(inspect.signature(self.model_type.params).parameters)[1:]
        for key in kwargs:
            check_one_of(f"{type(self).__name__} argument", key, config_names + param_names)
        model = self.model_type(**{k: v for k, v in kwargs.items() if k in config_names})
        params = model.params(**{k: v for k, v in kwargs.items() if k in param_names})
        self.model = model
        self.size = _as_size(size)
        learn = (learn,) if isinstance(learn, str) else tuple(learn)
        for name in learn:
            check_one_of("learn", name, params._fields)
        check_one_of("impl", impl, IMPLS)
        model.check_params(params, self.size)
        self.impl = impl
        for name, value in zip(params._fields, params, strict=True):
            if name in learn:
                setattr(self, name, nnx.Param(jnp.broadcast_to(value, self.size)))
            else:
                setattr(self, name, NeuronConstant(value))

    @property
    def neuron_params(self) -> PyTree:
        """The model's ``Params``; learned decays are clipped to ``[0, 1]``."""
        values = []
        for name in self.model.Params._fields:
            value = getattr(self, name)[...]
            values.append(jnp.clip(value, 0.0, 1.0) if name in _DECAYS else value)
        return self.model.Params(*values)

    def _check_step_shape(self, name: str, shape: tuple[int, ...], lead: int) -> None:
        k = len(self.size)
        if len(shape) < lead + k or tuple(shape[len(shape) - k :]) != self.size:
            axes = "[T, B, ..., *size]" if lead == 2 else "[B, ..., *size]"
            raise ValueError(
                f"`{name}` must have shape {axes} with size={self.size} (rank >= {lead + k}); "
                f"got {tuple(shape)}"
            )

    def initialize_carry(self, input_shape: tuple[int, ...], dtype: Any = jnp.float32) -> PyTree:
        """The resting state for one step of input of shape ``input_shape``, ``[B, ..., *size]``."""
        self._check_step_shape("input_shape", tuple(input_shape), lead=1)
        return self.model.init_state(self.neuron_params, tuple(input_shape), dtype)

    def step(self, carry: PyTree, x: Step) -> tuple[PyTree, Array]:
        """One time step: ``(carry, x_t[B, ..., *size]) -> (carry, out_t)``."""
        self._check_step_shape("x", np.shape(x), lead=1)
        return self.model.step(self.neuron_params, carry, x)

    def __call__(
        self, x: Sequence, *, initial_carry: PyTree | None = None, return_carry: bool = False
    ) -> Array | tuple[PyTree, Array]:
        """Run over a whole time-major sequence ``x[T, B, ..., *size]`` with the fused scan.

        Args:
            x: input currents, time-major.
            initial_carry: initial state (rest if ``None``).
            return_carry: also return the final state, as ``(carry, outputs)``.

        Returns:
            ``outputs[T, B, ..., *size]`` (spikes, or membrane for :class:`LI`), or
            ``(final_carry, outputs)``.
        """
        self._check_step_shape("x", np.shape(x), lead=2)
        result = neuron_scan(self.model, self.neuron_params, x, initial_carry, impl=self.impl)
        return (result.final_state, result.outputs) if return_carry else result.outputs


_SPIKING_ARGS = """
        reset: ``'soft'`` (subtract the threshold) or ``'hard'`` (set to ``v_reset``).
        v_reset: reset potential for the hard reset.
        detach_reset: stop the gradient through the reset.
        surrogate: a :class:`~snnjax.surrogate.Surrogate` or its name.
        learn: names of parameters to train per neuron, e.g. ``("beta", "threshold")``.
        impl: time-scan implementation, ``'auto'``, ``'xla'`` or ``'pallas'``."""


class IF(NeuronLayer):
    __doc__ = f"""Integrate-and-fire layer (:class:`snnjax.neurons.IF`).

    Args:
        size: neuron shape (trailing axes of the input).
        threshold: firing threshold.{_SPIKING_ARGS}
    """

    model_type = neurons.IF


class LIF(NeuronLayer):
    __doc__ = f"""Leaky integrate-and-fire layer (:class:`snnjax.neurons.LIF`).

    Args:
        size: neuron shape (trailing axes of the input).
        beta: membrane decay per step in ``[0, 1]`` (or give ``tau``).
        tau: membrane time constant in units of ``dt``.
        dt: step size.
        threshold: firing threshold.{_SPIKING_ARGS}

    Examples:
        >>> layer = LIF(128, tau=10.0, learn=("beta",))
        >>> spikes = layer(jnp.ones((50, 4, 128)))  # [T, B, N]
    """

    model_type = neurons.LIF


class CuBaLIF(NeuronLayer):
    __doc__ = f"""Current-based LIF layer (:class:`snnjax.neurons.CuBaLIF`).

    Args:
        size: neuron shape (trailing axes of the input).
        alpha: synaptic decay per step in ``[0, 1]`` (or give ``tau_syn``).
        tau_syn: synaptic time constant in units of ``dt``.
        beta: membrane decay per step in ``[0, 1]`` (or give ``tau``).
        tau: membrane time constant in units of ``dt``.
        dt: step size.
        threshold: firing threshold.{_SPIKING_ARGS}
    """

    model_type = neurons.CuBaLIF


class ALIF(NeuronLayer):
    __doc__ = f"""Adaptive-threshold LIF layer (:class:`snnjax.neurons.ALIF`).

    Args:
        size: neuron shape (trailing axes of the input).
        beta: membrane decay per step in ``[0, 1]`` (or give ``tau``).
        tau: membrane time constant in units of ``dt``.
        rho: adaptation decay per step in ``[0, 1]`` (or give ``tau_adapt``).
        tau_adapt: adaptation time constant in units of ``dt``.
        b: threshold increment per spike.
        dt: step size.
        threshold: baseline threshold.{_SPIKING_ARGS}
    """

    model_type = neurons.ALIF


class LI(NeuronLayer):
    """Leaky-integrator readout layer (:class:`snnjax.neurons.LI`); outputs its membrane.

    Args:
        size: neuron shape (trailing axes of the input).
        beta: decay per step in ``[0, 1]`` (or give ``tau``).
        tau: time constant in units of ``dt``.
        dt: step size.
        learn: ``("beta",)`` to train the decay per neuron.
        impl: time-scan implementation, ``'auto'``, ``'xla'`` or ``'pallas'``.
    """

    model_type = neurons.LI
