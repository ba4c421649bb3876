"""``load_dataset``: one split of a dataset as dense frames, read by tonic, cached on disk."""

import dataclasses
import hashlib
import json
import os
import pathlib

import h5py
import numpy as np

from ._config import (
    EMBEDDED,
    DatasetSpec,
    FrameConfig,
    check_split,
    downsampled_size,
    get_spec,
)
from ._embedded import ensure_embedded
from ._formats import atomic_directory
from ._frames import Framer
from ._tonic import SourceFiles, locate, open_reader, sample_path
from ._tonic import download as fetch

__all__ = ["FrameDataset", "load_dataset"]

_CACHE_VERSION = 1


@dataclasses.dataclass(frozen=True, eq=False)
class FrameDataset:
    """One split of a dataset as dense frames, in memory.

    Samples are stored sample-major; :func:`~snnjax.data.batches` makes time-major batches.

    Attributes:
        x: float32 event counts ``[N, T, *features]``; ``features`` is ``(P, H, W)`` for an
            event camera (tonic's frame layout) and ``(X,)`` for a 1-D sensor (SHD/SSC,
            randman).
        y: int32 labels ``[N]``.
        n_classes: number of classes.
        sensor_size: tonic's ``(x, y, p)`` sensor size after downsampling.
        name: the dataset name.
        split: the split name.
    """

    x: np.ndarray
    y: np.ndarray
    n_classes: int
    sensor_size: tuple[int, int, int]
    name: str
    split: str = ""

    def __post_init__(self):
        if self.x.ndim < 3 or self.y.shape != self.x.shape[:1]:
            raise ValueError(
                f"`x` must be [N, T, *features] and `y` [N]; got {self.x.shape}, {self.y.shape}"
            )

    def __len__(self) -> int:
        return len(self.y)

    @property
    def n_time_bins(self) -> int:
        """The number of frames ``T``."""
        return self.x.shape[1]

    @property
    def feature_shape(self) -> tuple[int, ...]:
        """The shape of one frame."""
        return self.x.shape[2:]


def load_dataset(
    name: str,
    root: str | os.PathLike,
    split: str,
    frames: FrameConfig,
    *,
    cache_dir: str | os.PathLike | None = None,
    download: bool = False,
    download_timeout: float = 60.0,
) -> FrameDataset:
    """Load one split of a dataset as dense frames.

    The files are read by tonic's own classes (``tonic.datasets.NMNIST``, ``DVSGesture``,
    ``SHD``, ``SSC``) from ``root``, laid out as tonic stores them::

        root/NMNIST/{Train,Test}/<label>/<name>.bin
        root/DVSGesture/{ibmGestureTrain,ibmGestureTest}/user<NN>_<lighting>/<label>.npy
        root/SHD/shd_{train,test}.h5
        root/SSC/ssc_{train,valid,test}.h5
        root/randman/SHD/shd_{train,test}.h5          (embedded, SHD format)
        root/digits/NMNIST/{Train,Test}/<label>/<name>.bin   (embedded, N-MNIST format)

    A downloaded archive (``NMNIST/train.zip``, ``SHD/shd_train.h5.zip``, ...) is extracted
    in place. Missing files raise at once, unless ``download=True``: then tonic's own class
    downloads them, every network operation bounded by ``download_timeout`` seconds. The embedded
    ``randman`` and ``digits`` are generated (seed 0, see :func:`make_embedded`) when their
    folder is missing, then read through the same tonic classes as the real data.

    Each sample goes through ``Denoise`` → ``Downsample`` → ``ToFrame`` (see
    :class:`FrameConfig`). With ``cache_dir``, the frames are stored in
    ``cache_dir/<name>-<split>-<key>/`` (``x.npy``, ``y.npy``, ``meta.json``), keyed by the
    dataset, split, frame options and the source files' names, sizes and modification
    times; a later call with the same key reads them back instead of decoding events.

    Args:
        name: one of :data:`DATASETS`.
        root: the data directory.
        split: ``"train"`` or ``"test"`` (SSC also ``"valid"``).
        frames: the binning options.
        cache_dir: where to cache the frames (no cache if ``None``).
        download: let tonic download missing files of a real dataset.
        download_timeout: seconds allowed for each network operation of the download.

    Returns:
        The split as a :class:`FrameDataset`.

    Raises:
        ValueError: a bad argument (before any file is read), or a corrupt file (named).
        FileNotFoundError: the files are missing; names the directory and expected files.

    Examples:
        >>> train = load_dataset("randman", "data", "train", FrameConfig(n_time_bins=50))
        >>> train.x.shape, train.y.shape
        ((1000, 50, 100), (1000,))
    """
    spec = get_spec(name)
    check_split(spec, split)
    if not isinstance(frames, FrameConfig):
        raise ValueError(f"`frames` must be a FrameConfig; got {type(frames).__name__}")
    if frames.denoise_us is not None and not spec.is_camera:
        cameras = ", ".join(repr(n) for n in ("nmnist", "dvsgesture", "digits"))
        raise ValueError(
            f"`denoise_us` needs an event camera ({cameras}); {name!r} events have no `y`"
        )
    if root is None:
        raise ValueError("`root` must be a directory path; got None")
    root = pathlib.Path(root).expanduser()
    if name in EMBEDDED:
        ensure_embedded(name, root)
    try:
        source = locate(spec, root, split)
    except FileNotFoundError:
        if not download or name in EMBEDDED:
            raise
        fetch(spec, root, split, timeout=download_timeout)
        source = locate(spec, root, split)
    spec = _resolved(spec, source)

    cache = None
    if cache_dir is not None:
        cache = (
            pathlib.Path(cache_dir).expanduser()
            / f"{name}-{split}-{_key(spec, split, frames, source)}"
        )
        cached = _read_cache(cache)
        if cached is not None:
            x, y = cached
            return _dataset(spec, frames, x, y, split)
    x, y = _read_frames(spec, source, split, frames)
    if cache is not None:
        _write_cache(cache, x, y, {"name": name, "split": split, "frames": frames.to_dict()})
    return _dataset(spec, frames, x, y, split)


