"""Finding a dataset's files under ``root`` and reading them with tonic's own classes, offline.

Tonic's dataset constructors call ``self._check_exists()`` and, when that fails, download
the dataset (``urllib`` with no timeout). Its checks also demand the downloaded archive
(``NMNIST/train.zip``, ``DVSGesture/ibmGestureTrain.tar.gz``, ``SHD/shd_train.h5.zip``)
and, for N-MNIST, at least 10,000 ``.bin`` files (``tonic/datasets/nmnist.py``), which the
extracted data alone or a small dataset never satisfies. So :func:`locate` checks the files
itself first (a missing file raises a ``FileNotFoundError`` naming the directory and the
expected names, in milliseconds), and :func:`open_reader` then builds the tonic class
through a subclass of the same name whose ``_check_exists`` is ``True`` and whose
``download`` raises: tonic never touches the network. Reading (``__getitem__``), the file
layout and the labels are tonic's.
"""

import dataclasses
import pathlib
import re
import socket

import tonic.datasets
from tonic.download_utils import extract_archive

from ._config import DatasetSpec
from ._formats import check_gesture_npy, check_hsd_h5, check_nmnist_bin

__all__ = ["SourceFiles", "locate", "open_reader", "sample_path"]

_USER_DIR = re.compile(r"user\d+_.+")


@dataclasses.dataclass(frozen=True)
class SourceFiles:
    """The files one split of a dataset is read from.

    Attributes:
        save_to: the directory given to the tonic class (it appends the class name).
        data_dir: ``save_to / <tonic class name>``.
        files: the event files (sorted), or the one ``.h5`` file for SHD/SSC.
    """

    save_to: pathlib.Path
    data_dir: pathlib.Path
    files: tuple[pathlib.Path, ...]

    def fingerprint(self) -> list[tuple[str, int, int]]:
        """``(relative path, size, mtime_ns)`` of every file: part of the cache key."""
        out = []
        for path in self.files:
            st = path.stat()
            out.append((path.relative_to(self.data_dir).as_posix(), st.st_size, st.st_mtime_ns))
        return out


def _layout(spec: DatasetSpec, split: str) -> tuple[str, str, str]:
    """``(target, archive, description)`` for one split, relative to ``save_to/<class>``.

    The names are tonic's class attributes (``train_folder``/``test_folder`` and
    ``train_filename``/``test_filename`` of ``NMNIST``; ``folder_name`` and ``*_filename``
    of ``DVSGesture``; ``train_zip``/``test_zip``/``valid_zip`` of ``SHD``/``SSC``).
    """
    cls = getattr(tonic.datasets, spec.reader)
    if spec.reader == "NMNIST":
        folder = cls.train_folder if split == "train" else cls.test_folder
        archive = cls.train_filename if split == "train" else cls.test_filename
        return folder, archive, f"{folder}/<label 0-9>/<name>.bin (5 bytes per event)"
    if spec.reader == "DVSGesture":
        archive = cls.train_filename if split == "train" else cls.test_filename
        folder = archive.removesuffix(".tar.gz")
        return folder, archive, f"{folder}/user<NN>_<lighting>/<label 0-10>.npy ((n, 4) arrays)"
    archive = getattr(cls, f"{split}_zip")
    h5 = archive.removesuffix(".zip")
    return h5, archive, f"{h5} (HDF5 with spikes/times, spikes/units, labels, extra/...)"


def locate(spec: DatasetSpec, root: pathlib.Path, split: str) -> SourceFiles:
    """Find and check the files of one split, extracting a local archive if needed.

    Raises:
        FileNotFoundError: the files (and the archive) are missing; names the dataset, the
            directory and the expected file names.
        ValueError: a file is corrupt; names the file.
    """
    save_to = pathlib.Path(root).expanduser() / spec.subdir
    data_dir = save_to / spec.reader
    target_name, archive_name, description = _layout(spec, split)
    target, archive = data_dir / target_name, data_dir / archive_name
    if not target.exists() and archive.is_file():
        # Downloaded but not extracted: tonic would unpack it after downloading it again.
        extract_archive(str(archive), str(data_dir))
    if spec.reader in ("SHD", "SSC"):
        if not target.is_file():
            raise _missing(spec, split, data_dir, f"{target_name} (or the archive {archive_name})")
        check_hsd_h5(target, spec.n_classes)
        return SourceFiles(save_to, data_dir, (target,))
    suffix = ".bin" if spec.reader == "NMNIST" else ".npy"
    files = sorted(target.rglob(f"*{suffix}")) if target.is_dir() else []
    if not files:
        raise _missing(spec, split, data_dir, f"{description} (or the archive {archive_name})")
    if spec.reader == "DVSGesture":
        # tonic splits every sub-folder's name (files or not) into user and lighting.
        for folder in sorted(p for p in target.rglob("*") if p.is_dir()):
            rel = folder.relative_to(target).as_posix()
            if not _USER_DIR.fullmatch(rel):
                raise ValueError(
                    f"DVS Gesture folder {folder}: sub-folders of {target} must be named "
                    "user<NN>_<lighting> (tonic reads the user and lighting from the name)"
                )
    for path in files:
        _check_event_file(spec, target, path)
    return SourceFiles(save_to, data_dir, tuple(files))


