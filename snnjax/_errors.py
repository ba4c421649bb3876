"""Argument checks that raise early, clear ``ValueError``\\s naming the argument.

Every public entry point validates its arguments with these helpers *before* tracing or
any expensive work, so that a typo fails in microseconds with a message such as
``"`reset` must be one of 'soft', 'hard'; got 'sof'"``.
"""

from collections.abc import Iterable
from typing import Any

import jax
import numpy as np


def check_one_of(name: str, value: Any, valid: Iterable[Any]) -> None:
    """Raise unless ``value`` is one of ``valid``."""
    valid = tuple(valid)
    if value not in valid:
        choices = ", ".join(repr(v) for v in valid)
        raise ValueError(f"`{name}` must be one of {choices}; got {value!r}")


def _concrete(value: Any) -> np.ndarray | None:
    """The value as a NumPy array, or ``None`` when it is traced (checked later, if at all)."""
    if isinstance(value, jax.core.Tracer):
        return None
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"expected a number or an array of numbers, got {value!r}") from err


def check_range(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> None:
    """Raise unless every element of a concrete ``value`` lies in the given interval.

    Traced values cannot be inspected without a host round-trip and are accepted as-is.
    """
    arr = _concrete(value)
    if arr is None:
        return
    ok = np.isfinite(arr)
    if low is not None:
        ok &= arr >= low if low_inclusive else arr > low
    if high is not None:
        ok &= arr <= high if high_inclusive else arr < high
    if not np.all(ok):
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        interval = f"{'[' if low_inclusive and low is not None else '('}{lo}, {hi}"
        interval += "]" if high_inclusive and high is not None else ")"
        bad = arr[~ok] if arr.ndim else arr
        raise ValueError(f"`{name}` must lie in {interval}; got {np.ravel(bad)[:4].tolist()}")


def check_broadcastable(name: str, shape: tuple[int, ...], target: tuple[int, ...]) -> None:
    """Raise unless an array of ``shape`` broadcasts to ``target`` without growing it."""
    try:
        out = np.broadcast_shapes(shape, target)
    except ValueError:
        out = None
    if out != tuple(target):
        raise ValueError(
            f"`{name}` has shape {shape}, which does not broadcast to the neuron shape {target}; "
            "use a scalar or an array matching the trailing (neuron) axes"
        )
