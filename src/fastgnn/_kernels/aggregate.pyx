# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled gather-reduce kernels over a CSR (private: inputs are trusted).

Every function takes already-validated, C-contiguous arrays of matching
dtypes (float32 or float64 values, int32 or int64 indices) and an
``n_threads`` count, splits the work into chunks of equal cost and runs them
with the GIL released. Optional arrays are keyword-only and default to
None: no edge weights, no per-row scale. The ``segment_*`` functions reduce
contiguous row ranges ``ptr[s]:ptr[s + 1]`` (a CSR whose edge ``e`` gathers
row ``e``).

The C kernels are called by their unsuffixed names, fused-type functions
generated into ``_ckernels.pxd`` that pick the dtype variant at compile time.
"""
from cython.parallel cimport prange
import numpy as np
from libc.stdint cimport int64_t

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


cdef int _sum_rows(floating[:, ::1] out, const floating[:, ::1] x, const index_t[::1] indptr,
                   const index_t* indices, const floating* coef, const floating* scale, bint row_mean,
                   const index_t* edge_id, const floating* dot_with, floating* dot_out,
                   int n_threads) except -1:
    """fg_gather_sum over edge-balanced row chunks; NULL pointers take the kernel's defaults."""
    if out.shape[0] == 0:
        return 0
    return _sum_columns(&out[0, 0], out.shape[1], _rows_or_null(x), x.shape[0] * x.shape[1], x.shape[1],
                        out.shape[1], indptr, indices, coef, scale, row_mean, edge_id, dot_with, dot_out,
                        n_threads)


cdef int _sum_columns(floating* out, int64_t d, const floating* x_ptr, int64_t x_size, int64_t ldx, int64_t ldo,
                      const index_t[::1] indptr, const index_t* indices, const floating* coef,
                      const floating* scale, bint row_mean, const index_t* edge_id, const floating* dot_with,
                      floating* dot_out, int n_threads) except -1:
    """:func:`_sum_rows` on rows ``d`` wide that start ``ldx`` (``x``) and ``ldo`` (``out``) values apart."""
    cdef int n_chunks = max(n_threads, 1)
    cdef int64_t[::1] bounds = row_chunks(indptr, n_chunks)
    cdef int c
    with nogil:
        for c in prange(n_chunks, num_threads=n_chunks, schedule="static"):
            fg_gather_sum(out, x_ptr, x_size, d, ldx, ldo, &indptr[0], indices, coef, scale, row_mean,
                          edge_id, dot_with, dot_out, bounds[c], bounds[c + 1])
    return 0


