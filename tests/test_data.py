"""snnjax.data: tonic-read fixtures in each real on-disk format, errors, cache, embedded
datasets, baselines, batching and prefetching.

The fixtures are written here by hand in the formats tonic's classes read (not with
snnjax's own writers), so that the tests check snnjax's reading against the formats.
"""

import json
import threading
import time
import zipfile

import h5py
import jax
import numpy as np
import pytest
import tonic.datasets
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

import snnjax.data as sd
from snnjax.data import _load

# --------------------------------------------------------------------------- fixtures


def nmnist_bytes(events) -> bytes:
    """N-MNIST .bin encoding of (x, y, p, t_us) rows, written independently of snnjax."""
    out = bytearray()
    for x, y, p, t in events:
        out += bytes([x, y, (p << 7) | (t >> 16), (t >> 8) & 0xFF, t & 0xFF])
    return bytes(out)


def write_nmnist(root, folder, samples, base="NMNIST"):
    """``root/NMNIST/<folder>/<label>/<i>.bin`` for (label, events) samples."""
    for i, (label, events) in enumerate(samples):
        path = root / base / folder / str(label) / f"{i:03d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(nmnist_bytes(events))


def write_gesture(root, folder, samples):
    """``root/DVSGesture/<folder>/<user_dir>/<label>.npy`` for (user_dir, label, rows)."""
    for user_dir, label, rows in samples:
        path = root / "DVSGesture" / folder / user_dir / f"{label}.npy"
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, np.asarray(rows, dtype=np.int64).reshape(-1, 4))


