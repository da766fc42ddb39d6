"""Element-wise activations. Each keeps the dtype of its input.

Each caches only its *output* for the backward (which the next layer
usually holds anyway), so an activation adds no memory of its own.
"""
import numpy as np

from fastgnn._runtime.numerics import sigmoid
from fastgnn.nn.utils import as_float_array, as_grad
from fastgnn.nn.module import Module

__all__ = ["Identity", "ReLU", "LeakyReLU", "ELU", "Tanh", "Sigmoid", "get_activation"]


class Identity(Module):
    """``y = x`` (a placeholder, e.g. for "no normalization")."""

    def forward(self, x):
        """Return ``x`` unchanged."""
        self._save_for_backward(True)
        return x

    def backward(self, grad_out):
        """Return ``grad_out`` unchanged."""
        self._saved_for_backward()
        return grad_out


class ReLU(Module):
    """``y = max(x, 0)``; the gradient at 0 is 0 (as PyTorch)."""

    def forward(self, x):
        """Element-wise ``max(x, 0)``."""
        y = np.maximum(as_float_array(x, "x", "ReLU"), 0)
        self._save_for_backward(y)
        return y

    def backward(self, grad_out):
        """``grad_out · [y > 0]`` (a NaN or infinite ``grad_out`` propagates even where ``y = 0``)."""
        (y,) = self._saved_for_backward()
        grad_out = as_grad(grad_out, y.shape, type(self).__name__)
        # A multiply by the mask is several times faster than np.where on large arrays.
        return np.multiply(grad_out, y > 0, dtype=y.dtype)


class LeakyReLU(Module):
    """``y = x`` for ``x > 0``, else ``negative_slope · x``.

    Parameters
    ----------
    negative_slope : float
        Non-negative slope for negative inputs (default 0.01, as PyTorch).
    """

    def __init__(self, negative_slope=0.01):
        super().__init__()
        negative_slope = float(negative_slope)
        if not negative_slope >= 0:
            raise ValueError(f"negative_slope must be >= 0, got {negative_slope}")
        self.negative_slope = negative_slope

    def forward(self, x):
        """Element-wise leaky rectifier."""
        x = as_float_array(x, "x", "LeakyReLU")
        y = np.where(x > 0, x, x * x.dtype.type(self.negative_slope))
        self._save_for_backward(y)
        return y

    def backward(self, grad_out):
        """``grad_out`` where ``x > 0``, else ``negative_slope · grad_out``."""
        (y,) = self._saved_for_backward()
        grad_out = as_grad(grad_out, y.shape, type(self).__name__)
        slope = y.dtype.type(self.negative_slope)
        return np.where(y > 0, grad_out, grad_out * slope).astype(y.dtype, copy=False)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class ELU(Module):
    """``y = x`` for ``x > 0``, else ``alpha · (exp(x) - 1)``.

    Parameters
    ----------
    alpha : float
        Positive scale of the negative part (default 1).
    """

    def __init__(self, alpha=1.0):
        super().__init__()
        alpha = float(alpha)
        if not alpha > 0:
            raise ValueError(f"alpha must be > 0, got {alpha}")
        self.alpha = alpha

    def forward(self, x):
        """Element-wise exponential linear unit."""
        x = as_float_array(x, "x", "ELU")
        alpha = x.dtype.type(self.alpha)
        y = np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))
        self._save_for_backward(y)
        return y

    def backward(self, grad_out):
        """``grad_out`` where ``x > 0``, else ``(y + alpha) · grad_out``."""
        (y,) = self._saved_for_backward()
        grad_out = as_grad(grad_out, y.shape, type(self).__name__)
        alpha = y.dtype.type(self.alpha)
        return np.where(y > 0, grad_out, grad_out * (y + alpha)).astype(y.dtype, copy=False)

    def extra_repr(self):
        return f"alpha={self.alpha}"


class Tanh(Module):
    """``y = tanh(x)``; ``dy/dx = 1 - y²``."""

    def forward(self, x):
        """Element-wise hyperbolic tangent."""
        y = np.tanh(as_float_array(x, "x", "Tanh"))
        self._save_for_backward(y)
        return y

    def backward(self, grad_out):
        """``grad_out · (1 - y²)``."""
        (y,) = self._saved_for_backward()
        grad_out = as_grad(grad_out, y.shape, type(self).__name__)
        return (grad_out * (1 - y * y)).astype(y.dtype, copy=False)


class Sigmoid(Module):
    """``y = 1 / (1 + exp(-x))`` (computed without overflow); ``dy/dx = y (1 - y)``."""

    def forward(self, x):
        """Element-wise logistic function."""
        y = sigmoid(as_float_array(x, "x", "Sigmoid"))
        self._save_for_backward(y)
        return y

    def backward(self, grad_out):
        """``grad_out · y · (1 - y)``."""
        (y,) = self._saved_for_backward()
        grad_out = as_grad(grad_out, y.shape, type(self).__name__)
        return (grad_out * y * (1 - y)).astype(y.dtype, copy=False)


_ACTIVATIONS = {
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "elu": ELU,
    "tanh": Tanh,
    "sigmoid": Sigmoid,
    "identity": Identity,
    "linear": Identity,
}


def get_activation(activation):
    """An activation module from a name, a Module class, a Module, or None (identity).

    Parameters
    ----------
    activation : str, type, Module or None
        One of ``'relu'``, ``'leaky_relu'``, ``'elu'``, ``'tanh'``,
        ``'sigmoid'``, ``'identity'``; a Module subclass (instantiated with
        no arguments); or a Module instance (returned as is).
    """
    if activation is None:
        return Identity()
    if isinstance(activation, Module):
        return activation
    if isinstance(activation, type) and issubclass(activation, Module):
        return activation()
    if isinstance(activation, str):
        key = activation.lower().replace("-", "_")
        if key in _ACTIVATIONS:
            return _ACTIVATIONS[key]()
        raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
    raise TypeError(f"activation must be a name, a Module class or a Module, got {type(activation).__name__}")
