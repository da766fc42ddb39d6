"""Matrix products of the layers, split across fastgnn's own threads, never BLAS's.

The layers' products are tall and thin (``N x in`` times ``in x out`` with
``N`` the node count). OpenBLAS's workers spin for a while after every
parallel product and take the cores the next aggregation kernel needs (a
training epoch ran 10-20 % slower, and very unevenly, when they did). So
every product here runs with NumPy's OpenBLAS held at one thread
(:func:`fastgnn._runtime.blas.single_threaded_blas`, restored afterwards):
:func:`matmul` and :func:`matmul_tn` split a large product by rows into as
many pieces as fastgnn's thread count (:func:`fastgnn.get_num_threads`) and
run the pieces on a small pool of Python threads, each a single-threaded
BLAS call (NumPy releases the GIL in BLAS). Idle pool threads sleep on a
lock; they never spin. This holds in any loop, a user's own included, with
no setting to remember; :func:`fastgnn.limit_blas_threads` is still there
for the user's own NumPy products.

Within a piece, the rows of the tall operand(s) are first copied, a block
of about :data:`STAGE_BYTES` at a time, into a buffer of the thread's own
that stays in its L2 cache, and multiplied from there: OpenBLAS reads a
block streamed in by a plain copy faster than it packs it from memory
itself (tall products 11-15 % faster on this kind of machine, measured:
the copy costs less than the stalls it saves).

Small products run in one call. When the BLAS is not an OpenBLAS that can be
held (MKL, say), products are plain NumPy ones on that BLAS's threads.
Results equal NumPy's up to the summation order of :func:`matmul_tn`
(partial sums over row blocks), and are the same for any thread count: the
row pieces depend on the rows only (:data:`MIN_ROWS`, :data:`MAX_PIECES`).

A :class:`~fastgnn.SparseFeatures` operand (the input features of a first
layer) goes to :func:`fastgnn.ops.sparse_matmul` / :func:`~fastgnn.ops.sparse_matmul_tn`,
compiled products over its stored values that never densify it.
"""
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from fastgnn._runtime.blas import get_blas_threads, single_threaded_blas
from fastgnn._runtime.memory import empty_aligned
from fastgnn._runtime.threads import get_num_threads
from fastgnn.graph import SparseFeatures
from fastgnn.ops import sparse_matmul, sparse_matmul_tn

__all__ = ["matmul", "matmul_tn"]

# Below this many multiply-adds a product runs in one call: a hand-off to a
# pool thread costs tens of microseconds.
SPLIT_THRESHOLD = 1 << 22
# Each piece has at least this many rows, and a product has at most MAX_PIECES
# pieces. Both fix the pieces from the shape alone, so the sums of matmul_tn
# (and every row of matmul) are the same for any thread count.
MIN_ROWS = 1024
MAX_PIECES = 16
# A strided right operand of at most this many items is copied to a contiguous one first.
SMALL_OPERAND = 1 << 16
# Bytes of the tall operand's rows staged in a thread's buffer per product call (fits a 2 MiB L2 with the rest).
STAGE_BYTES = 1 << 20
# Fewer rows than this in a block: no staging (the copy's fixed cost is no longer paid back).
MIN_STAGE_ROWS = 256

_stage = threading.local()

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


