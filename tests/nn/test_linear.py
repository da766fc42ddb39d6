import numpy as np
import pytest

from fastgnn import nn
from fastgnn.testing import check_module_grad


def test_forward_is_affine(rng):
    layer = nn.Linear(5, 3, rng=0, dtype=np.float64)
    layer.bias.data[...] = [1.0, -2.0, 0.5]
    x = rng.standard_normal((4, 5))
    np.testing.assert_allclose(layer(x), x @ layer.weight.data.T + layer.bias.data)
    assert layer.weight.shape == (3, 5)


@pytest.mark.parametrize("bias", [True, False])
def test_gradients(rng, bias):
    check_module_grad(nn.Linear(5, 3, bias=bias, rng=0, dtype=np.float64), rng.standard_normal((4, 5)))


def test_backward_closed_form(rng):
    layer = nn.Linear(5, 3, rng=0, dtype=np.float64)
    x, grad_out = rng.standard_normal((4, 5)), rng.standard_normal((4, 3))
    layer(x)
    grad_x = layer.backward(grad_out)
    np.testing.assert_allclose(grad_x, grad_out @ layer.weight.data)
    np.testing.assert_allclose(layer.weight.grad, grad_out.T @ x)
    np.testing.assert_allclose(layer.bias.grad, grad_out.sum(0))


def test_skipping_the_input_gradient_keeps_parameter_gradients(rng):
    layer = nn.Linear(5, 3, rng=0, dtype=np.float64)
    x, grad_out = rng.standard_normal((4, 5)), rng.standard_normal((4, 3))
    layer(x)
    assert layer.backward(grad_out, need_input_grad=False) is None
    np.testing.assert_allclose(layer.weight.grad, grad_out.T @ x)


def test_dtypes(rng):
    layer = nn.Linear(5, 3, rng=0)
    x32 = rng.standard_normal((4, 5)).astype(np.float32)
    assert layer(x32).dtype == np.float32
    # Another float dtype is computed in the layer's dtype.
    assert layer(x32.astype(np.float64)).dtype == np.float32
    assert layer.backward(np.ones((4, 3))).dtype == np.float32
    with pytest.raises(TypeError, match="float"):
        layer(np.ones((4, 5), dtype=np.int64))


def test_width_mismatch_names_the_input():
    layer = nn.Linear(5, 3)
    with pytest.raises(ValueError, match=r"Linear: x has 4 features but the layer expects 5"):
        layer(np.ones((2, 4), np.float32))
    with pytest.raises(ValueError, match="2-D"):
        layer(np.ones(5, np.float32))
    with pytest.raises(ValueError, match="in_features"):
        nn.Linear(0, 3)


def test_empty_batch():
    layer = nn.Linear(5, 3)
    out = layer(np.zeros((0, 5), np.float32))
    assert out.shape == (0, 3)
    assert layer.backward(np.zeros((0, 3), np.float32)).shape == (0, 5)
