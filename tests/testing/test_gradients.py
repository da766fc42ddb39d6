"""fastgnn.testing.check_module_grad catches wrong gradients."""
import numpy as np
import pytest

from fastgnn import nn
from fastgnn.testing import check_module_grad


class WrongInputGradient(nn.Linear):
    def backward(self, grad_out, need_input_grad=True):
        return 1.01 * super().backward(grad_out)


class WrongWeightGradient(nn.Linear):
    def backward(self, grad_out, need_input_grad=True):
        grad = super().backward(grad_out)
        self.weight.grad[0, 0] += 1e-3
        return grad


def test_accepts_a_correct_module(rng):
    assert check_module_grad(nn.Linear(3, 2, rng=0, dtype=np.float64), rng.standard_normal((4, 3))) < 1e-7


@pytest.mark.parametrize("module_class", [WrongInputGradient, WrongWeightGradient])
def test_rejects_a_wrong_gradient(rng, module_class):
    with pytest.raises(AssertionError, match="differs"):
        check_module_grad(module_class(3, 2, rng=0, dtype=np.float64), rng.standard_normal((4, 3)),
                          max_elements=None)


def test_requires_float64_parameters(rng):
    with pytest.raises(TypeError, match="float64"):
        check_module_grad(nn.Linear(3, 2, rng=0), rng.standard_normal((4, 3)))
