import numpy as np
import pytest

from fastgnn import nn
from fastgnn.testing import check_module_grad


class Scale(nn.Module):
    """A stand-in for a normalization layer: a learnable per-feature scale."""

    def __init__(self, width, dtype=np.float64):
        super().__init__()
        self.gamma = nn.Parameter(np.linspace(0.5, 1.5, width), dtype=dtype)

    def forward(self, x):
        self._save_for_backward(x)
        return x * self.gamma.data

    def backward(self, grad_out):
        (x,) = self._saved_for_backward()
        self.gamma.grad += (grad_out * x).sum(0)
        return grad_out * self.gamma.data


def test_layer_structure():
    mlp = nn.MLP([8, 16, 16, 4], activation="elu", dropout=0.5, rng=0)
    kinds = [type(m).__name__ for m in mlp]
    assert kinds == ["Linear", "ELU", "Dropout", "Linear", "ELU", "Dropout", "Linear"]
    assert mlp.in_channels == 8 and mlp.out_channels == 4
    not_plain = nn.MLP([8, 4], activation="relu", plain_last=False, rng=0)
    assert [type(m).__name__ for m in not_plain] == ["Linear", "ReLU"]


def test_norm_hook_is_inserted_and_differentiated(rng):
    mlp = nn.MLP([5, 6, 3], activation="tanh", norm=Scale, rng=0, dtype=np.float64)
    assert [type(m).__name__ for m in mlp] == ["Linear", "Scale", "Tanh", "Linear"]
    check_module_grad(mlp, rng.standard_normal((7, 5)))


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "leaky_relu"])
def test_gradients(rng, activation):
    mlp = nn.MLP([5, 7, 6, 3], activation=activation, rng=1, dtype=np.float64)
    check_module_grad(mlp, rng.standard_normal((9, 5)))


def test_activation_instance_is_copied_per_layer():
    mlp = nn.MLP([3, 4, 4, 2], activation=nn.LeakyReLU(0.3), rng=0)
    activations = [m for m in mlp if isinstance(m, nn.LeakyReLU)]
    assert len(activations) == 2 and activations[0] is not activations[1]
    assert activations[1].negative_slope == 0.3


def test_dropout_per_layer_and_errors():
    mlp = nn.MLP([3, 4, 4, 2], dropout=[0.1, 0.2], rng=0)
    assert [m.p for m in mlp if isinstance(m, nn.Dropout)] == [0.1, 0.2]
    with pytest.raises(ValueError, match="dropout"):
        nn.MLP([3, 4, 4, 2], dropout=[0.1, 0.2, 0.3, 0.4])
    with pytest.raises(ValueError, match="at least"):
        nn.MLP([3])
    with pytest.raises(ValueError, match="x has 4 features but the layer expects 3"):
        nn.MLP([3, 2])(np.ones((2, 4), np.float32))
