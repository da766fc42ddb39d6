"""Reduction of contiguous row segments (graph readout): :func:`segment_reduce` and its backward."""
import numpy as np

from fastgnn._kernels import aggregate as _K
from fastgnn._runtime import validate as V
from fastgnn._runtime.memory import empty_aligned
from fastgnn._runtime.threads import resolve_num_threads
from fastgnn.ops.checks import check_arg, output_array, raise_if_invalid_arg, shape_like, work_of

__all__ = ["segment_reduce", "segment_reduce_backward"]


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
    threads = resolve_num_threads(n_threads, work_of(x2.shape[0], num_segments, width))
    given_out = out
    out = output_array(out, (num_segments, width), x2.dtype, was_1d, (x2,))
    arg = None
    if reduce in ("sum", "mean"):
        _K.segment_sum(out, x2, ptr, threads, mean=reduce == "mean")
    else:
        arg = empty_aligned((num_segments, width), ptr.dtype)
        segment = _K.segment_min if reduce == "min" else _K.segment_max
        segment(out, arg, x2, ptr, threads)
    out = shape_like(out, was_1d) if given_out is None else given_out
    if return_arg:
        return out, (None if arg is None else shape_like(arg, was_1d))
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
    threads = resolve_num_threads(n_threads, work_of(num_rows, num_rows, width))
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
        arg = check_arg(arg, (num_segments, width), ptr.dtype)
        invalid = _K.segment_extremum_backward(grad_x, g2, arg, ptr, threads)
        raise_if_invalid_arg(invalid)
    return shape_like(grad_x, was_1d)
