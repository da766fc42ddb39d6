"""Edge splits for link prediction: :func:`random_link_split` and its record :class:`LinkSplit`."""
from dataclasses import dataclass

import numpy as np

from fastgnn._runtime.random import as_generator
from fastgnn.data.sampling import NegativeSampler
from fastgnn.graph import Graph

__all__ = ["LinkSplit", "random_link_split"]


@dataclass(frozen=True, eq=False)
class LinkSplit:
    """The result of :func:`random_link_split`.

    Attributes
    ----------
    train_graph : Graph
        The message-passing graph: the input graph without the validation
        and test edges (both directions removed when undirected), with the
        training edges in their original order, weights and duplicates.
    train_pos_edge_index : ndarray of int64, shape (2, num_train)
        The training edges, each once: ``(min, max)`` per undirected pair
        (sorted), or each distinct directed edge.
    val_pos_edge_index, test_pos_edge_index : ndarray of int64, shape (2, k)
        Held-out edges (``(min, max)`` per undirected pair).
    val_neg_edge_index, test_neg_edge_index : ndarray of int64, shape (2, k)
        As many sampled non-edges of the *full* graph as positives, without
        self-loops, distinct, and disjoint between validation and test.
    num_nodes : int
    undirected : bool
    """

    train_graph: Graph
    train_pos_edge_index: np.ndarray
    val_pos_edge_index: np.ndarray
    val_neg_edge_index: np.ndarray
    test_pos_edge_index: np.ndarray
    test_neg_edge_index: np.ndarray
    num_nodes: int
    undirected: bool

    def edge_label_index(self, split):
        """The pairs and 0/1 labels to score for ``split`` (``'val'`` or ``'test'``): positives first.

        Returns
        -------
        edge_index : ndarray of int64, shape (2, 2k)
        labels : ndarray of float64, shape (2k,)
        """
        if split not in ("val", "test"):
            raise ValueError(f"split must be 'val' or 'test', got {split!r}")
        pos = getattr(self, f"{split}_pos_edge_index")
        neg = getattr(self, f"{split}_neg_edge_index")
        labels = np.concatenate([np.ones(pos.shape[1]), np.zeros(neg.shape[1])])
        return np.concatenate([pos, neg], axis=1), labels

    def __repr__(self):
        return (f"LinkSplit(num_nodes={self.num_nodes}, undirected={self.undirected}, "
                f"train={self.train_pos_edge_index.shape[1]}, val={self.val_pos_edge_index.shape[1]}, "
                f"test={self.test_pos_edge_index.shape[1]}, train_graph={self.train_graph!r})")


