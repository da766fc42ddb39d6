"""Structural transforms of graphs and edge lists.

:func:`subgraph` works on a :class:`~fastgnn.graph.Graph` (it is
:meth:`Graph.subgraph`); :func:`coalesce`,
:func:`remove_self_loops` and :func:`to_undirected` work on ``(2, E)`` edge
lists (row 0 sources, row 1 destinations), as the dataset loaders build them.
"""
import numpy as np

from fastgnn._runtime import validate as V
from fastgnn.graph.handle import Graph

__all__ = ["subgraph", "coalesce", "remove_self_loops", "to_undirected"]


# ---------------------------------------------------------------------- graphs
def subgraph(graph, nodes, *, relabel=True, return_edge_ids=False):
    """The subgraph induced by ``nodes``.

    An edge ``j -> i`` is kept when both ``j`` and ``i`` are in ``nodes``.
    Kept edges keep their weights and, within each destination row, their
    original relative order (so with a mask or a sorted index array the whole
    edge order is kept).

    Parameters
    ----------
    graph : Graph
        A square graph (``num_src_nodes == num_dst_nodes``).
    nodes : array_like of bool, shape (num_nodes,), or array_like of int, shape (k,)
        A boolean mask, or distinct node ids in ``[0, num_nodes)``.
    relabel : bool
        If True, node ``nodes[t]`` becomes node ``t`` of a graph of ``k``
        nodes (a mask selects its nodes in increasing order). If False, the
        result keeps the original ids and ``num_nodes``, and the nodes not
        selected are left without edges.
    return_edge_ids : bool
        Also return ``edge_ids``: edge ``e`` of the result is edge
        ``edge_ids[e]`` of ``graph``.

    Returns
    -------
    Graph, or (Graph, ndarray of int64) with ``return_edge_ids``
        The result has the index dtype of ``graph``.

    Notes
    -----
    Cost ``O(num_nodes + E)`` time and memory, ``E`` the edge count of
    ``graph``. With ``relabel=True`` and ids not in increasing order, the
    rows are reordered by a stable sort on the new destination ids, which
    adds ``O(E' log E')`` for the ``E'`` kept edges.
    """
    if not isinstance(graph, Graph):
        raise TypeError(f"graph must be a fastgnn.Graph, got {type(graph).__name__}")
    return graph.subgraph(nodes, relabel=relabel, return_edge_ids=return_edge_ids)


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
