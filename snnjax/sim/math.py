"""Operations on random parameters as PyNEST's ``nest.math``: ``redraw(param, min=, max=)``."""

from ._random import redraw as redraw
