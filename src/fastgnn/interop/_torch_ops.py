"""fastgnn's kernels as ``torch.library`` custom ops (the differentiable core of :mod:`fastgnn.interop.torch`).

The ops
-------
Every op takes its graph as the destination-major CSR tensors ``indptr`` (int32/int64,
``num_dst + 1``) and ``indices`` (``E`` source ids) and the source count ``num_src``; edge ids are
positions in ``indices``. ``weight`` (``E`` values or None for unit weights) is in that order.

* ``fastgnn::aggregate(x, indptr, indices, num_src, weight, constant_weight, reduce, n_threads)
  -> (out, arg)``: :func:`fastgnn.aggregate`; ``arg`` (max/min, dtype of ``indices``) is the
  winning edge of each output element, an empty tensor for sum/mean.
* ``fastgnn::aggregate_backward(grad_out, x, indptr, indices, num_src, weight, constant_weight,
  arg, reduce, need_x, need_w, n_threads) -> (grad_x, grad_w)``:
  :func:`fastgnn.aggregate_backward` (an empty tensor for an output not asked for).
* ``fastgnn::gather_by_arg(y, indptr, indices, num_src, weight, arg) -> out``:
  ``out[i, k] = w[arg[i, k]] * y[indices[arg[i, k]], k]`` (0 where ``arg`` is -1), the max/min
  forward with its winners fixed.
* ``fastgnn::edge_dot(a, b, indptr, indices, num_src, n_threads)``,
  ``fastgnn::segment_reduce(x, ptr, reduce, n_threads) -> (out, arg)`` and
  ``fastgnn::segment_reduce_backward(grad_out, ptr, arg, reduce, num_rows, n_threads)``.

Each has a fake (meta) implementation, so ``torch.compile`` traces through it as one opaque
node, and a registered autograd formula written with these same ops, so every derivative is
itself differentiable: sum and mean are linear (the backward of the backward is the forward),
max/min are linear once their winners ``arg`` are fixed (``gather_by_arg`` and the arg-routing
backward are each other's adjoints), ``edge_dot`` is bilinear. Derivatives of any order are
exact wherever the winners do not change, as for PyG's scatter-max.

Graphs
------
The real implementations need fastgnn's :class:`~fastgnn.Graph` (its cached transpose, degrees).
:class:`TorchGraph` handles register their CSR tensors here (weakly); an op looks its graph up by
the tensors' memory (a dict lookup) and only validates and builds a graph for CSR tensors it has
not seen (an op called directly, or a handle dropped while autograd still holds its tensors).
Constant edge weights (``constant_weight=True``) are cached per handle with the graph they
weight, so the transposed weights a backward reads are computed once.
"""
import collections
import threading
import warnings
import weakref
from typing import Optional

import numpy as np
import torch
from torch import Tensor

from fastgnn import ops
from fastgnn._runtime import threads as _threads
from fastgnn._runtime import validate as V
from fastgnn.graph import Graph

_FLOAT_DTYPES = (torch.float32, torch.float64)
_INT_DTYPES = (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)
_EXTREMA = ("max", "min")

#: Edge-weight sets cached per graph handle.
WEIGHTED_PER_GRAPH = 4


# ---------------------------------------------------------------------------- tensors <-> arrays
def _check_tensor(tensor, name):
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    if tensor.device.type != "cpu":
        raise TypeError(f"{name} is on device '{tensor.device}', but fastgnn's kernels run on the CPU; "
                        f"move it with {name}.cpu() first")
    if tensor.layout != torch.strided:
        raise TypeError(f"{name} must be a dense (strided) tensor, got layout {tensor.layout}")
    return tensor


def _features(tensor, name):
    """A float32/float64 CPU tensor as an ndarray sharing its memory (a copy only if not contiguous)."""
    _check_tensor(tensor, name)
    if tensor.dtype not in _FLOAT_DTYPES:
        raise TypeError(f"{name} must have dtype torch.float32 or torch.float64, got {tensor.dtype}")
    tensor = tensor.detach()
    if not tensor.is_contiguous():
        tensor = tensor.contiguous()
    return tensor.resolve_conj().resolve_neg().numpy()


