"""Ready-made models: stacks of graph convolutions for node classification.

- :class:`GCN`: Kipf and Welling's graph convolutional network;
- :class:`GraphSAGE`: stacked ``SAGEConv`` layers;
- :class:`GIN`: stacked ``GINConv`` layers around MLPs;
- :class:`GraphConvNet`: stacked ``GraphConv`` layers (sum, mean, max or min);
- :class:`GAT`, :class:`GATv2`: stacked multi-head attention layers (the GAT paper's architecture);
- :class:`GNNStack`: the general stack behind them, any conv, any widths;
- :class:`ChunkedGCN`: a two-layer GCN computed in row chunks with the hidden layer recomputed, for
  full-batch training of graphs whose ``N x hidden`` activations do not fit in memory.

Training lives in :mod:`fastgnn.train`.
"""
from fastgnn.models.basic_gnn import GAT, GCN, GIN, GNNStack, GATv2, GraphConvNet, GraphSAGE
from fastgnn.models.chunked_gcn import ChunkedGCN
from fastgnn.models.encoder_classifier import EncoderClassifier
from fastgnn.nn.conv.registry import conv_names, get_conv

__all__ = ["GNNStack", "GCN", "GraphSAGE", "GIN", "GraphConvNet", "GAT", "GATv2", "EncoderClassifier", "ChunkedGCN",
           "build_model"]

# The named model of each built-in convolution (other registered convs build a plain GNNStack).
_NAMED_MODELS = {"gcn": GCN, "sage": GraphSAGE, "gin": GIN, "graphconv": GraphConvNet, "gat": GAT, "gatv2": GATv2}


def build_model(name, in_channels, out_channels, **kwargs):
    """A node-classification model from the name of a registered convolution.

    Parameters
    ----------
    name : str
        ``'gcn'``, ``'sage'``, ``'gin'``, ``'graphconv'``, ``'gat'``,
        ``'gatv2'`` (their named models: :class:`GCN`, ...), or any name registered with
        :func:`fastgnn.nn.conv.register_conv` (a :class:`GNNStack` of it).
    in_channels, out_channels : int
    **kwargs
        Passed to the model's class (``hidden_channels``, ``aggr``,
        ``dropout``, ``conv_kwargs``, ...).
    """
    if name not in conv_names():
        raise ValueError(f"model must be one of {', '.join(repr(n) for n in conv_names())}, got {name!r}")
    model_class = _NAMED_MODELS.get(name)
    if model_class is not None:
        return model_class(in_channels, out_channels=out_channels, **kwargs)
    kwargs.setdefault("hidden_channels", get_conv(name).node_defaults.get("hidden", 64))
    return GNNStack(in_channels, out_channels=out_channels, conv=name, **kwargs)

# ---------------------------------------------------------------- graph autoencoders (link prediction)
from fastgnn.models.autoencoder import GAE, VGAE, AdjacencyLoss, NegativeSamplingLoss, link_logits  # noqa: E402

__all__ += ["GAE", "VGAE", "AdjacencyLoss", "NegativeSamplingLoss", "link_logits"]

# ---------------------------------------------------------------- graph classification (batches of graphs)
from fastgnn.models.graph_classification import (GINGraphClassifier, GNNGraphClassifier,  # noqa: E402
                                                  GraphClassifierFactory, build_graph_classifier,
                                                  graph_model_names)

__all__ += ["GINGraphClassifier", "GNNGraphClassifier", "GraphClassifierFactory", "build_graph_classifier",
            "graph_model_names"]
