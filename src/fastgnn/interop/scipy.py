"""SciPy on fastgnn's kernels: a graph as a ``scipy.sparse.linalg.LinearOperator``.

``as_linear_operator(graph)`` is ``A`` (or ``D^{-1} A`` with ``reduce="mean"``)
for any SciPy routine that only needs products: ``eigsh``/``eigs``/``svds``,
``cg``/``gmres``/``lsqr``, ``expm_multiply``. ``A @ X`` runs
:func:`fastgnn.aggregate` and ``A.T @ X`` runs :func:`fastgnn.aggregate_backward`
over the graph's cached transpose, both parallel and deterministic, without
converting the graph to a scipy matrix.
"""
import numpy as np
import scipy.sparse
from scipy.sparse.linalg import LinearOperator

from fastgnn._runtime import validate as V
from fastgnn import ops
from fastgnn.graph import Graph

__all__ = ["GraphOperator", "as_linear_operator"]


class GraphOperator(LinearOperator):
    """The aggregation ``X -> aggregate(graph, X, reduce)`` as a LinearOperator.

    Shape ``(num_dst_nodes, num_src_nodes)``. ``matvec``/``matmat`` call
    :func:`fastgnn.aggregate`, ``rmatvec``/``rmatmat`` (and ``.T``, ``.H``)
    call :func:`fastgnn.aggregate_backward`. Build it with
    :func:`as_linear_operator`.

    Attributes
    ----------
    graph : fastgnn.Graph
        The graph, carrying the operator's edge weights.
    reduce : {'sum', 'mean'}
    n_threads : int or None
    """

    def __init__(self, graph, reduce, dtype, n_threads=None):
        self.graph = graph
        self.reduce = reduce
        self.n_threads = n_threads
        super().__init__(dtype=np.dtype(dtype), shape=(graph.num_dst_nodes, graph.num_src_nodes))

    # Inputs of another real dtype are cast (a copy); complex inputs are applied to
    # their real and imaginary parts, so the operator stays usable in complex solvers.
    def _apply(self, values, transpose):
        values = np.asarray(values)
        if np.iscomplexobj(values):
            return self._apply(values.real, transpose) + 1j * self._apply(values.imag, transpose)
        values = np.ascontiguousarray(values, dtype=self.dtype)
        if transpose:
            return ops.aggregate_backward(self.graph, values, self.reduce, n_threads=self.n_threads)
        return ops.aggregate(self.graph, values, self.reduce, n_threads=self.n_threads)

    def _matvec(self, x):
        return self._apply(np.asarray(x).reshape(-1), False)

    def _matmat(self, X):
        return self._apply(X, False)

    def _rmatvec(self, x):
        return self._apply(np.asarray(x).reshape(-1), True)

    def _rmatmat(self, X):
        return self._apply(X, True)

    def _adjoint(self):
        return _TransposedGraphOperator(self)

    _transpose = _adjoint

    def __repr__(self):
        return (f"<{self.shape[0]}x{self.shape[1]} GraphOperator(reduce={self.reduce!r}) "
                f"with dtype={self.dtype}>")


class _TransposedGraphOperator(LinearOperator):
    """``A^T`` of a :class:`GraphOperator` (real, so also its adjoint)."""

    def __init__(self, base):
        self.base = base
        super().__init__(dtype=base.dtype, shape=(base.shape[1], base.shape[0]))

    def _matvec(self, x):
        return self.base._rmatvec(x)

    def _matmat(self, X):
        return self.base._rmatmat(X)

    def _rmatvec(self, x):
        return self.base._matvec(x)

    def _rmatmat(self, X):
        return self.base._matmat(X)

    def _adjoint(self):
        return self.base

    _transpose = _adjoint


def as_linear_operator(graph, reduce="sum", edge_weight=None, dtype=np.float64, *, n_threads=None):
    """A graph's adjacency as a ``scipy.sparse.linalg.LinearOperator`` on fastgnn's kernels.

    Parameters
    ----------
    graph : fastgnn.Graph or scipy sparse matrix
        ``A[i, j]`` is the weight of ``j -> i`` (a scipy matrix is converted
        once with :meth:`fastgnn.Graph.from_scipy`).
    reduce : {'sum', 'add', 'mean'}
        ``sum``: the operator is ``A``. ``mean``: ``D^{-1} A`` with ``D`` the
        number of edges of each row (fastgnn's ``mean``; rows without edges
        give 0). max/min are not linear and are refused.
    edge_weight : array_like, shape (num_edges,), optional
        Weights of the operator, in edge-id order (default: the graph's own
        weights, else 1).
    dtype : float32 or float64
        Dtype of the products; inputs of another real dtype are cast to it.
    n_threads : int, optional
        Threads of each product (default: :func:`fastgnn.get_num_threads`).

    Returns
    -------
    GraphOperator
        ``op @ X`` is ``aggregate(graph, X, reduce)`` and ``op.T @ Y`` (also
        ``op.rmatmat``, ``op.H``) is ``aggregate_backward(graph, Y, reduce)``,
        i.e. ``A^T Y``.

    Notes
    -----
    Each product costs ``O((E + N) k)`` for ``k`` columns and is bitwise
    reproducible for any thread count. For ``eigsh`` use float64 and a
    symmetric operator, e.g. the GCN normalization::

        op = as_linear_operator(graph.gcn_norm(dtype=np.float64))
        values, vectors = scipy.sparse.linalg.eigsh(op, k=8)
    """
    if isinstance(graph, Graph):
        pass
    elif scipy.sparse.issparse(graph):
        graph = Graph.from_scipy(graph)
    else:
        raise TypeError(f"graph must be a fastgnn.Graph or a scipy sparse matrix, got {type(graph).__name__}")
    reduce = V.check_reduce(reduce)
    if reduce not in ("sum", "mean"):
        raise ValueError(f"reduce must be 'sum' or 'mean' for a linear operator, got {reduce!r}")
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from None
    if dtype not in V.FLOAT_DTYPES:
        raise TypeError(f"dtype must be float32 or float64, got {dtype}")
    if n_threads is not None:
        from fastgnn._runtime.threads import check_num_threads
        check_num_threads(n_threads)
    if edge_weight is not None:
        weight = V.as_edge_values(edge_weight, "edge_weight", graph.num_edges, dtype)
        if not np.all(np.isfinite(weight)):
            raise ValueError("edge_weight must be finite")
        graph = graph.with_edge_weight(weight)
    return GraphOperator(graph, reduce, dtype, n_threads)
