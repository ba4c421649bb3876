"""snnjax: spiking neural networks in JAX.

Subpackages:
    surrogate: the spike function (Heaviside, ``v >= threshold``) and surrogate derivatives.
    neurons: neuron models as static configs + pure step functions over NamedTuple state.
    ops: time-scan operators (``neuron_scan``) with hand-written backward passes.
    nn: Flax NNX layers wrapping the models.
"""

from . import neurons as neurons
from . import nn as nn
from . import ops as ops
from . import surrogate as surrogate

__version__ = "0.1.0"
