"""Figures of differentiable and batched simulations: a fit's curves, a sweep's maps.

Built like :mod:`snnjax.analysis._plots` (an explicit Agg canvas, no pyplot).
"""

import os
from collections.abc import Mapping, Sequence

import numpy as np

from ._plots import _color, _figure


def fit_curves_plot(loss: Sequence[float], rates: Mapping[str, Sequence[float]],
                    targets: Mapping[str, float], path: str | os.PathLike,
                    title: str | None = None) -> None:  # fmt: skip
    """Save a fit's loss and rates per gradient step (PNG).

    Args:
        loss: the loss at each step (log scale in the plot; must be > 0 to show).
        rates: per population, its rate at each step (Hz).
        targets: per population, its target rate (dashed).
        path: output file.
        title: optional figure title.
    """
    if len(loss) == 0 or any(len(r) != len(loss) for r in rates.values()):
        raise ValueError("`loss` and every series of `rates` must have the same, nonzero length")
    fig = _figure(figsize=(9, 3.5), layout="constrained")
    left, right = fig.subplots(1, 2)
    steps = np.arange(len(loss))
    left.semilogy(steps, np.maximum(np.asarray(loss, np.float64), 1e-12), color="k")
    left.set(xlabel="gradient step", ylabel="loss")
    for i, (pop, series) in enumerate(rates.items()):
        right.plot(steps, series, color=_color(i), label=pop)
        if pop in targets:
            right.axhline(targets[pop], color=_color(i), ls="--", lw=1)
    right.set(xlabel="gradient step", ylabel="rate (Hz)")
    right.legend()
    if title:
        fig.suptitle(title)
    fig.savefig(path, dpi=100)


def phase_diagram_plot(maps: Mapping[str, np.ndarray], rows: Sequence[float],
                       cols: Sequence[float], path: str | os.PathLike, *,
                       row_label: str = "g", col_label: str = "eta",
                       title: str | None = None) -> None:  # fmt: skip
    """Save one heat map per measure over a 2-D parameter grid (PNG).

    Args:
        maps: measure name -> ``[len(rows), len(cols)]`` values (NaN: undefined, blank).
        rows: the parameter of the rows (y axis).
        cols: the parameter of the columns (x axis).
        path: output file.
        row_label, col_label: axis labels.
        title: optional figure title.
    """
    shape = (len(rows), len(cols))
    if not maps or any(np.shape(v) != shape for v in maps.values()):
        raise ValueError(f"every map must have shape (len(rows), len(cols)) = {shape}")
    fig = _figure(figsize=(4.2 * len(maps), 3.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(maps)))
    for ax, (name, values) in zip(axes, maps.items(), strict=True):
        mesh = ax.imshow(np.asarray(values, np.float64), origin="lower", aspect="auto",
                         cmap="viridis")  # fmt: skip
        fig.colorbar(mesh, ax=ax, label=name)
        ax.set_xticks(range(len(cols)), [f"{c:g}" for c in cols])
        ax.set_yticks(range(len(rows)), [f"{r:g}" for r in rows])
        ax.set(xlabel=col_label, ylabel=row_label, title=name)
    if title:
        fig.suptitle(title)
    fig.savefig(path, dpi=100)
