"""Aggregation over a graph's in-neighbours: :func:`aggregate` and its backward."""
import numpy as np

from fastgnn._kernels import aggregate as _K
from fastgnn._kernels import attention_ops as _A
from fastgnn._runtime import validate as V
from fastgnn._runtime.memory import (PADDED_WIDTH, aligned_for_gather, copies_for_gather, empty_aligned,
                                     padded_for_gather, pads_for_gather)
from fastgnn._runtime.threads import resolve_num_threads
from fastgnn.ops.checks import (as_graph, check_arg, check_same_dtype, check_width, output_array,
                                raise_if_invalid_arg, resolve_edge_weight, resolve_transposed_edge_weight,
                                shape_like, work_of)
from fastgnn.ops.attention import as_head_features, check_same_heads

__all__ = ["aggregate", "aggregate_backward"]


def aggregate(graph, x, reduce="sum", *, edge_weight=None, return_arg=False, out=None, n_threads=None):
    """Aggregate the features of each node's in-neighbours.

    ``out[i] = REDUCE_{e = (j -> i)} w_e * x[j]`` with ``w_e`` the edge
    weight (1 when absent), over the edges of row ``i`` in CSR order.

    Parameters
    ----------
    graph : Graph or scipy.sparse matrix
        ``A[i, j]`` is the weight of ``j -> i``.
    x : array_like of float32 or float64, shape (num_src_nodes, d), (num_src_nodes,) or (num_src_nodes, H, F)
        Three dimensions are ``H`` heads of ``F`` features: with ``(E, H)``
        edge weights, each head is weighted by its own column (multi-head
        attention); otherwise ``x`` is aggregated as ``(N, H * F)``.
    reduce : {'sum', 'add', 'mean', 'max', 'min'}
        ``mean`` divides the weighted sum by the number of edges of the row.
        Empty rows give 0. With ``(E, H)`` weights: ``sum`` and ``mean`` only.
    edge_weight : array_like, shape (num_edges,) or (num_edges, H), optional
        Overrides the graph's own weights; cast to the dtype of ``x``.
        ``(num_edges, H)`` (per-head weights) needs ``x`` of shape
        ``(num_src_nodes, H, F)``: ``out[i, h] = sum_e w[e, h] x[j, h]``.
        For ``sum`` and ``mean``, ``x`` may also be a column block of a
        wider C-contiguous array (``z[:, :64]``: rows contiguous, further
        apart than their width), read in place.
    return_arg : bool
        Also return ``arg``: for max/min, the winning edge id of each output
        element (first in CSR order on ties, -1 for an empty row), in the
        graph's index dtype; None for sum and mean.
    out : ndarray, optional
        Where to write the result: C-contiguous, shape ``(num_dst_nodes, d)``
        (``(num_dst_nodes,)`` for 1-D ``x``), the dtype of ``x``, not
        overlapping ``x``; for ``sum`` and ``mean`` also a column block of a
        wider C-contiguous array (the other columns are left alone). Returned.
    n_threads : int, optional
        Threads for this call (see :func:`fastgnn.set_num_threads`).

    Returns
    -------
    out : ndarray of shape (num_dst_nodes, d), dtype of ``x``
    arg : ndarray of shape (num_dst_nodes, d), only with ``return_arg``

    Notes
    -----
    Cost ``O((E + N) d)`` time, no memory beyond the output (and ``arg``).
    The result is bitwise identical for any number of threads. A NaN message
    wins a max/min and propagates, as in ``numpy.maximum``. Multi-head
    weights gather each source row once for all heads: ``O((E + N) H F)``.

    Examples
    --------
    >>> import numpy as np
    >>> import fastgnn as fg
    >>> graph = fg.Graph.from_edge_index(np.array([[0, 1, 2, 2], [1, 2, 0, 1]]), num_nodes=3)
    >>> x = np.array([[1.0], [2.0], [4.0]], dtype=np.float32)
    >>> fg.aggregate(graph, x, "sum").ravel()          # node 1 sums x[0] and x[2]
    array([4., 5., 2.], dtype=float32)
    >>> out, arg = fg.aggregate(graph, x, "max", return_arg=True)
    >>> out.ravel(), arg.ravel()                       # arg: the winning edge of each element
    (array([4., 4., 2.], dtype=float32), array([0, 2, 3], dtype=int32))
    """
    graph = as_graph(graph, wait=False)
    reduce = V.check_reduce(reduce)
    pending = graph.pending_sources
    if pending is not None and not _read_in_place(x):
        graph.wait_for_sources()            # the other paths read (or copy) every source row first
        pending = None
    if _has_heads(x):
        return _aggregate_heads(graph, x, reduce, edge_weight, return_arg, out, n_threads)
    if reduce in ("sum", "mean") and (_is_column_block(x) or _is_column_block(out)):
        return _aggregate_blocks(graph, x, reduce, edge_weight, out, n_threads)
    x2, was_1d = V.as_features(x, "x", num_rows=graph.num_src_nodes)
    dtype = x2.dtype
    weight = resolve_edge_weight(graph, edge_weight, dtype)
    width = x2.shape[1]
    threads = resolve_num_threads(n_threads, work_of(graph.num_edges, graph.num_dst_nodes, width))
    given_out = out
    out = output_array(out, (graph.num_dst_nodes, width), dtype, was_1d, (x2, weight))
    x2, padded, pending = _gathered_rows(x2, graph.num_edges, pending)
    result = out if not padded else empty_aligned((graph.num_dst_nodes, x2.shape[1]), dtype)
    arg = None
    if reduce in ("sum", "mean"):
        def gather(a, b):
            _K.gather_sum(result[a:b], x2, graph.indptr[a:b + 1], graph.indices, threads, weight=weight,
                          mean=reduce == "mean")
    else:
        arg = empty_aligned((graph.num_dst_nodes, x2.shape[1]), graph.index_dtype)
        extremum = _K.gather_min if reduce == "min" else _K.gather_max

        def gather(a, b):
            extremum(result[a:b], arg[a:b], x2, graph.indptr[a:b + 1], graph.indices, threads, weight=weight)
    _rows_ready_first(gather, graph.num_dst_nodes, pending)
    if padded:
        out[...] = result[:, :width]
        arg = None if arg is None else np.ascontiguousarray(arg[:, :width])
    out = shape_like(out, was_1d) if given_out is None else given_out
    if return_arg:
        return out, (None if arg is None else shape_like(arg, was_1d))
    return out