def _count(value, total, name):
    """A number of edges from a fraction in [0, 1] or a non-negative int."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a fraction in [0, 1] or a number of edges, got {value!r}")
    if isinstance(value, (int, np.integer)):
        if value < 0:
            raise ValueError(f"{name} must be non-negative, got {value}")
        return int(value)
    if isinstance(value, (float, np.floating)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} as a fraction must be in [0, 1], got {value}")
        return int(np.floor(value * total))
    raise TypeError(f"{name} must be a fraction in [0, 1] or a number of edges, got {type(value).__name__}")


def _is_symmetric(src, dst, num_nodes):
    keys = np.unique(src * num_nodes + dst)
    reverse = np.unique(dst * num_nodes + src)
    return np.array_equal(keys, reverse)


def random_link_split(graph, val=0.05, test=0.1, undirected=True, rng=None):
    """Hold out random edges for link prediction, without leaking them into message passing.

    The distinct edges (unordered pairs ``{i, j}`` when ``undirected``,
    ordered pairs otherwise; self-loops excluded) are shuffled and cut into
    validation, test and training parts. The training graph keeps every edge
    of the input whose pair is in the training part, in both directions when
    undirected (and every self-loop); so no validation or test edge, in
    either direction, is seen by message passing. Validation and test
    negatives are sampled among the non-edges of the full graph.

    Parameters
    ----------
    graph : Graph
        A square graph; with ``undirected=True`` it must be symmetric
        (build it with :func:`fastgnn.graph.to_undirected`).
    val, test : float or int
        A fraction of the distinct edges (rounded down, as Kipf and Welling's
        ``mask_test_edges``) or a number of edges.
    undirected : bool
        Split unordered pairs, keeping both directions of an edge in the same part.
    rng : int, numpy.random.Generator or None

    Returns
    -------
    LinkSplit

    Raises
    ------
    ValueError
        More validation + test edges asked for than the graph has, a
        fraction outside [0, 1], a non-square graph, an asymmetric graph with
        ``undirected=True``, or too few non-edges for the negatives.

    Notes
    -----
    ``O(E log E)`` time, ``O(E)`` memory; the negatives as in
    :func:`fastgnn.data.negative_sampling`. The paper split of the graph
    autoencoders (85 / 5 / 10 %) is ``val=0.05, test=0.1``.
    """
    if not isinstance(graph, Graph):
        raise TypeError(f"graph must be a fastgnn.Graph, got {type(graph).__name__}")
    if not graph.is_square:
        raise ValueError(f"random_link_split needs a square graph, got {graph.num_src_nodes} source and "
                         f"{graph.num_dst_nodes} destination nodes")
    rng = as_generator(rng)
    undirected = bool(undirected)
    n = graph.num_nodes
    src = graph.indices.astype(np.int64)
    dst = graph.destinations().astype(np.int64)
    if undirected and not _is_symmetric(src, dst, n):
        raise ValueError("random_link_split(undirected=True) needs a symmetric graph: some edge j -> i has no "
                         "i -> j; make it symmetric (fastgnn.graph.to_undirected) or pass undirected=False")
    loop = src == dst
    if undirected:
        keys = np.minimum(src, dst) * n + np.maximum(src, dst)
    else:
        keys = src * n + dst
    pair_keys, pair_of_edge = np.unique(keys, return_inverse=True)
    pair_is_loop = (pair_keys // n) == (pair_keys % n)
    candidates = np.flatnonzero(~pair_is_loop)
    total = candidates.shape[0]
    num_val = _count(val, total, "val")
    num_test = _count(test, total, "test")
    if num_val + num_test > total:
        kind = "undirected" if undirected else "directed"
        raise ValueError(f"random_link_split: asked for {num_val} validation and {num_test} test edges, but the "
                         f"graph has only {total} distinct {kind} edges (self-loops excluded)")

    shuffled = candidates[rng.permutation(total)]
    part = np.zeros(pair_keys.shape[0], dtype=np.int8)  # 0 train (and loops), 1 val, 2 test
    part[shuffled[:num_val]] = 1
    part[shuffled[num_val:num_val + num_test]] = 2

    def decode(pair_ids):
        chosen = pair_keys[pair_ids]
        return np.stack([chosen // n, chosen % n])

    keep = part[pair_of_edge] == 0
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(dst[keep], minlength=n), out=indptr[1:])
    weight = None if graph.edge_weight is None else graph.edge_weight[keep]
    train_graph = Graph.from_csr(indptr, graph.indices[keep], weight, num_src_nodes=n,
                                 index_dtype=graph.index_dtype)

    sampler = NegativeSampler(graph, allow_self_loops=False, undirected=undirected)
    num_negative = num_val + num_test
    if num_negative > sampler.num_available:
        raise ValueError(f"random_link_split: needs {num_negative} negative pairs for validation and test, but "
                         f"the graph has only {sampler.num_available} non-edges")
    negatives = sampler.sample(num_negative, rng)
    return LinkSplit(
        train_graph=train_graph,
        train_pos_edge_index=decode(np.flatnonzero((part == 0) & ~pair_is_loop)),
        val_pos_edge_index=decode(shuffled[:num_val]),
        val_neg_edge_index=np.ascontiguousarray(negatives[:, :num_val]),
        test_pos_edge_index=decode(shuffled[num_val:num_val + num_test]),
        test_neg_edge_index=np.ascontiguousarray(negatives[:, num_val:]),
        num_nodes=n,
        undirected=undirected,
    )
