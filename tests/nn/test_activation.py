import numpy as np
import pytest
from scipy.special import expit

from fastgnn import nn
from fastgnn.testing import check_module_grad

CASES = {
    "relu": (nn.ReLU, lambda x: np.maximum(x, 0)),
    "leaky_relu": (lambda: nn.LeakyReLU(0.2), lambda x: np.where(x > 0, x, 0.2 * x)),
    "elu": (lambda: nn.ELU(1.5), lambda x: np.where(x > 0, x, 1.5 * (np.exp(x) - 1))),
    "tanh": (nn.Tanh, np.tanh),
    "sigmoid": (nn.Sigmoid, lambda x: 1 / (1 + np.exp(-x))),
    "identity": (nn.Identity, lambda x: x),
}


@pytest.fixture(params=sorted(CASES))
def activation(request):
    return CASES[request.param]


def test_forward_matches_formula(rng, activation):
    make, formula = activation
    x = rng.standard_normal((6, 4)) * 3
    np.testing.assert_allclose(make()(x), formula(x), rtol=1e-12)


def test_gradients(rng, activation):
    make, _ = activation
    x = rng.standard_normal((6, 4)) * 3
    x[np.abs(x) < 1e-3] = 0.5  # away from the kink at 0
    check_module_grad(make(), x)


def test_keeps_float32(rng, activation):
    make, _ = activation
    module = make()
    y = module(rng.standard_normal((3, 2)).astype(np.float32))
    assert y.dtype == np.float32
    assert module.backward(np.ones((3, 2), np.float32)).dtype == np.float32


def test_eval_caches_nothing(rng, activation):
    make, _ = activation
    module = make().eval()
    module(rng.standard_normal((3, 2)))
    assert not module.has_cache()
    with pytest.raises(RuntimeError, match="eval mode"):
        module.backward(np.ones((3, 2)))


def test_relu_gradient_at_zero_is_zero():
    relu = nn.ReLU()
    relu(np.array([[-1.0, 0.0, 2.0]]))
    np.testing.assert_array_equal(relu.backward(np.ones((1, 3))), [[0.0, 0.0, 1.0]])


def test_sigmoid_and_elu_do_not_overflow():
    x = np.array([[-1000.0, 1000.0]])
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        np.testing.assert_array_equal(nn.Sigmoid()(x), expit(x))
        np.testing.assert_array_equal(nn.ELU()(x), [[-1.0, 1000.0]])


def test_get_activation():
    assert isinstance(nn.get_activation("relu"), nn.ReLU)
    assert isinstance(nn.get_activation("Leaky-ReLU"), nn.LeakyReLU)
    assert isinstance(nn.get_activation(nn.Tanh), nn.Tanh)
    assert isinstance(nn.get_activation(None), nn.Identity)
    elu = nn.ELU()
    assert nn.get_activation(elu) is elu
    with pytest.raises(ValueError, match="activation must be one of"):
        nn.get_activation("swish")
    with pytest.raises(ValueError, match="negative_slope"):
        nn.LeakyReLU(-1)
