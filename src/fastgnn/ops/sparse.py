"""Products of sparse node features with dense matrices: ``X @ B`` and ``X^T @ G``.

Both run on the aggregation kernels, with the features' pattern as a
bipartite graph (rows = nodes, sources = feature ids) weighted by the stored
values: ``X @ B`` is the weighted sum of the rows of ``B`` named by each
node's feature ids, and ``X^T @ G`` the backward of that sum over the
pattern's cached transpose. So both are compiled, parallel, and bitwise
identical for any number of threads, and neither densifies ``X``.
"""
import numpy as np

from fastgnn.graph.sparse_features import SparseFeatures
from fastgnn.ops.aggregation import aggregate, aggregate_backward

__all__ = ["sparse_matmul", "sparse_matmul_tn"]


def _check(features, dense, rows, name):
    if not isinstance(features, SparseFeatures):
        raise TypeError(f"features must be a fastgnn.SparseFeatures, got {type(features).__name__}")
    array = np.asarray(dense)
    if array.ndim != 2 or array.shape[0] != rows:
        raise ValueError(f"{name} must have shape ({rows}, d), got {array.shape}")
    return np.ascontiguousarray(array, dtype=features.dtype)


def sparse_matmul(features, dense, *, out=None, n_threads=None):
    """``X @ B`` for sparse ``X`` (N, F) and dense ``B`` (F, d).

    Parameters
    ----------
    features : SparseFeatures, shape (N, F)
    dense : array_like, shape (F, d)
        Cast to the features' dtype.
    out : ndarray (N, d), optional
        Where to write the result (as :func:`fastgnn.aggregate`'s ``out``).
    n_threads : int, optional

    Returns
    -------
    ndarray (N, d), C-contiguous, 64-byte aligned

    Notes
    -----
    ``O(nnz · d)``; each output row sums its terms in stored order.
    """
    dense = _check(features, dense, features.shape[1], "dense")
    return aggregate(features.graph, dense, "sum", out=out, n_threads=n_threads)


def sparse_matmul_tn(features, dense, *, n_threads=None):
    """``X^T @ G`` for sparse ``X`` (N, F) and dense ``G`` (N, d): the weight gradient of ``X @ W``.

    Returns
    -------
    ndarray (F, d)

    Notes
    -----
    ``O(nnz · d)`` over the pattern's cached transpose (built once per
    pattern, shared by every :meth:`SparseFeatures.with_data` of it).
    """
    dense = _check(features, dense, features.shape[0], "dense")
    return aggregate_backward(features.graph, dense, "sum", n_threads=n_threads)
