"""Node reordering for memory locality: :func:`reorder` and the helpers that carry node data along.

A reordering relabels the nodes of a square graph so that nodes whose
feature rows are read together get nearby ids (reverse Cuthill-McKee), or so
that the rows with many edges come first (by in-degree). It changes no
result: aggregation on the reordered graph with reordered features is the
reordered aggregation of the original, bitwise for the forward ops (each
row's edges keep their order). Whether it makes the kernels faster depends
on the graph; ``docs/performance.md`` has the measurements.

Convention (scipy's and PyG's): ``perm[new_id] = old_id``. Node ``perm[r]``
of the input becomes node ``r`` of the result, so node-indexed arrays follow
with ``x[perm]`` (:func:`permute_nodes`), and results of the reordered graph
go back to the input's order with ``out[inverse_permutation(perm)]``
(:func:`restore_node_order`).
"""
import numpy as np

from fastgnn._runtime import validate as V
from fastgnn.graph.handle import Graph

__all__ = ["REORDER_METHODS", "reorder", "permute_graph", "permute_nodes", "restore_node_order",
           "inverse_permutation"]

# The orderings :func:`reorder` knows.
REORDER_METHODS = ("rcm", "degree")

# Edges handled per step when building the new CSR: bounds the int64 temporaries.
_CHUNK_EDGES = 1 << 22


# ---------------------------------------------------------------------- public API
def reorder(graph, method="rcm", *, return_edge_ids=False):
    """The graph with its nodes renumbered for locality, and the permutation.

    Parameters
    ----------
    graph : Graph
        A square graph (``num_src_nodes == num_dst_nodes``); a bipartite
        graph is refused, since its two sides have no common numbering.
    method : {'rcm', 'degree'}
        ``'rcm'``: reverse Cuthill-McKee on the symmetrised pattern
        (``A + A^T``, edge directions and weights ignored), which puts
        neighbours at nearby ids and narrows the band of the adjacency
        (``scipy.sparse.csgraph.reverse_cuthill_mckee``).
        ``'degree'``: nodes sorted by decreasing in-degree, ties kept in the
        input order (a stable sort), which puts the busy rows together.
    return_edge_ids : bool
        Also return ``edge_ids``: edge ``e`` of the result is edge
        ``edge_ids[e]`` of ``graph`` (to carry edge features along).

    Returns
    -------
    permuted : Graph
        Node ``perm[r]`` of ``graph`` is node ``r`` of ``permuted``. Row
        ``r`` holds the edges of row ``perm[r]`` of ``graph`` in the same
        relative order, their sources relabelled, their weights carried
        along; the index dtype and weight dtype are kept.
    perm : ndarray of int64, shape (num_nodes,)
        ``perm[new_id] = old_id``. Reorder node arrays with
        :func:`permute_nodes` and bring results back with
        :func:`restore_node_order`.
    edge_ids : ndarray of int64, shape (num_edges,), only with ``return_edge_ids``

    Raises
    ------
    TypeError
        ``graph`` is not a Graph, or ``method`` is not a string.
    ValueError
        ``graph`` is bipartite, or ``method`` is unknown.

    Notes
    -----
    Because each row keeps its edges in their order, ``aggregate`` (sum,
    mean, max, min, weighted or not) on the result with ``x[perm]`` equals
    ``aggregate(graph, x)[perm]`` bitwise; a backward sums over the
    transpose, whose order changes, so gradients agree to rounding.

    Cost: ``'degree'`` ``O(N log N)``; ``'rcm'`` builds the symmetrised
    pattern (``2E`` indices) and runs a breadth-first search,
    ``O(E log d_max + N)``; both then build the new CSR in ``O(N + E)``
    time, with temporaries bounded by a few million edges beyond the
    result. The reordering pays only when the kernels are limited by
    scattered reads of feature rows that it makes local: measure before
    relying on it (``python bench/reorder.py``).

    Examples
    --------
    >>> graph, perm = graph.reorder("rcm")                     # doctest: +SKIP
    >>> x, y, train_mask = permute_nodes(perm, x, y, train_mask)  # doctest: +SKIP
    >>> prediction = restore_node_order(perm, model(graph, x))  # doctest: +SKIP
    """
    graph = _check_square_graph(graph, "reorder")
    if not isinstance(method, str):
        raise TypeError(f"method must be a string, one of {REORDER_METHODS}, got {type(method).__name__}")
    if method not in _ORDERINGS:
        raise ValueError(f"method must be one of {REORDER_METHODS}, got {method!r}")
    perm = _ORDERINGS[method](graph)
    return _permuted(graph, perm, return_edge_ids)


