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
    "sage-mean-narrow": lambda dtype: nn.SAGEConv(80, 10, aggr="mean", rng=0, dtype=dtype),
    "graphconv-sum-narrow": lambda dtype: nn.GraphConv(80, 5, aggr="sum", rng=0, dtype=dtype),
}


def _graph(rng, n=60, e=300):
    return fg.Graph.from_edge_index(rng.integers(0, n, (2, e)), num_nodes=n)


def test_which_shapes_fuse():
    x = np.zeros((3, 80))
    assert fuses_root("mean", 80, 16, x, False)
    assert fuses_root("sum", 1433, 64, x, False)
    assert not fuses_root("mean", 128, 64, x, False)      # x not wide enough: the block gather costs more
    assert fuses_root("mean", 80, 8, x, False)            # narrow rows: 16 zero-padded columns each
    assert fuses_root("mean", 64, 10, x, False)
    assert not fuses_root("mean", 40, 8, x, False)        # x less than 4 x 16 wide
    assert not fuses_root("mean", 80, 4, x, False)        # rows of 1 to 4 are gathered as they are
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


@pytest.mark.parametrize("name", LAYERS)
def test_fused_results_are_the_same_for_any_thread_count(rng, name):
    from graph_cases import parallel_always

    graph = _graph(rng, n=3000, e=12000)
    x = rng.standard_normal((3000, 80)).astype(np.float32)
    results = []
    try:
        with parallel_always():
            for threads in (1, 2, 3):
                fg.set_num_threads(threads)
                layer = LAYERS[name](np.float32)
                out = layer(graph, x)
                grad = layer.backward(np.ones_like(out))
                results.append([out, grad] + [p.grad.copy() for p in layer.parameters()])
    finally:
        fg.set_num_threads(None)
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("num_nodes, num_edges", [(0, 0), (7, 0), (1, 1)])
def test_narrow_fused_on_degenerate_graphs(num_nodes, num_edges):
    edges = np.zeros((2, num_edges), dtype=np.int64)
    graph = fg.Graph.from_edge_index(edges, num_nodes=num_nodes)
    x = np.arange(num_nodes * 80, dtype=np.float64).reshape(num_nodes, 80) / 100
    fused = nn.SAGEConv(80, 10, rng=0, dtype=np.float64)
    out = fused(graph, x)
    expected = fused(graph, (x, x))           # the pair takes the unfused path
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    assert out.shape == (num_nodes, 10) and out.flags.c_contiguous
