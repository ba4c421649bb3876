"""Spike-train analysis of NEST-style spike data (``senders``, ``times`` in ms).

Statistics (NumPy, vectorised) take the spikes, the ``ids`` of one population and a window
``t_start <= t < t_stop``: per-neuron :func:`rates`, :func:`cv_isi`,
:func:`pearson_correlations` of binned counts, the population :func:`fano_factor`, and a
JSON-ready :func:`summary` over several populations. Figures (matplotlib, Agg canvas):
:func:`raster_plot`, the Potjans & Diesmann (2014) :func:`statistics_figure`,
:func:`weight_histogram_plot` (plastic weights over time), :func:`fit_curves_plot` (a fit
through the simulation) and :func:`phase_diagram_plot` (maps over a parameter grid).
"""

from ._experiments import fit_curves_plot as fit_curves_plot
from ._experiments import phase_diagram_plot as phase_diagram_plot
from ._plots import raster_plot as raster_plot
from ._plots import statistics_figure as statistics_figure
from ._plots import weight_histogram_plot as weight_histogram_plot
from ._stats import cv_isi as cv_isi
from ._stats import fano_factor as fano_factor
from ._stats import pearson_correlations as pearson_correlations
from ._stats import rates as rates
from ._stats import summary as summary
