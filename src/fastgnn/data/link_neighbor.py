"""Mini-batches of seed edges for link prediction: :class:`LinkNeighborLoader`.

Each batch takes a slice of the positive seed edges, adds sampled negative
pairs (non-edges of the graph, :class:`fastgnn.data.NegativeSampler`), and
samples the blocks of the union of their endpoints with
:func:`fastgnn.data.sample_neighbors`.
"""
import numpy as np

from fastgnn._runtime import validate as V
from fastgnn.data.neighbor import MiniBatch, check_fanouts, _check_graph, _check_node_array, _EpochLoader
from fastgnn.data.sampling import NegativeSampler

__all__ = ["LinkNeighborLoader", "LinkMiniBatch"]


class LinkMiniBatch(MiniBatch):
    """One batch of :class:`LinkNeighborLoader`.

    Attributes
    ----------
    blocks, block_nodes, edge_ids, x, seeds, batch_index
        As in :class:`MiniBatch` (``y`` is None); ``seeds`` are the distinct
        endpoints of the batch's pairs, in increasing id.
    edge_label_index : ndarray of int64, shape (2, num_pairs)
        The pairs (row 0 sources, row 1 destinations) as positions in
        ``seeds``: the positive seed edges first, then the negatives.
    edge_label : ndarray of float32, shape (num_pairs,)
        1 for a seed edge, 0 for a sampled negative.
    """

    __slots__ = ("edge_label_index", "edge_label")

    def __init__(self, subgraph, x, batch_index, edge_label_index, edge_label):
        super().__init__(subgraph, x, None, batch_index)
        self.edge_label_index = edge_label_index
        self.edge_label = edge_label

    def __repr__(self):
        return (f"LinkMiniBatch(batch_index={self.batch_index}, pairs={self.edge_label.shape[0]}, "
                f"seeds={self.seeds.shape[0]}, input_nodes={self.block_nodes[0].shape[0]})")


def _check_edge_label_index(edge_label_index, graph):
    if edge_label_index is None:
        return graph.to_edge_index()
    array = V.as_index_array(edge_label_index, "edge_label_index")
    if array.ndim != 2 or array.shape[0] != 2:
        raise ValueError(f"edge_label_index must have shape (2, num_edges), got {array.shape}")
    V.check_ids_in_range(array, graph.num_nodes, "edge_label_index")
    return np.ascontiguousarray(array, dtype=np.int64)


def _check_ratio(neg_ratio):
    try:
        ratio = float(neg_ratio)
    except (TypeError, ValueError):
        raise TypeError(f"neg_ratio must be a non-negative number, got {type(neg_ratio).__name__}") from None
    if not np.isfinite(ratio) or ratio < 0:
        raise ValueError(f"neg_ratio must be a non-negative finite number, got {neg_ratio}")
    return ratio


class LinkNeighborLoader(_EpochLoader):
    """Mini-batches of seed edges and sampled negatives, with the blocks of their endpoints.

    Parameters
    ----------
    graph : Graph
        Square, destination-major; the graph messages flow over (and whose
        edges a negative never is).
    x : ndarray or numpy.memmap, shape (num_nodes, ...), or None
        Node features, gathered per batch for its input nodes.
    fanouts : list of int
        Neighbours per layer from the endpoints outward (``-1``: all).
    edge_label_index : array_like of int, shape (2, num_seed_edges), optional
        The positive seed edges (row 0 sources, row 1 destinations); None
        for every edge of ``graph``.
    neg_ratio : float
        Negatives per positive: a batch of ``b`` seed edges gets
        ``round(neg_ratio * b)`` distinct non-edges, drawn uniformly.
    batch_size : int
        Seed edges per batch.
    shuffle : bool
        Visit the seed edges in a new order every epoch, seeded by ``(seed, epoch)``.
    seed : int
        Key of the shuffle, the negatives and the neighbour sampler.
    drop_last, replace, weighted, prefetch, n_threads, mapped_page_budget
        As in :class:`NeighborLoader`.

    Notes
    -----
    Batch ``i`` of epoch ``e`` is the same in every run: its negatives come
    from a generator seeded by ``(seed, e, i)``, its blocks from the
    counter-based sampler. Building the negative sampler costs ``O(E log E)``
    once, on the first batch.
    """

    def __init__(self, graph, x, *, fanouts, edge_label_index=None, neg_ratio=1.0, batch_size=1024, shuffle=False,
                 seed=0, drop_last=False, replace=False, weighted=False, prefetch=True, n_threads=None,
                 mapped_page_budget="auto"):
        self.graph = _check_graph(graph)
        self.fanouts = check_fanouts(fanouts)
        self.x = _check_node_array(x, graph.num_nodes, "x")
        self.edge_label_index = _check_edge_label_index(edge_label_index, graph)
        self.neg_ratio = _check_ratio(neg_ratio)
        self._set_options(batch_size, shuffle, seed, drop_last, replace, weighted, prefetch, n_threads,
                          mapped_page_budget)
        self._items = np.arange(self.edge_label_index.shape[1], dtype=np.int64)
        self._negatives = None

    def _negative_pairs(self, num, index, epoch):
        if num == 0:
            return np.zeros((2, 0), dtype=np.int64)
        if self._negatives is None:
            self._negatives = NegativeSampler(self.graph)
        return self._negatives.sample(num, np.random.default_rng([self.seed, epoch, index]))

    def _make_batch(self, index, positions, epoch):
        positive = self.edge_label_index[:, positions]
        negative = self._negative_pairs(int(round(self.neg_ratio * positions.shape[0])), index, epoch)
        pairs = np.concatenate([positive, negative], axis=1)
        seeds, local = np.unique(pairs, return_inverse=True)
        subgraph, x = self._sample_around(seeds, epoch)
        label = np.concatenate([np.ones(positive.shape[1], np.float32), np.zeros(negative.shape[1], np.float32)])
        return LinkMiniBatch(subgraph, x, index, local.reshape(pairs.shape).astype(np.int64), label)
