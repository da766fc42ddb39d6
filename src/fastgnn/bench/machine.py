"""The machine's limits, measured beside fastgnn's kernels: a STREAM triad and the gather floor.

Two compiled probes (private module ``fastgnn._kernels.probe``), each behind a
thin validated function:

* :func:`stream_triad`: STREAM's triad ``a[i] = b[i] + scalar * c[i]`` over
  float64 arrays, OpenMP-parallel. :func:`measure_triad` times it over arrays
  much larger than the caches and reports GB/s counted as STREAM does: three
  arrays of 8-byte elements per element, i.e. without the read that the
  cache's write-allocate adds for ``a``.
* :func:`gather_floor`: the cost floor of a sum aggregation over a graph,
  ``out[r] = sum(x[j] for each edge j -> r)`` in CSR order with the simplest
  possible inner loop: every in-neighbour row read and summed in registers,
  the rows prefetched a fixed number of edges ahead, rows split into chunks of
  equal edge count across threads, the output rows written (a real aggregation
  must write them too). No weights, no mean, no blocks of features, no
  ``arg``. :func:`floor_call` builds the timed callable of a forward (over the
  graph) or forward + backward (and over its cached transpose, as a sum's
  backward does) from 64-byte-aligned copies of the inputs and preallocated
  outputs, so that only the unavoidable traffic is timed: the index arrays,
  one gathered row per edge, the output rows.

A kernel's *fraction of the floor* is floor time / kernel time, both
measured in the same run: 100% means the kernel gathers as fast as this loop.
"""
import statistics
import time

import numpy as np

from fastgnn._kernels import _common, probe
from fastgnn._runtime import validate as V
from fastgnn._runtime.memory import empty_aligned, is_aligned
from fastgnn._runtime.threads import check_num_threads, get_num_threads
from fastgnn.graph import Graph

__all__ = ["TRIAD_BYTES_PER_ELEMENT", "DEFAULT_TRIAD_ARRAY_BYTES", "stream_triad", "measure_triad",
           "prefetch_distance", "gather_floor", "floor_call"]

# STREAM's count for the triad: b and c read, a written, 8 bytes each.
TRIAD_BYTES_PER_ELEMENT = 3 * 8
# Each triad array: 256 MiB, at least 4x the last-level cache of most CPUs (32 MiB here; STREAM's rule).
DEFAULT_TRIAD_ARRAY_BYTES = 256 * 2**20
TRIAD_SCALAR = 3.0
# Bytes of feature rows in flight ahead of the row being summed (the kernels' own choice).
PREFETCH_BYTES = 12288


def _threads(n_threads):
    """The thread count of a probe: ``n_threads`` checked, else fastgnn's default; 1 without OpenMP."""
    count = get_num_threads() if n_threads is None else check_num_threads(n_threads, "n_threads")
    return count if _common.openmp_enabled() else 1


def _float64_vector(array, name, length=None):
    array = V.as_array(array, name)
    if array.dtype != np.float64:
        raise TypeError(f"{name} must have dtype float64, got {array.dtype}")
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {array.shape}")
    if length is not None and array.shape[0] != length:
        raise ValueError(f"{name} must have length {length} (that of a), got {array.shape[0]}")
    if not array.flags.c_contiguous:
        raise ValueError(f"{name} must be contiguous")
    return array


def stream_triad(a, b, c, scalar=TRIAD_SCALAR, *, n_threads=None):
    """STREAM's triad in place: ``a[i] = b[i] + scalar * c[i]``.

    Parameters
    ----------
    a : ndarray of float64, shape (n,)
        Written; contiguous, writeable, sharing no memory with ``b`` or ``c``.
    b, c : ndarray of float64, shape (n,)
        Contiguous.
    scalar : float
    n_threads : int, optional
        Threads (default :func:`fastgnn.get_num_threads`); the array is split
        into that many ranges of equal length.

    Returns
    -------
    a : ndarray

    Notes
    -----
    No fused multiply-add, so the result is exactly ``b + scalar * c`` as
    NumPy computes it. Cost ``O(n)``: ``24 n`` bytes as STREAM counts them.
    """
    if not isinstance(a, np.ndarray):
        raise TypeError(f"a must be a numpy.ndarray, got {type(a).__name__}")
    a = _float64_vector(a, "a")
    if not a.flags.writeable:
        raise ValueError("a must be writeable")
    b = _float64_vector(b, "b", a.shape[0])
    c = _float64_vector(c, "c", a.shape[0])
    if np.shares_memory(a, b) or np.shares_memory(a, c):
        raise ValueError("a must not share memory with b or c")
    try:
        scalar = float(scalar)
    except (TypeError, ValueError):
        raise TypeError(f"scalar must be a real number, got {type(scalar).__name__}") from None
    probe.triad(a, b, c, scalar, _threads(n_threads))
    return a


