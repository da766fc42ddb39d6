"""PyTorch and PyTorch Geometric on fastgnn's kernels.

What is here
------------
* :func:`aggregate`, :func:`segment_reduce`, :func:`edge_dot`: differentiable
  versions of the fastgnn ops on ``torch.Tensor``\\ s (``AggregateFunction``,
  ``SegmentReduceFunction``, ``EdgeDotFunction`` are the
  ``torch.autograd.Function``\\ s behind them). Gradients flow to the
  features and, for :func:`aggregate`, to the edge weights, for every reduce;
  max/min keep the winning edge of each output element (``arg``) for their
  backward, nothing of size edges x features.
* :func:`to_graph`: the graph handle (:class:`TorchGraph`) of a PyG-style
  ``edge_index``, a ``torch.sparse_csr_tensor`` (or COO/CSC), a PyG
  ``EdgeIndex`` or a ``torch_sparse.SparseTensor``; cached (see below).
* :func:`spmm`: ``torch_geometric.utils.spmm(src, other, reduce)`` on fastgnn.
* :func:`use_with_pyg`: a context manager under which PyG's own layers
  (``GCNConv``, ``SAGEConv``, ``GINConv``, ``GraphConv``, any layer whose
  ``message_and_aggregate`` calls ``spmm``) run their sparse-adjacency path on
  fastgnn.
* :class:`Aggregation`: a PyG-compatible aggregation module for the
  ``edge_index`` path.

No copies
---------
A CPU, C-contiguous float32/float64 tensor is read in place
(``tensor.detach().numpy()`` shares its memory) and results come back with
``torch.from_numpy`` (no copy). A non-contiguous tensor is made contiguous
first (one copy); a tensor on another device (CUDA, meta, ...) is refused
with ``TypeError``: nothing is moved across devices behind the caller's back.
Edge weights of another dtype than the features are cast (a copy of E values).

The graph cache
---------------
Building fastgnn's CSR (validation, int32 compaction) and its transpose
costs O(E) once; PyG does the same with ``cached=True``. :func:`to_graph`
keeps the handles of the last :data:`CACHE_SIZE` graphs, keyed by the
identity of the index tensors' memory: their ``data_ptr``, size, dtype and
``_version`` (the counter PyTorch bumps on every in-place change), plus the
node counts. A cache entry holds a reference to the index tensors, so their
memory cannot be freed and reused by another graph while the entry lives.
So the cache is invalidated automatically when

* the index tensors are modified in place through PyTorch (``_version``), or
* another tensor is passed (another ``data_ptr``);

it is **not** invalidated when the memory is modified behind PyTorch's back
(through a NumPy view or a C extension): call :func:`clear_cache` then.
Inference-mode tensors keep no version counter and are never cached.
Constant edge values (a sparse tensor's ``values()`` that do not require
grad) are cached the same way, with the graph they weight, so the transposed
weights the backward needs are computed once. :func:`use_with_pyg` also
caches GCN's normalization of a sparse adjacency (``gcn_norm``) per input
adjacency, as ``GCNConv(cached=True)`` would, under the same rule.
:func:`cache_info` reports the sizes; :func:`clear_cache` empties everything.

Threads
-------
PyTorch and fastgnn each have a thread setting; they use the same OpenMP
runtime in one process (the library loaded first, normally PyTorch's
``libgomp``, serves both), so they share one pool of worker threads. Inside
this adapter a kernel runs on

1. the ``n_threads`` argument of the call (or of :func:`use_with_pyg`), else
2. ``fastgnn.set_num_threads(n)`` if it was called, else
3. ``torch.get_num_threads()``,

so by default fastgnn follows PyTorch's intra-op setting
(``torch.set_num_threads``, ``OMP_NUM_THREADS``) and the two never ask for
more threads than PyTorch was told to use. If your program runs several
PyTorch computations at once (inter-op threads, several Python threads, a
``DataLoader`` with in-process workers), lower ``torch.set_num_threads``;
fastgnn follows. Small calls run on one thread whatever the setting.
Kernels release the GIL.
"""
import collections
import contextlib
import sys
import threading

import numpy as np
import torch

from fastgnn import _threads
from fastgnn import _validate as V
from fastgnn import ops
from fastgnn.graph import Graph

__all__ = [
    "TorchGraph",
    "to_graph",
    "aggregate",
    "segment_reduce",
    "edge_dot",
    "spmm",
    "use_with_pyg",
    "Aggregation",
    "AggregateFunction",
    "SegmentReduceFunction",
    "EdgeDotFunction",
    "clear_cache",
    "cache_info",
    "CACHE_SIZE",
]

#: Entries kept by each of the caches (graphs, edge values, GCN normalizations).
CACHE_SIZE = 8

_FLOAT_DTYPES = (torch.float32, torch.float64)
_INT_DTYPES = (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)


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
    return None if array is None else torch.from_numpy(array)


def _resolve_threads(n_threads):
    """Threads of one adapter call: the argument, else fastgnn's explicit setting, else torch's."""
    if n_threads is not None:
        return _threads._check_count(n_threads, "n_threads")
    if _threads._num_threads is not None:
        return _threads._num_threads
    return max(1, torch.get_num_threads())


# ---------------------------------------------------------------------------- caches
class _LRU:
    """A small thread-safe least-recently-used map."""

    def __init__(self, name):
        self.name = name
        self._data = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key, value):
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > max(0, CACHE_SIZE):
                self._data.popitem(last=False)
        return value

    def clear(self):
        with self._lock:
            self._data.clear()

    def __len__(self):
        return len(self._data)


