"""Public aggregation operations on arrays: validate, pick dtypes and threads, call a kernel.

Every function here accepts NumPy arrays (and array-likes) and a
:class:`fastgnn.Graph` (or, where named, a scipy sparse matrix). Inputs are
never modified. A copy is made only when an input is not C-contiguous, an
edge-weight array needs a cast to the feature dtype, or a feature array that
a kernel gathers rows from many times (more than two per row on average) is
not 64-byte aligned: NumPy aligns to 16 bytes, and a misaligned gather runs
up to twice as slow, so one O(N d) copy pays for itself. Outputs are 64-byte
aligned. No function allocates anything of size edges x features.
"""
import numpy as np

from fastgnn import _validate as V
from fastgnn._kernels import aggregate as _K
from fastgnn._memory import aligned_for_gather, empty_aligned, padded_for_gather
from fastgnn._threads import resolve_num_threads
from fastgnn.graph import Graph

__all__ = [
    "aggregate",
    "aggregate_backward",
    "segment_reduce",
    "segment_reduce_backward",
    "edge_dot",
    "edge_dot_backward",
]


def _as_graph(graph, name="graph"):
    if isinstance(graph, Graph):
        return graph
    try:
        import scipy.sparse as sp
    except ImportError:  # pragma: no cover - scipy is a dependency
        sp = None
    if sp is not None and sp.issparse(graph):
        return Graph.from_scipy(graph)
    raise TypeError(f"{name} must be a fastgnn.Graph or a scipy sparse matrix, got {type(graph).__name__}")


def _edge_weight(graph, edge_weight, dtype):
    """The weights a call uses (explicit, else the graph's), in ``dtype``, or None."""
    if edge_weight is None:
        return graph.edge_weight_as(dtype)
    return V.as_edge_values(edge_weight, "edge_weight", graph.num_edges, dtype)


def _transposed_edge_weight(graph, edge_weight, weight, dtype):
    """The weights in source-major order (cached for the graph's own weights)."""
    if weight is None:
        return None
    if edge_weight is None:
        return graph.transposed_edge_weight(dtype)
    return weight[graph.transpose_csr()[2]]


def _output(out, shape, dtype, was_1d, inputs):
    """A fresh aligned output, or the caller's ``out`` viewed as 2-D."""
    if out is None:
        return empty_aligned(shape, dtype)
    expected = (shape[0],) if was_1d else shape
    V.check_out(out, expected, dtype, inputs)
    return out.reshape(shape)


def _work(num_edges, num_rows, width):
    return (num_edges + num_rows) * max(width, 1)


def _shape_like(out, was_1d):
    return out.reshape(-1) if was_1d else out


def _check_same_dtype(array, name, dtype, other_name):
    if array.dtype != dtype:
        raise TypeError(f"{name} has dtype {array.dtype} but {other_name} has {dtype}; they must match")


def _check_width(array, name, width, other_name):
    if array.shape[1] != width:
        raise ValueError(f"{name} has {array.shape[1]} features but {other_name} has {width}")


def _check_arg(arg, shape, index_dtype):
    if arg is None:
        raise ValueError("arg is required by the max/min backward: pass the arg returned by the forward "
                         "(aggregate(..., return_arg=True))")
    arg = V.as_array(arg, "arg")
    if arg.dtype.kind not in "iu":
        raise TypeError(f"arg must have an integer dtype, got {arg.dtype}")
    if arg.ndim == 1 and shape[1] == 1:
        arg = arg.reshape(-1, 1)
    if arg.shape != shape:
        raise ValueError(f"arg must have shape {shape}, got {arg.shape}")
    # The kernel range-checks the values as it reads them (one pass, not two), but only after
    # the cast to the index dtype, which would wrap 2**32 + 1 to 1 or 2**64 - 1 to -1: values of
    # another dtype are checked to survive the cast first.
    if arg.dtype != index_dtype and arg.size:
        low, high = int(arg.min()), int(arg.max())
        if low < -1 or high > np.iinfo(index_dtype).max:
            bad = low if low < -1 else high
            raise ValueError(f"arg contains {bad}, which is not an edge id (or -1 for an empty row): "
                             "pass the arg of the forward call")
    return np.ascontiguousarray(arg, dtype=index_dtype)


