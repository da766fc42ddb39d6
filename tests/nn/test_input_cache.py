"""cache_input_aggregation: a first layer aggregates fixed (read-only) input features once, and only those."""
import mmap

import numpy as np
import pytest

import fastgnn
from fastgnn import nn
from fastgnn.losses import cross_entropy
from fastgnn.models import GCN, GNNStack, GraphSAGE
from fastgnn.nn.conv._input_cache import is_frozen
from fastgnn.optim import Adam
from fastgnn.testing import check_module_grad
from graph_cases import CASES, assert_close, parallel_always

SQUARE_CASES = sorted(name for name, case in CASES.items() if case.num_src_nodes == case.num_dst_nodes)

LAYERS = {
    "sage-mean": lambda dtype, **kw: nn.SAGEConv(12, 6, aggr="mean", rng=0, dtype=dtype, **kw),
    "sage-sum-normalize": lambda dtype, **kw: nn.SAGEConv(12, 6, aggr="sum", normalize=True, rng=0, dtype=dtype,
                                                          **kw),
    "sage-max": lambda dtype, **kw: nn.SAGEConv(12, 20, aggr="max", rng=0, dtype=dtype, **kw),
    "sage-min-no-root": lambda dtype, **kw: nn.SAGEConv(12, 6, aggr="min", root_weight=False, rng=0, dtype=dtype,
                                                        **kw),
    "sage-mean-narrowing": lambda dtype, **kw: nn.SAGEConv(40, 16, aggr="mean", rng=0, dtype=dtype, **kw),
    "graphconv-sum": lambda dtype, **kw: nn.GraphConv(12, 6, aggr="sum", rng=0, dtype=dtype, **kw),
    "graphconv-max-nobias": lambda dtype, **kw: nn.GraphConv(12, 6, aggr="max", bias=False, rng=0, dtype=dtype,
                                                             **kw),
    "gcn": lambda dtype, **kw: nn.GCNConv(12, 6, rng=0, dtype=dtype, **kw),
    "gcn-cached-widening": lambda dtype, **kw: nn.GCNConv(12, 20, cached=True, rng=0, dtype=dtype, **kw),
}


def _frozen(array):
    array = np.array(array, order="C")
    array.flags.writeable = False
    return array


def _width(layer):
    return getattr(layer, "in_src", getattr(layer, "in_channels", None))


def _run(layer, graph, x, grad_seed=0):
    """Output, input gradient and parameter gradients of one forward + backward."""
    layer.train()
    layer.zero_grad()
    out = layer(graph, x)
    grad_out = np.random.default_rng(grad_seed).standard_normal(out.shape).astype(out.dtype)
    grad_x = layer.backward(grad_out)
    return out, grad_x, [param.grad.copy() for param in layer.parameters()]


def _assert_same(first, second):
    for a, b in zip(first[:2], second[:2]):
        assert_close(a, b)
    for a, b in zip(first[2], second[2]):
        assert_close(a, b)


@pytest.mark.parametrize("name", LAYERS)
@pytest.mark.parametrize("case_name", SQUARE_CASES)
def test_cached_equals_the_aggregating_layer(name, case_name, float_dtype, index_dtype):
    case = CASES[case_name]
    graph = case.graph(index_dtype)
    plain = LAYERS[name](float_dtype)
    cached = LAYERS[name](float_dtype, cache_input_aggregation=True)
    x = np.random.default_rng(1).standard_normal((case.num_src_nodes, _width(plain))).astype(float_dtype)
    frozen = _frozen(x)
    expected = _run(plain, graph, x)
    for _ in range(2):                       # computed, then served from the cache
        _assert_same(_run(cached, graph, frozen), expected)
        assert cached._input_cache is not None and cached._input_cache.x is frozen
    np.testing.assert_array_equal(frozen, x)


@pytest.mark.parametrize("name", LAYERS)
def test_cached_path_is_the_same_for_any_thread_count(rng, name):
    graph = CASES["random"].graph()
    x = _frozen(rng.standard_normal((25, 40 if name == "sage-mean-narrowing" else 12)))
    results = []
    try:
        with parallel_always():
            for threads in (1, 2, 3):
                fastgnn.set_num_threads(threads)
                layer = LAYERS[name](np.float32, cache_input_aggregation=True)
                results.append(_run(layer, graph, x))
    finally:
        fastgnn.set_num_threads(None)
    for other in results[1:]:
        for a, b in zip(results[0][:2], other[:2]):
            np.testing.assert_array_equal(a, b)
        for a, b in zip(results[0][2], other[2]):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", LAYERS)
def test_cached_parameter_gradients_match_finite_differences(rng, name):
    graph = CASES["random"].graph()
    layer = LAYERS[name](np.float64, cache_input_aggregation=True)
    x = _frozen(rng.standard_normal((25, _width(layer))))
    check_module_grad(layer, graph, x, check_inputs=False)      # x is read-only: only the parameters move
    assert layer._input_cache is not None


def test_is_frozen():
    owner = np.arange(12.0).reshape(3, 4).copy()
    assert not is_frozen(owner)
    view = owner[:, :2]
    view.flags.writeable = False
    assert not is_frozen(view)                  # the memory can still change through owner
    owner.flags.writeable = False
    assert is_frozen(owner) and is_frozen(owner[:, :2]) and is_frozen(owner.T)
    assert not is_frozen(np.frombuffer(bytearray(16), dtype=np.float64))    # owned by a mutable buffer
    assert not is_frozen([[1.0, 2.0]])
    assert not is_frozen(fastgnn.SparseFeatures.from_dense(np.eye(3)))


