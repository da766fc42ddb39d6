"""GCNConv: D^{-1/2} (A + I) D^{-1/2} X W^T + b."""
import numpy as np
import pytest

import fastgnn
from fastgnn import nn
from fastgnn.testing import check_module_grad
from nn_cases import dense_adjacency, gcn_dense, random_graph


def reference(layer, graph, x):
    return gcn_dense(graph, layer.add_self_loops) @ x @ layer.lin.weight.data.T + layer.bias.data


@pytest.mark.parametrize("out_channels", [3, 9])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("add_self_loops", [True, False])
def test_forward_matches_dense_formula(rng, out_channels, weighted, add_self_loops):
    graph = random_graph(rng, 12, weighted=weighted)
    x = rng.standard_normal((12, 6))
    layer = nn.GCNConv(6, out_channels, add_self_loops=add_self_loops, rng=0, dtype=np.float64)
    layer.bias.data[...] = rng.standard_normal(out_channels)
    np.testing.assert_allclose(layer(graph, x), reference(layer, graph, x), atol=1e-12)


def test_existing_self_loops_are_not_doubled(rng):
    edges = np.array([[0, 1, 1, 2], [0, 0, 1, 1]])  # node 0 and 1 have loops, node 2 none
    graph = fastgnn.Graph.from_edge_index(edges, num_nodes=3)
    layer = nn.GCNConv(2, 2, rng=0, dtype=np.float64)
    x = rng.standard_normal((3, 2))
    np.testing.assert_allclose(layer(graph, x), reference(layer, graph, x), atol=1e-12)


def test_without_normalization_uses_raw_weights(rng):
    graph = random_graph(rng, 10, weighted=True)
    layer = nn.GCNConv(4, 3, normalize=False, add_self_loops=False, bias=False, rng=0, dtype=np.float64)
    x = rng.standard_normal((10, 4))
    np.testing.assert_allclose(layer(graph, x), dense_adjacency(graph) @ x @ layer.lin.weight.data.T, atol=1e-12)


@pytest.mark.parametrize("out_channels", [3, 9])
@pytest.mark.parametrize("weighted", [False, True])
def test_gradients(rng, out_channels, weighted):
    graph = random_graph(rng, 12, weighted=weighted)
    check_module_grad(nn.GCNConv(6, out_channels, rng=0, dtype=np.float64), graph, rng.standard_normal((12, 6)))


@pytest.mark.parametrize("out_channels", [3, 9])
def test_bipartite(rng, out_channels):
    graph = random_graph(rng, 10, 6, weighted=True)
    x = rng.standard_normal((10, 5))
    layer = nn.GCNConv(5, out_channels, add_self_loops=False, rng=0, dtype=np.float64)
    adjacency = dense_adjacency(graph)
    deg_dst, deg_src = adjacency.sum(1), adjacency.sum(0)
    inv = lambda d: np.where(d > 0, 1 / np.sqrt(np.where(d > 0, d, 1)), 0)  # noqa: E731
    norm = inv(deg_dst)[:, None] * adjacency * inv(deg_src)[None, :]
    np.testing.assert_allclose(layer(graph, x), norm @ x @ layer.lin.weight.data.T, atol=1e-12)
    check_module_grad(layer, graph, x)
    # A pair is accepted; x_dst is not read and gets a zero gradient.
    layer(graph, (x, np.ones((6, 5))))
    grad_src, grad_dst = layer.backward(np.ones((6, out_channels)))
    assert grad_src.shape == (10, 5) and not grad_dst.any()
    # add_self_loops on a block: the loop i -> i for every destination i (source i), then the block's degrees.
    looped = nn.GCNConv(5, out_channels, rng=0, dtype=np.float64)
    adjacency_loops = adjacency.copy()
    for i in range(6):
        if adjacency_loops[i, i] == 0:
            adjacency_loops[i, i] = 1
    deg_dst, deg_src = adjacency_loops.sum(1), adjacency_loops.sum(0)
    norm = inv(deg_dst)[:, None] * adjacency_loops * inv(deg_src)[None, :]
    np.testing.assert_allclose(looped(graph, x), norm @ x @ looped.lin.weight.data.T, atol=1e-12)
    check_module_grad(looped, graph, x)
    # Fewer sources than destinations: no block, no loops to add.
    wide = random_graph(rng, 4, 6)
    with pytest.raises(ValueError, match="add_self_loops=True needs a square graph or a block"):
        nn.GCNConv(5, 3)(wide, rng.standard_normal((4, 5)))


def test_cached_normalization_per_graph_object(rng):
    graph = random_graph(rng, 10)
    other = random_graph(rng, 10)
    cached = nn.GCNConv(4, 3, cached=True, rng=0, dtype=np.float64)
    first = cached.normalized_graph(graph)
    assert cached.normalized_graph(graph) is first
    x = rng.standard_normal((10, 4))
    # A different graph object is normalized anew (PyG would reuse the stale one).
    np.testing.assert_allclose(cached(other, x), reference(cached, other, x), atol=1e-12)
    assert cached.normalized_graph(other) is not first
    cached.eval()
    assert cached._cached_graph is not None  # eval keeps the normalization, drops backward caches
    cached.clear_cache()
    assert cached._cached_graph is None
    uncached = nn.GCNConv(4, 3, rng=0)
    uncached.normalized_graph(graph)
    assert uncached._cached_graph is None  # the layer keeps nothing; the Graph caches its own norm


def test_cached_layer_gradients(rng):
    graph = random_graph(rng, 10, weighted=True)
    check_module_grad(nn.GCNConv(6, 3, cached=True, rng=0, dtype=np.float64), graph, rng.standard_normal((10, 6)))


def test_bad_inputs(rng):
    graph = random_graph(rng, 8)
    layer = nn.GCNConv(6, 3)
    with pytest.raises(ValueError, match="x has 5 features but the layer expects 6"):
        layer(graph, np.ones((8, 5), np.float32))
    with pytest.raises(ValueError, match="x has 9 rows"):
        layer(graph, np.ones((9, 6), np.float32))


def test_parameter_names_follow_pyg():
    assert [name for name, _ in nn.GCNConv(4, 2).named_parameters()] == ["bias", "lin.weight"]
