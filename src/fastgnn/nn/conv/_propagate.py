"""Private building blocks of the graph layers: ``AGG(x) W^T`` in the cheaper order.

For a linear aggregation (sum, mean, or a weighted sum such as GCN's), the
product commutes with the aggregation: ``AGG(x) W^T = AGG(x W^T)``. Applying
``W`` first is cheaper when it narrows the features (``out < in``): the
aggregation then moves ``out`` instead of ``in`` values per edge. Max and min
are not linear (``max(x) W^T != max(x W^T)``), so they always aggregate the
input features first. Sparse input features (:class:`~fastgnn.SparseFeatures`)
are always transformed first under a linear aggregation (the product is
then the cheap one), and expanded to a dense array under max/min.

All aggregation goes through :func:`fastgnn.ops.aggregate` and
:func:`fastgnn.ops.aggregate_backward`; nothing of size edges x features is
ever built.
"""
import numpy as np

from fastgnn._runtime import validate as V
from fastgnn._runtime.memory import NARROW_WIDTHS, PADDED_WIDTH, discard_rows, empty_aligned
from fastgnn.graph import SparseFeatures
from fastgnn.nn._matmul import matmul, matmul_tn
from fastgnn.nn.utils import densified
from fastgnn.ops import aggregate, aggregate_backward

LINEAR_REDUCES = ("sum", "mean")


def _gathered_width(width):
    """The row width an aggregation gathers: narrow rows are gathered as zero-padded 16-lane rows."""
    return PADDED_WIDTH if width in NARROW_WIDTHS else width


def transforms_first(reduce, in_width, out_width, sparse_input=False):
    """Whether ``AGG(x) W^T`` is computed as ``AGG(x W^T)`` (always, for linear reduces of sparse input).

    Only when that gathers narrower rows: ``out = 10`` from ``in = 16`` gathers
    16-lane rows either way (narrow rows are padded), and aggregating first
    spares the padding copies.
    """
    if reduce not in LINEAR_REDUCES:
        return False
    return sparse_input or _gathered_width(out_width) < _gathered_width(in_width)


def _scratch(workspace, shape, dtype):
    """A scratch array from ``workspace``, or None (a new array) without one."""
    return None if workspace is None else workspace.get(shape, dtype)


def transform_sources(graph, x_src, weight_t, out=None):
    """``(graph', x_src @ weight_t)``: the product of every source row, to aggregate over ``graph'``.

    When ``graph`` has source rows still pending
    (:meth:`fastgnn.Graph.with_pending_sources`), only the valid rows are
    multiplied now: ``graph'`` carries a barrier whose ``wait()`` waits for
    the rows, then multiplies them, so an aggregation of the product computes
    its ready rows meanwhile. Otherwise ``graph'`` is ``graph``. Each row of
    the product is a row of one ``matmul``: the bits do not depend on the split.
    """
    pending = graph.pending_sources
    if pending is None or isinstance(x_src, SparseFeatures) or not 0 < pending.first_column < x_src.shape[0]:
        graph.wait_for_sources()
        return graph, matmul(x_src, weight_t, out=out)
    if out is None:
        out = empty_aligned((x_src.shape[0], weight_t.shape[1]), np.result_type(x_src, weight_t))
    first = pending.first_column
    matmul(x_src[:first], weight_t, out=out[:first])

    def multiply_late_rows():
        matmul(x_src[first:], weight_t, out=out[first:])
    return graph.with_pending_sources(pending.then(multiply_late_rows)), out


def aggregate_transform(graph, x_src, weight, reduce, keep, workspace=None):
    """``AGG_graph(x_src) W^T`` and what its backward needs (None when not ``keep``).

    Parameters
    ----------
    graph : Graph
    x_src : ndarray (num_src_nodes, in)
    weight : ndarray (out, in)
    reduce : str
        A canonical reduce name.
    keep : bool
        Training mode: return what :func:`aggregate_transform_backward` needs.
    workspace : Workspace, optional
        Holds the product ``x_src W^T`` when it comes first (dead once
        aggregated), instead of a new array every call.
    """
    out_width, in_width = weight.shape
    sparse_input = isinstance(x_src, SparseFeatures)
    if transforms_first(reduce, in_width, out_width, sparse_input):
        product = _scratch(workspace, (x_src.shape[0], out_width), weight.dtype)
        product_graph, product = transform_sources(graph, x_src, weight.T, out=product)
        out = aggregate(product_graph, product, reduce)
        return out, (("transform_first", x_src, None) if keep else None)
    x_src = densified(x_src)
    if reduce in LINEAR_REDUCES:
        aggregated, arg = aggregate(graph, x_src, reduce), None
    else:
        aggregated, arg = aggregate(graph, x_src, reduce, return_arg=True)
    if graph.discards_sources:      # read once and not kept: its rows past the destinations may go now
        discard_rows(x_src, graph.num_dst_nodes)
    out = matmul(aggregated, weight.T)
    return out, (("aggregate_first", aggregated, arg) if keep else None)