def test_only_read_only_inputs_are_cached(rng):
    graph = CASES["random"].graph()
    layer = nn.SAGEConv(12, 6, rng=0, cache_input_aggregation=True)
    x = rng.standard_normal((25, 12)).astype(np.float32)
    layer(graph, x)
    assert layer._input_cache is None                       # writeable: aggregated every call
    view = x[:, :]
    view.flags.writeable = False
    layer(graph, view)
    assert layer._input_cache is None                       # read-only view of a writeable array
    first = layer(graph, _frozen(x))
    x += 1.0                                                # a new frozen array of new values ...
    second = layer(graph, _frozen(x))
    expected = nn.SAGEConv(12, 6, rng=0)(graph, x)
    assert_close(second, expected)                          # ... is aggregated anew
    assert not np.allclose(first, second)
    with open(__file__, "rb") as handle:                    # a read-only memory map: its file could change
        mapped = np.frombuffer(mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ), dtype=np.uint8)
    assert not is_frozen(mapped)


def test_another_graph_is_aggregated_anew(rng):
    x = _frozen(rng.standard_normal((25, 12)))
    layer = nn.SAGEConv(12, 6, rng=0, dtype=np.float64, cache_input_aggregation=True)
    first, second = CASES["random"].graph(), fastgnn.Graph.from_edge_index(rng.integers(0, 25, (2, 90)),
                                                                           num_nodes=25)
    layer(first, x)
    assert_close(layer(second, x), nn.SAGEConv(12, 6, rng=0, dtype=np.float64)(second, x))
    assert layer._input_cache.graph is second


def test_converted_input_is_cached_by_its_own_object(rng):
    x = _frozen(rng.standard_normal((50, 24)))[::2, ::2]        # float64, strided, read-only all the way
    graph = CASES["random"].graph()
    layer = nn.SAGEConv(12, 6, rng=0, cache_input_aggregation=True)     # float32
    out = layer(graph, x)
    assert layer._input_cache.x is x and out.dtype == np.float32
    assert_close(out, nn.SAGEConv(12, 6, rng=0)(graph, np.ascontiguousarray(x, dtype=np.float32)))


def test_eval_keeps_the_cache_and_clear_cache_drops_it(rng):
    graph = CASES["random"].graph()
    layer = nn.GCNConv(12, 6, rng=0, cache_input_aggregation=True)
    x = _frozen(rng.standard_normal((25, 12)))
    layer(graph, x)
    cache = layer._input_cache
    layer.eval()
    layer(graph, x)
    assert layer._input_cache is cache
    layer.clear_cache()
    assert layer._input_cache is None
    layer(graph, x)
    layer.astype(np.float64)
    assert layer._input_cache is None


def test_cache_flag_is_checked():
    with pytest.raises(TypeError, match="cache_input_aggregation"):
        nn.SAGEConv(4, 2, cache_input_aggregation="yes")
    with pytest.raises(ValueError, match="cache_input_aggregation"):
        GNNStack(4, 8, 2, conv="gin", cache_input_aggregation=True)
    assert "cache_input_aggregation=True" in repr(nn.GraphConv(4, 2, cache_input_aggregation=True))


def test_stack_passes_it_to_the_first_layer_only():
    model = GraphSAGE(12, 8, 3, cache_input_aggregation=True, rng=0)
    assert model.convs[0].cache_input_aggregation and not model.convs[1].cache_input_aggregation
    model = GCN(12, 8, 3, cache_input_aggregation=True, rng=0)
    assert model.convs[0].cache_input_aggregation and not model.convs[1].cache_input_aggregation


def _train(model, graph, x, y, epochs=4):
    optimizer = Adam(model.parameters(), lr=0.01)
    losses = []
    for _ in range(epochs):
        model.train()
        optimizer.zero_grad()
        loss, grad = cross_entropy(model(graph, x), y)
        model.backward(grad)
        optimizer.step()
        losses.append(loss)
    return np.array(losses), model.eval()(graph, x)


@pytest.mark.parametrize("make", [
    lambda **kw: GraphSAGE(12, 8, 3, dropout=0.0, rng=0, dtype=np.float64, **kw),
    lambda **kw: GCN(12, 8, 3, dropout=0.0, cached=True, rng=0, dtype=np.float64, **kw),
    lambda **kw: GNNStack(12, [8, 8], 3, conv="graphconv", aggr="mean", dropout=0.0, rng=0, dtype=np.float64, **kw),
])
def test_training_with_the_cache_equals_training_without(rng, make):
    graph = CASES["random"].graph()
    x = rng.standard_normal((25, 12))
    y = rng.integers(0, 3, 25)
    losses, logits = _train(make(), graph, x, y)
    cached_model = make(cache_input_aggregation=True)
    cached_losses, cached_logits = _train(cached_model, graph, _frozen(x), y)
    assert cached_model.convs[0]._input_cache is not None
    assert_close(cached_losses, losses)
    assert_close(cached_logits, logits)


def test_input_dropout_bypasses_the_cache_in_training(rng):
    graph = CASES["random"].graph()
    x = _frozen(rng.standard_normal((25, 12)))
    model = GraphSAGE(12, 8, 3, dropout=0.5, rng=0, cache_input_aggregation=True)
    model.train()(graph, x)
    assert model.convs[0]._input_cache is None             # it saw dropped-out (new) features
    model.eval()(graph, x)
    assert model.convs[0]._input_cache is not None         # evaluation reads x itself
