"""The seeded synthetic graphs of the peer benchmarks, in plain NumPy.

Every suite in ``bench/`` and both DGL peer scripts (``dgl_peer.py``,
``dgl_training_peer.py``) build their graphs here, so all implementations
time exactly the same edges. This module must not import fastgnn: the DGL
scripts run in their own environment (DGL 1.1 needs ``numpy<2``, fastgnn
``numpy>=2``), which imports it as a sibling module. Only NumPy calls whose
streams are identical in NumPy 1.x and 2.x are used.

The two generators are the same algorithms, with the same seeds, as
:func:`fastgnn.datasets.uniform_edge_index` and
:func:`fastgnn.datasets.power_law_edge_index` (``bench/test_graphs.py``
checks that they agree).
"""
import numpy as np

__all__ = ["uniform_edge_index", "power_law_edge_index", "uniform_csr", "BENCH_GRAPHS", "bench_edge_index",
           "TRAINING_FEATURES", "TRAINING_CLASSES", "uniform_training_data", "training_data", "gat_layer_data",
           "unique_edges"]

# name -> (kind, num_nodes, num_edges): the graphs of the aggregation benchmark.
BENCH_GRAPHS = {
    "uniform": ("uniform", 100_000, 2_000_000),
    "powerlaw": ("powerlaw", 100_000, 2_000_000),
    "small": ("uniform", 20_000, 400_000),
}

# Features and classes of the synthetic node-classification data of the training benchmark.
TRAINING_FEATURES = 128
TRAINING_CLASSES = 10


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


def uniform_csr(num_nodes, num_edges, rng=0, index_dtype=np.int32, chunk=1 << 23):
    """A uniform random graph built directly as a destination-major CSR, in little memory.

    The same distribution as :func:`uniform_edge_index` sorted by
    destination (every edge's source and destination uniform and
    independent; duplicates and self-loops may occur), but not the same
    edges: the in-degrees are counted in chunks of ``chunk`` destinations and
    the sources drawn straight into ``index_dtype``, so the largest
    temporary is ``num_edges`` indices (250 MB of int32 for 62 million
    edges), where an edge list and its sort take about 20 times that.

    Parameters
    ----------
    num_nodes, num_edges : int
    rng : int
        Seed of the ``numpy.random.Generator``.
    index_dtype : numpy dtype
        Dtype of ``indptr`` and ``indices`` (int32 by default; must hold
        ``num_edges``).
    chunk : int
        Destinations drawn at a time.

    Returns
    -------
    indptr : ndarray of shape (num_nodes + 1,), index_dtype
    indices : ndarray of shape (num_edges,), index_dtype
    """
    index_dtype = np.dtype(index_dtype)
    if max(num_nodes, num_edges) > np.iinfo(index_dtype).max:
        raise ValueError(f"{num_nodes:,} nodes and {num_edges:,} edges do not fit in {index_dtype}")
    rng = np.random.default_rng(rng)
    counts = np.zeros(num_nodes, dtype=np.int64)
    for start in range(0, num_edges, chunk):
        counts += np.bincount(rng.integers(0, num_nodes, min(chunk, num_edges - start)), minlength=num_nodes)
    indptr = np.zeros(num_nodes + 1, dtype=index_dtype)
    np.cumsum(counts, out=indptr[1:])
    indices = rng.integers(0, num_nodes, num_edges, dtype=index_dtype)
    return indptr, indices


