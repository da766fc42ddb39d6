# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled attention edge kernels over a CSR (private: inputs are trusted).

Per-edge values are C-contiguous ``(E, H)`` arrays; node features are passed
as C-contiguous ``(N, H * F)`` arrays (a ``(N, H, F)`` array viewed as 2-D)
with ``heads`` given. Every function splits its rows into chunks of equal
cost (``row_chunks``) and runs them with the GIL released; each output
element is written by one chunk and sums run in CSR order, so the results
do not depend on ``n_threads``.
"""
from cython.parallel cimport prange
from libc.stdint cimport int64_t

from fastgnn._kernels._common cimport floating, index_t
from fastgnn._kernels._cattention cimport (
    fg_edge_softmax,
    fg_edge_softmax_backward,
    fg_gather_sum_heads,
    fg_sddmm_add,
    fg_sddmm_dot,
)
from fastgnn._kernels._common import row_chunks


def sddmm_dot(floating[:, ::1] out not None, const floating[:, ::1] a not None, const floating[:, ::1] b not None,
              const index_t[::1] indptr not None, const index_t[::1] indices not None, int heads, int n_threads):
    """``out[e, h] = <a[r, h, :], b[indices[e], h, :]>`` for every edge ``e`` of row ``r``."""
    cdef int64_t n_heads = heads
    cdef int64_t f = a.shape[1] // heads if heads else 0
    cdef int n_chunks = max(n_threads, 1)
    cdef int64_t[::1] bounds
    cdef int c
    if out.shape[0] == 0 or n_heads == 0:
        return
    bounds = row_chunks(indptr, n_chunks)
    with nogil:
        for c in prange(n_chunks, num_threads=n_chunks, schedule="static"):
            fg_sddmm_dot(&out[0, 0], &a[0, 0], &b[0, 0], n_heads, f, &indptr[0], &indices[0],
                         bounds[c], bounds[c + 1])


def sddmm_add(floating[:, ::1] out not None, const floating[:, ::1] a not None, const floating[:, ::1] b not None,
              const index_t[::1] indptr not None, const index_t[::1] indices not None, int n_threads):
    """``out[e, h] = a[r, h] + b[indices[e], h]`` for every edge ``e`` of row ``r``."""
    cdef int64_t n_heads = out.shape[1]
    cdef int n_chunks = max(n_threads, 1)
    cdef int64_t[::1] bounds
    cdef int c
    if out.shape[0] == 0 or n_heads == 0:
        return
    bounds = row_chunks(indptr, n_chunks)
    with nogil:
        for c in prange(n_chunks, num_threads=n_chunks, schedule="static"):
            fg_sddmm_add(&out[0, 0], &a[0, 0], &b[0, 0], n_heads, &indptr[0], &indices[0], bounds[c], bounds[c + 1])


def gather_sum_heads(floating[:, ::1] out not None, const floating[:, ::1] x not None,
                     const floating[:, ::1] weight not None, const index_t[::1] indptr not None,
                     const index_t[::1] indices not None, int n_threads, *, const index_t[::1] edge_id=None,
                     const floating[::1] scale=None, bint mean=False, const floating[:, ::1] dot_with=None,
                     floating[:, ::1] dot_out=None):
    """``out[r, h, :] = sum_e weight[id(e), h] * scale[j] * x[j, h, :]``, ``j = indices[e]``.

    Parameters
    ----------
    out : ndarray, shape (n_rows, H * F)
    x : ndarray, shape (n_src, H * F)
    weight : ndarray, shape (n_edges, H)
        Read at ``edge_id[e]`` (the position itself when ``edge_id`` is None).
    indptr, indices : ndarray
        The CSR whose rows are produced (the transpose for a backward).
    n_threads : int
    edge_id : ndarray, optional
    scale : ndarray, shape (n_src,), optional
        A multiplier per gathered row.
    mean : bool
        Divide each non-empty row by its number of edges.
    dot_with, dot_out : ndarray, shape (n_rows, H * F) and (n_edges, H), optional
        Also ``dot_out[id(e), h] = scale[j] * <x[j, h, :], dot_with[r, h, :]>``.
    """
    cdef int64_t n_heads = weight.shape[1]
    cdef int64_t f = out.shape[1] // n_heads if n_heads else 0
    cdef int n_chunks = max(n_threads, 1)
    cdef const index_t* id_ptr = NULL if edge_id is None else &edge_id[0]
    cdef const floating* scale_ptr = NULL if scale is None else &scale[0]
    cdef const floating* dot_with_ptr = NULL
    cdef floating* dot_out_ptr = NULL
    cdef const floating* x_ptr = NULL
    cdef const floating* w_ptr = NULL
    cdef int64_t[::1] bounds
    cdef int c
    if out.shape[0] == 0 or out.shape[1] == 0:
        return
    if dot_out is not None and dot_out.shape[0] > 0:
        dot_with_ptr = &dot_with[0, 0]
        dot_out_ptr = &dot_out[0, 0]
    if weight.shape[0] > 0:
        x_ptr = &x[0, 0]
        w_ptr = &weight[0, 0]
    bounds = row_chunks(indptr, n_chunks)
    with nogil:
        for c in prange(n_chunks, num_threads=n_chunks, schedule="static"):
            fg_gather_sum_heads(&out[0, 0], x_ptr, n_heads, f, &indptr[0], &indices[0] if indices.shape[0] else NULL,
                                id_ptr, w_ptr, scale_ptr, mean, dot_with_ptr, dot_out_ptr, bounds[c], bounds[c + 1])


def edge_softmax(floating[:, ::1] out not None, const floating[:, ::1] scores not None,
                 const index_t[::1] indptr not None, int n_threads):
    """Softmax of ``scores`` (E, H) over the edges of each row, per head (see fg_edge_softmax)."""
    cdef int64_t n_heads = scores.shape[1]
    cdef int n_chunks = max(n_threads, 1)
    cdef int64_t[::1] bounds
    cdef int c
    if out.shape[0] == 0 or n_heads == 0:
        return
    bounds = row_chunks(indptr, n_chunks)
    with nogil:
        for c in prange(n_chunks, num_threads=n_chunks, schedule="static"):
            fg_edge_softmax(&out[0, 0], &scores[0, 0], n_heads, &indptr[0], bounds[c], bounds[c + 1])


def edge_softmax_backward(floating[:, ::1] out not None, const floating[:, ::1] grad not None,
                          const floating[:, ::1] attention not None, const index_t[::1] indptr not None,
                          int n_threads):
    """``out[e, h] = attention[e, h] * (grad[e, h] - sum_row attention * grad)``."""
    cdef int64_t n_heads = grad.shape[1]
    cdef int n_chunks = max(n_threads, 1)
    cdef int64_t[::1] bounds
    cdef int c
    if out.shape[0] == 0 or n_heads == 0:
        return
    bounds = row_chunks(indptr, n_chunks)
    with nogil:
        for c in prange(n_chunks, num_threads=n_chunks, schedule="static"):
            fg_edge_softmax_backward(&out[0, 0], &grad[0, 0], &attention[0, 0], n_heads, &indptr[0],
                                     bounds[c], bounds[c + 1])
