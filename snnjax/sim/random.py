"""Random parameters as PyNEST's ``nest.random``: ``snnjax.sim.random.normal(mean=, std=)``."""

from ._random import lognormal as lognormal
from ._random import normal as normal
from ._random import uniform as uniform