_GRAPHS = _LRU("graphs")
_WEIGHTED = _LRU("edge_values")
_GCN_NORMS = _LRU("gcn_norm")
_MESSAGE_GRAPHS = _LRU("message_graphs")  # Aggregation: messages grouped by index
_CACHES = (_GRAPHS, _WEIGHTED, _GCN_NORMS, _MESSAGE_GRAPHS)


def _memory_key(*tensors):
    """Identity of tensors' memory and contents version (see the module docstring).

    None for inference-mode tensors, which keep no version counter: they are never cached.
    """
    if any(t.is_inference() for t in tensors):
        return None
    return tuple((t.data_ptr(), t.numel(), t.dtype, tuple(t.shape), t._version) for t in tensors)


def clear_cache():
    """Forget every cached graph, edge-value set, GCN normalization and message grouping."""
    for cache in _CACHES:
        cache.clear()


def cache_info():
    """The number of entries of each cache.

    ``{'graphs': n, 'edge_values': n, 'gcn_norm': n, 'message_graphs': n}``.
    """
    return {cache.name: len(cache) for cache in _CACHES}


# ---------------------------------------------------------------------------- graph handles
class TorchGraph:
    """A fastgnn :class:`~fastgnn.Graph` and how a tensor's edge order maps onto it.

    Attributes
    ----------
    graph : fastgnn.Graph
        The destination-major CSR (unweighted: edge values are passed per call).
    edge_order : torch.Tensor of int64 or None
        CSR edge ``e`` is edge ``edge_order[e]`` of the input (a column of
        ``edge_index``, a stored entry of a sparse tensor); None when the
        orders agree.
    """

    __slots__ = ("graph", "edge_order", "_inverse_order")

    def __init__(self, graph, edge_order=None):
        if not isinstance(graph, Graph):
            raise TypeError(f"graph must be a fastgnn.Graph, got {type(graph).__name__}")
        self.graph = graph
        self.edge_order = edge_order
        self._inverse_order = None

    @property
    def num_src_nodes(self):
        return self.graph.num_src_nodes

    @property
    def num_dst_nodes(self):
        return self.graph.num_dst_nodes

    @property
    def num_edges(self):
        return self.graph.num_edges

    def to_csr_order(self, values):
        """Per-edge values in input order -> CSR order (differentiable)."""
        return values if self.edge_order is None else values[self.edge_order]

    def from_csr_order(self, values):
        """Per-edge values in CSR order -> input order (differentiable)."""
        if self.edge_order is None:
            return values
        if self._inverse_order is None:
            inverse = torch.empty_like(self.edge_order)
            inverse[self.edge_order] = torch.arange(self.edge_order.numel())
            self._inverse_order = inverse
        return values[self._inverse_order]

    def __repr__(self):
        reordered = ", reordered" if self.edge_order is not None else ""
        return f"TorchGraph({self.graph!r}{reordered})"


def _order_or_none(order):
    if order.size == 0 or np.array_equal(order, np.arange(order.shape[0])):
        return None
    return torch.from_numpy(np.ascontiguousarray(order, dtype=np.int64))


def _handle_from_edge_index(edge_index, num_src, num_dst, flip=False):
    ids = _indices(edge_index, "edge_index")
    if ids.ndim != 2 or ids.shape[0] != 2:
        raise ValueError(f"edge_index must have shape (2, num_edges), got {tuple(ids.shape)}")
    if flip:
        ids = ids[::-1]
    graph, order = Graph.from_edge_index(ids, num_src_nodes=num_src, num_dst_nodes=num_dst,
                                         num_nodes=_infer_nodes(ids, num_src, num_dst),
                                         return_edge_order=True)
    return TorchGraph(graph, _order_or_none(order))


def _infer_nodes(ids, num_src, num_dst):
    if num_src is not None and num_dst is not None:
        return max(num_src, num_dst)
    if ids.size == 0:
        return 0
    low = int(ids.min())
    if low < 0:
        raise ValueError(f"edge_index contains a negative id ({low})")
    return int(ids.max()) + 1


def _cached_handle(key, tensors, build, cache):
    memory = _memory_key(*tensors) if cache else None
    if memory is None:
        return build()
    full_key = key + memory
    entry = _GRAPHS.get(full_key)
    if entry is not None:
        return entry[1]
    handle = build()
    _GRAPHS.put(full_key, (tensors, handle))
    return handle


def _is_edge_index_class(obj):
    cls = type(obj)
    return cls.__name__ == "EdgeIndex" and cls.__module__.startswith("torch_geometric")


def _is_sparse_tensor_class(obj):
    cls = type(obj)
    return cls.__name__ == "SparseTensor" and cls.__module__.startswith("torch_sparse")


def _size_pair(num_nodes, size):
    if size is not None:
        if num_nodes is not None:
            raise ValueError("pass either num_nodes or size, not both")
        if not isinstance(size, (tuple, list)) or len(size) != 2:
            raise ValueError(f"size must be a pair (num_src_nodes, num_dst_nodes), got {size!r}")
        return (None if size[0] is None else V.check_size(size[0], "size[0]"),
                None if size[1] is None else V.check_size(size[1], "size[1]"))
    if num_nodes is None:
        return None, None
    n = V.check_size(num_nodes, "num_nodes")
    return n, n


