"""Attention on fastgnn's kernels for PyTorch: SDDMM, edge softmax, multi-head aggregation, fused GAT/GATv2.

Private: :mod:`fastgnn.interop.torch` re-exports the public functions and documents them.

Each op is a ``torch.autograd.Function`` whose forward and backward call the NumPy-level op of
:mod:`fastgnn.ops` on NumPy views of the tensors (no copy for CPU, C-contiguous float32/float64
tensors) and wrap the results with ``torch.from_numpy``. They are differentiable once (a second
derivative raises). Per-edge tensors ``(E, H)`` are in the input's edge order (the columns of an
``edge_index``, the stored entries of a sparse tensor) at the public functions and in CSR order
inside the Functions; the reordering is differentiable indexing.
"""
import numpy as np
import torch
from torch.autograd.function import once_differentiable

from fastgnn import ops
from fastgnn._runtime import threads as _threads
from fastgnn._runtime import validate as V
from fastgnn.interop import _torch_api
from fastgnn.interop._torch_api import _host, to_graph
from fastgnn.interop._torch_ops import TorchGraph, _check_tensor, _features, _resolve_threads, _tensor

__all__ = ["sddmm", "edge_softmax", "aggregate", "gat_attention", "gatv2_attention"]

_FLOAT_DTYPES = (torch.float32, torch.float64)
_SDDMM_OPS = ("dot", "add")
#: Seeds of the attention dropout are drawn below this bound from torch's default generator.
_SEED_BOUND = 2 ** 62


# ---------------------------------------------------------------------------- arguments
def _float_tensor(tensor, name, dims):
    _check_tensor(tensor, name)
    if tensor.dtype not in _FLOAT_DTYPES:
        raise TypeError(f"{name} must have dtype torch.float32 or torch.float64, got {tensor.dtype}")
    if tensor.dim() not in dims:
        wanted = " or ".join(f"{d}-D" for d in dims)
        raise ValueError(f"{name} must be {wanted}, got shape {tuple(tensor.shape)}")
    return tensor


def _same_dtype(**tensors):
    dtypes = {name: t.dtype for name, t in tensors.items()}
    if len(set(dtypes.values())) > 1:
        listed = ", ".join(f"{name} {dtype}" for name, dtype in dtypes.items())
        raise TypeError(f"the inputs must have one dtype, got {listed}")


def _check_rows(tensor, name, rows, what):
    if tensor.shape[0] != rows:
        raise ValueError(f"{name} must have {rows} rows (the graph's {what} nodes), got shape {tuple(tensor.shape)}")


@_host
def _handle(graph, num_nodes, size, inferred):
    """The graph handle of ``graph``; an ``edge_index`` with no sizes given takes ``inferred`` (src, dst) counts."""
    if isinstance(graph, TorchGraph):
        handle = graph
    else:
        if (num_nodes is None and size is None and isinstance(graph, torch.Tensor)
                and graph.layout == torch.strided and inferred is not None):
            size = inferred
        handle = to_graph(graph, num_nodes, size=size)
    if handle.merged_entries is not None:
        raise ValueError("graph is an uncoalesced COO tensor: per-edge values of its duplicate entries are "
                         "ambiguous; pass graph.coalesce()")
    return handle


def _threads_argument(n_threads):
    return None if n_threads is None else _threads.check_num_threads(n_threads, "n_threads")


def _dropout_seed(seed):
    """The dropout seed: given, or drawn from torch's default generator (so ``torch.manual_seed`` fixes it)."""
    if seed is None:
        return int(torch.randint(0, _SEED_BOUND, (), dtype=torch.int64))
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) < 2 ** 64:
        raise ValueError(f"seed must be an integer in [0, 2**64), got {seed!r}")
    return int(seed)


def _check_probability(dropout):
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float, np.floating, np.integer)) \
            or not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"dropout must be a probability in [0, 1), got {dropout!r}")
    return float(dropout)


