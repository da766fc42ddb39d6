"""PyTorch and PyTorch Geometric on fastgnn's kernels.

What is here
------------
* :func:`aggregate`, :func:`segment_reduce`, :func:`edge_dot`: differentiable
  versions of the fastgnn ops on ``torch.Tensor``\\ s. They call ``torch.library``
  custom ops (``fastgnn::aggregate``, ``fastgnn::aggregate_backward``,
  ``fastgnn::gather_by_arg``, ``fastgnn::edge_dot``, ``fastgnn::segment_reduce``,
  ``fastgnn::segment_reduce_backward``; see :mod:`fastgnn.interop._torch_ops`),
  so ``torch.compile`` records them as opaque nodes with fake (meta) shapes.
  Gradients flow to the features and, for :func:`aggregate`, to the edge
  weights, for every reduce; max/min keep the winning edge of each output
  element (``arg``) for their backward, nothing of size edges x features.
* Derivatives of every order: each backward is itself computed by
  differentiable ops (sum and mean are linear, so the backward of the backward
  is the forward; max/min are linear once their winners are fixed, their
  second derivatives route through the same ``arg``; ``edge_dot`` is
  bilinear). Gradient penalties and Hessian-vector products work, exact
  wherever no max/min winner changes (as with PyG's scatter-max).
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
* Attention: :func:`sddmm` (one value per edge and head from its end
  nodes), :func:`edge_softmax` (softmax over each destination's in-edges),
  multi-head :func:`aggregate` (``x`` of shape (N, H, F) weighted by
  (E, H) coefficients), the fused :func:`gat_attention` and
  :func:`gatv2_attention` (scores, softmax, dropout and weighted sum in one
  kernel per row), and the layers :class:`GATConv` and :class:`GATv2Conv`
  with PyG's constructor arguments and parameters. These are
  ``torch.autograd.Function``\\ s (differentiable once) calling the NumPy
  ops of :mod:`fastgnn.ops` on views of the tensors; per-edge tensors
  ``(E, H)`` are in the input's edge order.

No copies
---------
A CPU, C-contiguous float32/float64 tensor is read in place
(``tensor.detach().numpy()`` shares its memory) and results come back with
``torch.from_numpy`` (no copy). A non-contiguous tensor is made contiguous
first (one copy); a tensor on another device (CUDA, meta, ...) is refused
with ``TypeError``: nothing is moved across devices behind the caller's back.

Dtypes and duplicates
---------------------
Edge weights of another dtype than the features are cast (a copy of E
values) by :func:`aggregate`; :func:`spmm` follows ``torch.sparse.mm`` and
PyG instead: the values of a torch sparse tensor must have the dtype of
``other`` (``TypeError`` otherwise; a ``torch_sparse.SparseTensor``'s values
are cast, as PyG casts them). A COO tensor means the sum of its duplicate
entries (``torch.Tensor.coalesce``): :func:`to_graph`, :func:`aggregate`,
:func:`spmm` and :func:`edge_dot` all read an uncoalesced COO tensor as its
coalesced form (duplicates merged into one edge, their values summed).

The graph cache
---------------
Building fastgnn's CSR (validation, int32 compaction) and its transpose
costs O(E) once; PyG does the same with ``cached=True``. :func:`to_graph`
remembers handles keyed by the identity of the index tensors' memory: their
``data_ptr``, storage offset, shape, strides, dtype, device and ``_version``
(the counter PyTorch bumps on every in-place change), plus the node counts.
Two views of one storage (``base.t()`` and ``base.view(2, E)``) are two keys.
An entry holds only weak references to the storages it was built from: it
never keeps a caller's memory alive, it is dropped (at the next access of the
cache) once that memory is freed, and freed memory reused by another tensor
can never match it. Each cache keeps at most :data:`CACHE_SIZE` entries and
:data:`CACHE_BYTES` bytes (always its newest entry; change the bounds with
:func:`set_cache_limits`), the least recently used leaving first. So an entry is invalidated automatically when

* the index tensors are modified in place through PyTorch (``_version``), or
* another tensor or view is passed, or the tensors are freed;

it is **not** invalidated when the memory is modified behind PyTorch's back
(through a NumPy view or a C extension): call :func:`clear_cache` then.
Inference-mode tensors keep no version counter and are never cached.
Constant edge values (a sparse tensor's ``values()`` that do not require
grad) are cached with the handle of the graph they weight (at most four sets
per handle), so the transposed weights the backward needs are computed once.
:func:`use_with_pyg` also caches GCN's normalization of a sparse adjacency
(``gcn_norm``) per input adjacency, as ``GCNConv(cached=True)`` would, under
the same rules. :func:`cache_info` reports the entries and their bytes;
:func:`clear_cache` empties everything.

torch.compile and TorchScript
-----------------------------
Graph building (CSR from tensors, the caches) runs outside any traced region
(``torch.compiler.disable``); the kernels are the custom ops above, so a
compiled function or PyG layer calls fastgnn as opaque nodes, forward and
backward, with any backend (``eager``, ``aot_eager``, ``inductor``). PyTorch
itself cannot trace sparse tensors: a compiled PyG layer given one breaks
its graph around the sparse operations, as without fastgnn. TorchScript
cannot call back into Python: a module scripted inside :func:`use_with_pyg`
is compiled against PyG's own ``spmm`` and ``gcn_norm`` and runs PyG's code
wherever it runs, exactly as one scripted outside (see :func:`use_with_pyg`).

Threads
-------
PyTorch and fastgnn each have a thread setting; they use the same OpenMP
runtime in one process (the library loaded first, normally PyTorch's
``libgomp``, serves both), so they share one pool of worker threads. Inside
this adapter a kernel runs on

1. the ``n_threads`` argument of the call (or of :func:`use_with_pyg`), else
2. ``fastgnn.set_num_threads(n)`` if it was called, else
3. ``torch.get_num_threads()``,

resolved when the kernel runs, so by default fastgnn follows PyTorch's
intra-op setting (``torch.set_num_threads``, ``OMP_NUM_THREADS``) and the two
never ask for more threads than PyTorch was told to use. If your program runs
several PyTorch computations at once (inter-op threads, several Python
threads, a ``DataLoader`` with in-process workers), lower
``torch.set_num_threads``; fastgnn follows. Small calls run on one thread
whatever the setting. Kernels release the GIL.
"""
import contextlib

