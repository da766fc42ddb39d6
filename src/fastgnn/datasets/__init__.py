"""Datasets: the Planetoid citation graphs (raw files, or Cora shipped in the package) and synthetic graphs."""
from fastgnn.datasets.embedded import load_cora
from fastgnn.datasets.planetoid import Planetoid
from fastgnn.datasets.synthetic import (SYNTHETIC_GRAPH_DATASETS, SyntheticGraphDataset, power_law_edge_index,
                                        synthetic_graph_dataset, tu_like_dataset, uniform_edge_index)

__all__ = [
    "Planetoid",
    "load_cora",
    "uniform_edge_index",
    "power_law_edge_index",
    "SyntheticGraphDataset",
    "tu_like_dataset",
    "synthetic_graph_dataset",
    "SYNTHETIC_GRAPH_DATASETS",
]
from fastgnn.datasets.tu import TUDataset, add_degree_features, one_hot, read_tu_table  # noqa: E402

__all__ += ["TUDataset", "add_degree_features", "one_hot", "read_tu_table"]
