"""Event datasets as dense, time-major frames.

Real datasets (N-MNIST, DVS Gesture, SHD, SSC) are read from files under a root folder by
tonic's own classes, never downloaded; two small embedded datasets are generated offline in
the same on-disk formats and read back through the same tonic classes:

* ``randman``: random manifolds (Zenke & Vogels 2021) as spike times, in SHD's ``.h5``;
* ``digits``: scikit-learn's 8x8 digits seen by a simulated event camera during three
  saccades, in N-MNIST's ``.bin``.

:func:`load_dataset` returns a sample-major :class:`FrameDataset` ``x[N, T, *features]``;
:func:`batches` yields time-major ``x[T, B, *features]`` in an order fixed by
``(seed, epoch)``; :func:`prefetch` moves batches to the devices ahead of use.
"""

from ._baseline import logistic_baseline as logistic_baseline
from ._batches import batches as batches
from ._batches import prefetch as prefetch
from ._config import DATASETS as DATASETS
from ._config import FrameConfig as FrameConfig
from ._embedded import make_embedded as make_embedded
from ._load import FrameDataset as FrameDataset
from ._load import load_dataset as load_dataset
