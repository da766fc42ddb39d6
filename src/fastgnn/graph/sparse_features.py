"""Sparse node features: :class:`SparseFeatures`, an immutable CSR matrix of ``nodes x features``.

Bag-of-words features (the Planetoid citation graphs: Cora's are 1.3 %
non-zero) cost far less kept sparse: the first layer's product ``X W`` and
its weight gradient ``X^T G`` then run over the stored values only, and
dropout draws one mask value per stored value (Kipf and Welling's sparse
dropout) instead of one per cell.

The matrix is held as a bipartite :class:`~fastgnn.graph.Graph` whose row
``i`` lists the feature ids stored for node ``i``, weighted by their values:
``X @ B`` is then a weighted sum aggregation of the rows of ``B`` and
``X^T @ G`` its backward over the cached transpose, both on the compiled,
deterministic kernels (:mod:`fastgnn.ops.sparse`). Matrices that differ only
in their values (the dropout of each epoch) share one pattern and its cached
transpose.
"""
import numpy as np

from fastgnn._runtime import validate as V
from fastgnn.graph.handle import Graph

__all__ = ["SparseFeatures", "is_sparse_features"]

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def is_sparse_features(x):
    """Whether ``x`` is a :class:`SparseFeatures` matrix."""
    return isinstance(x, SparseFeatures)


