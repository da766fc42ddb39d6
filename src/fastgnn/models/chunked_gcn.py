r"""A two-layer GCN for full-batch training of graphs whose activations do not fit in memory.

:class:`ChunkedGCN` computes Kipf and Welling's model

.. math::

    Z = \hat A\, \mathrm{dropout}(\sigma(\hat A X W_1^T + b_1))\, W_2^T + b_2

row chunk by row chunk, recomputing the hidden layer in the backward
instead of storing it (activation checkpointing). No ``N x hidden`` array
and no normalized copy of the graph ever exists: the largest arrays are two
``N x out`` ones (the class scores and one gradient), besides the graph and
the features themselves.
"""
import numpy as np

from fastgnn._runtime.validate import check_float_dtype
from fastgnn.graph import Graph
from fastgnn.models.normalized_rows import GCNPropagation, row_chunks
from fastgnn.nn import init
from fastgnn.nn import matmul, matmul_tn
from fastgnn.nn.conv.gcn_conv import GCNConv
from fastgnn.nn.dropout import Dropout
from fastgnn.nn.module import Module, Sequential
from fastgnn.nn.utils import as_layer_input, positive_int
from fastgnn.ops.dense import ACTIVATIONS, bias_act_dropout, bias_act_dropout_backward

__all__ = ["ChunkedGCN"]