def _resolved(spec: DatasetSpec, source: SourceFiles) -> DatasetSpec:
    """For randman, the sensor size, classes and duration recorded in its ``.h5`` file."""
    if spec.name != "randman":
        return spec
    with h5py.File(source.files[0], "r") as f:
        attrs = dict(f.attrs)
    if "n_units" not in attrs:
        return spec
    return dataclasses.replace(
        spec,
        sensor_size=(int(attrs["n_units"]), 1, 1),
        n_classes=int(attrs["n_classes"]),
        duration_us=float(attrs["duration_s"]) * 1e6,
    )


def _dataset(spec, frames, x, y, split) -> FrameDataset:
    sensor_size = downsampled_size(spec.sensor_size, frames.spatial_factor)
    return FrameDataset(x, y, spec.n_classes, sensor_size, spec.name, split)


def _read_frames(spec: DatasetSpec, source: SourceFiles, split: str, frames: FrameConfig):
    reader = open_reader(spec, source, split)
    framer = Framer(spec, frames, spec.sensor_size)
    n = len(reader)
    x = np.zeros((n, framer.n_frames, *framer.feature_shape), dtype=np.float32)
    y = np.zeros(n, dtype=np.int32)
    # Samples in the order of their file paths: tonic lists DVS Gesture's folders in the
    # file system's (arbitrary) order.
    paths = getattr(reader, "data", None)
    if isinstance(paths, list) and len(paths) == n:
        order = sorted(range(n), key=lambda i: str(paths[i]))
    else:
        order = range(n)
    for i, index in enumerate(order):
        try:
            events, label = reader[index]
            x[i] = framer(events)
        except Exception as err:
            raise ValueError(
                f"dataset {spec.name!r}: could not read sample {index} from "
                f"{sample_path(reader, source, index)}: {type(err).__name__}: {err}"
            ) from err
        y[i] = int(label)
    if n and (y.min() < 0 or y.max() >= spec.n_classes):
        raise ValueError(
            f"dataset {spec.name!r}: labels must lie in [0, {spec.n_classes}); "
            f"got [{y.min()}, {y.max()}] in {source.data_dir}"
        )
    return x, y


def _key(spec: DatasetSpec, split: str, frames: FrameConfig, source: SourceFiles) -> str:
    blob = json.dumps(
        {
            "version": _CACHE_VERSION,
            "name": spec.name,
            "split": split,
            "frames": frames.to_dict(),
            "sensor_size": spec.sensor_size,
            "files": source.fingerprint(),
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _read_cache(path: pathlib.Path):
    try:
        x = np.load(path / "x.npy")
        y = np.load(path / "y.npy")
    except (OSError, ValueError):
        return None  # absent or unreadable: rebuilt and overwritten
    if x.dtype != np.float32 or y.dtype != np.int32 or x.shape[:1] != y.shape:
        return None
    return x, y


def _write_cache(path: pathlib.Path, x: np.ndarray, y: np.ndarray, meta: dict) -> None:
    """Write atomically: a temporary folder renamed into place."""
    with atomic_directory(path) as tmp:
        np.save(tmp / "x.npy", x)
        np.save(tmp / "y.npy", y)
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1, sort_keys=True))
