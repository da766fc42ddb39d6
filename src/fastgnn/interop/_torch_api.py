"""The PyTorch adapter's machinery: graph handles and their caches, the differentiable ops, ``spmm``.

Private: :mod:`fastgnn.interop.torch` is the public face (its docstring
documents all of this); :mod:`fastgnn.interop._pyg` builds PyG's
replacements on it.
"""
import collections
import threading

import numpy as np
import torch
from torch.multiprocessing.reductions import StorageWeakRef

from fastgnn._runtime import threads as _threads
from fastgnn._runtime import validate as V
from fastgnn.graph import Graph
from fastgnn.interop import _torch_ops as _ops
from fastgnn.interop._torch_ops import TorchGraph, _check_tensor, _indices

__all__ = [
    "TorchGraph",
    "to_graph",
    "aggregate",
    "segment_reduce",
    "edge_dot",
    "spmm",
    "Aggregation",
    "clear_cache",
    "cache_info",
    "CACHE_SIZE",
    "CACHE_BYTES",
    "set_cache_limits",
]

TorchGraph.__module__ = "fastgnn.interop.torch"

def set_cache_limits(entries=None, nbytes=None):
    """Set the bounds of the adapter's caches; returns the previous ``(entries, nbytes)``.

    Parameters
    ----------
    entries : int, optional
        Entries each cache keeps (default 8, :data:`CACHE_SIZE`).
    nbytes : int, optional
        Bytes each cache keeps (default 512 MiB, :data:`CACHE_BYTES`); its
        newest entry is always kept.
    """
    global CACHE_SIZE, CACHE_BYTES
    previous = (CACHE_SIZE, CACHE_BYTES)
    if entries is not None:
        CACHE_SIZE = V.check_size(entries, "entries")
    if nbytes is not None:
        CACHE_BYTES = V.check_size(nbytes, "nbytes")
    for cache in _CACHES:
        cache.values()  # applies the new bounds now
    return previous


#: Entries kept by each of the caches (graphs, GCN normalizations, message groupings, coalesced values).
CACHE_SIZE = 8
#: Bytes (estimated from the arrays held) above which each cache drops its least recently used entries.
CACHE_BYTES = 512 * 2 ** 20

_FLOAT_DTYPES = (torch.float32, torch.float64)
_INT_DTYPES = (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)
_memory_key = _ops.memory_key
# Host code (numpy, caches) never runs inside a traced region: dynamo calls it as it is.
_host = torch.compiler.disable


# ---------------------------------------------------------------------------- caches
def _tensor_nbytes(*tensors):
    return sum(t.numel() * t.element_size() for t in tensors if t is not None)


class _Cache:
    """A thread-safe least-recently-used map of what was built from some tensors' memory.

    An entry holds weak references to those tensors' storages and is valid while they live;
    ``keep`` is held strongly (an object whose ``id`` is part of the key). Bounded by
    :data:`CACHE_SIZE` entries and :data:`CACHE_BYTES` bytes (``nbytes(value)``).
    """

    def __init__(self, name, nbytes):
        self.name = name
        self._nbytes = nbytes
        self._data = collections.OrderedDict()  # key -> (value, storage weak refs, kept objects)
        self._lock = threading.RLock()

    @staticmethod
    def _expired(refs):
        return any(ref.expired() for ref in refs)

    def get(self, key):
        with self._lock:
            entry = self._data.get(key)
            if entry is None:
                return None
            if self._expired(entry[1]):
                del self._data[key]
                return None
            self._data.move_to_end(key)
            return entry[0]

    def put(self, key, value, tensors, keep=()):
        refs = tuple(StorageWeakRef(t.untyped_storage()) for t in tensors)
        with self._lock:
            self._data[key] = (value, refs, keep)
            self._data.move_to_end(key)
            self._purge()
            while len(self._data) > max(0, CACHE_SIZE) or (len(self._data) > 1 and self._bytes() > CACHE_BYTES):
                self._data.popitem(last=False)
        return value

    def _purge(self):
        for key in [key for key, entry in self._data.items() if self._expired(entry[1])]:
            del self._data[key]

    def _bytes(self):
        return sum(self._nbytes(entry[0]) for entry in list(self._data.values()))

    def values(self):
        with self._lock:
            self._purge()
            return [entry[0] for entry in self._data.values()]

    def clear(self):
        with self._lock:
            self._data.clear()

    def __len__(self):
        return len(self._data)


