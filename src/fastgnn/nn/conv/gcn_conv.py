"""Kipf and Welling's graph convolution: ``D^{-1/2} (A + I) D^{-1/2} X W``."""
import contextlib

import numpy as np

from fastgnn._runtime.validate import check_float_dtype
from fastgnn.graph.transforms import add_destination_self_loops
from fastgnn.nn import init
from fastgnn.nn.utils import as_layer_input, check_graph, positive_int
from fastgnn.nn.conv._input_cache import (InputAggregation, cacheable_input, cached_linear_aggregate,
                                          cached_linear_aggregate_backward, check_cache_flag)
from fastgnn.nn.conv._propagate import OutputBias, aggregate_transform, aggregate_transform_backward, as_grad_out
from fastgnn.nn.linear import Linear
from fastgnn.nn.module import Module, Parameter
from fastgnn.nn.conv.registry import register_conv

__all__ = ["GCNConv"]


class GCNConv(OutputBias, Module):
    r"""The graph convolution of Kipf and Welling (PyG's ``GCNConv``).

    .. math::

        X' = \hat D^{-1/2} (A + I) \hat D^{-1/2} X W^T + b

    with ``\hat D`` the (weighted) in-degree of ``A + I``; nodes of degree 0
    get weight 0. The graph's own edge weights, when present, are the
    entries of ``A``.

    Parameters
    ----------
    in_channels, out_channels : int
    add_self_loops : bool
        Add the loop ``i -> i`` to every node lacking one (square graphs only).
    normalize : bool
        Apply the symmetric normalization; without it the graph's weights
        (1 when absent) are used as they are.
    cached : bool
        Keep the normalized graph of the last input graph and reuse it while
        the same graph object (``is``) is passed again, as PyG's
        ``cached=True`` (for transductive training on one fixed graph).
        Unlike PyG, a different graph object is normalized anew rather than
        silently served the old one. :meth:`clear_cache` drops it.
    bias : bool
    rng : numpy.random.Generator, int or None
        Glorot-uniform weight; zero bias.
    dtype : float32 or float64
    cache_input_aggregation : bool
        For a first layer whose input features never change (full-batch
        training without input dropout, and evaluation): compute
        ``\hat A x`` once and reuse it (SGC's precomputation), the layer
        then being one product ``(\hat A x) W^T`` with no aggregation,
        forward or backward. Used only for a read-only ``x``
        (``x.flags.writeable = False``, and no writeable array it is a view
        of) passed again as the same object with the same graph object;
        any other input is aggregated as usual. Holds an ``(N, in)`` array
        until :meth:`clear_cache`.

    Attributes
    ----------
    lin : Linear
        Holds the weight ``W`` (out_channels, in_channels), no bias.
    bias : Parameter (out_channels,) or None

    Notes
    -----
    Call as ``layer(graph, x)``. On a bipartite graph (``num_src_nodes !=
    num_dst_nodes``) ``x`` holds the source features and the normalization
    is ``w_e / sqrt(deg_out(src) · deg_in(dst))`` with the block's own
    degrees (DGL's ``norm='both'``); ``add_self_loops`` adds the loop
    ``i -> i`` to every destination ``i``, which needs a block whose
    destination nodes come first among its sources (as sampled blocks do).
    On sampled blocks this is the sampled approximation of GCN (as DGL's
    and PyG's mini-batch GCN); :meth:`layerwise_source` gives layer-wise
    inference the whole graph's normalization. A
    pair ``(x_src, x_dst)`` is accepted for uniformity with the other
    layers; ``x_dst`` is not read and its gradient is zero.

    The aggregation is linear, so ``W`` is applied before aggregating when
    ``out < in`` (moving ``out`` values per edge), else after. Cost
    ``O(E · min(in, out) + N · in · out)``, plus ``O(E)`` for the
    normalization when not cached.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgnn import Graph
    >>> from fastgnn.nn import GCNConv
    >>> graph = Graph.from_edge_index(np.array([[0, 1, 2, 2], [1, 2, 0, 1]]), num_nodes=3)
    >>> layer = GCNConv(8, 4, rng=0)
    >>> out = layer(graph, np.ones((3, 8), dtype=np.float32))
    >>> out.shape, out.dtype
    ((3, 4), dtype('float32'))
    >>> grad_x = layer.backward(np.ones_like(out))     # fills layer.lin.weight.grad
    >>> grad_x.shape, layer.lin.weight.grad.shape
    ((3, 8), (4, 8))
    """

    def __init__(self, in_channels, out_channels, add_self_loops=True, normalize=True, cached=False,
                 bias=True, *, rng=None, dtype=np.float32, cache_input_aggregation=False):
        super().__init__()
        self.in_channels = positive_int(in_channels, "in_channels")
        self.out_channels = positive_int(out_channels, "out_channels")
        self.add_self_loops = bool(add_self_loops)
        self.normalize = bool(normalize)
        self.cached = bool(cached)
        self.dtype = check_float_dtype(dtype)
        self.lin = Linear(self.in_channels, self.out_channels, bias=False, rng=rng, dtype=self.dtype)
        self.bias = Parameter(init.zeros(self.out_channels, self.dtype)) if bias else None
        self.cache_input_aggregation = check_cache_flag(cache_input_aggregation, "GCNConv")
        self._cached_input = None
        self._cached_graph = None
        self._input_cache = None
        # No reused scratch for the product before the aggregation (SAGEConv has one): on large
        # graphs GCN's peak memory matters more than the page faults of a fresh array.

    def _clear_extra_cache(self):
        self._cached_input = None
        self._cached_graph = None
        self._input_cache = None

    def _enter_fixed_graph(self):
        # The graph is fixed: normalize it once (the cache is keyed by the graph object, so the
        # training subgraph and the full graph of inductive training never mix).
        if self.cached:
            return False
        self.cached = True
        return True

    def _exit_fixed_graph(self):
        self.cached = False
        self._clear_extra_cache()

    def normalized_graph(self, graph):
        """The graph this layer aggregates over: with self-loops and normalized weights as configured.

        Served from the cache when ``cached`` and ``graph`` is the graph of the
        previous call.
        """
        if self.cached and self._cached_input is graph and self._cached_graph is not None:
            return self._cached_graph
        if not graph.is_square and self.add_self_loops:
            if graph.num_src_nodes < graph.num_dst_nodes:
                raise ValueError(
                    f"GCNConv: add_self_loops=True needs a square graph or a block whose destinations come "
                    f"first among its sources, got {graph.num_src_nodes} source and {graph.num_dst_nodes} "
                    "destination nodes; pass add_self_loops=False")
            looped = add_destination_self_loops(graph)
            result = looped.gcn_norm(add_self_loops=False, dtype=self.dtype) if self.normalize else looped
        elif self.normalize:
            result = graph.gcn_norm(add_self_loops=self.add_self_loops, dtype=self.dtype)
        else:
            result = graph.add_self_loops() if self.add_self_loops else graph
        if self.cached:
            self._cached_input = graph
            self._cached_graph = result
        return result

    def layerwise_source(self, graph):
        """For layer-wise inference: the normalized ``graph`` and a context that uses its weights as given.

        Blocks cut from the returned graph carry the whole graph's GCN
        weights (degrees of the whole graph, self-loops added); inside the
        context this layer aggregates a block's weights as they are, so the
        result equals the full-graph forward.
        """
        normalized = self.normalized_graph(graph)
        return normalized, _weights_as_given(self)

    def forward(self, graph, x):
        """Apply the layer.

        Parameters
        ----------
        graph : Graph
        x : ndarray (num_src_nodes, in_channels), or a pair (x_src, x_dst)

        Returns
        -------
        ndarray (num_dst_nodes, out_channels)
        """
        name = type(self).__name__
        check_graph(graph, name)
        cacheable = cacheable_input(self.cache_input_aggregation, x)
        dst_shape = None
        if isinstance(x, (tuple, list)):
            if len(x) != 2:
                raise ValueError(f"{name}: x must be an array or a pair (x_src, x_dst), got {len(x)} items")
            x_dst = np.asarray(x[1])
            if x_dst.ndim != 2 or x_dst.shape[0] != graph.num_dst_nodes:
                raise ValueError(f"{name}: x_dst must have shape ({graph.num_dst_nodes}, d), got {x_dst.shape}")
            dst_shape = x_dst.shape
            x = x[0]
        x_src = as_layer_input(x, "x", self.in_channels, self.dtype, name, graph.num_src_nodes)
        if cacheable:
            cache = self._input_cache
            if cache is None or not cache.serves(graph, x):
                cache = InputAggregation(graph, x, x_src, "sum", with_root=False,
                                         aggregated=self.normalized_graph(graph))
            self._input_cache = cache
            out = cached_linear_aggregate(cache, self.lin, None)
            normalized, saved = cache.aggregated, ("cached", cache)
        else:
            normalized = self.normalized_graph(graph)
            if graph.discards_sources:      # the same sources, read once: the leave carries over
                normalized = normalized.with_discardable_sources()
            out, saved = aggregate_transform(normalized, x_src, self.lin.weight.data, "sum", self.training)
        if self.bias is not None and not self._bias_handed_over:
            out += self.bias.data
        self._save_for_backward(normalized, saved, dst_shape)
        return out

    def backward(self, grad_out, need_input_grad=True):
        """Accumulate the parameter gradients; return ``dL/dx`` (a pair for pair input, None if not needed)."""
        normalized, saved, dst_shape = self._saved_for_backward()
        grad_out = as_grad_out(grad_out, (normalized.num_dst_nodes, self.out_channels), self.dtype,
                               type(self).__name__)
        if self.bias is not None and self.bias.requires_grad and not self._bias_handed_over:
            self.bias.grad += grad_out.sum(axis=0)
        if saved[0] == "cached":
            grad_x = cached_linear_aggregate_backward(saved[1], grad_out, self.lin, None, need_input_grad)
        else:
            grad_x = aggregate_transform_backward(normalized, grad_out, self.lin.weight, "sum", saved,
                                                  need_input_grad)
        if not need_input_grad:
            return None
        if dst_shape is not None:
            return grad_x, np.zeros(dst_shape, dtype=self.dtype)
        return grad_x

    @property
    def honours_pending_sources(self):
        """Whether the layer reads the given graph as it is, so it honours a pending-sources barrier.

        Not when it normalizes the graph or adds self-loops itself: it then
        aggregates a derived graph, which carries no barrier.
        """
        return not (self.normalize or self.add_self_loops)

    def _output_bias(self):
        return self.bias

    def extra_repr(self):
        return f"{self.in_channels}, {self.out_channels}"


@contextlib.contextmanager
def _weights_as_given(layer):
    """Within the block, ``layer`` aggregates its input graph's edge weights as they are."""
    saved = layer.normalize, layer.add_self_loops, layer.cached
    layer.normalize, layer.add_self_loops, layer.cached = False, False, False
    try:
        yield
    finally:
        layer.normalize, layer.add_self_loops, layer.cached = saved


register_conv(
    "gcn", GCNConv, description="GCN (Kipf and Welling, 2017): symmetric-normalized sum with self-loops",
    node_defaults=dict(hidden=16, layers=2, dropout=0.5, lr=0.01, weight_decay=5e-4, decay="first", bias=False,
                       early_stopping="window", patience=10, epochs=200))
