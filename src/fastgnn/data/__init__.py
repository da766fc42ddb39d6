"""Data handling: graph samples and batches, loaders, splits.

- :class:`GraphData`: one graph sample (structure, node features, label, edge features);
- :class:`Batch`: the disjoint union of graphs (block-diagonal CSR, ``ptr``, ``batch``) and back;
- :class:`DataLoader`: seeded mini-batches of graphs;
- :func:`stratified_k_fold`: class-balanced cross-validation folds.
"""
from fastgnn.data.batch import Batch, GraphData
from fastgnn.data.kfold import stratified_k_fold
from fastgnn.data.loader import DataLoader

__all__ = ["GraphData", "Batch", "DataLoader", "stratified_k_fold"]

# ---------------------------------------------------------------- link prediction: edge splits, negative sampling
from fastgnn.data.sampling import NegativeSampler, negative_sampling  # noqa: E402
from fastgnn.data.split import LinkSplit, random_link_split  # noqa: E402

__all__ += ["LinkSplit", "random_link_split", "NegativeSampler", "negative_sampling"]

# ---------------------------------------------------------------- neighbour sampling for large graphs
from fastgnn.data.neighbor import MiniBatch, NeighborLoader, SampledSubgraph, sample_neighbors  # noqa: E402

__all__ += ["sample_neighbors", "SampledSubgraph", "NeighborLoader", "MiniBatch"]
from fastgnn.data.link_neighbor import LinkMiniBatch, LinkNeighborLoader  # noqa: E402

__all__ += ["LinkNeighborLoader", "LinkMiniBatch"]
