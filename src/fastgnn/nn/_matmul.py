"""Matrix products of the layers, split across threads without BLAS's own thread pool.

The layers' products are tall and thin (``N x in`` times ``in x out`` with
``N`` the node count). During training fastgnn limits NumPy's BLAS to one
thread (:func:`fastgnn.limit_blas_threads`), because OpenBLAS's workers spin
between products and take the cores the parallel aggregation kernels need.
To still use every core for the products, :func:`matmul` and
:func:`matmul_tn` split them by rows into as many pieces as fastgnn's thread
count (:func:`fastgnn.get_num_threads`) and run the pieces on a small pool
of Python threads, each a single-threaded BLAS call (NumPy releases the GIL
in BLAS). Idle pool threads sleep on a lock; they never spin.

When BLAS itself may use several threads, or the product is small, both
functions are plain NumPy products. Results equal NumPy's up to the
summation order of :func:`matmul_tn` (partial sums over row blocks).

A :class:`~fastgnn.SparseFeatures` operand (the input features of a first
layer) goes to :func:`fastgnn.ops.sparse_matmul` / :func:`~fastgnn.ops.sparse_matmul_tn`,
compiled products over its stored values that never densify it.
"""
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from fastgnn._runtime.blas import get_blas_threads
from fastgnn._runtime.memory import empty_aligned
from fastgnn._runtime.threads import get_num_threads
from fastgnn.graph import SparseFeatures
from fastgnn.ops import sparse_matmul, sparse_matmul_tn

__all__ = ["matmul", "matmul_tn"]

# Below this many multiply-adds a product runs in one call: a hand-off to a
# pool thread costs tens of microseconds.
SPLIT_THRESHOLD = 1 << 22
# Each piece has at least this many rows.
MIN_ROWS = 1024

_pool = None
_pool_size = 0
_pool_lock = threading.Lock()


def _executor(workers):
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size < workers:
            if _pool is not None:
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fastgnn-matmul")
            _pool_size = workers
        return _pool


def _pieces(rows, work):
    """Number of row pieces for a product of ``work`` multiply-adds (1: do not split)."""
    if work < SPLIT_THRESHOLD or rows < 2 * MIN_ROWS:
        return 1
    threads = get_num_threads()
    if threads < 2:
        return 1
    blas = get_blas_threads()
    if blas is None or blas > 1:        # BLAS parallelises the product itself
        return 1
    return max(1, min(threads, rows // MIN_ROWS))


def _bounds(rows, pieces):
    edges = np.linspace(0, rows, pieces + 1).astype(np.int64)
    return list(zip(edges[:-1].tolist(), edges[1:].tolist()))


def matmul(a, b):
    """``a @ b`` for 2-D ``a`` (rows split across threads when large).

    Parameters
    ----------
    a : ndarray (n, k) or SparseFeatures
        May be a transposed view.
    b : ndarray (k, m)

    Returns
    -------
    ndarray (n, m), C-contiguous and 64-byte aligned, in NumPy's result dtype
    """
    if isinstance(a, SparseFeatures):
        return sparse_matmul(a, b)
    rows = a.shape[0]
    pieces = _pieces(rows, rows * a.shape[1] * b.shape[1])
    # A 64-byte aligned output: the aggregation kernels gather its rows without realigning a copy.
    out = empty_aligned((rows, b.shape[1]), np.result_type(a, b))
    if pieces == 1:
        return np.matmul(a, b, out=out)
    bounds = _bounds(rows, pieces)
    pool = _executor(pieces - 1)
    futures = [pool.submit(np.matmul, a[start:stop], b, out=out[start:stop]) for start, stop in bounds[1:]]
    start, stop = bounds[0]
    np.matmul(a[start:stop], b, out=out[start:stop])
    for future in futures:
        future.result()
    return out


def matmul_tn(a, b):
    """``a.T @ b`` for ``a`` (n, k) and ``b`` (n, m): the sum over rows split across threads when large.

    Each piece computes ``a[rows].T @ b[rows]`` into its own ``k x m``
    array; the pieces are then added (``O(pieces · k · m)``). Either operand
    may be a :class:`~fastgnn.SparseFeatures` matrix.
    """
    if isinstance(a, SparseFeatures):
        return sparse_matmul_tn(a, b)
    if isinstance(b, SparseFeatures):
        return sparse_matmul_tn(b, a).T
    rows = a.shape[0]
    if b.shape[0] != rows:
        raise ValueError(f"matmul_tn: a has {rows} rows, b has {b.shape[0]}")
    pieces = _pieces(rows, rows * a.shape[1] * b.shape[1])
    if pieces == 1:
        return a.T @ b
    bounds = _bounds(rows, pieces)
    pool = _executor(pieces - 1)
    futures = [pool.submit(np.matmul, a[start:stop].T, b[start:stop]) for start, stop in bounds[1:]]
    start, stop = bounds[0]
    total = a[start:stop].T @ b[start:stop]
    for future in futures:
        total += future.result()
    return total
