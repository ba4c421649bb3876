"""The registry of NEST models, :func:`make_params` and :class:`NestModel`.

Every model module defines one :class:`~snnjax.sim.models._spec.ModelSpec` called ``SPEC``;
:data:`_MODELS` lists them, and everything else here (:data:`MODEL_NAMES`, :data:`DEFAULTS`,
:data:`INITIAL_STATE`, :data:`RECORDABLES`, :func:`make_params`, :class:`NestModel`) is read
from that list. Adding a model is one new module and one line in :data:`_MODELS`.
"""

import dataclasses
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from ..._errors import check_one_of
from ..._types import ArrayLike
from ...surrogate import Surrogate, get_surrogate
from . import (
    _aeif,
    _aeif_psc_exp,
    _hh,
    _iaf_cond,
    _iaf_cond_beta,
    _iaf_psc_alpha,
    _iaf_psc_delta,
    _iaf_psc_exp,
    _izhikevich,
    _parrot_neuron,
    _snnjax,
)
from ._common import Neurons, _bool_param, _default_surrogate, _float_param
from ._spec import ModelSpec

#: The registered models, in the order of :data:`MODEL_NAMES`.
_MODELS: tuple[ModelSpec, ...] = (
    _iaf_psc_delta.SPEC,
    _iaf_psc_exp.SPEC,
    _iaf_psc_alpha.SPEC,
    _izhikevich.SPEC,
    _parrot_neuron.SPEC,
    _iaf_cond.SPEC_EXP,
    _iaf_cond.SPEC_ALPHA,
    _iaf_cond_beta.SPEC,
    _aeif.SPEC_EXP,
    _aeif.SPEC_ALPHA,
    _aeif_psc_exp.SPEC,
    _hh.SPEC_PSC_ALPHA,
    _hh.SPEC_TRAUB,
    _snnjax.SPEC_LIF,
    _snnjax.SPEC_CUBA_LIF,
    _snnjax.SPEC_LI,
)

_SPECS: dict[str, ModelSpec] = {spec.name: spec for spec in _MODELS}

#: The NEST model names available.
MODEL_NAMES: tuple[str, ...] = tuple(_SPECS)

#: The models that are NEST's (the others, ``snnjax_*``, are the trainer's neurons).
NEST_MODEL_NAMES: tuple[str, ...] = tuple(s.name for s in _MODELS if s.nest)

#: NEST 3.x defaults of every parameter, per model (``nest.GetDefaults(model)``). NEST's
#: ``V_min`` default ``-DBL_MAX`` (iaf_psc_delta, izhikevich) is written ``-inf`` here (the
#: same: no lower bound; ``-DBL_MAX`` has no float32 value).
DEFAULTS: dict[str, dict[str, float | bool]] = {s.name: s.defaults for s in _MODELS}

#: NEST 3.x initial state (absolute mV) of a new neuron, per model; ``init_state`` takes
#: these as keyword defaults (scalars or per-neuron arrays may be passed instead). NEST keeps
#: the *absolute* ``V_m`` (and ``V_th``, ``V_reset``, ``V_min``) when ``E_L`` is changed, so a
#: neuron created with ``E_L = -60`` starts at ``V_m = -70`` mV, not at rest: pass
#: ``V_m=params.E_L`` to start at rest.
INITIAL_STATE: dict[str, dict[str, float]] = {s.name: s.initial_state for s in _MODELS}

#: NEST's recordables per model: name -> state field (``None``: the absolute ``V_m``).
RECORDABLES: dict[str, dict[str, str | None]] = {s.name: s.recordables for s in _MODELS}


def _check_model_name(model_name: str) -> None:
    check_one_of("model_name", model_name, MODEL_NAMES)


