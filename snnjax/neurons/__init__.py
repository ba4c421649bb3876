"""Neuron models: static configuration objects plus pure step functions over NamedTuples.

Update order for every model: decay → integrate → spike → reset. Threshold convention:
a neuron spikes when its membrane reaches the threshold (``v >= threshold``).
"""

from ._alif import ALIF as ALIF
from ._alif import ALIFParams as ALIFParams
from ._alif import ALIFState as ALIFState
from ._alif import alif_fire as alif_fire
from ._alif import alif_integrate as alif_integrate
from ._alif import alif_step as alif_step
from ._base import NeuronModel as NeuronModel
from ._base import SpikingModel as SpikingModel
from ._base import apply_reset as apply_reset
from ._base import decay_factor as decay_factor
from ._base import fire_and_reset as fire_and_reset
from ._cuba import CuBaLIF as CuBaLIF
from ._cuba import CuBaLIFParams as CuBaLIFParams
from ._cuba import CuBaLIFState as CuBaLIFState
from ._cuba import cuba_lif_fire as cuba_lif_fire
from ._cuba import cuba_lif_integrate as cuba_lif_integrate
from ._cuba import cuba_lif_step as cuba_lif_step
from ._li import LI as LI
from ._li import LIParams as LIParams
from ._li import LIState as LIState
from ._li import li_integrate as li_integrate
from ._li import li_step as li_step
from ._lif import IF as IF
from ._lif import LIF as LIF
from ._lif import IFParams as IFParams
from ._lif import LIFParams as LIFParams
from ._lif import LIFState as LIFState
from ._lif import if_integrate as if_integrate
from ._lif import if_step as if_step
from ._lif import lif_fire as lif_fire
from ._lif import lif_integrate as lif_integrate
from ._lif import lif_step as lif_step
