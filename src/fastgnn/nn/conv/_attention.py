"""Private parts shared by the attention convolutions (:class:`GATConv`, :class:`GATv2Conv`).

- :func:`gat_self_loops`: PyG's self-loops of the GAT family (existing loops
  removed, one loop added per destination node);
- :class:`AttentionConv`: the common frame of a multi-head attention layer:
  the graph it attends over (cached per input graph), the counter-based
  attention-dropout key, the heads' concatenation or mean and its backward,
  the output bias, and the products ``x W^T (+ b)`` through the library's
  own :func:`~fastgnn.nn._matmul.matmul`.
"""
import numpy as np

from fastgnn._runtime.validate import check_float_dtype
from fastgnn.graph import Graph
from fastgnn.nn import init
from fastgnn.nn._matmul import matmul, matmul_tn
from fastgnn.nn.conv._propagate import OutputBias, as_grad_out
from fastgnn.nn.module import Module, Parameter
from fastgnn.nn.utils import check_graph, positive_int

__all__ = ["gat_self_loops", "AttentionConv", "attention_glorot"]


def gat_self_loops(graph):
    """``graph`` with its self-loops replaced by exactly one loop per node, as PyG's GAT layers.

    Every edge ``i -> i`` is removed, then the loop ``i -> i`` is added as the
    last edge of row ``i`` for every ``i < min(num_src_nodes, num_dst_nodes)``
    (PyG's ``remove_self_loops`` then ``add_self_loops(num_nodes=min(...))``;
    on a bipartite block whose destinations come first among its sources,
    each destination attends to its own source row). The other edges keep
    their order; edge weights are dropped (attention ignores them). The
    index dtype is kept when it is int64.

    Parameters
    ----------
    graph : Graph

    Returns
    -------
    Graph
        ``O(E + N)`` to build.
    """
    num_dst, num_src = graph.num_dst_nodes, graph.num_src_nodes
    num_loops = min(num_src, num_dst)
    dst = graph.destinations().astype(np.int64)
    src = graph.indices.astype(np.int64)
    keep = src != dst
    kept_dst, kept_src = dst[keep], src[keep]
    kept_counts = np.bincount(kept_dst, minlength=num_dst)
    counts = kept_counts.copy()
    counts[:num_loops] += 1
    indptr = np.zeros(num_dst + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    kept_starts = np.zeros(num_dst + 1, dtype=np.int64)
    np.cumsum(kept_counts, out=kept_starts[1:])
    indices = np.empty(int(indptr[-1]), dtype=np.int64)
    rank = np.arange(kept_dst.size, dtype=np.int64) - kept_starts[kept_dst]
    indices[indptr[kept_dst] + rank] = kept_src
    loops = np.arange(num_loops, dtype=np.int64)
    indices[indptr[loops + 1] - 1] = loops
    index_dtype = "int64" if graph.index_dtype == np.int64 else None
    return Graph.from_csr(indptr, indices, num_src_nodes=num_src, index_dtype=index_dtype)


def attention_glorot(heads, channels, rng, dtype):
    """An attention vector of shape ``(1, heads, channels)``, PyG's glorot: ``U(-a, a)``, ``a = sqrt(6 / (H + C))``."""
    bound = float(np.sqrt(6.0 / (heads + channels)))
    return init.uniform((1, heads, channels), -bound, bound, rng, dtype)


def check_probability(value, name, layer):
    value = float(value)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{layer}: {name} must be in [0, 1), got {value}")
    return value


class AttentionConv(OutputBias, Module):
    """The frame of a multi-head attention layer (subclasses define the parameters and the attention).

    Subclasses call :meth:`_setup` in their constructor, then create their
    parameters from :attr:`rng` and finish with :meth:`_finish_setup`
    (the output bias and the dropout key).
    """

    def _setup(self, in_channels, out_channels, heads, concat, negative_slope, dropout, add_self_loops, rng,
               dtype):
        name = type(self).__name__
        self.in_channels = in_channels
        self.out_channels = positive_int(out_channels, "out_channels")
        self.heads = positive_int(heads, "heads")
        self.concat = bool(concat)
        self.negative_slope = float(negative_slope)
        if not np.isfinite(self.negative_slope):
            raise ValueError(f"{name}: negative_slope must be finite, got {negative_slope}")
        self.dropout = check_probability(dropout, "dropout", name)
        self.add_self_loops = bool(add_self_loops)
        self.dtype = check_float_dtype(dtype)
        self._graph_cache = None
        return init.as_rng(rng)

    def _finish_setup(self, bias, rng):
        width = self.heads * self.out_channels if self.concat else self.out_channels
        self.bias = Parameter(init.zeros(width, self.dtype)) if bias else None
        #: The key of the attention-dropout masks: one 64-bit draw from the layer's generator.
        self.dropout_seed = int(rng.bit_generator.random_raw())
        #: The step of the next training-mode forward's mask (advanced by each one with dropout).
        self.dropout_step = 0

    # ------------------------------------------------------------------ the graph attended over
    def attention_graph(self, graph):
        """The graph this layer attends over: ``graph`` with one self-loop per node (``add_self_loops``).

        See :func:`gat_self_loops`. Built once per input graph: the last
        input graph and its result are kept (the graph is immutable) and
        served while the same graph object is passed again, with its
        cached transpose; :meth:`clear_cache` drops them.
        """
        check_graph(graph, type(self).__name__)
        cached = self._graph_cache
        if cached is not None and cached[0] is graph:
            return cached[1]
        if self.add_self_loops:
            result = gat_self_loops(graph)
        else:
            result = graph if graph.edge_weight is None else graph.with_edge_weight(None)
        self._graph_cache = (graph, result)
        return result

    def _clear_extra_cache(self):
        self._graph_cache = None

    def _dropout_key(self):
        """``(p, seed, step)`` of this forward's attention dropout (p = 0 in eval mode)."""
        if not self.training or self.dropout == 0.0:
            return 0.0, 0, 0
        step = self.dropout_step
        self.dropout_step = step + 1
        return self.dropout, self.dropout_seed, step

    # ------------------------------------------------------------------ heads
    def _combine_heads(self, out):
        """``(N, H, C)`` -> ``(N, H C)`` (concat) or the mean over heads ``(N, C)``; plus the bias."""
        if self.concat:
            result = out.reshape(out.shape[0], self.heads * self.out_channels)
        else:
            result = out.mean(axis=1) if self.heads > 1 else out.reshape(out.shape[0], self.out_channels)
        if self.bias is not None and not self._bias_handed_over:
            result += self.bias.data
        return result

    def _split_heads_grad(self, grad_out, num_dst):
        """The gradient of the ``(N, H, C)`` attention output from that of the layer's output."""
        width = self.heads * self.out_channels if self.concat else self.out_channels
        grad_out = as_grad_out(grad_out, (num_dst, width), self.dtype, type(self).__name__)
        if self.bias is not None and self.bias.requires_grad and not self._bias_handed_over:
            self.bias.grad += grad_out.sum(axis=0)
        if self.concat:
            return grad_out.reshape(num_dst, self.heads, self.out_channels)
        grad = np.empty((num_dst, self.heads, self.out_channels), dtype=self.dtype)
        grad[...] = grad_out[:, None, :]
        if self.heads > 1:
            grad *= self.dtype.type(1.0 / self.heads)
        return grad

    def _heads(self, array):
        """``(N, H C)`` -> ``(N, H, C)`` (a view)."""
        return array.reshape(array.shape[0], self.heads, self.out_channels)

    def _output_bias(self):
        return self.bias

    def _return_attention(self, out, graph, state, return_attention_weights):
        if not return_attention_weights:
            return out
        return out, (graph, state.alpha)


def project(x, linear):
    """``x W^T (+ b)`` with the weight (and bias) of the :class:`~fastgnn.nn.Linear` ``linear``."""
    out = matmul(x, linear.weight.data.T)
    if linear.bias is not None:
        out += linear.bias.data
    return out


def project_backward(grad, x, linear, need_input_grad):
    """Accumulate ``linear``'s gradients from ``grad`` = ``dL/d(x W^T + b)``; return ``dL/dx`` (or None)."""
    if linear.weight.requires_grad:
        linear.weight.grad += matmul_tn(grad, x)
    if linear.bias is not None and linear.bias.requires_grad:
        linear.bias.grad += grad.sum(axis=0)
    return matmul(grad, linear.weight.data) if need_input_grad else None


def stack_builder(cls):
    """The registry builder of an attention layer ``cls`` (:func:`fastgnn.nn.conv.register_conv`).

    In a stack of ``num_layers`` layers, every layer but the last has
    ``heads`` heads and concatenates them (its output is ``heads`` times
    the stack's hidden width, which the next layer takes as input); the last
    has ``output_heads`` heads and averages them, as Veličković et al. do
    for Cora (one output head). ``attention_dropout`` is the layer's
    ``dropout`` (of the attention coefficients); other options go to ``cls``.
    """
    def build(in_channels, out_channels, *, bias=True, rng=None, dtype=np.float32, layer=0, num_layers=1,
              activation=None, heads=1, output_heads=1, attention_dropout=0.0, **options):
        for name, value in (("heads", heads), ("output_heads", output_heads)):
            positive_int(value, name)
        last = layer == num_layers - 1
        width = in_channels if layer == 0 else in_channels * heads
        return cls(width, out_channels, heads=output_heads if last else heads, concat=not last,
                   dropout=attention_dropout, bias=bias, rng=rng, dtype=dtype, **options)

    build.__name__ = f"build_{cls.__name__}"
    build.__doc__ = f"One {cls.__name__} of a stack (see :func:`fastgnn.nn.conv._attention.stack_builder`)."
    return build


#: The node-classification defaults of the paper (Veličković et al., 2018, Cora): 8 heads of 8 units,
#: one averaged output head, ELU, dropout 0.6 on every layer's input and on the attention coefficients,
#: Adam lr 0.005, weight decay 5e-4 on every parameter, early stopping with patience 100.
PAPER_NODE_DEFAULTS = dict(hidden=8, layers=2, heads=8, output_heads=1, activation="elu", dropout=0.6,
                           attention_dropout=0.6, lr=0.005, weight_decay=5e-4, decay="all", bias=True,
                           early_stopping="patience", patience=100, epochs=1000)
