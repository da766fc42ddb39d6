"""The functions :func:`fastgnn.interop.torch.use_with_pyg` binds into PyTorch Geometric.

``spmm`` and ``gcn_norm`` here have the signatures (and TorchScript overloads) of PyG's own.
Called from Python, they run fastgnn's kernels for what fastgnn handles and PyG's code for the
rest. Compiled by TorchScript (``torch.jit.script`` of a layer while the bindings are active),
the Python branch is left out (``torch.jit.is_scripting()`` is a compile-time constant there)
and they compile to a call of PyG's original: TorchScript cannot call back into fastgnn, so a
scripted layer runs PyG's code, and scripting never fails or leaves a layer class half-compiled.

Imported by ``use_with_pyg`` only: it imports ``torch_geometric``.
"""
import sys
import warnings
from typing import Optional

import numpy as np
import torch
from torch import Tensor
from torch_geometric import EdgeIndex
from torch_geometric.nn.conv import gcn_conv as _gcn_conv_module
from torch_geometric.typing import Adj, OptPairTensor, OptTensor, SparseTensor  # noqa: F401  (TorchScript types)
from torch_geometric.utils import _spmm as _spmm_module

from fastgnn.graph import Graph
from fastgnn.interop import _torch_api as _ft

# PyG's originals, read before any rebinding (``torch_geometric.utils._spmm`` is never rebound;
# ``gcn_conv.gcn_norm`` is, inside the block).
pyg_spmm = _spmm_module.spmm
pyg_gcn_norm = _gcn_conv_module.gcn_norm

_FLOAT_DTYPES = (torch.float32, torch.float64)
_SPARSE_LAYOUTS = (torch.sparse_csr, torch.sparse_coo, torch.sparse_csc)
_CONVERSION_WARNING = ("Converting sparse tensor to CSR format for more efficient processing. Consider "
                       "converting your sparse tensor to CSR format beforehand to avoid repeated conversion "
                       "(got '{layout}')")


# ---------------------------------------------------------------------------- spmm
def spmm(src: Adj, other: Tensor, reduce: str = "sum") -> Tensor:
    """``torch_geometric.utils.spmm`` on fastgnn's kernels (bound by ``use_with_pyg``)."""
    if not torch.jit.is_scripting():
        return _spmm_eager(src, other, reduce)
    return pyg_spmm(src, other, reduce)


def _supports(src, other, reduce):
    """Whether fastgnn takes this call with PyG's exact semantics (else PyG's own code runs)."""
    if not isinstance(other, Tensor) or other.device.type != "cpu" or other.dtype not in _FLOAT_DTYPES:
        return False
    if other.layout != torch.strided or other.dim() != 2:
        return False
    if not isinstance(reduce, str) or reduce not in ("sum", "add", "mean", "max", "min"):
        return False
    if isinstance(src, EdgeIndex):
        return src.device.type == "cpu" and src.is_sorted_by_row
    if _ft._is_sparse_tensor_class(src):
        value = src.storage.value()
        return not src.is_cuda() and (value is None or value.dim() == 1)
    if not isinstance(src, Tensor) or src.device.type != "cpu" or src.dim() != 2 or src.layout not in _SPARSE_LAYOUTS:
        return False
    values = src._values() if src.layout == torch.sparse_coo else src.values()
    # torch.sparse.mm refuses values of another dtype than `other`: PyG's path raises its own error
    return values.dim() == 1 and values.dtype == other.dtype


def _spmm_eager(src, other, reduce):
    if not _supports(src, other, reduce):
        return pyg_spmm(src, other, reduce)
    if isinstance(src, Tensor) and not isinstance(src, EdgeIndex):
        # PyG warns where it converts to CSR (fastgnn converts too, once, cached): keep its advice
        if src.layout == torch.sparse_coo or (src.layout == torch.sparse_csc and (
                not other.requires_grad or reduce in ("max", "min"))):
            warnings.warn(_CONVERSION_WARNING.format(layout=src.layout), UserWarning, stacklevel=3)
    return _ft.spmm(src, other, reduce, n_threads=_ft._pyg_threads())


# ---------------------------------------------------------------------------- gcn_norm
@torch.jit._overload
def gcn_norm(edge_index, edge_weight, num_nodes, improved, add_self_loops, flow, dtype):  # noqa: F811
    # type: (Tensor, OptTensor, Optional[int], bool, bool, str, Optional[int]) -> OptPairTensor  # noqa
    pass


@torch.jit._overload
def gcn_norm(edge_index, edge_weight, num_nodes, improved, add_self_loops, flow, dtype):  # noqa: F811
    # type: (SparseTensor, OptTensor, Optional[int], bool, bool, str, Optional[int]) -> SparseTensor  # noqa
    pass


