"""Datasets: the Planetoid citation graphs (raw files, or Cora shipped in the package), synthetic graphs,
node-classification datasets in folders on disk (:class:`OnDiskDataset`, the OGB reader, the DC-SBM generator)
and edge-list text files (:func:`read_edge_list`, :func:`write_edge_list`).
"""
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
from fastgnn.datasets.on_disk import OnDiskDataset, save_dataset  # noqa: E402
from fastgnn.datasets.ogb import read_ogb_node_dataset  # noqa: E402
from fastgnn.datasets.dcsbm import dcsbm_graph, dcsbm_node_dataset  # noqa: E402

__all__ += ["OnDiskDataset", "save_dataset", "read_ogb_node_dataset", "dcsbm_node_dataset", "dcsbm_graph"]
from fastgnn.datasets.edge_list import read_edge_list, write_edge_list  # noqa: E402

__all__ += ["read_edge_list", "write_edge_list"]