def _indices(tensor, name):
    """An integer CPU tensor (or array-like) as an ndarray, without a copy when possible."""
    if isinstance(tensor, torch.Tensor):
        _check_tensor(tensor, name)
        if tensor.dtype not in _INT_DTYPES:
            raise TypeError(f"{name} must have an integer dtype, got {tensor.dtype}")
        tensor = tensor.detach()
        if not tensor.is_contiguous():
            tensor = tensor.contiguous()
        return tensor.numpy()
    return V.as_index_array(tensor, name)


def _tensor(array):
    """A tensor over a fastgnn array (read-only arrays too: fastgnn never writes them back)."""
    if array.flags.writeable:
        return torch.from_numpy(array)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch warns that it could write; nothing here does
        return torch.from_numpy(array)


def _resolve_threads(n_threads):
    """Threads of one adapter call: the argument, else fastgnn's explicit setting, else torch's."""
    if n_threads is not None:
        return _threads.check_num_threads(n_threads, "n_threads")
    explicit = _threads.explicit_num_threads()
    if explicit is not None:
        return explicit
    # torch may have been told to use more threads than fastgnn accepts: follow it up to the cap.
    return max(1, min(torch.get_num_threads(), _threads.max_num_threads()))


def memory_key(*tensors):
    """Identity of tensors' memory, layout and contents version.

    ``data_ptr`` (which includes the storage offset), storage offset, shape, strides, dtype and
    device tell apart every view of one storage (``base.t()`` and ``base.view(2, E)`` share the
    pointer and the shape, not the strides); ``_version`` moves on every in-place change through
    PyTorch. None for inference-mode tensors, which keep no version counter: never cached.
    """
    key = []
    for t in tensors:
        if t.is_inference():
            return None
        key.append((t.data_ptr(), t.storage_offset(), tuple(t.shape), t.stride(), t.dtype, t.device, t._version))
    return tuple(key)


def _arrays_nbytes(arrays):
    return sum(a.nbytes for a in arrays if isinstance(a, np.ndarray))


def _derived_arrays(graph, skip=()):
    """The arrays a Graph has cached so far (transpose, degrees, cast weights), but those under ``skip``."""
    arrays = []
    for key, value in getattr(graph, "_cache", {}).items():
        if key not in skip:
            arrays.extend(value if isinstance(value, tuple) else (value,))
    return arrays


def graph_nbytes(graph):
    """Bytes of a Graph's arrays and of the structure it has cached so far."""
    return _arrays_nbytes([graph.indptr, graph.indices, graph.edge_weight] + _derived_arrays(graph))


