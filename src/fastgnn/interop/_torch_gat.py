"""``GATConv`` and ``GATv2Conv``: PyTorch modules with PyG's interface on fastgnn's fused attention kernels.

Private: :mod:`fastgnn.interop.torch` re-exports the classes (its docstring and theirs document them).
"""
import math
import threading
import weakref

import numpy as np
import torch

from fastgnn._runtime import threads as _threads
from fastgnn.graph import Graph
from fastgnn.interop._torch_api import _host, _is_sparse_tensor_class, _order_or_none, to_graph
from fastgnn.interop._torch_attention import (GATAttentionFunction, GATv2AttentionFunction, _apply,
                                              _attention_options, _check_probability, _check_slope)
from fastgnn.interop._torch_ops import TorchGraph

__all__ = ["GATConv", "GATv2Conv"]

_LOOPED = weakref.WeakKeyDictionary()  # graph handle -> {(num_loops, num_dst): handle of the graph with loops}
_LOOPED_LOCK = threading.Lock()


# ---------------------------------------------------------------------------- graphs
def _with_self_loops(base, num_loops, num_dst):
    """PyG's ``remove_self_loops`` then ``add_self_loops(num_nodes=num_loops)`` of a handle (cached per handle).

    Every edge ``i -> i`` goes, then one loop ``i -> i`` per node ``i < num_loops``. The new
    handle's ``edge_order`` numbers edges as PyG's result lists them: the kept edges in the
    input's order, then the loops of nodes ``0, 1, ...``.
    """
    key = (num_loops, num_dst)
    with _LOOPED_LOCK:
        cached = _LOOPED.get(base, {}).get(key)
    if cached is not None:
        return cached
    graph = base.graph
    indptr = np.asarray(graph.indptr, dtype=np.int64)
    src = np.asarray(graph.indices, dtype=np.int64)
    dst = np.repeat(np.arange(graph.num_dst_nodes, dtype=np.int64), np.diff(indptr))
    keep = src != dst
    num_edges = src.shape[0]
    csr_to_input = (np.arange(num_edges) if base.edge_order is None else base.edge_order.numpy())
    kept_input = np.zeros(num_edges, dtype=bool)
    kept_input[csr_to_input] = keep
    position = np.cumsum(kept_input) - 1            # input column -> its place among the kept edges
    loops = np.arange(num_loops, dtype=np.int64)
    edge_index = np.stack([np.concatenate([src[keep], loops]), np.concatenate([dst[keep], loops])])
    pyg_position = np.concatenate([position[csr_to_input[keep]], int(keep.sum()) + loops])
    looped, order = Graph.from_edge_index(edge_index, num_src_nodes=graph.num_src_nodes, num_dst_nodes=num_dst,
                                          num_nodes=max(graph.num_src_nodes, num_dst), return_edge_order=True)
    handle = TorchGraph(looped, _order_or_none(pyg_position[order]))
    with _LOOPED_LOCK:
        _LOOPED.setdefault(base, {})[key] = handle
    return handle


def _is_dense_index(edge_index):
    return isinstance(edge_index, torch.Tensor) and edge_index.layout == torch.strided


@_host
def _layer_graph(edge_index, num_src, num_dst, add_self_loops):
    """``(handle, num_dst, looped)`` of a layer's input graph, with PyG's self-loops if asked."""
    if _is_dense_index(edge_index):
        if edge_index.dim() != 2 or edge_index.shape[0] != 2:
            raise ValueError(f"edge_index must have shape (2, num_edges), got {tuple(edge_index.shape)}")
        if num_dst is None:  # (x_src, None): PyG's output has a row per source node
            num_dst = num_src
        base = to_graph(edge_index, size=(num_src, num_dst))
    elif isinstance(edge_index, torch.Tensor) or _is_sparse_tensor_class(edge_index):
        base = to_graph(edge_index)
        if base.num_src_nodes != num_src or (num_dst is not None and base.num_dst_nodes != num_dst):
            expected = f"({'?' if num_dst is None else num_dst}, {num_src})"
            raise ValueError(f"the adjacency must have shape (num_dst_nodes, num_src_nodes) = {expected}, got "
                             f"({base.num_dst_nodes}, {base.num_src_nodes})")
        num_dst = base.num_dst_nodes
    else:
        raise TypeError("edge_index must be an edge_index tensor of shape (2, E) or a torch sparse adjacency "
                        f"(num_dst_nodes, num_src_nodes), got {type(edge_index).__name__}")
    if add_self_loops:
        return _with_self_loops(base, min(num_src, num_dst), num_dst), num_dst, True
    return base, num_dst, False