def write_h5(path, times, units, labels, *, skip=()):
    """An SHD/SSC-layout .h5 file, optionally without some datasets."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        if "spikes/times" not in skip:
            t = f.create_dataset("spikes/times", (len(times),), h5py.vlen_dtype(np.float32))
            for i, ti in enumerate(times):
                t[i] = np.asarray(ti, np.float32)
        if "spikes/units" not in skip:
            u = f.create_dataset("spikes/units", (len(units),), h5py.vlen_dtype(np.uint16))
            for i, ui in enumerate(units):
                u[i] = np.asarray(ui, np.uint16)
        f["labels"] = np.asarray(labels, np.uint16)
        f["extra/keys"] = np.array([b"k%d" % i for i in range(35)])
        f["extra/speaker"] = np.zeros(len(labels), np.uint16)


NMNIST_A = [(1, 2, 1, 0), (5, 7, 0, 150_000), (5, 7, 0, 150_010), (33, 33, 1, 319_999)]
NMNIST_B = [(0, 0, 0, 10), (3, 4, 1, 20)]


@pytest.fixture
def nmnist_root(tmp_path):
    write_nmnist(tmp_path, "Train", [(0, NMNIST_A), (3, NMNIST_B)])
    write_nmnist(tmp_path, "Test", [(7, NMNIST_B)])
    return tmp_path


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    """The default randman and digits (seed 0), generated once, loaded with a cache."""
    root = tmp_path_factory.mktemp("data")
    cache = tmp_path_factory.mktemp("cache")
    out = {}
    for name, frames in (
        ("randman", sd.FrameConfig(n_time_bins=50)),
        ("digits", sd.FrameConfig(n_time_bins=30)),
    ):
        out[name] = tuple(
            sd.load_dataset(name, root, split, frames, cache_dir=cache)
            for split in ("train", "test")
        )
    return root, cache, out


# ------------------------------------------------------------------ real formats


def test_nmnist_frames_by_hand(nmnist_root):
    frames = sd.FrameConfig(time_window=80_000.0)  # T = ceil(320 ms / 80 ms) = 4
    ds = sd.load_dataset("nmnist", nmnist_root, "train", frames)
    assert ds.x.shape == (2, 4, 2, 34, 34) and ds.x.dtype == np.float32
    assert ds.y.tolist() == [0, 3] and ds.y.dtype == np.int32
    assert (ds.n_classes, ds.sensor_size, ds.name, ds.split) == (10, (34, 34, 2), "nmnist", "train")
    expected = np.zeros((4, 2, 34, 34), np.float32)  # [T, P, H, W]
    expected[0, 1, 2, 1] = 1  # x=1, y=2, ON at 0 us
    expected[1, 0, 7, 5] = 2  # two OFF events at 150 ms
    expected[3, 1, 33, 33] = 1  # 319.999 ms: last bin
    np.testing.assert_array_equal(ds.x[0], expected)
    assert ds.x[1].sum() == 2 and ds.x[1, 0, 1, 4, 3] == 1
    test = sd.load_dataset("nmnist", nmnist_root, "test", frames)
    assert test.y.tolist() == [7] and test.x.shape == (1, 4, 2, 34, 34)


def test_nmnist_tonic_time_bins_and_downsample(nmnist_root):
    # tonic's n_time_bins: the sample's own span [0, 319999] in bins of 319999 // 2 us;
    # the last event falls outside the last bin (tonic's behaviour, documented).
    ds = sd.load_dataset("nmnist", nmnist_root, "train", sd.FrameConfig(n_time_bins=2))
    assert ds.x.shape == (2, 2, 2, 34, 34)
    assert ds.x[0, 0].sum() == 3 and ds.x[0, 1].sum() == 0
    # Downsample(spatial_factor=0.5): coordinates halved and truncated; 34 -> 17 pixels.
    half = sd.FrameConfig(time_window=80_000.0, spatial_factor=0.5)
    ds = sd.load_dataset("nmnist", nmnist_root, "train", half)
    assert ds.x.shape == (2, 4, 2, 17, 17) and ds.sensor_size == (17, 17, 2)
    assert ds.x[0, 3, 1, 16, 16] == 1 and ds.x[0, 1, 0, 3, 2] == 2


def test_nmnist_denoise(tmp_path):
    # tonic's Denoise keeps an event if a 4-neighbour fired within filter_time before it
    # (its memory starts at filter_time, so use times after it).
    events = [(5, 5, 1, 10_000), (6, 5, 1, 10_200), (20, 20, 1, 10_300)]
    write_nmnist(tmp_path, "Train", [(1, events)])
    frames = sd.FrameConfig(time_window=320_000.0, denoise_us=1000.0)
    ds = sd.load_dataset("nmnist", tmp_path, "train", frames)
    assert ds.x.sum() == 1 and ds.x[0, 0, 1, 5, 6] == 1


def test_nmnist_archive_is_extracted_locally(tmp_path):
    folder = tmp_path / "NMNIST"
    folder.mkdir()
    with zipfile.ZipFile(folder / "train.zip", "w") as z:
        z.writestr("Train/4/a.bin", nmnist_bytes(NMNIST_B))
    ds = sd.load_dataset("nmnist", tmp_path, "train", sd.FrameConfig(time_window=320_000.0))
    assert ds.y.tolist() == [4] and ds.x.sum() == 2
    assert (folder / "Train" / "4" / "a.bin").is_file()


def test_dvsgesture_frames_by_hand(tmp_path):
    rows_a = [(10, 20, 1, 5), (10, 20, 1, 6), (127, 0, 0, 2999)]  # x, y, p, t (ms)
    rows_b = [(0, 1, 0, 100)]
    write_gesture(tmp_path, "ibmGestureTrain", [("user02_led", 10, rows_b)])
    write_gesture(tmp_path, "ibmGestureTrain", [("user01_fluorescent", 3, rows_a)])
    frames = sd.FrameConfig(time_window=1_000_000.0)  # T = 6 s / 1 s
    ds = sd.load_dataset("dvsgesture", tmp_path, "train", frames)
    assert ds.x.shape == (2, 6, 2, 128, 128) and ds.n_classes == 11
    assert ds.y.tolist() == [3, 10]  # sorted by path: user01 before user02
    expected = np.zeros((6, 2, 128, 128), np.float32)
    expected[0, 1, 20, 10] = 2  # 5 ms and 6 ms
    expected[2, 0, 0, 127] = 1  # 2.999 s
    np.testing.assert_array_equal(ds.x[0], expected)
    assert ds.x[1, 0, 0, 1, 0] == 1


@pytest.mark.parametrize(
    ("name", "split", "n_classes"), [("shd", "test", 20), ("ssc", "valid", 35)]
)
def test_hsd_frames_by_hand(tmp_path, name, split, n_classes):
    times = [[0.0, 0.25, 0.5], [], [0.75]]  # seconds (exact in float32)
    units = [[0, 699, 3], [], [1]]
    folder = name.upper()
    write_h5(tmp_path / folder / f"{name}_{split}.h5", times, units, [5, 0, n_classes - 1])
    frames = sd.FrameConfig(n_time_bins=4, duration=1_000_000.0)  # 250 ms bins
    ds = sd.load_dataset(name, tmp_path, split, frames)
    assert ds.x.shape == (3, 4, 700) and ds.sensor_size == (700, 1, 1)
    assert ds.y.tolist() == [5, 0, n_classes - 1] and ds.n_classes == n_classes
    expected = np.zeros((4, 700), np.float32)
    expected[0, 0] = expected[1, 699] = expected[2, 3] = 1
    np.testing.assert_array_equal(ds.x[0], expected)
    assert ds.x[1].sum() == 0  # a sample without spikes: empty frames
    assert ds.x[2, 3, 1] == 1
    # Downsample on channels: 700 -> floor(699 * 0.1) + 1 = 70.
    small = sd.FrameConfig(n_time_bins=4, duration=1_000_000.0, spatial_factor=0.1)
    ds = sd.load_dataset(name, tmp_path, split, small)
    assert ds.x.shape == (3, 4, 70) and ds.x[0, 1, 69] == 1


# ---------------------------------------------------------------------- errors


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr("tonic.download_utils.download_url", refuse)
    monkeypatch.setattr("tonic.download_utils.download_and_extract_archive", refuse)
    monkeypatch.setattr("urllib.request.urlopen", refuse)


@pytest.mark.parametrize(
    ("name", "split", "expected"),
    [
        ("nmnist", "train", ["NMNIST", "Train", ".bin", "train.zip"]),
        ("nmnist", "test", ["NMNIST", "Test", "test.zip"]),
        ("dvsgesture", "train", ["DVSGesture", "ibmGestureTrain", ".npy"]),
        ("shd", "train", ["SHD", "shd_train.h5"]),
        ("ssc", "valid", ["SSC", "ssc_valid.h5"]),
    ],
)
def test_missing_files_fail_fast_offline(tmp_path, no_network, name, split, expected):
    start = time.perf_counter()
    with pytest.raises(FileNotFoundError) as info:
        sd.load_dataset(name, tmp_path, split, sd.FrameConfig(n_time_bins=10))
    assert time.perf_counter() - start < 2.0
    message = str(info.value)
    assert repr(name) in message and str(tmp_path) in message
    for text in expected:
        assert text in message


def test_tonic_readers_never_download(tmp_path, no_network):
    # Even constructed directly, the offline readers refuse to download.
    from snnjax.data._tonic import _READERS

    for name, reader in _READERS.items():
        assert reader.__name__ == name and issubclass(reader, getattr(tonic.datasets, name))
        with pytest.raises(RuntimeError, match="never downloads"):
            reader.download(reader.__new__(reader))


def test_corrupt_h5_names_file(tmp_path):
    path = tmp_path / "SHD" / "shd_train.h5"
    write_h5(path, [[0.1]], [[1]], [0], skip=("spikes/times",))
    with pytest.raises(ValueError, match="spikes/times") as info:
        sd.load_dataset("shd", tmp_path, "train", sd.FrameConfig(n_time_bins=4))
    assert str(path) in str(info.value)
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 20)  # truncated
    with pytest.raises(ValueError, match="not a readable HDF5") as info:
        sd.load_dataset("shd", tmp_path, "train", sd.FrameConfig(n_time_bins=4))
    assert str(path) in str(info.value)


def test_h5_bad_labels_name_file(tmp_path):
    path = tmp_path / "SHD" / "shd_test.h5"
    write_h5(path, [[0.1]], [[1]], [20])  # SHD has 20 classes
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 20\)") as info:
        sd.load_dataset("shd", tmp_path, "test", sd.FrameConfig(n_time_bins=4))
    assert str(path) in str(info.value)


def test_truncated_bin_names_file(nmnist_root):
    path = nmnist_root / "NMNIST" / "Train" / "3" / "001.bin"
    path.write_bytes(path.read_bytes()[:-2])
    with pytest.raises(ValueError, match="not a multiple of the 5 bytes") as info:
        sd.load_dataset("nmnist", nmnist_root, "train", sd.FrameConfig(n_time_bins=4))
    assert str(path) in str(info.value)


def test_bin_outside_label_folder_names_file(nmnist_root):
    path = nmnist_root / "NMNIST" / "Train" / "stray.bin"
    path.write_bytes(nmnist_bytes(NMNIST_B))
    with pytest.raises(ValueError, match="label digit") as info:
        sd.load_dataset("nmnist", nmnist_root, "train", sd.FrameConfig(n_time_bins=4))
    assert str(path) in str(info.value)


def test_bad_npy_names_file(tmp_path):
    folder = tmp_path / "DVSGesture" / "ibmGestureTest" / "user01_led"
    folder.mkdir(parents=True)
    np.save(folder / "0.npy", np.zeros((5, 3)))  # wrong shape
    frames = sd.FrameConfig(n_time_bins=4)
    with pytest.raises(ValueError, match=r"shape \(n, 4\)") as info:
        sd.load_dataset("dvsgesture", tmp_path, "test", frames)
    assert str(folder / "0.npy") in str(info.value)
    np.save(folder / "0.npy", np.zeros((50, 4)))
    (folder / "0.npy").write_bytes((folder / "0.npy").read_bytes()[:-40])  # truncated
    with pytest.raises(ValueError, match="truncated") as info:
        sd.load_dataset("dvsgesture", tmp_path, "test", frames)
    assert str(folder / "0.npy") in str(info.value)
    np.save(folder / "0.npy", np.zeros((5, 4)))
    (folder.parent / "notes").mkdir()  # tonic would split "notes" into user and lighting
    with pytest.raises(ValueError, match="user<NN>_<lighting>") as info:
        sd.load_dataset("dvsgesture", tmp_path, "test", frames)
    assert str(folder.parent / "notes") in str(info.value)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (
            lambda r: sd.load_dataset("mnist", r, "train", sd.FrameConfig(4)),
            "`name` must be one of",
        ),
        (lambda r: sd.load_dataset("nmnist", r, "valid", sd.FrameConfig(4)), "`split` of 'nmnist'"),
        (lambda r: sd.load_dataset("ssc", r, "val", sd.FrameConfig(4)), "'train', 'valid', 'test'"),
        (lambda r: sd.load_dataset("shd", r, "train", {"n_time_bins": 4}), "`frames` must be"),
        (
            lambda r: sd.load_dataset("shd", r, "train", sd.FrameConfig(4, denoise_us=1e3)),
            "`denoise_us` needs an event camera",
        ),
        (lambda r: sd.FrameConfig(n_time_bins=0), "`n_time_bins` must be a positive integer"),
        (lambda r: sd.FrameConfig(n_time_bins=-3), "`n_time_bins` must be a positive integer"),
        (lambda r: sd.FrameConfig(n_time_bins=2.5), "`n_time_bins` must be a positive integer"),
        (lambda r: sd.FrameConfig(n_time_bins=True), "`n_time_bins` must be a positive integer"),
        (lambda r: sd.FrameConfig(), "exactly one of `n_time_bins`, `time_window`"),
        (lambda r: sd.FrameConfig(4, time_window=1e3), "exactly one of `n_time_bins`"),
        (lambda r: sd.FrameConfig(time_window=-1.0), "`time_window` must be a positive number"),
        (lambda r: sd.FrameConfig(4, spatial_factor=2.0), r"`spatial_factor` .* in \(0, 1\]"),
        (lambda r: sd.FrameConfig(4, denoise_us=0.0), "`denoise_us` must be a positive"),
        (lambda r: sd.FrameConfig(4, duration=float("inf")), "`duration` must be a positive"),
        (lambda r: sd.make_embedded("nmnist", r), "`name` must be one of 'randman', 'digits'"),
        (lambda r: sd.make_embedded("randman", r, n_unit=3), "`n_unit`; valid: alpha"),
        (lambda r: sd.make_embedded("randman", r, n_units=0), "`n_units` must be a positive"),
        (lambda r: sd.make_embedded("digits", r, seed=-1), "`seed` must be a non-negative"),
    ],
)
def test_bad_arguments_before_any_file(tmp_path, monkeypatch, call, match):
    def touched(*args, **kwargs):
        raise AssertionError("a file was looked up before the arguments were checked")

    monkeypatch.setattr(_load, "locate", touched)
    monkeypatch.setattr(_load, "ensure_embedded", touched)
    with pytest.raises(ValueError, match=match):
        call(tmp_path / "missing")
    assert not (tmp_path / "missing").exists()


# ----------------------------------------------------------------------- cache


def test_cache_is_used_and_keyed(nmnist_root, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    frames = sd.FrameConfig(time_window=80_000.0)
    first = sd.load_dataset("nmnist", nmnist_root, "train", frames, cache_dir=cache)
    (entry,) = cache.iterdir()
    assert entry.name.startswith("nmnist-train-")
    assert {p.name for p in entry.iterdir()} == {"x.npy", "y.npy", "meta.json"}
    assert json.loads((entry / "meta.json").read_text())["frames"]["time_window"] == 80_000.0

    def no_decoding(*args, **kwargs):
        raise AssertionError("events decoded despite the cache")

    monkeypatch.setattr(_load, "_read_frames", no_decoding)
    second = sd.load_dataset("nmnist", nmnist_root, "train", frames, cache_dir=cache)
    np.testing.assert_array_equal(second.x, first.x)
    np.testing.assert_array_equal(second.y, first.y)
    assert second.sensor_size == first.sensor_size
    # Another frame config, or changed source files, is another key: decoded again.
    with pytest.raises(AssertionError, match="decoded"):
        sd.load_dataset("nmnist", nmnist_root, "train", sd.FrameConfig(4), cache_dir=cache)
    extra = nmnist_root / "NMNIST" / "Train" / "5" / "new.bin"
    extra.parent.mkdir()
    extra.write_bytes(nmnist_bytes(NMNIST_B))
    with pytest.raises(AssertionError, match="decoded"):
        sd.load_dataset("nmnist", nmnist_root, "train", frames, cache_dir=cache)


# -------------------------------------------------------------------- embedded


def _files(folder):
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


@pytest.mark.parametrize(
    ("name", "params"),
    [("randman", {"n_train": 40, "n_test": 20}), ("digits", {"n_train": 30, "n_test": 20})],
)
def test_embedded_deterministic_through_tonic(tmp_path, monkeypatch, name, params):
    a = sd.make_embedded(name, tmp_path / "a", seed=3, **params)
    b = sd.make_embedded(name, tmp_path / "b", seed=3, **params)
    c = sd.make_embedded(name, tmp_path / "c", seed=4, **params)
    assert _files(a) == _files(b)  # byte-identical files
    assert _files(a) != _files(c)
    reader = tonic.datasets.SHD if name == "randman" else tonic.datasets.NMNIST
    assert (a / reader.__name__).is_dir()
    # Read back through tonic's own __getitem__ (counted), like the real datasets.
    calls = []
    getitem = reader.__getitem__
    monkeypatch.setattr(reader, "__getitem__", lambda self, i: calls.append(i) or getitem(self, i))
    frames = sd.FrameConfig(n_time_bins=20)
    xa = sd.load_dataset(name, tmp_path / "a", "train", frames)
    xb = sd.load_dataset(name, tmp_path / "b", "train", frames)
    assert len(calls) == 2 * params["n_train"]
    np.testing.assert_array_equal(xa.x, xb.x)
    np.testing.assert_array_equal(xa.y, xb.y)
    assert xa.x.shape[:2] == (params["n_train"], 20) and set(xa.y.tolist()) <= set(range(10))
    # The same settings again: nothing rewritten; other settings need overwrite=True.
    assert sd.make_embedded(name, tmp_path / "a", seed=3, **params) == a
    with pytest.raises(FileExistsError, match="overwrite=True"):
        sd.make_embedded(name, tmp_path / "a", seed=5, **params)
    sd.make_embedded(name, tmp_path / "a", seed=4, overwrite=True, **params)
    assert _files(a) == _files(c)


def test_randman_every_unit_fires_once(embedded):
    root, _, data = embedded
    train, test = data["randman"]
    assert train.x.shape == (1000, 50, 100) and test.x.shape == (300, 50, 100)
    assert train.sensor_size == (100, 1, 1) and train.n_classes == 10
    np.testing.assert_array_equal(train.x.sum(axis=1), 1.0)  # one spike per unit
    np.testing.assert_array_equal(np.bincount(train.y), 100)  # balanced classes
    params = json.loads((root / "randman" / "params.json").read_text())
    assert params["seed"] == 0 and params["params"]["dim_manifold"] == 2
    assert (root / "randman" / "SHD" / "shd_train.h5").is_file()


def test_digits_through_nmnist_layout(embedded):
    root, _, data = embedded
    train, test = data["digits"]
    assert train.x.shape == (1497, 30, 2, 12, 12) and test.x.shape == (300, 30, 2, 12, 12)
    assert train.sensor_size == (12, 12, 2)
    assert sorted(set(train.y.tolist())) == list(range(10))
    assert len(list((root / "digits" / "NMNIST" / "Train").rglob("*.bin"))) == 1497
    events = train.x.sum(axis=(1, 2, 3, 4))
    assert events.min() > 100 and train.x[:, :, 1].sum() > 0 and train.x[:, :, 0].sum() > 0


def test_logistic_baselines(embedded):
    """Spike counts: chance on randman (every unit fires once); high on digits."""
    _, _, data = embedded
    randman = sd.logistic_baseline(*data["randman"])
    digits = sd.logistic_baseline(*data["digits"])
    print(f"logistic baseline on spike counts: randman {randman:.3f}, digits {digits:.3f}")
    assert randman <= 0.15  # chance is 0.10: counts carry no class information
    assert digits >= 0.85  # measured 0.943 (seed 0, n_time_bins=30)


def test_embedded_second_load_from_cache(embedded, monkeypatch):
    root, cache, data = embedded

    def no_decoding(*args, **kwargs):
        raise AssertionError("events decoded despite the cache")

    monkeypatch.setattr(_load, "_read_frames", no_decoding)
    again = sd.load_dataset(
        "randman", root, "test", sd.FrameConfig(n_time_bins=50), cache_dir=cache
    )
    np.testing.assert_array_equal(again.x, data["randman"][1].x)


# --------------------------------------------------------------------- batches


def _toy(n=10, t=3, f=4):
    x = np.arange(n * t * f, dtype=np.float32).reshape(n, t, f)
    return sd.FrameDataset(x, np.arange(n, dtype=np.int32) % 3, 3, (f, 1, 1), "toy")


def test_batches_time_major_and_deterministic():
    ds = _toy()
    got = list(sd.batches(ds, 4, seed=1, epoch=0))
    assert len(got) == 2  # 10 samples, drop_last
    for x, y in got:
        assert x.shape == (3, 4, 4) and x.dtype == np.float32 and x.flags.c_contiguous
        assert y.shape == (4,) and y.dtype == np.int32
        idx = (x[0, :, 0] / 12).astype(int)  # sample index from its first value
        np.testing.assert_array_equal(np.swapaxes(x, 0, 1), ds.x[idx])
        np.testing.assert_array_equal(y, ds.y[idx])
    again = list(sd.batches(ds, 4, seed=1, epoch=0))
    for (x1, y1), (x2, y2) in zip(got, again, strict=True):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)
    other = np.concatenate([x[0, :, 0] for x, _ in sd.batches(ds, 4, seed=1, epoch=1)])
    assert not np.array_equal(other, np.concatenate([x[0, :, 0] for x, _ in got]))
    seed2 = np.concatenate([x[0, :, 0] for x, _ in sd.batches(ds, 4, seed=2, epoch=0)])
    assert not np.array_equal(seed2, np.concatenate([x[0, :, 0] for x, _ in got]))
    # drop_last=False: every sample exactly once, the last batch short.
    sizes = [len(y) for _, y in sd.batches(ds, 4, seed=1, epoch=3, drop_last=False)]
    assert sizes == [4, 4, 2]
    firsts = np.concatenate(
        [x[0, :, 0] for x, _ in sd.batches(ds, 4, seed=1, epoch=3, drop_last=False)]
    )
    assert sorted((firsts / 12).astype(int).tolist()) == list(range(10))
    ordered = [x[0, :, 0] / 12 for x, _ in sd.batches(ds, 5, seed=0, epoch=0, shuffle=False)]
    np.testing.assert_array_equal(np.concatenate(ordered), np.arange(10))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"batch_size": 0, "seed": 0, "epoch": 0}, "`batch_size` must be a positive integer"),
        ({"batch_size": 2.0, "seed": 0, "epoch": 0}, "`batch_size` must be a positive integer"),
        ({"batch_size": 2, "seed": -1, "epoch": 0}, "`seed` must be a non-negative integer"),
        ({"batch_size": 2, "seed": 0, "epoch": 0.5}, "`epoch` must be a non-negative integer"),
    ],
)
def test_batches_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sd.batches(_toy(), **kwargs)


def test_prefetch_to_sharded_devices():
    ds = _toy(n=16)
    mesh = jax.make_mesh((8,), ("data",))
    shardings = (NamedSharding(mesh, P(None, "data")), NamedSharding(mesh, P("data")))
    host = list(sd.batches(ds, 8, seed=0, epoch=0))
    moved = list(sd.prefetch(sd.batches(ds, 8, seed=0, epoch=0), size=2, sharding=shardings))
    assert len(moved) == len(host) == 2
    for (xh, yh), (xd, yd) in zip(host, moved, strict=True):
        assert isinstance(xd, jax.Array) and xd.sharding == shardings[0]
        assert yd.sharding == shardings[1]
        np.testing.assert_array_equal(np.asarray(xd), xh)
        np.testing.assert_array_equal(np.asarray(yd), yh)


def test_prefetch_stops_and_propagates_errors():
    def prefetching():
        return [t for t in threading.enumerate() if t.name == "snnjax-prefetch"]

    def endless():
        i = 0
        while True:
            yield np.full(3, i, np.float32)
            i += 1

    it = sd.prefetch(endless(), size=2)
    assert float(next(it)[0]) == 0 and float(next(it)[0]) == 1
    assert prefetching()
    it.close()  # stops the background thread
    assert not prefetching()

    def failing():
        yield np.zeros(2, np.float32)
        raise RuntimeError("broken source")

    it = sd.prefetch(failing())
    next(it)
    with pytest.raises(RuntimeError, match="broken source"):
        next(it)
    with pytest.raises(ValueError, match="`size` must be a positive integer"):
        sd.prefetch(endless(), size=0)


def test_download_failure_is_reported_with_the_directory(tmp_path, monkeypatch):
    """With download=True, tonic's download runs under a socket timeout; a network failure
    becomes a FileNotFoundError naming the dataset and the directory (no real network)."""
    import socket
    import urllib.error

    seen = {}

    def fail(self, *args, **kwargs):
        seen["timeout"] = socket.getdefaulttimeout()
        raise urllib.error.URLError("network unreachable")

    monkeypatch.setattr(tonic.datasets.SHD, "download", fail)
    frames = sd.FrameConfig(n_time_bins=10)
    with pytest.raises(FileNotFoundError, match=r"dataset 'shd', split 'train': download into"):
        sd.load_dataset("shd", tmp_path, "train", frames, download=True, download_timeout=7.0)
    assert seen["timeout"] == 7.0
    assert socket.getdefaulttimeout() is None
