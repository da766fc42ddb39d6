"""Reproducible synthetic graphs: seeded uniform and power-law edge lists.

Plain NumPy, for tests, examples and ``python -m fastgnn bench``.
"""
import numpy as np

__all__ = ["uniform_edge_index", "power_law_edge_index"]


def uniform_edge_index(num_nodes, num_edges, rng=0):
    """Edges with source and destination drawn uniformly at random.

    Parameters
    ----------
    num_nodes : int
        Number of nodes.
    num_edges : int
        Number of directed edges (duplicates and self-loops may occur).
    rng : int
        Seed of the ``numpy.random.Generator``.

    Returns
    -------
    edge_index : ndarray of shape (2, num_edges), int64
        Row 0 holds sources, row 1 destinations.
    """
    rng = np.random.default_rng(rng)
    src = rng.integers(0, num_nodes, num_edges, dtype=np.int64)
    dst = rng.integers(0, num_nodes, num_edges, dtype=np.int64)
    return np.stack([src, dst])


def power_law_edge_index(num_nodes, num_edges, exponent=2.1, rng=0):
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
    rng : int
        Seed of the ``numpy.random.Generator``.

    Returns
    -------
    edge_index : ndarray of shape (2, num_edges), int64
    """
    rng = np.random.default_rng(rng)
    weight = (np.arange(num_nodes, dtype=np.float64) + 1.0) ** (-1.0 / (exponent - 1.0))
    weight /= weight.sum()
    rank_to_node = rng.permutation(num_nodes)
    cumulative = np.cumsum(weight)
    cumulative[-1] = 1.0
    ranks = np.searchsorted(cumulative, rng.random(num_edges), side="right")
    dst = rank_to_node[np.minimum(ranks, num_nodes - 1)].astype(np.int64)
    src = rng.integers(0, num_nodes, num_edges, dtype=np.int64)
    return np.stack([src, dst])