def to_graph(adj, num_nodes=None, *, size=None, cache=True):
    """The graph handle of a PyG ``edge_index`` or a sparse adjacency (cached).

    Parameters
    ----------
    adj : torch.Tensor, EdgeIndex, SparseTensor, fastgnn.Graph or TorchGraph
        * an integer tensor of shape ``(2, E)``: PyG's ``edge_index``, row 0
          sources, row 1 destinations (a PyG ``EdgeIndex`` is read the same way);
        * a ``torch.sparse_csr_tensor`` / ``sparse_coo_tensor`` /
          ``sparse_csc_tensor`` of shape ``(num_dst_nodes, num_src_nodes)``
          (PyG's ``adj_t``: ``adj_t[i, j]`` is the edge ``j -> i``);
        * a ``torch_sparse.SparseTensor`` (``adj_t``, as above).
    num_nodes : int, optional
        Nodes of a square ``edge_index`` graph (default ``max + 1``).
    size : (int, int), optional
        ``(num_src_nodes, num_dst_nodes)`` of a bipartite ``edge_index`` (PyG's ``size``).
    cache : bool
        Reuse (and remember) the handle of the same index memory; see the
        module docstring for the cache and its invalidation.

    Returns
    -------
    TorchGraph
        Edges of an ``edge_index`` are sorted by destination (stably); the
        handle's ``edge_order`` maps per-edge tensors between both orders.
    """
    if isinstance(adj, TorchGraph):
        return adj
    if isinstance(adj, Graph):
        return TorchGraph(adj)
    num_src, num_dst = _size_pair(num_nodes, size)
    if _is_sparse_tensor_class(adj):
        rowptr, col, _ = adj.csr()
        rows, cols = adj.sparse_sizes()
        return _cached_handle(("SparseTensor", rows, cols), (rowptr, col), lambda: TorchGraph(
            Graph.from_csr(_indices(rowptr, "rowptr"), _indices(col, "col"), num_src_nodes=cols)), cache)
    if not isinstance(adj, torch.Tensor):
        raise TypeError("adj must be an edge_index tensor, a torch sparse tensor, a PyG EdgeIndex, a "
                        f"torch_sparse.SparseTensor or a fastgnn.Graph, got {type(adj).__name__}")
    if adj.device.type != "cpu":
        raise TypeError(f"adj is on device '{adj.device}', but fastgnn's kernels run on the CPU; "
                        "move it with adj.cpu() first")
    layout = adj.layout
    if layout == torch.strided:
        if _is_edge_index_class(adj):
            adj = adj.as_tensor()
        return _cached_handle(("edge_index", num_src, num_dst), (adj,),
                              lambda: _handle_from_edge_index(adj, num_src, num_dst), cache)
    if adj.dim() != 2:
        raise ValueError(f"a sparse adjacency must be 2-D, got shape {tuple(adj.shape)}")
    rows, cols = int(adj.shape[0]), int(adj.shape[1])
    if layout == torch.sparse_csr:
        crow, col = adj.crow_indices(), adj.col_indices()
        return _cached_handle(("csr", rows, cols), (crow, col), lambda: TorchGraph(
            Graph.from_csr(_indices(crow, "crow_indices"), _indices(col, "col_indices"), num_src_nodes=cols)),
            cache)
    if layout == torch.sparse_csc:
        ccol, row = adj.ccol_indices(), adj.row_indices()

        def build_csc():
            # CSC of A is the destination-major CSR of A^T; reverse it, edges follow.
            transposed = Graph.from_csr(_indices(ccol, "ccol_indices"), _indices(row, "row_indices"),
                                        num_src_nodes=rows)
            return TorchGraph(transposed.reverse(), _order_or_none(transposed.transpose_csr()[2]))
        return _cached_handle(("csc", rows, cols), (ccol, row), build_csc, cache)
    if layout == torch.sparse_coo:
        indices = adj._indices()
        return _cached_handle(("coo", rows, cols), (indices,),
                              lambda: _handle_from_edge_index(indices, cols, rows, flip=True), cache)
    raise TypeError(f"unsupported sparse layout {layout}")


def _sparse_values(adj):
    """The stored values of a sparse adjacency in its own entry order (None if it has none)."""
    if _is_sparse_tensor_class(adj):
        return adj.storage.value()
    if isinstance(adj, torch.Tensor) and adj.layout == torch.sparse_coo:
        return adj._values() if not adj.requires_grad else adj.values()
    if isinstance(adj, torch.Tensor) and adj.layout in (torch.sparse_csr, torch.sparse_csc):
        return adj.values()
    return None


def _weighted_graph(graph, weight):
    """``graph`` carrying the constant values of ``weight`` (cached), or None when they cannot be cached."""
    memory = _memory_key(weight)
    if memory is None:
        return None
    key = (id(graph),) + memory
    entry = _WEIGHTED.get(key)
    if entry is not None:
        return entry[2]
    values = weight.detach().numpy()
    if not np.all(np.isfinite(values)):
        return None
    weighted = graph if values.size and np.all(values == 1) else graph.with_edge_weight(values)
    _WEIGHTED.put(key, (weight, graph, weighted))
    return weighted


def _edge_weight_argument(handle, edge_weight, dtype, name="edge_weight"):
    """``(weight tensor in CSR order or None, weighted graph or None)`` for a call."""
    if edge_weight is None:
        return None, None
    _check_tensor(edge_weight, name)
    if edge_weight.dim() != 1 or edge_weight.shape[0] != handle.num_edges:
        raise ValueError(f"{name} must have shape ({handle.num_edges},), got {tuple(edge_weight.shape)}")
    if edge_weight.dtype.is_complex or edge_weight.dtype == torch.bool:
        raise TypeError(f"{name} must hold real numbers, got {edge_weight.dtype}")
    if (handle.edge_order is None and not edge_weight.requires_grad and edge_weight.is_contiguous()
            and edge_weight.dtype in _FLOAT_DTYPES):
        # constant values in CSR order: cached with the graph they weight (keyed by this tensor,
        # before any cast, so a cast does not defeat the cache; the graph casts its weights once)
        weighted = _weighted_graph(handle.graph, edge_weight)
        if weighted is not None:
            return None, weighted
    if edge_weight.dtype != dtype:
        edge_weight = edge_weight.to(dtype)
    return handle.to_csr_order(edge_weight), None


