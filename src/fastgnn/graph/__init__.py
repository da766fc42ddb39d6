"""Graphs: the :class:`Graph` handle and structural transforms.

- :class:`Graph`: an immutable, validated, destination-major CSR with its
  cached transpose, degrees and normalizations (:mod:`fastgnn.graph.handle`);
- :func:`subgraph`, :func:`coalesce`, :func:`remove_self_loops`,
  :func:`to_undirected`: transforms of graphs and ``(2, E)`` edge lists
  (:mod:`fastgnn.graph.transforms`);
- :func:`reorder` (:meth:`Graph.reorder`), :func:`permute_graph`,
  :func:`permute_nodes`, :func:`restore_node_order`,
  :func:`inverse_permutation`: an opt-in node renumbering for memory
  locality and the helpers that carry node arrays along and back
  (:mod:`fastgnn.graph.reorder`; the package attribute ``reorder`` is the
  function, import the module with ``importlib`` if needed).
"""
from fastgnn.graph.handle import Graph
from fastgnn.graph.reorder import inverse_permutation, permute_nodes, restore_node_order
from fastgnn.graph.sparse_features import SparseFeatures, is_sparse_features
from fastgnn.graph.transforms import (coalesce, permute_graph, remove_self_loops, reorder, subgraph,
                                      to_undirected)

__all__ = ["Graph", "SparseFeatures", "is_sparse_features", "subgraph", "coalesce", "remove_self_loops",
           "to_undirected", "reorder", "permute_graph", "permute_nodes", "restore_node_order",
           "inverse_permutation"]
