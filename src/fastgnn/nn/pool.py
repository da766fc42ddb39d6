r"""Graph readout: pool each graph's node rows of a batch into one row.

For a batch whose graph ``g`` owns the node rows ``ptr[g]:ptr[g + 1]``
(:attr:`fastgnn.data.Batch.ptr`):

.. math::

    \mathrm{out}[g] = \mathrm{REDUCE}_{v = ptr[g]}^{ptr[g+1] - 1} x[v]

with REDUCE one of sum (``add``), mean, max, min; an empty graph gives a
zero row. The functions are :func:`fastgnn.segment_reduce` under PyG's names
(``global_add_pool`` and friends take ``ptr`` here, not PyG's per-node
``batch`` vector); the modules cache what their backward needs: ``ptr``, and
for max/min the winning row of each output element.
"""
from fastgnn._runtime import validate as V
from fastgnn.nn.utils import as_grad
from fastgnn.nn.module import Module
from fastgnn.ops import segment_reduce, segment_reduce_backward

__all__ = [
    "global_pool",
    "global_pool_backward",
    "global_add_pool",
    "global_mean_pool",
    "global_max_pool",
    "global_min_pool",
    "GlobalPool",
    "GlobalAddPool",
    "GlobalMeanPool",
    "GlobalMaxPool",
    "GlobalMinPool",
]


def global_pool(x, ptr, reduce="sum", *, return_arg=False, n_threads=None):
    """Pool the rows ``x[ptr[g]:ptr[g + 1]]`` of every graph ``g`` with ``reduce``.

    Parameters
    ----------
    x : array_like of float32 or float64, shape (num_nodes, d)
    ptr : array_like of int, shape (num_graphs + 1,)
        Starts at 0, never decreases, ends at ``num_nodes``.
    reduce : {'sum', 'add', 'mean', 'max', 'min'}
    return_arg : bool
        Also return what the backward needs beyond ``ptr``: for max/min the
        winning row of each output element (-1 for an empty graph; the
        first row wins ties), None for sum and mean.
    n_threads : int, optional

    Returns
    -------
    out : ndarray of shape (num_graphs, d)
    arg : ndarray of shape (num_graphs, d) or None, only with ``return_arg``

    Notes
    -----
    Cost ``O(num_nodes · d)``; deterministic for any number of threads.
    """
    return segment_reduce(x, ptr, reduce, return_arg=return_arg, n_threads=n_threads)


def global_pool_backward(grad_out, ptr, reduce="sum", *, arg=None, n_threads=None):
    """Gradient of :func:`global_pool` with respect to ``x``.

    ``sum``: every row of graph ``g`` gets ``G[g]``; ``mean``: ``G[g] / n_g``;
    ``max``/``min``: only the winning row of each element (``arg``) gets it.

    Parameters
    ----------
    grad_out : array_like, shape (num_graphs, d)
    ptr : array_like of int, shape (num_graphs + 1,)
    reduce : {'sum', 'add', 'mean', 'max', 'min'}
    arg : array_like of int, shape (num_graphs, d)
        The ``arg`` of the max/min forward; required for max/min.

    Returns
    -------
    grad_x : ndarray of shape (num_nodes, d)
    """
    return segment_reduce_backward(grad_out, ptr, reduce, arg=arg, n_threads=n_threads)


def global_add_pool(x, ptr, *, n_threads=None):
    """The sum of each graph's node rows (PyG's ``global_add_pool``, over ``ptr``)."""
    return global_pool(x, ptr, "sum", n_threads=n_threads)


def global_mean_pool(x, ptr, *, n_threads=None):
    """The mean of each graph's node rows; an empty graph gives a zero row."""
    return global_pool(x, ptr, "mean", n_threads=n_threads)


def global_max_pool(x, ptr, *, return_arg=False, n_threads=None):
    """The element-wise maximum of each graph's node rows (and, with ``return_arg``, the winning rows)."""
    return global_pool(x, ptr, "max", return_arg=return_arg, n_threads=n_threads)


def global_min_pool(x, ptr, *, return_arg=False, n_threads=None):
    """The element-wise minimum of each graph's node rows (and, with ``return_arg``, the winning rows)."""
    return global_pool(x, ptr, "min", return_arg=return_arg, n_threads=n_threads)


class GlobalPool(Module):
    """Readout module: ``pool(x, ptr)`` pools each graph's node rows into one row.

    Parameters
    ----------
    reduce : {'sum', 'add', 'mean', 'max', 'min'}

    Notes
    -----
    Called as ``pool(x, ptr)`` with ``ptr`` the graphs' node ranges
    (:attr:`fastgnn.data.Batch.ptr`). In training mode the forward keeps
    ``ptr`` (and for max/min the ``(num_graphs, d)`` winning rows);
    ``backward(grad_out)`` returns ``dL/dx``. No parameters.
    """

    def __init__(self, reduce="sum"):
        super().__init__()
        self.reduce = V.check_reduce(reduce)

    def forward(self, x, ptr):
        """Pool ``x`` (num_nodes, d) over ``ptr`` (num_graphs + 1,); returns (num_graphs, d)."""
        if self.reduce in ("max", "min"):
            out, arg = global_pool(x, ptr, self.reduce, return_arg=True)
        else:
            out, arg = global_pool(x, ptr, self.reduce), None
        self._save_for_backward(ptr, arg, out.shape)
        return out

    def backward(self, grad_out):
        """``dL/dx`` of shape (num_nodes, d)."""
        ptr, arg, shape = self._saved_for_backward()
        grad_out = as_grad(grad_out, shape, type(self).__name__)
        return global_pool_backward(grad_out, ptr, self.reduce, arg=arg)

    def extra_repr(self):
        return f"reduce={self.reduce!r}"


class GlobalAddPool(GlobalPool):
    """Sum readout (``GlobalPool('sum')``)."""

    def __init__(self):
        super().__init__("sum")


class GlobalMeanPool(GlobalPool):
    """Mean readout (``GlobalPool('mean')``)."""

    def __init__(self):
        super().__init__("mean")


class GlobalMaxPool(GlobalPool):
    """Max readout (``GlobalPool('max')``)."""

    def __init__(self):
        super().__init__("max")


class GlobalMinPool(GlobalPool):
    """Min readout (``GlobalPool('min')``)."""

    def __init__(self):
        super().__init__("min")
