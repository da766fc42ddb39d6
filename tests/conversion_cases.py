"""Small graphs for the round trips through other libraries and files, and how to compare them.

Shared by tests/interop (networkx, PyG, DGL) and tests/datasets (edge lists).
"""
import numpy as np
import pytest

from fastgnn import Graph


def _graph(src, dst, num_nodes, weight=None, index_dtype=None):
    return Graph.from_edge_index(np.array([src, dst], dtype=np.int64).reshape(2, -1), num_nodes=num_nodes,
                                 edge_weight=weight, index_dtype=index_dtype)


# name -> (src, dst, num_nodes); every one is also tried weighted.
EDGE_LISTS = {
    "empty": ([], [], 0),
    "no_edges": ([], [], 3),
    "isolated_nodes": ([0, 1, 3], [1, 3, 0], 6),
    "self_loops": ([0, 1, 1, 2], [0, 1, 2, 2], 3),
    "duplicates": ([0, 0, 2, 1, 0], [1, 1, 1, 2, 1], 3),
    "star": ([1, 2, 3, 4], [0, 0, 0, 0], 5),
}
SIMPLE = ("empty", "no_edges", "isolated_nodes", "self_loops", "star")  # no duplicate edges


def case_graph(name, weighted=False, weight_dtype=np.float32, index_dtype=None):
    """The graph ``name``; ``weighted`` gives its edges distinct weights (a graph without edges stays
    unweighted: no format of edges can say that no edge is weighted)."""
    src, dst, n = EDGE_LISTS[name]
    weight = None
    if weighted and len(src):
        weight = (np.arange(len(src)) * 0.37 + 0.1).astype(weight_dtype)
    return _graph(src, dst, n, weight, index_dtype)


def graph_params(names=tuple(EDGE_LISTS)):
    """pytest params ``(name, weighted)`` over ``names``."""
    return [pytest.param(name, weighted, id=f"{name}-{'weighted' if weighted else 'unweighted'}")
            for name in names for weighted in (False, True)]


def edge_multiset(graph):
    """The sorted ``(src, dst, weight)`` rows of a graph (weight 1 when unweighted), float64."""
    edge_index = graph.to_edge_index()
    weight = np.ones(graph.num_edges) if graph.edge_weight is None else graph.edge_weight.astype(np.float64)
    rows = np.column_stack([edge_index[0], edge_index[1], weight]) if graph.num_edges else np.zeros((0, 3))
    return rows[np.lexsort(rows.T[::-1])]


def assert_same_edges(a, b):
    """Same node counts and the same edges with their weights, in any order; weighted both or neither."""
    assert (a.num_src_nodes, a.num_dst_nodes) == (b.num_src_nodes, b.num_dst_nodes)
    assert (a.edge_weight is None) == (b.edge_weight is None)
    np.testing.assert_array_equal(edge_multiset(a), edge_multiset(b))


def symmetric(graph):
    """``graph`` with every non-loop edge also reversed (weights carried), as an undirected graph reads."""
    edge_index = graph.to_edge_index()
    loops = edge_index[0] == edge_index[1]
    src = np.concatenate([edge_index[0], edge_index[1][~loops]])
    dst = np.concatenate([edge_index[1], edge_index[0][~loops]])
    weight = None if graph.edge_weight is None else np.concatenate([graph.edge_weight, graph.edge_weight[~loops]])
    return Graph.from_edge_index(np.stack([src, dst]), num_nodes=graph.num_nodes, edge_weight=weight)