# ---------------------------------------------------------------------------- autograd functions
def _empty_arg():
    return torch.empty(0, dtype=torch.int64)


class AggregateFunction(torch.autograd.Function):
    """``out, arg = AggregateFunction.apply(x, edge_weight, graph, weighted_graph, reduce, n_threads)``.

    ``graph`` is a fastgnn Graph; ``edge_weight`` (or None) is in its edge
    order; ``weighted_graph`` (or None) is ``graph`` already carrying the
    values of a constant ``edge_weight``. ``arg`` (max/min; empty otherwise)
    is not differentiable. Gradients: ``x`` and ``edge_weight``.
    """

    @staticmethod
    def forward(ctx, x, edge_weight, graph, weighted_graph, reduce, n_threads):
        xn = _features(x, "x")
        if weighted_graph is not None:
            used_graph, weight = weighted_graph, None
        else:
            used_graph = graph
            weight = None if edge_weight is None else _features(edge_weight, "edge_weight")
        out, arg = ops.aggregate(used_graph, xn, reduce, edge_weight=weight, return_arg=True,
                                 n_threads=n_threads)
        need_weight_grad = edge_weight is not None and ctx.needs_input_grad[1]
        ctx.graph, ctx.reduce, ctx.n_threads, ctx.arg = used_graph, reduce, n_threads, arg
        ctx.explicit_weight = weight is not None
        ctx.save_for_backward(x if need_weight_grad else None, edge_weight if weight is not None else None)
        arg_tensor = _empty_arg() if arg is None else torch.from_numpy(arg)
        ctx.mark_non_differentiable(arg_tensor)
        return torch.from_numpy(out), arg_tensor

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out, _grad_arg):
        x, edge_weight = ctx.saved_tensors
        need_x = ctx.needs_input_grad[0]
        need_weight = ctx.needs_input_grad[1] and x is not None
        if not (need_x or need_weight):
            return None, None, None, None, None, None
        result = ops.aggregate_backward(
            ctx.graph, _features(grad_out, "grad_out"), ctx.reduce,
            x=_features(x, "x") if need_weight else None,
            edge_weight=_features(edge_weight, "edge_weight") if ctx.explicit_weight else None,
            arg=ctx.arg, need_weight_grad=need_weight, n_threads=ctx.n_threads)
        grad_x, grad_weight = result if need_weight else (result, None)
        return (_tensor(grad_x) if need_x else None), _tensor(grad_weight), None, None, None, None


class SegmentReduceFunction(torch.autograd.Function):
    """``out, arg = SegmentReduceFunction.apply(x, ptr, reduce, n_threads)``, ``ptr`` an int ndarray."""

    @staticmethod
    def forward(ctx, x, ptr, reduce, n_threads):
        out, arg = ops.segment_reduce(_features(x, "x"), ptr, reduce, return_arg=True, n_threads=n_threads)
        ctx.ptr, ctx.reduce, ctx.n_threads, ctx.arg = ptr, reduce, n_threads, arg
        arg_tensor = _empty_arg() if arg is None else torch.from_numpy(arg)
        ctx.mark_non_differentiable(arg_tensor)
        return torch.from_numpy(out), arg_tensor

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out, _grad_arg):
        if not ctx.needs_input_grad[0]:
            return None, None, None, None
        grad_x = ops.segment_reduce_backward(_features(grad_out, "grad_out"), ctx.ptr, ctx.reduce, arg=ctx.arg,
                                             n_threads=ctx.n_threads)
        return torch.from_numpy(grad_x), None, None, None


class EdgeDotFunction(torch.autograd.Function):
    """``out = EdgeDotFunction.apply(a, b, graph, n_threads)``: ``out[e] = <a[dst(e)], b[src(e)]>`` in CSR order."""

    @staticmethod
    def forward(ctx, a, b, graph, n_threads):
        out = ops.edge_dot(graph, _features(a, "a"), _features(b, "b"), n_threads=n_threads)
        ctx.graph, ctx.n_threads = graph, n_threads
        ctx.save_for_backward(a, b)
        return torch.from_numpy(out)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        a, b = ctx.saved_tensors
        if not (ctx.needs_input_grad[0] or ctx.needs_input_grad[1]):
            return None, None, None, None
        grad_a, grad_b = ops.edge_dot_backward(ctx.graph, _features(grad_out, "grad_out"), _features(a, "a"),
                                               _features(b, "b"), n_threads=ctx.n_threads)
        return (torch.from_numpy(grad_a) if ctx.needs_input_grad[0] else None,
                torch.from_numpy(grad_b) if ctx.needs_input_grad[1] else None, None, None)


# ---------------------------------------------------------------------------- public ops
def _check_x(x, name="x"):
    _check_tensor(x, name)
    if x.dtype not in _FLOAT_DTYPES:
        raise TypeError(f"{name} must have dtype torch.float32 or torch.float64, got {x.dtype}")
    if x.dim() not in (1, 2):
        raise ValueError(f"{name} must be 1-D or 2-D, got shape {tuple(x.shape)}")
    return x


