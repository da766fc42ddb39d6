"""Linear.forward_add: out += x W^T + b a block of rows at a time, as out += forward(x)."""
import numpy as np
import pytest

import fastgnn.nn.linear as linear_module
from fastgnn.nn import Linear


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bias", [True, False])
def test_forward_add_equals_adding_the_forward(monkeypatch, dtype, bias):
    monkeypatch.setattr(linear_module, "_ADD_BLOCK_BYTES", 64)     # blocks of _MIN_BLOCK_ROWS rows
    monkeypatch.setattr(linear_module, "_MIN_BLOCK_ROWS", 7)
    rng = np.random.default_rng(0)
    layer = Linear(5, 4, bias=bias, rng=1, dtype=dtype)
    if bias:
        layer.bias.data[...] = rng.standard_normal(4)
    x = rng.standard_normal((30, 5)).astype(dtype)[::-1]          # strided input
    start = rng.standard_normal((30, 4)).astype(dtype)
    want = start + layer(x)
    grad = rng.standard_normal((30, 4)).astype(dtype)
    want_input_grad = layer.backward(grad)
    want_weight_grad = layer.weight.grad.copy()
    layer.zero_grad()
    out = start.copy()
    assert layer.forward_add(x, out) is out
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(layer.backward(grad), want_input_grad)
    np.testing.assert_array_equal(layer.weight.grad, want_weight_grad)


def test_forward_add_checks_out():
    layer = Linear(3, 2, rng=0)
    x = np.ones((4, 3), np.float32)
    for out in (np.zeros((4, 3), np.float32), np.zeros((4, 2), np.float64), np.zeros((5, 2), np.float32)):
        with pytest.raises(ValueError, match="out must be"):
            layer.forward_add(x, out)
    frozen = np.zeros((4, 2), np.float32)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        layer.forward_add(x, frozen)