# ---------------------------------------------------------------------------- graph handles
class TorchGraph:
    """A fastgnn :class:`~fastgnn.Graph` and how a tensor's edge order maps onto it.

    Attributes
    ----------
    graph : fastgnn.Graph
        The destination-major CSR, without edge weights (weights are passed per call).
    edge_order : torch.Tensor of int64 or None
        CSR edge ``e`` is edge ``edge_order[e]`` of the input (a column of
        ``edge_index``, a stored entry of a sparse tensor); None when the
        orders agree.
    indptr, indices : torch.Tensor
        The graph's CSR arrays as tensors (shared memory): the graph operand of
        the ``fastgnn::`` custom ops.
    merged_entries : torch.Tensor of int64 or None
        For an uncoalesced COO tensor: the merged edge (in the coalesced
        order) of each stored entry.
    own_weight : torch.Tensor or None
        The edge weights of a weighted :class:`~fastgnn.Graph` it was made from
        (constant, in CSR order).
    """

    __slots__ = ("graph", "edge_order", "merged_entries", "indptr", "indices", "own_weight", "_inverse_order",
                 "_weighted", "_lock", "_sizes", "__weakref__")

    def __init__(self, graph, edge_order=None):
        if not isinstance(graph, Graph):
            raise TypeError(f"graph must be a fastgnn.Graph, got {type(graph).__name__}")
        self._weighted = collections.OrderedDict()
        self._lock = threading.Lock()
        self.own_weight = None
        if graph.edge_weight is not None:
            # the structure alone (sharing the arrays): weights always travel with a call, and the
            # graph's own weights are the first cached weight set, so they are read where they are
            self.own_weight = _tensor(graph.edge_weight)
            key = memory_key(self.own_weight)
            if key is not None:
                self._weighted[key] = (self.own_weight, graph)
            graph = graph.with_edge_weight(None)
        self.graph = graph
        # plain ints: code that torch.compile traces reads these, never the graph's NumPy arrays
        self._sizes = (graph.num_src_nodes, graph.num_dst_nodes, graph.num_edges)
        self.edge_order = edge_order
        self.merged_entries = None
        self.indptr = _tensor(graph.indptr)
        self.indices = _tensor(graph.indices)
        self._inverse_order = None
        _register(self)

    @property
    def num_src_nodes(self):
        return self._sizes[0]

    @property
    def num_dst_nodes(self):
        return self._sizes[1]

    @property
    def num_edges(self):
        return self._sizes[2]

    @property
    def nbytes(self):
        """Bytes held by this handle: the graph, its cached structure, edge orders, cached weight sets."""
        total = graph_nbytes(self.graph)
        for order in (self.edge_order, self._inverse_order):
            total += 0 if order is None else order.numel() * order.element_size()
        with self._lock:
            weighted = list(self._weighted.values())
        shared = getattr(self.graph, "_cache", {})
        for weight, graph in weighted:
            total += weight.numel() * weight.element_size()
            if graph is not self.graph:  # its weights, and what it cached that the structure has not
                total += _arrays_nbytes([graph.edge_weight] + _derived_arrays(graph, skip=shared))
        return total

    @property
    def num_weight_sets(self):
        return len(self._weighted)

    def to_csr_order(self, values):
        """Per-edge values in input order -> CSR order (differentiable)."""
        return values if self.edge_order is None else values[self.edge_order]

    def from_csr_order(self, values):
        """Per-edge values in CSR order -> input order (differentiable)."""
        inverse = self.inverse_order()
        return values if inverse is None else values[inverse]

    @torch.compiler.disable
    def inverse_order(self):
        """Input edge ``k`` is CSR edge ``inverse_order()[k]`` (computed once), or None."""
        if self.edge_order is None:
            return None
        if self._inverse_order is None:
            inverse = torch.empty_like(self.edge_order)
            inverse[self.edge_order] = torch.arange(self.edge_order.numel())
            self._inverse_order = inverse
        return self._inverse_order

    def weighted_graph(self, weight):
        """The graph carrying the constant values of ``weight`` (cached), or None if they cannot be cached."""
        key = memory_key(weight)
        if key is None:
            return None
        with self._lock:
            entry = self._weighted.get(key)
            if entry is not None:
                self._weighted.move_to_end(key)
                return entry[1]
        values = weight.detach().numpy()
        if not np.all(np.isfinite(values)):
            return None
        weighted = self.graph if values.size and np.all(values == 1) else self.graph.with_edge_weight(values)
        with self._lock:
            # the entry keeps the weights' memory alive (so it cannot be reused by other values while
            # cached), not what they may be a view of (a sparse tensor, whose indices this handle is of)
            self._weighted[key] = (weight.detach(), weighted)
            while len(self._weighted) > max(1, WEIGHTED_PER_GRAPH):
                self._weighted.popitem(last=False)
        return weighted

    def __repr__(self):
        reordered = ", reordered" if self.edge_order is not None else ""
        return f"TorchGraph({self.graph!r}{reordered})"


_REGISTRY = weakref.WeakValueDictionary()  # CSR tensor memory -> the live handle that owns them
_REGISTRY_LOCK = threading.Lock()
_FOREIGN = collections.OrderedDict()  # memory of CSR tensors no handle owns -> (tensors, handle)
_FOREIGN_SIZE = 2