def _aggregate(handle, x, reduce, edge_weight, n_threads, weighted=None):
    """``(out, arg)``; ``edge_weight`` in the input's edge order, or ``weighted``: a Graph with its own weights."""
    _check_x(x)
    if x.shape[0] != handle.num_src_nodes:
        raise ValueError(f"x must have {handle.num_src_nodes} rows (the graph's source nodes), "
                         f"got shape {tuple(x.shape)}")
    if edge_weight is None:
        weight = None
    else:
        weight, weighted = _edge_weight_argument(handle, edge_weight, x.dtype)
    return AggregateFunction.apply(x, weight, handle.graph, weighted, reduce, _resolve_threads(n_threads))


def aggregate(graph, x, reduce="sum", edge_weight=None, *, num_nodes=None, size=None, return_arg=False,
              n_threads=None):
    """Differentiable :func:`fastgnn.aggregate` on tensors: ``out[i] = REDUCE_{j -> i} w_e x[j]``.

    Parameters
    ----------
    graph : TorchGraph, fastgnn.Graph, edge_index tensor or sparse tensor
        Anything :func:`to_graph` accepts (converted and cached). For a
        sparse adjacency its stored values are the edge weights.
    x : torch.Tensor of float32/float64, shape (num_src_nodes, d) or (num_src_nodes,)
    reduce : {'sum', 'add', 'mean', 'max', 'min'}
    edge_weight : torch.Tensor, shape (num_edges,), optional
        In the input's edge order (the columns of ``edge_index``); cast to
        the dtype of ``x``. Overrides a sparse tensor's values and a Graph's
        own weights. Gradients flow to it.
    num_nodes, size : optional
        Node counts of an ``edge_index`` graph (see :func:`to_graph`).
    return_arg : bool
        Also return ``arg`` (max/min: winning CSR edge id per element, -1
        for an empty row; None for sum/mean).
    n_threads : int, optional
        See "Threads" in the module docstring.

    Returns
    -------
    out : torch.Tensor of shape (num_dst_nodes, d)
    arg : torch.Tensor, only with ``return_arg``

    Notes
    -----
    Reads ``x`` in place and returns a tensor over fastgnn's output buffer.
    Cost ``O((E + N) d)``; the backward keeps only ``arg`` (max/min) and,
    when the edge-weight gradient is needed, ``x``.
    """
    reduce = V.check_reduce(reduce)
    handle = to_graph(graph, num_nodes, size=size)
    weighted = None
    if edge_weight is None:
        if isinstance(graph, Graph):
            weighted = graph  # its own weights, if any
        else:
            edge_weight = _sparse_values(graph)
    out, arg = _aggregate(handle, x, reduce, edge_weight, n_threads, weighted)
    if return_arg:
        return out, (arg if reduce in ("max", "min") else None)
    return out


def segment_reduce(x, ptr, reduce="sum", *, return_arg=False, n_threads=None):
    """Differentiable :func:`fastgnn.segment_reduce`: ``out[s] = REDUCE(x[ptr[s]:ptr[s + 1]])``.

    ``ptr`` is an integer tensor or array (starts at 0, non-decreasing, ends
    at ``len(x)``); an empty segment gives a zero row.
    """
    reduce = V.check_reduce(reduce)
    _check_x(x)
    out, arg = SegmentReduceFunction.apply(x, _indices(ptr, "ptr"), reduce, _resolve_threads(n_threads))
    if return_arg:
        return out, (arg if reduce in ("max", "min") else None)
    return out


def edge_dot(graph, a, b, *, num_nodes=None, size=None, n_threads=None):
    """Differentiable :func:`fastgnn.edge_dot`: ``out[e] = <a[dst(e)], b[src(e)]>``.

    The result is in the input's edge order (the columns of ``edge_index``,
    the stored entries of a sparse tensor), never an edges x features temporary.
    """
    handle = to_graph(graph, num_nodes, size=size)
    _check_x(a, "a")
    _check_x(b, "b")
    out = EdgeDotFunction.apply(a, b, handle.graph, _resolve_threads(n_threads))
    return handle.from_csr_order(out)


# ---------------------------------------------------------------------------- spmm
def _spmm_operand(src):
    """``(handle, values in CSR order or None)`` of a sparse matrix operand."""
    if _is_edge_index_class(src):
        # EdgeIndex as a matrix: entry (edge_index[0][e], edge_index[1][e]) -> rows are edge_index[0].
        rows, cols = src.get_sparse_size()
        plain = src.as_tensor()
        if src.is_sorted_by_row:
            indptr = src.get_indptr()
            handle = _cached_handle(("EdgeIndex-csr", rows, cols), (indptr, plain), lambda: TorchGraph(
                Graph.from_csr(_indices(indptr, "indptr"), _indices(plain[1], "col"), num_src_nodes=cols)), True)
        else:
            handle = _cached_handle(("EdgeIndex", rows, cols), (plain,),
                                    lambda: _handle_from_edge_index(plain, cols, rows, flip=True), True)
        return handle, None
    if _is_sparse_tensor_class(src):
        return to_graph(src), src.storage.value()
    if not isinstance(src, torch.Tensor) or src.layout == torch.strided:
        raise TypeError("src must be a torch sparse tensor (CSR, COO or CSC), a PyG EdgeIndex or a "
                        f"torch_sparse.SparseTensor, got {type(src).__name__}"
                        + ("" if not isinstance(src, torch.Tensor) else " with a dense layout"))
    if src.layout == torch.sparse_coo and not src.is_coalesced():
        src = src.coalesce()  # as torch_geometric.utils.spmm does (duplicates are summed)
    handle = to_graph(src)
    values = _sparse_values(src)
    if values.dim() != 1:
        raise ValueError(f"src must have scalar values, got values of shape {tuple(values.shape)}")
    return handle, values  # in the entries' order; _aggregate puts them in CSR order


