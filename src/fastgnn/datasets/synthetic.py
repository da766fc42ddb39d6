"""Reproducible synthetic graphs for tests and benchmarks.

Pure NumPy on purpose: the benchmark of peers that need an older NumPy
(DGL) loads this file by path to build exactly the same graphs.
"""
import numpy as np

__all__ = ["uniform_edge_index", "power_law_edge_index", "BENCH_GRAPHS", "bench_edge_index"]


def uniform_edge_index(num_nodes, num_edges, seed=0):
    """Edges with source and destination drawn uniformly at random.

    Parameters
    ----------
    num_nodes : int
        Number of nodes.
    num_edges : int
        Number of directed edges (duplicates and self-loops may occur).
    seed : int
        Seed of the ``numpy.random.Generator``.

    Returns
    -------
    edge_index : ndarray of shape (2, num_edges), int64
        Row 0 holds sources, row 1 destinations.
    """
    rng = np.random.default_rng(seed)
    src = rng.integers(0, num_nodes, num_edges, dtype=np.int64)
    dst = rng.integers(0, num_nodes, num_edges, dtype=np.int64)
    return np.stack([src, dst])


def power_law_edge_index(num_nodes, num_edges, exponent=2.1, seed=0):
    """Edges whose in-degrees follow a power law (Chung-Lu style).

    Destinations are drawn with probability proportional to
    ``(v + 1) ** (-1 / (exponent - 1))`` over a random permutation of the
    nodes, so a few hubs receive a large share of the edges; sources are
    uniform.

    Parameters
    ----------
    num_nodes, num_edges : int
        Graph size.
    exponent : float
        Exponent of the degree distribution (> 1).
    seed : int
        Seed of the ``numpy.random.Generator``.

    Returns
    -------
    edge_index : ndarray of shape (2, num_edges), int64
    """
    rng = np.random.default_rng(seed)
    weight = (np.arange(num_nodes, dtype=np.float64) + 1.0) ** (-1.0 / (exponent - 1.0))
    weight /= weight.sum()
    rank_to_node = rng.permutation(num_nodes)
    cumulative = np.cumsum(weight)
    cumulative[-1] = 1.0
    ranks = np.searchsorted(cumulative, rng.random(num_edges), side="right")
    dst = rank_to_node[np.minimum(ranks, num_nodes - 1)].astype(np.int64)
    src = rng.integers(0, num_nodes, num_edges, dtype=np.int64)
    return np.stack([src, dst])


# name -> (kind, num_nodes, num_edges); the graphs of the aggregation benchmark.
BENCH_GRAPHS = {
    "uniform": ("uniform", 100_000, 2_000_000),
    "powerlaw": ("powerlaw", 100_000, 2_000_000),
    "small": ("uniform", 20_000, 400_000),
}


def bench_edge_index(name, seed=0):
    """The edge list of one of the named benchmark graphs (see ``BENCH_GRAPHS``)."""
    kind, num_nodes, num_edges = BENCH_GRAPHS[name]
    if kind == "uniform":
        return uniform_edge_index(num_nodes, num_edges, seed=seed), num_nodes
    return power_law_edge_index(num_nodes, num_edges, seed=seed), num_nodes
