"""The seed's graph layer: ``h_i' = W1 h_i + W2 AGG_{j in N(i)} h_j``."""
import numpy as np

from fastgnn._runtime.validate import check_float_dtype
from fastgnn.nn.utils import Workspace, channels_pair, positive_int, split_input
from fastgnn.nn.conv._input_cache import (cacheable_input, cached_input_aggregation, cached_linear_aggregate,
                                          cached_linear_aggregate_backward, check_cache_flag)
from fastgnn.nn.conv._propagate import (OutputBias, as_grad_out, check_aggr, fuses_root, linear_aggregate,
                                        linear_aggregate_backward, root_linear_aggregate,
                                        root_linear_aggregate_backward)
from fastgnn.nn.linear import Linear
from fastgnn.nn.module import Module
from fastgnn.nn.conv.registry import register_conv

__all__ = ["GraphConv"]


class GraphConv(OutputBias, Module):
    r"""Graph convolution of Morris et al. (PyG's ``GraphConv``).

    .. math::

        h_i' = W_1 h_i + W_2 \, \mathrm{AGG}_{j \to i} \, w_{ji} h_j + b

    ``W_2`` and ``b`` form ``lin_rel`` (applied to the aggregated
    neighbours), ``W_1`` is ``lin_root`` (applied to the destination node's
    own features, no bias). Edge weights of the graph, when present,
    multiply the messages.

    Parameters
    ----------
    in_channels : int or (int, int)
        Input width, or ``(source width, destination width)`` for a
        bipartite graph.
    out_channels : int
    aggr : {'sum', 'add', 'mean', 'max', 'min'}
    bias : bool
    rng : numpy.random.Generator, int or None
        Glorot-uniform initial weights (``lin_rel`` drawn first); zero bias.
    dtype : float32 or float64
    cache_input_aggregation : bool
        For a first layer whose input features never change: compute
        ``AGG(x)`` once and reuse it, the layer then being one product
        ``[AGG(x) | x] [W_2 | W_1]^T`` with no aggregation (as
        :class:`~fastgnn.nn.SAGEConv`'s option of the same name: only for a
        read-only ``x`` passed again as the same object with the same graph).

    Notes
    -----
    Call as ``layer(graph, x)`` with ``x`` of shape (N, in) on a square
    graph, or ``layer(graph, (x_src, x_dst))`` on a bipartite one; the
    backward returns ``dL/dx``, or ``(dL/dx_src, dL/dx_dst)`` for a pair.

    For sum and mean with ``out < in``, ``W_2`` is applied before
    aggregating (``AGG(x) W^T = AGG(x W^T)``), so the aggregation moves
    ``out`` values per edge; for inputs at least four times wider than the
    output, in one product with ``W_1`` (``x [W_2; W_1]^T`` reads ``x`` once,
    forward and backward). Max and min are not linear and always
    aggregate the input features (their backward keeps the winning edge of
    each output element). Cost ``O(E · min(in, out) + N · in · out)`` for
    sum/mean, ``O(E · in + N · in · out)`` for max/min.
    """

    #: Every read of the source rows goes through ``aggregate`` or ``transform_sources``, which compute
    #: the rows a graph's pending-sources barrier marks ready before waiting for the others.
    honours_pending_sources = True

    def __init__(self, in_channels, out_channels, aggr="sum", bias=True, *, rng=None, dtype=np.float32,
                 cache_input_aggregation=False):
        super().__init__()
        self.in_channels = in_channels
        self.in_src, self.in_dst = channels_pair(in_channels)
        self.out_channels = positive_int(out_channels, "out_channels")
        self.aggr = check_aggr(aggr, ("sum", "mean", "max", "min"), "GraphConv")
        self.dtype = check_float_dtype(dtype)
        self.lin_rel = Linear(self.in_src, self.out_channels, bias=bias, rng=rng, dtype=self.dtype)
        self.lin_root = Linear(self.in_dst, self.out_channels, bias=False, rng=rng, dtype=self.dtype)
        self.cache_input_aggregation = check_cache_flag(cache_input_aggregation, "GraphConv")
        self._workspace = Workspace()
        self._input_cache = None

    def _clear_extra_cache(self):
        self._input_cache = None

    def forward(self, graph, x):
        """Apply the layer.

        Parameters
        ----------
        graph : Graph
        x : ndarray (num_nodes, in) or pair (x_src, x_dst)

        Returns
        -------
        ndarray (num_dst_nodes, out_channels)
        """
        name = type(self).__name__
        cacheable = cacheable_input(self.cache_input_aggregation, x)
        x_src, x_dst, is_pair = split_input(graph, x, self.in_src, self.in_dst, self.dtype, name)
        if cacheable:
            self._input_cache = cached_input_aggregation(self._input_cache, graph, x, x_src, self.aggr, with_root=True)
            out = cached_linear_aggregate(self._input_cache, self.lin_rel, self.lin_root,
                                          add_bias=not self._bias_handed_over)
            saved = ("cached", self._input_cache)
        elif fuses_root(self.aggr, self.in_src, self.out_channels, x_src, is_pair):
            out, saved = root_linear_aggregate(graph, x_src, self.lin_rel, self.lin_root, self.aggr, self.training,
                                               self._workspace, add_bias=not self._bias_handed_over)
            saved = ("fused", saved)
        else:
            out, saved = linear_aggregate(graph, x_src, self.lin_rel, self.aggr, self.training,
                                          add_bias=not self._bias_handed_over, workspace=self._workspace)
            self.lin_root.forward_add(x_dst, out)
        self._save_for_backward(graph, saved, is_pair)
        return out

    def backward(self, grad_out, need_input_grad=True):
        """Accumulate the parameter gradients; return ``dL/dx`` (a pair for pair input, None if not needed)."""
        graph, saved, is_pair = self._saved_for_backward()
        grad_out = as_grad_out(grad_out, (graph.num_dst_nodes, self.out_channels), self.dtype,
                               type(self).__name__)
        if saved[0] == "fused":
            return root_linear_aggregate_backward(graph, grad_out, self.lin_rel, self.lin_root, self.aggr, saved[1],
                                                  need_input_grad, self._workspace,
                                                  bias_grad=not self._bias_handed_over)
        if saved[0] == "cached":
            return cached_linear_aggregate_backward(saved[1], grad_out, self.lin_rel, self.lin_root,
                                                    need_input_grad, bias_grad=not self._bias_handed_over)
        grad_src = linear_aggregate_backward(graph, grad_out, self.lin_rel, self.aggr, saved, need_input_grad,
                                             bias_grad=not self._bias_handed_over, workspace=self._workspace)
        grad_dst = self.lin_root.backward(grad_out, need_input_grad=need_input_grad)
        if not need_input_grad:
            return None
        if is_pair:
            return grad_src, grad_dst
        grad_src += grad_dst
        return grad_src

    def _output_bias(self):
        return self.lin_rel.bias

    def extra_repr(self):
        cached = ", cache_input_aggregation=True" if self.cache_input_aggregation else ""
        return f"{self.in_channels}, {self.out_channels}, aggr={self.aggr!r}{cached}"


register_conv(
    "graphconv", GraphConv, aggrs=("sum", "mean", "max", "min"), default_aggr="sum",
    description="GraphConv (Morris et al., 2019): W1 h_i + W2 AGG_j h_j",
    node_defaults=dict(hidden=64, layers=2, dropout=0.5, lr=0.01, weight_decay=5e-4, decay="all", bias=True,
                       early_stopping="patience", patience=50, epochs=200))