def permute_graph(graph, perm, *, return_edge_ids=False):
    """The graph with its nodes renumbered by a given permutation (``perm[new_id] = old_id``).

    Parameters
    ----------
    graph : Graph
        A square graph.
    perm : array_like of int, shape (num_nodes,)
        A permutation of ``0 .. num_nodes - 1``.
    return_edge_ids : bool
        Also return ``edge_ids`` (see :func:`reorder`).

    Returns
    -------
    Graph, or (Graph, ndarray of int64) with ``return_edge_ids``
        As the first result of :func:`reorder`.
    """
    graph = _check_square_graph(graph, "permute_graph")
    perm = _as_permutation(perm, graph.num_nodes)
    permuted, _, *edge_ids = _permuted(graph, perm, return_edge_ids)
    return (permuted, edge_ids[0]) if return_edge_ids else permuted


def inverse_permutation(perm):
    """``inverse`` with ``inverse[perm[r]] = r``: the new id of each old node (``inverse[old_id] = new_id``).

    Parameters
    ----------
    perm : array_like of int, shape (n,)
        A permutation of ``0 .. n - 1``.

    Returns
    -------
    ndarray of int64, shape (n,)
    """
    perm = _as_permutation(perm, None)
    return _inverse(perm)


def permute_nodes(perm, *arrays):
    """Node-indexed arrays in the new order: ``array[perm]`` along the first axis.

    Parameters
    ----------
    perm : array_like of int, shape (num_nodes,)
        ``perm[new_id] = old_id``, as returned by :func:`reorder`.
    *arrays : array_like, each of shape (num_nodes, ...)
        Features, labels, masks, ...; any dtype. Not modified.

    Returns
    -------
    ndarray, or tuple of ndarray when several arrays are given
        New arrays; ``None`` passes through as ``None``.
    """
    perm = _as_permutation(perm, None)
    return _take_all(perm, arrays, "permute_nodes")


def restore_node_order(perm, *arrays):
    """Arrays of the reordered graph back in the original node order: ``array[inverse_permutation(perm)]``.

    ``restore_node_order(perm, permute_nodes(perm, x))`` is ``x``.

    Parameters
    ----------
    perm : array_like of int, shape (num_nodes,)
        The permutation :func:`reorder` returned.
    *arrays : array_like, each of shape (num_nodes, ...)
        Predictions, embeddings, ... indexed by the new ids. Not modified.

    Returns
    -------
    ndarray, or tuple of ndarray when several arrays are given
    """
    perm = _as_permutation(perm, None)
    return _take_all(_inverse(perm), arrays, "restore_node_order")


# ---------------------------------------------------------------------- checks
def _check_square_graph(graph, what):
    if not isinstance(graph, Graph):
        raise TypeError(f"graph must be a fastgnn.Graph, got {type(graph).__name__}")
    if not graph.is_square:
        raise ValueError(
            f"{what} needs a square graph (sources and destinations are the same nodes), got "
            f"num_src_nodes={graph.num_src_nodes} != num_dst_nodes={graph.num_dst_nodes}; "
            "a bipartite graph has no common numbering to reorder")
    return graph


def _as_permutation(perm, num_nodes, name="perm"):
    """``perm`` as int64, checked to be a permutation of ``0 .. n - 1`` (``n = num_nodes`` if given)."""
    array = V.as_index_vector(perm, name)
    n = array.shape[0]
    if num_nodes is not None and n != num_nodes:
        raise ValueError(f"{name} must have length {num_nodes} (the number of nodes), got {n}")
    V.check_ids_in_range(array, n, name)
    array = array.astype(np.int64)
    seen = np.zeros(n, dtype=bool)
    seen[array] = True
    if not seen.all():
        raise ValueError(f"{name} is not a permutation: it repeats a node id")
    return array


def _take_all(ids, arrays, what):
    if not arrays:
        raise TypeError(f"{what} needs at least one array after perm")
    results = []
    for position, array in enumerate(arrays):
        if array is None:
            results.append(None)
            continue
        name = f"arrays[{position}]"
        array = V.as_array(array, name)
        if array.ndim == 0 or array.shape[0] != ids.shape[0]:
            raise ValueError(f"{name} must have {ids.shape[0]} rows (one per node), got shape {array.shape}")
        results.append(np.take(array, ids, axis=0))
    return results[0] if len(results) == 1 else tuple(results)


def _inverse(perm):
    inverse = np.empty_like(perm)
    inverse[perm] = np.arange(perm.shape[0], dtype=perm.dtype)
    return inverse