def _row_pieces(rows, work):
    """Row ranges of a product of ``work`` multiply-adds, from its shape alone (one range: do not split)."""
    if work < SPLIT_THRESHOLD or rows < 2 * MIN_ROWS or get_blas_threads() is None:
        return [(0, rows)]
    pieces = min(MAX_PIECES, rows // MIN_ROWS)
    edges = np.linspace(0, rows, pieces + 1).astype(np.int64).tolist()
    return list(zip(edges[:-1], edges[1:]))


def _run_pieces(task, pieces):
    """``[task(start, stop) for each piece]``, the pieces shared among fastgnn's threads (the caller one of them)."""
    threads = min(get_num_threads(), len(pieces))
    if threads < 2:
        return [task(start, stop) for start, stop in pieces]
    groups = [pieces[g * len(pieces) // threads:(g + 1) * len(pieces) // threads] for g in range(threads)]
    pool = _executor(threads - 1)
    futures = [pool.submit(lambda group=group: [task(start, stop) for start, stop in group]) for group in groups[1:]]
    results = [task(start, stop) for start, stop in groups[0]]
    for future in futures:
        results.extend(future.result())
    return results


def _stage_rows(*operands):
    """Rows per staged block for these tall operands (0: do not stage)."""
    row_bytes = sum(operand.shape[1] * operand.itemsize for operand in operands)
    rows = STAGE_BYTES // max(row_bytes, 1)
    return rows if rows >= MIN_STAGE_ROWS else 0


def _staging_buffer(slot, rows, like):
    """The calling thread's buffer ``slot`` as a ``(rows, like.shape[1])`` array of ``like``'s dtype."""
    buffers = getattr(_stage, "buffers", None)
    if buffers is None:
        buffers = _stage.buffers = {}
    size = rows * like.shape[1] * like.itemsize
    buffer = buffers.get(slot)
    if buffer is None or buffer.size < size:
        buffer = buffers[slot] = empty_aligned((size,), np.uint8)
    return buffer[:size].view(like.dtype).reshape(rows, like.shape[1])


def _product_rows(a, b, out, start, stop):
    """``out[start:stop] = a[start:stop] @ b``, the rows of ``a`` staged block by block."""
    block = _stage_rows(a)
    if not block or stop - start <= block:
        np.matmul(a[start:stop], b, out=out[start:stop])
        return
    staged = _staging_buffer("a", block, a)
    for lo in range(start, stop, block):
        hi = min(lo + block, stop)
        rows = staged[:hi - lo]
        np.copyto(rows, a[lo:hi])
        np.matmul(rows, b, out=out[lo:hi])


def _product_tn_rows(a, b, start, stop):
    """``a[start:stop].T @ b[start:stop]``, summed over staged blocks of rows in order."""
    block = _stage_rows(a, b)
    if not block or stop - start <= block:
        return a[start:stop].T @ b[start:stop]
    staged_a, staged_b = _staging_buffer("a", block, a), _staging_buffer("b", block, b)
    total = scratch = None
    for lo in range(start, stop, block):
        hi = min(lo + block, stop)
        rows_a, rows_b = staged_a[:hi - lo], staged_b[:hi - lo]
        np.copyto(rows_a, a[lo:hi])
        np.copyto(rows_b, b[lo:hi])
        if total is None:
            total = rows_a.T @ rows_b
            scratch = np.empty_like(total)
        else:
            total += np.matmul(rows_a.T, rows_b, out=scratch)
    return total


def matmul(a, b, out=None):
    """``a @ b`` for 2-D ``a`` (rows split across threads when large).

    Parameters
    ----------
    a : ndarray (n, k) or SparseFeatures
        May be a transposed view.
    b : ndarray (k, m)
    out : ndarray (n, m), optional
        A C-contiguous buffer of the result dtype to write into (a layer's
        reused workspace).

    Returns
    -------
    ndarray (n, m), C-contiguous and 64-byte aligned, in NumPy's result dtype
    """
    if isinstance(a, SparseFeatures):
        return sparse_matmul(a, b, out=out)
    rows = a.shape[0]
    if not b.flags.c_contiguous and b.size <= SMALL_OPERAND:
        # A weight's transpose, say: OpenBLAS runs narrow products (in <= 64) up to twice as fast on
        # a contiguous copy, which costs microseconds.
        b = np.ascontiguousarray(b)
    # A 64-byte aligned output: the aggregation kernels gather its rows without realigning a copy.
    if out is None:
        out = empty_aligned((rows, b.shape[1]), np.result_type(a, b))
    pieces = _row_pieces(rows, rows * a.shape[1] * b.shape[1])
    with single_threaded_blas():
        _run_pieces(lambda start, stop: _product_rows(a, b, out, start, stop), pieces)
    return out


def matmul_tn(a, b):
    """``a.T @ b`` for ``a`` (n, k) and ``b`` (n, m): the sum over rows split across threads when large.

    Each piece computes ``a[rows].T @ b[rows]`` into its own ``k x m``
    array; the pieces are then added in order (``O(pieces · k · m)``).
    Either operand may be a :class:`~fastgnn.SparseFeatures` matrix.
    """
    if isinstance(a, SparseFeatures):
        return sparse_matmul_tn(a, b)
    if isinstance(b, SparseFeatures):
        return sparse_matmul_tn(b, a).T
    rows = a.shape[0]
    if b.shape[0] != rows:
        raise ValueError(f"matmul_tn: a has {rows} rows, b has {b.shape[0]}")
    pieces = _row_pieces(rows, rows * a.shape[1] * b.shape[1])
    with single_threaded_blas():
        partial = _run_pieces(lambda start, stop: _product_tn_rows(a, b, start, stop), pieces)
    total = partial[0]
    for piece in partial[1:]:
        total += piece
    return total
