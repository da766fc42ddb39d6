"""Datasets: the Planetoid citation graphs (raw files, or Cora shipped in the package) and synthetic graphs."""
from fastgnn.datasets.embedded import load_cora
from fastgnn.datasets.planetoid import Planetoid
from fastgnn.datasets.synthetic import power_law_edge_index, uniform_edge_index

__all__ = [
    "Planetoid",
    "load_cora",
    "uniform_edge_index",
    "power_law_edge_index",
]
from fastgnn.datasets.tu import TUDataset, add_degree_features, one_hot, read_tu_table  # noqa: E402

__all__ += ["TUDataset", "add_degree_features", "one_hot", "read_tu_table"]
