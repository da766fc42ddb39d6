"""SAGEConv and GraphConv fuse their root product with the aggregated one (x [W_a; W_r]^T) where it pays."""
import numpy as np
import pytest

import fastgnn as fg
from fastgnn import nn
from fastgnn.nn.conv._propagate import fuses_root
from fastgnn.testing import check_module_grad

LAYERS = {
    "sage-mean": lambda dtype: nn.SAGEConv(80, 16, aggr="mean", rng=0, dtype=dtype),
    "sage-sum": lambda dtype: nn.SAGEConv(80, 20, aggr="sum", rng=0, dtype=dtype),
    "graphconv-mean": lambda dtype: nn.GraphConv(80, 16, aggr="mean", rng=0, dtype=dtype),
    "graphconv-sum-nobias": lambda dtype: nn.GraphConv(80, 20, aggr="sum", bias=False, rng=0, dtype=dtype),
}


def _graph(rng, n=60, e=300):
    return fg.Graph.from_edge_index(rng.integers(0, n, (2, e)), num_nodes=n)


def test_which_shapes_fuse():
    x = np.zeros((3, 80))
    assert fuses_root("mean", 80, 16, x, False)
    assert fuses_root("sum", 1433, 64, x, False)
    assert not fuses_root("mean", 128, 64, x, False)      # x not wide enough: the block gather costs more
    assert not fuses_root("mean", 80, 8, x, False)        # narrow rows are gathered padded instead
    assert not fuses_root("mean", 16, 80, x, False)       # aggregate-first: no common product
    assert not fuses_root("max", 80, 16, x, False)
    assert not fuses_root("mean", 80, 16, x, True)        # (x_src, x_dst): two inputs
    assert not fuses_root("sum", 1433, 16, fg.SparseFeatures.from_dense(np.eye(3, 1433)), False)


@pytest.mark.parametrize("name", LAYERS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_equals_the_two_products(rng, name, dtype):
    graph = _graph(rng)
    x = rng.standard_normal((60, 80)).astype(dtype)
    layer = LAYERS[name](dtype)
    results = []
    for inputs in (x, (x, x)):            # a pair input takes the unfused path
        layer.zero_grad()
        out = layer(graph, inputs)
        grad = layer.backward(np.ones_like(out))
        grad = grad if not isinstance(grad, tuple) else grad[0] + grad[1]
        results.append((out, grad, [p.grad.copy() for p in layer.parameters()]))
    tol = dict(rtol=2e-5, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(results[0][0], results[1][0], **tol)
    np.testing.assert_allclose(results[0][1], results[1][1], **tol)
    for a, b in zip(results[0][2], results[1][2]):
        np.testing.assert_allclose(a, b, **tol)


@pytest.mark.parametrize("name", LAYERS)
def test_fused_gradients_match_finite_differences(rng, name):
    graph = _graph(rng, n=20, e=70)
    check_module_grad(LAYERS[name](np.float64), graph, rng.standard_normal((20, 80)))


def test_frozen_root_gets_no_gradient(rng):
    graph = _graph(rng)
    layer = nn.SAGEConv(80, 16, rng=0, dtype=np.float64)
    layer.lin_r.freeze()
    layer.zero_grad()
    layer.backward(np.ones_like(layer(graph, rng.standard_normal((60, 80)))))
    assert not layer.lin_r.weight.grad.any() and layer.lin_l.weight.grad.any()


def test_scratch_array_is_reused_and_outputs_are_not(rng):
    graph = _graph(rng)
    x = rng.standard_normal((60, 80)).astype(np.float32)
    layer = nn.SAGEConv(80, 16, rng=0)
    first = layer(graph, x)
    kept = first.copy()
    buffer = layer._workspace._array
    second = layer(graph, 2 * x)
    assert layer._workspace._array is buffer
    np.testing.assert_array_equal(first, kept)          # an earlier output is never overwritten
    assert not np.shares_memory(second, buffer)