def download(spec: DatasetSpec, root: pathlib.Path, split: str, *, timeout: float) -> None:
    """Let tonic's own class download one split into ``root``, with a network timeout.

    tonic's download (``urllib``) has no timeout of its own; a default socket timeout
    bounds every connection and read. Failures become a ``FileNotFoundError`` naming the
    dataset and the directory.
    """
    cls = getattr(tonic.datasets, spec.reader)
    kwargs = {"split": split} if spec.reader == "SSC" else {"train": split == "train"}
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        cls(save_to=str(root), **kwargs)
    except (OSError, RuntimeError, ValueError) as err:  # URLError is an OSError
        raise FileNotFoundError(
            f"dataset {spec.name!r}, split {split!r}: download into {root} failed "
            f"({type(err).__name__}: {err}); place the files there by hand (see "
            f"snnjax.data.load_dataset)"
        ) from err
    finally:
        socket.setdefaulttimeout(previous)


def _missing(spec: DatasetSpec, split: str, data_dir: pathlib.Path, what: str):
    if spec.subdir:
        hint = (
            f"Call snnjax.data.make_embedded({spec.name!r}, root, overwrite=True), or delete "
            f"{data_dir.parent} to have it regenerated"
        )
    else:
        hint = (
            f"Download it (see tonic.datasets.{spec.reader}) and place it there, or pass "
            "download=True"
        )
    return FileNotFoundError(
        f"dataset {spec.name!r}, split {split!r}: no files found in {data_dir}; expected "
        f"{what}. {hint}."
    )


def _check_event_file(spec: DatasetSpec, target: pathlib.Path, path: pathlib.Path) -> None:
    """Check one N-MNIST ``.bin`` or DVS Gesture ``.npy`` file and its label in the path."""
    if spec.reader == "NMNIST":
        # tonic: label_number = int(path[-1]) of the containing folder.
        label = path.parent.name[-1:]
        if not label.isdigit() or int(label) >= spec.n_classes:
            raise ValueError(
                f"N-MNIST file {path}: its folder must end in the label digit 0-"
                f"{spec.n_classes - 1} (tonic reads the label from the folder name)"
            )
        check_nmnist_bin(path)
        return
    # tonic: user, lighting = rel_path.split("_", 1); int(user[4:]); label = int(file[:-4]).
    rel = path.parent.relative_to(target).as_posix()
    if rel == "." or not _USER_DIR.fullmatch(rel):
        raise ValueError(
            f"DVS Gesture file {path}: must lie in a folder user<NN>_<lighting> directly "
            f"under {target} (tonic reads the user and lighting from the folder name)"
        )
    if not path.stem.isdigit() or int(path.stem) >= spec.n_classes:
        raise ValueError(
            f"DVS Gesture file {path}: its name must be the label 0-{spec.n_classes - 1} "
            "followed by .npy (tonic reads the label from the file name)"
        )
    check_gesture_npy(path)


def _refuse_download(self) -> None:
    raise RuntimeError(f"snnjax.data never downloads; {type(self).__name__} files are missing")


def _offline(cls: type) -> type:
    """A subclass named like ``cls`` (tonic stores files under ``save_to/<class name>``) that
    trusts :func:`locate`'s checks and never downloads."""
    namespace = {
        "__module__": __name__,
        "__doc__": f"``tonic.datasets.{cls.__name__}`` without downloads.",
        "_check_exists": lambda self: True,
        "download": _refuse_download,
    }
    return type(cls.__name__, (cls,), namespace)


_READERS = {
    name: _offline(getattr(tonic.datasets, name)) for name in ("NMNIST", "DVSGesture", "SHD", "SSC")
}


def open_reader(spec: DatasetSpec, source: SourceFiles, split: str):
    """The tonic dataset object for one split (files already checked by :func:`locate`)."""
    cls = _READERS[spec.reader]
    if spec.reader == "SSC":
        return cls(str(source.save_to), split=split)
    return cls(str(source.save_to), train=split == "train")


def sample_path(reader, source: SourceFiles, index: int) -> str:
    """The file (and, for SHD/SSC, the sample index) of one sample, for error messages."""
    data = getattr(reader, "data", None)
    if isinstance(data, list) and index < len(data):
        return str(data[index])
    return f"{source.files[0]} (sample {index})"
