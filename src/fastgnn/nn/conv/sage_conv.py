"""GraphSAGE's layer: ``out = W_l AGG_j x_j + W_r x_i``."""
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

__all__ = ["SAGEConv"]

_NORM_EPS = 1e-12


class SAGEConv(OutputBias, Module):
    r"""The GraphSAGE operator of Hamilton et al. (PyG's ``SAGEConv``).

    .. math::

        h_i' = W_l \, \mathrm{AGG}_{j \to i} \, w_{ji} x_j + b + W_r x_i,
        \qquad h_i' \leftarrow h_i' / \max(\lVert h_i' \rVert_2, 10^{-12})
        \text{ with ``normalize``}

    ``lin_l`` (with the bias) transforms the aggregated neighbours,
    ``lin_r`` (no bias) the destination node's own features.

    Parameters
    ----------
    in_channels : int or (int, int)
        Input width, or ``(source width, destination width)``.
    out_channels : int
    aggr : {'mean', 'max', 'min', 'sum', 'add'}
    root_weight : bool
        Add ``lin_r(x_i)``; without it the layer only aggregates neighbours.
    normalize : bool
        L2-normalise each output row (the gradient goes through it).
    bias : bool
    rng : numpy.random.Generator, int or None
        Glorot-uniform weights (``lin_l`` first); zero bias.
    dtype : float32 or float64
    cache_input_aggregation : bool
        For a first layer whose input features never change (full-batch
        training without input dropout, and evaluation): compute
        ``AGG(x)`` once and reuse it, so that the layer is one product
        ``[AGG(x) | x] [W_l | W_r]^T`` with no aggregation, forward or
        backward. Used only for a read-only ``x`` (``x.flags.writeable =
        False``, and no writeable array it is a view of) passed again as
        the same object with the same graph object; any other input is
        aggregated as usual, every call. Holds an ``(N, 2 in)`` array
        (``(N, in)`` without ``root_weight``) until :meth:`clear_cache`.

    Notes
    -----
    Call as ``layer(graph, x)`` or ``layer(graph, (x_src, x_dst))`` for a
    bipartite graph; the backward returns ``dL/dx`` or the pair
    ``(dL/dx_src, dL/dx_dst)`` (a zero ``dL/dx_dst`` when ``root_weight``
    is False).

    Mean and sum aggregation apply ``W_l`` first when ``out < in`` (the
    aggregation then moves ``out`` values per edge); when ``x`` is at least
    four times wider than the output, in one product with ``W_r``
    (``x [W_l; W_r]^T`` reads ``x`` once, forward and backward, into a
    scratch array the layer reuses from call to call). Max and min are not
    linear and aggregate the input features. Cost
    ``O(E · min(in, out) + N · in · out)`` for mean/sum,
    ``O(E · in + N · in · out)`` for max/min.
    """

    #: Every read of the source rows goes through ``aggregate`` or ``transform_sources``, which compute
    #: the rows a graph's pending-sources barrier marks ready before waiting for the others.
    honours_pending_sources = True

    def __init__(self, in_channels, out_channels, aggr="mean", root_weight=True, normalize=False, bias=True,
                 *, rng=None, dtype=np.float32, cache_input_aggregation=False):
        super().__init__()
        self.in_channels = in_channels
        self.in_src, self.in_dst = channels_pair(in_channels)
        self.out_channels = positive_int(out_channels, "out_channels")
        self.aggr = check_aggr(aggr, ("mean", "max", "min", "sum"), "SAGEConv")
        self.root_weight = bool(root_weight)
        self.normalize = bool(normalize)
        self.dtype = check_float_dtype(dtype)
        self.lin_l = Linear(self.in_src, self.out_channels, bias=bias, rng=rng, dtype=self.dtype)
        self.lin_r = (Linear(self.in_dst, self.out_channels, bias=False, rng=rng, dtype=self.dtype)
                      if self.root_weight else None)
        self.cache_input_aggregation = check_cache_flag(cache_input_aggregation, "SAGEConv")
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
        fused = self.lin_r is not None and fuses_root(self.aggr, self.in_src, self.out_channels, x_src, is_pair)
        if cacheable:
            self._input_cache = cached_input_aggregation(self._input_cache, graph, x, x_src, self.aggr,
                                                         with_root=self.lin_r is not None)
            out = cached_linear_aggregate(self._input_cache, self.lin_l, self.lin_r,
                                          add_bias=not self._bias_handed_over)
            saved = ("cached", self._input_cache)
        elif fused:
            out, saved = root_linear_aggregate(graph, x_src, self.lin_l, self.lin_r, self.aggr, self.training,
                                               self._workspace, add_bias=not self._bias_handed_over)
            saved = ("fused", saved)
        else:
            out, saved = linear_aggregate(graph, x_src, self.lin_l, self.aggr, self.training,
                                          add_bias=not self._bias_handed_over, workspace=self._workspace)
            if self.lin_r is not None:
                self.lin_r.forward_add(x_dst, out)
        norm = None
        if self.normalize:
            norm = np.sqrt(np.einsum("ij,ij->i", out, out))
            np.maximum(norm, _NORM_EPS, out=norm)
            out /= norm[:, None]
        dst_shape = x_dst.shape if is_pair else None
        self._save_for_backward(graph, saved, is_pair, dst_shape, out if self.normalize else None, norm)
        return out

    def backward(self, grad_out, need_input_grad=True):
        """Accumulate the parameter gradients; return ``dL/dx`` (a pair for pair input, None if not needed)."""
        graph, saved, is_pair, dst_shape, normalized, norm = self._saved_for_backward()
        grad_out = as_grad_out(grad_out, (graph.num_dst_nodes, self.out_channels), self.dtype,
                               type(self).__name__)
        if self.normalize:
            # y = h / n with n = max(|h|, eps): dL/dh = (G - y <G, y>) / n where |h| > eps, else G / eps.
            projection = np.einsum("ij,ij->i", grad_out, normalized)
            projection[norm <= _NORM_EPS] = 0
            grad_out = (grad_out - normalized * projection[:, None]) / norm[:, None]
        if saved[0] == "fused":
            return root_linear_aggregate_backward(graph, grad_out, self.lin_l, self.lin_r, self.aggr, saved[1],
                                                  need_input_grad, self._workspace,
                                                  bias_grad=not self._bias_handed_over)
        if saved[0] == "cached":
            return cached_linear_aggregate_backward(saved[1], grad_out, self.lin_l, self.lin_r, need_input_grad,
                                                    bias_grad=not self._bias_handed_over)
        grad_src = linear_aggregate_backward(graph, grad_out, self.lin_l, self.aggr, saved, need_input_grad,
                                             bias_grad=not self._bias_handed_over, workspace=self._workspace)
        grad_dst = None
        if self.lin_r is not None:
            grad_dst = self.lin_r.backward(grad_out, need_input_grad=need_input_grad)
        if not need_input_grad:
            return None
        if is_pair:
            return grad_src, (grad_dst if grad_dst is not None else np.zeros(dst_shape, dtype=self.dtype))
        if grad_dst is not None:
            grad_src += grad_dst
        return grad_src

    def _output_bias(self):
        # With normalize the bias comes before the row normalization: it cannot move past it.
        return None if self.normalize else self.lin_l.bias

    def _output_is_free(self):
        return not self.normalize       # normalize keeps its output for the backward

    def extra_repr(self):
        cached = ", cache_input_aggregation=True" if self.cache_input_aggregation else ""
        return (f"{self.in_channels}, {self.out_channels}, aggr={self.aggr!r}, root_weight={self.root_weight}, "
                f"normalize={self.normalize}{cached}")


register_conv(
    "sage", SAGEConv, aggrs=("mean", "max", "min", "sum"), default_aggr="mean",
    description="GraphSAGE (Hamilton et al., 2017): root weight plus aggregated neighbours",
    node_defaults=dict(hidden=64, layers=2, dropout=0.5, lr=0.01, weight_decay=5e-4, decay="all", bias=True,
                       early_stopping="patience", patience=50, epochs=200))
