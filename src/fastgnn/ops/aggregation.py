"""Aggregation over a graph's in-neighbours: :func:`aggregate` and its backward."""
import numpy as np

from fastgnn._kernels import aggregate as _K
from fastgnn._runtime import validate as V
from fastgnn._runtime.memory import aligned_for_gather, empty_aligned, padded_for_gather
from fastgnn._runtime.threads import resolve_num_threads
from fastgnn.ops.checks import (as_graph, check_arg, check_same_dtype, check_width, output_array,
                                raise_if_invalid_arg, resolve_edge_weight, resolve_transposed_edge_weight,
                                shape_like, work_of)

__all__ = ["aggregate", "aggregate_backward"]


def aggregate(graph, x, reduce="sum", *, edge_weight=None, return_arg=False, out=None, n_threads=None):
    """Aggregate the features of each node's in-neighbours.

    ``out[i] = REDUCE_{e = (j -> i)} w_e * x[j]`` with ``w_e`` the edge
    weight (1 when absent), over the edges of row ``i`` in CSR order.

    Parameters
    ----------
    graph : Graph or scipy.sparse matrix
        ``A[i, j]`` is the weight of ``j -> i``.
    x : array_like of float32 or float64, shape (num_src_nodes, d) or (num_src_nodes,)
    reduce : {'sum', 'add', 'mean', 'max', 'min'}
        ``mean`` divides the weighted sum by the number of edges of the row.
        Empty rows give 0.
    edge_weight : array_like, shape (num_edges,), optional
        Overrides the graph's own weights; cast to the dtype of ``x``.
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
    wins a max/min and propagates, as in ``numpy.maximum``.
    """
    graph = as_graph(graph)
    reduce = V.check_reduce(reduce)
    if reduce in ("sum", "mean") and (_is_column_block(x) or _is_column_block(out)):
        return _aggregate_blocks(graph, x, reduce, edge_weight, out, n_threads)
    x2, was_1d = V.as_features(x, "x", num_rows=graph.num_src_nodes)
    dtype = x2.dtype
    weight = resolve_edge_weight(graph, edge_weight, dtype)
    width = x2.shape[1]
    threads = resolve_num_threads(n_threads, work_of(graph.num_edges, graph.num_dst_nodes, width))
    given_out = out
    out = output_array(out, (graph.num_dst_nodes, width), dtype, was_1d, (x2, weight))
    padded = padded_for_gather(x2, graph.num_edges)
    x2 = aligned_for_gather(x2, graph.num_edges) if padded is None else padded
    result = out if padded is None else empty_aligned((graph.num_dst_nodes, x2.shape[1]), dtype)
    arg = None
    if reduce in ("sum", "mean"):
        _K.gather_sum(result, x2, graph.indptr, graph.indices, threads, weight=weight, mean=reduce == "mean")
    else:
        arg = empty_aligned((graph.num_dst_nodes, x2.shape[1]), graph.index_dtype)
        gather = _K.gather_min if reduce == "min" else _K.gather_max
        gather(result, arg, x2, graph.indptr, graph.indices, threads, weight=weight)
    if padded is not None:
        out[...] = result[:, :width]
        arg = None if arg is None else np.ascontiguousarray(arg[:, :width])
    out = shape_like(out, was_1d) if given_out is None else given_out
    if return_arg:
        return out, (None if arg is None else shape_like(arg, was_1d))
    return out


def _is_column_block(array):
    """Whether ``array`` is a 2-D float ndarray whose rows are contiguous but not adjacent (a column block)."""
    return (isinstance(array, np.ndarray) and array.ndim == 2 and not array.flags.c_contiguous
            and array.dtype in V.FLOAT_DTYPES and array.strides[1] == array.itemsize
            and array.strides[0] % array.itemsize == 0 and array.strides[0] >= array.shape[1] * array.itemsize)


def _block_out(out, shape, dtype, inputs):
    """A caller's ``out=`` that may be a column block: checked as :func:`V.check_out` but for contiguity."""
    if out is None:
        return empty_aligned(shape, dtype)
    if _is_column_block(out) or not isinstance(out, np.ndarray):
        if not isinstance(out, np.ndarray):
            raise TypeError(f"out must be a numpy.ndarray, got {type(out).__name__}")
        if out.dtype != dtype:
            raise TypeError(f"out must have dtype {dtype}, got {out.dtype}")
        if out.shape != tuple(shape):
            raise ValueError(f"out must have shape {tuple(shape)}, got {out.shape}")
        if not out.flags.writeable:
            raise ValueError("out must be writeable")
        for other in inputs:
            if other is not None and np.shares_memory(out, other):
                raise ValueError("out must not share memory with an input")
        return out
    return V.check_out(out, shape, dtype, inputs)


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
    grad_out : array_like, shape (num_dst_nodes, d)
        ``G = dL/d out``.
    reduce : {'sum', 'add', 'mean', 'max', 'min'}
    x : array_like, shape (num_src_nodes, d), optional
        The forward input; needed only for ``need_weight_grad``. Same dtype
        as ``grad_out``.
    edge_weight : array_like, shape (num_edges,), optional
        The weights of the forward call (default: the graph's own).
    arg : array_like of int, shape (num_dst_nodes, d)
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

    Notes
    -----
    ``sum``: ``dL/dx[j] = sum_{e: j -> i} w_e G[i]``, ``dL/dw_e = <G[i], x[j]>``;
    ``mean`` divides both by ``deg(i)``; ``max``/``min`` route each
    ``G[i, k]`` to the winning edge ``arg[i, k]`` only. Computed over the
    graph's cached transpose, one output row per task: no atomics, a fixed
    summation order, so bitwise identical for any number of threads.
    Cost ``O((E + N) d)``.
    """
    graph = as_graph(graph)
    reduce = V.check_reduce(reduce)
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
        if threads > 1:  # the gather over the cached transpose is the path that splits across threads
            t_indptr, t_indices, edge_id = graph.transpose_csr()
            g2 = aligned_for_gather(g2, graph.num_edges)  # its rows are gathered at random there
            invalid = _K.extremum_backward_gather(
                grad_x, g2, arg, graph.indptr, t_indptr, t_indices, edge_id, threads,
                weight_t=resolve_transposed_edge_weight(graph, edge_weight, weight, dtype))
        else:
            invalid = _K.extremum_backward_scatter(grad_x, g2, arg, graph.indptr, graph.indices, threads,
                                                   weight=weight)
        raise_if_invalid_arg(invalid)
        if need_weight_grad:
            _K.extremum_weight_grad(grad_w, g2, arg, x2, graph.indptr, graph.indices, threads)
    grad_x = shape_like(grad_x, was_1d)
    return (grad_x, grad_w) if need_weight_grad else grad_x


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
