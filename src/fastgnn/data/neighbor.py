"""Neighbour sampling for mini-batch training on large graphs.

:func:`sample_neighbors` samples, from a batch of seed nodes outward, up to
``k`` in-neighbours of every frontier node per layer and returns one
bipartite block per layer (:class:`SampledSubgraph`);
:class:`NeighborLoader` iterates over the node batches of an epoch and adds
the gathered input features and seed labels (:class:`MiniBatch`).

The sample is a function of ``(seed, epoch, node, layer)`` only (a
counter-based generator, defined exactly by the NumPy reference
:mod:`fastgnn.data.neighbor_reference`, which the compiled sampler matches
bit for bit): the same seed gives the same blocks for any number
of threads, any batch composition and any batch order.
"""
import operator
import queue
import threading

import numpy as np

from fastgnn._kernels import sample as _K
from fastgnn._runtime import validate as V
from fastgnn._runtime.memory import (empty_aligned, empty_batch_rows, mapped_buffer, mapped_page_ranges,
                                     populate_mapped_rows, release_mapped_pages)
from fastgnn._runtime.threads import check_num_threads, resolve_num_threads
from fastgnn.data.loader import _check_batch_size
from fastgnn.graph import Graph
from fastgnn.ops.gather import gather_rows

__all__ = ["sample_neighbors", "SampledSubgraph", "NeighborLoader", "MiniBatch", "epoch_order", "prefetched"]

_UINT64_LIMIT = 1 << 64


# ---------------------------------------------------------------------- argument checks
def _check_graph(graph):
    if not isinstance(graph, Graph):
        raise TypeError(f"graph must be a fastgnn.Graph, got {type(graph).__name__}")
    if not graph.is_square:
        raise ValueError(f"neighbour sampling needs a square graph (its sources become the next layer's "
                         f"destinations), got {graph.num_src_nodes} source and {graph.num_dst_nodes} "
                         "destination nodes")
    return graph


def check_fanouts(fanouts, num_layers=None, name="fanouts"):
    """``fanouts`` as a list of ints, each positive or -1 (one per layer when ``num_layers`` is given).

    Raises a ValueError or TypeError naming ``name`` (and the entry) otherwise.
    """
    if isinstance(fanouts, (int, np.integer, str, bytes)) or not hasattr(fanouts, "__len__"):
        raise TypeError(f"{name} must be a list of ints (one per layer), got {type(fanouts).__name__}")
    checked = []
    for layer, fanout in enumerate(fanouts):
        value = V.as_int(fanout, f"{name}[{layer}]", "an int")
        if value == 0 or value < -1:
            raise ValueError(f"{name}[{layer}] must be a positive int or -1 (all neighbours), got {value}")
        checked.append(value)
    if not checked:
        raise ValueError(f"{name} must name at least one layer, got an empty list")
    if num_layers is not None and len(checked) != num_layers:
        raise ValueError(f"{name} must have one entry per layer of the model ({num_layers}), got {len(checked)}: "
                         f"{checked}")
    return checked


def _check_seed(value, name):
    value = V.check_size(value, name)
    if value >= _UINT64_LIMIT:
        raise ValueError(f"{name} must be below 2**64, got {value}")
    return value


def _check_seeds(seeds, num_nodes, name="seeds"):
    array = V.as_index_vector(seeds, name)
    V.check_ids_in_range(array, num_nodes, name)
    ids = array.astype(np.int64)
    if ids.size > 1 and np.unique(ids).shape[0] != ids.shape[0]:
        raise ValueError(f"{name} contains a repeated node id")
    return ids


def _check_weighted(graph, weighted, whole=False):
    """The weights of weighted sampling, or None. Negative weights are refused: here when ``whole``
    (a loader, once), else by the kernel in the rows it reads (no O(E) pass per call)."""
    if not weighted:
        return None
    if graph.edge_weight is None:
        raise ValueError("weighted=True needs a graph with edge_weight")
    if whole and graph.num_edges and float(graph.edge_weight.min()) < 0:
        raise ValueError("weighted sampling needs non-negative edge weights; graph.edge_weight has a negative entry")
    return graph.edge_weight


