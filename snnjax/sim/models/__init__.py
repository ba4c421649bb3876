r"""NEST-compatible point neurons: exact integration and NEST's update order, as pure JAX.

NEST 3.x models, one module each (or one per family), each as NamedTuples
(``<Model>Params``, ``<Model>State``, ``<Model>Props``) and pure functions
(``<model>_init_state``, ``<model>_propagators``, ``<model>_step``); :class:`NestModel`
bundles them under NEST's model name:

* ``iaf_psc_delta``: LIF, each input spike is a jump of the membrane (weights in mV);
* ``iaf_psc_exp``: LIF with exponentially decaying synaptic currents (weights in pA);
* ``iaf_psc_alpha``: LIF with alpha-shaped synaptic currents (weights in pA, peak = weight);
* ``izhikevich``: Izhikevich (2003), NEST's forward-Euler scheme;
* ``parrot_neuron``: repeats every input spike;
* ``iaf_cond_exp``/``_alpha``/``_beta``, ``aeif_cond_exp``/``_alpha``, ``aeif_psc_exp``,
  ``hh_psc_alpha``, ``hh_cond_exp_traub``: integrated numerically (NEST's adaptive RKF45,
  :mod:`._rkf45`);
* ``snnjax_lif``, ``snnjax_cuba_lif``, ``snnjax_li``: the trainer's discrete neurons
  (:mod:`snnjax.neurons`), so trained networks run in the simulator (not NEST models).

Each model module ends with a ``SPEC`` (:class:`ModelSpec`: its classes and functions, NEST
defaults, initial state, recordables, how to read the absolute ``V_m``); the registry
(``_registry.py``) lists those specs and derives :data:`MODEL_NAMES`, :data:`DEFAULTS`,
:data:`INITIAL_STATE`, :data:`RECORDABLES` from them. Adding a model is one new module and
one line in that list. What the models share (validation, ``h`` on NEST's tic grid,
:func:`refractory_steps`, the iaf propagators, the float32 conventions) is in ``_common.py``.

The linear models are integrated exactly (Rotter & Diesmann 1999): the subthreshold
dynamics is linear with piecewise-constant input, so one step of length :math:`h` is a
fixed matrix (the *propagators*), computed once on the host in float64 (as NEST does, with
its treatment of the singular case :math:`\tau_m = \tau_\text{syn}`) and stored in float32.
Spiking uses the shared core (:func:`snnjax.neurons.fire_and_reset`, hard reset,
``V_m >= V_th``) with a surrogate gradient, so the same step can be trained.

Units as NEST: mV, ms, pF, pA. Parameters are given as NEST's *absolute* values (``E_L``,
``V_th``, ``V_reset``, ``V_min`` in mV); the iaf models store the membrane relative to
``E_L`` (``state.v = V_m - E_L``, like NEST's internal ``y3_``/``V_m_``), which keeps float32
rounding small; :meth:`NestModel.V_m` gives the absolute potential a multimeter records.

**Time grid and delivery** (what a simulation engine driving these steps must follow):

* step :math:`k` advances the state from :math:`t_k = k h` to :math:`t_{k+1}`: the state
  after step :math:`k` is what NEST's multimeter records at :math:`t_{k+1}`, and a spike
  emitted in step :math:`k` has the time stamp :math:`t_{k+1}`;
* ``in_ex``, ``in_in`` of step :math:`k`: the summed ``weight * multiplicity`` of the spike
  events whose delivery stamp is :math:`t_{k+1}` (NEST's ring-buffer slot of that step),
  split by the sign of the weight (``> 0`` excitatory, else inhibitory). A spike at time
  :math:`t_s` with delay :math:`d` lands in step :math:`(t_s + d)/h - 1`. PSC models add
  the weights to the synaptic currents *after* the membrane update, so the membrane moves
  from step :math:`k+1` on (the PSC starts at :math:`t_{k+1}`); ``iaf_psc_delta`` and
  ``izhikevich`` add them to the membrane in step :math:`k` itself;
* ``i_stim`` of step :math:`k`: the summed current (pA) of the ``CurrentEvent``\s in the same
  slot. As in NEST (``S_.y0_ = ...get_value(lag)`` at the end of ``update``), it is stored in
  the state and drives the membrane from step :math:`k+1` on. A current generator
  (``dc_generator``) active over ``[start, stop)`` sends in the steps :math:`T` with
  :math:`\text{start} < (T + 2)h \le \text{stop}` (``StimulationDevice::is_active``) and its
  event reaches the slot of step :math:`T + d`.
"""

