"""Properties every graph layer shares: modes, dtypes, skipped input gradients, memory."""
import tracemalloc

import numpy as np
import pytest

import fastgnn
from fastgnn import nn
from nn_cases import distinct_features, random_graph

LAYERS = {
    "graph_sum": lambda d, o, dt: nn.GraphConv(d, o, aggr="sum", rng=0, dtype=dt),
    "graph_max": lambda d, o, dt: nn.GraphConv(d, o, aggr="max", rng=0, dtype=dt),
    "gcn": lambda d, o, dt: nn.GCNConv(d, o, rng=0, dtype=dt),
    "gcn_cached": lambda d, o, dt: nn.GCNConv(d, o, cached=True, rng=0, dtype=dt),
    "sage_mean": lambda d, o, dt: nn.SAGEConv(d, o, rng=0, dtype=dt),
    "sage_min_normalize": lambda d, o, dt: nn.SAGEConv(d, o, aggr="min", normalize=True, rng=0, dtype=dt),
    "gin": lambda d, o, dt: nn.GINConv(nn.MLP([d, 4, o], rng=0, dtype=dt), train_eps=True),
    "gat_heads": lambda d, o, dt: nn.GATConv(d, o, heads=3, concat=False, rng=0, dtype=dt),
    "gat_no_loops": lambda d, o, dt: nn.GATConv(d, o, add_self_loops=False, rng=0, dtype=dt),
    "gatv2": lambda d, o, dt: nn.GATv2Conv(d, o, heads=2, concat=False, rng=0, dtype=dt),
    "gatv2_shared": lambda d, o, dt: nn.GATv2Conv(d, o, share_weights=True, rng=0, dtype=dt),
}


@pytest.fixture(params=sorted(LAYERS))
def make_layer(request):
    return LAYERS[request.param]


def test_eval_mode_caches_nothing(rng, make_layer):
    graph = random_graph(rng, 10)
    layer = make_layer(6, 3, np.float32)
    x = rng.standard_normal((10, 6)).astype(np.float32)
    layer(graph, x)
    assert layer.has_cache()
    layer.eval()
    assert not layer.has_cache()
    out = layer(graph, x)
    assert out.shape == (10, 3) and not layer.has_cache()
    with pytest.raises(RuntimeError, match="eval mode"):
        layer.backward(np.ones((10, 3), np.float32))


def test_float32_end_to_end(rng, make_layer):
    graph = random_graph(rng, 10, weighted=True)
    layer = make_layer(6, 3, np.float32)
    x = rng.standard_normal((10, 6)).astype(np.float32)
    out = layer(graph, x)
    assert out.dtype == np.float32
    grad = layer.backward(np.ones_like(out))
    assert grad.dtype == np.float32
    assert all(p.grad.dtype == np.float32 and p.grad.any() for p in layer.parameters())
    reference = make_layer(6, 3, np.float64)
    reference.load_state_dict(layer.state_dict())
    np.testing.assert_allclose(out, reference(graph, x.astype(np.float64)), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("out_channels", [3, 9])
def test_skipping_the_input_gradient(rng, make_layer, out_channels):
    graph = random_graph(rng, 10)
    x = distinct_features(rng, 10, 6)
    grad_out = rng.standard_normal((10, out_channels))
    layer = make_layer(6, out_channels, np.float64)
    layer(graph, x)
    assert layer.backward(grad_out) is not None
    expected = [p.grad.copy() for p in layer.parameters()]
    layer.zero_grad()
    layer(graph, x)
    assert layer.backward(grad_out, need_input_grad=False) is None
    for param, grad in zip(layer.parameters(), expected):
        np.testing.assert_allclose(param.grad, grad, rtol=1e-12, atol=1e-12)


def test_graph_without_edges(make_layer):
    graph = fastgnn.Graph.from_edge_index(np.zeros((2, 0), np.int64), num_nodes=4)
    layer = make_layer(6, 3, np.float64)
    x = np.arange(24, dtype=np.float64).reshape(4, 6)
    out = layer(graph, x)
    assert out.shape == (4, 3) and np.all(np.isfinite(out))
    assert layer.backward(np.ones((4, 3))).shape == (4, 6)


def test_grad_out_shape_is_checked(rng, make_layer):
    graph = random_graph(rng, 10)
    layer = make_layer(6, 3, np.float64)
    layer(graph, rng.standard_normal((10, 6)))
    with pytest.raises(ValueError, match="grad_out"):
        layer.backward(np.ones((10, 4)))


@pytest.mark.parametrize("name", ["graph_sum", "graph_max", "gcn_cached", "sage_mean"])
def test_no_edges_by_features_temporaries(name):
    """Forward plus backward never allocate anything near E x d."""
    rng = np.random.default_rng(0)
    num_nodes, num_edges, width = 200, 40_000, 32
    graph = random_graph(rng, num_nodes, num_edges=num_edges)
    layer = LAYERS[name](width, width, np.float32)
    x = rng.standard_normal((num_nodes, width)).astype(np.float32)
    layer(graph, x)  # builds the cached transpose and normalization outside the measurement
    layer.backward(np.ones((num_nodes, width), np.float32))
    tracemalloc.start()
    try:
        out = layer(graph, x)
        layer.backward(np.ones_like(out))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    edges_by_features = num_edges * width * 4
    assert peak < edges_by_features / 4, f"peak {peak} bytes vs E x d = {edges_by_features} bytes"
