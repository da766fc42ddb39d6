"""Structural transforms of graphs and edge lists.

:func:`subgraph` works on a :class:`~fastgnn.graph.Graph`; :func:`coalesce`,
:func:`remove_self_loops` and :func:`to_undirected` work on ``(2, E)`` edge
lists (row 0 sources, row 1 destinations), as the dataset loaders build them.
"""
import numpy as np

from fastgnn._runtime import validate as V
from fastgnn.graph import Graph

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
    if not graph.is_square:
        raise ValueError(
            f"subgraph needs a square graph, got num_src_nodes={graph.num_src_nodes} "
            f"!= num_dst_nodes={graph.num_dst_nodes}")
    num_nodes = graph.num_nodes
    node_ids = _as_node_ids(nodes, num_nodes)
    num_kept = node_ids.shape[0]

    mapping = np.full(num_nodes, -1, dtype=np.int64)
    mapping[node_ids] = np.arange(num_kept) if relabel else node_ids
    new_src = mapping[graph.indices]
    new_dst = mapping[graph.destinations()]
    keep = (new_src >= 0) & (new_dst >= 0)
    edge_ids = np.flatnonzero(keep)
    new_src = new_src[edge_ids]
    new_dst = new_dst[edge_ids]
    if new_dst.size > 1 and np.any(new_dst[1:] < new_dst[:-1]):
        order = np.argsort(new_dst, kind="stable")
        edge_ids, new_src, new_dst = edge_ids[order], new_src[order], new_dst[order]

    size = num_kept if relabel else num_nodes
    indptr = np.zeros(size + 1, dtype=np.int64)
    np.cumsum(np.bincount(new_dst, minlength=size), out=indptr[1:])
    weight = None if graph.edge_weight is None else graph.edge_weight[edge_ids]
    result = Graph.from_csr(indptr, new_src, weight, num_src_nodes=size, index_dtype=graph.index_dtype)
    return (result, edge_ids) if return_edge_ids else result


def _as_node_ids(nodes, num_nodes):
    """Distinct int64 node ids in range from a boolean mask or an id array."""
    array = V.as_array(nodes, "nodes")
    if array.ndim != 1:
        raise ValueError(f"nodes must be 1-D (a boolean mask or node ids), got shape {array.shape}")
    if array.dtype == np.bool_:
        if array.shape[0] != num_nodes:
            raise ValueError(f"nodes as a boolean mask must have length {num_nodes}, got {array.shape[0]}")
        return np.flatnonzero(array)
    if array.size == 0:
        return np.zeros(0, dtype=np.int64)  # an empty list arrives as float64
    if array.dtype.kind not in "iu":
        raise TypeError(f"nodes must be a boolean mask or integer node ids, got dtype {array.dtype}")
    V.check_ids_in_range(array, num_nodes, "nodes")
    ids = array.astype(np.int64)
    seen = np.zeros(num_nodes, dtype=bool)
    seen[ids] = True
    if np.count_nonzero(seen) != ids.shape[0]:
        raise ValueError("nodes contains a repeated node id")
    return ids


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
