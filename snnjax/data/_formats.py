"""The on-disk event formats tonic reads, with writers (for the embedded datasets and test
fixtures) and cheap validators that name a corrupt file before any sample is decoded.

* **N-MNIST** ``.bin`` (``tonic.io.read_mnist_file``): 5 bytes per event, big-endian bit
  fields ``x[8] | y[8] | p[1] t[23]``; timestamps in microseconds; ``y == 240`` marks a
  timestamp-overflow event (adds ``2**13`` us to the following events).
* **DVS Gesture** ``.npy`` (``tonic.datasets.DVSGesture``): an array of shape ``(n, 4)``
  with columns ``x, y, p, t``; ``t`` in milliseconds (tonic multiplies by 1000).
* **SHD / SSC** ``.h5`` (``tonic.datasets.hsd``): variable-length ``spikes/times`` (seconds)
  and ``spikes/units`` per sample, ``labels``, and ``extra/keys`` and ``extra/speaker``
  (read by the constructors).
"""

import contextlib
import os
import pathlib
import shutil
import tempfile

import h5py
import numpy as np

__all__ = [
    "HSD_KEYS",
    "check_gesture_npy",
    "check_hsd_h5",
    "check_nmnist_bin",
    "encode_nmnist_events",
    "write_hsd_h5",
]

#: The datasets an SHD/SSC file must hold for tonic's ``HSD`` readers.
HSD_KEYS = ("spikes/times", "spikes/units", "labels", "extra/keys", "extra/speaker")

_NMNIST_T_MAX = 2**23  # 23-bit timestamps


def encode_nmnist_events(x, y, t, p) -> bytes:
    """Encode events as N-MNIST ``.bin`` bytes (5 bytes per event, in the given order).

    Args:
        x, y: pixel coordinates in ``[0, 256)``; ``y == 240`` is reserved (overflow marker).
        t: timestamps in microseconds in ``[0, 2**23)``.
        p: polarities, 0 or 1.

    Returns:
        The file contents.
    """
    x, y, t, p = (np.asarray(a, dtype=np.int64) for a in (x, y, t, p))
    if not (x.shape == y.shape == t.shape == p.shape and x.ndim == 1):
        raise ValueError("`x`, `y`, `t`, `p` must be 1-D arrays of one length")
    if x.size and (x.min() < 0 or x.max() > 255 or y.min() < 0 or y.max() > 255):
        raise ValueError("N-MNIST coordinates `x`, `y` must lie in [0, 255]")
    if np.any(y == 240):
        raise ValueError("`y` == 240 is reserved for N-MNIST timestamp-overflow events")
    if t.size and (t.min() < 0 or t.max() >= _NMNIST_T_MAX):
        raise ValueError(f"N-MNIST timestamps `t` must lie in [0, {_NMNIST_T_MAX}) us")
    if np.any((p != 0) & (p != 1)):
        raise ValueError("N-MNIST polarities `p` must be 0 or 1")
    raw = np.empty((x.size, 5), dtype=np.uint8)
    raw[:, 0] = x
    raw[:, 1] = y
    raw[:, 2] = (p << 7) | ((t >> 16) & 0x7F)
    raw[:, 3] = (t >> 8) & 0xFF
    raw[:, 4] = t & 0xFF
    return raw.tobytes()


def check_nmnist_bin(path: pathlib.Path) -> None:
    """Raise a ``ValueError`` naming ``path`` unless its size is a multiple of 5 bytes."""
    size = os.path.getsize(path)
    if size % 5:
        raise ValueError(
            f"corrupt N-MNIST event file {path}: {size} bytes is not a multiple of the "
            "5 bytes per event (truncated?)"
        )


