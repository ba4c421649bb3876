"""The description of one NEST model that the registry collects (:class:`ModelSpec`)."""

import dataclasses
from collections.abc import Callable
from typing import Any


@dataclasses.dataclass(frozen=True, eq=False)
class ModelSpec:
    """Everything the simulator needs to know about one NEST point-neuron model.

    Each model module defines one ``SPEC = ModelSpec(...)``; the registry
    (:mod:`snnjax.sim.models._registry`) lists them, and :class:`~snnjax.sim.NestModel`,
    :func:`~snnjax.sim.make_params` and the engine read everything from there.

    Attributes:
        name: NEST's model name (``nest.Create(name)``).
        Params: the parameters NamedTuple; its fields are the NEST parameter names.
        State: the state NamedTuple.
        Props: the propagators NamedTuple.
        init_state: ``init_state(params, n, **initial) -> State``.
        propagators: ``propagators(params, h) -> Props`` (host side, once per ``h``).
        step: ``step(props, params, state, in_ex, in_in, i_stim, *, surrogate,
            detach_reset) -> (state, spikes)``.
        validate: ``validate(name, arrays)``, NEST's checks of the parameters (raise
            ``ValueError``), after each has been checked to be a finite float (or bool).
        defaults: NEST's default of every parameter (bool for a flag: such parameters are
            kept as bool arrays, all others as float64).
        initial_state: NEST's initial state (absolute mV), the keyword arguments of
            ``init_state`` that ``nest.Create(..., params=...)`` may set.
        recordables: NEST's recordables: name -> state field (``None``: the absolute
            membrane potential, computed by ``V_m``).
        V_m: ``V_m(params, state)``, the absolute membrane potential (mV) as a multimeter
            records it (``None``: the model has none).
        numerical: integrated numerically (:mod:`._rkf45`): ``step`` takes ``substeps``.
        attempts: a numerical model's lockstep RKF45 attempts per step that reverse mode
            allows by default (:func:`~snnjax.sim.functional`'s ``max_attempts``: the
            measured needs with a margin, 2x for the AdEx upstroke).
        native_ode: ``step`` takes ``native``: its ODE by the native CPU kernel
            (:func:`~snnjax.sim._native.rkf45_native`) where ``True``.
        nest: a NEST model (``False``: snnjax's own, e.g. the trainer's neurons).
        native_block: ``native_block(props, params, state, inputs, live, *, lo, threads)
            -> (state, spikes, bad)``: ``live`` steps of ``step`` (the first ones of a
            block, ``inputs`` ``[3, steps, N]``, the neurons at ``lo``) by the native CPU
            kernel (:func:`~snnjax.sim._native.block_native`), spikes ``[steps, n]``,
            ``bad`` the neurons with a non-finite state value after them; ``None``: none.
    """

    name: str
    Params: type
    State: type
    Props: type
    init_state: Callable[..., Any]
    propagators: Callable[..., Any]
    step: Callable[..., Any]
    validate: Callable[[str, dict], None]
    defaults: dict[str, float | bool]
    initial_state: dict[str, float]
    recordables: dict[str, str | None]
    V_m: Callable[[Any, Any], Any] | None
    numerical: bool = False
    attempts: int = 0
    native_ode: bool = False
    nest: bool = True
    native_block: Callable[..., Any] | None = None

    def __post_init__(self):
        fields = tuple(self.Params._fields)
        if set(self.defaults) != set(fields):
            raise ValueError(
                f"`defaults` of '{self.name}' must list the fields of {self.Params.__name__} "
                f"{fields}; got {tuple(self.defaults)}"
            )
        for key, field in self.recordables.items():
            if field is None and self.V_m is None:
                raise ValueError(f"recordable `{key}` of '{self.name}' needs `V_m`")
            if field is not None and field not in self.State._fields:
                raise ValueError(
                    f"recordable `{key}` of '{self.name}' names `{field}`, not a field of "
                    f"{self.State.__name__} {self.State._fields}"
                )

    @property
    def flags(self) -> frozenset[str]:
        """The boolean parameters (those whose default is a bool)."""
        return frozenset(k for k, v in self.defaults.items() if isinstance(v, bool))