def _registry_key(indptr, indices, num_src):
    return (indptr.data_ptr(), indices.data_ptr(), indptr.shape, indices.shape, indptr.stride(), indices.stride(),
            indptr.dtype, indices.dtype, int(num_src))


def _register(handle):
    with _REGISTRY_LOCK:
        _REGISTRY[_registry_key(handle.indptr, handle.indices, handle.num_src_nodes)] = handle


def _handle_of(indptr, indices, num_src):
    """The handle whose graph the op's CSR tensors are (validated and built if no live handle owns them)."""
    handle = _REGISTRY.get(_registry_key(indptr, indices, num_src))
    if handle is not None:
        return handle
    if indices.dtype not in (torch.int32, torch.int64) or indptr.dtype != indices.dtype:
        raise TypeError(f"indptr and indices must both be int32 or both int64, got {indptr.dtype} and "
                        f"{indices.dtype}")
    key = memory_key(indptr, indices)
    key = None if key is None else key + (int(num_src),)
    with _REGISTRY_LOCK:
        entry = _FOREIGN.get(key) if key is not None else None
    if entry is not None:
        return entry[1]
    graph = Graph.from_csr(_indices(indptr, "indptr"), _indices(indices, "indices"), num_src_nodes=int(num_src),
                           index_dtype=str(indices.dtype).replace("torch.", ""))
    handle = TorchGraph(graph)
    if key is not None:
        with _REGISTRY_LOCK:
            _FOREIGN[key] = ((indptr, indices), handle)
            while len(_FOREIGN) > _FOREIGN_SIZE:
                _FOREIGN.popitem(last=False)
    return handle


def clear_foreign():
    with _REGISTRY_LOCK:
        _FOREIGN.clear()


def _weighting(handle, weight, constant_weight):
    """``(graph, explicit weights or None)`` for a kernel call."""
    if weight is None:
        return handle.graph, None
    if constant_weight:
        weighted = handle.weighted_graph(weight)
        if weighted is not None:
            return weighted, None
    return handle.graph, _values(weight)


def _values(weight):
    """Edge weights as an ndarray (cast to the features' dtype by the kernel call, if need be)."""
    if weight.dtype not in _FLOAT_DTYPES:
        weight = weight.to(torch.float64)
    return _features(weight, "edge_weight")


def _empty_index():
    return torch.empty(0, dtype=torch.int64)


def _out_shape(rows, like):
    return (rows,) + tuple(like.shape[1:])


# ---------------------------------------------------------------------------- fastgnn::aggregate
@torch.library.custom_op("fastgnn::aggregate", mutates_args=())
def aggregate_op(x: Tensor, indptr: Tensor, indices: Tensor, num_src: int, weight: Optional[Tensor],
                 constant_weight: bool, reduce: str, n_threads: Optional[int]) -> tuple[Tensor, Tensor]:
    handle = _handle_of(indptr, indices, num_src)
    graph, w = _weighting(handle, weight, constant_weight)
    out, arg = ops.aggregate(graph, _features(x, "x"), reduce, edge_weight=w, return_arg=True,
                             n_threads=_resolve_threads(n_threads))
    return torch.from_numpy(out), (torch.empty(0, dtype=indices.dtype) if arg is None else torch.from_numpy(arg))


@aggregate_op.register_fake
def _(x, indptr, indices, num_src, weight, constant_weight, reduce, n_threads):
    shape = _out_shape(indptr.shape[0] - 1, x)
    return x.new_empty(shape), x.new_empty(shape if reduce in _EXTREMA else (0,), dtype=indices.dtype)


def _aggregate_setup(ctx, inputs, output):
    x, indptr, indices, num_src, weight, constant_weight, reduce, n_threads = inputs
    ctx.options = (num_src, constant_weight, reduce, n_threads)
    need_weight_grad = weight is not None and ctx.needs_input_grad[4]
    ctx.save_for_backward(x if need_weight_grad else None, indptr, indices, weight, output[1])