_GCN_NORMS = _Cache("gcn_norm", lambda adj: _tensor_nbytes(adj.crow_indices(), adj.col_indices(), adj.values()))
_COALESCED = _Cache("coalesced", lambda values: _tensor_nbytes(values))
_GRAPHS = _Cache("graphs", lambda handle: handle.nbytes)
_MESSAGE_GRAPHS = _Cache("message_graphs", lambda handle: handle.nbytes)  # Aggregation: messages by index
# in release order: a GCN normalization holds the tensors a graph entry was built from
_CACHES = (_GCN_NORMS, _COALESCED, _GRAPHS, _MESSAGE_GRAPHS)


def clear_cache():
    """Forget every cached graph, edge-value set, GCN normalization, message grouping and coalesced COO."""
    for cache in _CACHES:
        cache.clear()
    _ops.clear_foreign()


def cache_info():
    """What the caches hold now (entries whose tensors were freed are dropped first).

    Returns
    -------
    dict
        ``{'graphs': n, 'edge_values': n, 'gcn_norm': n, 'message_graphs': n,
        'coalesced': n, 'bytes': b}``: entries of each cache (``edge_values``
        counts the constant weight sets cached with the graphs) and the bytes
        of the arrays they hold (graphs, their transposes and degrees, edge
        orders, weights, normalized adjacencies).
    """
    values = {cache.name: cache.values() for cache in _CACHES}
    handles = values["graphs"] + values["message_graphs"]
    total = sum(cache._nbytes(value) for cache in _CACHES for value in values[cache.name])
    return {"graphs": len(values["graphs"]), "edge_values": sum(h.num_weight_sets for h in handles),
            "gcn_norm": len(values["gcn_norm"]), "message_graphs": len(values["message_graphs"]),
            "coalesced": len(values["coalesced"]), "bytes": total}


# ---------------------------------------------------------------------------- graph handles
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


def _cached_handle(key, tensors, build, cache, keep=()):
    memory = _memory_key(*tensors) if cache else None
    if memory is None:
        return build()
    full_key = key + memory
    handle = _GRAPHS.get(full_key)
    if handle is None:
        handle = _GRAPHS.put(full_key, build(), tensors, keep)
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


def _check_device(tensor, name):
    if tensor.device.type != "cpu":
        raise TypeError(f"{name} is on device '{tensor.device}', but fastgnn's kernels run on the CPU; "
                        f"move it with {name}.cpu() first")


