"""The simulator: NEST's nodes and connections on the host, the functional core on the device.

:class:`Simulator` is composed of one mixin per concern, each in its own module:

* :mod:`._describe`: ``create``/``connect``/``set``/``get`` (the host description);
* :mod:`._build`: ``prepare`` (placement, keyed connectivity per shard, layout, compile) and
  the arrays that ``set`` swaps between runs;
* :mod:`._state`: reading, changing and carrying over the running state;
* :mod:`._runloop`: ``simulate``/``run`` chunk by chunk, buffer growth, exchange figures;
* :mod:`._recording`: recorders' events;
* :mod:`._synapses`: ``GetConnections``, synapse weights and delays;
* :mod:`._checkpoint`: checkpoint/restore onto any split.

Sharding: a placement (:mod:`._placement`) gives every neuron an owner shard; each shard
holds its own neurons (populations padded to the same count on every shard) and their
incoming synapses, built from keyed streams (connections by target, Poisson input by target
and step, random parameters by node id), so the network and its spikes do not depend on
how it is split. Shards are local devices (``devices=D``: ``shard_map``) or MPI ranks
(``mpi=comm``: ``mpi4jax``), exchanging spikes once per block (:mod:`._exchange`).
"""

from typing import Any

import jax
import numpy as np

from .._errors import check_one_of, check_range
from ._build import _Builder
from ._checkpoint import _Checkpointer
from ._describe import _Description, _Projection
from ._exchange import EXCHANGES
from ._native import use_native
from ._nodes import DEVICE_DEFAULTS, DEVICES, _DeviceConn, _Group, node_defaults
from ._placement import PLACEMENTS
from ._recording import _Recorder
from ._runloop import _Runner
from ._state import _StateOps
from ._synapses import _SynapseOps
from .models import get_model
from .models._common import _check_h

__all__ = ["DEVICES", "DEVICE_DEFAULTS", "Simulator", "node_defaults"]