def _read_in_place(x):
    """Whether the 2-D path reads ``x`` where it is (a C-contiguous float matrix: no converted copy of every row)."""
    return (isinstance(x, np.ndarray) and x.ndim == 2 and x.dtype in V.FLOAT_DTYPES
            and x.flags.c_contiguous)


def _gathered_rows(x2, num_edges, pending):
    """``(rows, padded, pending)``: ``x2`` as the kernels gather it, and the barrier to wait for before the late rows.

    The rows are ``x2`` itself, a copy widened to 16 columns (narrow rows,
    ``padded`` True) or an aligned copy. With a pending barrier only the
    valid rows are copied now; the returned barrier copies the others once
    they arrive.
    """
    if pending is None:
        padded = padded_for_gather(x2, num_edges)
        return (aligned_for_gather(x2, num_edges) if padded is None else padded), padded is not None, None
    narrow = pads_for_gather(x2, num_edges)
    if not (narrow or copies_for_gather(x2, num_edges)):
        return x2, False, pending
    width, first = x2.shape[1], pending.first_column
    rows = empty_aligned((x2.shape[0], PADDED_WIDTH if narrow else width), x2.dtype)
    rows[:, width:] = 0
    rows[:first, :width] = x2[:first]

    def copy_late_rows():
        rows[first:, :width] = x2[first:]
    return rows, narrow, pending.then(copy_late_rows)