def check_gesture_npy(path: pathlib.Path) -> None:
    """Raise a ``ValueError`` naming ``path`` unless it holds a complete ``(n, 4)`` array.

    Reads only the ``.npy`` header and compares the file size with the array it announces.
    """
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
            offset = f.tell()
    except (ValueError, OSError, EOFError, SyntaxError) as err:
        raise ValueError(f"corrupt DVS Gesture file {path}: not a .npy array ({err})") from err
    if len(shape) != 2 or shape[1] != 4 or dtype.hasobject or fortran:
        raise ValueError(
            f"corrupt DVS Gesture file {path}: expected a C-order array of shape (n, 4) "
            f"with columns x, y, p, t; got shape {shape}, dtype {dtype}"
        )
    expected = offset + shape[0] * 4 * dtype.itemsize
    if os.path.getsize(path) < expected:
        raise ValueError(
            f"corrupt DVS Gesture file {path}: truncated ({os.path.getsize(path)} bytes, "
            f"the header announces {expected})"
        )


def check_hsd_h5(path: pathlib.Path, n_classes: int | None = None) -> int:
    """Check an SHD/SSC ``.h5`` file; returns its number of samples.

    Raises:
        ValueError: naming ``path``, if it is not HDF5, lacks one of :data:`HSD_KEYS`, its
            per-sample datasets differ in length, or a label lies outside ``[0, n_classes)``.
    """
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise ValueError(f"corrupt SHD/SSC file {path}: not a readable HDF5 file ({err})") from err
    with f:
        missing = [key for key in HSD_KEYS if key not in f]
        if missing:
            raise ValueError(
                f"corrupt SHD/SSC file {path}: missing dataset(s) {', '.join(missing)} "
                f"(expected {', '.join(HSD_KEYS)})"
            )
        lengths = {key: len(f[key]) for key in ("spikes/times", "spikes/units", "labels")}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"corrupt SHD/SSC file {path}: sample counts differ: {lengths}")
        if n_classes is not None and lengths["labels"]:
            labels = f["labels"][()]
            if labels.min() < 0 or labels.max() >= n_classes:
                raise ValueError(
                    f"corrupt SHD/SSC file {path}: labels must lie in [0, {n_classes}); "
                    f"got [{labels.min()}, {labels.max()}]"
                )
        return lengths["labels"]


def write_hsd_h5(
    path: pathlib.Path,
    times: list[np.ndarray],
    units: list[np.ndarray],
    labels: np.ndarray,
    keys: list[str],
    attrs: dict | None = None,
) -> None:
    """Write samples in the SHD/SSC ``.h5`` layout tonic's ``SHD``/``SSC`` classes read.

    Args:
        path: the file to write.
        times: per sample, spike times in seconds (sorted, as in the real files).
        units: per sample, the unit (channel) index of each spike.
        labels: one label per sample.
        keys: the class names (``extra/keys``).
        attrs: optional file attributes (the embedded randman records its parameters here).
    """
    if not len(times) == len(units) == len(labels):
        raise ValueError("`times`, `units` and `labels` must have one entry per sample")
    with h5py.File(path, "w") as f:
        t = f.create_dataset("spikes/times", (len(times),), dtype=h5py.vlen_dtype(np.float32))
        u = f.create_dataset("spikes/units", (len(units),), dtype=h5py.vlen_dtype(np.uint16))
        for i, (ti, ui) in enumerate(zip(times, units, strict=True)):
            t[i] = np.asarray(ti, dtype=np.float32)
            u[i] = np.asarray(ui, dtype=np.uint16)
        f.create_dataset("labels", data=np.asarray(labels, dtype=np.uint16))
        f.create_dataset("extra/keys", data=np.array([k.encode() for k in keys]))
        f.create_dataset("extra/speaker", data=np.zeros(len(labels), dtype=np.uint16))
        for key, value in (attrs or {}).items():
            f.attrs[key] = value


@contextlib.contextmanager
def atomic_directory(target: pathlib.Path):
    """Yield a fresh folder beside ``target`` that replaces it only if the block succeeds."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        yield tmp
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
