"""EncoderClassifier: a (frozen) encoder under a new head; gradients, frozen work skipped, fine-tuning."""
import numpy as np
import pytest

from fastgnn import Graph, nn
from fastgnn.losses import cross_entropy
from fastgnn.models import GAE, EncoderClassifier, GNNStack
from fastgnn.optim import Adam
from fastgnn.testing import check_module_grad


def _graph(rng, num_nodes=20):
    return Graph.from_edge_index(rng.integers(0, num_nodes, (2, 70)), num_nodes=num_nodes)


class _WithInputGrad(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, graph, x):
        return self.model(graph, x)

    def backward(self, grad):
        return self.model.backward(grad, need_input_grad=True)


@pytest.mark.parametrize("encoder", ["gae", "sage_stack"])
def test_gradients(rng, encoder):
    graph = _graph(rng)
    x = rng.standard_normal((20, 5))
    inner = (GAE(5, 6, 4, rng=0, dtype=np.float64) if encoder == "gae"
             else GNNStack(5, 6, 4, conv="sage", activation="tanh", dropout=0.0, rng=0, dtype=np.float64))
    head = nn.MLP([4, 5, 3], activation="tanh", rng=1, dtype=np.float64)  # smooth: no kink in the differences
    model = EncoderClassifier(inner, head)
    check_module_grad(_WithInputGrad(model), graph, x, rtol=1e-5, atol=1e-7)


def test_frozen_encoder_is_a_fixed_feature_extractor(rng, monkeypatch):
    graph = _graph(rng)
    x = rng.standard_normal((20, 5)).astype(np.float32)
    y = rng.integers(0, 3, 20)
    encoder = GAE(5, 6, 4, dropout=0.5, rng=0)
    model = EncoderClassifier(encoder, num_classes=3, rng=1).train()
    model.encoder.freeze()
    before = {name: p.data.copy() for name, p in model.encoder.named_parameters()}
    monkeypatch.setattr(encoder, "backward", lambda *a, **k: pytest.fail("frozen encoder ran its backward"))
    optimizer = Adam(model.parameters(), lr=0.05)
    eval_logits = model.eval()(graph, x)
    model.train()
    for _ in range(3):
        optimizer.zero_grad()
        logits = model(graph, x)
        loss, grad = cross_entropy(logits, y)
        model.backward(grad)
        optimizer.step()
    assert encoder.training, "the encoder's mode is restored"
    assert not encoder.has_cache()
    for name, param in model.encoder.named_parameters():
        np.testing.assert_array_equal(param.data, before[name], err_msg=name)
        assert not param.grad.any()
    assert not np.allclose(model.eval()(graph, x), eval_logits), "the head trained"


def test_unfrozen_encoder_trains_too(rng):
    graph = _graph(rng)
    x = rng.standard_normal((20, 5)).astype(np.float32)
    model = EncoderClassifier(GAE(5, 6, 4, rng=0), num_classes=3, rng=1)
    before = {name: p.data.copy() for name, p in model.encoder.named_parameters()}
    optimizer = Adam(model.parameters(), lr=0.05)
    _, grad = cross_entropy(model(graph, x), rng.integers(0, 3, 20))
    model.backward(grad)
    optimizer.step()
    assert all(not np.array_equal(p.data, before[name]) for name, p in model.encoder.named_parameters())


def test_bad_arguments():
    with pytest.raises(TypeError, match="encoder must be"):
        EncoderClassifier(object(), num_classes=2)
    with pytest.raises(ValueError, match="num_classes"):
        EncoderClassifier(GAE(3, 4, 2, rng=0))
    model = EncoderClassifier(GAE(3, 4, 2, rng=0), num_classes=5, hidden_channels=8, rng=0)
    assert [m.out_features for m in model.head[1] if isinstance(m, nn.Linear)] == [8, 5]
