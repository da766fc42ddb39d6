"""Adapters that let other code run on fastgnn's kernels, without copies.

* :mod:`fastgnn.interop.torch`: ``torch.library`` custom ops (``torch.ops.fastgnn.*``,
  differentiable to any order, opaque to ``torch.compile``) for
  :func:`~fastgnn.aggregate`, :func:`~fastgnn.segment_reduce` and
  :func:`~fastgnn.edge_dot`; ``spmm`` with the signature of
  ``torch_geometric.utils.spmm``; ``use_with_pyg()``, which routes PyTorch
  Geometric's own layers through fastgnn; a PyG-compatible ``Aggregation``.
* :mod:`fastgnn.interop.scipy`: ``as_linear_operator`` (a
  ``scipy.sparse.linalg.LinearOperator`` for ``eigsh``, ``cg``, ...).

Nothing here is imported by ``import fastgnn``: PyTorch is imported only
when :mod:`fastgnn.interop.torch` is, and is never required by the core.
Both submodules are also reachable as attributes (``fastgnn.interop.torch``
after ``import fastgnn.interop``), loaded on first access.
"""
import importlib

__all__ = ["torch", "scipy"]


def __getattr__(name):
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