def _attention_result(handle, edge_index, alpha, looped):
    """What PyG's layers return with ``return_attention_weights``: ``(edge_index, alpha)`` or a sparse tensor."""
    if _is_dense_index(edge_index):
        if not looped:
            return edge_index, handle.from_csr_order(alpha)
        # the graph the layer ran on, in PyG's order (the input's edges without loops, then the loops)
        plain = edge_index.as_tensor() if hasattr(edge_index, "as_tensor") else edge_index
        kept = plain[:, plain[0] != plain[1]]
        loops = torch.arange(handle.num_edges - kept.shape[1], dtype=plain.dtype)
        return torch.cat([kept, torch.stack([loops, loops])], dim=1), handle.from_csr_order(alpha)
    # a sparse adjacency: the graph the layer ran on as a CSR tensor holding alpha (rows = destinations)
    adjacency = torch.sparse_csr_tensor(handle.indptr.to(torch.int64), handle.indices.to(torch.int64), alpha,
                                        size=(handle.num_dst_nodes, handle.num_src_nodes) + tuple(alpha.shape[1:]))
    return adjacency, alpha


# ---------------------------------------------------------------------------- parameters
def _glorot(tensor):
    if tensor is not None:
        bound = math.sqrt(6.0 / (tensor.size(-2) + tensor.size(-1)))
        with torch.no_grad():
            tensor.uniform_(-bound, bound)


def _linear(in_channels, out_channels, bias):
    """A ``torch.nn.Linear`` initialised as PyG's ``Linear(weight_initializer='glorot')``."""
    lin = torch.nn.Linear(in_channels, out_channels, bias=bias)
    _reset_linear(lin)
    return lin


def _reset_linear(lin):
    _glorot(lin.weight)
    if lin.bias is not None:
        bound = 1.0 / math.sqrt(lin.in_features) if lin.in_features > 0 else 0.0
        with torch.no_grad():
            lin.bias.uniform_(-bound, bound)


def _channels(in_channels):
    pair = isinstance(in_channels, (tuple, list))
    values = tuple(in_channels) if pair else (in_channels,)
    if pair and len(values) != 2:
        raise ValueError(f"in_channels must be an int or a pair (source, destination), got {in_channels!r}")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"in_channels must be positive integers (lazy -1 is not supported), got {in_channels!r}")
    return values if pair else values[0]


