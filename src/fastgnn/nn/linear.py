"""The affine layer."""
import numpy as np

from fastgnn._runtime.validate import check_float_dtype
from fastgnn.nn import init
from fastgnn.nn._matmul import matmul, matmul_tn
from fastgnn.nn.utils import as_grad, as_layer_input, positive_int
from fastgnn.nn.module import Module, Parameter

__all__ = ["Linear"]

# forward_add's product blocks: about 8 MiB of output rows (at least 2048: large enough to split across threads).
_ADD_BLOCK_BYTES = 8 << 20
_MIN_BLOCK_ROWS = 2048


class Linear(Module):
    """``y = x W^T + b``.

    Parameters
    ----------
    in_features, out_features : int
    bias : bool
        Learn an additive bias (initialised to zero).
    rng : numpy.random.Generator, int or None
        Source of the Glorot-uniform initial weights.
    dtype : float32 or float64
        Dtype of the parameters; inputs of another float dtype are cast to it.

    Attributes
    ----------
    weight : Parameter of shape (out_features, in_features)
        PyTorch's layout.
    bias : Parameter of shape (out_features,) or None

    Notes
    -----
    Forward ``O(N · in · out)``; the backward keeps the input ``x`` (a
    reference, no copy) and costs two matrix products, one when the input
    gradient is not needed.
    """

    def __init__(self, in_features, out_features, bias=True, *, rng=None, dtype=np.float32):
        super().__init__()
        self.in_features = positive_int(in_features, "in_features")
        self.out_features = positive_int(out_features, "out_features")
        self.dtype = check_float_dtype(dtype)
        self.weight = Parameter(init.glorot_uniform((self.out_features, self.in_features), rng, self.dtype))
        self.bias = Parameter(init.zeros(self.out_features, self.dtype)) if bias else None

    def reset_parameters(self, rng=None):
        """Re-draw the weight (Glorot uniform) and zero the bias."""
        self.weight.data[...] = init.glorot_uniform(self.weight.shape, rng, self.dtype)
        if self.bias is not None:
            self.bias.data.fill(0)

    def forward(self, x):
        """``x W^T + b`` for ``x`` of shape (N, in_features); returns (N, out_features)."""
        x = as_layer_input(x, "x", self.in_features, self.dtype, type(self).__name__)
        out = matmul(x, self.weight.data.T)
        if self.bias is not None:
            out += self.bias.data
        self._save_for_backward(x)
        return out

    def forward_add(self, x, out):
        """``out += x W^T + b`` in place, a block of rows at a time: the forward's result, never all of it at once.

        The backward is :meth:`backward`, as after :meth:`forward`. A layer
        adding a root term to its aggregated one (``out = AGG W_l^T + x W_r^T``)
        then holds one ``(N, out_features)`` array at its peak, not two.

        Parameters
        ----------
        x : ndarray (N, in_features)
        out : ndarray (N, out_features)
            Writeable, of the layer's dtype.

        Returns
        -------
        ndarray
            ``out``.
        """
        x = as_layer_input(x, "x", self.in_features, self.dtype, type(self).__name__)
        if out.shape != (x.shape[0], self.out_features) or out.dtype != self.dtype or not out.flags.writeable:
            raise ValueError(f"{type(self).__name__}.forward_add: out must be a writeable "
                             f"{np.dtype(self.dtype).name} array of shape {(x.shape[0], self.out_features)}, "
                             f"got {out.dtype} {out.shape}")
        rows = max(_MIN_BLOCK_ROWS, _ADD_BLOCK_BYTES // max(1, self.out_features * out.itemsize))
        block = np.empty((min(rows, x.shape[0]), self.out_features), dtype=out.dtype)
        weight = self.weight.data.T
        for start in range(0, x.shape[0], rows):
            stop = min(start + rows, x.shape[0])
            product = matmul(x[start:stop], weight, out=block[:stop - start])
            if self.bias is not None:
                product += self.bias.data           # as forward() rounds it, before the sum
            out[start:stop] += product
        self._save_for_backward(x)
        return out

    def backward(self, grad_out, need_input_grad=True):
        """Accumulate ``dL/dW = G^T x`` and ``dL/db = sum_rows G``; return ``G W`` (or None)."""
        (x,) = self._saved_for_backward()
        grad_out = as_grad(grad_out, (x.shape[0], self.out_features), type(self).__name__, self.dtype)
        if self.weight.requires_grad:
            self.weight.grad += matmul_tn(grad_out, x)
        if self.bias is not None and self.bias.requires_grad:
            self.bias.grad += grad_out.sum(axis=0)
        if not need_input_grad:
            return None
        return matmul(grad_out, self.weight.data)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")