class SparseFeatures:
    """An immutable CSR matrix of node features (``num_nodes x num_features``), float32 or float64.

    Build one with :meth:`from_scipy`, :meth:`from_dense` or
    :meth:`from_csr`. Layers that start with a product (``GCNConv``,
    ``SAGEConv`` and ``GraphConv`` with sum/mean aggregation, ``GINConv``,
    ``Linear``) accept it in place of a dense array; ``Dropout`` drops
    stored values.

    Attributes
    ----------
    shape : (int, int)
    dtype : numpy.dtype
    nnz : int
        Number of stored values (explicit zeros included).
    indptr, indices, data : ndarray
        The CSR arrays (read-only); row ``i``'s feature ids are
        ``indices[indptr[i]:indptr[i + 1]]`` with values ``data[...]``.
    graph : Graph
        The pattern as a bipartite graph (``num_dst_nodes`` = rows,
        ``num_src_nodes`` = features) weighted by ``data``.

    Notes
    -----
    Memory ``O(N + nnz)``. Products with a dense ``(num_features, d)``
    matrix cost ``O(nnz · d)``.
    """

    __slots__ = ("_graph", "_shape")
    ndim = 2

    def __init__(self, graph, *, _validated=False):
        if not _validated:
            raise TypeError("build SparseFeatures with SparseFeatures.from_scipy, from_dense or from_csr")
        self._graph = graph
        self._shape = (graph.num_dst_nodes, graph.num_src_nodes)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_csr(cls, indptr, indices, data, shape, *, dtype=None, index_dtype=None):
        """From CSR arrays (row ``i``: ``indices[indptr[i]:indptr[i+1]]``, values ``data``).

        Parameters
        ----------
        indptr, indices : array_like of int
        data : array_like of float, shape (nnz,)
        shape : (int, int)
            ``(num_nodes, num_features)``.
        dtype : float32 or float64, optional
            Default: float64 data stays float64, anything else becomes float32.
        index_dtype : {None, 'int32', 'int64'}
            Of the stored index arrays; None picks the narrowest that fits.
        """
        rows, columns = _check_shape(shape)
        indptr = V.as_index_vector(indptr, "indptr")
        if indptr.shape[0] != rows + 1:
            raise ValueError(f"indptr must have {rows + 1} entries for {rows} rows, got {indptr.shape[0]}")
        values = V.as_array(data, "data")
        if values.dtype.kind not in "fiub":
            raise TypeError(f"data must hold real numbers, got dtype {values.dtype}")
        if values.ndim != 1:
            raise ValueError(f"data must be 1-D, got shape {values.shape}")
        dtype = _resolve_dtype(dtype, values.dtype)
        if not np.all(np.isfinite(values)):
            raise ValueError("data must be finite (no NaN or infinity)")
        pattern = Graph.from_csr(indptr, indices, num_src_nodes=columns, index_dtype=index_dtype)
        if values.shape[0] != pattern.num_edges:
            raise ValueError(f"data has {values.shape[0]} values but indices has {pattern.num_edges}")
        return cls._from_pattern(pattern, np.array(values, dtype=dtype, copy=True))

    @classmethod
    def from_scipy(cls, matrix, *, dtype=None):
        """From any ``scipy.sparse`` matrix or array (duplicates summed, as scipy's ``tocsr`` does)."""
        import scipy.sparse as sp

        if not sp.issparse(matrix):
            raise TypeError(f"matrix must be a scipy.sparse matrix, got {type(matrix).__name__}")
        if matrix.ndim != 2:
            raise ValueError(f"matrix must be 2-D, got shape {matrix.shape}")
        pattern = Graph.from_scipy(matrix)     # checks the scipy internals, sums duplicates
        values = pattern.edge_weight
        if values is None:
            values = np.ones(pattern.num_edges, dtype=np.float32)
        dtype = _resolve_dtype(dtype, matrix.dtype)
        if not np.all(np.isfinite(values)):
            raise ValueError("matrix must hold finite values (no NaN or infinity)")
        return cls._from_pattern(pattern, np.array(values, dtype=dtype))

    @classmethod
    def from_dense(cls, array, *, dtype=None):
        """The non-zero cells of a dense 2-D array."""
        array = V.as_array(array, "array")
        if array.ndim != 2:
            raise ValueError(f"array must be 2-D (nodes x features), got shape {array.shape}")
        if array.dtype.kind not in "fiub":
            raise TypeError(f"array must hold real numbers, got dtype {array.dtype}")
        if not np.all(np.isfinite(array)):
            raise ValueError("array must be finite (no NaN or infinity)")
        rows, columns = np.nonzero(array)
        indptr = np.zeros(array.shape[0] + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=array.shape[0]), out=indptr[1:])
        return cls.from_csr(indptr, columns, array[rows, columns], array.shape,
                            dtype=_resolve_dtype(dtype, array.dtype))

    @classmethod
    def vstack(cls, matrices):
        """The rows of several matrices of one width and dtype, one after the other.

        Parameters
        ----------
        matrices : sequence of SparseFeatures
            At least one.
        """
        matrices = list(matrices)
        if not matrices or not all(isinstance(m, SparseFeatures) for m in matrices):
            raise TypeError("vstack takes a non-empty sequence of SparseFeatures")
        first = matrices[0]
        for index, matrix in enumerate(matrices):
            if matrix.shape[1] != first.shape[1] or matrix.dtype != first.dtype:
                raise ValueError(f"matrix {index} is {matrix.shape[1]} features of {matrix.dtype} but matrix 0 is "
                                 f"{first.shape[1]} of {first.dtype}: vstack needs one width and dtype")
        counts = np.concatenate([np.diff(np.asarray(m.indptr, dtype=np.int64)) for m in matrices])
        indptr = np.zeros(counts.shape[0] + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        indices = np.concatenate([np.asarray(m.indices, dtype=np.int64) for m in matrices])
        data = np.concatenate([m.data for m in matrices])
        return cls.from_csr(indptr, indices, data, (counts.shape[0], first.shape[1]), dtype=first.dtype)

    @classmethod
    def _from_pattern(cls, pattern, values):
        return cls(pattern._reweighted(values), _validated=True)

    # ------------------------------------------------------------------ attributes
    @property
    def shape(self):
        return self._shape

    @property
    def dtype(self):
        return self._graph.edge_weight.dtype

    @property
    def nnz(self):
        return self._graph.num_edges

    @property
    def indptr(self):
        return self._graph.indptr

    @property
    def indices(self):
        return self._graph.indices

    @property
    def data(self):
        return self._graph.edge_weight

    @property
    def graph(self):
        return self._graph

    @property
    def density(self):
        """Stored values over cells (0 for an empty shape)."""
        cells = self._shape[0] * self._shape[1]
        return self.nnz / cells if cells else 0.0

    def __len__(self):
        return self._shape[0]

    def __array__(self, dtype=None, copy=None):
        raise TypeError("SparseFeatures is not turned into a dense array implicitly (it may not fit); "
                        "call .toarray() where a dense array is meant")

    def __repr__(self):
        return (f"SparseFeatures(shape={self._shape}, nnz={self.nnz}, dtype={self.dtype}, "
                f"density={self.density:.2%})")

    # ------------------------------------------------------------------ conversions
    def to_scipy(self):
        """A ``scipy.sparse.csr_matrix`` copy."""
        import scipy.sparse as sp

        return sp.csr_matrix((np.array(self.data), np.array(self.indices), np.array(self.indptr)),
                             shape=self._shape)

    def toarray(self):
        """The dense ``(num_nodes, num_features)`` array (duplicates summed)."""
        out = np.zeros(self._shape, dtype=self.dtype)
        rows = self._graph.destinations()
        np.add.at(out, (rows, self.indices), self.data)
        return out

    def astype(self, dtype):
        """The same matrix in ``dtype`` (float32 or float64); self when it already is."""
        dtype = _resolve_dtype(dtype, self.dtype)
        if dtype == self.dtype:
            return self
        return self.with_data(self.data.astype(dtype))

    def with_data(self, data):
        """The same pattern with other values (shares the cached transpose).

        Parameters
        ----------
        data : ndarray of float32 or float64, shape (nnz,)
            Copied into read-only memory; not checked for finiteness (the
            constructors check their input; values computed from them, as
            dropout's, stay finite).
        """
        values = np.asarray(data)
        if values.dtype not in _FLOATS:
            raise TypeError(f"data must be float32 or float64, got dtype {values.dtype}")
        if values.shape != (self.nnz,):
            raise ValueError(f"data must have shape ({self.nnz},), got {values.shape}")
        # Build the transpose (the weight gradient's pattern) once, on this matrix, so that every
        # reweighted copy (a dropout per epoch) shares it instead of building its own.
        self._graph.transpose_csr()
        return SparseFeatures(self._graph._reweighted(np.ascontiguousarray(values)), _validated=True)

    def row_normalize(self):
        """Each row divided by its sum (rows summing to 0 stay 0), as :func:`fastgnn.datasets.planetoid.row_normalize`."""
        sums = np.add.reduceat(self.data.astype(np.float64), np.asarray(self.indptr[:-1]), dtype=np.float64) \
            if self.nnz else np.zeros(self._shape[0])
        sums[np.diff(self.indptr) == 0] = 0
        scale = np.zeros_like(sums)
        nonzero = sums != 0
        scale[nonzero] = 1.0 / sums[nonzero]
        return self.with_data((self.data * scale[self._graph.destinations()]).astype(self.dtype))

    def take_rows(self, rows):
        """The matrix of the given rows, in that order (an int array or a boolean mask of rows)."""
        rows = V.as_array(rows, "rows")
        if rows.dtype == bool:
            if rows.shape != (self._shape[0],):
                raise ValueError(f"a boolean row mask must have shape ({self._shape[0]},), got {rows.shape}")
            rows = np.flatnonzero(rows)
        if rows.dtype.kind not in "iu" or rows.ndim != 1:
            raise TypeError("rows must be a 1-D integer array or a boolean mask")
        if rows.size and (rows.min() < -self._shape[0] or rows.max() >= self._shape[0]):
            raise IndexError(f"row ids must be in [0, {self._shape[0]}), got one out of range")
        rows = np.where(rows < 0, rows + self._shape[0], rows).astype(np.int64)
        indptr = np.asarray(self.indptr, dtype=np.int64)
        starts, counts = indptr[rows], indptr[rows + 1] - indptr[rows]
        new_indptr = np.zeros(rows.shape[0] + 1, dtype=np.int64)
        np.cumsum(counts, out=new_indptr[1:])
        positions = np.repeat(starts - new_indptr[:-1], counts) + np.arange(new_indptr[-1])
        return SparseFeatures.from_csr(new_indptr, self.indices[positions], self.data[positions],
                                       (rows.shape[0], self._shape[1]), dtype=self.dtype)

    def __getitem__(self, rows):
        if isinstance(rows, tuple):
            raise TypeError("SparseFeatures supports row selection only: x[rows]")
        if isinstance(rows, slice):
            rows = np.arange(self._shape[0])[rows]
        return self.take_rows(rows)

    def __eq__(self, other):
        if not isinstance(other, SparseFeatures):
            return NotImplemented
        return (self._shape == other._shape and self.dtype == other.dtype
                and np.array_equal(self.indptr, other.indptr) and np.array_equal(self.indices, other.indices)
                and np.array_equal(self.data, other.data))

    __hash__ = None


def _check_shape(shape):
    try:
        rows, columns = shape
    except (TypeError, ValueError):
        raise ValueError(f"shape must be a pair (num_nodes, num_features), got {shape!r}") from None
    return V.check_size(rows, "shape[0]"), V.check_size(columns, "shape[1]")


def _resolve_dtype(dtype, source_dtype):
    if dtype is None:
        return np.dtype(np.float64) if np.dtype(source_dtype) == np.float64 else np.dtype(np.float32)
    dtype = np.dtype(dtype)
    if dtype not in _FLOATS:
        raise TypeError(f"dtype must be float32 or float64, got {dtype}")
    return dtype
