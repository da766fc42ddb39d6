"""Graphs: the :class:`Graph` handle and structural transforms.

- :class:`Graph`: an immutable, validated, destination-major CSR with its
  cached transpose, degrees and normalizations (:mod:`fastgnn.graph.handle`);
- :func:`subgraph`, :func:`coalesce`, :func:`remove_self_loops`,
  :func:`to_undirected`: transforms of graphs and ``(2, E)`` edge lists
  (:mod:`fastgnn.graph.transforms`).
"""
from fastgnn.graph.handle import Graph
from fastgnn.graph.sparse_features import SparseFeatures, is_sparse_features
from fastgnn.graph.transforms import coalesce, remove_self_loops, subgraph, to_undirected

__all__ = ["Graph", "SparseFeatures", "is_sparse_features", "subgraph", "coalesce", "remove_self_loops", "to_undirected"]
