"""Batch normalization over rows (nodes or graphs): :class:`BatchNorm`."""
import numpy as np

from fastgnn._runtime.validate import check_float_dtype
from fastgnn.nn import init
from fastgnn.nn.utils import as_grad, as_layer_input, positive_int
from fastgnn.nn.module import Module, Parameter

__all__ = ["BatchNorm"]


class BatchNorm(Module):
    r"""Batch normalization of each feature column (PyTorch's ``BatchNorm1d``, PyG's ``BatchNorm``).

    In training mode, with the batch statistics of the ``N`` rows,

    .. math::

        \mu = \frac{1}{N} \sum_i x_i, \quad \sigma^2 = \frac{1}{N} \sum_i (x_i - \mu)^2, \quad
        y_i = \gamma \, \frac{x_i - \mu}{\sqrt{\sigma^2 + \epsilon}} + \beta

    and the running statistics move towards them:
    ``running = (1 - momentum) · running + momentum · batch`` (the running
    variance takes the unbiased ``σ² N / (N - 1)``). In eval mode the running
    statistics replace the batch's.

    Parameters
    ----------
    num_features : int
        Width of the input.
    eps : float
        Added to the variance.
    momentum : float or None
        Weight of the new batch in the running statistics; None keeps the
        cumulative average of all batches seen.
    affine : bool
        Learn ``γ`` (``weight``, ones) and ``β`` (``bias``, zeros).
    track_running_stats : bool
        Keep running statistics; without them eval mode uses the batch's too.
    dtype : float32 or float64

    Attributes
    ----------
    weight, bias : Parameter (num_features,) or None
    running_mean, running_var : ndarray (num_features,)
        Buffers (saved in the state dict).
    num_batches_tracked : ndarray (1,) of int64
        Training-mode forwards seen (drives ``momentum=None``).

    Notes
    -----
    Rows are nodes (inside a GIN MLP) or graphs (after a readout). Training
    mode needs at least two rows, as in PyTorch. The backward keeps the
    centred input ``x - μ`` and ``1 / sqrt(σ² + ε)`` and returns

    .. math::

        \frac{\partial L}{\partial x_i} = \frac{1}{N \sqrt{\sigma^2 + \epsilon}}
        \Big(N g_i - \sum_j g_j - \hat x_i \sum_j g_j \hat x_j\Big), \qquad g = \gamma \, G

    Cost ``O(N · d)`` forward and backward, one ``N × d`` array kept.
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True, *,
                 dtype=np.float32):
        super().__init__()
        self.num_features = positive_int(num_features, "num_features")
        self.eps = float(eps)
        if not self.eps >= 0:
            raise ValueError(f"eps must be >= 0, got {eps}")
        if momentum is not None:
            momentum = float(momentum)
            if not 0.0 <= momentum <= 1.0:
                raise ValueError(f"momentum must be in [0, 1] or None, got {momentum}")
        self.momentum = momentum
        self.affine = bool(affine)
        self.track_running_stats = bool(track_running_stats)
        self.dtype = check_float_dtype(dtype)
        if self.affine:
            self.weight = Parameter(init.ones(self.num_features, self.dtype))
            self.bias = Parameter(init.zeros(self.num_features, self.dtype))
        else:
            self.weight = None
            self.bias = None
        if self.track_running_stats:
            self.register_buffer("running_mean", np.zeros(self.num_features, dtype=self.dtype))
            self.register_buffer("running_var", np.ones(self.num_features, dtype=self.dtype))
            self.register_buffer("num_batches_tracked", np.zeros(1, dtype=np.int64))

    def reset_running_stats(self):
        """Zero the running mean, set the running variance to one, forget the batch count."""
        if self.track_running_stats:
            for buffer, value in ((self.running_mean, 0), (self.running_var, 1), (self.num_batches_tracked, 0)):
                buffer.fill(value)

    def forward(self, x):
        """Normalize ``x`` of shape (N, num_features); returns the same shape."""
        name = type(self).__name__
        x = as_layer_input(x, "x", self.num_features, self.dtype, name)
        use_batch_stats = self.training or not self.track_running_stats
        if not use_batch_stats:
            scale = 1.0 / np.sqrt(self.running_var + self.dtype.type(self.eps))
            shift = -self.running_mean * scale
            if self.affine:
                scale = scale * self.weight.data
                shift = shift * self.weight.data + self.bias.data
            out = x * scale
            out += shift
            return out
        num_rows = x.shape[0]
        if self.training and num_rows < 2:
            raise ValueError(f"{name}: training mode needs at least 2 rows to compute batch statistics, "
                             f"got {num_rows} (as PyTorch's BatchNorm1d)")
        mean = x.mean(axis=0)
        centered = x - mean
        var = np.einsum("ij,ij->j", centered, centered) / num_rows
        inv_std = (1.0 / np.sqrt(var + self.eps)).astype(self.dtype)
        if self.training and self.track_running_stats:
            self._update_running_stats(mean, var, num_rows)
        scale = inv_std * self.weight.data if self.affine else inv_std
        out = centered * scale
        if self.affine:
            out += self.bias.data
        self._save_for_backward(centered, inv_std)
        return out

    def _update_running_stats(self, mean, var, num_rows):
        # In place through local names: assigning to the attributes would unregister the buffers.
        count, running_mean, running_var = self.num_batches_tracked, self.running_mean, self.running_var
        count += 1
        momentum = (1.0 / float(count[0])) if self.momentum is None else self.momentum
        unbiased = var * (num_rows / (num_rows - 1))
        running_mean *= 1.0 - momentum
        running_mean += (momentum * mean).astype(self.dtype)
        running_var *= 1.0 - momentum
        running_var += (momentum * unbiased).astype(self.dtype)

    def backward(self, grad_out, need_input_grad=True):
        """Accumulate ``dL/dγ``, ``dL/dβ``; return ``dL/dx`` (None when not needed)."""
        centered, inv_std = self._saved_for_backward()
        grad_out = as_grad(grad_out, centered.shape, type(self).__name__, self.dtype)
        # Column sums of G and of G * x_hat (x_hat = centered * inv_std, never formed): one pass each.
        grad_sum = grad_out.sum(axis=0)
        grad_dot_normalized = np.einsum("ij,ij->j", grad_out, centered) * inv_std
        if self.affine:
            if self.weight.requires_grad:
                self.weight.grad += grad_dot_normalized
            if self.bias.requires_grad:
                self.bias.grad += grad_sum
        if not need_input_grad:
            return None
        # dL/dx = gamma * inv_std * (G - mean(G) - x_hat * mean(G * x_hat))
        num_rows = centered.shape[0]
        grad_x = centered * (grad_dot_normalized * inv_std / num_rows)
        np.subtract(grad_out, grad_x, out=grad_x)
        grad_x -= grad_sum / num_rows
        grad_x *= inv_std * self.weight.data if self.affine else inv_std
        return grad_x

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")
