"""NEST's nodes on the host: neuron groups, devices, their parameters and their checks.

A :class:`_Group` is one ``Create`` call (node ids ``first .. first + n - 1``): a neuron
model's parameters and initial state as float64 arrays, or a device's parameters as one
value per node. Device parameters are checked here, at the call that sets them, as NEST
does (``spike_generator``: times sorted, on the grid unless ``allow_offgrid_times``, weights
and multiplicities one per time).
"""

import dataclasses
import math
from typing import Any

import numpy as np

from .._errors import check_one_of, check_range
from .models import DEFAULTS, INITIAL_STATE, MODEL_NAMES

#: NEST's devices and their parameters (defaults).
DEVICE_DEFAULTS: dict[str, dict[str, Any]] = {
    "poisson_generator": {"rate": 0.0, "start": 0.0, "stop": math.inf},
    "dc_generator": {"amplitude": 0.0, "start": 0.0, "stop": math.inf},
    "spike_generator": {
        "spike_times": (), "spike_weights": (), "spike_multiplicities": (),
        "allow_offgrid_times": False, "shift_now_spikes": False, "precise_times": False,
        "start": 0.0, "stop": math.inf,
    },
    "spike_recorder": {"start": 0.0, "stop": math.inf},
    "weight_recorder": {"start": 0.0, "stop": math.inf},
    "multimeter": {"record_from": (), "interval": 1.0, "start": 0.0, "stop": math.inf},
}  # fmt: skip
DEVICES = tuple(DEVICE_DEFAULTS)
GENERATORS = ("poisson_generator", "dc_generator", "spike_generator")
RECORDERS = ("spike_recorder", "weight_recorder", "multimeter")
_ARRAY_PARAMS = ("spike_times", "spike_weights", "spike_multiplicities", "record_from")
_FLAGS = ("allow_offgrid_times", "shift_now_spikes", "precise_times")


def node_defaults(model: str) -> dict[str, Any]:
    """NEST's defaults of a neuron model (parameters and initial state) or of a device."""
    if model in MODEL_NAMES:  # tau_minus: every NEST neuron is an archiving node (STDP)
        return {**DEFAULTS[model], "tau_minus": 20.0, **INITIAL_STATE[model]}
    return dict(DEVICE_DEFAULTS[model])


@dataclasses.dataclass
class _Group:
    """The nodes of one ``create`` call: ids ``first .. first + n - 1``."""

    model: str
    first: int
    n: int
    values: dict  # neurons: name -> float64[n]; devices: name -> list of n values
    offset: int = -1  # neurons: index of the first one in the neuron axis
    shard: int = -1  # RemoteCreate: the shard (rank) that owns them; -1: placement decides

    @property
    def is_neuron(self) -> bool:
        return self.model in MODEL_NAMES


@dataclasses.dataclass
class _DeviceConn:
    """The connections of one ``Connect`` call from generators to neurons."""

    kind: str
    device: np.ndarray  # device positions within their kind
    neuron: np.ndarray  # neuron indices
    weight: np.ndarray
    delay: np.ndarray  # steps


def is_array_param(key: str) -> bool:
    return key in _ARRAY_PARAMS


