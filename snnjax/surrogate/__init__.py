"""Spike function and surrogate gradients."""

from ._spike import ArcTan as ArcTan
from ._spike import Exact as Exact
from ._spike import FastSigmoid as FastSigmoid
from ._spike import Rectangle as Rectangle
from ._spike import Sigmoid as Sigmoid
from ._spike import Surrogate as Surrogate
from ._spike import Triangle as Triangle
from ._spike import get_surrogate as get_surrogate
from ._spike import spike as spike
