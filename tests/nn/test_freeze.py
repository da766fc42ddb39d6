"""Module.freeze / unfreeze / requires_grad_: frozen parameters get no gradient work and no update."""
import numpy as np
import pytest

from fastgnn import Graph, nn
from fastgnn.losses import cross_entropy
from fastgnn.models import GNNStack
from fastgnn.optim import SGD, Adam


def _graph_and_features(rng, num_nodes=30, width=6):
    edge_index = rng.integers(0, num_nodes, (2, 120))
    return Graph.from_edge_index(edge_index, num_nodes=num_nodes), rng.standard_normal((num_nodes, width)).astype(
        np.float32)


def _snapshot(model):
    return {name: param.data.copy() for name, param in model.named_parameters()}


def test_freeze_sets_requires_grad_everywhere():
    model = nn.MLP([4, 8, 3], rng=0)
    assert model.is_trainable()
    assert model.freeze() is model
    assert not model.is_trainable()
    assert not any(param.requires_grad for param in model.parameters())
    model.unfreeze()
    assert all(param.requires_grad for param in model.parameters())
    model[0].requires_grad_(False)
    assert model.is_trainable() and not model[0].is_trainable()


@pytest.mark.parametrize("optimizer", [lambda p: SGD(p, lr=0.1, momentum=0.9, weight_decay=0.1),
                                       lambda p: Adam(p, lr=0.1, weight_decay=0.1)])
def test_frozen_parameters_never_change(rng, optimizer):
    graph, x = _graph_and_features(rng)
    model = GNNStack(6, [8, 8], 3, conv="sage", rng=0)
    model.convs[0].freeze()
    frozen = {name: value for name, value in _snapshot(model).items() if name.startswith("convs.0.")}
    opt = optimizer(model.parameters())
    y = rng.integers(0, 3, graph.num_nodes)
    for _ in range(3):
        model.zero_grad()
        _, grad = cross_entropy(model(graph, x), y)
        model.backward(grad)
        opt.step()
    after = _snapshot(model)
    params = dict(model.named_parameters())
    for name, value in frozen.items():
        np.testing.assert_array_equal(after[name], value, err_msg=name)
        assert not params[name].grad.any(), f"{name} is frozen: no gradient is computed for it"
    initial = _snapshot(GNNStack(6, [8, 8], 3, conv="sage", rng=0))
    assert all(not np.array_equal(after[name], initial[name]) for name in after if name not in frozen)


def test_frozen_bottom_layers_run_no_backward(rng, monkeypatch):
    graph, x = _graph_and_features(rng)
    model = GNNStack(6, [8, 8], 3, conv="gcn", rng=0)
    model.convs[0].freeze()
    model.convs[1].freeze()

    def must_not_run(*args, **kwargs):
        raise AssertionError("a frozen layer at the bottom of the stack ran its backward")

    monkeypatch.setattr(model.convs[0], "backward", must_not_run)
    monkeypatch.setattr(model.convs[1], "backward", must_not_run)
    _, grad = cross_entropy(model(graph, x), rng.integers(0, 3, graph.num_nodes))
    model.backward(grad)
    assert all(param.grad.any() for param in model.convs[2].parameters() if param.size > 1)
    assert not model.has_cache(), "the frozen layers' saved values are released"
    for param in model.convs[0].parameters():
        assert not param.grad.any()


def test_sequential_stops_at_the_lowest_trainable_module(rng, monkeypatch):
    model = nn.Sequential(nn.Linear(4, 5, rng=0), nn.ReLU(), nn.Linear(5, 2, rng=1))
    model[0].freeze()
    calls = []
    original = model[2].backward

    def spy(grad, need_input_grad=True):
        calls.append(need_input_grad)
        return original(grad, need_input_grad=need_input_grad)

    monkeypatch.setattr(model[0], "backward", lambda *a, **k: pytest.fail("frozen first module ran backward"))
    monkeypatch.setattr(model[2], "backward", spy)
    out = model(rng.standard_normal((7, 4)).astype(np.float32))
    assert model.backward(np.ones_like(out), need_input_grad=False) is None
    assert calls == [False], "the last trainable module is asked for no input gradient"
    assert not model.has_cache()
