"""SAGEConv: lin_l(AGG x_src) + lin_r(x_dst), optionally L2-normalised."""
import numpy as np
import pytest

from fastgnn import nn
from fastgnn.testing import check_module_grad
from nn_cases import REDUCES, distinct_features, random_graph, reference_aggregate


def reference(layer, graph, x_src, x_dst):
    out = reference_aggregate(graph, x_src, layer.aggr) @ layer.lin_l.weight.data.T + layer.lin_l.bias.data
    if layer.root_weight:
        out = out + x_dst @ layer.lin_r.weight.data.T
    if layer.normalize:
        out = out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
    return out


@pytest.mark.parametrize("aggr", REDUCES)
@pytest.mark.parametrize("out_channels", [3, 9])
@pytest.mark.parametrize("normalize", [False, True])
def test_forward_and_gradients(rng, aggr, out_channels, normalize):
    graph = random_graph(rng, 12)
    x = distinct_features(rng, 12, 6)
    layer = nn.SAGEConv(6, out_channels, aggr=aggr, normalize=normalize, rng=0, dtype=np.float64)
    layer.lin_l.bias.data[...] = rng.standard_normal(out_channels)
    np.testing.assert_allclose(layer(graph, x), reference(layer, graph, x, x), atol=1e-12)
    check_module_grad(layer, graph, x)


@pytest.mark.parametrize("aggr", REDUCES)
@pytest.mark.parametrize("root_weight", [True, False])
def test_bipartite_pair(rng, aggr, root_weight):
    graph = random_graph(rng, 10, 6)
    x_src, x_dst = distinct_features(rng, 10, 5), distinct_features(rng, 6, 4)
    layer = nn.SAGEConv((5, 4), 3, aggr=aggr, root_weight=root_weight, rng=0, dtype=np.float64)
    np.testing.assert_allclose(layer(graph, (x_src, x_dst)), reference(layer, graph, x_src, x_dst), atol=1e-12)
    check_module_grad(layer, graph, (x_src, x_dst))


def test_normalize_zero_row(rng):
    # A row whose output is exactly zero (no neighbours, zero root features, zero bias).
    graph = random_graph(rng, 6)
    x = rng.standard_normal((6, 3))
    x[-1] = 0  # the last node has no in-edges in random_graph
    layer = nn.SAGEConv(3, 2, normalize=True, rng=0, dtype=np.float64)
    out = layer(graph, x)
    assert np.all(np.isfinite(out)) and not out[-1].any()
    assert np.all(np.isfinite(layer.backward(np.ones((6, 2)))))


def test_bad_inputs(rng):
    graph = random_graph(rng, 8)
    with pytest.raises(ValueError, match="x has 5 features but the layer expects 6"):
        nn.SAGEConv(6, 3)(graph, np.ones((8, 5), np.float32))
    with pytest.raises(ValueError, match="aggr must be one of"):
        nn.SAGEConv(6, 3, aggr="lstm")


def test_parameter_names_follow_pyg():
    assert [n for n, _ in nn.SAGEConv(4, 2).named_parameters()] == ["lin_l.weight", "lin_l.bias", "lin_r.weight"]
    assert [n for n, _ in nn.SAGEConv(4, 2, root_weight=False).named_parameters()] == ["lin_l.weight",
                                                                                     "lin_l.bias"]
