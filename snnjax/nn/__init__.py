"""Flax NNX layers: spiking neuron layers (sequence driver + carry API) and recurrence."""

from ._neurons import ALIF as ALIF
from ._neurons import IF as IF
from ._neurons import LI as LI
from ._neurons import LIF as LIF
from ._neurons import CuBaLIF as CuBaLIF
from ._neurons import NeuronConstant as NeuronConstant
from ._neurons import NeuronLayer as NeuronLayer
from ._recurrent import Recurrent as Recurrent
from ._recurrent import RecurrentLIF as RecurrentLIF
