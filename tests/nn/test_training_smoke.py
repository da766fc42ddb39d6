"""Layers, losses and optimizers together: a tiny GCN learns a planted partition."""
import numpy as np
import pytest

import fastgnn
from fastgnn import losses, nn, optim
from fastgnn.metrics import accuracy


class TwoLayer(nn.Module):
    def __init__(self, conv, in_channels, hidden, classes, rng):
        super().__init__()
        self.conv1 = conv(in_channels, hidden, rng)
        self.act = nn.ReLU()
        self.dropout = nn.Dropout(0.5, rng=rng)
        self.conv2 = conv(hidden, classes, rng)

    def forward(self, graph, x):
        return self.conv2(graph, self.dropout(self.act(self.conv1(graph, x))))

    def backward(self, grad_out):
        grad = self.act.backward(self.dropout.backward(self.conv2.backward(grad_out)))
        return self.conv1.backward(grad, need_input_grad=False)


CONVS = {
    "gcn": lambda i, o, rng: nn.GCNConv(i, o, cached=True, rng=rng),
    "sage": lambda i, o, rng: nn.SAGEConv(i, o, rng=rng),
    "graph_max": lambda i, o, rng: nn.GraphConv(i, o, aggr="max", rng=rng),
    "gin": lambda i, o, rng: nn.GINConv(nn.MLP([i, 16, o], rng=rng)),
}


@pytest.mark.parametrize("name", sorted(CONVS))
def test_planted_partition_is_learned(name):
    rng = np.random.default_rng(0)
    num_nodes, classes = 120, 3
    labels = rng.integers(0, classes, num_nodes)
    src, dst = rng.integers(0, num_nodes, (2, 3000))
    keep = (labels[src] == labels[dst]) | (rng.random(3000) < 0.1)
    graph = fastgnn.Graph.from_edge_index(np.stack([src[keep], dst[keep]]), num_nodes=num_nodes)
    x = (np.eye(classes)[labels] * 0.5 + rng.standard_normal((num_nodes, classes))).astype(np.float32)
    x = np.hstack([x, rng.standard_normal((num_nodes, 5)).astype(np.float32)])
    train = rng.random(num_nodes) < 0.3
    model = TwoLayer(CONVS[name], x.shape[1], 16, classes, rng)
    optimizer = optim.Adam([{"params": model.conv1.parameters(), "weight_decay": 5e-4},
                            {"params": model.conv2.parameters()}], lr=0.02)
    first = None
    for _ in range(60):
        model.train()
        optimizer.zero_grad()
        loss, grad = losses.cross_entropy(model(graph, x), labels, train)
        first = loss if first is None else first
        model.backward(grad)
        optimizer.step()
    model.eval()
    logits = model(graph, x)
    assert loss < 0.5 * first
    assert accuracy(logits, labels, ~train) > 0.75  # chance is 1/3
    assert not model.has_cache()
