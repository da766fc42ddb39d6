"""Reproducible synthetic graphs: seeded uniform and power-law edge lists, TU-like graph-classification datasets.

Plain NumPy, for tests, examples, benchmarks and ``python -m fastgnn train
--task graph --dataset synthetic-proteins``.
"""
import numpy as np

from fastgnn.data.batch import GraphData
from fastgnn.graph import Graph

__all__ = ["uniform_edge_index", "power_law_edge_index", "SyntheticGraphDataset", "tu_like_dataset",
           "synthetic_graph_dataset", "SYNTHETIC_GRAPH_DATASETS"]


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


# PROTEINS (Borgwardt et al., 2005, as in the TU collection): 1,113 graphs, 39.06 nodes and 72.82
# undirected edges per graph on average (the smallest 4 nodes, the largest 620), 3 node labels, 663 and
# 450 graphs in its two classes.
#: Settings of :func:`tu_like_dataset` for each name :func:`synthetic_graph_dataset` knows.
SYNTHETIC_GRAPH_DATASETS = {
    "synthetic-proteins": dict(num_graphs=1113, mean_nodes=39.06, std_nodes=45.76, min_nodes=4, max_nodes=620,
                               edges_per_node=1.864, num_node_labels=3, class_fractions=(663 / 1113, 450 / 1113)),
}


class SyntheticGraphDataset:
    """A generated graph-classification dataset: a sequence of :class:`fastgnn.data.GraphData`.

    It offers what the graph-classification code reads from a
    :class:`fastgnn.datasets.TUDataset`: ``graphs``, ``y``, ``name``,
    ``num_classes``, ``num_node_features``, ``len``, iteration and integer
    indexing.
    """

    def __init__(self, name, graphs, num_classes):
        self.name = str(name)
        self.graphs = list(graphs)
        self.num_classes = int(num_classes)
        self.y = np.array([int(g.y) for g in self.graphs], dtype=np.int64)
        self.y.flags.writeable = False

    @property
    def num_graphs(self):
        return len(self.graphs)

    @property
    def num_node_features(self):
        return self.graphs[0].num_node_features if self.graphs else 0

    @property
    def num_nodes(self):
        return sum(g.num_nodes for g in self.graphs)

    @property
    def num_edges(self):
        return sum(g.num_edges for g in self.graphs)

    def __len__(self):
        return len(self.graphs)

    def __getitem__(self, index):
        return self.graphs[index]

    def __iter__(self):
        return iter(self.graphs)

    def __repr__(self):
        return (f"SyntheticGraphDataset({self.name}, num_graphs={len(self.graphs)}, num_nodes={self.num_nodes}, "
                f"num_edges={self.num_edges}, num_node_features={self.num_node_features}, "
                f"num_classes={self.num_classes})")


def _class_counts(num_graphs, fractions):
    """Graphs per class: ``fractions`` of ``num_graphs``, rounded so that they add up (largest remainders)."""
    exact = np.asarray(fractions, dtype=np.float64) * num_graphs
    counts = np.floor(exact).astype(np.int64)
    short = num_graphs - int(counts.sum())
    counts[np.argsort(counts - exact, kind="stable")[:short]] += 1
    return counts


def _local_edges(rng, num_nodes, num_undirected):
    """A path through the nodes plus random edges between nodes at most 6 apart (no self-loops, no duplicates)."""
    chain = np.arange(num_nodes - 1, dtype=np.int64)
    pairs = [np.stack([chain, chain + 1])]
    extra = num_undirected - (num_nodes - 1)
    if extra > 0:
        candidates = np.concatenate([np.stack([np.arange(num_nodes - k), np.arange(k, num_nodes)])
                                     for k in range(2, min(7, num_nodes))], axis=1) if num_nodes > 2 else \
            np.zeros((2, 0), dtype=np.int64)
        chosen = rng.choice(candidates.shape[1], size=min(extra, candidates.shape[1]), replace=False)
        pairs.append(candidates[:, np.sort(chosen)].astype(np.int64))
    undirected = np.concatenate(pairs, axis=1)
    return np.concatenate([undirected, undirected[::-1]], axis=1)