def device_values(kind: str, old: dict, new: dict, h: float, now: int) -> dict:
    """One device's parameters ``old`` updated by ``new``, checked as NEST checks them.

    Args:
        kind: the device model.
        old: its current parameters.
        new: the parameters to set (a subset).
        h: the resolution (ms).
        now: the current step (``shift_now_spikes`` moves a spike at ``now`` one step on).

    Raises:
        ValueError: naming the parameter and the valid values.
    """
    out = dict(old)
    for key, value in new.items():
        if key in _FLAGS:
            if not isinstance(value, bool | np.bool_):
                raise ValueError(f"`{key}` must be True or False; got {value!r}")
            out[key] = bool(value)
        elif key == "record_from":
            if isinstance(value, str) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"`record_from` must be a list of names; got {value!r}")
            if len(set(value)) != len(value):
                raise ValueError(f"`record_from` names must be distinct; got {list(value)}")
            out[key] = tuple(value)
        elif is_array_param(key):
            arr = np.asarray(value, np.float64).reshape(-1)
            check_range(key, arr)  # finite
            out[key] = arr
        elif key == "stop":  # inf: never stops
            if not (np.ndim(value) == 0 and float(value) >= 0.0):
                raise ValueError(f"`stop` must lie in [0, inf]; got {value!r}")
            out[key] = float(value)
        else:
            if np.ndim(value) != 0:
                raise ValueError(f"`{key}` must be a number; got {value!r}")
            check_range(key, value, low=None if key == "amplitude" else 0.0)
            out[key] = float(value)
    if "stop" in out and "start" in out and out["stop"] < out["start"]:
        raise ValueError(f"`stop` must be >= `start` ({out['start']:g}); got {out['stop']:g}")
    if kind == "multimeter" and "interval" in new:
        steps = out["interval"] / h
        if not (steps >= 1 and abs(steps - round(steps)) < 1e-9 * steps):
            raise ValueError(
                f"`interval` must be a positive multiple of the resolution {h}; got "
                f"{out['interval']}"
            )
    if kind == "spike_generator":
        out = _spike_generator(out, new, h, now)
    return out


def _spike_generator(out: dict, new: dict, h: float, now: int) -> dict:
    """NEST's ``spike_generator::Parameters_::set``: check and stamp the spike times."""
    if out["precise_times"]:
        raise ValueError("`precise_times` must be False (precise spike times are not supported)")
    if any(f in new for f in _FLAGS) and "spike_times" not in new and len(out["spike_times"]):
        raise ValueError(
            "`allow_offgrid_times`/`shift_now_spikes` can only be set together with "
            "`spike_times` or while no spike times are set"
        )
    if "spike_times" in new:
        times = out["spike_times"]
        if np.any(np.diff(times) < 0):
            raise ValueError("`spike_times` must be sorted in non-descending order")
        if np.any(times < 0) or (np.any(times == 0) and not out["shift_now_spikes"]):
            raise ValueError("`spike_times` must be > 0 (0 only with shift_now_spikes)")
        steps = times / h
        on_grid = np.abs(steps - np.round(steps)) <= 1e-9 * np.maximum(steps, 1.0)
        if not np.all(on_grid) and not out["allow_offgrid_times"]:
            bad = times[~on_grid][:4].tolist()
            raise ValueError(
                f"`spike_times` must be multiples of the resolution {h} ms (or set "
                f"allow_offgrid_times=True to round them up to the grid); got {bad}"
            )
        stamps = np.where(on_grid, np.round(steps), np.ceil(steps))  # ms_stamp: end of step
        if out["shift_now_spikes"]:
            stamps = np.where(stamps == now, stamps + 1, stamps)
        out["spike_times"] = stamps * h
    n = len(out["spike_times"])
    for key in ("spike_weights", "spike_multiplicities"):
        if len(out[key]) not in (0, n):
            raise ValueError(
                f"`{key}` must have one entry per spike time ({n}) or none; got {len(out[key])}"
            )
    if len(out["spike_multiplicities"]) and np.any(out["spike_multiplicities"] < 0):
        raise ValueError("`spike_multiplicities` must be >= 0")
    return out


def spike_generator_steps(values: dict, h: float) -> tuple[np.ndarray, np.ndarray]:
    """Emission steps and values (multiplicity x spike weight) of one ``spike_generator``.

    A spike stamped ``t`` is emitted in step ``t / h - 1``; only stamps in
    ``(start, stop]`` are emitted (NEST's ``is_active``).
    """
    stamps = np.round(np.asarray(values["spike_times"], np.float64) / h).astype(np.int64)
    value = np.ones(len(stamps))
    for key in ("spike_multiplicities", "spike_weights"):
        if len(values[key]):
            value = value * np.asarray(values[key], np.float64)
    start = round(values["start"] / h)
    stop = round(values["stop"] / h) if math.isfinite(values["stop"]) else 2**62
    keep = (stamps > start) & (stamps <= stop)
    return stamps[keep] - 1, value[keep]


def check_kind(name: str, model: str) -> None:
    check_one_of(name, model, (*MODEL_NAMES, *DEVICES))