def _rows_ready_first(compute, num_rows, pending):
    """``compute(0, num_rows)``; with a barrier, rows ``[0, ready_rows)`` before waiting and the rest after.

    Each row is computed once, in one pass: the bits do not depend on the split.
    """
    ready = 0 if pending is None else min(pending.ready_rows, num_rows)
    if ready:
        compute(0, ready)
    if ready < num_rows:
        if pending is not None:
            pending.wait()
        compute(ready, num_rows)


def _has_heads(array):
    """Whether ``array`` has more than two dimensions (node features of shape ``(N, H, F)``, or a mistake)."""
    ndim = getattr(array, "ndim", None)
    return (ndim if isinstance(ndim, int) else np.ndim(array)) > 2


def _check_heads_rank(array, name):
    ndim = np.ndim(array)
    if ndim != 3:
        raise ValueError(f"{name} must be 1-D, 2-D or 3-D (N, H, F), got shape {np.shape(array)}")


def _head_weights(graph, edge_weight, heads, dtype, reduce):
    """``(E, H)`` edge weights as a C-contiguous array of ``dtype``, or None when they are not 2-D."""
    if edge_weight is None:
        return None
    w = V.as_array(edge_weight, "edge_weight")
    if w.ndim != 2:
        return None
    if w.dtype.kind not in "fiub":
        raise TypeError(f"edge_weight must hold real numbers, got dtype {w.dtype}")
    if w.shape[0] != graph.num_edges:
        raise ValueError(f"edge_weight must have shape ({graph.num_edges},) or ({graph.num_edges}, {heads}), "
                         f"got {w.shape}")
    if w.shape[1] != heads:
        raise ValueError(f"edge_weight has {w.shape[1]} heads but x has {heads}")
    if reduce not in ("sum", "mean"):
        raise ValueError(f"reduce={reduce!r} does not take per-head (E, H) edge weights: use 'sum' or 'mean', "
                         "or 1-D weights")
    return np.ascontiguousarray(w, dtype=dtype)


def _aggregate_heads(graph, x, reduce, edge_weight, return_arg, out, n_threads):
    """:func:`aggregate` of ``x`` of shape ``(N, H, F)``: per-head weights, or the ``(N, H * F)`` path."""
    _check_heads_rank(x, "x")
    x3 = as_head_features(x, "x", graph.num_src_nodes, ranks=(3,))
    num_src, heads, features = x3.shape
    shape = (graph.num_dst_nodes, heads, features)
    weight = _head_weights(graph, edge_weight, heads, x3.dtype, reduce)
    if out is not None:
        V.check_out(out, shape, x3.dtype, (x3, weight))
    if weight is None or heads == 1:
        # one weight per edge for every head (or one head): the (N, H * F) path
        flat_out = None if out is None else out.reshape(graph.num_dst_nodes, heads * features)
        flat_weight = edge_weight if weight is None else weight[:, 0]
        result, arg = aggregate(graph, x3.reshape(num_src, heads * features), reduce, edge_weight=flat_weight,
                                return_arg=True, out=flat_out, n_threads=n_threads)
        result = out if out is not None else result.reshape(shape)
        if return_arg:
            return result, (None if arg is None else arg.reshape(shape))
        return result
    width = heads * features
    result = empty_aligned(shape, x3.dtype) if out is None else out
    threads = resolve_num_threads(n_threads, work_of(graph.num_edges, graph.num_dst_nodes, width))
    x2 = aligned_for_gather(x3.reshape(num_src, width), graph.num_edges)
    _A.gather_sum_heads(result.reshape(graph.num_dst_nodes, width), x2, weight, graph.indptr, graph.indices, threads,
                        mean=reduce == "mean")
    return (result, None) if return_arg else result


def _is_column_block(array):
    """Whether ``array`` is a 2-D float ndarray whose rows are contiguous but not adjacent (a column block)."""
    return (isinstance(array, np.ndarray) and array.ndim == 2 and not array.flags.c_contiguous
            and array.dtype in V.FLOAT_DTYPES and array.strides[1] == array.itemsize
            and array.strides[0] % array.itemsize == 0 and array.strides[0] >= array.shape[1] * array.itemsize)


