"""Per-edge values from both endpoints: :func:`edge_dot` and its backward."""
import numpy as np

from fastgnn._kernels import aggregate as _K
from fastgnn._runtime import validate as V
from fastgnn._runtime.memory import aligned_for_gather, empty_aligned
from fastgnn._runtime.threads import resolve_num_threads
from fastgnn.ops.checks import as_graph, check_same_dtype, check_width, shape_like, work_of

__all__ = ["edge_dot", "edge_dot_backward"]


def edge_dot(graph, a, b, *, out=None, n_threads=None):
    """Per-edge inner products ``out[e] = <a[dst(e)], b[src(e)]>``.

    The gradient of edge weights and the score of a dot-product link
    predictor, without gathering an edges x features array.

    Parameters
    ----------
    graph : Graph or scipy.sparse matrix
    a : array_like, shape (num_dst_nodes, d)
    b : array_like, shape (num_src_nodes, d), same dtype as ``a``
    out : ndarray of shape (num_edges,), optional
        Where to write the result (C-contiguous, dtype of ``a``). Returned.
    n_threads : int, optional

    Returns
    -------
    out : ndarray of shape (num_edges,)

    Notes
    -----
    Cost ``O(E d)``; each dot product sums in a fixed order.
    """
    graph = as_graph(graph)
    a2, _ = V.as_features(a, "a", num_rows=graph.num_dst_nodes)
    b2, _ = V.as_features(b, "b", num_rows=graph.num_src_nodes)
    check_same_dtype(b2, "b", a2.dtype, "a")
    check_width(b2, "b", a2.shape[1], "a")
    threads = resolve_num_threads(n_threads, work_of(graph.num_edges, graph.num_dst_nodes, a2.shape[1]))
    if out is None:
        out = np.empty(graph.num_edges, dtype=a2.dtype)
    else:
        V.check_out(out, (graph.num_edges,), a2.dtype, (a2, b2))
    b2 = aligned_for_gather(b2, graph.num_edges)
    _K.edge_dot(out, a2, b2, graph.indptr, graph.indices, threads)
    return out


def edge_dot_backward(graph, grad_out, a, b, *, n_threads=None):
    """Gradients of :func:`edge_dot`: ``(dL/da, dL/db)``.

    ``dL/da[i] = sum_{e: j -> i} g_e b[j]`` and ``dL/db[j] = sum_{e: j -> i} g_e a[i]``,
    the second over the cached transpose. Shapes follow ``a`` and ``b``.
    """
    graph = as_graph(graph)
    a2, a_1d = V.as_features(a, "a", num_rows=graph.num_dst_nodes)
    b2, b_1d = V.as_features(b, "b", num_rows=graph.num_src_nodes)
    check_same_dtype(b2, "b", a2.dtype, "a")
    check_width(b2, "b", a2.shape[1], "a")
    dtype = a2.dtype
    g = V.as_edge_values(grad_out, "grad_out", graph.num_edges, dtype)
    width = a2.shape[1]
    threads = resolve_num_threads(n_threads, work_of(graph.num_edges, graph.num_dst_nodes, width))
    grad_a = empty_aligned(a2.shape, dtype)
    grad_b = empty_aligned(b2.shape, dtype)
    a2 = aligned_for_gather(a2, graph.num_edges)
    b2 = aligned_for_gather(b2, graph.num_edges)
    _K.gather_sum(grad_a, b2, graph.indptr, graph.indices, threads, weight=g)
    t_indptr, t_indices, edge_id = graph.transpose_csr()
    _K.gather_sum(grad_b, a2, t_indptr, t_indices, threads, weight=g[edge_id])
    return shape_like(grad_a, a_1d), shape_like(grad_b, b_1d)
