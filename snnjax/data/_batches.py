"""Time-major mini-batches in a reproducible order, and prefetching to the devices."""

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Any

import jax
import numpy as np

from ._load import FrameDataset

__all__ = ["batches", "prefetch"]


def _non_negative_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise ValueError(f"`{name}` must be a non-negative integer; got {value!r}")


def batches(
    ds: FrameDataset,
    batch_size: int,
    *,
    seed: int,
    epoch: int,
    shuffle: bool = True,
    drop_last: bool = True,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Mini-batches of one epoch, time-major.

    The order is a function of ``(seed, epoch)`` only (a permutation drawn from
    ``np.random.default_rng([seed, epoch])``), so a resumed run replays the same batches;
    every epoch has a different order.

    Args:
        ds: the dataset (``x`` is ``[N, T, *features]``).
        batch_size: samples per batch.
        seed: the data-order seed.
        epoch: the epoch number.
        shuffle: permute the samples; if false, batches follow the dataset order.
        drop_last: drop the final batch when it has fewer than ``batch_size`` samples.

    Returns:
        An iterator of ``(x, y)``: ``x`` float32 ``[T, B, *features]`` (time-major) and
        ``y`` int32 ``[B]``.

    Examples:
        >>> for x, y in batches(train, 64, seed=0, epoch=3):
        ...     assert x.shape[1] == y.shape[0] == 64  # [T, B, ...]
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer):
        raise ValueError(f"`batch_size` must be a positive integer; got {batch_size!r}")
    if batch_size <= 0:
        raise ValueError(f"`batch_size` must be a positive integer; got {batch_size!r}")
    _non_negative_int("seed", seed)
    _non_negative_int("epoch", epoch)
    n = len(ds.y)
    if shuffle:
        order = np.random.default_rng([int(seed), int(epoch)]).permutation(n)
    else:
        order = np.arange(n)
    stop = n - n % batch_size if drop_last else n
    return _iterate(ds, order, batch_size, stop)


def _iterate(ds, order, batch_size, stop):
    for start in range(0, stop, batch_size):
        idx = order[start : start + batch_size]
        x = np.ascontiguousarray(np.swapaxes(ds.x[idx], 0, 1), dtype=np.float32)
        yield x, np.asarray(ds.y[idx], dtype=np.int32)


_DONE = object()


class _Failure:
    def __init__(self, error: BaseException):
        self.error = error


def prefetch(iterator: Iterable[Any], size: int = 2, sharding: Any = None) -> Iterator[Any]:
    """Move items (e.g. ``(x, y)`` batches) to the devices ahead of use.

    A background thread pulls items from ``iterator``, calls ``jax.device_put(item,
    sharding)`` and keeps up to ``size`` of them in a queue, so that host-side batch
    assembly and host-to-device copies overlap the training step. Closing the returned
    generator (or breaking out of the loop) stops the thread; an exception in
    ``iterator`` is re-raised here.

    Args:
        iterator: any iterable of pytrees of arrays.
        size: how many items to keep ready.
        sharding: ``None`` (the default device), a ``jax.sharding.Sharding`` or device for
            every leaf, or a pytree of them matching each item (e.g. ``(x_sharding,
            y_sharding)``).

    Returns:
        An iterator of the items as ``jax.Array``\\ s.

    Examples:
        >>> mesh = jax.make_mesh((jax.device_count(),), ("data",))
        >>> x_sh = NamedSharding(mesh, P(None, "data"))  # time-major: batch is axis 1
        >>> y_sh = NamedSharding(mesh, P("data"))
        >>> for x, y in prefetch(batches(train, 64, seed=0, epoch=0), 2, (x_sh, y_sh)):
        ...     state = train_step(state, x, y)
    """
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
        raise ValueError(f"`size` must be a positive integer; got {size!r}")
    return _prefetch(iter(iterator), size, sharding)


def _prefetch(iterator, size, sharding):
    ready: queue.Queue = queue.Queue(maxsize=size)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce():
        try:
            for item in iterator:
                item = jax.device_put(item, sharding)
                if not put(item):
                    return
            put(_DONE)
        except BaseException as err:  # handed to the consumer, re-raised there
            put(_Failure(err))

    thread = threading.Thread(target=produce, name="snnjax-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = ready.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item
    finally:
        stop.set()
        thread.join()
