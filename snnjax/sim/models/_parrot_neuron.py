r"""``parrot_neuron``: repeats every input spike (no parameters, no state)."""

from typing import Any, NamedTuple

import jax.numpy as jnp

from ..._errors import check_broadcastable
from ._common import Neurons, _check_h, _check_n, _check_params_type, _input, _validate_none
from ._spec import ModelSpec


class ParrotNeuronParams(NamedTuple):
    """``parrot_neuron`` has no parameters."""


class ParrotNeuronState(NamedTuple):
    """``parrot_neuron`` has no state."""


class ParrotNeuronProps(NamedTuple):
    """``parrot_neuron`` has no propagators."""


def parrot_neuron_init_state(params: ParrotNeuronParams, n: int) -> ParrotNeuronState:
    """The (empty) state of ``n`` parrot neurons."""
    _check_n(n)
    _check_params_type(ParrotNeuronParams, params)
    return ParrotNeuronState()


def parrot_neuron_propagators(params: ParrotNeuronParams, h: float) -> ParrotNeuronProps:
    """No propagators (checks ``h`` only)."""
    _check_params_type(ParrotNeuronParams, params)
    _check_h(h)
    return ParrotNeuronProps()


def parrot_neuron_step(
    props: ParrotNeuronProps,
    params: ParrotNeuronParams,
    state: ParrotNeuronState,
    in_ex: Neurons,
    in_in: Neurons,
    i_stim: Neurons,
    **unused: Any,
) -> tuple[ParrotNeuronState, Neurons]:
    r"""One step of ``parrot_neuron``: emit as many spikes as arrive (``parrot_neuron::update``).

    .. math:: s_k = N^\text{ex}_k + N^\text{in}_k

    NEST's parrot counts spike *events* (their multiplicity) on receptor port 0 and ignores
    the weights, so here ``in_ex`` / ``in_in`` are spike **counts** delivered in this step
    (the engine passes multiplicities, not weights); ``i_stim`` is ignored (NEST's parrot
    takes no current). The output is the float32 count (the multiplicity of the spike sent).
    """
    del unused
    for arg, cls, value in zip(
        ("props", "params", "state"),
        (ParrotNeuronProps, ParrotNeuronParams, ParrotNeuronState),
        (props, params, state),
        strict=True,
    ):
        if not isinstance(value, cls):
            raise ValueError(f"`{arg}` must be a {cls.__name__}; got {type(value).__name__}")
    shape = jnp.broadcast_shapes(jnp.shape(in_ex), jnp.shape(in_in))
    check_broadcastable("i_stim", jnp.shape(i_stim), shape)
    return state, jnp.broadcast_to(_input(in_ex, shape), shape) + jnp.broadcast_to(
        _input(in_in, shape), shape
    )


#: ``parrot_neuron`` in the registry: no parameters, no recordables, no membrane potential.
SPEC = ModelSpec(
    name="parrot_neuron",
    Params=ParrotNeuronParams,
    State=ParrotNeuronState,
    Props=ParrotNeuronProps,
    init_state=parrot_neuron_init_state,
    propagators=parrot_neuron_propagators,
    step=parrot_neuron_step,
    validate=_validate_none,
    defaults={},
    initial_state={},
    recordables={},
    V_m=None,
)
