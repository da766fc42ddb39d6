"""Inverted dropout, on dense arrays and on sparse input features."""
import numpy as np

from fastgnn.graph import SparseFeatures
from fastgnn.nn import init
from fastgnn.nn.utils import as_float_array, as_grad
from fastgnn.nn.module import Module
from fastgnn.ops.dense import bias_act_dropout, bias_act_dropout_backward, dropout_keep_flat

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
    Each training-mode call draws one 64-bit value from ``rng`` and keys the
    counter-based mask of :func:`fastgnn.ops.bias_act_dropout` with it: the
    keep flag of element ``c`` (row-major) is a hash of ``(key, c)``, so the
    mask is the same for any number of threads, and the backward
    recomputes it instead of storing it (no memory kept). ``p`` is rounded to
    a multiple of ``2^-32``.

    On :class:`~fastgnn.SparseFeatures` input the stored values are dropped
    (Kipf and Welling's sparse dropout): one flag per stored value, the
    result a sparse matrix of the same pattern. Its backward returns the
    gradient with respect to the dense input: ``grad_out / (1 - p)``, zero at
    the cells whose stored value was dropped.
    """

    def __init__(self, p=0.5, *, rng=None):
        super().__init__()
        p = float(p)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability p must be in [0, 1], got {p}")
        self.p = p
        self.rng = init.as_rng(rng)

    def draw_seed(self):
        """The key of the next mask: one 64-bit value drawn from :attr:`rng`."""
        return int(self.rng.bit_generator.random_raw())

    def forward(self, x, row_ids=None, out=None):
        """``x · mask / (1 - p)`` in training mode, ``x`` in eval mode.

        ``row_ids`` (int, one per row of a dense ``x``) keys row ``i``'s mask
        as row ``row_ids[i]`` of a larger array (e.g. global node ids, so a
        node's mask does not depend on where its row lies); see
        :func:`fastgnn.ops.bias_act_dropout`. Sparse input ignores it.
        ``out`` (a C-contiguous array of ``x``'s shape and dtype, sharing no
        memory with it) receives the dropped-out values of a dense ``x`` and
        is returned, instead of a new array (a caller's reused buffer: an
        array larger than the allocator's mmap threshold is otherwise
        page-faulted and zeroed anew every call); it is not touched when
        ``x`` itself is returned (eval mode, ``p == 0``).
        """
        if isinstance(x, SparseFeatures):
            return self._forward_sparse(x)
        x = as_float_array(x, "x", "Dropout")
        if not self.training or self.p == 0.0:
            self._save_for_backward(None)
            return x
        out, state = bias_act_dropout(x, activation="identity", p=self.p, seed=self.draw_seed(), row_ids=row_ids,
                                      out=out)
        self._save_for_backward(state)
        return out

    def _forward_sparse(self, x):
        if not self.training or self.p == 0.0:
            self._save_for_backward(None)
            return x
        keep = dropout_keep_flat(x.nnz, self.p, seed=self.draw_seed())
        data = x.data * keep
        data *= data.dtype.type(1.0 / (1.0 - self.p)) if self.p < 1.0 else 0
        self._save_for_backward(_SparseMask(x, keep))
        return x.with_data(data)

    def backward(self, grad_out):
        """``grad_out · mask / (1 - p)``."""
        (state,) = self._saved_for_backward()
        if state is None:
            return grad_out
        if isinstance(state, _SparseMask):
            return state.backward(grad_out, self.p, type(self).__name__)
        grad_out = as_grad(grad_out, state.shape, type(self).__name__)
        grad, _ = bias_act_dropout_backward(grad_out, state, need_bias_grad=False)
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