def _check_slope(negative_slope):
    if isinstance(negative_slope, bool) or not isinstance(negative_slope, (int, float, np.floating, np.integer)) \
            or not np.isfinite(negative_slope):
        raise ValueError(f"negative_slope must be a finite number, got {negative_slope!r}")
    return float(negative_slope)


def _grad(tensor, name="grad_out"):
    return _features(tensor, name)


# ---------------------------------------------------------------------------- autograd Functions
class SDDMMFunction(torch.autograd.Function):
    """``out[e, h] = <a[dst e, h], b[src e, h]>`` (``op='dot'``) or ``a[dst e, h] + b[src e, h]`` (``'add'``)."""

    @staticmethod
    def forward(ctx, a, b, handle, op, n_threads):
        out = ops.sddmm(handle.graph, _features(a, "a"), _features(b, "b"), op, n_threads=_resolve_threads(n_threads))
        ctx.options = (handle, op, n_threads)
        ctx.save_for_backward(a, b)
        return _tensor(out)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        a, b = ctx.saved_tensors
        handle, op, n_threads = ctx.options
        grad_a, grad_b = ops.sddmm_backward(handle.graph, _grad(grad_out), _features(a, "a"), _features(b, "b"), op,
                                            n_threads=_resolve_threads(n_threads))
        return _tensor(grad_a), _tensor(grad_b), None, None, None


class EdgeSoftmaxFunction(torch.autograd.Function):
    """Softmax of ``(E, H)`` scores over the edges of each destination row, per head."""

    @staticmethod
    def forward(ctx, scores, handle, n_threads):
        out = _tensor(ops.edge_softmax(handle.graph, _features(scores, "scores"),
                                       n_threads=_resolve_threads(n_threads)))
        ctx.options = (handle, n_threads)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        (attention,) = ctx.saved_tensors
        handle, n_threads = ctx.options
        grad = ops.edge_softmax_backward(handle.graph, _grad(grad_out), _features(attention, "attention"),
                                         n_threads=_resolve_threads(n_threads))
        return _tensor(grad), None, None


class AggregateHeadsFunction(torch.autograd.Function):
    """``out[i, h, :] = sum_e w[e, h] x[src e, h, :]`` (``'mean'``: divided by the row's degree)."""

    @staticmethod
    def forward(ctx, x, weight, handle, reduce, n_threads):
        out = ops.aggregate(handle.graph, _features(x, "x"), reduce, edge_weight=_features(weight, "edge_weight"),
                            n_threads=_resolve_threads(n_threads))
        ctx.options = (handle, reduce, n_threads)
        ctx.save_for_backward(x if ctx.needs_input_grad[1] else None, weight)
        return _tensor(out)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        x, weight = ctx.saved_tensors
        handle, reduce, n_threads = ctx.options
        need_w = ctx.needs_input_grad[1]
        result = ops.aggregate_backward(handle.graph, _grad(grad_out), reduce,
                                        x=_features(x, "x") if need_w else None,
                                        edge_weight=_features(weight, "edge_weight"), need_weight_grad=need_w,
                                        n_threads=_resolve_threads(n_threads))
        grad_x, grad_w = result if need_w else (result, None)
        return (_tensor(grad_x) if ctx.needs_input_grad[0] else None,
                None if grad_w is None else _tensor(grad_w), None, None, None)


def _attention_forward(ctx, op, names, tensors, handle, negative_slope, dropout, seed, step, want_alpha,
                       n_threads):
    """The forward of a fused attention Function: ``op`` on ``tensors`` (named ``names``), ``(out, alpha)``."""
    arrays = [_features(t, name) for t, name in zip(tensors, names)]
    out, state = op(handle.graph, *arrays, negative_slope=negative_slope, dropout=dropout, seed=seed, step=step,
                    n_threads=_resolve_threads(n_threads))
    ctx.options = (handle, state, n_threads, names)
    ctx.save_for_backward(*tensors)
    # a copy: the backward reads state.alpha, which the caller must not be able to change in place
    alpha = _tensor(np.array(state.alpha)) if want_alpha else torch.empty(0)
    ctx.mark_non_differentiable(alpha)
    return _tensor(out), alpha


