"""Writing the embedded datasets to disk in the real datasets' formats.

``randman`` is written as SHD (``root/randman/SHD/shd_{train,test}.h5``) and ``digits``
as N-MNIST (``root/digits/NMNIST/{Train,Test}/<label>/<index>.bin``), so that
:func:`~snnjax.data.load_dataset` reads them through the same tonic classes as the real
datasets. ``root/<name>/params.json`` records the seed and parameters.
"""

import json
import os
import pathlib

from ._config import EMBEDDED, get_spec
from ._formats import atomic_directory, encode_nmnist_events, write_hsd_h5

__all__ = ["ensure_embedded", "make_embedded"]

_FORMAT_VERSION = 1


def _generator(name: str):
    """The generator module of ``name`` (imported lazily: digits needs scikit-learn)."""
    if name == "randman":
        from . import _randman

        return _randman.RANDMAN_DEFAULTS, _randman.check_params
    from . import _digits

    return _digits.DIGITS_DEFAULTS, _digits.check_params


def make_embedded(
    name: str,
    root: str | os.PathLike,
    *,
    seed: int = 0,
    overwrite: bool = False,
    **params,
) -> pathlib.Path:
    """Generate an embedded dataset and write it under ``root/<name>``.

    Deterministic: the same ``seed`` and parameters write identical files. The folder is
    written to a temporary name and renamed, so it is never left half-written.

    Args:
        name: ``"randman"`` or ``"digits"``.
        root: the data directory.
        seed: the random seed.
        overwrite: replace an existing folder generated with other settings.
        **params: generator parameters overriding the defaults
            (:data:`~snnjax.data._randman.RANDMAN_DEFAULTS`,
            :data:`~snnjax.data._digits.DIGITS_DEFAULTS`).

    Returns:
        The dataset folder ``root/<name>``.

    Raises:
        ValueError: an unknown name or parameter, or a bad value.
        FileExistsError: the folder exists with other settings and ``overwrite`` is false.

    Examples:
        >>> make_embedded("randman", "data", seed=1, n_train=200, n_test=100, overwrite=True)
        PosixPath('data/randman')
    """
    if name not in EMBEDDED:
        choices = ", ".join(repr(n) for n in EMBEDDED)
        raise ValueError(f"`name` must be one of {choices}; got {name!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"`seed` must be a non-negative integer; got {seed!r}")
    defaults, check_params = _generator(name)
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise ValueError(
            f"unknown {name} parameter(s) {', '.join(f'`{k}`' for k in unknown)}; valid: "
            f"{', '.join(sorted(defaults))}"
        )
    check_params({**defaults, **params})
    root = pathlib.Path(root).expanduser()
    target = root / name
    settings = {"format_version": _FORMAT_VERSION, "name": name, "seed": seed}
    settings["params"] = {**defaults, **params}
    if target.exists():
        if _read_settings(target) == settings:
            return target
        if not overwrite:
            raise FileExistsError(
                f"{target} exists with other settings (see {target / 'params.json'}); pass "
                "overwrite=True to replace it"
            )
    with atomic_directory(target) as tmp:
        if name == "randman":
            _write_randman(tmp, seed, params)
        else:
            _write_digits(tmp, seed, params)
        (tmp / "params.json").write_text(json.dumps(settings, indent=1, sort_keys=True) + "\n")
    return target


def ensure_embedded(name: str, root: pathlib.Path) -> None:
    """Generate ``name`` with the defaults (seed 0) if ``root/<name>`` does not exist."""
    if not (root / name).exists():
        make_embedded(name, root)


def _read_settings(target: pathlib.Path):
    try:
        return json.loads((target / "params.json").read_text())
    except (OSError, ValueError):
        return None


def _write_randman(folder: pathlib.Path, seed: int, params: dict) -> None:
    from ._randman import generate_randman

    splits, used = generate_randman(seed, **params)
    reader = get_spec("randman").reader
    (folder / reader).mkdir()
    attrs = {
        "n_units": used["n_units"],
        "n_classes": used["n_classes"],
        "duration_s": used["duration_s"],
        "seed": seed,
        "generator": "snnjax.data randman",
    }
    keys = [f"manifold {c}" for c in range(used["n_classes"])]
    for split, (times, units, labels) in splits.items():
        write_hsd_h5(folder / reader / f"shd_{split}.h5", times, units, labels, keys, attrs)


def _write_digits(folder: pathlib.Path, seed: int, params: dict) -> None:
    import tonic.datasets

    from ._digits import generate_digits

    splits, _ = generate_digits(seed, **params)
    cls = tonic.datasets.NMNIST
    for split, samples in splits.items():
        base = folder / cls.__name__ / (cls.train_folder if split == "train" else cls.test_folder)
        for label in range(10):
            (base / str(label)).mkdir(parents=True)
        for i, (x, y, t, p, label) in enumerate(samples):
            (base / str(label) / f"{i:05d}.bin").write_bytes(encode_nmnist_events(x, y, t, p))
