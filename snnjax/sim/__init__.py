"""NEST-compatible simulation; ``import snnjax.sim as nest`` runs the core of a PyNEST script.

Layers: the models (one pure ``step(props, params, state, in_ex, in_in, i_stim)`` per NEST
model, :mod:`.models`), connectivity (:func:`connect` keyed by target, :class:`CSR`),
delivery (:func:`deliver`), the functional core (:func:`run_blocks` over :class:`Layout` +
:class:`NetworkArrays`; :func:`functional`: a built network as a pure ``run(params, state,
steps)`` for ``jit``/``grad``/``vmap``), the :class:`Simulator`, and the PyNEST facade (``Create``,
``Connect``, ``Simulate``, ``GetConnections``, ``Checkpoint``/``Restore``,
:class:`NodeCollection`, :class:`SynapseCollection`, kernel attributes such as
``nest.resolution``; see :mod:`._nest` for the documented differences from NEST).
"""

import sys as _sys

from . import math as math
from . import random as random
from ._connect import CSR as CSR
from ._connect import RULES as RULES
from ._connect import ConnSpec as ConnSpec
from ._connect import Synapses as Synapses
from ._connect import build_csr as build_csr
from ._connect import connect as connect
from ._connect import to_csr as to_csr
from ._delivery import Delivered as Delivered
from ._delivery import DeviceCSR as DeviceCSR
from ._delivery import deliver as deliver
from ._engine import DEVICES as DEVICES
from ._engine import Simulator as Simulator
from ._exchange import EXCHANGES as EXCHANGES
from ._functional import Functional as Functional
from ._functional import RunState as RunState
from ._functional import SimParams as SimParams
from ._functional import Trace as Trace
from ._functional import functional as functional
from ._nest import Checkpoint as Checkpoint
from ._nest import Cleanup as Cleanup
from ._nest import Connect as Connect
from ._nest import CopyModel as CopyModel
from ._nest import Create as Create
from ._nest import GetConnections as GetConnections
from ._nest import GetDefaults as GetDefaults
from ._nest import GetKernelStatus as GetKernelStatus
from ._nest import GetStatus as GetStatus
from ._nest import KernelModule as _KernelModule
from ._nest import NodeCollection as NodeCollection
from ._nest import NumProcesses as NumProcesses
from ._nest import Prepare as Prepare
from ._nest import Rank as Rank
from ._nest import RemoteConnect as RemoteConnect
from ._nest import RemoteCreate as RemoteCreate
from ._nest import ResetKernel as ResetKernel
from ._nest import Restore as Restore
from ._nest import Run as Run
from ._nest import SetDefaults as SetDefaults
from ._nest import SetKernelStatus as SetKernelStatus
from ._nest import SetStatus as SetStatus
from ._nest import Simulate as Simulate
from ._nest import SynapseCollection as SynapseCollection
from ._nest import set_verbosity as set_verbosity
from ._nest import simulator as simulator
from ._network import Layout as Layout
from ._network import NetworkArrays as NetworkArrays
from ._network import SimState as SimState
from ._network import exchange_blocks as exchange_blocks
from ._network import on_mesh as on_mesh
from ._network import run_blocks as run_blocks
from ._nir import NIRNetwork as NIRNetwork
from ._nir import import_nir as import_nir
from ._placement import PLACEMENTS as PLACEMENTS
from ._placement import place as place
from ._random import Parameter as Parameter
from ._random import lognormal as lognormal
from ._random import normal as normal
from ._random import redraw as redraw
from ._random import uniform as uniform
from ._stdp import STDP_MODELS as STDP_MODELS
from ._stdp import SYNAPSE_DEFAULTS as SYNAPSE_DEFAULTS
from .models import DEFAULTS as DEFAULTS
from .models import INITIAL_STATE as INITIAL_STATE
from .models import MODEL_NAMES as MODEL_NAMES
from .models import NEST_MODEL_NAMES as NEST_MODEL_NAMES
from .models import TICS_PER_MS as TICS_PER_MS
from .models import IafPscAlphaParams as IafPscAlphaParams
from .models import IafPscAlphaProps as IafPscAlphaProps
from .models import IafPscAlphaState as IafPscAlphaState
from .models import IafPscDeltaParams as IafPscDeltaParams
from .models import IafPscDeltaProps as IafPscDeltaProps
from .models import IafPscDeltaState as IafPscDeltaState
from .models import IafPscExpParams as IafPscExpParams
from .models import IafPscExpProps as IafPscExpProps
from .models import IafPscExpState as IafPscExpState
from .models import IzhikevichParams as IzhikevichParams
from .models import IzhikevichProps as IzhikevichProps
from .models import IzhikevichState as IzhikevichState
from .models import NestModel as NestModel
from .models import ParrotNeuronParams as ParrotNeuronParams
from .models import ParrotNeuronProps as ParrotNeuronProps
from .models import ParrotNeuronState as ParrotNeuronState
from .models import get_model as get_model
from .models import iaf_propagator_alpha as iaf_propagator_alpha
from .models import iaf_propagator_exp as iaf_propagator_exp
from .models import iaf_psc_alpha_init_state as iaf_psc_alpha_init_state
from .models import iaf_psc_alpha_propagators as iaf_psc_alpha_propagators
from .models import iaf_psc_alpha_step as iaf_psc_alpha_step
from .models import iaf_psc_delta_init_state as iaf_psc_delta_init_state
from .models import iaf_psc_delta_propagators as iaf_psc_delta_propagators
from .models import iaf_psc_delta_step as iaf_psc_delta_step
from .models import iaf_psc_exp_init_state as iaf_psc_exp_init_state
from .models import iaf_psc_exp_propagators as iaf_psc_exp_propagators
from .models import iaf_psc_exp_step as iaf_psc_exp_step
from .models import izhikevich_init_state as izhikevich_init_state
from .models import izhikevich_propagators as izhikevich_propagators
from .models import izhikevich_step as izhikevich_step
from .models import make_params as make_params
from .models import parrot_neuron_init_state as parrot_neuron_init_state
from .models import parrot_neuron_propagators as parrot_neuron_propagators
from .models import parrot_neuron_step as parrot_neuron_step
from .models import refractory_steps as refractory_steps

# Kernel attributes as module attributes (``nest.resolution = 0.1``), as PyNEST does.
_sys.modules[__name__].__class__ = _KernelModule