def spmm(src, other, reduce="sum", *, n_threads=None):
    """``torch_geometric.utils.spmm`` on fastgnn: ``src @ other`` with a reduce, differentiable.

    Parameters
    ----------
    src : torch sparse tensor (CSR, COO or CSC), PyG ``EdgeIndex`` or ``torch_sparse.SparseTensor``
        Shape ``(num_dst_nodes, num_src_nodes)``; ``src[i, j]`` weights the
        message ``j -> i`` (PyG's ``adj_t``). An uncoalesced COO tensor is
        coalesced first (duplicates summed), as PyG does. An ``EdgeIndex``
        is read as the matrix with ones at ``(edge_index[0], edge_index[1])``.
    other : torch.Tensor of float32/float64, shape (num_src_nodes, d) or (num_src_nodes,)
    reduce : {'sum', 'add', 'mean', 'min', 'max'}
        ``mean`` divides by the number of stored entries of the row; max/min
        reduce the products ``src[i, j] * other[j]``; empty rows give 0.
    n_threads : int, optional

    Returns
    -------
    torch.Tensor of shape (num_dst_nodes, d)
        Gradients flow to ``other`` and to the values of ``src``.
    """
    if isinstance(reduce, str) and reduce not in V.REDUCES:
        raise ValueError(f"`reduce` argument '{reduce}' not supported")
    reduce = V.check_reduce(reduce)
    handle, values = _spmm_operand(src)
    _check_x(other, "other")
    if other.shape[0] != handle.num_src_nodes:
        raise ValueError(f"other must have {handle.num_src_nodes} rows (src has {handle.num_src_nodes} "
                         f"columns), got shape {tuple(other.shape)}")
    return _aggregate(handle, other, reduce, values, n_threads)[0]


# ---------------------------------------------------------------------------- PyG integration
_PYG_LOCK = threading.RLock()
_PYG_STATE = {"depth": 0, "saved": [], "threads": []}


def _pyg_supports(src, other, reduce):
    """Whether the patched spmm can take this call (else PyG's own code runs)."""
    if not isinstance(other, torch.Tensor) or other.device.type != "cpu" or other.dtype not in _FLOAT_DTYPES:
        return False
    if other.layout != torch.strided or other.dim() not in (1, 2):
        return False
    if not isinstance(reduce, str) or reduce not in V.REDUCES:
        return False
    if _is_edge_index_class(src):
        return src.device.type == "cpu" and src.is_sorted_by_row
    if _is_sparse_tensor_class(src):
        value = src.storage.value()
        return not src.is_cuda() and (value is None or value.dim() == 1)
    if not isinstance(src, torch.Tensor) or src.device.type != "cpu" or src.dim() != 2:
        return False
    if src.layout not in (torch.sparse_csr, torch.sparse_coo, torch.sparse_csc):
        return False
    values = src._values() if src.layout == torch.sparse_coo else src.values()
    return values.dim() == 1 and (values.dtype.is_floating_point or values.dtype in _INT_DTYPES)


def _make_pyg_spmm(original):
    def spmm_on_fastgnn(src, other, reduce="sum"):
        if _pyg_supports(src, other, reduce):
            threads = _PYG_STATE["threads"][-1] if _PYG_STATE["threads"] else None
            return spmm(src, other, reduce, n_threads=threads)
        return original(src, other, reduce)

    spmm_on_fastgnn.__wrapped__ = original
    spmm_on_fastgnn.__doc__ = "torch_geometric.utils.spmm routed to fastgnn (fastgnn.interop.torch.use_with_pyg)."
    return spmm_on_fastgnn


def _coalesce_with_loops(crow, col, values, num_nodes, fill_value):
    """PyG's ``add_self_loops`` on a sparse CSR adjacency: ``A + fill I``, coalesced (sorted, duplicates summed)."""
    rows = np.repeat(np.arange(num_nodes, dtype=np.int64), np.diff(crow.astype(np.int64)))
    loops = np.arange(num_nodes, dtype=np.int64)
    rows = np.concatenate([rows, loops])
    cols = np.concatenate([col.astype(np.int64), loops])
    vals = np.concatenate([values.astype(np.float64), np.full(num_nodes, fill_value, dtype=np.float64)])
    key = rows * max(num_nodes, 1) + cols
    order = np.argsort(key, kind="stable")
    key = key[order]
    starts = np.flatnonzero(np.concatenate([[True], key[1:] != key[:-1]])) if key.size else np.zeros(0, np.int64)
    merged = np.add.reduceat(vals[order], starts) if key.size else vals
    unique_rows = rows[order][starts]
    new_crow = np.zeros(num_nodes + 1, dtype=np.int64)
    np.cumsum(np.bincount(unique_rows, minlength=num_nodes), out=new_crow[1:])
    return new_crow, cols[order][starts], merged


