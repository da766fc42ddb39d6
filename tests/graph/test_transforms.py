import numpy as np
import pytest

from fastgnn import Graph
from fastgnn.graph.transforms import coalesce, remove_self_loops, subgraph, to_undirected


def _reference_subgraph(graph, node_ids, relabel=True):
    """Edge by edge: keep edges inside the set, in edge-id order, then stably by new destination."""
    mapping = {int(v): (t if relabel else int(v)) for t, v in enumerate(node_ids)}
    src, dst = graph.to_edge_index()
    kept = [(mapping[int(s)], mapping[int(d)], e) for e, (s, d) in enumerate(zip(src, dst))
            if int(s) in mapping and int(d) in mapping]
    kept.sort(key=lambda edge: edge[1])  # stable
    return ([s for s, _, _ in kept], [d for _, d, _ in kept], [e for _, _, e in kept])


@pytest.fixture
def weighted_graph():
    # 6 nodes, a duplicate edge (1 -> 2 twice), a self-loop (3 -> 3), and an edge into every node
    edge_index = np.array([[1, 4, 1, 0, 3, 5, 2, 1, 0, 5, 4],
                           [2, 2, 2, 1, 3, 0, 4, 4, 5, 3, 0]])
    weight = np.arange(1, 12, dtype=np.float64) / 8
    return Graph.from_edge_index(edge_index, num_nodes=6, edge_weight=weight)


def _edge_triples(graph):
    src, dst = graph.to_edge_index()
    return list(zip(src.tolist(), dst.tolist()))


@pytest.mark.parametrize("nodes", [[0, 1, 2, 4], [4, 2, 0, 1], [5], [3, 5, 4], [0, 1, 2, 3, 4, 5],
                                   [5, 4, 3, 2, 1, 0]])
def test_subgraph_matches_reference(weighted_graph, nodes):
    sub, edge_ids = subgraph(weighted_graph, np.array(nodes), return_edge_ids=True)
    ref_src, ref_dst, ref_ids = _reference_subgraph(weighted_graph, nodes)
    assert sub.num_nodes == len(nodes) and sub.is_square
    assert _edge_triples(sub) == list(zip(ref_src, ref_dst))
    assert edge_ids.tolist() == ref_ids
    assert edge_ids.dtype == np.int64
    np.testing.assert_array_equal(sub.edge_weight, weighted_graph.edge_weight[ref_ids])
    assert sub.edge_weight.dtype == np.float64


def test_subgraph_mask_equals_sorted_ids(weighted_graph):
    mask = np.array([True, True, True, False, True, False])
    by_mask, ids_mask = subgraph(weighted_graph, mask, return_edge_ids=True)
    by_ids, ids_ids = subgraph(weighted_graph, np.flatnonzero(mask), return_edge_ids=True)
    assert by_mask == by_ids
    np.testing.assert_array_equal(ids_mask, ids_ids)


def test_subgraph_relabels_in_order_of_nodes():
    # path 0 -> 1 -> 2 -> 3
    graph = Graph.from_edge_index(np.array([[0, 1, 2], [1, 2, 3]]), num_nodes=4)
    sub = subgraph(graph, [3, 2, 1])  # 3 -> 0, 2 -> 1, 1 -> 2
    assert _edge_triples(sub) == [(1, 0), (2, 1)]
    sub = subgraph(graph, [1, 2, 3])
    assert _edge_triples(sub) == [(0, 1), (1, 2)]


def test_subgraph_keeps_relative_edge_order_with_a_mask():
    # sorted selection: the kept edges keep their global edge-id order
    rng = np.random.default_rng(0)
    edge_index = rng.integers(0, 40, size=(2, 300))
    graph = Graph.from_edge_index(edge_index, num_nodes=40)
    mask = rng.random(40) < 0.5
    sub, edge_ids = subgraph(graph, mask, return_edge_ids=True)
    assert np.all(np.diff(edge_ids) > 0)
    new_id = np.cumsum(mask) - 1
    src, dst = graph.to_edge_index()
    np.testing.assert_array_equal(sub.to_edge_index(), np.stack([new_id[src[edge_ids]], new_id[dst[edge_ids]]]))


def test_subgraph_keeps_duplicates_and_self_loops(weighted_graph):
    sub = subgraph(weighted_graph, [1, 2, 3])
    assert _edge_triples(sub).count((0, 1)) == 2  # 1 -> 2 twice
    assert (2, 2) in _edge_triples(sub)  # the loop 3 -> 3