def _merged_coo_handle(indices, rows, cols):
    """The graph of an uncoalesced COO tensor's coalesced form, and each entry's merged edge."""
    ids = torch.from_numpy(_indices(indices, "indices").astype(np.int64, copy=False))
    if ids.numel() and (int(ids.min()) < 0 or int(ids[0].max()) >= rows or int(ids[1].max()) >= cols):
        raise ValueError(f"the COO tensor has indices outside its shape ({rows}, {cols})")
    # coalesce() sorts entries by (row, col): the linear index orders them the same way
    linear, entry = torch.unique(ids[0] * cols + ids[1], return_inverse=True)
    handle = _handle_from_edge_index(torch.stack([linear % max(cols, 1), linear // max(cols, 1)]), cols, rows)
    handle.merged_entries = entry
    return handle


@_host
def to_graph(adj, num_nodes=None, *, size=None, cache=True):
    """The graph handle of a PyG ``edge_index`` or a sparse adjacency (cached).

    Parameters
    ----------
    adj : torch.Tensor, EdgeIndex, SparseTensor, fastgnn.Graph or TorchGraph
        * an integer tensor of shape ``(2, E)``: PyG's ``edge_index``, row 0
          sources, row 1 destinations (a PyG ``EdgeIndex`` is read the same way);
        * a ``torch.sparse_csr_tensor`` / ``sparse_coo_tensor`` /
          ``sparse_csc_tensor`` of shape ``(num_dst_nodes, num_src_nodes)``
          (PyG's ``adj_t``: ``adj_t[i, j]`` is the edge ``j -> i``); an
          uncoalesced COO tensor gives the graph of its coalesced form;
        * a ``torch_sparse.SparseTensor`` (``adj_t``, as above);
        * a :class:`fastgnn.Graph` (kept by reference while cached; its own
          edge weights are used when a call gives none).
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
        return _cached_handle(("Graph", id(adj)), (), lambda: TorchGraph(adj), cache, keep=(adj,))
    num_src, num_dst = _size_pair(num_nodes, size)
    if _is_sparse_tensor_class(adj):
        rowptr, col, _ = adj.csr()
        rows, cols = adj.sparse_sizes()
        return _cached_handle(("SparseTensor", rows, cols), (rowptr, col), lambda: TorchGraph(
            Graph.from_csr(_indices(rowptr, "rowptr"), _indices(col, "col"), num_src_nodes=cols)), cache)
    if not isinstance(adj, torch.Tensor):
        raise TypeError("adj must be an edge_index tensor, a torch sparse tensor, a PyG EdgeIndex, a "
                        f"torch_sparse.SparseTensor or a fastgnn.Graph, got {type(adj).__name__}")
    _check_device(adj, "adj")
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
        if adj.is_coalesced():
            return _cached_handle(("coo", rows, cols), (indices,),
                                  lambda: _handle_from_edge_index(indices, cols, rows, flip=True), cache)
        return _cached_handle(("coo-merged", rows, cols), (indices,),
                              lambda: _merged_coo_handle(indices, rows, cols), cache)
    raise TypeError(f"unsupported sparse layout {layout}")


def _coalesced_values(adj):
    """The values of an uncoalesced COO tensor's coalesced form (duplicates summed; differentiable)."""
    if adj.requires_grad:
        return adj.coalesce().values()
    indices, values = adj._indices(), adj._values()
    memory = _memory_key(indices, values)
    key = None if memory is None else ("coalesced", tuple(adj.shape)) + memory
    merged = None if key is None else _COALESCED.get(key)
    if merged is None:
        merged = adj.coalesce()._values()
        if key is not None:
            _COALESCED.put(key, merged, (indices, values))
    return merged


def _sparse_values(adj):
    """The stored values of a sparse adjacency in its handle's input order (None if it has none).

    Never a view of the sparse tensor (torch.compile cannot trace those): constant values are
    an alias of the same memory (so the caches still see in-place changes), values that require
    grad a differentiable copy.
    """
    if _is_sparse_tensor_class(adj):
        return adj.storage.value()
    if not isinstance(adj, torch.Tensor) or adj.layout == torch.strided:
        return None
    if adj.layout == torch.sparse_coo:
        if not adj.is_coalesced():
            values = _coalesced_values(adj)
        else:
            values = adj.values() if adj.requires_grad else adj._values()
    elif adj.layout in (torch.sparse_csr, torch.sparse_csc):
        values = adj.values()
    else:
        return None
    return values.clone() if values.requires_grad else values.detach()


def _edge_weight_argument(handle, edge_weight, dtype, name="edge_weight", merged=False):
    """``(weight in CSR order, constant)`` for a kernel call.

    ``edge_weight`` is in the input's edge order: an uncoalesced COO tensor's entries (summed
    into their merged edges here) unless ``merged``. Constant weights already in CSR order go
    as they are (the kernel casts them once, with the cached graph they weight); others are
    cast to ``dtype`` and reordered by differentiable indexing.
    """
    _check_tensor(edge_weight, name)
    entries = getattr(handle, "merged_entries", None)
    expected = handle.num_edges if entries is None or merged else entries.shape[0]
    if edge_weight.dim() != 1 or edge_weight.shape[0] != expected:
        raise ValueError(f"{name} must have shape ({expected},), got {tuple(edge_weight.shape)}")
    if edge_weight.dtype.is_complex or edge_weight.dtype == torch.bool:
        raise TypeError(f"{name} must hold real numbers, got {edge_weight.dtype}")
    if entries is not None and not merged:
        entry_weight = edge_weight.to(dtype)  # duplicates of a COO tensor: summed, as coalesce() does
        edge_weight = entry_weight.new_zeros(handle.num_edges).index_add(0, entries, entry_weight)
    elif (handle.edge_order is None and not edge_weight.requires_grad and edge_weight.is_contiguous()
          and edge_weight.dtype in _FLOAT_DTYPES):
        return edge_weight, True
    if edge_weight.dtype != dtype:
        edge_weight = edge_weight.to(dtype)
    return handle.to_csr_order(edge_weight), False


def _explicit_threads(n_threads):
    return None if n_threads is None else _threads.check_num_threads(n_threads, "n_threads")


# ---------------------------------------------------------------------------- public ops
def _check_x(x, name="x"):
    _check_tensor(x, name)
    if x.dtype not in _FLOAT_DTYPES:
        raise TypeError(f"{name} must have dtype torch.float32 or torch.float64, got {x.dtype}")
    if x.dim() not in (1, 2):
        raise ValueError(f"{name} must be 1-D or 2-D, got shape {tuple(x.shape)}")
    return x


def _aggregate(handle, x, reduce, edge_weight, n_threads, merged=False):
    """``(out, arg)`` of ``fastgnn::aggregate``; ``edge_weight`` in the input's edge order (or None)."""
    _check_x(x)
    if x.shape[0] != handle.num_src_nodes:
        raise ValueError(f"x must have {handle.num_src_nodes} rows (the graph's source nodes), "
                         f"got shape {tuple(x.shape)}")
    if edge_weight is not None:
        weight, constant = _edge_weight_argument(handle, edge_weight, x.dtype, merged=merged)
    else:
        weight, constant = handle.own_weight, True
    return _ops.aggregate_op(x, handle.indptr, handle.indices, handle.num_src_nodes, weight, constant, reduce,
                             _explicit_threads(n_threads))


@_host
def _aggregate_operand(graph, num_nodes, size):
    """``(handle, the values of a sparse adjacency or None)``."""
    handle = to_graph(graph, num_nodes, size=size)
    values = None if isinstance(graph, (Graph, TorchGraph)) else _sparse_values(graph)
    return handle, values


def aggregate(graph, x, reduce="sum", edge_weight=None, *, num_nodes=None, size=None, return_arg=False,
              n_threads=None):
    """Differentiable :func:`fastgnn.aggregate` on tensors: ``out[i] = REDUCE_{j -> i} w_e x[j]``.

    Parameters
    ----------
    graph : TorchGraph, fastgnn.Graph, edge_index tensor or sparse tensor
        Anything :func:`to_graph` accepts (converted and cached). For a
        sparse adjacency its stored values are the edge weights (an
        uncoalesced COO tensor's duplicates summed, as ``coalesce()`` does).
    x : torch.Tensor of float32/float64, shape (num_src_nodes, d) or (num_src_nodes,)
        Or (num_src_nodes, H, F): multi-head features. With ``edge_weight``
        of shape (num_edges, H) (one weight per edge and head, e.g.
        attention coefficients; reduce 'sum' or 'mean', same dtype as ``x``)
        ``out[i, h] = sum_e w[e, h] x[src e, h]``, differentiable once;
        without weights or with (num_edges,) weights, ``x`` is aggregated
        as (num_src_nodes, H * F).
    reduce : {'sum', 'add', 'mean', 'max', 'min'}
    edge_weight : torch.Tensor, shape (num_edges,) or (num_edges, H), optional
        In the input's edge order (the columns of ``edge_index``, the stored
        entries of a sparse tensor); cast to the dtype of ``x`` (1-D). Overrides a
        sparse tensor's values and a Graph's own weights. Gradients flow to it.
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
    when the edge-weight gradient is needed, ``x``. Differentiable to any
    order (see the module docstring).
    """
    reduce = V.check_reduce(reduce)
    if isinstance(graph, TorchGraph):  # a handle: nothing to build, nothing that breaks a compiled graph
        handle, values = graph, None
    else:
        handle, values = _aggregate_operand(graph, num_nodes, size)
    merged = edge_weight is None and values is not None
    out, arg = _aggregate(handle, x, reduce, values if merged else edge_weight, n_threads, merged=merged)
    if return_arg:
        return out, (arg if reduce in ("max", "min") else None)
    return out


def _ptr_tensor(ptr):
    if isinstance(ptr, torch.Tensor):
        _check_tensor(ptr, "ptr")
        if ptr.dtype not in _INT_DTYPES:
            raise TypeError(f"ptr must have an integer dtype, got {ptr.dtype}")
        return ptr
    return torch.from_numpy(np.ascontiguousarray(V.as_index_vector(ptr, "ptr"), dtype=np.int64))


@_host
def _check_ptr(ptr, num_rows):
    array = _indices(ptr, "ptr")
    if array.ndim != 1:
        raise ValueError(f"ptr must be 1-D, got shape {tuple(array.shape)}")
    V.check_indptr(array, num_rows, "ptr")


def segment_reduce(x, ptr, reduce="sum", *, return_arg=False, n_threads=None):
    """Differentiable :func:`fastgnn.segment_reduce`: ``out[s] = REDUCE(x[ptr[s]:ptr[s + 1]])``.

    ``ptr`` is an integer tensor or array (starts at 0, non-decreasing, ends
    at ``len(x)``); an empty segment gives a zero row. Differentiable to any
    order (max/min through the winning rows).
    """
    reduce = V.check_reduce(reduce)
    _check_x(x)
    ptr = _ptr_tensor(ptr)
    _check_ptr(ptr, x.shape[0])
    out, arg = _ops.segment_reduce_op(x, ptr, reduce, _explicit_threads(n_threads))
    if return_arg:
        return out, (arg if reduce in ("max", "min") else None)
    return out


def edge_dot(graph, a, b, *, num_nodes=None, size=None, n_threads=None):
    """Differentiable :func:`fastgnn.edge_dot`: ``out[e] = <a[dst(e)], b[src(e)]>``.

    The result is in the input's edge order (the columns of ``edge_index``,
    the stored entries of a sparse tensor; duplicate entries of an
    uncoalesced COO tensor read their merged edge), never an edges x
    features temporary. Differentiable to any order.
    """
    handle = graph if isinstance(graph, TorchGraph) else to_graph(graph, num_nodes, size=size)
    _check_x(a, "a")
    _check_x(b, "b")
    if a.shape[0] != handle.num_dst_nodes or b.shape[0] != handle.num_src_nodes:
        raise ValueError(f"a and b must have {handle.num_dst_nodes} and {handle.num_src_nodes} rows (the graph's "
                         f"destination and source nodes), got shapes {tuple(a.shape)} and {tuple(b.shape)}")
    out = _ops.edge_dot_op(a, b, handle.indptr, handle.indices, handle.num_src_nodes, _explicit_threads(n_threads))
    out = handle.from_csr_order(out)
    entries = getattr(handle, "merged_entries", None)
    return out if entries is None else out[entries]


# ---------------------------------------------------------------------------- spmm
@_host
def _spmm_operand(src):
    """``(handle, values in the handle's input order or None)`` of a sparse matrix operand."""
    if _is_edge_index_class(src):
        _check_device(src, "src")
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
    _check_device(src, "src")
    handle = to_graph(src)
    values = _sparse_values(src)
    if values.dim() != 1:
        raise ValueError(f"src must have scalar values, got values of shape {tuple(values.shape)}")
    return handle, values


def spmm(src, other, reduce="sum", *, n_threads=None):
    """``torch_geometric.utils.spmm`` on fastgnn: ``src @ other`` with a reduce, differentiable.

    Parameters
    ----------
    src : torch sparse tensor (CSR, COO or CSC), PyG ``EdgeIndex`` or ``torch_sparse.SparseTensor``
        Shape ``(num_dst_nodes, num_src_nodes)``; ``src[i, j]`` weights the
        message ``j -> i`` (PyG's ``adj_t``). An uncoalesced COO tensor is
        read coalesced (duplicates summed), as PyG does. An ``EdgeIndex``
        is read as the matrix with ones at ``(edge_index[0], edge_index[1])``.
        The values of a torch sparse tensor must have the dtype of ``other``
        (as in ``torch.sparse.mm``); a ``SparseTensor``'s are cast (as in PyG).
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
    if values is not None and values.dtype != other.dtype and not _is_sparse_tensor_class(src):
        raise TypeError(f"src has values of dtype {values.dtype} but other has dtype {other.dtype}; "
                        "torch.sparse.mm and PyG need them to match: cast one of them")
    return _aggregate(handle, other, reduce, values, n_threads, merged=True)[0]


# ---------------------------------------------------------------------------- PyG integration
_PYG_LOCK = threading.RLock()
_PYG_STATE = {"depth": 0, "saved": [], "threads": []}


def _pyg_threads():
    """The ``n_threads`` of the innermost active :func:`use_with_pyg` block (None: the default)."""
    threads = _PYG_STATE["threads"]
    return threads[-1] if threads else None


def _purge_caches():
    for cache in _CACHES:
        cache.values()


# ---------------------------------------------------------------------------- Aggregation module
@_host
def _message_graph(index, dim_size):
    """The handle of the CSR that gathers messages ``e`` into rows ``index[e]`` (cached per index tensor)."""
    _check_tensor(index, "index")
    if index.dtype not in _INT_DTYPES:
        raise TypeError(f"index must have an integer dtype, got {index.dtype}")
    if index.dim() != 1:
        raise ValueError(f"index must be 1-D, got shape {tuple(index.shape)}")
    if dim_size is None:
        dim_size = int(index.max()) + 1 if index.numel() else 0
    dim_size = V.check_size(dim_size, "dim_size")
    memory = _memory_key(index)
    key = None if memory is None else ("messages", dim_size) + memory
    handle = None if key is None else _MESSAGE_GRAPHS.get(key)
    if handle is not None:
        return handle
    ids = _indices(index, "index")
    if ids.size and (int(ids.min()) < 0 or int(ids.max()) >= dim_size):
        raise ValueError(f"index must hold ids in [0, dim_size={dim_size}), got ids in "
                         f"[{int(ids.min())}, {int(ids.max())}]")
    edge_index = np.stack([np.arange(ids.shape[0], dtype=np.int64), ids.astype(np.int64, copy=False)])
    handle = TorchGraph(Graph.from_edge_index(edge_index, num_src_nodes=ids.shape[0], num_dst_nodes=dim_size,
                                              num_nodes=max(dim_size, ids.shape[0])))
    if key is not None:
        _MESSAGE_GRAPHS.put(key, handle, (index,))
    return handle


def _aggregation_forward(module, x, index=None, ptr=None, dim_size=None, dim=-2, max_num_elements=None):
    _check_x(x)
    if x.dim() != 2 or dim not in (0, -2):
        raise ValueError(f"Aggregation needs 2-D messages aggregated over dim 0, got shape {tuple(x.shape)} "
                         f"and dim={dim}")
    if ptr is not None:
        ptr = _ptr_tensor(ptr)
        if dim_size is not None and dim_size != ptr.shape[0] - 1:
            raise ValueError(f"dim_size must be len(ptr) - 1 = {ptr.shape[0] - 1}, got {dim_size}")
        return segment_reduce(x, ptr, module.reduce, n_threads=module.n_threads)
    if index is None:
        raise ValueError("Aggregation needs index or ptr")
    _check_tensor(index, "index")
    if index.dim() != 1 or index.shape[0] != x.shape[0]:
        raise ValueError(f"index must have shape ({x.shape[0]},), got {tuple(index.shape)}")
    handle = _message_graph(index, dim_size)
    return _aggregate(handle, x, module.reduce, None, module.n_threads)[0]


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
    order (PyG's scatter splits a tie's gradient). Works under
    ``torch.compile``; not under TorchScript (it calls Python).

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
            self.n_threads = None if n_threads is None else _threads.check_num_threads(n_threads, "n_threads")

        def forward(self, x, index=None, ptr=None, dim_size=None, dim=-2, max_num_elements=None):
            """Reduce the rows of ``x`` into the groups that ``index`` (or ``ptr``) names.

            Parameters
            ----------
            x : torch.Tensor
                The messages, one per row along ``dim``.
            index : torch.Tensor, optional
                The group of each message (PyG's ``index``).
            ptr : torch.Tensor, optional
                Compressed group offsets instead of ``index``.
            dim_size : int, optional
                The number of groups (rows of the output).
            dim : int, optional
                The dimension of ``x`` that holds the messages: 0 or -2 (``x`` is 2-D).
            max_num_elements : int, optional
                Accepted for PyG compatibility and ignored.

            Returns
            -------
            torch.Tensor
                One reduced row per group.
            """
            return _aggregation_forward(self, x, index, ptr, dim_size, dim, max_num_elements)

        def __repr__(self):
            return f"{self.__class__.__name__}({self.reduce!r})"

    Aggregation.__module__ = "fastgnn.interop.torch"
    Aggregation.__qualname__ = "Aggregation"
    return Aggregation


def __getattr__(name):
    # Built on first use: subclassing PyG's Aggregation imports torch_geometric (slow), only when needed.
    if name == "Aggregation":
        cls = _build_aggregation_class()
        globals()["Aggregation"] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
