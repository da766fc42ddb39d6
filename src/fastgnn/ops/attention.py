"""Attention edge operations: per-edge scores (:func:`sddmm`), the edge softmax, and their backward passes.

Per-edge values have shape ``(E, H)``: row ``e`` is edge ``e`` in CSR order,
one column per head. Node features have shape ``(N, H, F)`` (``H`` heads of
``F`` features) or ``(N, H)``. The multi-head weighted aggregation that
closes an attention layer is :func:`fastgnn.ops.aggregate` with ``x`` of
shape ``(N, H, F)`` and ``edge_weight`` of shape ``(E, H)``.

Every function runs a compiled kernel over rows split into chunks of equal
edge count, with sums in CSR order (per-source sums over the graph's cached
transpose), so results are bitwise identical for any number of threads. No
array of size edges x features is allocated. Inputs are never modified.
"""
import numpy as np

from fastgnn._kernels import aggregate as _K
from fastgnn._kernels import attention_ops as _A
from fastgnn._runtime import validate as V
from fastgnn._runtime.memory import aligned_for_gather, empty_aligned
from fastgnn._runtime.threads import resolve_num_threads
from fastgnn.ops.checks import as_graph, check_same_dtype, work_of

__all__ = ["sddmm", "sddmm_backward", "edge_softmax", "edge_softmax_backward"]

_SDDMM_OPS = ("dot", "add")


def as_head_features(x, name, num_rows, ranks=(2, 3)):
    """``x`` as a C-contiguous float array of shape ``(num_rows, H)`` or ``(num_rows, H, F)``."""
    array = V.as_array(x, name)
    if array.dtype not in V.FLOAT_DTYPES:
        raise TypeError(f"{name} must have dtype float32 or float64, got {array.dtype}")
    if array.ndim not in ranks:
        shapes = " or ".join({2: "(N, H)", 3: "(N, H, F)"}[r] for r in ranks)
        raise ValueError(f"{name} must have shape {shapes}, got shape {array.shape}")
    if array.shape[0] != num_rows:
        raise ValueError(f"{name} must have {num_rows} rows, got shape {array.shape}")
    return np.ascontiguousarray(array)


def check_same_heads(array, name, shape, other_name):
    """``array.shape[1:] == shape``, else a ValueError naming the differing heads or features."""
    if array.ndim != len(shape) + 1:
        raise ValueError(f"{name} has shape {array.shape} but {other_name} has trailing shape {shape}; "
                         "both must be (N, H) or both (N, H, F)")
    if array.shape[1] != shape[0]:
        raise ValueError(f"{name} has {array.shape[1]} heads but {other_name} has {shape[0]}")
    if array.shape[2:] != shape[1:]:
        raise ValueError(f"{name} has {array.shape[2]} features per head but {other_name} has {shape[1]}")


def as_edge_heads(values, name, num_edges, dtype=None, heads=None):
    """``values`` as a C-contiguous ``(E, H)`` float array (an ``(E,)`` array is one head) and whether it was 1-D.

    With ``dtype`` the dtype must match (TypeError); with ``heads`` the head count (ValueError).
    """
    array = V.as_array(values, name)
    if array.dtype not in V.FLOAT_DTYPES:
        raise TypeError(f"{name} must have dtype float32 or float64, got {array.dtype}")
    if dtype is not None and array.dtype != dtype:
        raise TypeError(f"{name} has dtype {array.dtype} but the other inputs have {dtype}; they must match")
    if array.ndim not in (1, 2) or array.shape[0] != num_edges:
        raise ValueError(f"{name} must have shape ({num_edges}, H) or ({num_edges},), got {array.shape}")
    was_1d = array.ndim == 1
    if was_1d:
        array = array.reshape(-1, 1)
    if heads is not None and array.shape[1] != heads:
        raise ValueError(f"{name} has {array.shape[1]} heads but the node features have {heads}")
    return np.ascontiguousarray(array), was_1d


def _check_op(op):
    if not isinstance(op, str) or op not in _SDDMM_OPS:
        raise ValueError(f"op must be 'dot' or 'add', got {op!r}")
    return op


