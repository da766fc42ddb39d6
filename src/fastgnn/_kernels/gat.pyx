# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled fused GAT / GATv2 attention, forward and backward (private: inputs are trusted).

Every function takes already-validated, C-contiguous arrays of matching
dtypes (float32 or float64 values, int32 or int64 indices): node features
as (nodes, H, F), per-node scores as (nodes, H), per-edge values as (E, H),
and an ``n_threads`` count; it splits the rows into chunks of equal edge
count and runs them with the GIL released. The dropout of the attention
weights is drawn by the counter-based hash of ``csrc/fastgnn_dense.h`` at
the flat position ``e * H + h`` (``drop`` on, ``threshold`` and the keys of
``(seed, step)``), kept weights scaled by ``scale``. See
``csrc/fastgnn_gat.h`` for the kernels.
"""
from cython.parallel cimport prange
import numpy as np
from libc.stdint cimport int64_t, uint32_t, uint64_t

from fastgnn._kernels._common cimport floating, index_t
from fastgnn._kernels._cgat cimport (
    fg_gat_backward_dst_sums,
    fg_gat_backward_rowsums,
    fg_gat_backward_sources,
    fg_gat_forward,
    fg_gatv2_backward_rows,
    fg_gatv2_backward_sources,
    fg_gatv2_forward,
)
from fastgnn._kernels._common import row_chunks

# Rows per block of GATv2's att-gradient sum: fixed, so the sum's order (row
# after row within a block, then block after block) is the same for any thread count.
BLOCK_ROWS = 256


cdef extern from "fastgnn_dense.h" nogil:
    void fg_dropout_key(uint64_t seed, uint64_t step, uint32_t* k0, uint32_t* k1)


cdef inline floating* _p3(floating[:, :, ::1] a) noexcept nogil:
    return &a[0, 0, 0] if a.shape[0] * a.shape[1] * a.shape[2] > 0 else NULL

cdef inline const floating* _c3(const floating[:, :, ::1] a) noexcept nogil:
    return &a[0, 0, 0] if a.shape[0] * a.shape[1] * a.shape[2] > 0 else NULL

cdef inline floating* _p2(floating[:, ::1] a) noexcept nogil:
    return &a[0, 0] if a.shape[0] * a.shape[1] > 0 else NULL

cdef inline const floating* _c2(const floating[:, ::1] a) noexcept nogil:
    return &a[0, 0] if a.shape[0] * a.shape[1] > 0 else NULL

cdef inline const index_t* _ids(const index_t[::1] a) noexcept nogil:
    return &a[0] if a.shape[0] > 0 else NULL


cdef int64_t _max_degree(const index_t[::1] indptr) noexcept nogil:
    cdef int64_t r, deg, top = 0
    for r in range(indptr.shape[0] - 1):
        deg = indptr[r + 1] - indptr[r]
        if deg > top:
            top = deg
    return top


def _buffers(int n_chunks, int64_t H, int64_t F, int64_t max_degree, dtype):
    """Per-chunk work arrays: ``4 H + 1`` doubles and ``2 max_degree H + H F + 1`` values."""
    return np.empty((n_chunks, 4 * H + 1)), np.empty((n_chunks, 2 * max_degree * H + H * F + 1), dtype=dtype)


cdef (uint32_t, uint32_t) _keys(bint drop, uint64_t seed, uint64_t step):
    cdef uint32_t k0 = 0, k1 = 0
    if drop:
        fg_dropout_key(seed, step, &k0, &k1)
    return k0, k1


def gat_forward(floating[:, :, ::1] out not None, floating[:, ::1] alpha not None,
                const floating[:, :, ::1] x not None, const floating[:, ::1] score_src not None,
                const floating[:, ::1] score_dst not None, const index_t[::1] indptr not None,
                const index_t[::1] indices not None, double slope, bint drop, uint32_t threshold, uint64_t seed,
                uint64_t step, double scale, int n_threads):
    """``out[i, h] = sum_e alpha'[e, h] x[j, h]``, ``alpha`` the softmax of ``leaky_relu(score_src[j] + score_dst[i])``."""
    cdef int64_t n_rows = out.shape[0], H = out.shape[1], F = out.shape[2]
    cdef int n_chunks = max(n_threads, 1)
    cdef int64_t[::1] bounds
    cdef double[:, ::1] work
    cdef floating[:, ::1] buf
    cdef uint32_t k0, k1
    cdef int c
    if n_rows == 0:
        return
    k0, k1 = _keys(drop, seed, step)
    bounds = row_chunks(indptr, n_chunks)
    work, buf = _buffers(n_chunks, H, F, _max_degree(indptr), np.asarray(out).dtype)
    with nogil:
        for c in prange(n_chunks, num_threads=n_chunks, schedule="static"):
            fg_gat_forward(_p3(out), _p2(alpha), _c3(x), _c2(score_src), _c2(score_dst), H, F, &indptr[0],
                           _ids(indices), <floating>slope, drop, threshold, k0, k1, <floating>scale, bounds[c],
                           bounds[c + 1], &work[c, 0], &buf[c, 0])