def make_params(model_name: str, **overrides: ArrayLike | bool) -> NamedTuple:
    """Validated parameters of a NEST model: NEST's defaults, updated by ``overrides``.

    Values are scalars or per-neuron arrays (all mutually broadcastable), kept on the host
    in float64 (bool for the flags) so that :func:`NestModel.propagators` sees exactly what
    NEST would; the step functions read them as float32.

    Args:
        model_name: one of :data:`MODEL_NAMES`.
        **overrides: NEST parameter names and values (mV, ms, pF, pA).

    Returns:
        The model's ``Params`` NamedTuple.

    Raises:
        ValueError: for an unknown model or parameter, or an invalid value (``C_m <= 0``,
            a time constant ``<= 0``, ``t_ref < 0``, ``V_reset >= V_th``, non-finite, ...).

    Examples:
        >>> import numpy as np
        >>> p = make_params("iaf_psc_exp", I_e=376.0, tau_syn_ex=np.array([2.0, 10.0]))
        >>> float(p.C_m), p.tau_syn_ex.tolist()
        (250.0, [2.0, 10.0])
    """
    _check_model_name(model_name)
    spec = _SPECS[model_name]
    fields = spec.Params._fields
    unknown = [k for k in overrides if k not in fields]
    if unknown:
        listed = ", ".join(f"'{f}'" for f in fields) or "(none)"
        raise ValueError(
            f"unknown parameter(s) {', '.join(f'`{k}`' for k in unknown)} for model "
            f"'{model_name}'; its parameters are: {listed}"
        )
    values = {**DEFAULTS[model_name], **overrides}
    flags = spec.flags
    arrays = {
        k: (_bool_param if k in flags else _float_param)(model_name, k, values[k]) for k in fields
    }
    try:
        np.broadcast_shapes(*(a.shape for a in arrays.values()))
    except ValueError as err:
        shapes = ", ".join(f"`{k}` {a.shape}" for k, a in arrays.items() if a.ndim)
        raise ValueError(
            f"the parameters of '{model_name}' must broadcast together; got shapes {shapes}"
        ) from err
    spec.validate(model_name, arrays)
    return spec.Params(**arrays)