def _aggregate_grad(ctx, grad_out, _grad_arg):
    x, indptr, indices, weight, arg = ctx.saved_tensors
    num_src, constant_weight, reduce, n_threads = ctx.options
    need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[4] and weight is not None
    grad_x = grad_w = None
    if need_x or need_w:
        grad_x, grad_w = aggregate_backward_op(grad_out, x if need_w else None, indptr, indices, num_src, weight,
                                               constant_weight, arg, reduce, need_x, need_w, n_threads)
    return (grad_x if need_x else None), None, None, None, (grad_w if need_w else None), None, None, None


aggregate_op.register_autograd(_aggregate_grad, setup_context=_aggregate_setup)


# ---------------------------------------------------------------------------- fastgnn::aggregate_backward
@torch.library.custom_op("fastgnn::aggregate_backward", mutates_args=())
def aggregate_backward_op(grad_out: Tensor, x: Optional[Tensor], indptr: Tensor, indices: Tensor, num_src: int,
                          weight: Optional[Tensor], constant_weight: bool, arg: Tensor, reduce: str, need_x: bool,
                          need_w: bool, n_threads: Optional[int]) -> tuple[Tensor, Tensor]:
    handle = _handle_of(indptr, indices, num_src)
    graph, w = _weighting(handle, weight, constant_weight)
    g = _features(grad_out, "grad_out")
    result = ops.aggregate_backward(
        graph, g, reduce, x=_features(x, "x") if need_w else None, edge_weight=w,
        arg=arg.numpy() if reduce in _EXTREMA else None, need_weight_grad=need_w,
        n_threads=_resolve_threads(n_threads))
    grad_x, grad_w = result if need_w else (result, None)
    empty = grad_out.new_empty(0)
    return (torch.from_numpy(grad_x) if need_x else empty), (torch.from_numpy(grad_w) if need_w else empty)


@aggregate_backward_op.register_fake
def _(grad_out, x, indptr, indices, num_src, weight, constant_weight, arg, reduce, need_x, need_w, n_threads):
    return (grad_out.new_empty(_out_shape(num_src, grad_out) if need_x else (0,)),
            grad_out.new_empty((indices.shape[0],) if need_w else (0,)))


def _aggregate_backward_setup(ctx, inputs, output):
    grad_out, x, indptr, indices, num_src, weight, constant_weight, arg, reduce, need_x, need_w, n_threads = inputs
    ctx.options = (num_src, constant_weight, reduce, need_x, need_w, n_threads)
    ctx.save_for_backward(grad_out, x, indptr, indices, weight, arg)


def _forward_with_arg(y, indptr, indices, num_src, weight, constant_weight, arg, reduce, n_threads):
    """The forward of a reduce, its max/min winners fixed: the adjoint of the backward's routing."""
    if reduce in _EXTREMA:
        return gather_by_arg_op(y, indptr, indices, num_src, weight, arg)
    return aggregate_op(y, indptr, indices, num_src, weight, constant_weight, reduce, n_threads)[0]


def _aggregate_backward_grad(ctx, grad_grad_x, grad_grad_w):
    # grad_x is linear in (grad_out, weight), grad_w in (grad_out, x):
    #   d grad_x / d grad_out = forward(., weight),  d grad_w / d grad_out = forward(x, .),
    #   d grad_x / d weight and d grad_w / d x are the backward itself with the roles swapped.
    grad_out, x, indptr, indices, weight, arg = ctx.saved_tensors
    num_src, constant_weight, reduce, need_x, need_w, n_threads = ctx.options
    ggx = grad_grad_x if need_x else None
    ggw = grad_grad_w if need_w else None
    wants_g, wants_x, wants_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1], ctx.needs_input_grad[5]
    d_grad = d_x = d_w = None
    if wants_g:
        if ggx is not None:
            d_grad = _forward_with_arg(ggx, indptr, indices, num_src, weight, constant_weight, arg, reduce,
                                       n_threads)
        if ggw is not None and x is not None:
            term = _forward_with_arg(x, indptr, indices, num_src, ggw, False, arg, reduce, n_threads)
            d_grad = term if d_grad is None else d_grad + term
    swap_x = wants_x and ggw is not None and x is not None
    swap_w = wants_w and weight is not None and ggx is not None
    if swap_x or swap_w:
        d_x, d_w = aggregate_backward_op(grad_out, ggx if swap_w else None, indptr, indices, num_src, ggw, False,
                                         arg, reduce, swap_x, swap_w, n_threads)
    return (d_grad, d_x if swap_x else None, None, None, None, d_w if swap_w else None,
            None, None, None, None, None, None)


