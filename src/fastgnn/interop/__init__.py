"""Adapters that let other code run on fastgnn's kernels, without copies.

* :mod:`fastgnn.interop.torch`: ``torch.library`` custom ops (``torch.ops.fastgnn.*``,
  differentiable to any order, opaque to ``torch.compile``) for
  :func:`~fastgnn.aggregate`, :func:`~fastgnn.segment_reduce` and
  :func:`~fastgnn.edge_dot`; ``spmm`` with the signature of
  ``torch_geometric.utils.spmm``; ``use_with_pyg()``, which routes PyTorch
  Geometric's own layers through fastgnn; a PyG-compatible ``Aggregation``.
* :mod:`fastgnn.interop.scipy`: ``as_linear_operator`` (a
  ``scipy.sparse.linalg.LinearOperator`` for ``eigsh``, ``cg``, ...).
* :mod:`fastgnn.interop.networkx`, :mod:`fastgnn.interop.pyg`,
  :mod:`fastgnn.interop.dgl`: graphs with node features, labels and masks in
  and out of networkx, PyTorch Geometric's ``Data`` and DGL
  (``from_networkx``/``to_networkx``, ``from_pyg``/``to_pyg``,
  ``from_dgl``/``to_dgl``), as a :class:`~fastgnn.interop.node_data.NodeData`.

Nothing here is imported by ``import fastgnn``: PyTorch is imported only
when :mod:`fastgnn.interop.torch` is (or a PyG/DGL conversion runs), and is
never required by the core; networkx, PyG and DGL are imported by the
functions that need them.
Both submodules are also reachable as attributes (``fastgnn.interop.torch``
after ``import fastgnn.interop``), loaded on first access.
"""
import importlib

__all__ = ["torch", "scipy", "networkx", "pyg", "dgl", "node_data"]


def __getattr__(name):
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