def _raise_if_invalid_arg(invalid):
    if invalid:
        raise ValueError(f"arg contains {invalid} entries that are not an edge of their row (or -1 for an "
                         "empty row): pass the arg of the forward call")


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
    return_arg : bool
        Also return ``arg``: for max/min, the winning edge id of each output
        element (first in CSR order on ties, -1 for an empty row), in the
        graph's index dtype; None for sum and mean.
    out : ndarray, optional
        Where to write the result: C-contiguous, shape ``(num_dst_nodes, d)``
        (``(num_dst_nodes,)`` for 1-D ``x``), the dtype of ``x``, not
        overlapping ``x``. Returned.
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
    graph = _as_graph(graph)
    reduce = V.check_reduce(reduce)
    x2, was_1d = V.as_features(x, "x", num_rows=graph.num_src_nodes)
    dtype = x2.dtype
    weight = _edge_weight(graph, edge_weight, dtype)
    width = x2.shape[1]
    threads = resolve_num_threads(n_threads, _work(graph.num_edges, graph.num_dst_nodes, width))
    given_out = out
    out = _output(out, (graph.num_dst_nodes, width), dtype, was_1d, (x2, weight))
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
    out = _shape_like(out, was_1d) if given_out is None else given_out
    if return_arg:
        return out, (None if arg is None else _shape_like(arg, was_1d))
    return out


def aggregate_backward(graph, grad_out, reduce="sum", *, x=None, edge_weight=None, arg=None,
                       need_weight_grad=False, n_threads=None):
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
    graph = _as_graph(graph)
    reduce = V.check_reduce(reduce)
    g2, was_1d = V.as_features(grad_out, "grad_out", num_rows=graph.num_dst_nodes)
    dtype, width = g2.dtype, g2.shape[1]
    x2 = None
    if x is not None:
        x2, _ = V.as_features(x, "x", num_rows=graph.num_src_nodes)
        _check_same_dtype(x2, "x", dtype, "grad_out")
        _check_width(x2, "x", width, "grad_out")
    elif need_weight_grad:
        raise ValueError("x is required to compute the edge-weight gradient (need_weight_grad=True)")
    if reduce in ("max", "min"):
        arg = _check_arg(arg, (graph.num_dst_nodes, width), graph.index_dtype)
    weight = _edge_weight(graph, edge_weight, dtype)
    threads = resolve_num_threads(n_threads, _work(graph.num_edges, graph.num_src_nodes, width))
    grad_x = empty_aligned((graph.num_src_nodes, width), dtype)
    grad_w = np.zeros(graph.num_edges, dtype=dtype) if need_weight_grad else None
    if reduce in ("sum", "mean"):
        t_indptr, t_indices, edge_id = graph.transpose_csr()
        weight_t = _transposed_edge_weight(graph, edge_weight, weight, dtype)
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
                weight_t=_transposed_edge_weight(graph, edge_weight, weight, dtype))
        else:
            invalid = _K.extremum_backward_scatter(grad_x, g2, arg, graph.indptr, graph.indices, threads,
                                                   weight=weight)
        _raise_if_invalid_arg(invalid)
        if need_weight_grad:
            _K.extremum_weight_grad(grad_w, g2, arg, x2, graph.indptr, graph.indices, threads)
    grad_x = _shape_like(grad_x, was_1d)
    return (grad_x, grad_w) if need_weight_grad else grad_x


def _check_ptr(ptr, num_rows):
    ptr = V.as_index_vector(ptr, "ptr")
    V.check_indptr(ptr, num_rows, "ptr")
    return np.ascontiguousarray(ptr, dtype=V.index_dtype_for(num_rows, ptr.shape[0]))


def segment_reduce(x, ptr, reduce="sum", *, return_arg=False, out=None, n_threads=None):
    """Reduce contiguous row ranges: ``out[s] = REDUCE(x[ptr[s]:ptr[s + 1]])``.

    The readout of a batch of graphs (``ptr`` marks each graph's nodes).

    Parameters
    ----------
    x : array_like of float32 or float64, shape (num_rows, d) or (num_rows,)
    ptr : array_like of int, shape (num_segments + 1,)
        Starts at 0, never decreases, ends at ``num_rows``.
    reduce : {'sum', 'add', 'mean', 'max', 'min'}
        An empty segment gives a zero row.
    return_arg : bool
        Also return, for max/min, the winning row of each output element
        (-1 for an empty segment).
    out : ndarray, optional
        Where to write the result (C-contiguous, the shape and dtype of the
        result, not overlapping ``x``). Returned.
    n_threads : int, optional

    Returns
    -------
    out : ndarray of shape (num_segments, d)
    arg : ndarray of shape (num_segments, d), only with ``return_arg``

    Notes
    -----
    Cost ``O(num_rows * d)``; deterministic for any number of threads.
    """
    reduce = V.check_reduce(reduce)
    x2, was_1d = V.as_features(x, "x")
    ptr = _check_ptr(ptr, x2.shape[0])
    width = x2.shape[1]
    num_segments = ptr.shape[0] - 1
    threads = resolve_num_threads(n_threads, _work(x2.shape[0], num_segments, width))
    given_out = out
    out = _output(out, (num_segments, width), x2.dtype, was_1d, (x2,))
    arg = None
    if reduce in ("sum", "mean"):
        _K.segment_sum(out, x2, ptr, threads, mean=reduce == "mean")
    else:
        arg = empty_aligned((num_segments, width), ptr.dtype)
        segment = _K.segment_min if reduce == "min" else _K.segment_max
        segment(out, arg, x2, ptr, threads)
    out = _shape_like(out, was_1d) if given_out is None else given_out
    if return_arg:
        return out, (None if arg is None else _shape_like(arg, was_1d))
    return out


