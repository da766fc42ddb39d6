# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled fused dense steps: bias + activation + dropout, and backward (private: inputs are trusted).

The functions take already-validated, C-contiguous float32/float64 arrays
of matching dtypes and shapes and an ``n_threads`` count, and run with the
GIL released. They take plain ndarrays, not typed memoryviews: these calls
run several times per training epoch on small arrays, where acquiring a
memoryview per argument costs as much as the work.

Activation codes: 0 identity, 1 relu, 2 leaky_relu, 3 elu, 4 tanh, 5 sigmoid.
The dropout mask is drawn by a counter-based hash of (seed, step, flat
position): see ``csrc/fastgnn_dense.h``.
"""
from cython.parallel cimport prange
cimport numpy as cnp
from libc.stdint cimport int64_t, uint32_t, uint64_t
from fastgnn._kernels._common cimport floating

cnp.import_array()

# Rows per block of the bias-gradient sum: fixed, so the sum's order (within
# a block row after row, then block after block) is the same for any thread count.
BLOCK_ROWS = 256
cdef int64_t _BLOCK_ROWS = BLOCK_ROWS


cdef extern from "fastgnn_dense.h" nogil:
    void fg_dropout_key(uint64_t seed, uint64_t step, uint32_t* k0, uint32_t* k1)
    void fg_dropout_keep(unsigned char* keep, int64_t begin, int64_t end, uint32_t threshold, uint32_t k0,
                         uint32_t k1)
    void fg_dense_forward_f32(float* out, const float* z, const float* bias, float* saved, int64_t row_begin,
                              int64_t row_end, int64_t d, int act, float slope, float alpha, int drop,
                              uint32_t threshold, uint32_t k0, uint32_t k1, float scale, const int64_t* row_ids)
    void fg_dense_forward_f64(double* out, const double* z, const double* bias, double* saved,
                              int64_t row_begin, int64_t row_end, int64_t d, int act, double slope, double alpha,
                              int drop, uint32_t threshold, uint32_t k0, uint32_t k1, double scale,
                              const int64_t* row_ids)
    void fg_dense_backward_f32(float* grad_z, const float* grad_out, const float* saved, double* partials,
                               int64_t block_begin, int64_t block_end, int64_t block_rows, int64_t n_rows,
                               int64_t d, int act, float slope, float alpha, int drop, uint32_t threshold,
                               uint32_t k0, uint32_t k1, float scale, const int64_t* row_ids)
    void fg_dense_backward_f64(double* grad_z, const double* grad_out, const double* saved, double* partials,
                               int64_t block_begin, int64_t block_end, int64_t block_rows, int64_t n_rows,
                               int64_t d, int act, double slope, double alpha, int drop, uint32_t threshold,
                               uint32_t k0, uint32_t k1, double scale, const int64_t* row_ids)
    void fg_softmax_xent_rows_f32(const float* logits, const int64_t* labels, float* grad, double* row_loss,
                                  int64_t row_begin, int64_t row_end, int64_t classes, double scale)
    void fg_softmax_xent_rows_f64(const double* logits, const int64_t* labels, double* grad, double* row_loss,
                                  int64_t row_begin, int64_t row_end, int64_t classes, double scale)


cdef inline void* _data_or_null(object a):
    if a is None:
        return NULL
    return cnp.PyArray_DATA(<cnp.ndarray>a)


def dropout_key(uint64_t seed, uint64_t step):
    """The two 32-bit keys ``(k0, k1)`` of the mask of ``(seed, step)``."""
    cdef uint32_t k0, k1
    fg_dropout_key(seed, step, &k0, &k1)
    return k0, k1


def dropout_keep(cnp.ndarray keep not None, int64_t begin, uint32_t threshold, uint64_t seed, uint64_t step,
                 int n_threads):
    """``keep[c] = bits(begin + c) >= threshold`` for a contiguous uint8/bool array ``keep``."""
    cdef uint32_t k0, k1
    cdef int64_t n = cnp.PyArray_SIZE(keep)
    cdef unsigned char* ptr = <unsigned char*>cnp.PyArray_DATA(keep)
    cdef int n_chunks = max(n_threads, 1)
    cdef int c
    cdef int64_t lo, hi
    fg_dropout_key(seed, step, &k0, &k1)
    if n == 0:
        return
    with nogil:
        if n_chunks == 1:
            fg_dropout_keep(ptr, begin, begin + n, threshold, k0, k1)
        else:
            for c in prange(n_chunks, num_threads=n_chunks, schedule="static"):
                lo = (n * c) // n_chunks
                hi = (n * (c + 1)) // n_chunks
                fg_dropout_keep(ptr + lo, begin + lo, begin + hi, threshold, k0, k1)


def forward(cnp.ndarray out not None, cnp.ndarray z not None, object bias, object saved, int act, double slope,
            double alpha, bint drop, uint32_t threshold, uint64_t seed, uint64_t step, double scale,
            int n_threads, object row_ids=None):
    """``out = act(z + bias) * keep * scale`` (``keep * scale`` only with ``drop``).

    ``out`` may be ``z``. ``bias`` (length d) may be None. ``saved`` (shape of
    ``z``) receives ``act(z + bias)`` when ``drop`` and ``act`` is ELU, tanh
    or sigmoid; None otherwise. ``row_ids`` (int64, one per row, or None)
    keys row ``i``'s mask as row ``row_ids[i]``'s.
    """
    cdef int64_t n_rows = cnp.PyArray_DIM(z, 0)
    cdef int64_t d = cnp.PyArray_DIM(z, 1)
    cdef bint is_double = cnp.PyArray_TYPE(z) == cnp.NPY_FLOAT64
    cdef void* o = cnp.PyArray_DATA(out)
    cdef void* x = cnp.PyArray_DATA(z)
    cdef void* b = _data_or_null(bias)
    cdef void* s = _data_or_null(saved)
    cdef const int64_t* ids = <const int64_t*>_data_or_null(row_ids)
    cdef uint32_t k0 = 0, k1 = 0
    cdef int n_chunks = max(n_threads, 1)
    cdef int c
    cdef int64_t r0, r1
    if n_rows == 0 or d == 0:
        return
    if drop:
        fg_dropout_key(seed, step, &k0, &k1)
    if n_chunks > n_rows:
        n_chunks = <int>n_rows
    with nogil:
        if n_chunks == 1:
            if is_double:
                fg_dense_forward_f64(<double*>o, <const double*>x, <const double*>b, <double*>s, 0, n_rows, d,
                                     act, slope, alpha, drop, threshold, k0, k1, scale, ids)
            else:
                fg_dense_forward_f32(<float*>o, <const float*>x, <const float*>b, <float*>s, 0, n_rows, d,
                                     act, <float>slope, <float>alpha, drop, threshold, k0, k1, <float>scale, ids)
        else:
            for c in prange(n_chunks, num_threads=n_chunks, schedule="static"):
                r0 = (n_rows * c) // n_chunks
                r1 = (n_rows * (c + 1)) // n_chunks
                if is_double:
                    fg_dense_forward_f64(<double*>o, <const double*>x, <const double*>b, <double*>s, r0, r1, d,
                                         act, slope, alpha, drop, threshold, k0, k1, scale, ids)
                else:
                    fg_dense_forward_f32(<float*>o, <const float*>x, <const float*>b, <float*>s, r0, r1, d,
                                         act, <float>slope, <float>alpha, drop, threshold, k0, k1, <float>scale, ids)


def backward(cnp.ndarray grad_z not None, cnp.ndarray grad_out not None, object saved, object grad_bias,
             object partials, int act, double slope, double alpha, bint drop, uint32_t threshold, uint64_t seed,
             uint64_t step, double scale, int n_threads, object row_ids=None):
    """``grad_z = grad_out * keep * scale * act'(saved)``, and ``grad_bias = grad_z.sum(axis=0)``.

    ``grad_z`` may be ``grad_out``. ``saved`` is what the forward left for
    the derivative (None for the identity). With ``grad_bias`` (length d,
    dtype of the values), ``partials`` (float64, shape
    ``(ceil(n_rows / BLOCK_ROWS), d)``) receives the column sums of each
    block of ``BLOCK_ROWS`` rows (row after row, in float64), and
    ``grad_bias`` their sum, block after block, rounded once. ``row_ids``
    as in :func:`forward`.
    """
    cdef int64_t n_rows = cnp.PyArray_DIM(grad_out, 0)
    cdef int64_t d = cnp.PyArray_DIM(grad_out, 1)
    cdef bint is_double = cnp.PyArray_TYPE(grad_out) == cnp.NPY_FLOAT64
    cdef void* gz = cnp.PyArray_DATA(grad_z)
    cdef void* g = cnp.PyArray_DATA(grad_out)
    cdef void* s = _data_or_null(saved)
    cdef double* p = <double*>_data_or_null(partials)
    cdef void* gb = _data_or_null(grad_bias)
    cdef const int64_t* ids = <const int64_t*>_data_or_null(row_ids)
    cdef double total
    cdef int64_t blk, k
    cdef uint32_t k0 = 0, k1 = 0
    cdef int64_t n_blocks = (n_rows + _BLOCK_ROWS - 1) // _BLOCK_ROWS
    cdef int n_chunks = max(n_threads, 1)
    cdef int c
    cdef int64_t b0, b1
    if gb == NULL:
        p = NULL
    if d == 0:
        return
    if n_rows == 0:
        p = NULL  # the sums are zeros
    if drop:
        fg_dropout_key(seed, step, &k0, &k1)
    if n_chunks > n_blocks:
        n_chunks = <int>max(n_blocks, 1)
    with nogil:
        if n_chunks == 1:
            if is_double:
                fg_dense_backward_f64(<double*>gz, <const double*>g, <const double*>s, p, 0, n_blocks,
                                      _BLOCK_ROWS, n_rows, d, act, slope, alpha, drop, threshold, k0, k1, scale, ids)
            else:
                fg_dense_backward_f32(<float*>gz, <const float*>g, <const float*>s, p, 0, n_blocks, _BLOCK_ROWS,
                                      n_rows, d, act, <float>slope, <float>alpha, drop, threshold, k0, k1,
                                      <float>scale, ids)
        else:
            for c in prange(n_chunks, num_threads=n_chunks, schedule="static"):
                b0 = (n_blocks * c) // n_chunks
                b1 = (n_blocks * (c + 1)) // n_chunks
                if is_double:
                    fg_dense_backward_f64(<double*>gz, <const double*>g, <const double*>s, p, b0, b1,
                                          _BLOCK_ROWS, n_rows, d, act, slope, alpha, drop, threshold, k0, k1,
                                          scale, ids)
                else:
                    fg_dense_backward_f32(<float*>gz, <const float*>g, <const float*>s, p, b0, b1, _BLOCK_ROWS,
                                          n_rows, d, act, <float>slope, <float>alpha, drop, threshold, k0, k1,
                                          <float>scale, ids)
        if gb != NULL:
            for k in range(d):
                total = 0.0
                if p != NULL:
                    for blk in range(n_blocks):
                        total = total + p[blk * d + k]
                if is_double:
                    (<double*>gb)[k] = total
                else:
                    (<float*>gb)[k] = <float>total


def empty_aligned_like(a):
    """An uninitialised C-contiguous array of ``a``'s shape and dtype starting on a 64-byte boundary.

    As ``fastgnn._runtime.memory.empty_aligned``, at a tenth of its cost
    (no ``ctypes``), for the small arrays of a training loop.
    """
    cdef Py_ssize_t nbytes = cnp.PyArray_NBYTES(<cnp.ndarray>a)
    cdef cnp.npy_intp size = nbytes + 64
    cdef cnp.ndarray buffer = cnp.PyArray_EMPTY(1, &size, cnp.NPY_UINT8, 0)
    cdef Py_ssize_t offset = <Py_ssize_t>((-<size_t>cnp.PyArray_DATA(buffer)) & 63)
    return buffer[offset:offset + nbytes].view((<object>a).dtype).reshape((<object>a).shape)


# --------------------------------------------------------------------------- softmax cross-entropy
def softmax_cross_entropy_rows(floating[:, ::1] logits, const int64_t[::1] labels, floating[:, ::1] grad,
                               double[::1] row_loss, double scale, int n_threads):
    """Per row ``i``: ``row_loss[i] = logsumexp(z_i) - z_i[labels[i]]`` and
    ``grad[i] = scale * (softmax(z_i) - onehot(labels[i]))``, in one pass.

    Each row is computed on its own in double precision (the log-sum-exp
    shift by the row maximum, the vectorised exp of ``csrc/fastgnn_dense.h``),
    so the result is the same for any thread count. Labels are trusted to be
    in range.
    """
    cdef int64_t n = logits.shape[0], classes = logits.shape[1], r0, r1
    cdef int n_chunks = max(n_threads, 1)
    cdef int c
    if n == 0:
        return
    if n_chunks > n:
        n_chunks = <int>n
    with nogil:
        for c in prange(n_chunks, num_threads=n_chunks, schedule="static"):
            r0 = (n * c) // n_chunks
            r1 = (n * (c + 1)) // n_chunks
            if floating is double:
                fg_softmax_xent_rows_f64(&logits[0, 0], &labels[0], &grad[0, 0], &row_loss[0], r0, r1, classes,
                                         scale)
            else:
                fg_softmax_xent_rows_f32(&logits[0, 0], &labels[0], &grad[0, 0], &row_loss[0], r0, r1, classes,
                                         scale)