def _attention_backward(ctx, op, grad_out):
    """The backward of a fused attention Function: gradients of its tensors, None for its options."""
    handle, state, n_threads, names = ctx.options
    arrays = [_features(t, name) for t, name in zip(ctx.saved_tensors, names)]
    grads = op(handle.graph, _grad(grad_out), *arrays, state, n_threads=_resolve_threads(n_threads))
    return tuple(_tensor(g) for g in grads) + (None,) * 7


class GATAttentionFunction(torch.autograd.Function):
    """The fused GAT attention (:func:`fastgnn.ops.gat_attention`): ``(out, alpha)``, alpha not differentiable."""

    @staticmethod
    def forward(ctx, x, score_src, score_dst, handle, negative_slope, dropout, seed, step, want_alpha, n_threads):
        return _attention_forward(ctx, ops.gat_attention, ("x", "score_src", "score_dst"), (x, score_src, score_dst),
                                  handle, negative_slope, dropout, seed, step, want_alpha, n_threads)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out, _grad_alpha):
        return _attention_backward(ctx, ops.gat_attention_backward, grad_out)


class GATv2AttentionFunction(torch.autograd.Function):
    """The fused GATv2 attention (:func:`fastgnn.ops.gatv2_attention`): ``(out, alpha)``."""

    @staticmethod
    def forward(ctx, x_src, x_dst, att, handle, negative_slope, dropout, seed, step, want_alpha, n_threads):
        return _attention_forward(ctx, ops.gatv2_attention, ("x_src", "x_dst", "att"), (x_src, x_dst, att),
                                  handle, negative_slope, dropout, seed, step, want_alpha, n_threads)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out, _grad_alpha):
        return _attention_backward(ctx, ops.gatv2_attention_backward, grad_out)


@_host
def _apply(function, *args):
    """``function.apply(*args)`` outside any traced region: ``torch.compile`` calls the NumPy-backed op as it is."""
    return function.apply(*args)


