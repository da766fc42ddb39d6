"""Row gather from an in-memory or memory-mapped array: :func:`gather_rows`."""
import numpy as np

from fastgnn._kernels import sample as _K
from fastgnn._runtime import validate as V
from fastgnn._runtime.memory import empty_aligned
from fastgnn._runtime.threads import resolve_num_threads

__all__ = ["gather_rows"]


def _check_rows(x):
    """``x`` as an ndarray of rank >= 1 (an ``np.memmap`` stays one: nothing is read here)."""
    if not isinstance(x, np.ndarray):
        x = V.as_array(x, "x")
    if x.ndim < 1:
        raise ValueError(f"x must have at least one dimension (rows), got shape {x.shape}")
    if x.dtype.hasobject:
        raise TypeError("x must be a numeric array, got an object array")
    return x


def _check_ids(ids, num_rows):
    ids = V.as_index_vector(ids, "ids")
    V.check_ids_in_range(ids, num_rows, "ids")
    return ids


def gather_rows(x, ids, *, out=None, n_threads=None):
    """The rows ``x[ids]`` as one new C-contiguous array: ``out[k] = x[ids[k]]``.

    Parameters
    ----------
    x : ndarray or numpy.memmap, shape (num_rows, ...)
        Any numeric dtype. Read only: a memory-mapped file (``mmap_mode="r"``)
        is read in place, only the rows asked for.
    ids : array_like of int, shape (m,)
        Row ids in ``[0, num_rows)``, repeats allowed.
    out : ndarray, optional
        C-contiguous, writeable, shape ``(m,) + x.shape[1:]``, dtype of ``x``,
        not overlapping ``x``. Returned.
    n_threads : int, optional
        Threads for this call (see :func:`fastgnn.set_num_threads`).

    Returns
    -------
    ndarray of shape (m,) + x.shape[1:]

    Notes
    -----
    Cost ``O(m d)``: reads the ``m`` rows asked for (from the page cache or
    the disk for a memory map) and nothing else, in parallel, with the GIL
    released. The output is 64-byte aligned.
    """
    x = _check_rows(x)
    ids = _check_ids(ids, x.shape[0])
    shape = (ids.shape[0],) + x.shape[1:]
    row_bytes = x.dtype.itemsize * int(np.prod(x.shape[1:], dtype=np.int64))
    threads = resolve_num_threads(n_threads, ids.shape[0] * max(row_bytes // 4, 1))
    if out is None:
        out = empty_aligned(shape, x.dtype)
    else:
        V.check_out(out, shape, x.dtype, inputs=(x, ids))
    if not x.flags.c_contiguous:  # strided rows: NumPy's gather (still only the rows asked for)
        np.take(x, ids, axis=0, out=out)
        return out
    _K.gather_rows(out, x, np.ascontiguousarray(ids, dtype=np.int64), threads)
    return out