def _block_out(out, shape, dtype, inputs):
    """A caller's ``out=`` that may be a column block of a wider array, or a new aligned array."""
    if out is None:
        return empty_aligned(shape, dtype)
    return V.check_out(out, shape, dtype, inputs, rows_only=True)


def _rows_in_place(x, name, num_rows):
    """``x`` as a 2-D float array read in place when its rows are contiguous (a column block), else as_features."""
    if _is_column_block(x):
        if x.shape[0] != num_rows:
            raise ValueError(f"{name} must have {num_rows} rows, got shape {x.shape}")
        return x
    return V.as_features(x, name, num_rows=num_rows)[0]


def _aggregate_blocks(graph, x, reduce, edge_weight, out, n_threads):
    """Sum/mean aggregation where ``x`` or ``out`` is a column block of a wider array (read/written in place)."""
    x2 = _rows_in_place(x, "x", graph.num_src_nodes)
    dtype, width = x2.dtype, x2.shape[1]
    weight = resolve_edge_weight(graph, edge_weight, dtype)
    out = _block_out(out, (graph.num_dst_nodes, width), dtype, (x2, weight))
    threads = resolve_num_threads(n_threads, work_of(graph.num_edges, graph.num_dst_nodes, width))
    _K.gather_sum_strided(out, x2, graph.indptr, graph.indices, threads, weight=weight, mean=reduce == "mean")
    return out