from fastgnn._runtime import threads as _threads
from fastgnn.interop import _torch_api
from fastgnn.interop._torch_api import (CACHE_BYTES, CACHE_SIZE, _PYG_LOCK, _PYG_STATE, TorchGraph, _purge_caches,
                                        cache_info, clear_cache, edge_dot, segment_reduce, set_cache_limits, spmm,
                                        to_graph)
from fastgnn.interop._torch_attention import aggregate, edge_softmax, gat_attention, gatv2_attention, sddmm
from fastgnn.interop._torch_gat import GATConv, GATv2Conv

__all__ = ["TorchGraph", "to_graph", "aggregate", "segment_reduce", "edge_dot", "spmm", "use_with_pyg",
           "Aggregation", "clear_cache", "cache_info", "set_cache_limits", "CACHE_SIZE", "CACHE_BYTES",
           "sddmm", "edge_softmax", "gat_attention", "gatv2_attention", "GATConv", "GATv2Conv"]


def _pyg_original(name):
    """PyG's own ``spmm`` or ``gcn_norm`` (what :func:`use_with_pyg` rebinds)."""
    from fastgnn.interop import _pyg
    return {"spmm": _pyg.pyg_spmm, "gcn_norm": _pyg.pyg_gcn_norm}[name]


@contextlib.contextmanager
def use_with_pyg(*, n_threads=None):
    """Run PyTorch Geometric's layers on fastgnn's kernels inside a ``with`` block.

    PyG's ``MessagePassing.propagate`` takes a fused path when it is given a
    sparse adjacency (a ``torch.sparse_csr_tensor`` / COO / CSC, a
    ``torch_sparse.SparseTensor``): it calls the layer's
    ``message_and_aggregate``, which calls ``torch_geometric.utils.spmm``
    (GCNConv, SAGEConv, GINConv, GraphConv and the other layers that fuse).
    Each layer module imports ``spmm`` by name, so this context rebinds that
    name in the modules of ``torch_geometric.nn`` (and
    ``torch_geometric.utils.spmm``) to :func:`spmm` and restores the
    originals on exit. ``GCNConv`` also normalizes the sparse adjacency on
    every call (``gcn_norm``: add self-loops, coalesce, degree scaling),
    which costs more than the aggregation; the context rebinds ``gcn_norm``
    too, to a version that caches the normalized adjacency per input (as
    ``GCNConv(cached=True)``; see the module docstring). Both fall back to
    PyG's own code for anything fastgnn does not handle (CUDA tensors, values
    that require grad in ``gcn_norm``, multi-dimensional values, values of
    another dtype than the features, other dtypes, an unsorted ``EdgeIndex``),
    so results, errors and PyG's warning about converting COO/CSC to CSR stay
    PyG's.

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
    ``use_with_pyg`` block is active; blocks may nest. On leaving the
    outermost block, cache entries whose tensors were freed are dropped.

    ``torch.compile``: a layer compiled inside or outside the block runs on
    fastgnn when it is called inside (the kernels are custom ops, the graph
    building is left out of the traced region). TorchScript cannot call back
    into Python, so ``torch.jit.script`` of a layer inside the block compiles
    the replacements down to PyG's own ``spmm`` and ``gcn_norm``: a scripted
    module (scripted inside or outside the block, saved or not) always runs
    PyG's code and gives PyG's results, and scripting works the same before,
    inside and after the block.

    Examples
    --------
    >>> from torch_geometric.nn import GCNConv            # doctest: +SKIP
    >>> conv = GCNConv(16, 16)                            # doctest: +SKIP
    >>> with use_with_pyg():                              # doctest: +SKIP
    ...     out = conv(x, adj_t)   # adj_t: torch.sparse_csr_tensor, rows = destinations
    """
    if n_threads is not None:
        _threads.check_num_threads(n_threads, "n_threads")
    from fastgnn.interop import _pyg

    with _PYG_LOCK:
        if _PYG_STATE["depth"] == 0:
            patches = _pyg.patches()
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
                _purge_caches()


def __getattr__(name):
    # Built on first use: subclassing PyG's Aggregation imports torch_geometric (slow), only when needed.
    if name == "Aggregation":
        cls = _torch_api.Aggregation
        globals()["Aggregation"] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