class ChunkedGCN(Module):
    r"""Two-layer GCN trained full-batch in row chunks, recomputing the hidden layer (no ``N x hidden`` array).

    The same model as ``GCN(in_channels, hidden_channels, out_channels,
    input_dropout=0.0)``: same parameters (``convs.0.lin.weight``,
    ``convs.0.bias``, ``convs.1...``: state dicts load into each other),
    same initial weights for the same ``rng``, same dropout masks, and the
    same logits and gradients up to rounding.

    Parameters
    ----------
    in_channels, hidden_channels, out_channels : int
    dropout : float in [0, 1)
        On the hidden layer. There is no input dropout: dropping features
        before the first aggregation would need a dropped copy of ``X``.
    activation : str
        One of :data:`fastgnn.ops.ACTIVATIONS` (default ``'relu'``).
    bias : bool
    chunk_size : int
        Rows per chunk (default 65,536). Memory per chunk is about
        ``chunk_size · (in + 3 · hidden + out)`` values plus the chunk's
        edges; the results do not depend on it, except for the summation
        order of the weight gradients (fixed for a given ``chunk_size``).
    symmetric : bool or None
        Whether the graph equals its reverse (``A = Aᵀ``, an undirected
        graph), so that the backward's ``Âᵀ`` is ``Â``. None (default)
        checks each new graph once (exact; it compares in- and out-degrees
        first, then, only if they agree, the rows of the transposed CSR,
        which exists during the check).
    cache_transpose : bool
        For a graph that is not symmetric, the backward needs the
        transposed CSR (``E + N`` indices, plus ``E`` weights if weighted).
        By default it is built in each backward and released after it
        (``O(E)`` time, ``2 E`` indices at the moment it is built, while no
        ``N x out`` array but the gradient exists); True keeps it between
        steps (faster, more memory at the forward's peak).
    rng : numpy.random.Generator, int or None
        Initial weights (as :class:`GCN` draws them), then the dropout masks.
    dtype : float32 or float64

    Attributes
    ----------
    convs : Sequential of two GCNConv
        Hold the parameters (their own forward is not used).
    dropouts : Sequential of two Dropout
        ``dropouts[1]`` draws the hidden layer's mask keys (``dropouts[0]``
        has ``p = 0``; it mirrors GCN's input dropout).

    Notes
    -----
    Forward, for each chunk ``c`` of rows: ``A1_c = (Â X)[c]`` (gathered,
    ``in`` values per edge: aggregation before the product since ``in`` is
    the narrower side), ``H_c = dropout(act(A1_c W_1^T + b_1))``,
    ``P[c] = H_c W_2^T``; then ``Z = Â P + b_2``, and ``P`` is released.
    The dropout mask is keyed by ``(seed, global row, column)``
    (:func:`fastgnn.ops.bias_act_dropout` with ``row_ids``), so the
    backward recomputes it, and it is the mask GCN's fused step draws.

    Backward, per chunk: ``dP[c] = (Âᵀ dZ)[c]`` (``Â`` itself on a
    symmetric graph), ``A1_c`` and ``H_c`` recomputed, ``dW_2 += H_cᵀ dP[c]``,
    ``dZ_1 = (dP[c] W_2 ⊙ mask) act'``, ``dW_1 += dZ_1ᵀ A1_c``; the chunk
    sums are added in chunk order, so results are bitwise identical for
    any thread count.

    Memory (float32, ``N`` nodes): two ``N x out`` arrays at the peak
    (``Z`` and ``P`` in the forward; in the backward only ``dZ``: drop the
    logits before calling :meth:`backward`, as
    :func:`fastgnn.train.train_node_classifier` does), ``O(N)`` scaling
    vectors, and the chunk's arrays. Time: the aggregation over ``X``
    (``in`` values per edge) runs twice per training step (forward and
    recomputation), the one over the ``out``-wide arrays twice; cost
    ``O(E · (2 in + 2 out) + N · hidden · (3 in + 3 out))`` per step.
    """

    def __init__(self, in_channels, hidden_channels, out_channels, *, dropout=0.5, activation="relu", bias=True,
                 chunk_size=1 << 16, symmetric=None, cache_transpose=False, rng=None, dtype=np.float32):
        super().__init__()
        self.in_channels = positive_int(in_channels, "in_channels")
        self.hidden_channels = positive_int(hidden_channels, "hidden_channels")
        self.out_channels = positive_int(out_channels, "out_channels")
        self.chunk_size = positive_int(chunk_size, "chunk_size")
        self.dtype = check_float_dtype(dtype)
        dropout = float(dropout)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(repr(a) for a in ACTIVATIONS)}, "
                             f"got {activation!r}")
        if symmetric is not None and not isinstance(symmetric, (bool, np.bool_)):
            raise TypeError(f"symmetric must be True, False or None, got {type(symmetric).__name__}")
        self.activation = activation
        self.symmetric = symmetric
        self.cache_transpose = bool(cache_transpose)
        self.dropout = dropout
        rng = init.as_rng(rng)
        self.convs = Sequential(
            GCNConv(self.in_channels, self.hidden_channels, bias=bias, rng=rng, dtype=self.dtype),
            GCNConv(self.hidden_channels, self.out_channels, bias=bias, rng=rng, dtype=self.dtype))
        self.dropouts = Sequential(Dropout(0.0, rng=rng), Dropout(dropout, rng=rng))
        self._propagation = None

    # ------------------------------------------------------------------ the graph's normalization
    def propagation(self, graph):
        """The :class:`~fastgnn.models.normalized_rows.GCNPropagation` of ``graph`` (kept while the same graph is passed)."""
        if self._propagation is None or self._propagation.graph is not graph:
            self._propagation = None        # release the old one first
            self._propagation = GCNPropagation(graph, self.dtype, self.symmetric, self.chunk_size,
                                               self.cache_transpose)
        return self._propagation

    def _clear_extra_cache(self):
        self._propagation = None

    # ------------------------------------------------------------------ computation
    def _hidden(self, propagation, x, start, stop, seed, n_threads):
        """``(A1_c, H_c, state)`` of the rows ``[start, stop)``: the input aggregate and the hidden layer.

        The dropout mask of row ``i`` is keyed as row ``i`` of the whole
        ``N x hidden`` array (``row_ids``), so it does not depend on the
        chunks and the backward recomputes it.
        """
        first = self.convs[0]
        aggregated = propagation.rows(x, start, stop, n_threads=n_threads)
        z = matmul(aggregated, first.lin.weight.data.T)
        bias = None if first.bias is None else first.bias.data
        training = seed is not None
        hidden, state = bias_act_dropout(z, bias, self.activation, p=self.dropout if training else 0.0,
                                         seed=seed if training else 0, training=training, inplace=True,
                                         row_ids=np.arange(start, stop, dtype=np.int64) if training else None,
                                         n_threads=n_threads)
        return aggregated, hidden, state

    def forward(self, graph, x, *, n_threads=None):
        """Class scores (logits) of every node.

        Parameters
        ----------
        graph : Graph
            Square (the whole graph).
        x : ndarray (num_nodes, in_channels)
            Cast to the model's dtype (no copy when it already is, C-contiguous).
        n_threads : int, optional
            The kernels' threads (default: :func:`fastgnn.get_num_threads`).

        Returns
        -------
        ndarray (num_nodes, out_channels)
        """
        if not isinstance(graph, Graph):
            raise TypeError(f"ChunkedGCN: graph must be a fastgnn.Graph (the whole graph), got "
                            f"{type(graph).__name__}")
        propagation = self.propagation(graph)
        x = as_layer_input(x, "x", self.in_channels, self.dtype, "ChunkedGCN", graph.num_nodes)
        training = self.training
        seed = self.dropouts[1].draw_seed() if training and self.dropout > 0 else None
        second = self.convs[1]
        projected = np.empty((graph.num_nodes, self.out_channels), dtype=self.dtype)
        for start, stop in row_chunks(graph.num_nodes, self.chunk_size):
            _, hidden, _ = self._hidden(propagation, x, start, stop, seed, n_threads)
            matmul(hidden, second.lin.weight.data.T, out=projected[start:stop])
        logits = propagation.apply(projected, n_threads=n_threads)
        del projected
        if second.bias is not None:
            logits += second.bias.data
        self._save_for_backward(propagation, x, seed, n_threads)
        return logits

    def backward(self, grad_out, need_input_grad=False):
        """Accumulate every parameter's gradient from ``grad_out = dL/d logits``.

        Parameters
        ----------
        grad_out : ndarray (num_nodes, out_channels)
            Not modified. No other ``N x out`` array is made (the caller may
            drop its logits before the call).
        need_input_grad : bool
            Also return ``dL/dx`` (an ``N x in`` array; not needed to train).

        Returns
        -------
        ndarray (num_nodes, in_channels) or None
        """
        propagation, x, seed, n_threads = self._saved_for_backward()
        second = self.convs[1]
        n = propagation.num_nodes
        grad_out = np.ascontiguousarray(grad_out, dtype=self.dtype)
        if grad_out.shape != (n, self.out_channels):
            raise ValueError(f"ChunkedGCN.backward: grad_out must have shape ({n}, {self.out_channels}), "
                             f"got {grad_out.shape}")
        if second.bias is not None and second.bias.requires_grad:
            second.bias.grad += grad_out.sum(axis=0)
        with propagation.holding_transpose():
            return self._backward_chunks(propagation, x, seed, grad_out, need_input_grad, n_threads)

    def _backward_chunks(self, propagation, x, seed, grad_out, need_input_grad, n_threads):
        """The backward below the output bias: ``dP = Âᵀ dZ`` a chunk at a time, then the hidden layer's."""
        first, second = self.convs[0], self.convs[1]
        n = propagation.num_nodes
        grad_w2 = np.zeros_like(second.lin.weight.data)
        grad_w1 = np.zeros_like(first.lin.weight.data)
        grad_b1 = None if first.bias is None else np.zeros_like(first.bias.data)
        grad_aggregated = np.empty((n, self.in_channels), dtype=self.dtype) if need_input_grad else None
        for start, stop in row_chunks(n, self.chunk_size):
            aggregated, hidden, state = self._hidden(propagation, x, start, stop, seed, n_threads)
            grad_rows = propagation.rows(grad_out, start, stop, transpose=True, n_threads=n_threads)
            grad_w2 += matmul_tn(grad_rows, hidden)
            del hidden          # the state may hold it (ReLU's derivative is read from it): no writes
            grad_hidden = matmul(grad_rows, second.lin.weight.data)
            grad_z, grad_bias = bias_act_dropout_backward(grad_hidden, state, need_bias_grad=grad_b1 is not None,
                                                          out=grad_hidden, n_threads=n_threads)
            if grad_b1 is not None:
                grad_b1 += grad_bias
            grad_w1 += matmul_tn(grad_z, aggregated)
            if need_input_grad:
                matmul(grad_z, first.lin.weight.data, out=grad_aggregated[start:stop])
        if second.lin.weight.requires_grad:
            second.lin.weight.grad += grad_w2
        if first.lin.weight.requires_grad:
            first.lin.weight.grad += grad_w1
        if grad_b1 is not None and first.bias.requires_grad:
            first.bias.grad += grad_b1
        if not need_input_grad:
            return None
        return propagation.apply(grad_aggregated, transpose=True, n_threads=n_threads)

    def parameter_groups(self, weight_decay, first_layer_only=True):
        """Optimizer groups with weight decay on the first layer (or every layer), as :meth:`GCN.parameter_groups`."""
        if not first_layer_only:
            return [{"params": self.parameters(), "weight_decay": float(weight_decay)}]
        return [{"params": self.convs[0].parameters(), "weight_decay": float(weight_decay)},
                {"params": self.convs[1].parameters(), "weight_decay": 0.0}]

    def extra_repr(self):
        return (f"widths=[{self.in_channels}, {self.hidden_channels}, {self.out_channels}], "
                f"dropout={self.dropout}, activation={self.activation!r}, chunk_size={self.chunk_size}")
