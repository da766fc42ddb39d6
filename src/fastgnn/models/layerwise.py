"""Layer-wise full-neighbour inference of a :class:`~fastgnn.models.GNNStack` (DGL's ``inference``).

A mini-batch model's output at one node needs its whole ``L``-hop
neighbourhood, which on a large graph is most of the graph; computing it
seed batch by seed batch would repeat the work of the shared hops many
times. Instead, every layer runs over all nodes before the next one starts:
the nodes are cut into batches of consecutive ids, each batch's complete
in-neighbourhood is one bipartite block (:func:`full_neighbour_block`), and
the layer's output rows of the batch are written into the next layer's
input array. At most two layers' activations of the whole graph exist at
once (the input features may stay memory-mapped on disk: only the rows a
batch needs are read).
"""
import contextlib

import numpy as np

from fastgnn._runtime.threads import num_threads
from fastgnn.graph import Graph, SparseFeatures
from fastgnn.ops import gather_rows

__all__ = ["full_neighbour_block", "layerwise_inference", "check_batch_size"]


def check_batch_size(batch_size, name="batch_size"):
    """``batch_size`` as a positive int, or a ValueError naming ``name``."""
    if isinstance(batch_size, (bool, np.bool_)) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"{name} must be a positive int, got {batch_size!r}")
    return int(batch_size)


def full_neighbour_block(graph, start, stop):
    """The block of every in-edge of the nodes ``start .. stop - 1``.

    Parameters
    ----------
    graph : Graph
        A square graph.
    start, stop : int
        The destination nodes, a range of consecutive ids.

    Returns
    -------
    block : Graph
        Bipartite, ``stop - start`` destination rows holding the rows of
        ``graph`` in the same edge order (and their edge weights); its source
        nodes are the destinations first, then the other in-neighbours in
        increasing id order.
    source_nodes : ndarray of int64
        The global id of each source node of the block.

    Notes
    -----
    ``O(E_batch log E_batch)`` (one sort of the batch's outside neighbours).
    """
    indptr = graph.indptr
    first, last = int(indptr[start]), int(indptr[stop])
    sources = np.asarray(graph.indices[first:last], dtype=np.int64)
    outside = (sources < start) | (sources >= stop)
    others = np.unique(sources[outside])
    num_dst = stop - start
    local = sources - start
    local[outside] = num_dst + np.searchsorted(others, sources[outside])
    block_indptr = np.asarray(indptr[start:stop + 1], dtype=np.int64) - first
    weight = None if graph.edge_weight is None else graph.edge_weight[first:last]
    index_dtype = "int64" if graph.index_dtype == np.int64 else None
    block = Graph.from_csr(block_indptr, local, weight, num_src_nodes=num_dst + others.size,
                           index_dtype=index_dtype)
    source_nodes = np.concatenate([np.arange(start, stop, dtype=np.int64), others])
    return block, source_nodes


def _gather(h, ids, dtype):
    """The rows ``h[ids]`` as a dense C-contiguous array of ``dtype`` (only those rows are read from a memmap)."""
    if isinstance(h, SparseFeatures):        # a block's rows are few: dense from here on
        return np.ascontiguousarray(h.take_rows(ids).toarray(), dtype=dtype)
    rows = gather_rows(h, ids)
    return rows if rows.dtype == dtype else rows.astype(dtype)


def layerwise_inference(stack, graph, x, batch_size, n_threads=None):
    """The output of ``stack`` at every node of ``graph``, one layer at a time over node batches.

    See :meth:`fastgnn.models.GNNStack.inference` (the public entry point,
    which validates the arguments).
    """
    num_nodes = graph.num_nodes
    h = x
    with stack.evaluating(), num_threads(n_threads):
        for layer in range(stack.num_layers):
            conv = stack.convs[layer]
            source_of = getattr(conv, "layerwise_source", None)
            source, weights_as_given = (graph, contextlib.nullcontext()) if source_of is None \
                else source_of(graph)
            out = None
            with weights_as_given:
                # (a graph without nodes still runs one empty batch: it tells the output width)
                for start in range(0, max(num_nodes, 1), batch_size):
                    stop = min(start + batch_size, num_nodes)
                    block, source_nodes = full_neighbour_block(source, start, stop)
                    rows = stack._layer_forward(layer, block, _gather(h, source_nodes, stack.dtype), True)
                    if out is None:
                        out = np.empty((num_nodes, rows.shape[1]), dtype=rows.dtype)
                    out[start:stop] = rows
            h = out
    return h