def gather_sum_strided(floating[:, :] out not None, const floating[:, :] x not None,
                       const index_t[::1] indptr not None, const index_t[::1] indices not None, int n_threads, *,
                       const floating[::1] weight=None, const floating[::1] scale=None, bint mean=False):
    """:func:`gather_sum` on arrays whose rows are contiguous but further apart than their width.

    ``out`` and ``x`` may be column blocks of wider C-contiguous arrays
    (``a[:, k0:k1]``), read and written in place: a product of several
    weights side by side can be aggregated in part without a copy. The tail
    of a row may read (never write) values past its width, inside ``x``'s
    buffer. The caller checks that the rows are contiguous (``strides[1]``
    is the item size).
    """
    cdef int64_t width = out.shape[1]
    cdef int64_t item = sizeof(floating)
    if out.shape[0] == 0 or width == 0:
        return
    _sum_columns(&out[0, 0], width, &x[0, 0] if x.shape[0] else NULL,
                 (x.shape[0] - 1) * (x.strides[0] // item) + width if x.shape[0] else 0,
                 x.strides[0] // item, out.strides[0] // item, indptr, &indices[0],
                 _values_or_null(weight), _values_or_null(scale), mean, NULL, NULL, NULL, n_threads)


def gather_sum(floating[:, ::1] out not None, const floating[:, ::1] x not None,
               const index_t[::1] indptr not None, const index_t[::1] indices not None, int n_threads, *,
               const floating[::1] weight=None, const floating[::1] scale=None, bint mean=False):
    """``out[r] = sum_e weight[e] * scale[j] * x[j]`` over the edges ``e`` of row ``r``, ``j = indices[e]``.

    Parameters
    ----------
    out : ndarray, shape (n_rows, d)
    x : ndarray, shape (n_src, d)
    indptr, indices : ndarray
        The CSR whose rows are produced.
    n_threads : int
    weight : ndarray, shape (n_edges,), optional
        A multiplier per CSR position (1 when None).
    scale : ndarray, shape (n_src,), optional
        A multiplier per gathered row (1 when None).
    mean : bool
        Divide each non-empty row by its number of edges.
    """
    _sum_rows(out, x, indptr, &indices[0], _values_or_null(weight), _values_or_null(scale), mean,
              NULL, NULL, NULL, n_threads)


def gather_sum_with_edge_dot(floating[:, ::1] out not None, floating[::1] dot_out not None,
                             const floating[:, ::1] x not None, const floating[:, ::1] dot_with not None,
                             const index_t[::1] indptr not None, const index_t[::1] indices not None,
                             const index_t[::1] edge_id not None, int n_threads, *,
                             const floating[::1] weight=None, const floating[::1] scale=None):
    """:func:`gather_sum` plus ``dot_out[edge_id[e]] = scale[j] * <x[j], dot_with[r]>``.

    The backward of a weighted sum in one pass over the transposed CSR:
    ``out`` is the feature gradient and ``dot_out`` the edge-weight gradient,
    computed from the same gathered rows of ``x``.
    """
    _sum_rows(out, x, indptr, &indices[0], _values_or_null(weight), _values_or_null(scale), False,
              &edge_id[0], _rows_or_null(dot_with), &dot_out[0], n_threads)


def segment_sum(floating[:, ::1] out not None, const floating[:, ::1] x not None,
                const index_t[::1] ptr not None, int n_threads, *, bint mean=False):
    """``out[s] = sum(x[ptr[s]:ptr[s + 1]])``, divided by the segment's length with ``mean``."""
    _sum_rows(out, x, ptr, NULL, NULL, NULL, mean, NULL, NULL, NULL, n_threads)


cdef int _extremum_rows(bint is_min, floating[:, ::1] out, index_t[:, ::1] arg, const floating[:, ::1] x,
                        const index_t[::1] indptr, const index_t* indices, const floating* coef,
                        int n_threads) except -1:
    """fg_gather_max (or fg_gather_min) over edge-balanced row chunks."""
    cdef int64_t d = out.shape[1]
    cdef int64_t x_size = x.shape[0] * x.shape[1]
    cdef int n_chunks = max(n_threads, 1)
    cdef int64_t[::1] bounds = row_chunks(indptr, n_chunks)
    cdef const floating* x_ptr = _rows_or_null(x)
    cdef int c
    if out.shape[0] == 0:
        return 0
    with nogil:
        for c in prange(n_chunks, num_threads=n_chunks, schedule="static"):
            if is_min:
                fg_gather_min(&out[0, 0], &arg[0, 0], x_ptr, x_size, d, &indptr[0], indices, coef,
                              bounds[c], bounds[c + 1])
            else:
                fg_gather_max(&out[0, 0], &arg[0, 0], x_ptr, x_size, d, &indptr[0], indices, coef,
                              bounds[c], bounds[c + 1])
    return 0


def gather_max(floating[:, ::1] out not None, index_t[:, ::1] arg not None, const floating[:, ::1] x not None,
               const index_t[::1] indptr not None, const index_t[::1] indices not None, int n_threads, *,
               const floating[::1] weight=None):
    """Row-wise max of ``weight[e] * x[indices[e]]``, the winning edge in ``arg``.

    Ties go to the first edge in CSR order; a NaN wins and stays. An empty
    row gives 0 and ``arg`` -1.
    """
    _extremum_rows(False, out, arg, x, indptr, &indices[0], _values_or_null(weight), n_threads)


def gather_min(floating[:, ::1] out not None, index_t[:, ::1] arg not None, const floating[:, ::1] x not None,
               const index_t[::1] indptr not None, const index_t[::1] indices not None, int n_threads, *,
               const floating[::1] weight=None):
    """Row-wise min of ``weight[e] * x[indices[e]]``, as :func:`gather_max`."""
    _extremum_rows(True, out, arg, x, indptr, &indices[0], _values_or_null(weight), n_threads)


def segment_max(floating[:, ::1] out not None, index_t[:, ::1] arg not None, const floating[:, ::1] x not None,
                const index_t[::1] ptr not None, int n_threads):
    """``out[s] = max(x[ptr[s]:ptr[s + 1]])`` per feature, the winning row in ``arg``."""
    _extremum_rows(False, out, arg, x, ptr, NULL, NULL, n_threads)


def segment_min(floating[:, ::1] out not None, index_t[:, ::1] arg not None, const floating[:, ::1] x not None,
                const index_t[::1] ptr not None, int n_threads):
    """``out[s] = min(x[ptr[s]:ptr[s + 1]])`` per feature, the winning row in ``arg``."""
    _extremum_rows(True, out, arg, x, ptr, NULL, NULL, n_threads)


cdef int64_t _scatter_extremum_grad(floating[:, ::1] grad_x, const floating[:, ::1] g,
                                    const index_t[:, ::1] arg, const index_t[::1] indptr,
                                    const index_t* indices, const floating* coef,
                                    int n_threads) except -1:
    """fg_extremum_scatter over column chunks; the number of invalid ``arg`` entries."""
    cdef int64_t d = grad_x.shape[1]
    cdef int64_t n_src = grad_x.shape[0]
    cdef int64_t n_rows = g.shape[0]
    cdef int64_t line = 64 // sizeof(floating)
    cdef int n_chunks = <int>max(1, min(n_threads, d // line))
    cdef const floating* g_ptr = _rows_or_null(g)
    cdef const index_t* arg_ptr = _id_rows_or_null(arg)
    cdef int64_t[::1] invalid = np.zeros(n_chunks, dtype=np.int64)
    cdef int64_t[::1] bounds
    cdef int64_t total = 0
    cdef int c
    if n_src == 0 or d == 0:
        return 0
    # column chunks cut on cache lines, so threads never write the same line
    bounds = np.array([min(d, (d * c // n_chunks + line - 1) // line * line) for c in range(n_chunks + 1)],
                      dtype=np.int64)
    bounds[n_chunks] = d
    with nogil:
        for c in prange(n_chunks, num_threads=n_chunks, schedule="static"):
            invalid[c] = fg_extremum_scatter(&grad_x[0, 0], n_src, g_ptr, arg_ptr, d, n_rows, &indptr[0],
                                             indices, coef, bounds[c], bounds[c + 1])
    for c in range(n_chunks):
        total += invalid[c]
    return total


def extremum_backward_scatter(floating[:, ::1] grad_x not None, const floating[:, ::1] g not None,
                              const index_t[:, ::1] arg not None, const index_t[::1] indptr not None,
                              const index_t[::1] indices not None, int n_threads, *,
                              const floating[::1] weight=None):
    """Backward of :func:`gather_max`/:func:`gather_min` with respect to ``x``, from the reduced rows.

    ``grad_x[indices[e], k] = sum over rows i and edges e with arg[i, k] == e
    of weight[e] * g[i, k]``. Threads own disjoint feature columns (cut on
    cache lines) and visit rows in order, so every element sums its terms
    in increasing edge id whatever the thread count; features narrower than
    two cache lines run on one thread.

    Returns
    -------
    int
        The number of ``arg`` entries that are neither an edge of their row
        nor -1 for an empty row; when it is not 0, ``grad_x`` is garbage.
    """
    return _scatter_extremum_grad(grad_x, g, arg, indptr, &indices[0], _values_or_null(weight), n_threads)


def segment_extremum_backward(floating[:, ::1] grad_x not None, const floating[:, ::1] g not None,
                              const index_t[:, ::1] arg not None, const index_t[::1] ptr not None,
                              int n_threads):
    """Backward of :func:`segment_max`/:func:`segment_min`: ``g[s, k]`` goes to row ``arg[s, k]``.

    Returns the number of invalid ``arg`` entries, as :func:`extremum_backward_scatter`.
    """
    return _scatter_extremum_grad(grad_x, g, arg, ptr, NULL, NULL, n_threads)


def extremum_backward_gather(floating[:, ::1] grad_x not None, const floating[:, ::1] g not None,
                             const index_t[:, ::1] arg not None, const index_t[::1] indptr not None,
                             const index_t[::1] t_indptr not None, const index_t[::1] t_indices not None,
                             const index_t[::1] edge_id not None, int n_threads, *,
                             const floating[::1] weight_t=None):
    """:func:`extremum_backward_scatter`'s result, gathered per source row over the transposed CSR.

    ``t_indptr``, ``t_indices`` and ``edge_id`` are the transpose of
    ``indptr`` with the original edge ids; ``weight_t`` is the weights in
    transposed order. Every element adds the same terms in the same order as
    the scatter, so the bits are identical, but source rows split across
    threads: the parallel path.

    Returns the number of invalid ``arg`` entries (checked first; nothing is
    computed when it is not 0).
    """
    cdef int64_t d = grad_x.shape[1]
    cdef int64_t n_src = grad_x.shape[0]
    cdef int n_chunks = max(n_threads, 1)
    cdef const floating* g_ptr = _rows_or_null(g)
    cdef const index_t* arg_ptr = _id_rows_or_null(arg)
    cdef const floating* coef_t_ptr = _values_or_null(weight_t)
    cdef int64_t[::1] invalid = np.zeros(n_chunks, dtype=np.int64)
    cdef int64_t[::1] bounds
    cdef int64_t total = 0
    cdef int c
    if n_src == 0 or d == 0:
        return 0
    bounds = row_chunks(indptr, n_chunks)
    with nogil:
        for c in prange(n_chunks, num_threads=n_chunks, schedule="static"):
            invalid[c] = fg_arg_invalid(arg_ptr, d, &indptr[0], bounds[c], bounds[c + 1])
    for c in range(n_chunks):
        total += invalid[c]
    if total:
        return total
    bounds = row_chunks(t_indptr, n_chunks)
    with nogil:
        for c in prange(n_chunks, num_threads=n_chunks, schedule="static"):
            fg_extremum_gather(&grad_x[0, 0], g_ptr, arg_ptr, d, &t_indptr[0], &t_indices[0], &edge_id[0],
                               coef_t_ptr, bounds[c], bounds[c + 1])
    return 0


def extremum_weight_grad(floating[::1] grad_w not None, const floating[:, ::1] g not None,
                         const index_t[:, ::1] arg not None, const floating[:, ::1] x not None,
                         const index_t[::1] indptr not None, const index_t[::1] indices not None,
                         int n_threads):
    """Edge-weight gradient of max/min: ``grad_w[e] = sum_k [arg[i, k] == e] g[i, k] x[indices[e], k]``.

    Trusts ``arg``: call it only after a backward above found no invalid
    entry. Every edge is written (0 when it won nothing).
    """
    cdef int64_t d = g.shape[1]
    cdef int n_chunks = max(n_threads, 1)
    cdef int64_t[::1] bounds
    cdef const floating* g_ptr = _rows_or_null(g)
    cdef const index_t* arg_ptr = _id_rows_or_null(arg)
    cdef int c
    if grad_w.shape[0] == 0:
        return
    bounds = row_chunks(indptr, n_chunks)
    with nogil:
        for c in prange(n_chunks, num_threads=n_chunks, schedule="static"):
            fg_extremum_weight_grad(&grad_w[0], g_ptr, arg_ptr, &x[0, 0], d, &indptr[0], &indices[0],
                                    bounds[c], bounds[c + 1])


def edge_dot(floating[::1] out not None, const floating[:, ::1] a not None, const floating[:, ::1] b not None,
             const index_t[::1] indptr not None, const index_t[::1] indices not None, int n_threads):
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