def tu_like_dataset(num_graphs=1113, *, mean_nodes=39.06, std_nodes=45.76, min_nodes=4, max_nodes=620,
                    edges_per_node=1.864, num_node_labels=3, class_fractions=(0.5, 0.5), signal=0.4,
                    concentration=20.0, name="synthetic", rng=0, dtype=np.float32):
    r"""A seeded graph-classification dataset shaped like a TU benchmark (by default PROTEINS' sizes).

    Each graph gets:

    - a node count drawn from a log-normal distribution of mean
      ``mean_nodes`` and standard deviation ``std_nodes``, rounded and
      clipped to ``[min_nodes, max_nodes]`` (a long tail of large graphs);
    - a path through its nodes plus random edges between nodes at most 6
      apart in it, ``round(edges_per_node * n)`` undirected edges in all
      (when that many exist), each listed in both directions;
    - a class: exactly ``class_fractions`` of the graphs in each class
      (rounded), in random order;
    - node labels, one-hot in ``x``: graph ``g`` of class ``k`` draws its
      label frequencies ``p_g ~ Dirichlet(concentration * q_k)``, with
      ``q_k \propto \exp(signal \cdot [l = k \bmod L])`` over the ``L``
      labels, then every node's label from ``p_g``. Classes differ only in
      which label is over-represented: a sum readout can learn it, but the
      per-graph noise keeps accuracy below 100%.

    Parameters
    ----------
    num_graphs : int
    mean_nodes, std_nodes : float
        Mean and standard deviation of the node counts (before clipping).
    min_nodes, max_nodes : int
    edges_per_node : float
        Undirected edges per node (at least the path's ``n - 1``).
    num_node_labels : int
        Width of ``x``.
    class_fractions : sequence of float
        The share of each class (normalised to sum to 1).
    signal : float
        How much each class over-represents its label (0: no signal).
    concentration : float
        Of the per-graph Dirichlet draw (larger: less noise).
    name : str
    rng : int or None
        Seed: the same seed gives the same dataset.
    dtype : float32 or float64
        Of ``x``.

    Returns
    -------
    SyntheticGraphDataset
    """
    num_graphs, min_nodes, max_nodes, num_node_labels = (int(num_graphs), int(min_nodes), int(max_nodes),
                                                         int(num_node_labels))
    if num_graphs < 1:
        raise ValueError(f"num_graphs must be a positive integer, got {num_graphs}")
    if not 1 <= min_nodes <= max_nodes:
        raise ValueError(f"min_nodes and max_nodes must satisfy 1 <= min_nodes <= max_nodes, got {min_nodes} "
                         f"and {max_nodes}")
    if not (mean_nodes > 0 and std_nodes >= 0):
        raise ValueError(f"mean_nodes must be positive and std_nodes non-negative, got {mean_nodes} and {std_nodes}")
    if num_node_labels < 1:
        raise ValueError(f"num_node_labels must be a positive integer, got {num_node_labels}")
    fractions = np.asarray(class_fractions, dtype=np.float64)
    if fractions.ndim != 1 or fractions.size < 2 or not np.all(np.isfinite(fractions)) or np.any(fractions < 0) \
            or fractions.sum() <= 0:
        raise ValueError(f"class_fractions must be two or more non-negative shares, got {class_fractions!r}")
    if not concentration > 0:
        raise ValueError(f"concentration must be positive, got {concentration}")
    dtype = np.dtype(dtype)
    if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"dtype must be float32 or float64, got {dtype}")
    rng = np.random.default_rng(rng)
    num_classes = fractions.size
    sigma = np.sqrt(np.log1p((std_nodes / mean_nodes) ** 2))
    mu = np.log(mean_nodes) - sigma ** 2 / 2
    sizes = np.clip(np.rint(rng.lognormal(mu, sigma, num_graphs)), min_nodes, max_nodes).astype(np.int64)
    labels = rng.permutation(np.repeat(np.arange(num_classes), _class_counts(num_graphs, fractions / fractions.sum())))
    boost = np.ones((num_classes, num_node_labels))
    boost[np.arange(num_classes), np.arange(num_classes) % num_node_labels] = np.exp(signal)
    class_mix = boost / boost.sum(axis=1, keepdims=True)
    graphs = []
    for num_nodes, label in zip(sizes.tolist(), labels.tolist()):
        edge_index = _local_edges(rng, num_nodes, int(round(edges_per_node * num_nodes)))
        frequencies = rng.dirichlet(concentration * class_mix[label])
        node_labels = rng.choice(num_node_labels, size=num_nodes, p=frequencies)
        x = np.zeros((num_nodes, num_node_labels), dtype=dtype)
        x[np.arange(num_nodes), node_labels] = 1
        graphs.append(GraphData(Graph.from_edge_index(edge_index, num_nodes=num_nodes), x, np.int64(label)))
    return SyntheticGraphDataset(name, graphs, num_classes)


def synthetic_graph_dataset(name="synthetic-proteins", rng=0):
    """A named synthetic graph-classification dataset (a key of :data:`SYNTHETIC_GRAPH_DATASETS`).

    ``'synthetic-proteins'``: 1,113 graphs of PROTEINS' sizes (mean 39
    nodes, up to 620; ~3.7 directed edges per node), 3 node labels, 2
    classes of 663 and 450 graphs (see :func:`tu_like_dataset`).

    Parameters
    ----------
    name : str
    rng : int
        Seed (the default 0 is the benchmarks' dataset).

    Returns
    -------
    SyntheticGraphDataset
    """
    if name not in SYNTHETIC_GRAPH_DATASETS:
        raise ValueError(f"unknown synthetic dataset {name!r}; choose from {', '.join(SYNTHETIC_GRAPH_DATASETS)}")
    return tu_like_dataset(**SYNTHETIC_GRAPH_DATASETS[name], name=name, rng=rng)