def test_subgraph_without_relabel(weighted_graph):
    sub, edge_ids = subgraph(weighted_graph, [4, 2, 1], relabel=False, return_edge_ids=True)
    ref_src, ref_dst, ref_ids = _reference_subgraph(weighted_graph, [4, 2, 1], relabel=False)
    assert sub.num_nodes == weighted_graph.num_nodes
    assert _edge_triples(sub) == list(zip(ref_src, ref_dst))
    assert edge_ids.tolist() == ref_ids


@pytest.mark.parametrize("index_dtype", ["int32", "int64"])
def test_subgraph_keeps_index_dtype_and_float32_weights(index_dtype):
    graph = Graph.from_edge_index(np.array([[0, 1, 2], [1, 2, 0]]), num_nodes=3,
                                  edge_weight=np.array([0.5, 1.5, 2.5], dtype=np.float32),
                                  index_dtype=index_dtype)
    sub = subgraph(graph, [1, 2])
    assert sub.index_dtype == np.dtype(index_dtype)
    assert sub.edge_weight.dtype == np.float32
    np.testing.assert_array_equal(sub.edge_weight, [1.5])


def test_subgraph_unweighted_stays_unweighted():
    graph = Graph.from_edge_index(np.array([[0, 1], [1, 0]]), num_nodes=2)
    assert subgraph(graph, [0, 1]).edge_weight is None


@pytest.mark.parametrize("nodes", [[], np.array([], dtype=np.int64), np.zeros(6, dtype=bool)])
def test_subgraph_empty_selection(weighted_graph, nodes):
    sub, edge_ids = subgraph(weighted_graph, nodes, return_edge_ids=True)
    assert sub.num_nodes == 0 and sub.num_edges == 0
    assert edge_ids.shape == (0,)


def test_subgraph_selection_without_edges(weighted_graph):
    sub = subgraph(weighted_graph, [0, 2])
    assert sub.num_nodes == 2 and sub.num_edges == 0
    assert sub.indptr.tolist() == [0, 0, 0]


def test_subgraph_of_empty_graph():
    graph = Graph.from_edge_index(np.zeros((2, 0), dtype=np.int64), num_nodes=0)
    assert subgraph(graph, []).num_nodes == 0


@pytest.mark.parametrize("nodes, error, match", [
    ([0, 6], ValueError, "out of range"),
    ([-1, 2], ValueError, "negative"),
    ([1, 1], ValueError, "repeated"),
    (np.ones(5, dtype=bool), ValueError, "length 6"),
    (np.array([0.0, 1.0]), TypeError, "dtype"),
    (np.array([[0, 1]]), ValueError, "1-D"),
])
def test_subgraph_bad_nodes(weighted_graph, nodes, error, match):
    with pytest.raises(error, match=match):
        subgraph(weighted_graph, nodes)


def test_subgraph_needs_a_square_graph():
    graph = Graph.from_edge_index(np.array([[0, 4], [1, 0]]), num_src_nodes=5, num_dst_nodes=2)
    with pytest.raises(ValueError, match="square"):
        subgraph(graph, [0, 1])
    with pytest.raises(TypeError, match="Graph"):
        subgraph(np.zeros((2, 2)), [0])


def test_subgraph_as_a_graph_method(weighted_graph):
    """The call ``Graph.subgraph`` is meant to forward to."""
    method = lambda self, nodes, **kw: subgraph(self, nodes, **kw)  # noqa: E731
    assert method(weighted_graph, [1, 2]) == subgraph(weighted_graph, [1, 2])
    sub, ids = method(weighted_graph, [1, 2], return_edge_ids=True)
    assert sub.num_edges == len(ids) == 2


def test_coalesce_sorts_and_deduplicates():
    edge_index = np.array([[2, 0, 2, 1, 0], [1, 3, 1, 1, 0]])
    np.testing.assert_array_equal(coalesce(edge_index), [[0, 0, 1, 2], [0, 3, 1, 1]])
    assert coalesce(np.zeros((2, 0), dtype=np.int32)).shape == (2, 0)


def test_to_undirected_and_remove_self_loops():
    edge_index = np.array([[0, 1, 2, 2, 3], [1, 0, 2, 3, 0]])
    undirected = to_undirected(edge_index)
    np.testing.assert_array_equal(undirected, [[0, 0, 1, 2, 2, 3, 3], [1, 3, 0, 2, 3, 0, 2]])
    assert undirected.dtype == np.int64
    np.testing.assert_array_equal(remove_self_loops(undirected), [[0, 0, 1, 2, 3, 3], [1, 3, 0, 3, 0, 2]])
    with pytest.raises(ValueError, match="out of range"):
        to_undirected(edge_index, num_nodes=3)
    with pytest.raises(ValueError, match="shape"):
        to_undirected(np.zeros((3, 2), dtype=np.int64))
