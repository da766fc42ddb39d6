"""Layers and dropout on SparseFeatures input: the same outputs and gradients as on the dense input."""
import numpy as np
import pytest

import fastgnn as fg
from fastgnn import nn
from fastgnn.nn.conv.gin_conv import build_gin_layer
from fastgnn.testing import check_module_grad


def _graph(rng, n=40, e=160):
    return fg.Graph.from_edge_index(rng.integers(0, n, (2, e)), num_nodes=n)


def _features(rng, n=40, f=30, density=0.15):
    dense = rng.standard_normal((n, f))
    dense[rng.random((n, f)) > density] = 0
    return dense, fg.SparseFeatures.from_dense(dense)


LAYERS = {
    "gcn": lambda: nn.GCNConv(30, 8, rng=0, dtype=np.float64),
    "sage-mean": lambda: nn.SAGEConv(30, 8, aggr="mean", rng=0, dtype=np.float64),
    "sage-sum-wide": lambda: nn.SAGEConv(30, 50, aggr="sum", rng=0, dtype=np.float64),
    "sage-max": lambda: nn.SAGEConv(30, 8, aggr="max", rng=0, dtype=np.float64),
    "graphconv-sum": lambda: nn.GraphConv(30, 8, aggr="sum", rng=0, dtype=np.float64),
    "graphconv-min": lambda: nn.GraphConv(30, 8, aggr="min", rng=0, dtype=np.float64),
    "gin": lambda: build_gin_layer(30, 8, rng=0, dtype=np.float64),
    "gin-wide": lambda: build_gin_layer(30, 50, rng=0, dtype=np.float64, train_eps=True),
}


def _run(layer, graph, x, projection):
    layer.zero_grad()
    out = layer(graph, x)
    layer.backward(projection, need_input_grad=False)
    return out, [p.grad.copy() for p in layer.parameters()]


@pytest.mark.parametrize("name", LAYERS)
def test_sparse_input_equals_dense_input(rng, name):
    graph = _graph(rng)
    dense, sparse = _features(rng)
    layer = LAYERS[name]()
    out_dense = layer(graph, dense)
    projection = rng.standard_normal(out_dense.shape)
    expected = _run(layer, graph, dense, projection)
    got = _run(layer, graph, sparse, projection)
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-10, atol=1e-12)
    for a, b in zip(got[1], expected[1]):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["gcn", "sage-mean", "gin"])
def test_parameter_gradients_match_finite_differences(rng, name):
    graph = _graph(rng, n=12, e=40)
    _, sparse = _features(rng, n=12)
    check_module_grad(LAYERS[name](), graph, sparse, check_inputs=False)


def test_input_gradient_is_the_dense_one(rng):
    graph = _graph(rng)
    dense, sparse = _features(rng)
    layer = LAYERS["sage-mean"]()
    out = layer(graph, dense)
    projection = rng.standard_normal(out.shape)
    expected = layer.backward(projection)
    layer(graph, sparse)
    np.testing.assert_allclose(layer.backward(projection), expected, rtol=1e-10, atol=1e-12)


def test_bipartite_pair_of_sparse_features(rng):
    graph = fg.Graph.from_edge_index(np.stack([rng.integers(0, 30, 90), rng.integers(0, 10, 90)]),
                                     num_src_nodes=30, num_dst_nodes=10)
    dense_src, sparse_src = _features(rng, n=30)
    dense_dst, sparse_dst = _features(rng, n=10)
    layer = nn.SAGEConv(30, 6, rng=0, dtype=np.float64)
    np.testing.assert_allclose(layer(graph, (sparse_src, sparse_dst)), layer(graph, (dense_src, dense_dst)),
                               rtol=1e-10, atol=1e-12)


def test_linear_on_sparse_input(rng):
    dense, sparse = _features(rng)
    layer = nn.Linear(30, 5, rng=0, dtype=np.float64)
    projection = rng.standard_normal((40, 5))
    np.testing.assert_allclose(layer(sparse), layer(dense), rtol=1e-12)
    layer.zero_grad()
    layer(dense)
    layer.backward(projection)
    expected = layer.weight.grad.copy()
    layer.zero_grad()
    layer(sparse)
    layer.backward(projection)
    np.testing.assert_allclose(layer.weight.grad, expected, rtol=1e-12)


def test_wrong_width_is_refused(rng):
    _, sparse = _features(rng, f=29)
    with pytest.raises(ValueError, match="in_channels"):
        LAYERS["gcn"]()(_graph(rng), sparse)


# ---------------------------------------------------------------------- sparse dropout
def test_sparse_dropout_drops_stored_values(rng):
    _, sparse = _features(rng, n=400, f=50, density=0.3)
    dropout = nn.Dropout(0.4, rng=0)
    out = dropout(sparse)
    assert isinstance(out, fg.SparseFeatures)
    np.testing.assert_array_equal(out.indices, sparse.indices)
    kept = out.data != 0
    assert abs(kept.mean() - 0.6) < 0.03
    np.testing.assert_allclose(out.data[kept], sparse.data[kept] / 0.6, rtol=1e-6)
    assert out.graph.transpose_csr()[0] is sparse.graph.transpose_csr()[0]   # the pattern is shared


def test_sparse_dropout_backward(rng):
    dense, sparse = _features(rng)
    dropout = nn.Dropout(0.5, rng=1)
    out = dropout(sparse)
    grad = dropout.backward(np.ones(sparse.shape))
    dropped = np.zeros(sparse.shape, dtype=bool)
    rows = sparse.graph.destinations()
    dropped[rows[out.data == 0], sparse.indices[out.data == 0]] = True
    np.testing.assert_array_equal(grad, np.where(dropped, 0.0, 2.0))


def test_sparse_dropout_is_seeded_and_off_in_eval(rng):
    _, sparse = _features(rng)
    first, second = nn.Dropout(0.5, rng=3)(sparse), nn.Dropout(0.5, rng=3)(sparse)
    np.testing.assert_array_equal(first.data, second.data)
    dropout = nn.Dropout(0.5, rng=3).eval()
    assert dropout(sparse) is sparse


def test_model_trains_alike_on_sparse_and_dense_cora():
    from fastgnn.datasets import load_cora
    from fastgnn.losses import cross_entropy
    from fastgnn.models import GCN
    from fastgnn.optim import Adam

    cora = load_cora(normalize_features=True)
    sparse_x = fg.SparseFeatures.from_dense(cora.x)
    losses = []
    for x in (cora.x, sparse_x):
        model = GCN(cora.num_features, 16, cora.num_classes, cached=True, rng=0, dropout=0.0, dtype=np.float64)
        optimizer = Adam(model.parameters(), lr=0.01)
        trace = []
        for _ in range(5):
            optimizer.zero_grad()
            loss, grad = cross_entropy(model(cora.graph, x), cora.y, cora.train_mask)
            model.backward(grad)
            optimizer.step()
            trace.append(loss)
        losses.append(trace)
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-10)
