# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Helpers shared by the kernels: build facts and edge-balanced row chunks."""
import numpy as np
from libc.stdint cimport int64_t

from fastgnn._kernels._common cimport index_t, fg_openmp_enabled, fg_omp_max_threads


def openmp_enabled():
    """Whether the extension was compiled with OpenMP."""
    return bool(fg_openmp_enabled())


def omp_max_threads():
    """OpenMP's own default thread count (1 without OpenMP)."""
    return fg_omp_max_threads()


def row_chunks(const index_t[::1] indptr, int n_chunks):
    """Split rows into ``n_chunks`` ranges of about equal cost.

    A row costs one unit plus one per edge, so a power-law graph is split by
    its edges, not by its node count. Returns int64 bounds of length
    ``n_chunks + 1``.
    """
    cdef Py_ssize_t n_rows = indptr.shape[0] - 1
    bounds_arr = np.empty(n_chunks + 1, dtype=np.int64)
    cdef int64_t[::1] bounds = bounds_arr
    cdef int64_t first = <int64_t>indptr[0] if n_rows >= 0 else 0    # a row range of a larger CSR starts past 0
    cdef int64_t total = <int64_t>indptr[n_rows] - first + n_rows
    cdef int64_t target, lo, hi, mid
    cdef int c
    bounds[0] = 0
    bounds[n_chunks] = n_rows
    with nogil:
        for c in range(1, n_chunks):
            target = (total * c) // n_chunks
            lo = bounds[c - 1]
            hi = n_rows
            # first row r with cost(r) = indptr[r] - indptr[0] + r >= target
            while lo < hi:
                mid = (lo + hi) // 2
                if <int64_t>indptr[mid] - first + mid < target:
                    lo = mid + 1
                else:
                    hi = mid
            bounds[c] = lo
    return bounds_arr
