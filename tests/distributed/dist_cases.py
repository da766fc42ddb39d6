"""The graphs and models the distributed tests train, shared by the pytest side and the MPI job."""
import numpy as np

from fastgnn.graph import Graph
from fastgnn.models import GCN, GraphSAGE  # noqa: F401 - GCN used by the tests too
from fastgnn.optim import Adam

MODELS = ("gcn", "sage")
EPOCHS = 12
#: The options of the mini-batch runs the MPI job and the single-process reference share.
MINIBATCH = {"fanouts": [5, 4], "batch_size": 50, "epochs": 3, "early_stopping": None, "seed": 2}


def cora():
    from fastgnn.datasets import load_cora

    data = load_cora(normalize_features=True)
    return data.graph, np.asarray(data.x, dtype=np.float64), data.y, {
        "train": data.train_mask, "valid": data.val_mask, "test": data.test_mask}


def synthetic(num_nodes=300, num_edges=2400, num_features=12, num_classes=4, seed=3):
    """A random directed graph with duplicates, self-loops, isolated nodes and edge weights."""
    rng = np.random.default_rng(seed)
    src = rng.integers(0, num_nodes - 10, num_edges)       # the last 10 nodes send nothing
    dst = rng.integers(0, num_nodes - 5, num_edges)        # the last 5 receive nothing
    src[:20] = dst[:20]                                    # some self-loops
    src[20:30], dst[20:30] = src[30:40], dst[30:40]        # some duplicates
    weight = rng.uniform(0.5, 2.0, num_edges)
    graph = Graph.from_edge_index(np.stack([src, dst]), num_nodes=num_nodes, edge_weight=weight)
    y = rng.integers(0, num_classes, num_nodes)
    x = rng.standard_normal((num_nodes, num_features)) + y[:, None] * 0.3
    order = rng.permutation(num_nodes)
    masks = {name: np.zeros(num_nodes, dtype=bool) for name in ("train", "valid", "test")}
    masks["train"][order[:120]] = True
    masks["valid"][order[120:200]] = True
    masks["test"][order[200:]] = True
    return graph, x, y, masks


def assignment(num_nodes, num_parts, seed=1):
    """A random node -> part map (random parts cut many edges: a hard case for the exchange)."""
    return np.random.default_rng(seed).integers(0, num_parts, num_nodes)


def model(kind, in_channels, num_classes, dtype, seed=0, dropout=0.0):
    """The model and optimizer of a test run (dropout 0 by default)."""
    if kind == "gcn":
        net = GCN(in_channels, 16, num_classes, dropout=dropout, rng=seed, dtype=dtype)
        return net, Adam(net.parameter_groups(5e-4), lr=0.01)
    net = GraphSAGE(in_channels, 16, num_classes, dropout=dropout, rng=seed, dtype=dtype)
    return net, Adam(net.parameters(), lr=0.01, weight_decay=5e-4)
