"""Cache-line-aligned arrays for the kernels.

NumPy aligns large arrays to 16 bytes only. A feature row gathered from a
misaligned array straddles one more cache line and every wide vector load
splits, which makes a gather up to twice as slow; so fastgnn allocates its
own outputs on 64-byte boundaries and may realign a misaligned input that a
kernel reads many times.
"""
import numpy as np

ALIGNMENT = 64


def empty_aligned(shape, dtype):
    """An uninitialised C-contiguous array whose data starts on a 64-byte boundary."""
    dtype = np.dtype(dtype)
    shape = tuple(int(s) for s in (shape if isinstance(shape, tuple) else (shape,)))
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    buffer = np.empty(nbytes + ALIGNMENT, dtype=np.uint8)
    offset = (-buffer.ctypes.data) % ALIGNMENT
    return buffer[offset:offset + nbytes].view(dtype).reshape(shape)


def is_aligned(array):
    return array.ctypes.data % ALIGNMENT == 0


def aligned_for_gather(x, num_edges):
    """``x`` itself, or an aligned copy when its rows will be gathered often.

    A copy costs one pass over ``x``; it pays off when the gather reads each
    row more than twice on average and a row spans at least a cache line.
    """
    if is_aligned(x) or x.shape[1] * x.itemsize < ALIGNMENT or num_edges <= 2 * x.shape[0]:
        return x
    copy = empty_aligned(x.shape, x.dtype)
    np.copyto(copy, x)
    return copy
