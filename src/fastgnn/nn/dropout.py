"""Inverted dropout."""
import numpy as np

from fastgnn.graph import SparseFeatures
from fastgnn.nn import init
from fastgnn.nn.utils import as_float_array, as_grad
from fastgnn.nn.module import Module

__all__ = ["Dropout"]


class Dropout(Module):
    """Zero each element with probability ``p`` and scale the rest by ``1 / (1 - p)``.

    The identity in eval mode (and when ``p == 0``), so no rescaling is
    needed at test time.

    Parameters
    ----------
    p : float in [0, 1]
        Probability of dropping an element.
    rng : numpy.random.Generator, int or None
        Source of the masks; a seeded Generator makes training reproducible.

    Attributes
    ----------
    rng : numpy.random.Generator
        May be replaced (e.g. re-seeded) between calls.

    Notes
    -----
    On :class:`~fastgnn.SparseFeatures` input the stored values are dropped
    (Kipf and Welling's sparse dropout): one mask value per stored value,
    the result a sparse matrix of the same pattern. Its backward returns the
    gradient with respect to the dense input: ``grad_out / (1 - p)``, zero at
    the cells whose stored value was dropped.

    The backward keeps one boolean mask (one byte per element). The mask
    compares 16-bit random integers with ``round(p · 2^16)``: four per
    draw of the bit generator, about three times faster than drawing one
    float per element; ``p`` is thereby rounded to a multiple of ``2^-16``.
    """

    def __init__(self, p=0.5, *, rng=None):
        super().__init__()
        p = float(p)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability p must be in [0, 1], got {p}")
        self.p = p
        self.rng = init.as_rng(rng)

    def forward(self, x):
        """``x · mask / (1 - p)`` in training mode, ``x`` in eval mode."""
        if isinstance(x, SparseFeatures):
            return self._forward_sparse(x)
        x = as_float_array(x, "x", "Dropout")
        if not self.training or self.p == 0.0:
            self._save_for_backward(None)
            return x
        if self.p == 1.0:
            mask = np.zeros(x.shape, dtype=bool)
            self._save_for_backward(mask)
            return np.zeros_like(x)
        mask = _keep_mask(self.rng, x.shape, self.p)
        out = x * mask
        out *= x.dtype.type(1.0 / (1.0 - self.p))
        self._save_for_backward(mask)
        return out

    def _forward_sparse(self, x):
        if not self.training or self.p == 0.0:
            self._save_for_backward(None)
            return x
        keep = _keep_mask(self.rng, (x.nnz,), self.p)
        data = x.data * keep
        data *= data.dtype.type(1.0 / (1.0 - self.p)) if self.p < 1.0 else 0
        self._save_for_backward(_SparseMask(x, keep))
        return x.with_data(data)

    def backward(self, grad_out):
        """``grad_out · mask / (1 - p)``."""
        (mask,) = self._saved_for_backward()
        if mask is None:
            return grad_out
        if isinstance(mask, _SparseMask):
            return mask.backward(grad_out, self.p, type(self).__name__)
        grad_out = as_grad(grad_out, mask.shape, type(self).__name__)
        if self.p == 1.0:
            return np.zeros_like(grad_out)
        grad = grad_out * mask
        grad *= grad.dtype.type(1.0 / (1.0 - self.p))
        return grad

    def extra_repr(self):
        return f"p={self.p}"


class _SparseMask:
    """What the backward of a sparse dropout needs: the pattern and which stored values were kept."""

    def __init__(self, x, keep):
        self.x, self.keep = x, keep

    def backward(self, grad_out, p, layer):
        grad_out = as_grad(grad_out, self.x.shape, layer)
        if p == 1.0:
            return np.zeros_like(grad_out)
        grad = grad_out * grad_out.dtype.type(1.0 / (1.0 - p))
        dropped = ~self.keep
        rows = self.x.graph.destinations()[dropped]
        grad[rows, self.x.indices[dropped]] = 0
        return grad


def _keep_mask(rng, shape, p):
    """A boolean array of ``shape``, each element True with probability ``1 - round(p · 2^16) / 2^16``.

    Draws ``ceil(size / 4)`` raw 64-bit values from ``rng``'s bit generator
    and reads them as 16-bit integers.
    """
    size = int(np.prod(shape, dtype=np.int64))
    threshold = int(round(p * 65536))
    if threshold >= 65536:
        return np.zeros(shape, dtype=bool)
    raw = rng.bit_generator.random_raw((size + 3) // 4)
    return (raw.view(np.uint16)[:size] >= np.uint16(threshold)).reshape(shape)