def aggregate_transform_backward(graph, grad_out, weight, reduce, saved, need_input_grad, workspace=None):
    """Accumulate ``dL/dW`` into ``weight.grad``; return ``dL/dx_src`` (or None).

    Parameters
    ----------
    weight : Parameter (out, in)
    saved : tuple
        The second value of :func:`aggregate_transform`.
    workspace : Workspace, optional
        Holds ``AGG^T(G)`` when the product came first (dead once multiplied).
    """
    order, kept, arg = saved
    if order == "transform_first":
        x_src = kept
        grad_h = aggregate_backward(graph, grad_out, reduce,
                                    out=_scratch(workspace, (graph.num_src_nodes, grad_out.shape[1]), grad_out.dtype))
        if weight.requires_grad:
            weight.grad += matmul_tn(grad_h, x_src)
        return matmul(grad_h, weight.data) if need_input_grad else None
    aggregated = kept
    if weight.requires_grad:
        weight.grad += matmul_tn(grad_out, aggregated)
    if not need_input_grad:
        return None
    grad_aggregated = matmul(grad_out, weight.data)
    return aggregate_backward(graph, grad_aggregated, reduce, arg=arg)


def linear_aggregate(graph, x_src, linear, reduce, keep, add_bias=True, workspace=None):
    """``AGG_graph(x_src) W^T + b`` with the weight and bias of ``linear`` (a :class:`Linear`).

    Returns the output and what :func:`linear_aggregate_backward` needs, as
    :func:`aggregate_transform` does. ``add_bias=False`` leaves the bias to
    the caller (see :class:`OutputBias`).
    """
    out, saved = aggregate_transform(graph, x_src, linear.weight.data, reduce, keep, workspace)
    if linear.bias is not None and add_bias:
        out += linear.bias.data
    return out, saved


def linear_aggregate_backward(graph, grad_out, linear, reduce, saved, need_input_grad, bias_grad=True,
                              workspace=None):
    """Accumulate the gradients of ``linear``'s weight and bias (unless not ``bias_grad``); return ``dL/dx_src``."""
    bias = linear.bias
    if bias is not None and bias.requires_grad and bias_grad:
        bias.grad += grad_out.sum(axis=0)
    return aggregate_transform_backward(graph, grad_out, linear.weight, reduce, saved, need_input_grad, workspace)


# A root product is fused with the aggregated one only from this output width on (narrower rows
# are gathered as they are: too few values for a product to save anything), and only for inputs at
# least FUSED_MIN_RATIO times wider than the gathered width. Narrow outputs (5 to 15) take 16
# columns of the product each, zero-padded, so that the aggregation gathers full 16-lane rows in place.
FUSED_MIN_WIDTH = NARROW_WIDTHS.start
FUSED_MIN_RATIO = 4


def fuses_root(reduce, in_width, out_width, x, is_pair):
    """Whether :func:`root_linear_aggregate` computes ``AGG(x) W_a^T + x W_r^T`` with one product.

    When the aggregation is linear and transforms first, both weights
    multiply the same ``x``: ``x [W_a; W_r]^T`` reads ``x`` once, forward and
    backward, instead of twice. That pays when ``x`` is much wider than the
    output (dense Cora, 1,433 -> 64: 8 % faster epochs); when it is not
    (128 -> 64 on a 100,000-node graph) the aggregation's gather from a
    column block of the twice-as-wide product costs more than the second
    read of ``x`` saves (epochs 3-10 % slower, measured), and sparse input
    is cheap to read twice. A narrow output (5 to 15) counts as the 16
    zero-padded columns it takes on each side: 64 -> 10 fuses (one product
    of 32 columns instead of two thin ones, forward and backward; GraphSAGE
    epochs on that graph about 4-5 % faster, measured).
    """
    return (not is_pair and not isinstance(x, SparseFeatures) and reduce in LINEAR_REDUCES
            and out_width >= FUSED_MIN_WIDTH and in_width >= FUSED_MIN_RATIO * _gathered_width(out_width))


def _fused_weights(lin_agg, lin_root):
    """``[W_a; W_r]`` (2 lanes, in), each block zero-padded to the gathered width (``lanes``)."""
    width = lin_agg.out_features
    lanes = _gathered_width(width)
    if lanes == width:
        return np.concatenate([lin_agg.weight.data, lin_root.weight.data]), lanes
    weights = np.zeros((2 * lanes, lin_agg.in_features), dtype=lin_agg.weight.data.dtype)
    weights[:width] = lin_agg.weight.data
    weights[lanes:lanes + width] = lin_root.weight.data
    return weights, lanes