def segment_reduce_backward(grad_out, ptr, reduce="sum", *, arg=None, n_threads=None):
    """Gradient of :func:`segment_reduce` with respect to ``x``.

    Parameters
    ----------
    grad_out : array_like, shape (num_segments, d)
    ptr : array_like of int, shape (num_segments + 1,)
    reduce : {'sum', 'add', 'mean', 'max', 'min'}
    arg : array_like of int, shape (num_segments, d)
        The ``arg`` of the max/min forward; required for max/min.
    n_threads : int, optional

    Returns
    -------
    grad_x : ndarray of shape (ptr[-1], d)
        ``G[s]`` (divided by the segment length for mean) for every row of
        segment ``s``; for max/min only the winning rows receive gradient.
    """
    reduce = V.check_reduce(reduce)
    g2, was_1d = V.as_features(grad_out, "grad_out")
    ptr_in = V.as_index_vector(ptr, "ptr")
    if ptr_in.shape[0] != g2.shape[0] + 1:
        raise ValueError(f"ptr must have length num_segments + 1 = {g2.shape[0] + 1}, got {ptr_in.shape[0]}")
    num_rows = int(ptr_in[-1])
    ptr = _check_ptr(ptr_in, num_rows)
    width = g2.shape[1]
    num_segments = g2.shape[0]
    threads = resolve_num_threads(n_threads, _work(num_rows, num_rows, width))
    grad_x = empty_aligned((num_rows, width), g2.dtype)
    if reduce in ("sum", "mean"):
        scale = None
        if reduce == "mean":
            counts = np.diff(ptr)
            scale = np.zeros(num_segments, dtype=g2.dtype)
            np.divide(1, counts, out=scale, where=counts > 0, casting="unsafe")
        # each row gathers the gradient of its segment: a CSR with one edge per row
        segment_of_row = np.repeat(np.arange(num_segments, dtype=ptr.dtype), np.diff(ptr))
        row_ptr = np.arange(num_rows + 1, dtype=ptr.dtype)
        _K.gather_sum(grad_x, g2, row_ptr, segment_of_row, threads, scale=scale)
    else:
        arg = _check_arg(arg, (num_segments, width), ptr.dtype)
        invalid = _K.segment_extremum_backward(grad_x, g2, arg, ptr, threads)
        _raise_if_invalid_arg(invalid)
    return _shape_like(grad_x, was_1d)


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
    graph = _as_graph(graph)
    a2, _ = V.as_features(a, "a", num_rows=graph.num_dst_nodes)
    b2, _ = V.as_features(b, "b", num_rows=graph.num_src_nodes)
    _check_same_dtype(b2, "b", a2.dtype, "a")
    _check_width(b2, "b", a2.shape[1], "a")
    threads = resolve_num_threads(n_threads, _work(graph.num_edges, graph.num_dst_nodes, a2.shape[1]))
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
    graph = _as_graph(graph)
    a2, a_1d = V.as_features(a, "a", num_rows=graph.num_dst_nodes)
    b2, b_1d = V.as_features(b, "b", num_rows=graph.num_src_nodes)
    _check_same_dtype(b2, "b", a2.dtype, "a")
    _check_width(b2, "b", a2.shape[1], "a")
    dtype = a2.dtype
    g = V.as_edge_values(grad_out, "grad_out", graph.num_edges, dtype)
    width = a2.shape[1]
    threads = resolve_num_threads(n_threads, _work(graph.num_edges, graph.num_dst_nodes, width))
    grad_a = empty_aligned(a2.shape, dtype)
    grad_b = empty_aligned(b2.shape, dtype)
    a2 = aligned_for_gather(a2, graph.num_edges)
    b2 = aligned_for_gather(b2, graph.num_edges)
    _K.gather_sum(grad_a, b2, graph.indptr, graph.indices, threads, weight=g)
    t_indptr, t_indices, edge_id = graph.transpose_csr()
    _K.gather_sum(grad_b, a2, t_indptr, t_indices, threads, weight=g[edge_id])
    return _shape_like(grad_a, a_1d), _shape_like(grad_b, b_1d)