def _sddmm_inputs(graph, a, b, op):
    """Validated ``(a, b, heads, features)``; ``features`` is 1 for 2-D inputs."""
    a = as_head_features(a, "a", graph.num_dst_nodes)
    b = as_head_features(b, "b", graph.num_src_nodes)
    check_same_dtype(b, "b", a.dtype, "a")
    check_same_heads(b, "b", a.shape[1:], "a")
    heads = a.shape[1]
    features = a.shape[2] if a.ndim == 3 else 1
    if op == "add" and features != 1:
        raise ValueError(f"op='add' takes (N, H) inputs (one value per head): a has shape {a.shape}, and adding "
                         f"{features} features per head would give an edges x features result")
    return a, b, heads, features


def sddmm(graph, a, b, op="dot", *, out=None, n_threads=None):
    """Per-edge, per-head values from both endpoints of each edge (sampled dense-dense product).

    For edge ``e = (j -> i)`` and head ``h``: ``"dot"`` gives
    ``out[e, h] = sum_f a[i, h, f] * b[j, h, f]`` (``a[i, h] * b[j, h]`` for
    2-D inputs); ``"add"`` gives ``out[e, h] = a[i, h] + b[j, h]``.

    Parameters
    ----------
    graph : Graph or scipy.sparse matrix
    a : array_like of float32 or float64, shape (num_dst_nodes, H, F) or (num_dst_nodes, H)
        The destination side.
    b : array_like, shape (num_src_nodes, H, F) or (num_src_nodes, H)
        The source side: the dtype and trailing shape of ``a``.
    op : {'dot', 'add'}
        ``"add"`` takes 2-D inputs only (or ``F == 1``): with more features
        the result would be edges x features.
    out : ndarray of shape (num_edges, H), optional
        Where to write the result (C-contiguous, dtype of ``a``). Returned.
    n_threads : int, optional
        Threads for this call (see :func:`fastgnn.set_num_threads`).

    Returns
    -------
    out : ndarray of shape (num_edges, H)

    Notes
    -----
    Cost ``O(E H F)``; each dot product sums in a fixed order, so the result
    is bitwise identical for any number of threads. GAT's attention logits
    are ``sddmm(graph, score_dst, score_src, "add")``.
    """
    graph = as_graph(graph)
    op = _check_op(op)
    a, b, heads, features = _sddmm_inputs(graph, a, b, op)
    dtype = a.dtype
    if out is None:
        out = empty_aligned((graph.num_edges, heads), dtype)
    else:
        V.check_out(out, (graph.num_edges, heads), dtype, (a, b))
    threads = resolve_num_threads(n_threads, work_of(graph.num_edges, graph.num_dst_nodes, heads * features))
    a2 = a.reshape(a.shape[0], heads * features)
    b2 = aligned_for_gather(b.reshape(b.shape[0], heads * features), graph.num_edges)
    if op == "add":
        _A.sddmm_add(out, a2, b2, graph.indptr, graph.indices, threads)
    else:
        _A.sddmm_dot(out, a2, b2, graph.indptr, graph.indices, heads, threads)
    return out


def sddmm_backward(graph, grad_out, a, b, op="dot", *, n_threads=None):
    """Gradients of :func:`sddmm`: ``(dL/da, dL/db)``, shaped like ``a`` and ``b``.

    Parameters
    ----------
    graph : Graph or scipy.sparse matrix
        The graph of the forward call.
    grad_out : array_like, shape (num_edges, H) (or (num_edges,) when H is 1)
        ``G = dL/d out``, the dtype of ``a``.
    a, b : array_like
        The forward inputs.
    op : {'dot', 'add'}
    n_threads : int, optional

    Returns
    -------
    grad_a : ndarray, the shape of ``a``
    grad_b : ndarray, the shape of ``b``

    Notes
    -----
    ``"dot"``: ``dL/da[i, h] = sum_{e: j -> i} G[e, h] b[j, h]`` and
    ``dL/db[j, h] = sum_{e: j -> i} G[e, h] a[i, h]``; ``"add"``: the same
    with ``a`` and ``b`` replaced by ones. ``dL/db`` is a sum over the
    graph's cached transpose, in increasing edge id, so both are bitwise
    identical for any number of threads. Cost ``O((E + N) H F)``.
    """
    graph = as_graph(graph)
    op = _check_op(op)
    a, b, heads, features = _sddmm_inputs(graph, a, b, op)
    dtype = a.dtype
    g, _ = as_edge_heads(grad_out, "grad_out", graph.num_edges, dtype, heads)
    width = heads * features
    threads = resolve_num_threads(n_threads, work_of(graph.num_edges, max(graph.num_dst_nodes, graph.num_src_nodes),
                                                     width))
    t_indptr, t_indices, edge_id = graph.transpose_csr()
    grad_a = empty_aligned((graph.num_dst_nodes, width), dtype)
    grad_b = empty_aligned((graph.num_src_nodes, width), dtype)
    if op == "add":
        # row sums of G, then sums over each source's edges (gathered by edge id)
        _K.segment_sum(grad_a, g, graph.indptr, threads)
        _K.gather_sum(grad_b, g, t_indptr, edge_id, threads)
    else:
        a2 = aligned_for_gather(a.reshape(a.shape[0], width), graph.num_edges)
        b2 = aligned_for_gather(b.reshape(b.shape[0], width), graph.num_edges)
        _A.gather_sum_heads(grad_a, b2, g, graph.indptr, graph.indices, threads)
        _A.gather_sum_heads(grad_b, a2, g, t_indptr, t_indices, threads, edge_id=edge_id)
    return grad_a.reshape(a.shape), grad_b.reshape(b.shape)