@dataclasses.dataclass(frozen=True)
class NestModel:
    """A NEST point-neuron model: static config (hashable) + its pure functions.

    Args:
        name: NEST model name, one of :data:`MODEL_NAMES`.
        surrogate: surrogate gradient of the spike (a :class:`~snnjax.surrogate.Surrogate`
            or its name); the forward pass is exactly NEST's ``V_m >= V_th``.
        detach_reset: pass no gradient through the reset.
        substeps: models integrated numerically (conductance, AdEx, HH): 0 for NEST's
            adaptive RKF45 (the default, NEST's numbers), ``k > 0`` for ``k`` fixed RK45
            sub-steps per step instead (cheaper, no error control); others ignore it.

    Examples:
        >>> import jax
        >>> import jax.numpy as jnp
        >>> model = NestModel("iaf_psc_exp")
        >>> params = model.params(I_e=400.0)
        >>> props = model.propagators(params, h=0.1)
        >>> state = model.init_state(params, 3)
        >>> zero = jnp.zeros(3)
        >>> state, spikes = jax.jit(model.step)(props, params, state, zero, zero, zero)
        >>> spikes.shape
        (3,)
    """

    name: str
    surrogate: Surrogate | str = dataclasses.field(default_factory=_default_surrogate)
    detach_reset: bool = False
    substeps: int = 0

    def __post_init__(self):
        check_one_of("name", self.name, MODEL_NAMES)
        object.__setattr__(self, "surrogate", get_surrogate(self.surrogate))
        if not isinstance(self.detach_reset, bool):
            raise ValueError(f"`detach_reset` must be True or False; got {self.detach_reset!r}")
        if isinstance(self.substeps, bool) or not isinstance(self.substeps, int | np.integer) \
                or self.substeps < 0:  # fmt: skip
            raise ValueError(f"`substeps` must be an int >= 0; got {self.substeps!r}")

    @property
    def _spec(self) -> ModelSpec:
        return _SPECS[self.name]

    @property
    def Params(self) -> type:
        """The ``Params`` NamedTuple class."""
        return self._spec.Params

    @property
    def State(self) -> type:
        """The ``State`` NamedTuple class."""
        return self._spec.State

    @property
    def Props(self) -> type:
        """The ``Props`` NamedTuple class (propagators)."""
        return self._spec.Props

    @property
    def defaults(self) -> Mapping[str, float | bool]:
        """NEST's default parameters of this model."""
        return dict(DEFAULTS[self.name])

    def params(self, **overrides: ArrayLike | bool) -> NamedTuple:
        """Validated parameters (see :func:`make_params`)."""
        return make_params(self.name, **overrides)

    def init_state(self, params: NamedTuple, n: int, **initial: ArrayLike) -> NamedTuple:
        """NEST's initial state of ``n`` neurons (``V_m=...`` etc. to override)."""
        return self._spec.init_state(params, n, **initial)

    def propagators(self, params: NamedTuple, h: float) -> NamedTuple:
        """Exact propagators for resolution ``h`` (ms), computed once on the host."""
        return self._spec.propagators(params, h)

    def step(
        self,
        props: NamedTuple,
        params: NamedTuple,
        state: NamedTuple,
        in_ex: Neurons,
        in_in: Neurons,
        i_stim: Neurons,
        *,
        native: bool = False,
        threads: int = 0,
    ) -> tuple[NamedTuple, Neurons]:
        """One NEST update step: ``(state, spikes)`` (see the model's ``*_step`` function);
        ``native``: the ODE of an ``iaf_cond_*``/``hh_*`` model by the native CPU kernel
        (adaptive RKF45 only; registered by :func:`~snnjax.sim._native.use_native`) on
        ``threads`` threads (0: all of XLA's intra-op pool)."""
        extra = {"substeps": self.substeps} if self._spec.numerical else {}
        if self._spec.native_ode:
            extra.update(native=native, threads=threads)
        return self._spec.step(
            props, params, state, in_ex, in_in, i_stim,
            surrogate=self.surrogate, detach_reset=self.detach_reset, **extra,
        )  # fmt: skip

    @property
    def numerical(self) -> bool:
        """Whether the model is integrated numerically (conductance, AdEx, HH)."""
        return self._spec.numerical

    @property
    def attempts(self) -> int:
        """Lockstep RKF45 attempts per step a reverse-mode run allows by default (0: the
        model has no adaptive loop: exact integration or fixed ``substeps``)."""
        return 0 if self.substeps else self._spec.attempts

    @property
    def has_native_block(self) -> bool:
        """Whether :meth:`native_block` runs this model (the exactly integrated
        ``iaf_psc_delta``, ``iaf_psc_exp`` and ``iaf_psc_alpha``; the ``iaf_cond_*`` and
        ``hh_*`` with NEST's adaptive RKF45, not with ``substeps``)."""
        return self._spec.native_block is not None and not self.substeps

    def native_block(self, props, params, state, inputs, live, *, lo: int, threads: int):
        """The first ``live`` steps of a block by the native CPU kernel, bit for bit
        :meth:`step` over the steps (see :func:`~snnjax.sim._native.block_native`;
        registered by :func:`~snnjax.sim._native.use_native`): ``(state, spikes, bad)``;
        ``inputs`` the block's ``float32[3, steps, N]`` inputs of the shard's neurons
        (excitatory, inhibitory, current), these at ``lo .. lo + n - 1``; spikes
        ``float32[steps, n]``, zero from step ``live`` on; ``bad`` the number of neurons
        with a non-finite state value after the block."""
        if not self.has_native_block:
            raise ValueError(f"`{self.name}` has no native block kernel")
        return self._spec.native_block(props, params, state, inputs, live, lo=lo,
                                       threads=threads)  # fmt: skip

    def V_m(self, params: NamedTuple, state: NamedTuple) -> Neurons:
        """The absolute membrane potential (mV), as NEST's multimeter records it.

        ``state`` may carry leading axes (e.g. states stacked over time by ``lax.scan``).
        """
        V_m = self._spec.V_m
        if V_m is None:
            raise ValueError(f"`{self.name}` has no membrane potential")
        return V_m(params, state)


def get_model(name: str, **config: Any) -> NestModel:
    """The :class:`NestModel` called ``name`` (``surrogate=``, ``detach_reset=`` optional)."""
    return NestModel(name, **config)