def gcn_norm(edge_index: Adj, edge_weight: OptTensor = None, num_nodes: Optional[int] = None,  # noqa: F811
             improved: bool = False, add_self_loops: bool = True, flow: str = "source_to_target",
             dtype: Optional[torch.dtype] = None):
    """PyG's ``gcn_norm``, cached per sparse CSR adjacency (bound by ``use_with_pyg``)."""
    if not torch.jit.is_scripting():
        return _gcn_norm_eager(edge_index, edge_weight, num_nodes, improved, add_self_loops, flow, dtype)
    return pyg_gcn_norm(edge_index, edge_weight, num_nodes, improved, add_self_loops, flow, dtype)


def _gcn_norm_eager(edge_index, edge_weight, num_nodes, improved, add_self_loops, flow, dtype):
    adj = edge_index
    if (isinstance(adj, Tensor) and not isinstance(adj, EdgeIndex) and adj.layout == torch.sparse_csr
            and adj.device.type == "cpu" and adj.dim() == 2 and adj.shape[0] == adj.shape[1]
            and (num_nodes is None or num_nodes == adj.shape[0])):
        values = adj.values()
        if values.dim() == 1 and values.dtype in _FLOAT_DTYPES and not values.requires_grad:
            try:
                return _gcn_normalized(adj, 2.0 if improved else 1.0, add_self_loops), None
            except ValueError:
                pass  # values fastgnn refuses as edge weights (non-finite): PyG's own code decides
    return pyg_gcn_norm(edge_index, edge_weight, num_nodes, improved, add_self_loops, flow, dtype)


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


@_ft._host
def _gcn_normalized(adj, fill_value, add_self_loops):
    """PyG's ``gcn_norm`` of a sparse CSR adjacency, with the fastgnn graph of the result cached."""
    crow_t, col_t, values_t = adj.crow_indices(), adj.col_indices(), adj.values()
    memory = _ft._memory_key(crow_t, col_t, values_t)
    key = None if memory is None else ("gcn_norm", float(fill_value), bool(add_self_loops), tuple(adj.shape)) + memory
    result = None if key is None else _ft._GCN_NORMS.get(key)
    if result is not None:
        return result
    num_nodes = int(adj.shape[0])
    crow, col = _ft._indices(crow_t, "crow_indices"), _ft._indices(col_t, "col_indices")
    values = values_t.detach().numpy()
    if add_self_loops:
        crow, col, weight = _coalesce_with_loops(crow, col, values, num_nodes, fill_value)
    else:
        crow, col, weight = crow.astype(np.int64), col.astype(np.int64), values.astype(np.float64)
    # The loops are in place (PyG's rule: missing ones added, duplicates merged); the degree scaling is
    # fastgnn's one GCN normalization, D^-1/2 A D^-1/2 with D the weighted in-degree.
    graph = Graph.from_csr(crow, col, np.ascontiguousarray(weight, dtype=np.float64), num_src_nodes=num_nodes)
    norm = np.asarray(graph.gcn_norm(add_self_loops=False, dtype=np.float64).edge_weight).astype(values.dtype)
    result = torch.sparse_csr_tensor(torch.from_numpy(crow), torch.from_numpy(col), torch.from_numpy(norm),
                                     size=tuple(adj.shape))
    # Register the graph and its constant values now: spmm finds both on every later call.
    _ft.to_graph(result).weighted_graph(result.values().detach())
    if key is not None:
        _ft._GCN_NORMS.put(key, result, (crow_t, col_t, values_t))
    return result


# ---------------------------------------------------------------------------- the bindings
_SCANNED = {"modules": -1, "patches": []}  # the last scan of sys.modules, redone when modules were loaded


def patches():
    """``[(module, name, original, replacement)]`` for every PyG module binding spmm or gcn_norm."""
    import torch_geometric.nn  # noqa: F401  (loads every conv module)
    import torch_geometric.utils

    if _SCANNED["modules"] == len(sys.modules):  # entering a block per training step stays cheap
        return list(_SCANNED["patches"])
    bindings = {"spmm": (pyg_spmm, spmm), "gcn_norm": (pyg_gcn_norm, gcn_norm)}
    modules = [module for name, module in list(sys.modules.items())
               if module is not None and name.startswith("torch_geometric.nn.")]
    modules.append(torch_geometric.utils)
    found = []
    for module in modules:
        for name, (original, replacement) in bindings.items():
            if module.__dict__.get(name) is original:
                found.append((module, name, original, replacement))
    _SCANNED.update(modules=len(sys.modules), patches=found)
    return list(found)
