"""GCN's normalized adjacency applied in row chunks, with no normalized copy of the graph.

:class:`GCNPropagation` computes ``Â X`` and ``Âᵀ X`` for
``Â = D^{-1/2} (A + I) D^{-1/2}`` (:meth:`fastgnn.Graph.gcn_norm`: ``D`` the
weighted in-degree of ``A + I``, a loop added only to the nodes lacking
one, degree-0 nodes weighted 0) while holding only ``O(N)`` per graph: the
scaling vector ``D^{-1/2}`` and the weights of the added loops. The edge
weights of one chunk of rows are made on the fly (``O(chunk edges)``), so
neither the normalized graph (``E`` weights, plus ``E + N`` indices with
the loops) nor a scaled copy of ``X`` ever exists. It serves
:class:`fastgnn.models.ChunkedGCN`.
"""
import contextlib

import numpy as np

from fastgnn._kernels.structure import csr_transpose
from fastgnn.graph import Graph
from fastgnn.ops import aggregate

__all__ = ["GCNPropagation", "is_symmetric", "row_chunks"]


def row_chunks(num_rows, chunk_size):
    """``[(start, stop), ...]`` covering ``range(num_rows)`` in order, ``chunk_size`` rows each (the last fewer)."""
    return [(start, min(start + chunk_size, num_rows)) for start in range(0, num_rows, chunk_size)]


def _row_ids(indptr, start, stop):
    """The local row (``0 .. stop - start``) of every edge of rows ``[start, stop)``."""
    counts = np.diff(np.asarray(indptr[start:stop + 1], dtype=np.int64))
    return np.repeat(np.arange(stop - start, dtype=np.int64), counts)


def _inverse_sqrt(degree):
    out = np.zeros(degree.shape[0], dtype=np.float64)
    positive = degree > 0
    out[positive] = 1.0 / np.sqrt(degree[positive])
    return out


def _out_degree(indices, num_nodes, piece=1 << 22):
    """``np.bincount(indices, minlength=num_nodes)`` by pieces (bincount copies int32 input to int64 whole)."""
    degree = np.zeros(num_nodes, dtype=np.int64)
    for start in range(0, indices.shape[0], piece):
        degree += np.bincount(indices[start:start + piece], minlength=num_nodes)
    return degree


def is_symmetric(graph, chunk_size=1 << 16):
    """Whether ``graph`` equals its reverse: ``j -> i`` with weight ``w`` for every ``i -> j`` with weight ``w``.

    Exact (duplicates count: the multisets of weighted edges agree). Builds
    the transposed CSR for the duration of the call (``E + N`` indices and
    ``E`` edge ids, released on return), then compares the rows chunk by
    chunk, each sorted. Cost ``O(E log d_max)``.
    """
    if not graph.is_square:
        return False
    indptr, indices, weight = graph.indptr, graph.indices, graph.edge_weight
    if not np.array_equal(_out_degree(indices, graph.num_nodes), np.diff(indptr)):
        return False        # some node's in-degree differs from its out-degree
    t_indptr, t_indices, edge_id = csr_transpose(indptr, indices, graph.num_src_nodes)
    for start, stop in row_chunks(graph.num_nodes, chunk_size):
        lo, hi = int(indptr[start]), int(indptr[stop])
        rows = _row_ids(indptr, start, stop)
        mine, theirs = np.asarray(indices[lo:hi]), np.asarray(t_indices[lo:hi])
        if weight is None:
            # the transposed rows list their sources in edge-id order, so they are sorted already
            if not np.array_equal(np.sort(rows * graph.num_nodes + mine), rows * graph.num_nodes + theirs):
                return False
            continue
        mine_w, theirs_w = np.asarray(weight[lo:hi]), np.asarray(weight)[edge_id[lo:hi]]
        order_mine, order_theirs = np.lexsort((mine_w, mine, rows)), np.lexsort((theirs_w, theirs, rows))
        if not (np.array_equal(mine[order_mine], theirs[order_theirs])
                and np.array_equal(mine_w[order_mine], theirs_w[order_theirs])):
            return False
    return True


