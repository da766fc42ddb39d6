"""Ready-made models: stacks of graph convolutions for node classification.

- :class:`GCN`: Kipf and Welling's graph convolutional network;
- :class:`GraphSAGE`: stacked ``SAGEConv`` layers;
- :class:`GIN`: stacked ``GINConv`` layers around MLPs;
- :class:`GraphConvNet`: stacked ``GraphConv`` layers (sum, mean, max or min);
- :class:`GNNStack`: the general stack behind them, any conv, any widths.

Training helpers live in :mod:`fastgnn.train`.
"""
from fastgnn.models.basic_gnn import CONVS, GCN, GIN, GNNStack, GraphConvNet, GraphSAGE

__all__ = ["GNNStack", "GCN", "GraphSAGE", "GIN", "GraphConvNet", "CONVS", "build_model"]


def build_model(name, in_channels, out_channels, **kwargs):
    """A model from its name: ``'gcn'``, ``'sage'``, ``'gin'`` or ``'graphconv'``.

    Parameters
    ----------
    name : str
    in_channels, out_channels : int
    **kwargs
        Passed to the model's class (``hidden_channels``, ``aggr``, ``dropout``, ...).
    """
    classes = {"gcn": GCN, "sage": GraphSAGE, "gin": GIN, "graphconv": GraphConvNet}
    if name not in classes:
        raise ValueError(f"model must be one of {', '.join(repr(n) for n in classes)}, got {name!r}")
    return classes[name](in_channels, out_channels=out_channels, **kwargs)

# ---------------------------------------------------------------- graph autoencoders (link prediction)
from fastgnn.models.autoencoder import (GAE, VGAE, AdjacencyLoss, NegativeSamplingLoss,  # noqa: E402
                                        evaluate_link, train_autoencoder)

__all__ += ["GAE", "VGAE", "AdjacencyLoss", "NegativeSamplingLoss", "train_autoencoder", "evaluate_link"]

# ---------------------------------------------------------------- graph classification (batches of graphs)
from fastgnn.models.graph_classification import (GINGraphClassifier, GNNGraphClassifier,  # noqa: E402
                                                  build_graph_classifier)
from fastgnn.models.graph_training import (CrossValidationResult, GraphTrainResult,  # noqa: E402
                                           cross_validate_graph_classifier, evaluate_graph_classifier,
                                           train_graph_classifier)

__all__ += ["GINGraphClassifier", "GNNGraphClassifier", "build_graph_classifier", "train_graph_classifier",
            "evaluate_graph_classifier", "cross_validate_graph_classifier", "GraphTrainResult",
            "CrossValidationResult"]