aggregate_backward_op.register_autograd(_aggregate_backward_grad, setup_context=_aggregate_backward_setup)


# ---------------------------------------------------------------------------- fastgnn::gather_by_arg
@torch.library.custom_op("fastgnn::gather_by_arg", mutates_args=())
def gather_by_arg_op(y: Tensor, indptr: Tensor, indices: Tensor, num_src: int, weight: Optional[Tensor],
                     arg: Tensor) -> Tensor:
    # O(N d) temporaries: only second and higher derivatives of max/min come here
    out = y.new_zeros(arg.shape)
    if indices.numel() == 0 or arg.numel() == 0:
        return out
    valid = arg >= 0
    edge = arg.clamp(min=0).long()
    source = indices.long()[edge]
    values = torch.gather(y, 0, source) if y.dim() == 2 else y[source]
    if weight is not None:
        values = values * weight.to(y.dtype)[edge]
    return torch.where(valid, values, out)


@gather_by_arg_op.register_fake
def _(y, indptr, indices, num_src, weight, arg):
    return y.new_empty(arg.shape)


def _gather_by_arg_setup(ctx, inputs, output):
    y, indptr, indices, num_src, weight, arg = inputs
    ctx.num_src = num_src
    ctx.save_for_backward(y, indptr, indices, weight, arg)


def _gather_by_arg_grad(ctx, grad_out):
    y, indptr, indices, weight, arg = ctx.saved_tensors
    need_y, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[4] and weight is not None
    grad_y = grad_w = None
    if need_y or need_w:
        grad_y, grad_w = aggregate_backward_op(grad_out, y if need_w else None, indptr, indices, ctx.num_src,
                                               weight, False, arg, "max", need_y, need_w, None)
    return (grad_y if need_y else None), None, None, None, (grad_w if need_w else None), None


gather_by_arg_op.register_autograd(_gather_by_arg_grad, setup_context=_gather_by_arg_setup)


# ---------------------------------------------------------------------------- fastgnn::edge_dot
@torch.library.custom_op("fastgnn::edge_dot", mutates_args=())
def edge_dot_op(a: Tensor, b: Tensor, indptr: Tensor, indices: Tensor, num_src: int,
                n_threads: Optional[int]) -> Tensor:
    handle = _handle_of(indptr, indices, num_src)
    return torch.from_numpy(ops.edge_dot(handle.graph, _features(a, "a"), _features(b, "b"),
                                         n_threads=_resolve_threads(n_threads)))


@edge_dot_op.register_fake
def _(a, b, indptr, indices, num_src, n_threads):
    return a.new_empty(indices.shape[0])


def _edge_dot_setup(ctx, inputs, output):
    a, b, indptr, indices, num_src, n_threads = inputs
    ctx.options = (num_src, n_threads)
    ctx.save_for_backward(a, b, indptr, indices)


def _edge_dot_grad(ctx, grad_out):
    # out[e] = <a[dst e], b[src e]>: d a = A_g b (aggregate weighted by g), d b = A_g^T a
    a, b, indptr, indices = ctx.saved_tensors
    num_src, n_threads = ctx.options
    grad_a = grad_b = None
    if ctx.needs_input_grad[0]:
        grad_a = aggregate_op(b, indptr, indices, num_src, grad_out, False, "sum", n_threads)[0]
    if ctx.needs_input_grad[1]:
        grad_b = aggregate_backward_op(a, None, indptr, indices, num_src, grad_out, False, _empty_index(), "sum",
                                       True, False, n_threads)[0]
    return grad_a, grad_b, None, None, None, None