def aggregate_backward(graph, grad_out, reduce="sum", *, x=None, edge_weight=None, arg=None,
                       need_weight_grad=False, out=None, n_threads=None):
    """Gradients of :func:`aggregate` with respect to ``x`` (and the edge weights).

    Parameters
    ----------
    graph : Graph or scipy.sparse matrix
        The graph of the forward call.
    grad_out : array_like, shape (num_dst_nodes, d) or (num_dst_nodes, H, F)
        ``G = dL/d out``; three dimensions as in :func:`aggregate`.
    reduce : {'sum', 'add', 'mean', 'max', 'min'}
    x : array_like, shape (num_src_nodes, d), optional
        The forward input; needed only for ``need_weight_grad``. Same dtype
        as ``grad_out``.
    edge_weight : array_like, shape (num_edges,) or (num_edges, H), optional
        The weights of the forward call (default: the graph's own).
    arg : array_like of int, shape (num_dst_nodes, d) (or (num_dst_nodes, H, F))
        The ``arg`` returned by the max/min forward; required for max/min.
    need_weight_grad : bool
        Also return the gradient with respect to the edge weights.
    out : ndarray, optional
        Where to write ``grad_x`` (sum and mean, without
        ``need_weight_grad``): shape ``(num_src_nodes, d)``, the dtype of
        ``grad_out``, C-contiguous or a column block of a wider C-contiguous
        array. ``grad_out`` may be a column block too. Returned.
    n_threads : int, optional

    Returns
    -------
    grad_x : ndarray of shape (num_src_nodes, d)
    grad_edge_weight : ndarray of shape (num_edges,), only with ``need_weight_grad``
        (``(num_edges, H)`` for per-head weights: ``dL/dw[e, h] = <G[i, h], x[j, h]>``)

    Notes
    -----
    ``sum``: ``dL/dx[j] = sum_{e: j -> i} w_e G[i]``, ``dL/dw_e = <G[i], x[j]>``;
    ``mean`` divides both by ``deg(i)``; ``max``/``min`` route each
    ``G[i, k]`` to the winning edge ``arg[i, k]`` only. Sum and mean are
    computed over the graph's cached transpose, one output row per task;
    max/min route each ``G[i, k]`` from the reduced rows, in row order, each
    thread owning a block of feature columns of ``grad_x``. No atomics, a fixed summation order
    (increasing edge id), so bitwise identical for any number of threads.
    Cost ``O((E + N) d)`` for sum and mean, ``O(N d)`` for max/min (plus
    zeroing ``grad_x``). With per-head weights, ``grad_x`` is a pass over
    the transpose and ``grad_w`` an :func:`fastgnn.ops.sddmm` over the CSR
    (``O((E + N) H F)`` each).
    """
    graph = as_graph(graph)
    reduce = V.check_reduce(reduce)
    if _has_heads(grad_out):
        return _aggregate_heads_backward(graph, grad_out, reduce, x, edge_weight, arg, need_weight_grad, out,
                                         n_threads)
    if out is not None or _is_column_block(grad_out):
        if reduce not in ("sum", "mean") or need_weight_grad:
            raise ValueError("out= and column-block gradients are taken by the sum and mean backward "
                             "without need_weight_grad")
        return _backward_blocks(graph, grad_out, reduce, edge_weight, out, n_threads)
    g2, was_1d = V.as_features(grad_out, "grad_out", num_rows=graph.num_dst_nodes)
    dtype, width = g2.dtype, g2.shape[1]
    x2 = None
    if x is not None:
        x2, _ = V.as_features(x, "x", num_rows=graph.num_src_nodes)
        check_same_dtype(x2, "x", dtype, "grad_out")
        check_width(x2, "x", width, "grad_out")
    elif need_weight_grad:
        raise ValueError("x is required to compute the edge-weight gradient (need_weight_grad=True)")
    if reduce in ("max", "min"):
        arg = check_arg(arg, (graph.num_dst_nodes, width), graph.index_dtype)
    weight = resolve_edge_weight(graph, edge_weight, dtype)
    threads = resolve_num_threads(n_threads, work_of(graph.num_edges, graph.num_src_nodes, width))
    grad_x = empty_aligned((graph.num_src_nodes, width), dtype)
    grad_w = np.zeros(graph.num_edges, dtype=dtype) if need_weight_grad else None
    if reduce in ("sum", "mean"):
        t_indptr, t_indices, edge_id = graph.transpose_csr()
        weight_t = resolve_transposed_edge_weight(graph, edge_weight, weight, dtype)
        scale = graph.inverse_in_degree(dtype) if reduce == "mean" else None
        padded = padded_for_gather(g2, graph.num_edges)
        # narrow rows gather 16-lane rows; the zero columns add nothing to the weight gradient
        g_rows = aligned_for_gather(g2, graph.num_edges) if padded is None else padded
        result = grad_x if padded is None else empty_aligned((graph.num_src_nodes, padded.shape[1]), dtype)
        if need_weight_grad:
            x_rows = x2 if padded is None else padded_for_gather(x2, graph.num_edges)
            if x_rows is None:
                x_rows = np.zeros((x2.shape[0], padded.shape[1]), dtype=dtype)
                x_rows[:, :width] = x2
            _K.gather_sum_with_edge_dot(result, grad_w, g_rows, x_rows, t_indptr, t_indices, edge_id, threads,
                                        weight=weight_t, scale=scale)
        else:
            _K.gather_sum(result, g_rows, t_indptr, t_indices, threads, weight=weight_t, scale=scale)
        if padded is not None:
            grad_x[...] = result[:, :width]
    else:
        # each G[i, k] goes to its winning edge's source alone: N * d updates, not E * d
        invalid = _K.extremum_backward_route(grad_x, g2, arg, graph.indptr, graph.indices, threads, weight=weight)
        raise_if_invalid_arg(invalid)
        if need_weight_grad:
            _K.extremum_weight_grad(grad_w, g2, arg, x2, graph.indptr, graph.indices, threads)
    grad_x = shape_like(grad_x, was_1d)
    return (grad_x, grad_w) if need_weight_grad else grad_x


