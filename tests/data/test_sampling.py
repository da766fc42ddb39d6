"""negative_sampling / NegativeSampler: never an edge, never (unless asked) a self-loop, distinct, uniform."""
import numpy as np
import pytest

from fastgnn import Graph
from fastgnn.data import NegativeSampler, negative_sampling
from fastgnn.datasets import uniform_edge_index
from fastgnn.graph.transforms import to_undirected


def edge_set(graph):
    return set(map(tuple, graph.to_edge_index().T.tolist()))


def random_graph(rng, num_nodes, num_edges, symmetric=False):
    edge_index = rng.integers(0, num_nodes, size=(2, num_edges))
    if symmetric:
        edge_index = to_undirected(edge_index, num_nodes)
    return Graph.from_edge_index(edge_index, num_nodes=num_nodes)


def complete_graph(n, self_loops=False):
    src, dst = np.meshgrid(np.arange(n), np.arange(n))
    keep = np.ones(src.shape, bool) if self_loops else src != dst
    return Graph.from_edge_index(np.stack([src[keep], dst[keep]]), num_nodes=n)


@pytest.mark.parametrize("num_nodes,num_edges,num", [(10, 20, 30), (50, 200, 500), (2000, 8000, 5000),
                                                     (7, 30, 5)])
@pytest.mark.parametrize("allow_self_loops", [False, True])
def test_never_an_edge_distinct_and_in_range(rng, num_nodes, num_edges, num, allow_self_loops):
    graph = random_graph(rng, num_nodes, num_edges)
    sampler = NegativeSampler(graph, allow_self_loops=allow_self_loops)
    num = min(num, sampler.num_available)
    pairs = negative_sampling(graph, num, rng=rng, allow_self_loops=allow_self_loops)
    assert pairs.shape == (2, num) and pairs.dtype == np.int64
    assert pairs.min() >= 0 and pairs.max() < num_nodes
    edges = edge_set(graph)
    as_tuples = list(map(tuple, pairs.T.tolist()))
    assert not edges.intersection(as_tuples)
    assert len(set(as_tuples)) == num
    if not allow_self_loops:
        assert np.all(pairs[0] != pairs[1])
    assert not sampler.is_edge(pairs).any()


def test_undirected_pairs_avoid_both_directions(rng):
    graph = random_graph(rng, 30, 120)          # not symmetric: a pair is an edge if either direction is
    sampler = NegativeSampler(graph, undirected=True)
    pairs = sampler.sample(sampler.num_available, rng)   # every undirected non-edge
    assert np.all(pairs[0] < pairs[1])
    edges = edge_set(graph)
    for j, i in pairs.T.tolist():
        assert (j, i) not in edges and (i, j) not in edges
    expected = {(a, b) for a in range(30) for b in range(a + 1, 30)
                if (a, b) not in edges and (b, a) not in edges}
    assert set(map(tuple, pairs.T.tolist())) == expected


def test_exhausts_all_non_edges_exactly(rng):
    graph = random_graph(rng, 12, 60)
    sampler = NegativeSampler(graph)
    pairs = sampler.sample(sampler.num_available, rng)
    expected = {(j, i) for j in range(12) for i in range(12) if j != i} - edge_set(graph)
    assert set(map(tuple, pairs.T.tolist())) == expected
    with pytest.raises(ValueError, match=f"only {sampler.num_available}"):
        sampler.sample(sampler.num_available + 1, rng)


@pytest.mark.parametrize("self_loops", [False, True])
def test_complete_graph_raises(self_loops):
    graph = complete_graph(6, self_loops=self_loops)
    with pytest.raises(ValueError, match="complete graph"):
        negative_sampling(graph, 1, rng=0)
    with pytest.raises(ValueError, match="complete graph"):
        negative_sampling(graph, 1, rng=0, undirected=True)
    assert negative_sampling(graph, 0, rng=0).shape == (2, 0)
    if not self_loops:   # only the loops are left
        loops = negative_sampling(graph, 6, rng=0, allow_self_loops=True)
        assert np.all(loops[0] == loops[1]) and sorted(loops[0]) == list(range(6))