def _positive(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _common_options(layer, in_channels, out_channels, heads, concat, negative_slope, dropout, add_self_loops,
                    edge_dim, fill_value, residual, n_threads, kwargs):
    if kwargs:
        raise TypeError(f"{type(layer).__name__} got unsupported arguments: {', '.join(sorted(kwargs))}")
    if edge_dim is not None:
        raise ValueError(f"{type(layer).__name__} has no edge features here: edge_dim must be None, got {edge_dim!r}")
    layer.in_channels = _channels(in_channels)
    layer.out_channels = _positive(out_channels, "out_channels")
    layer.heads = _positive(heads, "heads")
    layer.concat = bool(concat)
    layer.negative_slope = _check_slope(negative_slope)
    layer.dropout = _check_probability(dropout)
    layer.add_self_loops = bool(add_self_loops)
    layer.edge_dim = None
    layer.fill_value = fill_value
    layer.residual = bool(residual)
    layer.n_threads = None if n_threads is None else _threads.check_num_threads(n_threads, "n_threads")


def _split_input(x):
    """``(x_src, x_dst or None, paired)`` of a layer input, checked."""
    if isinstance(x, torch.Tensor):
        pair = (x, x)
    elif isinstance(x, (tuple, list)) and len(x) == 2:
        pair = tuple(x)
    else:
        raise TypeError(f"x must be a tensor or a pair (x_src, x_dst), got {type(x).__name__}")
    for tensor, name in zip(pair, ("x_src", "x_dst")):
        if tensor is None and name == "x_dst":
            continue
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
        if tensor.dim() != 2:
            raise ValueError(f"{name} must be 2-D (nodes, channels), got shape {tuple(tensor.shape)}")
        if tensor.device.type != "cpu":
            raise TypeError(f"{name} is on device '{tensor.device}', but fastgnn's kernels run on the CPU")
    return pair[0], pair[1], not isinstance(x, torch.Tensor)


def _output_parameters(layer, in_dst, bias):
    """The residual projection ``res`` and the ``bias`` of a layer, registered as PyG's layers do (None when off)."""
    total = layer.out_channels * (layer.heads if layer.concat else 1)
    if layer.residual:
        layer.res = _linear(in_dst, total, bias=False)
    else:
        layer.register_parameter("res", None)
    if bias:
        layer.bias = torch.nn.Parameter(torch.empty(total))
    else:
        layer.register_parameter("bias", None)


def _attend(layer, function, tensors, handle, edge_index, looped, res, return_attention_weights):
    """Run the fused attention ``function`` on ``tensors``, then heads, residual and bias as PyG's layers do."""
    slope, dropout, seed, step = _attention_options(layer.negative_slope, layer.dropout, layer.training, None, 0)
    want = bool(return_attention_weights)
    out, alpha = _apply(function, *(t.contiguous() for t in tensors), handle, slope, dropout, seed, step, want,
                        layer.n_threads)
    out = out.reshape(out.shape[0], -1) if layer.concat else out.mean(dim=1)
    if res is not None:
        out = out + res
    if layer.bias is not None:
        out = out + layer.bias
    if want:
        return out, _attention_result(handle, edge_index, alpha, looped)
    return out


def _layer_repr(layer):
    return f"{layer.__class__.__name__}({layer.in_channels}, {layer.out_channels}, heads={layer.heads})"


_LAYER_DOC_COMMON = """
    The layer's constructor arguments, parameter names and shapes are those
    of PyTorch Geometric 2.8's layer of the same name (``load_state_dict`` of
    a PyG layer's ``state_dict`` works both ways); the attention runs in one
    fused fastgnn kernel (scores, softmax, dropout and the weighted sum, per
    destination row), forward and backward, and never builds an edges x
    features tensor (PyG builds several).

    Not supported: edge features (``edge_dim`` must be None), lazy
    ``in_channels=-1`` and ``MessagePassing``'s extra keyword arguments;
    ``fill_value`` is kept for compatibility only (it applies to edge
    features).

    Forward: ``layer(x, edge_index, return_attention_weights=None)``

    * ``x``: a float32/float64 tensor (num_nodes, in_channels), or a pair
      ``(x_src, x_dst)`` for a bipartite graph;
    * ``edge_index``: a ``(2, E)`` tensor (row 0 sources, row 1
      destinations), or a torch sparse adjacency (CSR, COO, CSC; shape
      ``(num_dst, num_src)``, rows are destinations, PyG's ``adj_t``; its
      values are ignored), or a ``torch_sparse.SparseTensor`` where
      installed;
    * with ``add_self_loops`` (default) every loop ``i -> i`` is removed and
      one added per node ``i < min(num_src, num_dst)``, as PyG does; the
      graph with loops is built once per graph and cached (see "The graph
      cache" of :mod:`fastgnn.interop.torch`);
    * ``return_attention_weights`` true (PyG's test is its truth value):
      returns ``(out, (edge_index, alpha))`` with the graph the layer ran on
      (loops included, in PyG's order) and ``alpha`` (E, H) after the
      softmax and before dropout; for a sparse adjacency ``(out, (adj,
      alpha))`` with ``adj`` a sparse CSR tensor whose values are ``alpha``
      (CSR order). ``alpha`` is not differentiable here.

    Dropout of the attention coefficients (``dropout``, in training mode)
    uses fastgnn's counter-based mask, seeded from PyTorch's default
    generator on each call (``torch.manual_seed`` makes it repeatable; the
    mask differs from PyG's ``F.dropout``, its distribution does not).
    ``n_threads`` (keyword only, default: see "Threads" in
    :mod:`fastgnn.interop.torch`) sets the kernels' threads.
"""


# ---------------------------------------------------------------------------- GATConv
class GATConv(torch.nn.Module):
    __doc__ = """Graph attention (Veličković et al. 2018), PyG's ``GATConv`` on fastgnn's fused kernel.

    ``x'_i = sum_{j in N(i)} alpha_ij W x_j`` with
    ``alpha_ij = softmax_j LeakyReLU(a_s . W_s x_j + a_t . W_t x_i)`` per
    head (``W_s = W_t = lin`` unless ``in_channels`` is a pair: ``lin_src``,
    ``lin_dst``); heads concatenated or averaged, then the residual and the
    bias.

    Parameters
    ----------
    in_channels : int or (int, int)
    out_channels : int
        Channels per head.
    heads : int
    concat : bool
    negative_slope : float
    dropout : float
    add_self_loops : bool
    edge_dim : None
    fill_value : float, Tensor or str
    bias : bool
    residual : bool
    n_threads : int, optional
""" + _LAYER_DOC_COMMON

    def __init__(self, in_channels, out_channels, heads=1, concat=True, negative_slope=0.2, dropout=0.0,
                 add_self_loops=True, edge_dim=None, fill_value="mean", bias=True, residual=False, *,
                 n_threads=None, **kwargs):
        super().__init__()
        _common_options(self, in_channels, out_channels, heads, concat, negative_slope, dropout, add_self_loops,
                        edge_dim, fill_value, residual, n_threads, kwargs)
        H, C = self.heads, self.out_channels
        self.lin = self.lin_src = self.lin_dst = None
        if isinstance(self.in_channels, int):
            self.lin = _linear(self.in_channels, H * C, bias=False)
        else:
            self.lin_src = _linear(self.in_channels[0], H * C, bias=False)
            self.lin_dst = _linear(self.in_channels[1], H * C, bias=False)
        self.att_src = torch.nn.Parameter(torch.empty(1, H, C))
        self.att_dst = torch.nn.Parameter(torch.empty(1, H, C))
        self.lin_edge = None
        self.register_parameter("att_edge", None)
        _output_parameters(self, self.in_channels if isinstance(self.in_channels, int) else self.in_channels[1], bias)
        self.reset_parameters()

    def reset_parameters(self):
        """PyG's initialisation: glorot weights and attention vectors, zero bias."""
        for lin in (self.lin, self.lin_src, self.lin_dst, self.res):
            if lin is not None:
                _reset_linear(lin)
        _glorot(self.att_src)
        _glorot(self.att_dst)
        if self.bias is not None:
            torch.nn.init.zeros_(self.bias)

    def forward(self, x, edge_index, return_attention_weights=None):
        H, C = self.heads, self.out_channels
        x_src, x_dst, paired = _split_input(x)
        res = self.res(x_dst) if self.res is not None and x_dst is not None else None
        if self.lin is not None:
            h_src = self.lin(x_src).view(-1, H, C)
            h_dst = None if x_dst is None else (h_src if not paired else self.lin(x_dst).view(-1, H, C))
        else:
            h_src = self.lin_src(x_src).view(-1, H, C)
            h_dst = None if x_dst is None else self.lin_dst(x_dst).view(-1, H, C)
        handle, num_dst, looped = _layer_graph(edge_index, h_src.shape[0],
                                               None if h_dst is None else h_dst.shape[0], self.add_self_loops)
        score_src = (h_src * self.att_src).sum(dim=-1)
        score_dst = (h_dst * self.att_dst).sum(dim=-1) if h_dst is not None else h_src.new_zeros(num_dst, H)
        return _attend(self, GATAttentionFunction, (h_src, score_src, score_dst), handle, edge_index, looped, res,
                       return_attention_weights)

    __repr__ = _layer_repr


# ---------------------------------------------------------------------------- GATv2Conv
class GATv2Conv(torch.nn.Module):
    __doc__ = """GATv2 (Brody et al. 2022), PyG's ``GATv2Conv`` on fastgnn's fused kernel.

    ``x'_i = sum_{j in N(i)} alpha_ij W_l x_j`` with
    ``alpha_ij = softmax_j a . LeakyReLU(W_l x_j + W_r x_i)`` per head
    (``lin_l``, ``lin_r`` with biases; one shared module with
    ``share_weights``), heads concatenated or averaged, then the residual
    and the bias.

    Parameters
    ----------
    in_channels : int or (int, int)
    out_channels : int
    heads : int
    concat : bool
    negative_slope : float
    dropout : float
    add_self_loops : bool
    edge_dim : None
    fill_value : float, Tensor or str
    bias : bool
    share_weights : bool
    residual : bool
    n_threads : int, optional
""" + _LAYER_DOC_COMMON

    def __init__(self, in_channels, out_channels, heads=1, concat=True, negative_slope=0.2, dropout=0.0,
                 add_self_loops=True, edge_dim=None, fill_value="mean", bias=True, share_weights=False,
                 residual=False, *, n_threads=None, **kwargs):
        super().__init__()
        _common_options(self, in_channels, out_channels, heads, concat, negative_slope, dropout, add_self_loops,
                        edge_dim, fill_value, residual, n_threads, kwargs)
        self.share_weights = bool(share_weights)
        H, C = self.heads, self.out_channels
        in_src, in_dst = ((self.in_channels, self.in_channels) if isinstance(self.in_channels, int)
                          else self.in_channels)
        self.lin_l = _linear(in_src, H * C, bias=bias)
        self.lin_r = self.lin_l if self.share_weights else _linear(in_dst, H * C, bias=bias)
        self.att = torch.nn.Parameter(torch.empty(1, H, C))
        self.lin_edge = None
        _output_parameters(self, in_dst, bias)
        self.reset_parameters()

    def reset_parameters(self):
        """PyG's initialisation: glorot weights and attention vector, uniform linear biases, zero bias."""
        for lin in (self.lin_l, self.lin_r, self.res):
            if lin is not None:
                _reset_linear(lin)
        _glorot(self.att)
        if self.bias is not None:
            torch.nn.init.zeros_(self.bias)

    def forward(self, x, edge_index, return_attention_weights=None):
        H, C = self.heads, self.out_channels
        x_src, x_dst, paired = _split_input(x)
        if x_dst is None:
            raise ValueError("GATv2Conv needs destination features: x must be a tensor or a pair (x_src, x_dst) "
                             "of tensors")
        res = self.res(x_dst) if self.res is not None else None
        h_src = self.lin_l(x_src).view(-1, H, C)
        h_dst = h_src if self.share_weights and not paired else self.lin_r(x_dst).view(-1, H, C)
        handle, _, looped = _layer_graph(edge_index, h_src.shape[0], h_dst.shape[0], self.add_self_loops)
        return _attend(self, GATv2AttentionFunction, (h_src, h_dst, self.att.view(H, C)), handle, edge_index, looped,
                       res, return_attention_weights)

    __repr__ = _layer_repr