class Simulator(_Description, _Builder, _StateOps, _Runner, _Recorder, _SynapseOps, _Checkpointer):
    """A NEST-style network: ``create``, ``connect``, ``set``/``get``, ``simulate``.

    Anything can change between runs (``set``, ``create``, ``connect``, synapse weights and
    delays); :meth:`checkpoint`/:meth:`restore` save and continue a run on any split.

    Args:
        resolution: the time step ``h`` in ms.
        seed: the seed of every random draw (connectivity, Poisson input, random
            parameters); NEST's ``rng_seed``.
        max_spikes: capacity of the spike buffer of one block of steps. ``None``: sized
            from a 100 Hz guess and grown automatically (the chunk is re-run). Set
            explicitly, an overflow raises ``RuntimeError`` with the capacity needed.
        chunk: steps per compiled chunk (rounded down to whole blocks).
        tile: synapses expanded per iteration of the delivery loop; ``None``: the synapses
            a block expands at 10 Hz, as a power of two in ``[2**12, 2**16]``.
        progress: show a progress bar over simulated time.
        devices: shard the network over this many local JAX devices (``shard_map``).
        exchange: how shards exchange spikes: ``'all_gather'``, ``'all_to_all'`` or
            ``'point_to_point'`` (:mod:`snnjax.sim._exchange`).
        placement: which shard owns each neuron: ``'round_robin'``, ``'block'`` or
            ``'partition'`` (:mod:`snnjax.sim._placement`).
        mpi: an ``mpi4py`` communicator (or ``True`` for ``COMM_WORLD``): one shard per
            rank; every rank runs the same script and builds only its own shard.
        substeps: models integrated numerically (conductance, AdEx, HH): 0 for NEST's
            adaptive RKF45 (NEST's numbers), ``k > 0`` for ``k`` fixed RK45 sub-steps per
            step (cheaper, no error control; see ``benchmarks/RESULTS.md`` for its error).
        stdp_history: spikes each neuron keeps for its plastic synapses (the first
            length; grown automatically when an update needs an older spike).
        native: spike delivery, Poisson input and the take-out of a block's inputs by
            the native CPU kernels (:mod:`snnjax.sim._native`, bit-identical to pure
            JAX), and the plastic synapses' updates where all neurons share one
            ``tau_minus`` and no ``weight_recorder`` records them and the adaptive RKF45
            of the ``iaf_cond_*`` and ``hh_*`` models (both the same to float32 rounding):
            ``None`` where they are built and the devices are CPUs, ``True`` to require
            them, ``False`` for pure JAX.
        threads: threads of the native delivery and Poisson kernels (NEST's
            ``local_num_threads``).

    Examples:
        >>> sim = Simulator(resolution=0.1, seed=1)
        >>> exc = sim.create("iaf_psc_exp", 100, {"I_e": 380.0})
        >>> rec = sim.create("spike_recorder")
        >>> sim.connect(exc, rec)
        >>> sim.simulate(100.0)
        >>> events = sim.events(rec[0])
        >>> sim.set(exc, {"I_e": 0.0})  # between runs: no recompilation
        >>> sim.simulate(50.0)
    """

    def __init__(
        self,
        resolution: float = 0.1,
        seed: int = 0,
        *,
        max_spikes: int | None = None,
        chunk: int = 1000,
        tile: int | None = None,
        progress: bool = False,
        devices: int = 1,
        exchange: str = "all_gather",
        placement: str = "round_robin",
        mpi: Any = None,
        substeps: int = 0,
        stdp_history: int = 16,
        native: bool | None = None,
        threads: int = 1,
    ):
        check_range("resolution", resolution, low=0.0, low_inclusive=False)
        check_one_of("exchange", exchange, EXCHANGES)
        check_one_of("placement", placement, PLACEMENTS)
        if not isinstance(devices, int) or devices < 1:
            raise ValueError(f"`devices` must be a positive int; got {devices!r}")
        if mpi is True:
            mpi = mpi().COMM_WORLD
        comm = mpi if mpi is not None and mpi.Get_size() > 1 else None
        if comm is not None and devices > 1:
            raise ValueError(
                f"`devices` must be 1 under MPI with {comm.Get_size()} ranks (one shard per "
                f"rank); got {devices}"
            )
        if devices > len(jax.devices()):
            raise ValueError(
                f"`devices`={devices}, but JAX sees {len(jax.devices())} device(s); on CPU "
                "set XLA_FLAGS=--xla_force_host_platform_device_count=N before JAX starts"
            )
        _check_h(resolution)  # a whole number of NEST tics
        if not isinstance(seed, int | np.integer) or seed < 0:
            raise ValueError(f"`seed` must be an int >= 0; got {seed!r}")
        for name, value in (("chunk", chunk), ("tile", tile or 1)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` must be a positive int; got {value!r}")
        if not isinstance(stdp_history, int) or stdp_history < 1:
            raise ValueError(f"`stdp_history` must be a positive int; got {stdp_history!r}")
        self.stdp_history = stdp_history
        if not isinstance(threads, int) or threads < 1:
            raise ValueError(f"`threads` must be a positive int; got {threads!r}")
        self.threads = threads
        self.native = use_native(native, jax.devices()[0].platform)
        if max_spikes is not None and (not isinstance(max_spikes, int) or max_spikes < 1):
            raise ValueError(f"`max_spikes` must be a positive int or None; got {max_spikes!r}")
        self.h, self.seed = float(resolution), int(seed)
        self.exchange, self.placement, self.comm = exchange, placement, comm
        self.shards = comm.Get_size() if comm is not None else devices
        self.rank = comm.Get_rank() if comm is not None else 0
        self.mesh = (
            jax.sharding.Mesh(np.array(jax.devices()[:devices]), ("shards",))
            if devices > 1 else None
        )  # fmt: skip
        self.stats: dict = {}
        self.max_spikes, self.chunk, self.tile, self.progress = max_spikes, chunk, tile, progress
        get_model("iaf_cond_exp", substeps=substeps)  # checks `substeps`
        self.substeps = int(substeps)
        self.groups: list[_Group] = []
        self.n_neurons = 0
        self.projections: list[_Projection] = []
        self.device_conns: list[_DeviceConn] = []
        self.watch: dict[int, set[int]] = {}  # spike_recorder id -> neuron indices
        self.sampled: dict[int, list[int]] = {}  # multimeter id -> neuron indices
        self.n_device_connections = 0
        self.t_steps = 0
        self._built = None  # the built arrays and layout (see _build.py)
        self._stale = False  # nodes or connections added since the build
        self._modified = False  # synapses changed since they were drawn
        self._csr_version = 0  # changes whenever the synapses' order may have changed
        self._slots: dict[int, tuple] = {}  # shard -> (slot of each neuron, gid, real)
        self._watched = np.zeros(0, np.int64)
        self._sample_order = None  # multimeter keys and their (shard, column), see _build
        self._spikes: list[tuple[np.ndarray, np.ndarray]] = []  # (neuron index, step)
        self._samples: list[tuple] = []  # (steps, (recordable, neuron) keys, values)
        self._weight_events: list[tuple] = []  # (projection, sender, target, step, weight)
        self._recorded_ends: dict = {}  # see _recording._synapse_ends
        self._recorder_history: dict[int, list[tuple[int, dict]]] = {}
        self._cleared: dict[int, int] = {}  # recorder id -> step its events were cleared