def _gcn_normalized(adj, fill_value, add_self_loops):
    """PyG's ``gcn_norm`` of a sparse CSR adjacency, with the fastgnn graph of the result cached."""
    crow_t, col_t, values_t = adj.crow_indices(), adj.col_indices(), adj.values()
    memory = _memory_key(crow_t, col_t, values_t)
    key = None if memory is None else ("gcn_norm", float(fill_value), bool(add_self_loops), tuple(adj.shape)) + memory
    entry = None if key is None else _GCN_NORMS.get(key)
    if entry is not None:
        return entry[1]
    num_nodes = int(adj.shape[0])
    crow, col = _indices(crow_t, "crow_indices"), _indices(col_t, "col_indices")
    values = values_t.detach().numpy()
    if add_self_loops:
        crow, col, weight = _coalesce_with_loops(crow, col, values, num_nodes, fill_value)
    else:
        crow, col, weight = crow.astype(np.int64), col.astype(np.int64), values.astype(np.float64)
    rows = np.repeat(np.arange(num_nodes, dtype=np.int64), np.diff(crow))
    degree = np.bincount(rows, weights=weight, minlength=num_nodes)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv_sqrt = degree ** -0.5
    inv_sqrt[np.isinf(inv_sqrt)] = 0.0
    norm = (inv_sqrt[col] * weight * inv_sqrt[rows]).astype(values.dtype)
    result = torch.sparse_csr_tensor(torch.from_numpy(crow), torch.from_numpy(col), torch.from_numpy(norm),
                                     size=tuple(adj.shape))
    # Register the graph and its constant values now: spmm finds both on every later call.
    handle = to_graph(result)
    _weighted_graph(handle.graph, result.values())
    if key is not None:
        _GCN_NORMS.put(key, ((crow_t, col_t, values_t), result))
    return result


def _make_pyg_gcn_norm(original):
    def gcn_norm_on_fastgnn(edge_index, edge_weight=None, num_nodes=None, improved=False, add_self_loops=True,
                            flow="source_to_target", dtype=None):
        adj = edge_index
        if (isinstance(adj, torch.Tensor) and not _is_edge_index_class(adj) and adj.layout == torch.sparse_csr
                and adj.device.type == "cpu" and adj.dim() == 2 and adj.shape[0] == adj.shape[1]):
            values = adj.values()
            if values.dim() == 1 and values.dtype in _FLOAT_DTYPES and not values.requires_grad:
                return _gcn_normalized(adj, 2.0 if improved else 1.0, add_self_loops), None
        return original(edge_index, edge_weight, num_nodes, improved, add_self_loops, flow, dtype)

    gcn_norm_on_fastgnn.__wrapped__ = original
    gcn_norm_on_fastgnn.__doc__ = ("PyG's gcn_norm, cached per sparse CSR adjacency "
                                   "(fastgnn.interop.torch.use_with_pyg).")
    return gcn_norm_on_fastgnn


def _pyg_patches():
    """``[(module, name, original, replacement)]`` for every PyG layer module binding spmm or gcn_norm."""
    import torch_geometric.nn  # noqa: F401  (loads every conv module)
    from torch_geometric.nn.conv import gcn_conv
    from torch_geometric.utils import _spmm

    originals = {"spmm": _spmm.spmm, "gcn_norm": gcn_conv.gcn_norm}
    replacements = {"spmm": _make_pyg_spmm(originals["spmm"]),
                    "gcn_norm": _make_pyg_gcn_norm(originals["gcn_norm"])}
    patches = []
    for module_name, module in list(sys.modules.items()):
        if module is None or not module_name.startswith("torch_geometric.nn."):
            continue
        for name, original in originals.items():
            if getattr(module, name, None) is original:
                patches.append((module, name, original, replacements[name]))
    return patches


@contextlib.contextmanager
def use_with_pyg(*, n_threads=None):
    """Run PyTorch Geometric's layers on fastgnn's kernels inside a ``with`` block.

    PyG's ``MessagePassing.propagate`` takes a fused path when it is given a
    sparse adjacency (a ``torch.sparse_csr_tensor`` / COO / CSC, a
    ``torch_sparse.SparseTensor``): it calls the layer's
    ``message_and_aggregate``, which calls ``torch_geometric.utils.spmm``
    (GCNConv, SAGEConv, GINConv, GraphConv and the other layers that fuse).
    Each layer module imports ``spmm`` by name, so this context rebinds that
    name in the modules of ``torch_geometric.nn`` to :func:`spmm` and
    restores the originals on exit. ``GCNConv`` also normalizes the sparse
    adjacency on every call (``gcn_norm``: add self-loops, coalesce, degree
    scaling), which costs more than the aggregation; the context rebinds
    ``gcn_norm`` too, to a version that caches the normalized adjacency per
    input (as ``GCNConv(cached=True)``; see the module docstring). Both fall
    back to PyG's own code for anything fastgnn does not handle (CUDA
    tensors, values that require grad in ``gcn_norm``, multi-dimensional
    values, other dtypes, an unsorted ``EdgeIndex``), so results never change.

    The ``edge_index`` path (messages gathered into an edges x features
    tensor, then scattered) is left to PyG; build the layer with
    ``aggr=fastgnn.interop.torch.Aggregation(...)`` to aggregate those
    messages with fastgnn, or pass a sparse adjacency (fastest).

    Parameters
    ----------
    n_threads : int, optional
        Threads of the kernels called inside (default: see "Threads").

    Notes
    -----
    The rebinding is process-wide (every thread sees it) while any
    ``use_with_pyg`` block is active; blocks may nest.

    Examples
    --------
    >>> from torch_geometric.nn import GCNConv            # doctest: +SKIP
    >>> conv = GCNConv(16, 16)                            # doctest: +SKIP
    >>> with use_with_pyg():                              # doctest: +SKIP
    ...     out = conv(x, adj_t)   # adj_t: torch.sparse_csr_tensor, rows = destinations
    """
    if n_threads is not None:
        _threads._check_count(n_threads, "n_threads")
    with _PYG_LOCK:
        if _PYG_STATE["depth"] == 0:
            patches = _pyg_patches()
            for module, name, _, replacement in patches:
                setattr(module, name, replacement)
            _PYG_STATE["saved"] = patches
        _PYG_STATE["depth"] += 1
        _PYG_STATE["threads"].append(n_threads)
    try:
        yield
    finally:
        with _PYG_LOCK:
            _PYG_STATE["threads"].pop()
            _PYG_STATE["depth"] -= 1
            if _PYG_STATE["depth"] == 0:
                for module, name, original, _ in _PYG_STATE["saved"]:
                    setattr(module, name, original)
                _PYG_STATE["saved"] = []