def gatv2_forward(floating[:, :, ::1] out not None, floating[:, ::1] alpha not None,
                  const floating[:, :, ::1] x_src not None, const floating[:, :, ::1] x_dst not None,
                  const floating[:, ::1] att not None, const index_t[::1] indptr not None,
                  const index_t[::1] indices not None, double slope, bint drop, uint32_t threshold, uint64_t seed,
                  uint64_t step, double scale, int n_threads):
    """As :func:`gat_forward` with the scores ``sum_f att[h, f] leaky_relu(x_src[j, h, f] + x_dst[i, h, f])``."""
    cdef int64_t n_rows = out.shape[0], H = out.shape[1], F = out.shape[2]
    cdef int n_chunks = max(n_threads, 1)
    cdef int64_t[::1] bounds
    cdef double[:, ::1] work
    cdef floating[:, ::1] buf
    cdef uint32_t k0, k1
    cdef int c
    if n_rows == 0:
        return
    k0, k1 = _keys(drop, seed, step)
    bounds = row_chunks(indptr, n_chunks)
    work, buf = _buffers(n_chunks, H, F, _max_degree(indptr), np.asarray(out).dtype)
    with nogil:
        for c in prange(n_chunks, num_threads=n_chunks, schedule="static"):
            fg_gatv2_forward(_p3(out), _p2(alpha), _c3(x_src), _c3(x_dst), _c2(att), H, F, &indptr[0],
                             _ids(indices), <floating>slope, drop, threshold, k0, k1, <floating>scale, bounds[c],
                             bounds[c + 1], &work[c, 0], &buf[c, 0])


def gat_backward(floating[:, :, ::1] grad_x not None, floating[:, ::1] grad_score_src not None,
                 floating[:, ::1] grad_score_dst not None, floating[:, ::1] dz not None,
                 double[:, ::1] rowsum not None, const floating[:, :, ::1] g not None,
                 const floating[:, :, ::1] x not None, const floating[:, :, ::1] out not None,
                 const floating[:, ::1] score_src not None, const floating[:, ::1] score_dst not None,
                 const floating[:, ::1] alpha not None, const index_t[::1] indptr not None,
                 const index_t[::1] t_indptr not None, const index_t[::1] t_indices not None,
                 const index_t[::1] edge_id not None, double slope, bint drop, uint32_t threshold, uint64_t seed,
                 uint64_t step, double scale, int n_threads):
    """Gradients of :func:`gat_forward` (``out`` its output); ``dz`` (E, H) and ``rowsum`` (num_dst, H) are work arrays.

    First the softmax row sums ``rowsum[i, h] = <g[i, h], out[i, h]>``, then
    everything else per source over the transposed CSR (``grad_x``,
    ``grad_score_src`` and the score gradient of every edge into ``dz``),
    then ``grad_score_dst`` as the row sums of ``dz``.
    """
    cdef int64_t n_dst = g.shape[0], n_src = x.shape[0], H = x.shape[1], F = x.shape[2]
    cdef int n_chunks = max(n_threads, 1)
    cdef int64_t[::1] bounds
    cdef double[:, ::1] work
    cdef floating[:, ::1] buf
    cdef uint32_t k0, k1
    cdef int c
    k0, k1 = _keys(drop, seed, step)
    work = np.empty((n_chunks, H + 1))
    buf = np.empty((n_chunks, H + 1), dtype=np.asarray(g).dtype)
    if n_dst > 0:
        bounds = row_chunks(indptr, n_chunks)
        with nogil:
            for c in prange(n_chunks, num_threads=n_chunks, schedule="static"):
                fg_gat_backward_rowsums(&rowsum[0, 0] if H > 0 else NULL, _c3(g), _c3(out), H, F, &indptr[0],
                                        bounds[c], bounds[c + 1])
    if n_src > 0:
        bounds = row_chunks(t_indptr, n_chunks)
        with nogil:
            for c in prange(n_chunks, num_threads=n_chunks, schedule="static"):
                fg_gat_backward_sources(_p3(grad_x), _p2(grad_score_src), _p2(dz), _c3(g), _c3(x),
                                        _c2(score_src), _c2(score_dst), &rowsum[0, 0] if n_dst * H > 0 else NULL,
                                        _c2(alpha), H, F, &t_indptr[0], _ids(t_indices), _ids(edge_id),
                                        <floating>slope, drop, threshold, k0, k1, <floating>scale, bounds[c],
                                        bounds[c + 1], &work[c, 0], &buf[c, 0])
    if n_dst > 0:
        bounds = row_chunks(indptr, n_chunks)
        with nogil:
            for c in prange(n_chunks, num_threads=n_chunks, schedule="static"):
                fg_gat_backward_dst_sums(_p2(grad_score_dst), _c2(dz), H, &indptr[0], bounds[c], bounds[c + 1],
                                         &work[c, 0])