from ._common import TICS_PER_MS as TICS_PER_MS
from ._common import iaf_propagator_alpha as iaf_propagator_alpha
from ._common import iaf_propagator_exp as iaf_propagator_exp
from ._common import refractory_steps as refractory_steps
from ._common import step_precision as step_precision
from ._iaf_psc_alpha import IafPscAlphaParams as IafPscAlphaParams
from ._iaf_psc_alpha import IafPscAlphaProps as IafPscAlphaProps
from ._iaf_psc_alpha import IafPscAlphaState as IafPscAlphaState
from ._iaf_psc_alpha import iaf_psc_alpha_init_state as iaf_psc_alpha_init_state
from ._iaf_psc_alpha import iaf_psc_alpha_propagators as iaf_psc_alpha_propagators
from ._iaf_psc_alpha import iaf_psc_alpha_step as iaf_psc_alpha_step
from ._iaf_psc_delta import IafPscDeltaParams as IafPscDeltaParams
from ._iaf_psc_delta import IafPscDeltaProps as IafPscDeltaProps
from ._iaf_psc_delta import IafPscDeltaState as IafPscDeltaState
from ._iaf_psc_delta import iaf_psc_delta_init_state as iaf_psc_delta_init_state
from ._iaf_psc_delta import iaf_psc_delta_propagators as iaf_psc_delta_propagators
from ._iaf_psc_delta import iaf_psc_delta_step as iaf_psc_delta_step
from ._iaf_psc_exp import IafPscExpParams as IafPscExpParams
from ._iaf_psc_exp import IafPscExpProps as IafPscExpProps
from ._iaf_psc_exp import IafPscExpState as IafPscExpState
from ._iaf_psc_exp import iaf_psc_exp_init_state as iaf_psc_exp_init_state
from ._iaf_psc_exp import iaf_psc_exp_propagators as iaf_psc_exp_propagators
from ._iaf_psc_exp import iaf_psc_exp_step as iaf_psc_exp_step
from ._izhikevich import IzhikevichParams as IzhikevichParams
from ._izhikevich import IzhikevichProps as IzhikevichProps
from ._izhikevich import IzhikevichState as IzhikevichState
from ._izhikevich import izhikevich_init_state as izhikevich_init_state
from ._izhikevich import izhikevich_propagators as izhikevich_propagators
from ._izhikevich import izhikevich_step as izhikevich_step
from ._parrot_neuron import ParrotNeuronParams as ParrotNeuronParams
from ._parrot_neuron import ParrotNeuronProps as ParrotNeuronProps
from ._parrot_neuron import ParrotNeuronState as ParrotNeuronState
from ._parrot_neuron import parrot_neuron_init_state as parrot_neuron_init_state
from ._parrot_neuron import parrot_neuron_propagators as parrot_neuron_propagators
from ._parrot_neuron import parrot_neuron_step as parrot_neuron_step
from ._registry import DEFAULTS as DEFAULTS
from ._registry import INITIAL_STATE as INITIAL_STATE
from ._registry import MODEL_NAMES as MODEL_NAMES
from ._registry import NEST_MODEL_NAMES as NEST_MODEL_NAMES
from ._registry import RECORDABLES as RECORDABLES
from ._registry import NestModel as NestModel
from ._registry import get_model as get_model
from ._registry import make_params as make_params
from ._snnjax import SnnjaxCubaLifParams as SnnjaxCubaLifParams
from ._snnjax import SnnjaxCubaState as SnnjaxCubaState
from ._snnjax import SnnjaxLifParams as SnnjaxLifParams
from ._snnjax import SnnjaxLiParams as SnnjaxLiParams
from ._snnjax import SnnjaxProps as SnnjaxProps
from ._snnjax import SnnjaxState as SnnjaxState
from ._snnjax import snnjax_cuba_lif_step as snnjax_cuba_lif_step
from ._snnjax import snnjax_li_step as snnjax_li_step
from ._snnjax import snnjax_lif_step as snnjax_lif_step
from ._spec import ModelSpec as ModelSpec