def test_small_graphs():
    empty = Graph.from_edge_index(np.zeros((2, 0), np.int64), num_nodes=0)
    with pytest.raises(ValueError):
        negative_sampling(empty, 1, rng=0)
    single = Graph.from_edge_index(np.zeros((2, 0), np.int64), num_nodes=1)
    with pytest.raises(ValueError, match="complete graph"):
        negative_sampling(single, 1, rng=0)
    assert negative_sampling(single, 1, rng=0, allow_self_loops=True).tolist() == [[0], [0]]
    no_edges = Graph.from_edge_index(np.zeros((2, 0), np.int64), num_nodes=3)
    assert negative_sampling(no_edges, 6, rng=0).shape == (2, 6)


def test_bipartite(rng):
    edge_index = np.stack([rng.integers(0, 5, 8), rng.integers(0, 3, 8)])
    graph = Graph.from_edge_index(edge_index, num_src_nodes=5, num_dst_nodes=3)
    sampler = NegativeSampler(graph)
    assert sampler.num_candidates == 15          # (0, 0) etc. are not self-loops of a bipartite graph
    pairs = sampler.sample(sampler.num_available, rng)
    assert pairs[0].max() < 5 and pairs[1].max() < 3
    assert not edge_set(graph).intersection(map(tuple, pairs.T.tolist()))
    with pytest.raises(ValueError, match="square"):
        NegativeSampler(graph, undirected=True)


def test_seeded_and_reproducible():
    graph = Graph.from_edge_index(uniform_edge_index(1000, 5000, rng=0), num_nodes=1000)
    a = negative_sampling(graph, 300, rng=7)
    b = negative_sampling(graph, 300, rng=7)
    c = negative_sampling(graph, 300, rng=8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    sampler = NegativeSampler(graph)
    generator = np.random.default_rng(3)
    first, second = sampler.sample(100, generator), sampler.sample(100, generator)
    assert not np.array_equal(first, second)     # a Generator advances: a new sample each epoch


@pytest.mark.parametrize("dense", [False, True])
def test_uniform_over_non_edges(dense):
    # chi-square test of uniformity over the non-edges (rejection path and enumeration path)
    rng = np.random.default_rng(0)
    n = 8
    graph = random_graph(rng, n, 40 if dense else 6)
    sampler = NegativeSampler(graph)
    counts = {}
    draws = 3000
    for _ in range(draws):
        for pair in map(tuple, sampler.sample(1, rng).T.tolist()):
            counts[pair] = counts.get(pair, 0) + 1
    assert len(counts) == sampler.num_available
    observed = np.array(list(counts.values()), float)
    expected = draws / sampler.num_available
    chi2 = float(np.sum((observed - expected) ** 2 / expected))
    dof = sampler.num_available - 1
    assert chi2 < dof + 6 * np.sqrt(2 * dof)


def test_large_sparse_graph_uses_rejection():
    # 10^6 nodes: the 10^12 candidate pairs are never enumerated
    n = 1_000_000
    graph = Graph.from_edge_index(uniform_edge_index(n, 2_000_000, rng=1), num_nodes=n)
    sampler = NegativeSampler(graph)
    pairs = sampler.sample(200_000, rng=0)
    assert pairs.shape == (2, 200_000)
    assert not sampler.is_edge(pairs).any()
    keys = pairs[0] * n + pairs[1]
    assert np.unique(keys).size == keys.size


def test_bad_arguments():
    graph = complete_graph(4)
    with pytest.raises(TypeError, match="fastgnn.Graph"):
        negative_sampling(np.zeros((2, 3), int), 1)
    with pytest.raises(ValueError, match="non-negative"):
        negative_sampling(graph, -1)
    with pytest.raises(TypeError, match="seed"):
        negative_sampling(graph, 0, rng="x")


@pytest.mark.parametrize("pairs, error, match", [
    ([[3], [0]], ValueError, r"edge_index\[0\] \(sources\) contains id 3"),
    ([[0], [5]], ValueError, r"edge_index\[1\] \(destinations\) contains id 5"),
    ([[-1], [0]], ValueError, "negative id"),
    ([[0], [-3]], ValueError, "negative id"),
    ([[0.5], [1.0]], TypeError, "integer dtype"),
    ([[0, 1, 2]], ValueError, "shape"),
])
def test_is_edge_checks_the_pairs(pairs, error, match):
    # 3 nodes: the key src * 3 + dst of an out-of-range pair aliases a real edge, (3, 0) -> (1, 0)
    sampler = NegativeSampler(Graph.from_edge_index([[1, 0], [0, 2]], num_nodes=3))
    assert sampler.is_edge([[1], [0]]).all()
    with pytest.raises(error, match=match):
        sampler.is_edge(np.array(pairs))