def gatv2_backward(floating[:, :, ::1] grad_x_src not None, floating[:, :, ::1] grad_x_dst not None,
                   floating[:, ::1] grad_att not None, double[:, ::1] partials not None,
                   floating[:, ::1] scratch not None, const floating[:, :, ::1] g not None,
                   const floating[:, :, ::1] x_src not None, const floating[:, :, ::1] x_dst not None,
                   const floating[:, ::1] att not None, const floating[:, ::1] alpha not None,
                   const index_t[::1] indptr not None, const index_t[::1] indices not None,
                   const index_t[::1] t_indptr not None, const index_t[::1] t_indices not None,
                   const index_t[::1] edge_id not None, double slope, bint drop, uint32_t threshold, uint64_t seed,
                   uint64_t step, double scale, int n_threads):
    """Gradients of :func:`gatv2_forward`.

    ``partials`` (float64, ``(ceil(num_dst / BLOCK_ROWS), H * F)``) receives
    the att gradient of each block of ``BLOCK_ROWS`` destination rows;
    ``grad_att`` their sum, block after block, rounded once. ``scratch`` is
    an (E, 2 H) work array (overwritten).
    """
    cdef int64_t n_dst = g.shape[0], n_src = x_src.shape[0], H = x_src.shape[1], F = x_src.shape[2]
    cdef int64_t HF = H * F
    cdef int64_t block_rows = BLOCK_ROWS
    cdef int64_t n_blocks = (n_dst + block_rows - 1) // block_rows
    cdef int n_chunks = max(n_threads, 1)
    cdef int64_t[::1] bounds
    cdef int64_t[::1] blocks
    cdef int64_t max_degree = _max_degree(indptr)
    cdef double[:, ::1] work
    cdef floating[:, ::1] buf
    cdef uint32_t k0, k1
    cdef int c
    cdef int64_t b, l
    cdef double total
    k0, k1 = _keys(drop, seed, step)
    work, buf = _buffers(n_chunks, H, F, max_degree, np.asarray(g).dtype)
    if n_blocks > 0:
        if n_chunks > n_blocks:
            n_chunks = <int>n_blocks
        # Chunks of about equal edge count, their bounds rounded to whole blocks.
        blocks = np.clip((np.asarray(row_chunks(indptr, n_chunks)) + block_rows // 2) // block_rows, 0, n_blocks)
        blocks[0] = 0
        blocks[n_chunks] = n_blocks
        with nogil:
            for c in prange(n_chunks, num_threads=n_chunks, schedule="static"):
                fg_gatv2_backward_rows(_p2(scratch), _p3(grad_x_dst), &partials[0, 0] if HF > 0 else NULL, _c3(g), _c3(x_src),
                                       _c3(x_dst), _c2(att), _c2(alpha), H, F, &indptr[0], _ids(indices),
                                       <floating>slope, drop, threshold, k0, k1, <floating>scale, blocks[c],
                                       blocks[c + 1], block_rows, n_dst, &work[c, 0], &buf[c, 0], max_degree)
    n_chunks = max(n_threads, 1)
    if n_src > 0:
        bounds = row_chunks(t_indptr, n_chunks)
        with nogil:
            for c in prange(n_chunks, num_threads=n_chunks, schedule="static"):
                fg_gatv2_backward_sources(_p3(grad_x_src), _c3(g), _c3(x_src), _c3(x_dst), _c2(att),
                                          _c2(scratch), H, F, &t_indptr[0], _ids(t_indices), _ids(edge_id),
                                          <floating>slope, bounds[c], bounds[c + 1])
    for l in range(HF):
        total = 0.0
        for b in range(n_blocks):
            total = total + partials[b, l]
        grad_att[l // F, l % F] = <floating>total