# ---------------------------------------------------------------------------- public functions
def sddmm(graph, a, b, op="dot", *, num_nodes=None, size=None, n_threads=None):
    """Differentiable :func:`fastgnn.ops.sddmm`: one value per edge and head from its two end nodes.

    Parameters
    ----------
    graph : TorchGraph, fastgnn.Graph, edge_index tensor or sparse adjacency
        Anything :func:`to_graph` accepts (an ``edge_index`` without
        ``num_nodes``/``size`` takes ``(len(b), len(a))`` source and
        destination nodes).
    a : torch.Tensor, shape (num_dst_nodes, H, F) or (num_dst_nodes, H)
    b : torch.Tensor, shape (num_src_nodes, H, F) or (num_src_nodes, H)
        Same dtype (float32/float64) and trailing shape as ``a``.
    op : {'dot', 'add'}
        ``out[e, h] = sum_f a[i, h, f] b[j, h, f]`` (2-D: ``a[i, h] b[j, h]``)
        or ``a[i, h] + b[j, h]`` (2-D inputs only) for the edge ``e = j -> i``.
    num_nodes, size : optional
        Node counts of an ``edge_index`` graph (see :func:`to_graph`).
    n_threads : int, optional

    Returns
    -------
    torch.Tensor of shape (num_edges, H)
        In the input's edge order; gradients flow to ``a`` and ``b``.

    Notes
    -----
    Cost ``O(E H F)``; nothing of size edges x features is allocated. The
    backward sums over the rows (``a``) and over the cached transpose (``b``).
    """
    if op not in _SDDMM_OPS:
        raise ValueError(f"op must be one of {', '.join(map(repr, _SDDMM_OPS))}, got {op!r}")
    _float_tensor(a, "a", (2, 3))
    _float_tensor(b, "b", (2, 3))
    _same_dtype(a=a, b=b)
    if a.shape[1:] != b.shape[1:]:
        raise ValueError(f"a and b must have the same trailing shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    if op == "add" and a.dim() == 3 and a.shape[2] != 1:
        raise ValueError("op='add' needs 2-D inputs (num_nodes, H): with features the result would be edges x "
                         f"features, got a of shape {tuple(a.shape)}")
    handle = _handle(graph, num_nodes, size, (b.shape[0], a.shape[0]))
    _check_rows(a, "a", handle.num_dst_nodes, "destination")
    _check_rows(b, "b", handle.num_src_nodes, "source")
    out = _apply(SDDMMFunction, a, b, handle, op, _threads_argument(n_threads))
    return handle.from_csr_order(out)


def edge_softmax(graph, scores, *, num_nodes=None, size=None, n_threads=None):
    """Differentiable :func:`fastgnn.ops.edge_softmax`: softmax over each destination's in-edges, per head.

    Parameters
    ----------
    graph : TorchGraph, fastgnn.Graph, edge_index tensor or sparse adjacency
    scores : torch.Tensor of float32/float64, shape (num_edges, H) or (num_edges,)
        In the input's edge order.
    num_nodes, size, n_threads : optional

    Returns
    -------
    torch.Tensor, the shape of ``scores``
        ``exp(s_e - m_i) / sum_{e' in row i} exp(s_e' - m_i)``, ``m_i`` the
        row maximum; a row of one edge gives 1, a row whose scores are all
        ``-inf`` gives 0, a NaN makes its row (and head) NaN.
    """
    _float_tensor(scores, "scores", (1, 2))
    handle = _handle(graph, num_nodes, size, None)
    if scores.shape[0] != handle.num_edges:
        raise ValueError(f"scores must have {handle.num_edges} rows (one per edge), got shape {tuple(scores.shape)}")
    out = _apply(EdgeSoftmaxFunction, handle.to_csr_order(scores), handle, _threads_argument(n_threads))
    return handle.from_csr_order(out)


def aggregate_heads(handle, x, reduce, edge_weight, n_threads):
    """Multi-head weighted aggregation (``x`` (N, H, F), ``edge_weight`` (E, H)): see :func:`aggregate`."""
    if reduce not in ("sum", "mean"):
        raise ValueError(f"weights per head (edge_weight of shape (E, H)) need reduce 'sum' or 'mean', got "
                         f"{reduce!r}")
    _float_tensor(x, "x", (3,))
    _float_tensor(edge_weight, "edge_weight", (2,))
    _same_dtype(x=x, edge_weight=edge_weight)
    _check_rows(x, "x", handle.num_src_nodes, "source")
    if handle.merged_entries is not None:
        raise ValueError("per-head edge weights on an uncoalesced COO tensor are ambiguous; pass adj.coalesce()")
    if tuple(edge_weight.shape) != (handle.num_edges, x.shape[1]):
        raise ValueError(f"edge_weight must have shape ({handle.num_edges}, {x.shape[1]}) (edges, heads of x), got "
                         f"{tuple(edge_weight.shape)}")
    return _apply(AggregateHeadsFunction, x, handle.to_csr_order(edge_weight), handle, reduce,
                                        _threads_argument(n_threads))


def aggregate(graph, x, reduce="sum", edge_weight=None, *, num_nodes=None, size=None, return_arg=False,
              n_threads=None):
    if not (isinstance(x, torch.Tensor) and x.dim() == 3):
        return _torch_api.aggregate(graph, x, reduce, edge_weight, num_nodes=num_nodes, size=size,
                                    return_arg=return_arg, n_threads=n_threads)
    reduce = V.check_reduce(reduce)
    if edge_weight is None or (isinstance(edge_weight, torch.Tensor) and edge_weight.dim() == 1):
        # one weight per edge (or none): the heads are plain columns, (N, H * F) on the existing path
        # explicit widths: a -1 is ambiguous when x has no elements
        result = _torch_api.aggregate(graph, x.reshape(x.shape[0], x.shape[1] * x.shape[2]), reduce, edge_weight,
                                      num_nodes=num_nodes, size=size, return_arg=return_arg, n_threads=n_threads)
        if return_arg:
            out, arg = result
            arg = None if arg is None else arg.view(arg.shape[0], *x.shape[1:])
            return out.view(out.shape[0], *x.shape[1:]), arg
        return result.view(result.shape[0], *x.shape[1:])
    handle = graph if isinstance(graph, TorchGraph) else _torch_api._aggregate_operand(graph, num_nodes, size)[0]
    out = aggregate_heads(handle, x, reduce, edge_weight, n_threads)
    return (out, None) if return_arg else out


aggregate.__doc__ = _torch_api.aggregate.__doc__


def _attention_options(negative_slope, dropout, training, seed, step):
    negative_slope = _check_slope(negative_slope)
    dropout = _check_probability(dropout) if training else 0.0
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or not 0 <= int(step) < 2 ** 64:
        raise ValueError(f"step must be an integer in [0, 2**64), got {step!r}")
    seed = _dropout_seed(seed) if dropout > 0 else (0 if seed is None else _dropout_seed(seed))
    return negative_slope, dropout, seed, int(step)


def _result(handle, out, alpha, return_attention_weights):
    if not return_attention_weights:
        return out
    return out, handle.from_csr_order(alpha)


def gat_attention(graph, x, score_src, score_dst, *, negative_slope=0.2, dropout=0.0, training=True, seed=None,
                  step=0, return_attention_weights=False, num_nodes=None, size=None, n_threads=None):
    """Differentiable fused GAT attention (:func:`fastgnn.ops.gat_attention`).

    For each edge ``e = j -> i`` and head ``h``:
    ``s = LeakyReLU(score_src[j, h] + score_dst[i, h])``, ``alpha`` the edge
    softmax of ``s`` over row ``i``, optionally dropped out, and
    ``out[i, h] = sum_e alpha[e, h] x[j, h]``.

    Parameters
    ----------
    graph : TorchGraph, fastgnn.Graph, edge_index tensor or sparse adjacency
        An ``edge_index`` without ``num_nodes``/``size`` takes
        ``(len(x), len(score_dst))`` source and destination nodes.
    x : torch.Tensor, shape (num_src_nodes, H, F)
    score_src : torch.Tensor, shape (num_src_nodes, H)
    score_dst : torch.Tensor, shape (num_dst_nodes, H)
        One float dtype for the three.
    negative_slope : float
    dropout : float in [0, 1)
        Dropout of the attention coefficients when ``training``: kept ones
        are scaled by ``1 / (1 - dropout)``; the mask is a function of
        ``(seed, step)`` and the position only, the same for any thread count.
    training : bool
        False: no dropout.
    seed : int, optional
        Seed of the dropout mask; by default drawn from PyTorch's default
        generator (``torch.manual_seed`` makes runs repeatable).
    step : int
    return_attention_weights : bool
        Also return ``alpha`` (E, H) in the input's edge order, after the
        softmax and before dropout (as PyG's layers return it; not
        differentiable).
    num_nodes, size, n_threads : optional

    Returns
    -------
    out : torch.Tensor of shape (num_dst_nodes, H, F)
    alpha : torch.Tensor of shape (num_edges, H), only with ``return_attention_weights``

    Notes
    -----
    Gradients flow to ``x``, ``score_src`` and ``score_dst``. The backward
    keeps ``alpha`` (``O(E H)``) and the inputs; nothing of size edges x
    features is allocated. Differentiable once.
    """
    _float_tensor(x, "x", (3,))
    _float_tensor(score_src, "score_src", (2,))
    _float_tensor(score_dst, "score_dst", (2,))
    _same_dtype(x=x, score_src=score_src, score_dst=score_dst)
    heads = x.shape[1]
    for tensor, name in ((score_src, "score_src"), (score_dst, "score_dst")):
        if tensor.shape[1] != heads:
            raise ValueError(f"{name} must have {heads} columns (the heads of x), got shape {tuple(tensor.shape)}")
    handle = _handle(graph, num_nodes, size, (x.shape[0], score_dst.shape[0]))
    _check_rows(x, "x", handle.num_src_nodes, "source")
    _check_rows(score_src, "score_src", handle.num_src_nodes, "source")
    _check_rows(score_dst, "score_dst", handle.num_dst_nodes, "destination")
    negative_slope, dropout, seed, step = _attention_options(negative_slope, dropout, training, seed, step)
    out, alpha = _apply(GATAttentionFunction, x, score_src, score_dst, handle, negative_slope, dropout, seed, step,
                                            bool(return_attention_weights), _threads_argument(n_threads))
    return _result(handle, out, alpha, return_attention_weights)


def gatv2_attention(graph, x_src, x_dst, att, *, negative_slope=0.2, dropout=0.0, training=True, seed=None,
                    step=0, return_attention_weights=False, num_nodes=None, size=None, n_threads=None):
    """Differentiable fused GATv2 attention (:func:`fastgnn.ops.gatv2_attention`).

    For each edge ``e = j -> i`` and head ``h``:
    ``s = sum_f att[h, f] LeakyReLU(x_src[j, h, f] + x_dst[i, h, f])``, then
    softmax, dropout and the weighted sum of ``x_src[j]`` as in
    :func:`gat_attention` (Brody et al.; PyG's ``GATv2Conv``).

    Parameters
    ----------
    graph : TorchGraph, fastgnn.Graph, edge_index tensor or sparse adjacency
        An ``edge_index`` without ``num_nodes``/``size`` takes
        ``(len(x_src), len(x_dst))`` source and destination nodes.
    x_src : torch.Tensor, shape (num_src_nodes, H, F)
    x_dst : torch.Tensor, shape (num_dst_nodes, H, F)
    att : torch.Tensor, shape (H, F)
    negative_slope, dropout, training, seed, step, return_attention_weights, num_nodes, size, n_threads
        As in :func:`gat_attention`.

    Returns
    -------
    out : torch.Tensor of shape (num_dst_nodes, H, F)
    alpha : torch.Tensor of shape (num_edges, H), only with ``return_attention_weights``

    Notes
    -----
    Gradients flow to ``x_src``, ``x_dst`` and ``att``; the backward
    recomputes ``LeakyReLU(x_src[j] + x_dst[i])`` per edge instead of
    keeping it (nothing of size edges x features). Differentiable once.
    """
    _float_tensor(x_src, "x_src", (3,))
    _float_tensor(x_dst, "x_dst", (3,))
    _float_tensor(att, "att", (2,))
    _same_dtype(x_src=x_src, x_dst=x_dst, att=att)
    if x_dst.shape[1:] != x_src.shape[1:] or tuple(att.shape) != tuple(x_src.shape[1:]):
        raise ValueError(f"x_src, x_dst and att must have shapes (num_src_nodes, H, F), (num_dst_nodes, H, F) and "
                         f"(H, F), got {tuple(x_src.shape)}, {tuple(x_dst.shape)} and {tuple(att.shape)}")
    handle = _handle(graph, num_nodes, size, (x_src.shape[0], x_dst.shape[0]))
    _check_rows(x_src, "x_src", handle.num_src_nodes, "source")
    _check_rows(x_dst, "x_dst", handle.num_dst_nodes, "destination")
    negative_slope, dropout, seed, step = _attention_options(negative_slope, dropout, training, seed, step)
    out, alpha = _apply(GATv2AttentionFunction, x_src, x_dst, att, handle, negative_slope, dropout, seed, step,
                                              bool(return_attention_weights), _threads_argument(n_threads))
    return _result(handle, out, alpha, return_attention_weights)