def _check_threads(n_threads):
    return None if n_threads is None else check_num_threads(n_threads)


# ---------------------------------------------------------------------- results
class SampledSubgraph:
    """The blocks of one neighbour sample, input side first (DGL's order).

    Attributes
    ----------
    blocks : list of Graph
        One bipartite block per layer: ``blocks[0]`` consumes the input
        features, ``blocks[-1]`` produces the seeds' outputs. Block ``k`` has
        ``len(block_nodes[k])`` source nodes and
        ``len(block_nodes[k + 1])`` (the seeds, for the last) destination
        nodes; its edge weights are the graph's weights of the sampled edges
        (None when the graph has none).
    block_nodes : list of ndarray of int64
        The global ids of each block's source nodes; the first
        ``blocks[k].num_dst_nodes`` of them are its destination nodes, so
        ``block_nodes[k + 1] == block_nodes[k][:blocks[k].num_dst_nodes]``.
    edge_ids : list of ndarray of int64
        The global edge id (position in ``graph.indices``) of each block edge,
        in block CSR order.
    """

    __slots__ = ("blocks", "block_nodes", "edge_ids")

    def __init__(self, blocks, block_nodes, edge_ids):
        self.blocks = list(blocks)
        self.block_nodes = list(block_nodes)
        self.edge_ids = list(edge_ids)

    @property
    def input_nodes(self):
        """Global ids of the nodes whose features the first block consumes (``block_nodes[0]``)."""
        return self.block_nodes[0]

    @property
    def seeds(self):
        """The seed nodes, in the order given: the destination nodes of ``blocks[-1]``."""
        return self.block_nodes[-1][:self.blocks[-1].num_dst_nodes]

    @property
    def num_sampled_edges(self):
        """Total number of edges over all blocks."""
        return int(sum(block.num_edges for block in self.blocks))

    def __len__(self):
        return len(self.blocks)

    def __repr__(self):
        sizes = ", ".join(f"{b.num_src_nodes}->{b.num_dst_nodes} ({b.num_edges} edges)" for b in self.blocks)
        return f"SampledSubgraph([{sizes}])"


def _block_graph(indptr, local_indices, num_src, edge_ids, edge_weight):
    """A bipartite block over arrays built valid by the sampler (no second validation pass); its weights are
    ``edge_weight[edge_ids]``, or ``edge_weight`` itself when ``edge_ids`` is None."""
    dtype = V.index_dtype_for(num_src, indptr.shape[0] - 1, local_indices.shape[0])
    weight = edge_weight if edge_ids is None or edge_weight is None else edge_weight[edge_ids]
    return Graph(indptr.astype(dtype, copy=False), local_indices.astype(dtype, copy=False), num_src, weight,
                 _validated=True)


# Node maps (one entry per node, all -1 between calls) kept for reuse: the relabelling needs one per call,
# and filling a new one costs O(num_nodes). A few are kept, newest last, for graphs of any size and index type.
_FREE_MAPS = []
_FREE_MAPS_LOCK = threading.Lock()
_MAX_FREE_MAPS = 2
# Work units per sampled edge, for the thread-count threshold of fastgnn._runtime.threads.
_WORK_PER_EDGE = 32


def _take_map(num_nodes, dtype):
    with _FREE_MAPS_LOCK:
        for position in range(len(_FREE_MAPS) - 1, -1, -1):
            candidate = _FREE_MAPS[position]
            if candidate.shape[0] == num_nodes and candidate.dtype == dtype:
                return _FREE_MAPS.pop(position)
    return np.full(num_nodes, -1, dtype=dtype)


def _give_map(node_map):
    with _FREE_MAPS_LOCK:
        _FREE_MAPS.append(node_map)
        del _FREE_MAPS[:-_MAX_FREE_MAPS]


