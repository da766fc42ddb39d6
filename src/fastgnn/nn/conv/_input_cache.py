"""A first layer's aggregation of fixed input features, computed once and reused.

When a layer's input is the same fixed feature matrix call after call
(full-batch training without input dropout, and every evaluation), the
aggregation of its neighbours' features ``AGG(x)`` never changes: a layer
``W_a AGG(x) + W_r x`` is then one product ``[AGG(x) | x] [W_a | W_r]^T``
over a matrix built once, with no aggregation forward or backward (the
precomputation of SGC and SIGN, the spirit of PyG's ``GCNConv(cached=True)``).

The rule that keeps it from serving stale values: the cache is used only
for an ``x`` that cannot change, a read-only ndarray whose memory belongs
to read-only arrays all the way down (:func:`is_frozen`), and only while
the layer is called with that same ``x`` object and the same graph object
(a :class:`~fastgnn.Graph` is immutable). Anything else (a writeable array,
the fresh output of an input dropout, a memory map, sparse features, a
pair) is aggregated as usual, every call.
"""
import numpy as np

from fastgnn._runtime.memory import empty_aligned
from fastgnn.graph import SparseFeatures
from fastgnn.nn._matmul import matmul, matmul_tn
from fastgnn.ops import aggregate, aggregate_backward


def is_frozen(x):
    """Whether ``x`` is an ndarray whose values cannot change through any array.

    True when ``x`` is read-only and so is every array it is a view of, down
    to the one owning the memory; False for anything else (a writeable
    array or base, memory owned by a non-array object such as a memory map
    or a ``bytearray``, a :class:`~fastgnn.SparseFeatures` matrix).
    """
    array = x
    while isinstance(array, np.ndarray):
        if array.flags.writeable:
            return False
        if array.base is None:
            return True
        array = array.base
    return False


def check_cache_flag(value, layer):
    """``cache_input_aggregation`` as a bool (TypeError naming it for anything else)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{layer}: cache_input_aggregation must be True or False, got {value!r}")
    return bool(value)


class InputAggregation:
    """``[AGG_graph(x) | x]`` (or ``AGG_graph(x)`` alone) for one (graph, x) pair.

    Parameters
    ----------
    graph : Graph
        Square.
    x : ndarray
        The caller's input object, read-only (:func:`is_frozen`); kept to
        recognise it.
    x_src : ndarray (N, in)
        ``x`` in the layer's dtype, C-contiguous.
    reduce : str
    with_root : bool
        Append ``x`` itself (the root side's input) after ``AGG(x)``.
    aggregated : Graph, optional
        The graph the aggregation runs over, when it is derived from
        ``graph`` (GCN's normalized graph); default ``graph``.
    """

    __slots__ = ("graph", "x", "reduce", "aggregated", "features", "width")

    def __init__(self, graph, x, x_src, reduce, with_root, aggregated=None):
        graph.wait_for_sources()            # reads every source row at once
        self.graph, self.x, self.reduce = graph, x, reduce
        self.aggregated = graph if aggregated is None else aggregated
        self.width = x_src.shape[1]
        if with_root:
            features = empty_aligned((x_src.shape[0], 2 * self.width), x_src.dtype)
            features[:, :self.width] = aggregate(self.aggregated, x_src, reduce)
            features[:, self.width:] = x_src
        else:
            features = aggregate(self.aggregated, x_src, reduce)
        features.flags.writeable = False
        self.features = features

    def serves(self, graph, x):
        """Whether this cache holds the aggregation of ``x`` over ``graph`` (the same objects, still read-only)."""
        return graph is self.graph and x is self.x and is_frozen(x)


def cacheable_input(enabled, x):
    """Whether a layer with ``cache_input_aggregation=enabled`` may serve ``x`` from its cache."""
    return enabled and not isinstance(x, (tuple, list, SparseFeatures)) and is_frozen(x)


def cached_input_aggregation(cache, graph, x, x_src, reduce, with_root, aggregated=None):
    """``cache`` if it serves ``(graph, x)``, else a new :class:`InputAggregation` of them."""
    if cache is not None and cache.serves(graph, x):
        return cache
    return InputAggregation(graph, x, x_src, reduce, with_root, aggregated)


def _stacked_weight(lin_agg, lin_root):
    if lin_root is None:
        return lin_agg.weight.data
    return np.concatenate([lin_agg.weight.data, lin_root.weight.data], axis=1)      # (out, 2 in)


def cached_linear_aggregate(cache, lin_agg, lin_root, add_bias=True):
    """``AGG(x) W_a^T + b + x W_r^T`` as one product over the cached ``[AGG(x) | x]``.

    ``lin_root`` None: ``AGG(x) W_a^T + b``. Cost ``O(N · in · out)``
    (``2 in`` with the root), no aggregation.
    """
    out = matmul(cache.features, _stacked_weight(lin_agg, lin_root).T)
    if lin_agg.bias is not None and add_bias:
        out += lin_agg.bias.data
    return out


def cached_linear_aggregate_backward(cache, grad_out, lin_agg, lin_root, need_input_grad, bias_grad=True):
    """Accumulate the weights' (and bias's) gradients from one ``G^T [AGG(x) | x]``; return ``dL/dx`` or None.

    The input gradient is ``AGG^T(G W_a) + G W_r`` (one aggregation
    backward); under max/min it needs the winning edges, which the cache
    does not keep: the aggregation of ``x`` is then run again to find them.
    """
    width = cache.width
    bias = lin_agg.bias
    if bias is not None and bias.requires_grad and bias_grad:
        bias.grad += grad_out.sum(axis=0)
    root_trains = lin_root is not None and lin_root.weight.requires_grad
    if lin_agg.weight.requires_grad or root_trains:
        grad_weights = matmul_tn(grad_out, cache.features)              # (out, in) or (out, 2 in)
        if lin_agg.weight.requires_grad:
            lin_agg.weight.grad += grad_weights[:, :width]
        if root_trains:
            lin_root.weight.grad += grad_weights[:, width:]
    if not need_input_grad:
        return None
    arg = None
    if cache.reduce not in ("sum", "mean"):
        x_src = np.ascontiguousarray(cache.x, dtype=grad_out.dtype)
        _, arg = aggregate(cache.aggregated, x_src, cache.reduce, return_arg=True)
    grad_x = aggregate_backward(cache.aggregated, matmul(grad_out, lin_agg.weight.data), cache.reduce, arg=arg)
    if lin_root is not None:
        grad_x += matmul(grad_out, lin_root.weight.data)
    return grad_x
