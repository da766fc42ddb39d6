"""pytest-benchmark suite of link prediction: negative sampling, the GAE losses, one GAE epoch.

Run with ``pytest bench/test_link_prediction.py`` (not part of the default
test run). PyTorch Geometric's ``negative_sampling`` is timed beside
fastgnn's when installed. Nothing here asserts a timing.
"""
import numpy as np
import pytest

from fastgnn import Graph
from fastgnn.data import NegativeSampler, random_link_split
from fastgnn.datasets import load_cora, uniform_edge_index
from fastgnn.models.autoencoder import GAE, VGAE, AdjacencyLoss, NegativeSamplingLoss
from fastgnn.optim import Adam

SPARSE_NODES, SPARSE_EDGES, SAMPLES = 1_000_000, 10_000_000, 1_000_000


@pytest.fixture(scope="module")
def sparse_graph():
    return Graph.from_edge_index(uniform_edge_index(SPARSE_NODES, SPARSE_EDGES, rng=0), num_nodes=SPARSE_NODES)


@pytest.fixture(scope="module")
def cora_split():
    dataset = load_cora()
    return dataset, random_link_split(dataset.graph, rng=0)


@pytest.mark.benchmark(group="negative sampling 1M nodes, 10M edges, 1M samples")
def test_negative_sampling_fastgnn(benchmark, sparse_graph):
    sampler = NegativeSampler(sparse_graph)
    rng = np.random.default_rng(0)
    benchmark(sampler.sample, SAMPLES, rng)


@pytest.mark.benchmark(group="negative sampling 1M nodes, 10M edges, 1M samples")
def test_negative_sampling_pyg(benchmark, sparse_graph):
    torch = pytest.importorskip("torch")
    utils = pytest.importorskip("torch_geometric.utils")
    edge_index = torch.from_numpy(sparse_graph.to_edge_index())
    benchmark(utils.negative_sampling, edge_index, SPARSE_NODES, SAMPLES)


@pytest.mark.benchmark(group="GAE loss on Cora (N=2708, d=16)")
@pytest.mark.parametrize("loss", ["full", "negative"])
def test_gae_loss(benchmark, cora_split, loss):
    _, split = cora_split
    z = np.random.default_rng(0).standard_normal((split.num_nodes, 16)).astype(np.float32)
    fn = AdjacencyLoss(split.train_graph) if loss == "full" else NegativeSamplingLoss(split.train_graph, rng=0)
    benchmark(fn, z)


@pytest.mark.benchmark(group="GAE/VGAE training epoch on Cora")
@pytest.mark.parametrize("model_cls", [GAE, VGAE], ids=["gae", "vgae"])
@pytest.mark.parametrize("loss", ["full", "negative"])
def test_training_epoch(benchmark, cora_split, model_cls, loss):
    dataset, split = cora_split
    graph = split.train_graph
    model = model_cls(dataset.num_features, 32, 16, rng=0)
    optimizer = Adam(model.parameters(), lr=0.01)
    fn = AdjacencyLoss(graph) if loss == "full" else NegativeSamplingLoss(graph, rng=0)
    kl_weight = 1.0 / graph.num_nodes

    def epoch():
        optimizer.zero_grad()
        z = model(graph, dataset.x)
        _, grad = fn(z)
        if model_cls is VGAE:
            model.backward(grad, need_input_grad=False, kl_weight=kl_weight)
        else:
            model.backward(grad, need_input_grad=False)
        optimizer.step()

    benchmark(epoch)