# ---------------------------------------------------------------------------- Aggregation module


def _message_graph(index, dim_size):
    """The CSR that gathers messages ``e`` into rows ``index[e]`` (cached per index tensor)."""
    memory = _memory_key(index)
    key = None if memory is None else ("messages", dim_size) + memory
    entry = None if key is None else _MESSAGE_GRAPHS.get(key)
    if entry is not None:
        return entry[1]
    ids = _indices(index, "index")
    if ids.ndim != 1:
        raise ValueError(f"index must be 1-D, got shape {tuple(ids.shape)}")
    edge_index = np.stack([np.arange(ids.shape[0], dtype=np.int64), ids.astype(np.int64, copy=False)])
    graph = Graph.from_edge_index(edge_index, num_src_nodes=ids.shape[0], num_dst_nodes=dim_size,
                                  num_nodes=max(dim_size, ids.shape[0]))
    if key is not None:
        _MESSAGE_GRAPHS.put(key, (index, graph))
    return graph


def _aggregation_forward(module, x, index=None, ptr=None, dim_size=None, dim=-2, max_num_elements=None):
    _check_x(x)
    if x.dim() != 2 or dim not in (0, -2):
        raise ValueError(f"Aggregation needs 2-D messages aggregated over dim 0, got shape {tuple(x.shape)} "
                         f"and dim={dim}")
    threads = _resolve_threads(module.n_threads)
    if ptr is not None:
        ptr_array = _indices(ptr, "ptr")
        if dim_size is not None and dim_size != ptr_array.shape[0] - 1:
            raise ValueError(f"dim_size must be len(ptr) - 1 = {ptr_array.shape[0] - 1}, got {dim_size}")
        return SegmentReduceFunction.apply(x, ptr_array, module.reduce, threads)[0]
    if index is None:
        raise ValueError("Aggregation needs index or ptr")
    _check_tensor(index, "index")
    if index.dim() != 1 or index.shape[0] != x.shape[0]:
        raise ValueError(f"index must have shape ({x.shape[0]},), got {tuple(index.shape)}")
    if index.dtype not in _INT_DTYPES:
        raise TypeError(f"index must have an integer dtype, got {index.dtype}")
    if dim_size is None:
        dim_size = int(index.max()) + 1 if index.numel() else 0
    dim_size = V.check_size(dim_size, "dim_size")
    if index.numel() and (int(index.min()) < 0 or int(index.max()) >= dim_size):
        raise ValueError(f"index must hold ids in [0, dim_size={dim_size}), got ids in "
                         f"[{int(index.min())}, {int(index.max())}]")
    graph = _message_graph(index, dim_size)
    return AggregateFunction.apply(x, None, graph, None, module.reduce, threads)[0]


_AGGREGATION_DOC = """A PyG-compatible aggregation of messages on fastgnn's kernels.

    ``Aggregation(reduce)(x, index, dim_size=N)`` reduces the rows of ``x``
    that share an ``index`` (``ptr=`` for rows already grouped:
    :func:`fastgnn.segment_reduce`), like PyG's ``SumAggregation``,
    ``MeanAggregation``, ``MaxAggregation``, ``MinAggregation``; empty groups
    give 0. Pass it as ``aggr=`` to a PyG layer (``SAGEConv(16, 16,
    aggr=Aggregation("max"))``) to aggregate on the ``edge_index`` path.

    On that path PyG has already gathered one message per edge, an edges x
    features tensor (``x_j``), before aggregation starts: this module cannot
    avoid that memory (nor the E x d gradient of it); it only reduces it
    deterministically without atomics. For the fused path that never builds
    it, give the layer a sparse adjacency under :func:`use_with_pyg`.

    The CSR that groups messages by ``index`` is cached per ``index`` tensor
    (see the module docstring). Max/min keep the winning message per output
    element for the backward; ties go to the first message in ``index``
    order (PyG's scatter splits a tie's gradient).

    Parameters
    ----------
    reduce : {'sum', 'add', 'mean', 'max', 'min'}
    n_threads : int, optional
    """


def _build_aggregation_class():
    try:
        from torch_geometric.nn.aggr import Aggregation as base
    except ImportError:  # pragma: no cover - PyG is optional
        base = torch.nn.Module

    class Aggregation(base):
        __doc__ = _AGGREGATION_DOC

        def __init__(self, reduce="sum", *, n_threads=None):
            super().__init__()
            self.reduce = V.check_reduce(reduce)
            self.n_threads = n_threads

        def forward(self, x, index=None, ptr=None, dim_size=None, dim=-2, max_num_elements=None):
            return _aggregation_forward(self, x, index, ptr, dim_size, dim, max_num_elements)

        def __repr__(self):
            return f"{self.__class__.__name__}({self.reduce!r})"

    Aggregation.__module__ = __name__
    Aggregation.__qualname__ = "Aggregation"
    return Aggregation


def __getattr__(name):
    # Built on first use: subclassing PyG's Aggregation imports torch_geometric (slow), only when needed.
    if name == "Aggregation":
        cls = _build_aggregation_class()
        globals()["Aggregation"] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