# ---------------------------------------------------------------------- orderings
def _degree_order(graph):
    """Nodes by decreasing in-degree, ties in increasing id (stable)."""
    return np.argsort(-graph.in_degree(), kind="stable").astype(np.int64)


def _rcm_order(graph):
    """Reverse Cuthill-McKee on ``A + A^T`` (scipy's breadth-first search from a low-degree node)."""
    if graph.num_nodes == 0:
        return np.zeros(0, dtype=np.int64)
    import scipy.sparse as sp
    from scipy.sparse.csgraph import reverse_cuthill_mckee

    indptr, indices = _symmetric_pattern(graph)
    pattern = sp.csr_matrix((np.ones(indices.shape[0], dtype=np.int8), indices, indptr),
                            shape=(graph.num_nodes, graph.num_nodes))
    return reverse_cuthill_mckee(pattern, symmetric_mode=True).astype(np.int64)


def _symmetric_pattern(graph):
    """CSR of ``A + A^T`` without values: row ``i`` holds the in-neighbours of ``i``, then its out-neighbours.

    Duplicates are kept (they only count twice in the degrees the search
    sorts by). Built row-chunk by row-chunk, so the int64 temporaries stay
    bounded.
    """
    indptr = graph.indptr.astype(np.int64)
    t_indptr, t_indices, _ = graph.transpose_csr()
    t_indptr = t_indptr.astype(np.int64)
    n, num_edges = graph.num_nodes, graph.num_edges
    dtype = V.index_dtype_for(n, 2 * num_edges)
    sym_indptr = (indptr + t_indptr).astype(dtype)
    sym_indices = np.empty(2 * num_edges, dtype=dtype)
    in_degree, out_degree = np.diff(indptr), np.diff(t_indptr)
    for start, stop in _row_chunks(sym_indptr):
        # in-edges of rows start..stop: edge e of row i goes to e + t_indptr[i]
        lo, hi = indptr[start], indptr[stop]
        positions = np.arange(lo, hi) + np.repeat(t_indptr[start:stop], in_degree[start:stop])
        sym_indices[positions] = graph.indices[lo:hi]
        # out-edges: position t of source row i goes to t + indptr[i + 1]
        lo, hi = t_indptr[start], t_indptr[stop]
        positions = np.arange(lo, hi) + np.repeat(indptr[start + 1:stop + 1], out_degree[start:stop])
        sym_indices[positions] = t_indices[lo:hi]
    return sym_indptr, sym_indices


_ORDERINGS = {"rcm": _rcm_order, "degree": _degree_order}


# ---------------------------------------------------------------------- relabelling
def _row_chunks(indptr, budget=_CHUNK_EDGES):
    """``(start, stop)`` row ranges covering every row, each with about ``budget`` entries (at least one row)."""
    n = indptr.shape[0] - 1
    total = int(indptr[-1])
    if n == 0:
        return []
    cuts = np.searchsorted(indptr, np.arange(budget, total, budget), side="right") - 1
    bounds = np.unique(np.concatenate([[0], cuts, [n]]))
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def _permuted(graph, perm, return_edge_ids):
    """``(permuted graph, perm[, edge_ids])``: rows taken in the order ``perm``, sources relabelled."""
    dtype = graph.index_dtype
    indptr, indices, weight = graph.indptr, graph.indices, graph.edge_weight
    degree = graph.in_degree()[perm]
    new_indptr = np.zeros(graph.num_nodes + 1, dtype=dtype)
    np.cumsum(degree, out=new_indptr[1:])
    new_id = _inverse(perm).astype(dtype)
    new_indices = np.empty(graph.num_edges, dtype=dtype)
    new_weight = None if weight is None else np.empty(graph.num_edges, dtype=weight.dtype)
    edge_ids = np.empty(graph.num_edges, dtype=np.int64) if return_edge_ids else None
    starts = indptr[perm].astype(np.int64) - new_indptr[:-1]  # old position - new position, per row
    for start, stop in _row_chunks(new_indptr):
        lo, hi = int(new_indptr[start]), int(new_indptr[stop])
        old = np.arange(lo, hi) + np.repeat(starts[start:stop], degree[start:stop])
        new_indices[lo:hi] = new_id[indices[old]]
        if new_weight is not None:
            new_weight[lo:hi] = weight[old]
        if edge_ids is not None:
            edge_ids[lo:hi] = old
    permuted = Graph(new_indptr, new_indices, graph.num_nodes, new_weight, _validated=True)
    return (permuted, perm, edge_ids) if return_edge_ids else (permuted, perm)
