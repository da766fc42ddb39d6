"""Node-classification models: end-to-end gradients (float64 finite differences), shapes, options, weights on disk."""
import numpy as np
import pytest

import fastgnn
from fastgnn import nn
from fastgnn.models import GCN, GIN, GNNStack, GraphConvNet, GraphSAGE, build_model
from fastgnn.nn.conv import conv_names

CONVS = conv_names()
from fastgnn.optim import Adam
from fastgnn.cli.node import load_weights, save_weights
from fastgnn.testing import check_grad, check_module_grad

NUM_NODES, IN, OUT = 9, 5, 3


def tiny_graph(rng, num_nodes=NUM_NODES, num_edges=30):
    """A random directed graph with duplicates, a self-loop and an isolated last node."""
    src = rng.integers(0, num_nodes - 1, num_edges)
    dst = rng.integers(0, num_nodes - 1, num_edges)
    src[0] = dst[0] = 2                                   # one self-loop
    return fastgnn.Graph.from_edge_index(np.stack([src, dst]), num_nodes=num_nodes)


def distinct_features(rng, rows, cols):
    """float64 features with all values distinct (no ties for max/min), well above the FD step."""
    values = rng.permutation(rows * cols).astype(np.float64) / (rows * cols)
    return np.ascontiguousarray((values - 0.5).reshape(rows, cols) * 4)