def measure_triad(array_bytes=DEFAULT_TRIAD_ARRAY_BYTES, *, n_threads=None, repeat=5):
    """Time :func:`stream_triad` over three fresh arrays of ``array_bytes`` each.

    Parameters
    ----------
    array_bytes : int
        Bytes of each of the three float64 arrays (default 256 MiB: STREAM
        asks for at least 4x the last-level cache).
    n_threads : int, optional
        Threads (default :func:`fastgnn.get_num_threads`).
    repeat : int
        Timed runs, after one untimed run that also touches ``a``'s pages.

    Returns
    -------
    dict
        ``n_threads``, ``n_elements``, ``bytes`` (per run, STREAM's count
        ``3 x 8 x n``), ``runs_ms``, ``median_ms``, ``gbytes_per_s`` (from
        the median) and ``best_gbytes_per_s`` (from the fastest run, STREAM's
        own report).
    """
    n_elements = V.check_size(array_bytes, "array_bytes") // 8
    if n_elements < 1:
        raise ValueError(f"array_bytes must be at least 8, got {array_bytes}")
    repeat = V.check_size(repeat, "repeat")
    if repeat < 1:
        raise ValueError(f"repeat must be at least 1, got {repeat}")
    threads = _threads(n_threads)
    a = np.zeros(n_elements)
    b = np.full(n_elements, 1.0)
    c = np.full(n_elements, 2.0)
    stream_triad(a, b, c, n_threads=threads)
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        stream_triad(a, b, c, n_threads=threads)
        runs.append((time.perf_counter() - start) * 1e3)
    moved = TRIAD_BYTES_PER_ELEMENT * n_elements
    median = statistics.median(runs)
    return {"n_threads": threads, "n_elements": n_elements, "bytes": moved, "runs_ms": runs, "median_ms": median,
            "gbytes_per_s": moved / (median * 1e-3) / 1e9,
            "best_gbytes_per_s": moved / (min(runs) * 1e-3) / 1e9}


