"""Neural-network modules with hand-written gradients.

A :class:`Module` computes ``forward`` and, from the gradient of its output,
``backward``: it returns the gradient of its input and accumulates the
gradients of its :class:`Parameter` s. Graph layers are called as
``layer(graph, x)``.
"""
from fastgnn.nn import init
from fastgnn.nn.activation import ELU, Identity, LeakyReLU, ReLU, Sigmoid, Tanh, get_activation
from fastgnn.nn.conv import GATConv, GATv2Conv, GCNConv, GINConv, GraphConv, SAGEConv
from fastgnn.nn.dropout import Dropout
from fastgnn.nn.linear import Linear
from fastgnn.nn.mlp import MLP
from fastgnn.nn.module import Module, Parameter, Sequential

__all__ = [
    "Parameter",
    "Module",
    "Sequential",
    "Linear",
    "Identity",
    "ReLU",
    "LeakyReLU",
    "ELU",
    "Tanh",
    "Sigmoid",
    "get_activation",
    "Dropout",
    "MLP",
    "GraphConv",
    "GCNConv",
    "SAGEConv",
    "GINConv",
    "GATConv",
    "GATv2Conv",
    "init",
]

# ---------------------------------------------------------------- readout and normalization
from fastgnn.nn.norm import BatchNorm  # noqa: E402
from fastgnn.nn.pool import (GlobalAddPool, GlobalMaxPool, GlobalMeanPool, GlobalMinPool,  # noqa: E402
                             GlobalPool, global_add_pool, global_max_pool, global_mean_pool,
                             global_min_pool, global_pool, global_pool_backward)

__all__ += ["BatchNorm", "GlobalPool", "GlobalAddPool", "GlobalMeanPool", "GlobalMaxPool", "GlobalMinPool",
            "global_pool", "global_pool_backward", "global_add_pool", "global_mean_pool", "global_max_pool",
            "global_min_pool"]

# ---------------------------------------------------------------- link scorers
from fastgnn.nn.link import DotProductScorer, MLPScorer  # noqa: E402

__all__ += ["DotProductScorer", "MLPScorer"]

# The layers' dense products (fastgnn's threads, deterministic sums), for models that compute their
# own layers, e.g. fastgnn.models.ChunkedGCN.
from fastgnn.nn._matmul import matmul, matmul_tn  # noqa: E402

__all__ += ["matmul", "matmul_tn"]