class GCNPropagation:
    r"""``Â X`` and ``Âᵀ X`` in row chunks for ``Â = D^{-1/2} (A + I) D^{-1/2}`` of a square graph.

    Parameters
    ----------
    graph : Graph
        Square; its edge weights, when present, are the entries of ``A``.
    dtype : float32 or float64
        Of the edge weights made for each chunk (those of
        ``graph.gcn_norm(dtype=dtype)``).
    symmetric : bool or None
        Whether ``A = Aᵀ`` (then ``Âᵀ = Â``). None checks it once
        (:func:`is_symmetric`). Otherwise ``Âᵀ`` needs the transposed CSR
        (``E + N`` indices, plus ``E`` weights for a weighted graph).
    chunk_size : int
        Rows per chunk.
    cache_transpose : bool
        Keep the transposed CSR of a graph that is not symmetric from the
        first :meth:`holding_transpose` on. By default it exists only inside
        each ``holding_transpose`` block (rebuilt each time, ``O(E)``).

    Notes
    -----
    Row ``i`` of ``Â X`` is
    ``s_i Σ_{e=(j→i)} w_e s_j x_j + l_i x_i``, with ``s = D^{-1/2}`` and
    ``l_i = s_i²`` for a node lacking a loop (0 otherwise; an existing loop
    is one of the edges). The weights ``s_i w_e s_j`` are computed in
    float64 and rounded to ``dtype``, as :meth:`~fastgnn.Graph.gcn_norm`
    does. Setup: ``O(E)`` time (degrees and loops), ``O(N)`` memory kept.
    """

    def __init__(self, graph, dtype, symmetric=None, chunk_size=1 << 16, cache_transpose=False):
        if not isinstance(graph, Graph):
            raise TypeError(f"graph must be a fastgnn.Graph, got {type(graph).__name__}")
        if not graph.is_square:
            raise ValueError(f"the GCN normalization of a full graph needs a square graph, got "
                             f"{graph.num_src_nodes} source and {graph.num_dst_nodes} destination nodes")
        self.graph = graph
        self.dtype = np.dtype(dtype)
        self.chunk_size = int(chunk_size)
        n = graph.num_nodes
        indptr, indices, weight = graph.indptr, graph.indices, graph.edge_weight
        degree = np.empty(n, dtype=np.float64)
        missing = np.ones(n, dtype=bool)
        for start, stop in row_chunks(n, self.chunk_size):
            lo, hi = int(indptr[start]), int(indptr[stop])
            rows = _row_ids(indptr, start, stop)
            local = np.asarray(indices[lo:hi])
            missing[start + rows[local == rows + start]] = False
            if weight is None:
                degree[start:stop] = np.diff(np.asarray(indptr[start:stop + 1], dtype=np.int64))
            else:
                degree[start:stop] = np.bincount(rows, weights=np.asarray(weight[lo:hi], dtype=np.float64),
                                                 minlength=stop - start)
        degree += missing           # the added loops, weight 1, last in their rows (as add_self_loops)
        self.scale = _inverse_sqrt(degree)
        loop = np.zeros(n, dtype=np.float64)
        loop[missing] = self.scale[missing] * 1.0 * self.scale[missing]
        self.loop_weight = loop.astype(self.dtype)
        self.symmetric = is_symmetric(graph, self.chunk_size) if symmetric is None else bool(symmetric)
        self.cache_transpose = bool(cache_transpose)
        self._transposed = None

    @property
    def num_nodes(self):
        return self.graph.num_nodes

    def nbytes(self):
        """Bytes this object holds beyond the graph (the scaling vectors, and the transpose while it exists)."""
        total = self.scale.nbytes + self.loop_weight.nbytes
        if self._transposed is not None:
            total += sum(part.nbytes for part in self._transposed if part is not None)
        return total

    @contextlib.contextmanager
    def holding_transpose(self):
        """A block inside which ``transpose=True`` works: the transposed CSR is built on entry (unless
        symmetric or cached) and released on exit (unless ``cache_transpose``)."""
        if self.symmetric or self._transposed is not None:
            yield self
            return
        graph = self.graph
        t_indptr, t_indices, edge_id = csr_transpose(graph.indptr, graph.indices, graph.num_nodes)
        t_weight = None if graph.edge_weight is None else np.asarray(graph.edge_weight)[edge_id]
        del edge_id
        self._transposed = (t_indptr, t_indices, t_weight)
        try:
            yield self
        finally:
            if not self.cache_transpose:
                self._transposed = None

    def _csr(self, transpose):
        if transpose and not self.symmetric:
            if self._transposed is None:
                raise RuntimeError("GCNPropagation: transpose=True on a graph that is not symmetric needs a "
                                   "holding_transpose() block")
            return self._transposed
        return self.graph.indptr, self.graph.indices, self.graph.edge_weight

    def rows(self, x, start, stop, *, transpose=False, out=None, n_threads=None):
        """Rows ``[start, stop)`` of ``Â x`` (or ``Âᵀ x``): an array ``(stop - start, d)`` of ``x``'s dtype.

        ``x`` is a C-contiguous ``(num_nodes, d)`` array of this object's
        dtype; only the rows the chunk's edges name are read.
        """
        indptr, indices, weight = self._csr(transpose)
        lo, hi = int(indptr[start]), int(indptr[stop])
        sources = np.asarray(indices[lo:hi])
        rows = _row_ids(indptr, start, stop)
        # s_i * w_e * s_j in float64, in gcn_norm's order, rounded once
        norm = self.scale[start:stop][rows]
        if weight is not None:
            norm *= np.asarray(weight[lo:hi], dtype=np.float64)
        norm *= self.scale[sources]
        chunk_indptr = np.asarray(indptr[start:stop + 1]) - indptr[start]
        chunk = Graph(chunk_indptr, sources, self.num_nodes, norm.astype(self.dtype), _validated=True)
        if out is None:
            out = np.empty((stop - start, x.shape[1]), dtype=x.dtype)
        aggregate(chunk, x, "sum", out=out, n_threads=n_threads)
        loops = self.loop_weight[start:stop]
        out += loops[:, None] * x[start:stop]
        return out

    def apply(self, x, out=None, *, transpose=False, n_threads=None):
        """``Â x`` (or ``Âᵀ x``) for all rows, chunk after chunk, into ``out`` (a new array by default)."""
        if out is None:
            out = np.empty((self.num_nodes, x.shape[1]), dtype=x.dtype)
        for start, stop in row_chunks(self.num_nodes, self.chunk_size):
            self.rows(x, start, stop, transpose=transpose, out=out[start:stop], n_threads=n_threads)
        return out
