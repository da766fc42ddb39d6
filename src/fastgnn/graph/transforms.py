"""Structural transforms of graphs and edge lists.

:func:`subgraph`, :func:`reorder` and :func:`permute_graph` work on a
:class:`~fastgnn.graph.Graph` (they are :meth:`Graph.subgraph`,
:meth:`Graph.reorder` and :meth:`Graph.permute`); :func:`coalesce`,
:func:`remove_self_loops` and :func:`to_undirected` work on ``(2, E)`` edge
lists (row 0 sources, row 1 destinations), as the dataset loaders build them.
"""
import numpy as np

from fastgnn._runtime import validate as V
from fastgnn.graph.handle import Graph

__all__ = ["subgraph", "reorder", "permute_graph", "coalesce", "remove_self_loops", "to_undirected",
           "add_destination_self_loops"]


# ---------------------------------------------------------------------- graphs
def subgraph(graph, nodes, *, relabel=True, return_edge_ids=False):
    """The subgraph of ``graph`` induced by ``nodes``: :meth:`Graph.subgraph` as a function.

    Parameters
    ----------
    graph : Graph
        A square graph.
    nodes, relabel, return_edge_ids
        See :meth:`Graph.subgraph`.
    """
    return _as_graph(graph).subgraph(nodes, relabel=relabel, return_edge_ids=return_edge_ids)


def reorder(graph, method="rcm", *, return_edge_ids=False):
    """``graph`` with its nodes renumbered for locality, and ``perm``: :meth:`Graph.reorder` as a function.

    Parameters
    ----------
    graph : Graph
        A square graph.
    method, return_edge_ids
        See :meth:`Graph.reorder`.

    Returns
    -------
    (Graph, ndarray of int64), or (Graph, ndarray, ndarray) with ``return_edge_ids``
        ``perm[new_id] = old_id``.
    """
    return _as_graph(graph).reorder(method, return_edge_ids=return_edge_ids)


def permute_graph(graph, perm, *, return_edge_ids=False):
    """``graph`` with its nodes renumbered by ``perm`` (``perm[new_id] = old_id``): :meth:`Graph.permute`."""
    return _as_graph(graph).permute(perm, return_edge_ids=return_edge_ids)


def _as_graph(graph):
    if not isinstance(graph, Graph):
        raise TypeError(f"graph must be a fastgnn.Graph, got {type(graph).__name__}")
    return graph


# ---------------------------------------------------------------------- edge lists
def _as_edge_index(edge_index, num_nodes):
    array = V.as_array(edge_index, "edge_index")
    if array.ndim != 2 or array.shape[0] != 2:
        raise ValueError(f"edge_index must have shape (2, num_edges), got {array.shape}")
    if array.shape[1] == 0:
        array = array.astype(np.int64)
    if array.dtype.kind not in "iu":
        raise TypeError(f"edge_index must have an integer dtype, got {array.dtype}")
    array = array.astype(np.int64)
    if num_nodes is None:
        num_nodes = int(array.max()) + 1 if array.size else 0
    num_nodes = V.check_size(num_nodes, "num_nodes")
    V.check_ids_in_range(array, num_nodes, "edge_index")
    return array, num_nodes


def coalesce(edge_index, num_nodes=None):
    """The edge list sorted by (source, destination), without duplicate edges.

    Parameters
    ----------
    edge_index : array_like of int, shape (2, E)
    num_nodes : int, optional
        Defaults to ``max(edge_index) + 1``.

    Returns
    -------
    ndarray of int64, shape (2, E')
    """
    array, num_nodes = _as_edge_index(edge_index, num_nodes)
    if array.shape[1] == 0:
        return np.zeros((2, 0), dtype=np.int64)
    keys = np.unique(array[0] * num_nodes + array[1])
    return np.stack([keys // num_nodes, keys % num_nodes])


def remove_self_loops(edge_index):
    """The edge list without its edges ``i -> i`` (other edges keep their order).

    Returns
    -------
    ndarray of int64, shape (2, E')
    """
    array, _ = _as_edge_index(edge_index, None)
    return array[:, array[0] != array[1]]


def to_undirected(edge_index, num_nodes=None):
    """Both directions of every edge, coalesced: sorted by (source, destination), no duplicates.

    Self-loops are kept (once each); drop them with :func:`remove_self_loops`.

    Parameters
    ----------
    edge_index : array_like of int, shape (2, E)
    num_nodes : int, optional
        Defaults to ``max(edge_index) + 1``.

    Returns
    -------
    ndarray of int64, shape (2, E')
        A symmetric edge list: ``(j, i)`` is in it whenever ``(i, j)`` is.
    """
    array, num_nodes = _as_edge_index(edge_index, num_nodes)
    return coalesce(np.concatenate([array, array[::-1]], axis=1), num_nodes)


def add_destination_self_loops(block):
    """``block`` with the loop ``i -> i`` appended to every destination row ``i`` lacking one.

    For a block whose destinations are its first source nodes (sampled
    blocks, a partition's local graph): source ``i`` is destination ``i``.
    Added loops weigh 1. GCN adds its self-loops to such blocks this way.
    """
    num_dst = block.num_dst_nodes
    # not block.destinations(): that would stay cached on the block beside the new graph
    dst = np.repeat(np.arange(num_dst, dtype=np.int64), np.diff(np.asarray(block.indptr, dtype=np.int64)))
    sources = block.indices.astype(np.int64)
    has_loop = np.zeros(num_dst, dtype=bool)
    has_loop[dst[sources == dst]] = True
    missing = ~has_loop
    added_before = np.concatenate([[0], np.cumsum(missing)])
    indptr = block.indptr.astype(np.int64) + added_before
    indices = np.empty(int(indptr[-1]), dtype=np.int64)
    old_positions = np.arange(block.num_edges, dtype=np.int64) + added_before[dst]
    indices[old_positions] = sources
    loop_nodes = np.flatnonzero(missing)
    loop_positions = indptr[loop_nodes + 1] - 1
    indices[loop_positions] = loop_nodes
    weight = None
    if block.edge_weight is not None:
        weight = np.ones(indices.size, dtype=block.edge_weight.dtype)
        weight[old_positions] = block.edge_weight
    index_dtype = "int64" if block.index_dtype == np.int64 else None
    return Graph.from_csr(indptr, indices, weight, num_src_nodes=block.num_src_nodes, index_dtype=index_dtype)