def edge_softmax(graph, scores, *, out=None, n_threads=None):
    """Softmax of per-edge scores over the in-edges of each destination node, per head.

    ``out[e, h] = exp(s[e, h] - m) / sum_{e' in row(i)} exp(s[e', h] - m)``
    for the edges ``e`` of row ``i``, ``m`` the row's maximum for head ``h``.

    Parameters
    ----------
    graph : Graph or scipy.sparse matrix
    scores : array_like of float32 or float64, shape (num_edges, H) or (num_edges,)
    out : ndarray, optional
        Where to write the result: the shape and dtype of ``scores``,
        C-contiguous, not overlapping it. Returned.
    n_threads : int, optional

    Returns
    -------
    out : ndarray, the shape of ``scores``

    Notes
    -----
    An empty row has no edges and produces nothing; a row of one edge gives
    1; a NaN score makes its row-head all NaN; a row-head whose scores are
    all ``-inf`` gives 0 for each of its edges (and a ``+inf`` score gives
    NaN, as ``inf - inf``). ``exp`` is computed once per edge and head; the
    maxima and sums run in CSR order, so the result is bitwise identical for
    any number of threads. Cost ``O(E H)``.
    """
    graph = as_graph(graph)
    s, was_1d = as_edge_heads(scores, "scores", graph.num_edges)
    result = _edge_output(out, s.shape, s.dtype, was_1d, (s,))
    threads = resolve_num_threads(n_threads, work_of(graph.num_edges, graph.num_dst_nodes, s.shape[1]))
    _A.edge_softmax(result, s, graph.indptr, threads)
    return out if out is not None else (result.reshape(-1) if was_1d else result)


def edge_softmax_backward(graph, grad_out, attention, *, n_threads=None):
    """Gradient of :func:`edge_softmax` with respect to the scores.

    ``dL/ds[e, h] = a[e, h] * (G[e, h] - sum_{e' in row(i)} a[e', h] G[e', h])``
    with ``a`` the softmax output (``attention``) and ``G = dL/d a``.

    Parameters
    ----------
    graph : Graph or scipy.sparse matrix
    grad_out : array_like, shape (num_edges, H) or (num_edges,)
    attention : array_like, the shape and dtype of ``grad_out``
        The output of :func:`edge_softmax`.
    n_threads : int, optional

    Returns
    -------
    grad_scores : ndarray, the shape of ``grad_out``

    Notes
    -----
    Row sums in CSR order: bitwise identical for any number of threads. Cost ``O(E H)``.
    """
    graph = as_graph(graph)
    g, was_1d = as_edge_heads(grad_out, "grad_out", graph.num_edges)
    att, _ = as_edge_heads(attention, "attention", graph.num_edges, g.dtype, g.shape[1])
    threads = resolve_num_threads(n_threads, work_of(graph.num_edges, graph.num_dst_nodes, g.shape[1]))
    result = empty_aligned(g.shape, g.dtype)
    _A.edge_softmax_backward(result, g, att, graph.indptr, threads)
    return result.reshape(-1) if was_1d else result


def _edge_output(out, shape, dtype, was_1d, inputs):
    """A fresh aligned ``(E, H)`` array, or the caller's ``out`` (the caller's shape) viewed as ``(E, H)``."""
    if out is None:
        return empty_aligned(shape, dtype)
    V.check_out(out, (shape[0],) if was_1d else shape, dtype, inputs)
    return out.reshape(shape)