def prefetch_distance(d, itemsize=4):
    """Edges ahead whose rows :func:`gather_floor` prefetches: about 12 KiB of rows, 4 to 64 edges."""
    row = int(d) * int(itemsize)
    return 64 if row <= 0 else int(min(64, max(4, PREFETCH_BYTES // row)))


def gather_floor(graph, x, *, transpose=False, out=None, n_threads=None, distance=None):
    """The cost floor of a sum aggregation: ``out[i] = sum of x[j] over the edges j -> i``.

    Parameters
    ----------
    graph : Graph
    x : array_like of float32 or float64, shape (num_src_nodes, d)
        (``(num_dst_nodes, d)`` with ``transpose``). A copy is made if it is
        not C-contiguous; align it to 64 bytes beforehand for the lowest floor.
    transpose : bool
        Gather over the graph's cached transpose instead (``out[j] = sum of
        x[i] over the edges j -> i``), as the backward of a sum does.
    out : ndarray, optional
        Where to write: C-contiguous, writeable, shape ``(rows, d)``, the
        dtype of ``x``, not overlapping it. Allocated when None.
    n_threads : int, optional
        Threads (default :func:`fastgnn.get_num_threads`); the rows are split
        into that many chunks of equal edge count.
    distance : int, optional
        Edges ahead whose rows are prefetched (default
        :func:`prefetch_distance`).

    Returns
    -------
    out : ndarray of shape (rows, d)
        The unweighted sum aggregation, summed in CSR order (the edge weights
        of the graph, if any, are ignored).

    Notes
    -----
    Cost ``O((E + N) d)``; the traffic is that of a sum aggregation's forward
    (:func:`fastgnn.cli.bench.bytes_moved`): ``indptr`` and ``indices``, one
    gathered row per edge and the output rows.
    """
    if not isinstance(graph, Graph):
        raise TypeError(f"graph must be a fastgnn.Graph, got {type(graph).__name__}")
    if transpose:
        indptr, indices, _ = graph.transpose_csr()
        num_rows, num_src = graph.num_src_nodes, graph.num_dst_nodes
    else:
        indptr, indices = graph.indptr, graph.indices
        num_rows, num_src = graph.num_dst_nodes, graph.num_src_nodes
    x2 = V.as_array(x, "x")
    if x2.ndim != 2:
        raise ValueError(f"x must be 2-D, got shape {x2.shape}")
    x2, _ = V.as_features(x2, "x", num_rows=num_src)
    if out is None:
        out = empty_aligned((num_rows, x2.shape[1]), x2.dtype)
    else:
        V.check_out(out, (num_rows, x2.shape[1]), x2.dtype, (x2,))
    if distance is None:
        distance = prefetch_distance(x2.shape[1], x2.itemsize)
    elif isinstance(distance, bool) or not isinstance(distance, (int, np.integer)):
        raise TypeError(f"distance must be a positive integer, got {type(distance).__name__}")
    elif not 1 <= distance <= 1 << 20:
        raise ValueError(f"distance must be in [1, {1 << 20}], got {distance}")
    probe.gather_floor(out, x2, indptr, indices, _threads(n_threads), int(distance))
    return out


def _aligned(array):
    """``array`` if it starts on a 64-byte boundary, else an aligned copy."""
    if is_aligned(array):
        return array
    copy = empty_aligned(array.shape, array.dtype)
    np.copyto(copy, array)
    return copy


def floor_call(graph, x, grad_out=None, *, n_threads=None, pass_="forward", distance=None, out=None):
    """The timed callable of the floor of one aggregation pass.

    Parameters
    ----------
    graph : Graph
    x : ndarray of shape (num_src_nodes, d)
        Features of the forward.
    grad_out : ndarray of shape (num_dst_nodes, d), optional
        Output gradient, gathered over the transpose by the backward
        (default: ``x``, for a square graph).
    n_threads : int, optional
    pass_ : {"forward", "forward_backward"}
        ``forward``: one :func:`gather_floor` over the graph;
        ``forward_backward``: that, then one over its transpose.
    distance : int, optional
    out : ndarray, optional
        The output buffer to reuse (C-contiguous, ``(num_dst_nodes, d)``,
        the dtype of ``x``), e.g. one buffer shared by several callables;
        allocated when None.

    Returns
    -------
    callable
        No arguments; runs the pass. Its inputs are ``x`` and ``grad_out``
        if they start on 64-byte boundaries, else aligned copies made now;
        one output buffer is allocated now and reused by every call (by the
        forward and the backward alike when their shapes agree), and the
        graph's transpose is cached now: the calls time the gathers alone.
    """
    if pass_ not in ("forward", "forward_backward"):
        raise ValueError(f"pass_ must be 'forward' or 'forward_backward', got {pass_!r}")
    if not isinstance(graph, Graph):
        raise TypeError(f"graph must be a fastgnn.Graph, got {type(graph).__name__}")
    threads = _threads(n_threads)
    x2, _ = V.as_features(x, "x", num_rows=graph.num_src_nodes)
    x2 = _aligned(x2)
    if out is None:
        out = empty_aligned((graph.num_dst_nodes, x2.shape[1]), x2.dtype)
    else:
        V.check_out(out, (graph.num_dst_nodes, x2.shape[1]), x2.dtype, (x2,))
    if pass_ == "forward":
        return lambda: gather_floor(graph, x2, out=out, n_threads=threads, distance=distance)
    if grad_out is None:
        grad_out = x
    g2, _ = V.as_features(grad_out, "grad_out", num_rows=graph.num_dst_nodes, dtype=x2.dtype)
    g2 = x2 if grad_out is x else _aligned(g2)
    graph.transpose_csr()
    grad = out if graph.is_square else empty_aligned((graph.num_src_nodes, x2.shape[1]), x2.dtype)

    def forward_backward():
        gather_floor(graph, x2, out=out, n_threads=threads, distance=distance)
        return gather_floor(graph, g2, transpose=True, out=grad, n_threads=threads, distance=distance)
    return forward_backward
