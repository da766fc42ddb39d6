"""GINConv: mlp((1 + eps) x_i + sum_j x_j)."""
import numpy as np
import pytest

from fastgnn import nn
from fastgnn.testing import check_module_grad
from nn_cases import dense_adjacency, random_graph


class Cube(nn.Module):
    """A non-Sequential 'mlp' (the layer cannot move a linear part before the sum)."""

    def forward(self, x):
        self._save_for_backward(x)
        return x ** 3

    def backward(self, grad_out):
        (x,) = self._saved_for_backward()
        return 3 * x ** 2 * grad_out


def reference(layer, graph, x_src, x_dst):
    eps = float(np.ravel(layer.eps.data if layer.train_eps else layer.eps)[0])
    h = dense_adjacency(graph) @ x_src + (1 + eps) * x_dst
    layer.nn.eval()
    out = layer.nn(h)
    layer.nn.train()
    return out


@pytest.mark.parametrize("hidden", [3, 9])  # narrower than the input: the linear part moves first
@pytest.mark.parametrize("train_eps", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_forward_and_gradients(rng, hidden, train_eps, weighted):
    graph = random_graph(rng, 12, weighted=weighted)
    x = rng.standard_normal((12, 6))
    layer = nn.GINConv(nn.MLP([6, hidden, 4], rng=0, dtype=np.float64), eps=0.25, train_eps=train_eps)
    np.testing.assert_allclose(layer(graph, x), reference(layer, graph, x, x), atol=1e-12)
    check_module_grad(layer, graph, x)
    names = [name for name, _ in layer.named_parameters()]
    assert ("eps" in names) == train_eps


@pytest.mark.parametrize("hidden", [3, 9])
def test_bipartite_pair(rng, hidden):
    graph = random_graph(rng, 10, 6)
    x_src, x_dst = rng.standard_normal((10, 5)), rng.standard_normal((6, 5))
    layer = nn.GINConv(nn.MLP([5, hidden, 2], rng=0, dtype=np.float64), eps=-0.5, train_eps=True)
    np.testing.assert_allclose(layer(graph, (x_src, x_dst)), reference(layer, graph, x_src, x_dst), atol=1e-12)
    check_module_grad(layer, graph, (x_src, x_dst))


def test_any_module_as_mlp(rng):
    graph = random_graph(rng, 8)
    x = rng.standard_normal((8, 3))
    layer = nn.GINConv(Cube(), eps=0.1, train_eps=True, dtype=np.float64)
    np.testing.assert_allclose(layer(graph, x), (dense_adjacency(graph) @ x + 1.1 * x) ** 3, atol=1e-12)
    check_module_grad(layer, graph, x)


def test_both_paths_agree(rng, monkeypatch):
    """Moving the first Linear before the sum changes nothing but the cost."""
    graph = random_graph(rng, 12, weighted=True)
    x = rng.standard_normal((12, 6))
    grad_out = rng.standard_normal((12, 2))
    results = []
    for transform_first in (True, False):
        layer = nn.GINConv(nn.MLP([6, 3, 2], rng=0, dtype=np.float64), eps=0.3, train_eps=True)
        assert layer._transforms_first()
        monkeypatch.setattr(layer, "_transforms_first", lambda value=transform_first: value)
        out = layer(graph, x)
        grad_x = layer.backward(grad_out)
        results.append([out, grad_x] + [p.grad.copy() for p in layer.parameters()])
    for first, second in zip(*results):
        np.testing.assert_allclose(first, second, rtol=1e-10, atol=1e-12)


def test_bad_inputs(rng):
    graph = random_graph(rng, 8)
    layer = nn.GINConv(nn.MLP([6, 4, 2], rng=0))
    with pytest.raises(ValueError, match="x has 5 features but the layer expects 6"):
        layer(graph, np.ones((8, 5), np.float32))
    with pytest.raises(TypeError, match="mlp must be a fastgnn.nn.Module"):
        nn.GINConv(lambda x: x)
