"""Node reordering for memory locality: the orderings behind :meth:`Graph.reorder`, and the node-array helpers.

A reordering relabels the nodes of a square graph so that nodes whose
feature rows are read together get nearby ids (``'cluster'``: densely knit
groups at consecutive ids; ``'rcm'``: reverse Cuthill-McKee, a narrow band),
or so that the rows with many edges come first (``'degree'``). It changes no
result: aggregation on the reordered graph with reordered features is the
reordered aggregation of the original, bitwise for the forward ops (each
row's edges keep their order). Whether it makes the kernels faster depends
on the graph; ``docs/performance.md`` has the measurements.

Convention (scipy's and PyG's): ``perm[new_id] = old_id``. Node ``perm[r]``
of the input becomes node ``r`` of the result, so node-indexed arrays follow
with ``x[perm]`` (:func:`permute_nodes`), and results of the reordered graph
go back to the input's order with ``out[inverse_permutation(perm)]``
(:func:`restore_node_order`).

This module holds the orderings and the relabelled CSR arrays; it works on
any object with a Graph's attributes and never imports the Graph class
(:meth:`Graph.reorder` builds the result from them, and the function forms
:func:`fastgnn.graph.reorder` / :func:`fastgnn.graph.permute_graph` live in
:mod:`fastgnn.graph.transforms`).
"""
import numpy as np

from fastgnn._kernels.aggregate import gather_sum
from fastgnn._runtime import validate as V
from fastgnn._runtime.memory import empty_aligned
from fastgnn._runtime.threads import resolve_num_threads

__all__ = ["REORDER_METHODS", "permute_nodes", "restore_node_order", "inverse_permutation"]

# The orderings :meth:`Graph.reorder` knows.
REORDER_METHODS = ("rcm", "degree", "cluster")

# The 'cluster' ordering: random directions smoothed by this many neighbour averages, sign bits kept.
_CLUSTER_BITS = 16
_CLUSTER_STEPS = 5
_CLUSTER_SEED = 0

# Edges handled per step when building the new CSR: bounds the int64 temporaries.
_CHUNK_EDGES = 1 << 22


# ---------------------------------------------------------------------- node arrays
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
    perm = as_permutation(perm)
    return _inverse(perm)


def permute_nodes(perm, *arrays):
    """Node-indexed arrays in the new order: ``array[perm]`` along the first axis.

    Parameters
    ----------
    perm : array_like of int, shape (num_nodes,)
        ``perm[new_id] = old_id``, as returned by :meth:`Graph.reorder`.
    *arrays : array_like, each of shape (num_nodes, ...)
        Features, labels, masks, ...; any dtype. Not modified.

    Returns
    -------
    ndarray, or tuple of ndarray when several arrays are given
        New arrays; ``None`` passes through as ``None``.
    """
    perm = as_permutation(perm)
    return _take_all(perm, arrays, "permute_nodes")


def restore_node_order(perm, *arrays):
    """Arrays of the reordered graph back in the original node order: ``array[inverse_permutation(perm)]``.

    ``restore_node_order(perm, permute_nodes(perm, x))`` is ``x``.

    Parameters
    ----------
    perm : array_like of int, shape (num_nodes,)
        The permutation :meth:`Graph.reorder` returned.
    *arrays : array_like, each of shape (num_nodes, ...)
        Predictions, embeddings, ... indexed by the new ids. Not modified.

    Returns
    -------
    ndarray, or tuple of ndarray when several arrays are given
    """
    perm = as_permutation(perm)
    return _take_all(_inverse(perm), arrays, "restore_node_order")


# ---------------------------------------------------------------------- checks
def check_method(method):
    """``method`` if it names a known ordering (``TypeError``/``ValueError`` otherwise)."""
    if not isinstance(method, str):
        raise TypeError(f"method must be a string, one of {REORDER_METHODS}, got {type(method).__name__}")
    if method not in _ORDERINGS:
        raise ValueError(f"method must be one of {REORDER_METHODS}, got {method!r}")
    return method


def as_permutation(perm, num_nodes=None, name="perm"):
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


def _cluster_order(graph):
    """Nodes sorted by a 16-bit code: the signs of 16 random vectors smoothed over ``A + A^T``.

    Each step replaces every node's row by the mean of its neighbours' rows
    (in- and out-neighbours, duplicates counted) and centres and scales the
    columns. After a few steps the rows of a densely knit group of nodes
    are close to one another and far from other groups', so their sign
    patterns (a locality-sensitive hash) agree; a stable sort by the code
    puts each group at consecutive ids, ties in increasing id.
    """
    n = graph.num_nodes
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    indptr, indices = _symmetric_pattern(graph)
    threads = resolve_num_threads(None, (indices.shape[0] + n) * _CLUSTER_BITS)
    rows = empty_aligned((n, _CLUSTER_BITS), np.float32)
    rows[...] = np.random.default_rng(_CLUSTER_SEED).standard_normal((n, _CLUSTER_BITS), dtype=np.float32)
    smoothed = empty_aligned((n, _CLUSTER_BITS), np.float32)
    for _ in range(_CLUSTER_STEPS):
        gather_sum(smoothed, rows, indptr, indices, threads, mean=True)
        smoothed -= smoothed.mean(axis=0, dtype=np.float64).astype(np.float32)
        scale = smoothed.std(axis=0, dtype=np.float64)
        smoothed /= np.where(scale > 0, scale, 1.0).astype(np.float32)
        rows, smoothed = smoothed, rows
    code = (rows > 0).astype(np.int64) @ (np.int64(1) << np.arange(_CLUSTER_BITS, dtype=np.int64))
    return np.argsort(code, kind="stable").astype(np.int64)


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


_ORDERINGS = {"rcm": _rcm_order, "degree": _degree_order, "cluster": _cluster_order}


def node_order(graph, method):
    """``perm`` (int64, ``perm[new_id] = old_id``) of a square graph for a checked ``method``."""
    return _ORDERINGS[method](graph)


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


def permuted_csr(graph, perm, return_edge_ids=False):
    """``(indptr, indices, edge_weight, edge_ids)`` of the square ``graph`` renumbered by ``perm``.

    Row ``r`` is row ``perm[r]`` of ``graph`` with its edges in the same
    order, their sources relabelled to new ids, their weights carried along;
    the index and weight dtypes are kept. ``edge_ids`` (int64, edge ``e`` of
    the result is edge ``edge_ids[e]`` of ``graph``) is None unless asked for.
    Built row-chunk by row-chunk, so the int64 temporaries stay bounded.
    """
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
    return new_indptr, new_indices, new_weight, edge_ids
