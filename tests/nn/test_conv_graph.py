"""GraphConv: h_i' = W_root h_i + W_rel AGG_j h_j + b."""
import numpy as np
import pytest

from fastgnn import nn
from fastgnn.testing import check_module_grad
from nn_cases import REDUCES, distinct_features, random_graph, reference_aggregate


def expected(layer, graph, x_src, x_dst):
    aggregated = reference_aggregate(graph, x_src, layer.aggr)
    return aggregated @ layer.lin_rel.weight.data.T + layer.lin_rel.bias.data + x_dst @ layer.lin_root.weight.data.T


@pytest.mark.parametrize("aggr", REDUCES)
@pytest.mark.parametrize("out_channels", [3, 9])  # narrower (transform first for sum/mean) and wider
@pytest.mark.parametrize("weighted", [False, True])
def test_forward_matches_reference(rng, aggr, out_channels, weighted):
    graph = random_graph(rng, 12, weighted=weighted)
    x = distinct_features(rng, 12, 6)
    layer = nn.GraphConv(6, out_channels, aggr=aggr, rng=0, dtype=np.float64)
    layer.lin_rel.bias.data[...] = rng.standard_normal(out_channels)
    np.testing.assert_allclose(layer(graph, x), expected(layer, graph, x, x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("aggr", REDUCES)
@pytest.mark.parametrize("out_channels", [3, 9])
def test_gradients(rng, aggr, out_channels):
    graph = random_graph(rng, 12)
    x = distinct_features(rng, 12, 6)
    check_module_grad(nn.GraphConv(6, out_channels, aggr=aggr, rng=0, dtype=np.float64), graph, x)


@pytest.mark.parametrize("aggr", REDUCES)
def test_bipartite_pair_forward_and_gradients(rng, aggr):
    graph = random_graph(rng, 10, 6)
    x_src, x_dst = distinct_features(rng, 10, 5), distinct_features(rng, 6, 4)
    layer = nn.GraphConv((5, 4), 3, aggr=aggr, rng=0, dtype=np.float64)
    np.testing.assert_allclose(layer(graph, (x_src, x_dst)), expected(layer, graph, x_src, x_dst), atol=1e-12)
    layer(graph, (x_src, x_dst))
    grad_src, grad_dst = layer.backward(np.ones((6, 3)))
    assert grad_src.shape == (10, 5) and grad_dst.shape == (6, 4)
    check_module_grad(layer, graph, (x_src, x_dst))


def test_weighted_max_gradients(rng):
    graph = random_graph(rng, 12, weighted=True)
    check_module_grad(nn.GraphConv(6, 4, aggr="max", rng=0, dtype=np.float64), graph,
                      distinct_features(rng, 12, 6))


def test_bad_inputs(rng):
    graph = random_graph(rng, 8)
    layer = nn.GraphConv(6, 3)
    with pytest.raises(ValueError, match="x has 5 features but the layer expects 6"):
        layer(graph, np.ones((8, 5), np.float32))
    with pytest.raises(ValueError, match="x has 7 rows but the graph has 8 nodes"):
        layer(graph, np.ones((7, 6), np.float32))
    with pytest.raises(TypeError, match="graph must be a fastgnn.Graph"):
        layer(np.eye(8), np.ones((8, 6), np.float32))
    with pytest.raises(ValueError, match="aggr must be one of"):
        nn.GraphConv(6, 3, aggr="median")
    bipartite = random_graph(rng, 8, 5)
    with pytest.raises(ValueError, match="pass x as a pair"):
        layer(bipartite, np.ones((8, 6), np.float32))
    with pytest.raises(ValueError, match="x_dst has 4 features but the layer expects 6"):
        layer(bipartite, (np.ones((8, 6), np.float32), np.ones((5, 4), np.float32)))


def test_parameter_names_follow_pyg():
    names = [name for name, _ in nn.GraphConv(4, 2).named_parameters()]
    assert names == ["lin_rel.weight", "lin_rel.bias", "lin_root.weight"]
