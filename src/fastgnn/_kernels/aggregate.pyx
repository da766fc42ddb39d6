# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled gather-reduce kernels over a CSR (private: inputs are trusted).

Every public function takes already-validated, C-contiguous arrays of
matching dtypes and an ``n_threads`` count, splits the output rows into
chunks of equal edge count and runs them with the GIL released. Optional
arrays are passed as ``None``.

The C kernels are called by their unsuffixed names, fused-type functions
generated into ``_ckernels.pxd`` that pick the dtype variant at compile time.
"""
from cython.parallel cimport prange
import numpy as np
from libc.stdint cimport int32_t, int64_t

from fastgnn._kernels._common cimport floating, index_t
from fastgnn._kernels._ckernels cimport (
    fg_arg_invalid,
    fg_edge_dot,
    fg_extremum_gather,
    fg_extremum_scatter,
    fg_extremum_weight_grad,
    fg_gather_max,
    fg_gather_min,
    fg_gather_sum,
)
from fastgnn._kernels._common import row_chunks


# Pointers to optional arrays: NULL for None.
cdef inline const floating* _values_or_null(const floating[::1] a) noexcept:
    if a is None:
        return NULL
    return &a[0]

cdef inline const index_t* _ids_or_null(const index_t[::1] a) noexcept:
    if a is None:
        return NULL
    return &a[0]

cdef inline const floating* _rows_or_null(const floating[:, ::1] a) noexcept:
    if a is None:
        return NULL
    return &a[0, 0]

cdef inline const index_t* _id_rows_or_null(const index_t[:, ::1] a) noexcept:
    if a is None or a.shape[0] == 0:
        return NULL
    return &a[0, 0]


def gather_sum(floating[:, ::1] out, const floating[:, ::1] x,
               const index_t[::1] indptr, const index_t[::1] indices,
               const floating[::1] coef, const floating[::1] scale, bint row_mean,
               const index_t[::1] edge_id, const floating[:, ::1] dot_with, floating[::1] dot_out,
               int n_threads):
    """``out[r] = sum_e coef[e] * scale[j] * x[j]`` (``/deg`` if ``row_mean``).

    ``indices`` None gathers row ``e`` for edge ``e``. With ``dot_out``, also
    writes ``dot_out[edge_id[e]] = scale[j] * <x[j], dot_with[r]>``.
    """
    cdef int64_t d = out.shape[1]
    cdef int64_t x_size = x.shape[0] * x.shape[1] if x is not None else 0
    cdef int n_chunks = max(n_threads, 1)
    cdef int64_t[::1] bounds = row_chunks(indptr, n_chunks)
    cdef floating* out_ptr = &out[0, 0] if out.shape[0] > 0 else NULL
    cdef const floating* x_ptr = _rows_or_null(x)
    cdef const index_t* indices_ptr = _ids_or_null(indices)
    cdef const floating* coef_ptr = _values_or_null(coef)
    cdef const floating* scale_ptr = _values_or_null(scale)
    cdef const index_t* edge_id_ptr = _ids_or_null(edge_id)
    cdef const floating* dot_with_ptr = _rows_or_null(dot_with)
    cdef floating* dot_out_ptr = NULL if dot_out is None else &dot_out[0]
    cdef int c
    if out.shape[0] == 0:
        return
    with nogil:
        for c in prange(n_chunks, num_threads=n_chunks, schedule="static"):
            fg_gather_sum(out_ptr, x_ptr, x_size, d, &indptr[0], indices_ptr, coef_ptr, scale_ptr,
                          row_mean, edge_id_ptr, dot_with_ptr, dot_out_ptr, bounds[c], bounds[c + 1])


def gather_extremum(bint is_min, floating[:, ::1] out, index_t[:, ::1] arg, const floating[:, ::1] x,
                    const index_t[::1] indptr, const index_t[::1] indices,
                    const floating[::1] coef, int n_threads):
    """Row-wise max (or min) of ``coef[e] * x[j]`` with the winning edge in ``arg``."""
    cdef int64_t d = out.shape[1]
    cdef int64_t x_size = x.shape[0] * x.shape[1]
    cdef int n_chunks = max(n_threads, 1)
    cdef int64_t[::1] bounds = row_chunks(indptr, n_chunks)
    cdef const index_t* indices_ptr = _ids_or_null(indices)
    cdef const floating* coef_ptr = _values_or_null(coef)
    cdef const floating* x_ptr = _rows_or_null(x)
    cdef int c
    if out.shape[0] == 0:
        return
    with nogil:
        for c in prange(n_chunks, num_threads=n_chunks, schedule="static"):
            if is_min:
                fg_gather_min(&out[0, 0], &arg[0, 0], x_ptr, x_size, d, &indptr[0], indices_ptr, coef_ptr,
                              bounds[c], bounds[c + 1])
            else:
                fg_gather_max(&out[0, 0], &arg[0, 0], x_ptr, x_size, d, &indptr[0], indices_ptr, coef_ptr,
                              bounds[c], bounds[c + 1])


def extremum_backward(floating[:, ::1] grad_x, const floating[:, ::1] g, const index_t[:, ::1] arg,
                      const index_t[::1] indptr, const index_t[::1] indices, const floating[::1] coef,
                      const floating[:, ::1] x, floating[::1] grad_w, int n_threads,
                      const index_t[::1] t_indptr=None, const index_t[::1] t_indices=None,
                      const index_t[::1] edge_id=None, const floating[::1] coef_t=None):
    """Route each ``g[i, k]`` to its winning edge ``e = arg[i, k]``.

    ``grad_x[src(e), k] += coef[e] * g[i, k]`` (``indices`` None: ``src(e) = e``)
    and, with ``grad_w``, ``grad_w[e] = sum_k [arg[i, k] == e] g[i, k] x[src(e), k]``.
    Each row's edges add the features they won to their source's row of
    ``grad_x``; threads own disjoint feature columns (cut on cache lines) and
    visit rows in order, so every element sums its terms in increasing edge
    id whatever the thread count.

    With ``n_threads > 1`` and the transposed CSR (``t_indptr``, ``t_indices``,
    ``edge_id``, and ``coef_t`` in transposed order), ``grad_x`` is gathered
    per source row instead, which splits across threads and gives the same bits.

    Returns the number of ``arg`` entries that are neither an edge of their
    row nor -1 for an empty row; when it is not 0 nothing else is computed
    and the outputs are garbage.
    """
    cdef int64_t d = grad_x.shape[1]
    cdef int64_t n_src = grad_x.shape[0]
    cdef int64_t n_rows = g.shape[0]
    cdef int64_t line = 64 // sizeof(floating)
    cdef int n_chunks = <int>max(1, min(n_threads, d // line))
    cdef const index_t* indices_ptr = _ids_or_null(indices)
    cdef const floating* coef_ptr = _values_or_null(coef)
    cdef const floating* coef_t_ptr = NULL
    cdef const floating* g_ptr = _rows_or_null(g)
    cdef const index_t* arg_ptr = _id_rows_or_null(arg)
    cdef int64_t[::1] bounds
    cdef int64_t[::1] invalid = np.zeros(max(n_threads, 1), dtype=np.int64)
    cdef int c
    if n_threads > 1 and t_indptr is not None and n_src > 0 and d > 0:
        # the parallel path: gather over the transpose (same terms, same order, same bits)
        n_chunks = n_threads
        bounds = row_chunks(indptr, n_chunks)
        with nogil:
            for c in prange(n_chunks, num_threads=n_chunks, schedule="static"):
                invalid[c] = fg_arg_invalid(arg_ptr, d, &indptr[0], bounds[c], bounds[c + 1])
        if sum(invalid):
            return sum(invalid)
        bounds = row_chunks(t_indptr, n_chunks)
        coef_t_ptr = _values_or_null(coef_t)
        with nogil:
            for c in prange(n_chunks, num_threads=n_chunks, schedule="static"):
                fg_extremum_gather(&grad_x[0, 0], g_ptr, arg_ptr, d, &t_indptr[0], &t_indices[0],
                                   &edge_id[0], coef_t_ptr, bounds[c], bounds[c + 1])
    elif n_src > 0 and d > 0:
        # column chunks cut on cache lines, so threads never write the same line
        bounds = np.array([min(d, (d * c // n_chunks + line - 1) // line * line) for c in range(n_chunks + 1)],
                          dtype=np.int64)
        bounds[n_chunks] = d
        with nogil:
            for c in prange(n_chunks, num_threads=n_chunks, schedule="static"):
                invalid[c] = fg_extremum_scatter(&grad_x[0, 0], n_src, g_ptr, arg_ptr, d, n_rows, &indptr[0],
                                                 indices_ptr, coef_ptr, bounds[c], bounds[c + 1])
    cdef int64_t total_invalid = sum(invalid)
    if total_invalid or grad_w is None or grad_w.shape[0] == 0:
        return total_invalid
    n_chunks = max(n_threads, 1)
    bounds = row_chunks(indptr, n_chunks)
    with nogil:
        for c in prange(n_chunks, num_threads=n_chunks, schedule="static"):
            fg_extremum_weight_grad(&grad_w[0], g_ptr, arg_ptr, &x[0, 0], d, &indptr[0], indices_ptr,
                                    bounds[c], bounds[c + 1])
    return 0


def edge_dot(floating[::1] out, const floating[:, ::1] a, const floating[:, ::1] b,
             const index_t[::1] indptr, const index_t[::1] indices, int n_threads):
    """``out[e] = <a[r], b[indices[e]]>`` for every edge ``e`` of row ``r``."""
    cdef int64_t d = a.shape[1]
    cdef int n_chunks = max(n_threads, 1)
    cdef int64_t[::1] bounds = row_chunks(indptr, n_chunks)
    cdef int c
    if out.shape[0] == 0:
        return
    with nogil:
        for c in prange(n_chunks, num_threads=n_chunks, schedule="static"):
            fg_edge_dot(&out[0], &a[0, 0], &b[0, 0], d, &indptr[0], &indices[0], bounds[c], bounds[c + 1])