def _group_by_region(region, count):
    """``(order, counts)``: the positions of ``region`` (region numbers in ``[0, count)``) grouped by region,
    stably, and the size of each region's group."""
    counts = np.bincount(region, minlength=count)
    if count <= np.iinfo(np.uint16).max:
        region = region.astype(np.uint16)   # NumPy sorts 16-bit keys stably by radix
    return np.argsort(region, kind="stable"), counts


class _SamplingRegions:
    """The regions of a memory-mapped graph's ``indices`` (and weights) that the sampler reads one after another.

    Region ``r`` holds the edges ``[r * size, (r + 1) * size)``, about
    ``budget`` bytes of ``indices`` and of the weights together; ``release``
    has one row per region: the page ranges of both arrays
    (:func:`fastgnn._runtime.memory.mapped_page_ranges`) that the kernel
    releases once the rows starting in the region are sampled.
    """

    __slots__ = ("size", "count", "release")

    @classmethod
    def of(cls, graph, weights, budget):
        """The regions of ``graph`` for ``budget`` bytes, or None (no budget, or ``indices`` not a read-only map)."""
        if budget is None or graph.num_edges == 0:
            return None
        item_bytes = graph.indices.itemsize + (0 if weights is None else weights.itemsize)
        size = max(1, budget // item_bytes)
        count = -(-graph.num_edges // size)
        starts = np.arange(count, dtype=np.int64) * size
        stops = np.minimum(starts + size, graph.num_edges)
        ranges = mapped_page_ranges(graph.indices, starts, stops)
        if ranges is None:
            return None
        if weights is not None:
            weight_ranges = mapped_page_ranges(weights, starts, stops)
            if weight_ranges is not None:
                ranges = np.ascontiguousarray(np.concatenate([ranges, weight_ranges], axis=1))
        regions = cls()
        regions.size, regions.count, regions.release = size, count, ranges
        return regions

    def split(self, indptr, frontier):
        """``(order, region_ends, release)`` of the kernel for ``frontier``: its positions grouped by the region
        their rows start in (a stable radix sort), the ends of the non-empty groups, and their page ranges."""
        order, counts = _group_by_region(indptr[frontier].astype(np.int64) // self.size, self.count)
        present = np.flatnonzero(counts)
        return order, np.cumsum(counts[present]), self.release[present]


def _sample(graph, seeds, fanouts, replace, weights, seed, epoch, n_threads, mapped_page_budget=None):
    """The blocks of validated arguments, through the compiled sampler.

    With ``mapped_page_budget`` and a graph on read-only file maps, each
    layer reads the rows in regions of about that many bytes and releases
    each region's pages after it (:class:`_SamplingRegions`); same blocks.
    """
    indptr, indices = graph.indptr, graph.indices
    regions = _SamplingRegions.of(graph, weights, mapped_page_budget)
    node_map = _take_map(graph.num_nodes, indices.dtype)
    blocks, block_nodes, edge_ids = [], [], []
    frontier = seeds
    average_degree = graph.num_edges / max(graph.num_nodes, 1)
    # The map holds the local ids of the frontier (the seeds, then each block's source nodes, which the
    # kernel leaves in it) and -1 elsewhere; a call that fails leaves it in no known state: dropped.
    _K.map_nodes(node_map, frontier, False, 1)
    for layer, fanout in enumerate(fanouts):
        expected_edges = frontier.shape[0] * (fanout if fanout > 0 else average_degree)
        threads = resolve_num_threads(n_threads, int(expected_edges * _WORK_PER_EDGE))
        in_regions = () if regions is None or frontier.shape[0] == 0 else regions.split(indptr, frontier)
        block_indptr, ids, local, src_nodes = _K.sample_layer(indptr, indices, frontier, fanout, replace, weights,
                                                              _K.layer_key(seed, epoch, layer), node_map, threads,
                                                              *in_regions)
        if regions is not None and graph.edge_weight is not None and mapped_buffer(graph.edge_weight) is not None:
            weight = _gather_releasing(graph.edge_weight, ids, mapped_page_budget, n_threads)
            blocks.append(_block_graph(block_indptr, local, src_nodes.shape[0], None, weight))
        else:
            blocks.append(_block_graph(block_indptr, local, src_nodes.shape[0], ids, graph.edge_weight))
        block_nodes.append(src_nodes)
        edge_ids.append(ids)
        frontier = src_nodes
    _K.map_nodes(node_map, frontier, True, resolve_num_threads(n_threads, frontier.shape[0] * _WORK_PER_EDGE))
    _give_map(node_map)
    return SampledSubgraph(blocks[::-1], block_nodes[::-1], edge_ids[::-1])


def sample_neighbors(graph, seeds, fanouts, *, replace=False, weighted=False, seed=0, epoch=0, n_threads=None):
    """Sample the in-neighbourhood of ``seeds`` layer by layer, as bipartite blocks.

    Parameters
    ----------
    graph : Graph
        Square, destination-major: row ``i`` lists the in-neighbours of ``i``.
    seeds : array_like of int, shape (num_seeds,)
        Distinct node ids in ``[0, num_nodes)``.
    fanouts : list of int
        One entry per layer from the seeds outward (PyG's order:
        ``fanouts[0]`` for the seeds' own in-neighbours); each a positive
        number of neighbours, or ``-1`` for all of them.
    replace : bool
        Sample with replacement: exactly ``k`` draws per node with a
        non-empty row (an edge may repeat).
    weighted : bool
        Sample proportionally to ``graph.edge_weight`` (non-negative; an
        edge of weight 0 is never drawn).
    seed, epoch : int
        Keys of the generator (non-negative, below ``2**64``): the sample of
        a node depends only on (seed, epoch, node, layer).
    n_threads : int, optional
        Threads for this call (see :func:`fastgnn.set_num_threads`); never
        changes the result.

    Returns
    -------
    SampledSubgraph
        ``blocks`` input side first (``len(blocks) == len(fanouts)``),
        ``block_nodes``, ``edge_ids``, ``input_nodes`` and ``seeds``.

    Notes
    -----
    Without replacement, a node of degree ``d > k`` gets ``k`` distinct
    edges of its row, each with probability ``k / d`` (Floyd's algorithm);
    a node with ``d <= k`` keeps its whole row. Within a block, each
    destination's edges are in the graph's CSR order. Cost ``O(sum of the
    sampled edges)`` plus ``O(d)`` per node for weighted sampling.
    """
    graph = _check_graph(graph)
    seeds = _check_seeds(seeds, graph.num_nodes)
    fanouts = check_fanouts(fanouts)
    weights = _check_weighted(graph, weighted)
    seed = _check_seed(seed, "seed")
    epoch = _check_seed(epoch, "epoch")
    _check_threads(n_threads)
    return _sample(graph, seeds, fanouts, bool(replace), weights, seed, epoch, n_threads)


# ---------------------------------------------------------------------- loader
class MiniBatch:
    """One batch of :class:`NeighborLoader`.

    Attributes
    ----------
    blocks, block_nodes, edge_ids : list
        As in :class:`SampledSubgraph` (input side first).
    x : ndarray or None
        Features of ``input_nodes`` (``block_nodes[0]``), one contiguous
        array. From memory-mapped features (a loader with a
        ``mapped_page_budget``) they are gathered when ``x`` is first read,
        not when the batch is made: in ``for batch in loader: ...`` the
        loop has let the batch before go by then, so two batches' input
        rows are not held at once.
    y : ndarray or None
        Labels of the seeds.
    seeds : ndarray of int64
        The batch's seed nodes (the destination nodes of ``blocks[-1]``).
    batch_index : int
        Position of the batch in its epoch.
    """

    __slots__ = ("blocks", "block_nodes", "edge_ids", "_x", "y", "seeds", "batch_index")

    def __init__(self, subgraph, x, y, batch_index):
        self.blocks = subgraph.blocks
        self.block_nodes = subgraph.block_nodes
        self.edge_ids = subgraph.edge_ids
        self.seeds = subgraph.seeds
        self._x = x
        self.y = y
        self.batch_index = batch_index

    @property
    def x(self):
        x = self._x
        if isinstance(x, _PendingRows):
            x = self._x = x.gather()
        return x

    @x.setter
    def x(self, value):
        self._x = value

    def __getstate__(self):
        self.x      # pickled (sent to another process, copied) with its rows, not with the loader
        return None, {name: getattr(self, name) for cls in type(self).__mro__ for name in getattr(cls, "__slots__", ())}

    @property
    def input_nodes(self):
        return self.block_nodes[0]

    @property
    def num_seeds(self):
        return int(self.seeds.shape[0])

    def __repr__(self):
        return (f"MiniBatch(batch_index={self.batch_index}, seeds={self.seeds.shape[0]}, "
                f"input_nodes={self.block_nodes[0].shape[0]}, blocks={len(self.blocks)})")


def _check_input_nodes(input_nodes, num_nodes):
    if input_nodes is None:
        return np.arange(num_nodes, dtype=np.int64)
    array = V.as_array(input_nodes, "input_nodes")
    if array.ndim != 1:
        raise ValueError(f"input_nodes must be 1-D (node ids or a boolean mask), got shape {array.shape}")
    if array.dtype == np.bool_:
        if array.shape[0] != num_nodes:
            raise ValueError(f"input_nodes as a boolean mask must have length {num_nodes} (the number of nodes), "
                             f"got {array.shape[0]}")
        return np.flatnonzero(array).astype(np.int64)
    return _check_seeds(array, num_nodes, "input_nodes")


def _check_node_array(values, num_nodes, name):
    """``x`` or ``y``: an array (memory maps stay maps) with one row per node, or None."""
    if values is None:
        return None
    array = values if isinstance(values, np.ndarray) else V.as_array(values, name)
    if array.ndim < 1 or array.shape[0] != num_nodes:
        raise ValueError(f"{name} must have one row per node ({num_nodes}), got shape {array.shape}")
    if array.dtype.hasobject:
        raise TypeError(f"{name} must be a numeric array, got an object array")
    return array


def epoch_order(input_nodes, shuffle, seed, epoch):
    """The seeds of ``epoch`` in visiting order: ``input_nodes`` permuted by ``default_rng([seed, epoch])``.

    The order of :class:`NeighborLoader` (and of the data-parallel trainer,
    which cuts the same order into the same batches on every rank).
    """
    if not shuffle:
        return input_nodes
    rng = np.random.default_rng([seed, epoch])
    return input_nodes[rng.permutation(input_nodes.shape[0])]


#: The default ``mapped_page_budget`` of the sampling loaders over memory-mapped arrays, in bytes.
MAPPED_PAGE_BUDGET = 16 << 20


def _check_page_budget(value, graph, x):
    """``mapped_page_budget`` as a positive int (bytes) or None (``"auto"``: 16 MiB if anything is mapped)."""
    if value is None:
        return None
    if isinstance(value, str):
        if value != "auto":
            raise ValueError(f"mapped_page_budget must be 'auto', None or a positive int, got {value!r}")
        mapped = any(mapped_buffer(array) is not None for array in (x, graph.indptr, graph.indices))
        return MAPPED_PAGE_BUDGET if mapped else None
    if isinstance(value, (bool, np.bool_)):
        raise TypeError("mapped_page_budget must be 'auto', None or a positive int, got bool")
    try:
        value = operator.index(value)
    except TypeError:
        raise TypeError(f"mapped_page_budget must be 'auto', None or a positive int, got "
                        f"{type(value).__name__}") from None
    if value < 1:
        raise ValueError(f"mapped_page_budget must be a positive number of bytes, got {value}")
    return value


def _gather_releasing(x, ids, budget, n_threads, out=None):
    """``gather_rows(x, ids)`` one region of ``budget`` bytes of ``x`` after another, releasing the mapped
    pages after each region.

    The ids are grouped by region (a stable radix sort of their region
    numbers), so each region of the file is mapped once per call, in one
    ``madvise`` where the system can (:func:`populate_mapped_rows`) rather
    than a fault per page, and released after its rows are copied to their
    places in the output. At most about ``budget`` bytes of ``x``'s pages
    (plus the edges of a region) are resident at a time. Extra cost: the
    grouping, ``O(m)``, and the mapping of each region touched. ``out``: as
    :func:`gather_rows`'s.
    """
    if not x.flags.c_contiguous:       # not a plain map of a file: nothing to release region by region
        return gather_rows(x, ids, out=out, n_threads=n_threads)
    row_bytes = max(1, x.dtype.itemsize * int(np.prod(x.shape[1:], dtype=np.int64)))
    threads = resolve_num_threads(n_threads, ids.shape[0] * max(row_bytes // 4, 1))
    region_rows = max(1, budget // row_bytes)
    num_regions = -(-x.shape[0] // region_rows)
    order, counts = _group_by_region(ids // region_rows, num_regions)
    ends = np.cumsum(counts)
    if out is None:
        out = empty_aligned((ids.shape[0],) + x.shape[1:], x.dtype)
    start = 0
    for number, stop in enumerate(ends.tolist()):
        if stop > start:
            positions = order[start:stop]
            populate_mapped_rows(x, number * region_rows, min((number + 1) * region_rows, x.shape[0]))
            _K.gather_rows(out, x, ids[positions], threads, positions)
            release_mapped_pages(x)
        start = stop
    return out


class _PendingRows:
    """The rows ``ids`` of a loader's ``x``, gathered once, by the first reader (:attr:`MiniBatch.x`)."""

    __slots__ = ("loader", "ids", "_rows", "_lock")

    def __init__(self, loader, ids):
        self.loader, self.ids = loader, ids
        self._rows = None
        self._lock = threading.Lock()

    def gather(self):
        with self._lock:
            if self._rows is None:
                self._rows = self.loader._gather(self.ids)
            return self._rows


class _EpochLoader:
    """Shared mechanics of the sampling loaders: epochs, batch order, prefetching (not public API).

    A subclass sets ``graph``, ``fanouts``, ``x`` and ``_items`` (what an
    epoch iterates over: node ids, edge positions), calls
    :meth:`_set_options` with the options the loaders share, and defines
    ``_make_batch(index, items, epoch)``.
    """

    def _set_options(self, batch_size, shuffle, seed, drop_last, replace, weighted, prefetch, n_threads,
                     mapped_page_budget="auto"):
        """Check and keep the options every sampling loader takes; the epoch counter starts at 0."""
        self.mapped_page_budget = _check_page_budget(mapped_page_budget, self.graph, self.x)
        self._x_mapped = self.x is not None and mapped_buffer(self.x) is not None
        self.batch_size = _check_batch_size(batch_size)
        self.shuffle = bool(shuffle)
        self.seed = _check_seed(seed, "seed")
        self.drop_last = bool(drop_last)
        self.replace = bool(replace)
        self.weighted = bool(weighted)
        self._weights = _check_weighted(self.graph, weighted, whole=True)
        self.prefetch = bool(prefetch)
        self.n_threads = _check_threads(n_threads)
        self._epoch = 0

    def _sample_around(self, seeds, epoch):
        """``(subgraph, x)``: the blocks sampled around ``seeds`` and the rows of ``x`` of their input nodes.

        With a ``mapped_page_budget``, ``x`` is a :class:`_PendingRows` instead, gathered when the batch's
        ``x`` is first read (by then a loop has let the batch before go).
        """
        budget = self.mapped_page_budget
        subgraph = _sample(self.graph, seeds, self.fanouts, self.replace, self._weights, self.seed, epoch,
                           self.n_threads, budget)
        if budget is not None:      # the pages of the graph the sampler read
            release_mapped_pages(self.graph.indptr, self.graph.indices, self.graph.edge_weight)
        if self.x is None:
            return subgraph, None
        if budget is not None:
            return subgraph, _PendingRows(self, subgraph.input_nodes)
        return subgraph, self._gather(subgraph.input_nodes)

    def _gather(self, ids):
        """The rows ``ids`` of ``x``, one contiguous array (region by region for a memory map with a budget).

        A large one is made discardable (:func:`fastgnn._runtime.memory.empty_batch_rows`): a model told
        that the batch's input is not read again (``model(blocks, x, discard_input=True)``) releases the rows
        it is done with.
        """
        x = self.x
        out = empty_batch_rows((ids.shape[0],) + x.shape[1:], x.dtype) if isinstance(x, np.ndarray) else None
        if self.mapped_page_budget is not None and self._x_mapped:
            return _gather_releasing(x, ids, self.mapped_page_budget, self.n_threads, out=out)
        return gather_rows(x, ids, out=out, n_threads=self.n_threads)

    @property
    def epoch(self):
        """The epoch of the next iteration."""
        return self._epoch

    def set_epoch(self, epoch):
        """Set the epoch of the next iteration (its shuffle and its samples)."""
        self._epoch = _check_seed(epoch, "epoch")

    def __len__(self):
        """Number of batches per epoch."""
        count = self._items.shape[0]
        return count // self.batch_size if self.drop_last else -(-count // self.batch_size)

    def _batches(self, epoch):
        order = epoch_order(self._items, self.shuffle, self.seed, epoch)
        for index in range(len(self)):
            yield index, order[index * self.batch_size:(index + 1) * self.batch_size]

    def batch(self, index, epoch=None):
        """Batch ``index`` of ``epoch`` (default: the next iteration's), built on its own."""
        epoch = self._epoch if epoch is None else _check_seed(epoch, "epoch")
        index = operator.index(index)
        if not 0 <= index < len(self):
            raise IndexError(f"batch index {index} out of range for {len(self)} batches")
        order = epoch_order(self._items, self.shuffle, self.seed, epoch)
        return self._make_batch(index, order[index * self.batch_size:(index + 1) * self.batch_size], epoch)

    def __iter__(self):
        epoch = self._epoch
        self._epoch += 1
        if self.prefetch:
            return prefetched(self._make_batch, self._batches(epoch), epoch)
        return (self._make_batch(index, items, epoch) for index, items in self._batches(epoch))


class NeighborLoader(_EpochLoader):
    """Mini-batches of seed nodes with their sampled blocks, features and labels.

    Parameters
    ----------
    graph : Graph
        Square, destination-major (row ``i``: the in-neighbours of ``i``).
    x : ndarray or numpy.memmap, shape (num_nodes, ...), or None
        Node features; each batch gathers the rows of its input nodes with
        :func:`fastgnn.ops.gather_rows` (a memory map is read only there).
    y : ndarray, shape (num_nodes, ...), optional
        Node labels; each batch takes its seeds' labels.
    fanouts : list of int
        Neighbours per layer from the seeds outward (``-1``: all).
    input_nodes : array_like of int or bool, optional
        The seed nodes of an epoch: distinct ids or a boolean mask of length
        ``num_nodes``; None for every node.
    batch_size : int
        Seeds per batch (the last batch may be smaller, see ``drop_last``).
    shuffle : bool
        Visit the seeds in a new order every epoch, seeded by ``(seed, epoch)``.
    seed : int
        Key of the shuffle and of the sampler.
    drop_last : bool
        Skip the last batch when it is smaller than ``batch_size``.
    replace, weighted : bool
        As in :func:`sample_neighbors`.
    prefetch : bool
        Prepare the next batch in one background thread while the current
        one is used (the kernels release the GIL). The thread ends with the
        iteration (also when it is left early or fails). With a
        ``mapped_page_budget``, the thread samples the next batch ahead and
        its features are gathered when its ``x`` is first read (see
        :class:`MiniBatch`), so that two batches' input rows are never held
        at once.
    n_threads : int, optional
        Threads of the sampling and gathering kernels.
    mapped_page_budget : 'auto', int or None
        For memory-mapped features and graph arrays (e.g.
        :class:`fastgnn.datasets.OnDiskDataset` with ``mmap=True``): the
        bytes of file pages a batch may leave in the process's resident set
        (its RSS) before they are released
        (:func:`fastgnn._runtime.memory.release_mapped_pages`,
        ``madvise(MADV_DONTNEED)``, Linux). The features are gathered one
        region of this many bytes of the file after another (the batch's
        rows in increasing order), each region's pages released after it;
        the sampler reads each layer's neighbour lists the same way, one
        region of ``indices`` (and of the edge weights) after another,
        releasing each after it. Released pages stay in the page cache:
        reading them again is a cheap minor fault, and the batches are the
        same. Without it, every page read stays resident, and one batch of
        a large fan-out reads nearly all of the feature file and of the
        graph. ``'auto'`` (default): 16 MiB when anything is memory-mapped,
        else None. None: never release.

    Notes
    -----
    The epoch counter starts at 0 and advances each time an iteration
    starts (:meth:`set_epoch` sets the epoch of the next iteration); the
    batches of epoch ``e`` are the same in every run, with or without
    prefetching, for any thread count.

    Examples
    --------
    >>> from fastgnn.data import NeighborLoader
    >>> from fastgnn.datasets import load_cora
    >>> cora = load_cora()
    >>> loader = NeighborLoader(cora.graph, cora.x, cora.y, fanouts=[10, 5], input_nodes=cora.train_mask,
    ...                         batch_size=64)
    >>> len(loader)                                    # 140 training nodes in batches of 64
    3
    >>> batch = next(iter(loader))
    >>> len(batch.blocks), batch.blocks[-1].num_dst_nodes, batch.y.shape
    (2, 64, (64,))
    >>> batch.x.shape[0] == batch.blocks[0].num_src_nodes   # the features of the input nodes
    True
    """

    def __init__(self, graph, x, y=None, *, fanouts, input_nodes=None, batch_size=1024, shuffle=False, seed=0,
                 drop_last=False, replace=False, weighted=False, prefetch=True, n_threads=None,
                 mapped_page_budget="auto"):
        self.graph = _check_graph(graph)
        self.fanouts = check_fanouts(fanouts)
        self.x = _check_node_array(x, graph.num_nodes, "x")
        self.y = _check_node_array(y, graph.num_nodes, "y")
        self.input_nodes = _check_input_nodes(input_nodes, graph.num_nodes)
        self._items = self.input_nodes
        self._set_options(batch_size, shuffle, seed, drop_last, replace, weighted, prefetch, n_threads,
                          mapped_page_budget)

    def _make_batch(self, index, seeds, epoch):
        subgraph, x = self._sample_around(seeds, epoch)
        y = None if self.y is None else np.take(self.y, seeds, axis=0)
        return MiniBatch(subgraph, x, y, index)


_DONE = object()


def prefetched(make_batch, batches, epoch):
    """Yield ``make_batch(index, items, epoch)`` of each ``(index, items)`` of ``batches``, built one ahead.

    The batches are built in a background thread that never outlives the
    iteration (it stops when the consumer leaves early or fails; an error of
    the thread is raised in the consumer). The thread starts a batch only
    once the consumer has taken the one before, so at most two batches are
    alive at a time: the one in use and the next.
    """
    results = queue.Queue(maxsize=1)
    # Released each time the consumer takes a batch: the thread builds the next one only then.
    may_build = threading.Semaphore(1)
    stop = threading.Event()

    def wait_for(acquire):
        """Call ``acquire(timeout=...)`` until it succeeds (True) or the iteration stops (False)."""
        while not stop.is_set():
            if acquire(timeout=0.05):
                return True
        return False

    def put(item):
        """Hand ``item`` to the consumer, waiting while the queue is full, unless the iteration stops first."""
        def try_put(timeout):
            try:
                results.put(item, timeout=timeout)
                return True
            except queue.Full:
                return False
        wait_for(try_put)

    def work():
        try:
            for index, seeds in batches:
                if not wait_for(may_build.acquire):
                    return
                put((make_batch(index, seeds, epoch), None))
            item = (_DONE, None)
        except BaseException as error:  # handed to the consumer, raised there
            item = (None, error)
        put(item)

    worker = threading.Thread(target=work, name="fastgnn-neighbor-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            batch, error = results.get()
            may_build.release()
            if error is not None:
                raise error
            if batch is _DONE:
                return
            yield batch
    finally:
        stop.set()
        worker.join()