def _aggregate_heads_backward(graph, grad_out, reduce, x, edge_weight, arg, need_weight_grad, out, n_threads):
    """:func:`aggregate_backward` of ``grad_out`` of shape ``(N, H, F)``."""
    _check_heads_rank(grad_out, "grad_out")
    g3 = as_head_features(grad_out, "grad_out", graph.num_dst_nodes, ranks=(3,))
    dtype = g3.dtype
    _, heads, features = g3.shape
    width = heads * features
    shape = (graph.num_src_nodes, heads, features)
    x3 = None
    if x is not None:
        x3 = as_head_features(x, "x", graph.num_src_nodes, ranks=(3,))
        check_same_dtype(x3, "x", dtype, "grad_out")
        check_same_heads(x3, "x", g3.shape[1:], "grad_out")
    elif need_weight_grad:
        raise ValueError("x is required to compute the edge-weight gradient (need_weight_grad=True)")
    weight = _head_weights(graph, edge_weight, heads, dtype, reduce)
    if out is not None:
        if need_weight_grad:
            raise ValueError("out= is taken by the backward without need_weight_grad")
        V.check_out(out, shape, dtype, (g3, x3, weight))
    if weight is None or heads == 1:
        if arg is not None and getattr(arg, "ndim", None) == 3:
            arg = V.as_array(arg, "arg").reshape(graph.num_dst_nodes, -1)
        result = aggregate_backward(
            graph, g3.reshape(graph.num_dst_nodes, width), reduce,
            x=None if x3 is None else x3.reshape(graph.num_src_nodes, width),
            edge_weight=edge_weight if weight is None else weight[:, 0], arg=arg,
            need_weight_grad=need_weight_grad, n_threads=n_threads)
        grad_x, grad_w = result if need_weight_grad else (result, None)
        if out is not None:
            out[...] = grad_x.reshape(shape)
            grad_x = out
        grad_x = grad_x.reshape(shape)
        if need_weight_grad:
            return grad_x, (grad_w if weight is None else grad_w.reshape(-1, 1))
        return grad_x
    threads = resolve_num_threads(n_threads, work_of(graph.num_edges, graph.num_src_nodes, width))
    t_indptr, t_indices, edge_id = graph.transpose_csr()
    scale = graph.inverse_in_degree(dtype) if reduce == "mean" else None
    grad_x = empty_aligned(shape, dtype) if out is None else out
    g2 = g3.reshape(graph.num_dst_nodes, width)
    _A.gather_sum_heads(grad_x.reshape(graph.num_src_nodes, width), aligned_for_gather(g2, graph.num_edges), weight,
                        t_indptr, t_indices, threads, edge_id=edge_id, scale=scale)
    if not need_weight_grad:
        return grad_x
    # dL/dw[e, h] = <G[i, h], x[j, h]> (/ deg(i)): an sddmm over the CSR, which writes (E, H) in order
    grad_w = empty_aligned((graph.num_edges, heads), dtype)
    x2 = aligned_for_gather(x3.reshape(graph.num_src_nodes, width), graph.num_edges)
    _A.sddmm_dot(grad_w, g2, x2, graph.indptr, graph.indices, heads, threads, row_scale=scale)
    return grad_x, grad_w


def _backward_blocks(graph, grad_out, reduce, edge_weight, out, n_threads):
    """The sum/mean feature gradient, reading and writing column blocks in place."""
    g2 = _rows_in_place(grad_out, "grad_out", graph.num_dst_nodes)
    dtype, width = g2.dtype, g2.shape[1]
    weight = resolve_edge_weight(graph, edge_weight, dtype)
    out = _block_out(out, (graph.num_src_nodes, width), dtype, (g2, weight))
    t_indptr, t_indices, _ = graph.transpose_csr()
    weight_t = resolve_transposed_edge_weight(graph, edge_weight, weight, dtype)
    scale = graph.inverse_in_degree(dtype) if reduce == "mean" else None
    threads = resolve_num_threads(n_threads, work_of(graph.num_edges, graph.num_src_nodes, width))
    _K.gather_sum_strided(out, g2, t_indptr, t_indices, threads, weight=weight_t, scale=scale)
    return out
