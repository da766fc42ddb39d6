# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled structural CSR operations (private: inputs are trusted)."""
import numpy as np
from libc.stdint cimport int64_t

from fastgnn._kernels._common cimport index_t


def csr_transpose(const index_t[::1] indptr, const index_t[::1] indices, Py_ssize_t n_cols):
    """Transpose a CSR by a stable counting sort, in O(rows + cols + edges).

    Returns ``(t_indptr, t_indices, edge_id)`` in the input's index dtype:
    row ``j`` of the transpose lists the rows ``i`` that hold column ``j``,
    in increasing edge id, and ``edge_id[t]`` is the original position.
    """
    cdef Py_ssize_t n_rows = indptr.shape[0] - 1
    cdef Py_ssize_t n_edges = indices.shape[0]
    dtype = np.asarray(indptr).dtype
    t_indptr_arr = np.zeros(n_cols + 1, dtype=dtype)
    t_indices_arr = np.empty(n_edges, dtype=dtype)
    edge_id_arr = np.empty(n_edges, dtype=dtype)
    cursor_arr = np.empty(n_cols, dtype=np.int64)
    cdef index_t[::1] t_indptr = t_indptr_arr
    cdef index_t[::1] t_indices = t_indices_arr
    cdef index_t[::1] edge_id = edge_id_arr
    cdef int64_t[::1] cursor = cursor_arr
    cdef Py_ssize_t i, j, e
    cdef int64_t pos
    with nogil:
        for e in range(n_edges):
            t_indptr[indices[e] + 1] += 1
        for j in range(n_cols):
            t_indptr[j + 1] += t_indptr[j]
            cursor[j] = t_indptr[j]
        for i in range(n_rows):
            for e in range(indptr[i], indptr[i + 1]):
                j = indices[e]
                pos = cursor[j]
                cursor[j] = pos + 1
                t_indices[pos] = <index_t>i
                edge_id[pos] = <index_t>e
    return t_indptr_arr, t_indices_arr, edge_id_arr