def root_linear_aggregate(graph, x, lin_agg, lin_root, reduce, keep, workspace, add_bias=True):
    """``AGG_graph(x) W_a^T + b + x W_r^T`` in one product ``x [W_a; W_r]^T`` (see :func:`fuses_root`).

    Parameters
    ----------
    graph : Graph (square)
    x : ndarray or SparseFeatures (num_nodes, in)
    lin_agg, lin_root : Linear
        The aggregated side's layer (its bias is added) and the root's.
    reduce : {'sum', 'mean'}
    keep : bool
        Return what :func:`root_linear_aggregate_backward` needs.
    workspace : Workspace
        The scratch ``(N, 2 out)`` product, reused by the backward.

    Returns
    -------
    out : ndarray (num_nodes, out)
    saved : tuple or None
    """
    graph.wait_for_sources()            # one product of every row: no rows are ready before the others
    width = lin_agg.out_features
    weights, lanes = _fused_weights(lin_agg, lin_root)                          # (2 lanes, in)
    both = matmul(x, weights.T, out=workspace.get((graph.num_dst_nodes, 2 * lanes), weights.dtype))
    out = aggregate(graph, both[:, :lanes], reduce)
    if lanes == width:
        out += both[:, width:]
    else:
        out = np.add(out[:, :width], both[:, lanes:lanes + width],
                     out=empty_aligned((graph.num_dst_nodes, width), out.dtype))
    if lin_agg.bias is not None and add_bias:
        out += lin_agg.bias.data
    return out, ((x, weights) if keep else None)


def root_linear_aggregate_backward(graph, grad_out, lin_agg, lin_root, reduce, saved, need_input_grad,
                                   workspace, bias_grad=True):
    """Accumulate both layers' gradients from one ``[AGG^T G | G]`` block; return ``dL/dx`` (or None)."""
    x, weights = saved
    width = lin_agg.out_features
    lanes = weights.shape[0] // 2
    bias = lin_agg.bias
    if bias is not None and bias.requires_grad and bias_grad:
        bias.grad += grad_out.sum(axis=0)
    both = workspace.get((graph.num_src_nodes, 2 * lanes), grad_out.dtype)
    both[:, lanes:lanes + width] = grad_out
    both[:, lanes + width:] = 0
    aggregate_backward(graph, both[:, lanes:], reduce, out=both[:, :lanes])       # zero columns stay zero
    if lin_agg.weight.requires_grad or lin_root.weight.requires_grad:
        grad_weights = matmul_tn(both, x)                                         # (2 lanes, in)
        if lin_agg.weight.requires_grad:
            lin_agg.weight.grad += grad_weights[:width]
        if lin_root.weight.requires_grad:
            lin_root.weight.grad += grad_weights[lanes:lanes + width]
    return matmul(both, weights) if need_input_grad else None


class OutputBias:
    """Mixin of the convolutions whose last step adds a bias, which a stack may take over.

    :class:`~fastgnn.models.GNNStack` fuses that bias with the activation
    and dropout after the layer into one pass (and the bias gradient into
    one backward pass): it calls :meth:`hand_over_output_bias` once, after
    which the layer's forward no longer adds the bias nor its backward
    accumulates the bias gradient. The parameter stays the layer's own
    (``state_dict`` is unchanged).
    """

    _bias_handed_over = False

    def _output_bias(self):
        """The bias Parameter added last (None: no bias, or one that cannot be moved)."""
        raise NotImplementedError

    def hand_over_output_bias(self):
        """Stop adding the output bias; return ``(bias, output_is_free)``.

        ``bias`` is the Parameter the caller now adds (None when the layer
        has none, or cannot hand it over); ``output_is_free`` tells that the
        layer keeps no reference to its output, so the caller may overwrite it.
        """
        bias = self._output_bias()
        if bias is not None:
            self._bias_handed_over = True
        return bias, self._output_is_free()

    def _output_is_free(self):
        return True


def as_grad_out(grad_out, shape, dtype, layer):
    """``grad_out`` as a C-contiguous array of ``shape`` in ``dtype``."""
    array = np.asarray(grad_out)
    if array.shape != shape:
        raise ValueError(f"{layer}.backward: grad_out must have shape {shape}, got {array.shape}")
    return np.ascontiguousarray(array, dtype=dtype)


def check_aggr(aggr, allowed, layer):
    """The canonical aggregation name (``add`` is ``sum``), one of ``allowed``, for the layer ``layer``."""
    return V.check_reduce(aggr, allowed, "aggr", f"{layer}: ")
