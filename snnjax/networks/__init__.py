"""Reference spiking networks, built through a PyNEST-compatible module.

Each builder takes the simulator module first, ``nest`` (PyNEST 3.10) or ``snnjax.sim``, and
uses only the PyNEST subset that :mod:`snnjax.sim` implements, so the same network runs on
both for side-by-side comparisons:

* :func:`build_brunel`: Brunel (2000) sparse E/I network, as NEST's ``brunel_*_nest.py``;
  with :class:`PlasticBrunelParams`, its E -> E synapses are ``stdp_synapse`` (after
  Morrison et al. 2007), and the run reads their weights over time.
* :func:`build_brette`: the Brette et al. (2007) benchmarks COBA, CUBA and COBAHH, and COBA
  with AdEx neurons (``coba_adex``).
* :func:`build_brunel_ring`: NEST GPU's Brunel ring, one Brunel network per rank (or device),
  each fed partly by its left neighbour, with a transient drop of network 0's drive.
* :func:`build_microcircuit`: Potjans & Diesmann (2014) cortical microcircuit, as NEST's
  ``Potjans_2014`` example, with its parameter tables (``PD14_*``).
* :func:`fit_rates` / :func:`grad_check`: a scaled Brunel network fitted to target rates
  by gradient descent through the simulation (:func:`snnjax.sim.functional`), and the
  gradient checked against finite differences in float64.
* :func:`brunel_sweep`: the Brunel (2000) phase diagram, a ``(g, eta)`` grid as one
  vmapped simulation.
* :func:`build_ping`: coupled PING assemblies of Traub HH cells (gamma oscillators), as in
  Omelyusik et al.'s scaling study; :func:`rate_spectrum` finds their rhythm.

:func:`cli` / :func:`run_network` are the shared plumbing of ``simulation/brunel.py``,
``simulation/brunel_stdp.py``, ``simulation/brette2007.py``, ``simulation/microcircuit.py``
and ``simulation/ping.py``
(config, timing, summary JSON, spikes, raster plot).
"""

from ._brette import BRETTE_MODELS as BRETTE_MODELS
from ._brette import BRETTE_NEURON_MODELS as BRETTE_NEURON_MODELS
from ._brette import COBA_ADEX_NEURON_PARAMS as COBA_ADEX_NEURON_PARAMS
from ._brette import COBA_NEURON_PARAMS as COBA_NEURON_PARAMS
from ._brette import COBAHH_NEURON_PARAMS as COBAHH_NEURON_PARAMS
from ._brette import COND_WEIGHTS_NS as COND_WEIGHTS_NS
from ._brette import CUBA_NEURON_PARAMS as CUBA_NEURON_PARAMS
from ._brette import CUBA_W_MV as CUBA_W_MV
from ._brette import BretteDerived as BretteDerived
from ._brette import BretteParams as BretteParams
from ._brette import brette_derived as brette_derived
from ._brette import build_brette as build_brette
from ._brette import cuba_weight_pA as cuba_weight_pA
from ._brunel import BRUNEL_MODELS as BRUNEL_MODELS
from ._brunel import BrunelDerived as BrunelDerived
from ._brunel import BrunelParams as BrunelParams
from ._brunel import PlasticBrunelParams as PlasticBrunelParams
from ._brunel import brunel_derived as brunel_derived
from ._brunel import build_brunel as build_brunel
from ._fit import FitParams as FitParams
from ._fit import fit_rates as fit_rates
from ._fit import grad_check as grad_check
from ._microcircuit import PD14_CONN_PROBS as PD14_CONN_PROBS
from ._microcircuit import PD14_FULL_NUM_NEURONS as PD14_FULL_NUM_NEURONS
from ._microcircuit import PD14_K_EXT as PD14_K_EXT
from ._microcircuit import PD14_NEURON_PARAMS as PD14_NEURON_PARAMS
from ._microcircuit import PD14_POPULATIONS as PD14_POPULATIONS
from ._microcircuit import PD14_RATES_HZ as PD14_RATES_HZ
from ._microcircuit import PD14_V0_OPTIMIZED_MEAN as PD14_V0_OPTIMIZED_MEAN
from ._microcircuit import PD14_V0_OPTIMIZED_STD as PD14_V0_OPTIMIZED_STD
from ._microcircuit import PD14_V0_ORIGINAL as PD14_V0_ORIGINAL
from ._microcircuit import V0_TYPES as V0_TYPES
from ._microcircuit import MicrocircuitDerived as MicrocircuitDerived
from ._microcircuit import MicrocircuitParams as MicrocircuitParams
from ._microcircuit import (
    adjust_weights_and_input_to_synapse_scaling as adjust_weights_and_input_to_synapse_scaling,
)
from ._microcircuit import build_microcircuit as build_microcircuit
from ._microcircuit import dc_input_compensating_poisson as dc_input_compensating_poisson
from ._microcircuit import microcircuit_derived as microcircuit_derived
from ._microcircuit import num_synapses_from_conn_probs as num_synapses_from_conn_probs
from ._ping import OUT_RULES as OUT_RULES
from ._ping import PING_NEURON_MODEL as PING_NEURON_MODEL
from ._ping import REFERENCE_CELLS as REFERENCE_CELLS
from ._ping import PingDerived as PingDerived
from ._ping import PingParams as PingParams
from ._ping import build_ping as build_ping
from ._ping import ping_derived as ping_derived
from ._ping import rate_spectrum as rate_spectrum
from ._psp import psc_over_psp_alpha as psc_over_psp_alpha
from ._psp import psc_over_psp_exp as psc_over_psp_exp
from ._ring import BASELINE_MS as BASELINE_MS
from ._ring import BrunelRingParams as BrunelRingParams
from ._ring import build_brunel_ring as build_brunel_ring
from ._ring import population_rate as population_rate
from ._ring import ring_indegrees as ring_indegrees
from ._ring import ring_layout as ring_layout
from ._ring import ring_perturbation_rates as ring_perturbation_rates
from ._ring import ring_rates_plot as ring_rates_plot
from ._run import BACKENDS as BACKENDS
from ._run import RunSettings as RunSettings
from ._run import add_field_flags as add_field_flags
from ._run import cli as cli
from ._run import import_backend as import_backend
from ._run import load_config as load_config
from ._run import make_parser as make_parser
from ._run import run_network as run_network
from ._run import simulate_network as simulate_network
from ._sweep import SweepParams as SweepParams
from ._sweep import brunel_sweep as brunel_sweep
