"""Graph convolution layers, each called as ``layer(graph, x)``."""
from fastgnn.nn.conv.gcn_conv import GCNConv
from fastgnn.nn.conv.gin_conv import GINConv
from fastgnn.nn.conv.graph_conv import GraphConv
from fastgnn.nn.conv.sage_conv import SAGEConv

__all__ = ["GCNConv", "GINConv", "GraphConv", "SAGEConv"]