class WithInputGrad(nn.Module):
    """Wraps a model so that ``backward`` returns the input gradient (for check_module_grad)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, graph, x):
        return self.model(graph, x)

    def backward(self, grad_out):
        return self.model.backward(grad_out, need_input_grad=True)


MODEL_CASES = [
    ("gcn", None),
    ("sage", "mean"), ("sage", "max"), ("sage", "min"), ("sage", "sum"),
    ("gin", None),
    ("graphconv", "sum"), ("graphconv", "mean"), ("graphconv", "max"), ("graphconv", "min"),
]


@pytest.mark.parametrize("conv,aggr", MODEL_CASES)
@pytest.mark.parametrize("hidden", [4, [7, 4]], ids=["2-layers", "3-layers"])
def test_end_to_end_gradients(rng, conv, aggr, hidden):
    # tanh keeps the function smooth, so the finite differences never straddle a ReLU kink;
    # distinct inputs keep max/min away from ties.
    graph = tiny_graph(rng)
    x = distinct_features(rng, NUM_NODES, IN)
    model = GNNStack(IN, hidden, OUT, conv=conv, aggr=aggr, activation="tanh", dropout=0.0, rng=1,
                     dtype=np.float64, conv_kwargs={"train_eps": True} if conv == "gin" else None)
    check_module_grad(WithInputGrad(model), graph, x, rtol=1e-5, atol=1e-7)


def test_relu_gcn_gradients_through_the_loss(rng):
    """The training objective itself: cross-entropy on a mask, through a ReLU GCN."""
    from fastgnn.losses import cross_entropy

    graph = tiny_graph(rng)
    x = distinct_features(rng, NUM_NODES, IN)
    y = rng.integers(0, OUT, NUM_NODES)
    mask = np.zeros(NUM_NODES, dtype=bool)
    mask[[0, 3, 5, 6]] = True
    model = GCN(IN, 6, OUT, dropout=0.0, rng=3, dtype=np.float64)
    model.zero_grad()
    _, grad = cross_entropy(model(graph, x), y, mask)
    grad_x = model.backward(grad, need_input_grad=True)
    arrays = [x] + [p.data for p in model.parameters()]
    grads = [grad_x] + [p.grad.copy() for p in model.parameters()]
    check_grad(lambda: cross_entropy(model(graph, x), y, mask)[0], arrays, grads)


@pytest.mark.parametrize("conv", CONVS)
def test_shapes_dtype_and_no_input_grad_by_default(rng, conv):
    graph = tiny_graph(rng)
    x = rng.standard_normal((NUM_NODES, IN)).astype(np.float32)
    model = GNNStack(IN, 8, OUT, conv=conv, rng=0)
    out = model(graph, x)
    assert out.shape == (NUM_NODES, OUT) and out.dtype == np.float32
    assert model.backward(np.ones_like(out)) is None
    assert all(np.isfinite(p.grad).all() for p in model.parameters())
    assert any(np.any(p.grad != 0) for p in model.first_layer_parameters())
    assert not model.has_cache()            # the backward released everything (dropout masks too)


@pytest.mark.parametrize("hidden,num_layers,widths", [
    (16, None, [5, 16, 3]),
    (16, 1, [5, 3]),
    (16, 4, [5, 16, 16, 16, 3]),
    ([32, 8], None, [5, 32, 8, 3]),
    (None, 1, [5, 3]),
])
def test_layer_widths(hidden, num_layers, widths):
    model = GNNStack(IN, hidden, OUT, num_layers, conv="sage", rng=0)
    assert model.num_layers == len(widths) - 1 == len(model.convs) == len(model.dropouts)
    assert len(model.activations) == model.num_layers - 1
    for layer, conv in enumerate(model.convs):
        assert (conv.in_channels, conv.out_channels) == (widths[layer], widths[layer + 1])


def test_named_models_and_their_defaults():
    gcn = GCN(IN, out_channels=OUT)
    assert gcn.conv == "gcn" and gcn.hidden_channels == [16] and gcn.dropout == gcn.input_dropout == 0.5
    assert isinstance(gcn.convs[0], nn.GCNConv)
    sage = GraphSAGE(IN, out_channels=OUT)
    assert sage.aggr == "mean" and sage.hidden_channels == [64] and isinstance(sage.convs[1], nn.SAGEConv)
    gin = GIN(IN, out_channels=OUT)
    assert isinstance(gin.convs[0], nn.GINConv)
    assert gin.convs[0].nn.channels == [IN, 64, 64] and gin.convs[1].nn.channels == [64, 64, OUT]
    graphconv = GraphConvNet(IN, out_channels=OUT, aggr="max")
    assert graphconv.aggr == "max" and isinstance(graphconv.convs[0], nn.GraphConv)
    assert isinstance(build_model("sage", IN, OUT, hidden_channels=8, aggr="max"), GraphSAGE)


@pytest.mark.parametrize("kwargs,message", [
    (dict(conv="transformer"), "conv must be one of"),
    (dict(conv="gcn", aggr="max"), "always sums"),
    (dict(conv="sage", aggr="median"), "aggr must be one of"),
    (dict(conv="gcn", dropout=1.0), "dropout"),
    (dict(conv="gcn", num_layers=0), "num_layers"),
])
def test_bad_construction(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GNNStack(IN, 4, OUT, **kwargs)


def test_unknown_model_name():
    with pytest.raises(ValueError, match="model must be one of"):
        build_model("transformer", IN, OUT)


def test_feature_width_mismatch_names_in_channels(rng):
    graph = tiny_graph(rng)
    model = GCN(IN, 4, OUT, rng=0)
    with pytest.raises(ValueError, match="in_channels"):
        model(graph, np.zeros((NUM_NODES, IN + 1), dtype=np.float32))


def test_first_layer_parameter_groups():
    model = GCN(IN, 4, OUT, rng=0)
    groups = model.parameter_groups(5e-4)
    first = {id(p) for p in model.convs[0].parameters()}
    assert {id(p) for p in groups[0]["params"]} == first and groups[0]["weight_decay"] == 5e-4
    assert not first & {id(p) for p in groups[1]["params"]} and groups[1]["weight_decay"] == 0.0
    assert len(groups[0]["params"]) + len(groups[1]["params"]) == len(model.parameters())
    everything = model.parameter_groups(1e-3, first_layer_only=False)
    assert len(everything) == 1 and len(everything[0]["params"]) == len(model.parameters())
    Adam(groups, lr=0.01)                                   # accepted by the optimizer


def test_eval_mode_is_deterministic_and_caches_nothing(rng):
    graph = tiny_graph(rng)
    x = rng.standard_normal((NUM_NODES, IN)).astype(np.float32)
    model = GCN(IN, 8, OUT, dropout=0.5, rng=0).eval()
    np.testing.assert_array_equal(model(graph, x), model(graph, x))
    assert not model.has_cache()
    model.train()
    assert not np.array_equal(model(graph, x), model(graph, x))   # dropout draws new masks


def test_seeded_models_are_reproducible(rng):
    graph = tiny_graph(rng)
    x = rng.standard_normal((NUM_NODES, IN)).astype(np.float32)
    first, second = GIN(IN, 8, OUT, rng=5), GIN(IN, 8, OUT, rng=5)
    np.testing.assert_array_equal(first(graph, x), second(graph, x))


@pytest.mark.parametrize("conv", CONVS)
def test_weights_round_trip_through_npz(tmp_path, rng, conv):
    graph = tiny_graph(rng)
    x = rng.standard_normal((NUM_NODES, IN)).astype(np.float32)
    trained = GNNStack(IN, 8, OUT, conv=conv, rng=1).eval()
    path = tmp_path / "weights.npz"
    config = {"model": conv, "hidden": 8}
    save_weights(trained, str(path), config)
    fresh = GNNStack(IN, 8, OUT, conv=conv, rng=2).eval()
    assert not np.array_equal(fresh(graph, x), trained(graph, x))
    load_weights(fresh, str(path), config)
    np.testing.assert_array_equal(fresh(graph, x), trained(graph, x))
    with pytest.raises(ValueError, match="another architecture"):
        load_weights(fresh, str(path), {"model": conv, "hidden": 16})
