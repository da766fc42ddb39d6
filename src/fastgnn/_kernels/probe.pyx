# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled probes of the machine's limits, for the benchmarks (private: inputs are trusted).

* :func:`triad`: STREAM's triad ``a[i] = b[i] + scalar * c[i]`` over float64
  arrays, split into ``n_threads`` equal ranges run in parallel.
* :func:`gather_floor`: the cost floor of a sum aggregation, ``out[r] =
  sum(x[indices[e]] for e in row r)`` with software prefetch of the rows
  ``distance`` edges ahead, rows split into chunks of equal edge count; the
  simplest loop that gathers every in-neighbour row and writes every output
  row (``csrc/fastgnn_probe.h``).

The public, validated wrappers live in :mod:`fastgnn.bench.machine`.
"""
from cython.parallel cimport prange
from libc.stdint cimport int32_t, int64_t

from fastgnn._kernels._common cimport floating, index_t
from fastgnn._kernels._common import row_chunks


cdef extern from "fastgnn_probe.h" nogil:
    void fg_probe_triad(double* a, const double* b, const double* c, double s, int64_t begin, int64_t end)
    void fg_probe_gather_floor_f32_i32(float* out, const float* x, int64_t d, const int32_t* indptr,
                                       const int32_t* indices, int64_t distance, int64_t row_begin,
                                       int64_t row_end)
    void fg_probe_gather_floor_f32_i64(float* out, const float* x, int64_t d, const int64_t* indptr,
                                       const int64_t* indices, int64_t distance, int64_t row_begin,
                                       int64_t row_end)
    void fg_probe_gather_floor_f64_i32(double* out, const double* x, int64_t d, const int32_t* indptr,
                                       const int32_t* indices, int64_t distance, int64_t row_begin,
                                       int64_t row_end)
    void fg_probe_gather_floor_f64_i64(double* out, const double* x, int64_t d, const int64_t* indptr,
                                       const int64_t* indices, int64_t distance, int64_t row_begin,
                                       int64_t row_end)


cdef inline void _floor_chunk(floating* out, const floating* x, int64_t d, const index_t* indptr,
                              const index_t* indices, int64_t distance, int64_t row_begin,
                              int64_t row_end) noexcept nogil:
    if floating is float:
        if index_t is int32_t:
            fg_probe_gather_floor_f32_i32(out, x, d, indptr, indices, distance, row_begin, row_end)
        else:
            fg_probe_gather_floor_f32_i64(out, x, d, indptr, indices, distance, row_begin, row_end)
    else:
        if index_t is int32_t:
            fg_probe_gather_floor_f64_i32(out, x, d, indptr, indices, distance, row_begin, row_end)
        else:
            fg_probe_gather_floor_f64_i64(out, x, d, indptr, indices, distance, row_begin, row_end)


def triad(double[::1] a not None, const double[::1] b not None, const double[::1] c not None, double scalar,
          int n_threads):
    """``a[i] = b[i] + scalar * c[i]``, in ``n_threads`` ranges of equal length (multiples of 8 elements)."""
    cdef int64_t n = a.shape[0]
    cdef int n_chunks = max(n_threads, 1)
    cdef int64_t step = (((n + n_chunks - 1) // n_chunks) + 7) // 8 * 8
    cdef int k
    cdef int64_t begin, end
    if n == 0:
        return
    with nogil:
        for k in prange(n_chunks, num_threads=n_chunks, schedule="static"):
            begin = min(k * step, n)
            end = min(begin + step, n)
            fg_probe_triad(&a[0], &b[0], &c[0], scalar, begin, end)


def gather_floor(floating[:, ::1] out not None, const floating[:, ::1] x not None,
                 const index_t[::1] indptr not None, const index_t[::1] indices not None, int n_threads,
                 int64_t distance):
    """``out[r] = sum(x[indices[e]])`` over the edges ``e`` of row ``r``, in CSR order.

    Parameters
    ----------
    out : ndarray, shape (n_rows, d)
    x : ndarray, shape (n_src, d)
    indptr, indices : ndarray
        The CSR whose rows are produced.
    n_threads : int
        Chunks of equal cost (edges + rows), one per thread.
    distance : int
        Edges ahead whose rows are prefetched (at least 1).
    """
    cdef int64_t d = out.shape[1]
    cdef int n_chunks = max(n_threads, 1)
    cdef int64_t[::1] bounds
    cdef const floating* x_ptr = NULL
    cdef const index_t* indices_ptr = NULL
    cdef int c
    if out.shape[0] == 0 or d == 0:
        return
    if x.shape[0] > 0:
        x_ptr = &x[0, 0]
    if indices.shape[0] > 0:
        indices_ptr = &indices[0]
    bounds = row_chunks(indptr, n_chunks)
    with nogil:
        for c in prange(n_chunks, num_threads=n_chunks, schedule="static"):
            _floor_chunk(&out[0, 0], x_ptr, d, &indptr[0], indices_ptr, distance, bounds[c], bounds[c + 1])
