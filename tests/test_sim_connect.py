"""Connection rules: exact counts and statistics, keyed streams independent of sharding, CSR."""

import numpy as np
import pytest

from snnjax.sim._connect import CSR, ConnSpec, connect, to_csr
from snnjax.sim._random import lognormal, normal, redraw, uniform

H = 0.1


def _all(conn, n_src=50, n_tgt=40, weight=1.0, delay=1.5, seed=3, same=False, shards=1):
    """Build on ``shards`` shards (round-robin targets) and merge, in target-major order."""
    sources = np.arange(n_src)
    targets = sources if same else np.arange(n_src, n_src + n_tgt)
    parts = [
        connect(seed, 7, sources, targets, targets[s::shards], conn, weight, delay, H)
        for s in range(shards)
    ]
    keys = ("source", "target", "weight", "delay")
    merged = {k: np.concatenate([getattr(p, k) for p in parts]) for k in keys}
    order = np.lexsort((merged["source"], merged["weight"], merged["target"]))
    return {k: v[order] for k, v in merged.items()}, sources, targets


RULES = [
    ConnSpec("fixed_indegree", indegree=5, allow_autapses=False),
    ConnSpec("fixed_indegree", indegree=5, allow_multapses=False, allow_autapses=False),
    ConnSpec("fixed_total_number", N=600),
    ConnSpec("fixed_outdegree", outdegree=4, allow_autapses=False),
    ConnSpec("pairwise_bernoulli", p=0.2, allow_autapses=False),
    ConnSpec("all_to_all", allow_autapses=False),
    ConnSpec("one_to_one"),
]


@pytest.mark.parametrize("conn", RULES, ids=lambda c: f"{c.rule}-{c.allow_multapses}")
@pytest.mark.parametrize("shards", [2, 3])
def test_network_is_independent_of_sharding(conn, shards):
    w = normal(mean=1.0, std=0.3)
    d = redraw(normal(mean=1.5, std=0.75), min=0.1, max=25.0)
    one, _, _ = _all(conn, weight=w, delay=d, same=True)
    split, _, _ = _all(conn, weight=w, delay=d, same=True, shards=shards)
    for key in one:
        np.testing.assert_array_equal(one[key], split[key])


def test_fixed_indegree_exact_and_without_autapses():
    syn, sources, _targets = _all(
        ConnSpec("fixed_indegree", indegree=7, allow_autapses=False), same=True
    )
    np.testing.assert_array_equal(np.bincount(syn["target"], minlength=50), 7)
    assert not np.any(syn["source"] == syn["target"])
    assert set(syn["source"]) <= set(sources)


def test_fixed_indegree_without_multapses_is_distinct():
    syn, _, _ = _all(ConnSpec("fixed_indegree", indegree=30, allow_multapses=False))
    for t in np.unique(syn["target"]):
        src = syn["source"][syn["target"] == t]
        assert len(src) == len(set(src)) == 30


def test_fixed_total_number_and_outdegree_totals():
    syn, _, _ = _all(ConnSpec("fixed_total_number", N=1234), shards=3)
    assert len(syn["source"]) == 1234
    syn, sources, _ = _all(ConnSpec("fixed_outdegree", outdegree=6), shards=2)
    np.testing.assert_array_equal(np.bincount(syn["source"], minlength=len(sources)), 6)


def test_pairwise_bernoulli_rate():
    syn, _, _ = _all(ConnSpec("pairwise_bernoulli", p=0.1), n_src=400, n_tgt=300)
    n, p = 400 * 300, 0.1
    assert abs(len(syn["source"]) - n * p) < 5 * np.sqrt(n * p * (1 - p))


def test_deterministic_per_seed():
    conn = ConnSpec("fixed_indegree", indegree=5)
    a, _, _ = _all(conn, seed=1)
    b, _, _ = _all(conn, seed=1)
    c, _, _ = _all(conn, seed=2)
    np.testing.assert_array_equal(a["source"], b["source"])
    assert not np.array_equal(a["source"], c["source"])


def test_weight_and_delay_distributions():
    conn = ConnSpec("fixed_indegree", indegree=200)
    syn, _, _ = _all(conn, weight=normal(mean=87.8, std=8.78), delay=uniform(min=0.5, max=2.0))
    assert abs(syn["weight"].mean() - 87.8) < 0.2 and abs(syn["weight"].std() - 8.78) < 0.2
    assert syn["delay"].min() == 5 and syn["delay"].max() == 20
    syn, _, _ = _all(conn, weight=redraw(normal(mean=0.0, std=1.0), min=0.0, max=0.5))
    assert syn["weight"].min() >= 0.0 and syn["weight"].max() <= 0.5
    syn, _, _ = _all(conn, weight=lognormal(mean=0.0, std=0.5))
    assert abs(np.log(syn["weight"]).std() - 0.5) < 0.03


def test_delays_round_to_steps_as_nest():
    syn, _, _ = _all(
        ConnSpec("one_to_one"), n_src=4, n_tgt=4, delay=np.array([0.1, 0.14, 0.15, 1.5])
    )
    assert syn["delay"].tolist() == [1, 1, 2, 15]


def test_csr_groups_by_source_and_costs_8_bytes_per_synapse():
    syn, sources, targets = _all(
        ConnSpec("fixed_indegree", indegree=20), delay=uniform(min=0.1, max=3.0), same=True
    )
    from snnjax.sim._connect import Synapses

    csr = to_csr(len(sources), Synapses(**syn), targets)
    assert isinstance(csr, CSR) and csr.n_synapses == 50 * 20
    for s in range(len(sources)):
        seg = slice(csr.ptr[s], csr.ptr[s + 1])
        np.testing.assert_array_equal(
            np.sort(targets[csr.target[seg]]), np.sort(syn["target"][syn["source"] == s])
        )
        assert np.all(np.diff(csr.delay[seg]) >= 0)
    per_syn = (csr.packed.nbytes + csr.weight.nbytes) / csr.n_synapses
    assert per_syn == 8


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: ConnSpec("fixed_in"), r"`conn_spec rule` must be one of 'one_to_one'"),
        (lambda: ConnSpec("fixed_indegree"), r"rule 'fixed_indegree' needs `indegree`"),
        (lambda: ConnSpec("pairwise_bernoulli", p=1.5), r"`p` must lie in \[0, 1\]"),
        (lambda: ConnSpec("all_to_all", p=0.5), r"`p` does not apply to rule 'all_to_all'"),
        (
            lambda: ConnSpec.from_nest({"rule": "all_to_all", "autapses": False}),
            r"`conn_spec key` must be one of",
        ),
        (lambda: _all(ConnSpec("one_to_one"), n_src=3, n_tgt=4), r"one_to_one needs as many"),
        (
            lambda: _all(ConnSpec("fixed_indegree", indegree=60, allow_multapses=False)),
            r"`indegree`=60 is impossible with 50 sources",
        ),
        (
            lambda: _all(ConnSpec("one_to_one"), n_src=2, n_tgt=2, delay=0.04),
            r"`delay` must lie in \[resolution, 255 x resolution\]",
        ),
        (lambda: _all(ConnSpec("one_to_one"), n_src=2, n_tgt=2, delay=30.0), r"`delay` must lie"),
        (lambda: normal(std=-1.0), r"`std` must lie in \[0, inf\)"),
        (lambda: redraw(normal(), min=1.0, max=0.0), r"`max` must be > `min`"),
    ],
)
def test_bad_connection_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()
