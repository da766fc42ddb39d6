"""Small graphs, tie-free features and a dense reference for the nn tests.

A module with its own name (not a conftest) so the test files can import it.
"""
import numpy as np

import fastgnn

REDUCES = ["sum", "mean", "max", "min"]


def random_graph(rng, num_src, num_dst=None, num_edges=None, weighted=False):
    """A random graph whose last destination has no in-edge (an empty row); duplicates allowed."""
    square = num_dst is None
    num_dst = num_src if square else num_dst
    num_edges = 4 * num_dst if num_edges is None else num_edges
    src = rng.integers(0, num_src, num_edges)
    dst = rng.integers(0, max(num_dst - 1, 1), num_edges)
    weight = rng.uniform(0.5, 2.0, num_edges) if weighted else None
    if square:
        return fastgnn.Graph.from_edge_index(np.stack([src, dst]), num_nodes=num_src, edge_weight=weight)
    return fastgnn.Graph.from_edge_index(np.stack([src, dst]), edge_weight=weight, num_src_nodes=num_src,
                                         num_dst_nodes=num_dst)


def distinct_features(rng, rows, cols, scale=2.0):
    """float64 features whose values are all distinct, spaced far above a finite-difference step."""
    # The offset keeps every value away from 0 (where PyTorch splits a max gradient with the fill value).
    values = (rng.permutation(rows * cols) + 0.25) / max(rows * cols, 1)
    return np.ascontiguousarray(((values - 0.5) * 2 * scale).reshape(rows, cols))


def edge_weights(graph):
    return (np.ones(graph.num_edges) if graph.edge_weight is None
            else graph.edge_weight.astype(np.float64))


def dense_adjacency(graph):
    """``A[i, j]`` = total weight of the edges ``j -> i`` (float64)."""
    dense = np.zeros((graph.num_dst_nodes, graph.num_src_nodes))
    np.add.at(dense, (graph.destinations(), graph.indices), edge_weights(graph))
    return dense


def reference_aggregate(graph, x, reduce):
    """Row-by-row NumPy aggregation, independent of the kernels."""
    x = np.asarray(x, dtype=np.float64)
    weight = edge_weights(graph)
    out = np.zeros((graph.num_dst_nodes, x.shape[1]))
    for i in range(graph.num_dst_nodes):
        edges = np.arange(graph.indptr[i], graph.indptr[i + 1])
        if edges.size == 0:
            continue
        messages = weight[edges, None] * x[graph.indices[edges]]
        out[i] = {"sum": messages.sum(0), "mean": messages.sum(0) / edges.size,
                  "max": messages.max(0), "min": messages.min(0)}[reduce]
    return out


def gcn_dense(graph, add_self_loops=True):
    """``D^{-1/2} (A + I) D^{-1/2}`` as a dense matrix (loops added only where missing)."""
    dense = dense_adjacency(graph)
    if add_self_loops:
        diagonal = np.diag(dense).copy()
        missing = ~graph.has_self_loop()
        diagonal[missing] = 1.0
        np.fill_diagonal(dense, diagonal)
    degree = dense.sum(1)
    inv = np.zeros_like(degree)
    inv[degree > 0] = degree[degree > 0] ** -0.5
    return inv[:, None] * dense * inv[None, :]
