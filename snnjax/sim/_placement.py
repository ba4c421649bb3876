r"""Which shard owns each neuron: ``round_robin``, ``block`` or a ``partition`` of the graph.

Neurons created with ``RemoteCreate(shard, ...)`` are pinned to that shard; the others are
placed by the strategy:

``round_robin``
    the ``i``-th free neuron on shard ``i mod S`` (NEST's distribution over virtual
    processes; spreads every population evenly, so every pair of shards exchanges spikes).
``block``
    the free neurons in ``S`` contiguous blocks of (almost) equal size: populations stay
    together (NEST GPU's ``Create`` on one rank per population).
``partition``
    METIS (``pymetis``) on a coarse graph: the free neurons are cut into contiguous chunks
    (at most ``32 S`` of them, never across a population), the edge weight between two
    chunks is the *expected* number of synapses between them from each ``Connect``'s rule
    (no synapse is drawn), and METIS balances neurons while minimising the cut synapses.

The placement changes which shard does the work, never the network or its spikes (all
random draws are keyed by global neuron index; see :mod:`._exchange`).
"""

import numpy as np

from .._errors import check_one_of

PLACEMENTS = ("round_robin", "block", "partition")
_CHUNKS_PER_SHARD = 32


def expected_synapses(conn, n_src: int, n_tgt: int) -> float:
    """The expected number of synapses a ``conn_spec`` makes between the two sets."""
    return {
        "one_to_one": lambda: n_tgt,
        "all_to_all": lambda: n_src * n_tgt,
        "fixed_indegree": lambda: conn.indegree * n_tgt,
        "fixed_outdegree": lambda: conn.outdegree * n_src,
        "fixed_total_number": lambda: conn.N,
        "pairwise_bernoulli": lambda: conn.p * n_src * n_tgt,
    }[conn.rule]()


def place(
    strategy: str,
    shards: int,
    pinned: np.ndarray,
    populations: list[tuple[int, int]],
    projections: list[tuple[np.ndarray, np.ndarray, object]] = (),
) -> np.ndarray:
    """The owner shard of every neuron.

    Args:
        strategy: one of :data:`PLACEMENTS`.
        shards: number of shards ``S >= 1``.
        pinned: ``int[N]``: the shard of each neuron, ``-1`` where the strategy decides.
        populations: ``(start, stop)`` of each population in the neuron axis.
        projections: ``(sources, targets, conn_spec)`` of each neuron-to-neuron ``Connect``
            (neuron indices), used by ``partition``.

    Returns:
        ``int32[N]``.
    """
    check_one_of("placement", strategy, PLACEMENTS)
    pinned = np.asarray(pinned, np.int64)
    if pinned.size and pinned.max() >= shards:
        raise ValueError(
            f"a neuron is pinned to shard {pinned.max()}, but there are only {shards} shards "
            f"(RemoteCreate's rank must be in [0, {shards - 1}])"
        )
    out = pinned.copy()
    free = np.flatnonzero(pinned < 0)
    if shards == 1 or not len(free):
        out[free] = 0
        return out.astype(np.int32)
    if strategy == "round_robin":
        out[free] = np.arange(len(free)) % shards
    elif strategy == "block":
        out[free] = np.arange(len(free)) * shards // len(free)
    else:
        out[free] = _partition(shards, len(pinned), free, populations, projections)
    return out.astype(np.int32)


def _chunks(free: np.ndarray, populations, n_chunks: int) -> np.ndarray:
    """Chunk index of every free neuron: contiguous, never spanning two populations."""
    pop = np.searchsorted([b for _, b in populations], free, side="right")
    size = max(1, -(-len(free) // n_chunks))
    starts = np.flatnonzero(np.r_[True, (np.diff(free) != 1) | (np.diff(pop) != 0)])
    run = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(free)]))
    within = np.arange(len(free)) - starts[run]
    key = run.astype(np.int64) * (len(free) + 1) + within // size
    return np.unique(key, return_inverse=True)[1]


def _partition(shards, n, free, populations, projections) -> np.ndarray:
    import pymetis

    chunk_of_free = _chunks(free, populations, _CHUNKS_PER_SHARD * shards)
    n_chunks = int(chunk_of_free.max()) + 1
    if n_chunks <= shards:
        return chunk_of_free % shards
    chunk = np.full(n, -1, np.int64)  # pinned neurons: -1 (their edges are ignored)
    chunk[free] = chunk_of_free
    weight = np.zeros((n_chunks, n_chunks))
    for sources, targets, conn in projections:
        s, t = chunk[sources], chunk[targets]
        if conn.rule == "one_to_one":
            both = (s >= 0) & (t >= 0)
            np.add.at(weight, (s[both], t[both]), 1.0)
            continue
        s, t = s[s >= 0], t[t >= 0]
        total = expected_synapses(conn, len(sources), len(targets))
        ps = np.bincount(s, minlength=n_chunks) / len(sources)
        pt = np.bincount(t, minlength=n_chunks) / len(targets)
        weight += total * np.outer(ps, pt)
    weight = weight + weight.T
    np.fill_diagonal(weight, 0.0)
    scale = 1e6 / weight.max() if weight.max() > 0 else 1.0
    w = np.rint(weight * scale).astype(np.int64)
    rows, cols = np.nonzero(w)
    xadj = np.searchsorted(rows, np.arange(n_chunks + 1))
    vweights = np.bincount(chunk_of_free, minlength=n_chunks)
    _, parts = pymetis.part_graph(
        shards,
        pymetis.CSRAdjacency(xadj.tolist(), cols.tolist()),
        vweights=vweights.tolist(),
        eweights=w[rows, cols].tolist(),
    )
    return np.asarray(parts, np.int64)[chunk_of_free]


def cross_shard_synapses(owner: np.ndarray, ptr_rows: list[tuple[np.ndarray, int]]) -> int:
    """Synapses whose source lives on another shard than their target.

    Args:
        owner: ``int[N]`` shard of each neuron.
        ptr_rows: per shard ``(ptr, s)``: its CSR row pointers (over global sources).
    """
    total = 0
    for ptr, s in ptr_rows:
        rows = np.diff(ptr)
        total += int(rows[owner != s].sum())
    return total
