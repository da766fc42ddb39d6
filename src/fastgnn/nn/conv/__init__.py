"""Graph convolution layers, each called as ``layer(graph, x)``, and their registry.

Importing this package registers the built-in layers (``gcn``, ``sage``,
``gin``, ``graphconv``, ``gat``, ``gatv2``) in :mod:`fastgnn.nn.conv.registry`,
in that order.
"""
from fastgnn.nn.conv.registry import ConvSpec, build_conv, conv_names, get_conv, register_conv, unregister_conv
from fastgnn.nn.conv._propagate import OutputBias
from fastgnn.nn.conv.gcn_conv import GCNConv  # noqa: I001  (registration order: gcn, sage, gin, graphconv)
from fastgnn.nn.conv.sage_conv import SAGEConv
from fastgnn.nn.conv.gin_conv import GINConv
from fastgnn.nn.conv.graph_conv import GraphConv
from fastgnn.nn.conv.gat_conv import GATConv
from fastgnn.nn.conv.gatv2_conv import GATv2Conv

__all__ = ["GCNConv", "GINConv", "GraphConv", "SAGEConv", "GATConv", "GATv2Conv", "ConvSpec", "register_conv", "unregister_conv",
           "get_conv", "conv_names", "build_conv", "OutputBias"]