edge_dot_op.register_autograd(_edge_dot_grad, setup_context=_edge_dot_setup)


# ---------------------------------------------------------------------------- fastgnn::segment_reduce
@torch.library.custom_op("fastgnn::segment_reduce", mutates_args=())
def segment_reduce_op(x: Tensor, ptr: Tensor, reduce: str, n_threads: Optional[int]) -> tuple[Tensor, Tensor]:
    out, arg = ops.segment_reduce(_features(x, "x"), _indices(ptr, "ptr"), reduce, return_arg=True,
                                  n_threads=_resolve_threads(n_threads))
    # arg in int64 whatever index dtype the kernel picked: its dtype must not depend on values
    return torch.from_numpy(out), (_empty_index() if arg is None else torch.from_numpy(arg.astype(np.int64)))


@segment_reduce_op.register_fake
def _(x, ptr, reduce, n_threads):
    shape = _out_shape(ptr.shape[0] - 1, x)
    return x.new_empty(shape), x.new_empty(shape if reduce in _EXTREMA else (0,), dtype=torch.int64)


def _segment_reduce_setup(ctx, inputs, output):
    x, ptr, reduce, n_threads = inputs
    ctx.options = (reduce, x.shape[0], n_threads)
    ctx.save_for_backward(ptr, output[1])


def _segment_reduce_grad(ctx, grad_out, _grad_arg):
    if not ctx.needs_input_grad[0]:
        return None, None, None, None
    ptr, arg = ctx.saved_tensors
    reduce, num_rows, n_threads = ctx.options
    return segment_reduce_backward_op(grad_out, ptr, arg, reduce, num_rows, n_threads), None, None, None


segment_reduce_op.register_autograd(_segment_reduce_grad, setup_context=_segment_reduce_setup)


@torch.library.custom_op("fastgnn::segment_reduce_backward", mutates_args=())
def segment_reduce_backward_op(grad_out: Tensor, ptr: Tensor, arg: Tensor, reduce: str, num_rows: int,
                               n_threads: Optional[int]) -> Tensor:
    grad_x = ops.segment_reduce_backward(_features(grad_out, "grad_out"), _indices(ptr, "ptr"), reduce,
                                         arg=arg.numpy() if reduce in _EXTREMA else None,
                                         n_threads=_resolve_threads(n_threads))
    return torch.from_numpy(grad_x)


@segment_reduce_backward_op.register_fake
def _(grad_out, ptr, arg, reduce, num_rows, n_threads):
    return grad_out.new_empty(_out_shape(num_rows, grad_out))


def _segment_reduce_backward_setup(ctx, inputs, output):
    grad_out, ptr, arg, reduce, num_rows, n_threads = inputs
    ctx.options = (reduce, n_threads)
    ctx.save_for_backward(ptr, arg)


def _segment_reduce_backward_grad(ctx, grad_grad_x):
    # the backward is linear in grad_out: its adjoint is the forward (max/min: the winners' rows)
    if not ctx.needs_input_grad[0]:
        return None, None, None, None, None, None
    ptr, arg = ctx.saved_tensors
    reduce, n_threads = ctx.options
    if reduce not in _EXTREMA:
        return segment_reduce_op(grad_grad_x, ptr, reduce, n_threads)[0], None, None, None, None, None
    zeros = grad_grad_x.new_zeros(arg.shape)
    if grad_grad_x.shape[0] == 0 or arg.numel() == 0:
        return zeros, None, None, None, None, None
    row = arg.clamp(min=0)
    picked = torch.gather(grad_grad_x, 0, row) if grad_grad_x.dim() == 2 else grad_grad_x[row]
    return torch.where(arg >= 0, picked, zeros), None, None, None, None, None


segment_reduce_backward_op.register_autograd(_segment_reduce_backward_grad,
                                             setup_context=_segment_reduce_backward_setup)