def power_law_edge_index(num_nodes, num_edges, exponent=2.1, rng=0):
    """Edges whose in-degrees follow a power law (Chung-Lu style); sources are uniform.

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


def bench_edge_index(name, seed=0):
    """The edge list of one of the named benchmark graphs.

    Parameters
    ----------
    name : str
        A key of :data:`BENCH_GRAPHS`.
    seed : int
        Seed of the generator.

    Returns
    -------
    edge_index : ndarray of shape (2, num_edges), int64
    num_nodes : int
    """
    if name not in BENCH_GRAPHS:
        raise ValueError(f"unknown graph {name!r}; choose from {', '.join(BENCH_GRAPHS)}")
    kind, num_nodes, num_edges = BENCH_GRAPHS[name]
    if kind == "uniform":
        return uniform_edge_index(num_nodes, num_edges, rng=seed), num_nodes
    return power_law_edge_index(num_nodes, num_edges, rng=seed), num_nodes


def training_data(name="uniform", seed=0):
    """Node-classification data on a benchmark graph, the same on every side.

    Parameters
    ----------
    name : str
        A key of :data:`BENCH_GRAPHS`.
    seed : int
        Seed of the graph, the features and the labels.

    Returns
    -------
    edge_index : ndarray of shape (2, num_edges), int64
    x : ndarray of shape (num_nodes, TRAINING_FEATURES), float32
        Standard-normal features.
    y : ndarray of shape (num_nodes,), int64
        Random labels in ``range(TRAINING_CLASSES)``.
    train_mask : ndarray of shape (num_nodes,), bool
        All True: every node is in the loss.
    num_classes : int
    """
    edge_index, num_nodes = bench_edge_index(name, seed=seed)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((num_nodes, TRAINING_FEATURES), dtype=np.float32)
    y = rng.integers(0, TRAINING_CLASSES, num_nodes).astype(np.int64)
    return edge_index, x, y, np.ones(num_nodes, dtype=bool), TRAINING_CLASSES


def uniform_training_data(seed=0):
    """:func:`training_data` on the ``uniform`` benchmark graph (the training benchmark's data)."""
    return training_data("uniform", seed)


def gat_layer_data(num_nodes, in_channels, heads, out_channels, seed=0):
    """Features, parameters and output gradient of the GAT layer benchmark, the same on every side.

    Parameters
    ----------
    num_nodes, in_channels, heads, out_channels : int
    seed : int

    Returns
    -------
    dict of float32 ndarrays
        ``x`` (num_nodes, in_channels) standard normal; ``weight``
        (heads * out_channels, in_channels), glorot-uniform (PyG's
        ``lin.weight``, DGL's ``fc.weight``); ``att_src``, ``att_dst``
        (1, heads, out_channels), glorot-uniform over the last two axes
        (PyG's ``att_src``/``att_dst``, DGL's ``attn_l``/``attn_r``);
        ``bias`` (heads * out_channels,) small values; ``grad``
        (num_nodes, heads * out_channels), the gradient of the output that
        the forward + backward passes feed back.
    """
    rng = np.random.default_rng(seed)
    width = heads * out_channels

    def glorot(shape):
        bound = np.sqrt(6.0 / (shape[-2] + shape[-1]))
        return rng.uniform(-bound, bound, shape).astype(np.float32)

    return {
        "x": rng.standard_normal((num_nodes, in_channels), dtype=np.float32),
        "weight": glorot((width, in_channels)),
        "att_src": glorot((1, heads, out_channels)),
        "att_dst": glorot((1, heads, out_channels)),
        "bias": (0.1 * rng.standard_normal(width)).astype(np.float32),
        "grad": rng.standard_normal((num_nodes, width), dtype=np.float32),
    }


def unique_edges(edge_index):
    """The edges of ``edge_index`` with repeated ``(source, destination)`` pairs dropped (first kept, order kept).

    The attention benchmark runs on these: a sparse adjacency merges duplicate
    edges into one entry, an ``edge_index`` keeps each, so only a graph
    without duplicates means the same to every implementation.
    """
    edge_index = np.asarray(edge_index)
    if edge_index.shape[1] == 0:
        return edge_index
    key = edge_index[1].astype(np.int64) * (int(edge_index.max()) + 1) + edge_index[0]
    _, first = np.unique(key, return_index=True)
    return edge_index[:, np.sort(first)]
