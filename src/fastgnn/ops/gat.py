"""Fused attention of the GAT family: scores, edge softmax, dropout and weighted sum in one kernel.

:func:`gat_attention` (Velickovic et al. 2018) and :func:`gatv2_attention`
(Brody et al. 2022) compute, for every destination row ``i`` and head ``h``,
the attention scores of the row's edges, their softmax, the dropout of the
weights and the weighted sum of the source rows, without ever forming an
edges x features array; their backwards reuse the softmax weights kept in a
:class:`GATAttentionState` (edges x heads) and sum per source over the
graph's cached transpose, so every result is the same for any number of
threads.
"""

import numpy as np

from fastgnn._kernels import gat as _K
from fastgnn._runtime import validate as V
from fastgnn._runtime.memory import aligned_for_gather, empty_aligned
from fastgnn._runtime.threads import PARALLEL_WORK_THRESHOLD, resolve_num_threads
from fastgnn.ops.checks import as_graph, check_counter, dropout_threshold, work_of

__all__ = ["gat_attention", "gat_attention_backward", "gatv2_attention", "gatv2_attention_backward",
           "GATAttentionState"]

_TWO_32 = 1 << 32


class GATAttentionState:
    """What the backward of :func:`gat_attention` or :func:`gatv2_attention` needs from its forward.

    Memory ``O(E H)``: the attention weights and a few scalars (and, for
    GAT, a private read-only copy of the forward's output, ``O(N H F)``,
    from which the backward takes the softmax row sums); the dropout mask
    is recomputed from ``(seed, step)``.

    Attributes
    ----------
    alpha : ndarray, shape (E, H)
        The attention weights after the softmax and **before** dropout (what
        PyG's ``return_attention_weights`` returns), in the feature dtype.
        Read-only.
    kind : {'gat', 'gatv2'}
        The forward that made the state.
    negative_slope : float
        Of the leaky ReLU of the scores.
    p : float
        The dropout probability of the weights (0: no dropout).
    seed, step : int
        The keys of the dropout mask.
    """

    __slots__ = ("alpha", "kind", "negative_slope", "p", "seed", "step", "num_src_nodes", "num_dst_nodes", "_out")

    def __repr__(self):
        return (f"GATAttentionState(kind={self.kind!r}, alpha={self.alpha.shape} {self.alpha.dtype}, "
                f"negative_slope={self.negative_slope}, p={self.p}, seed={self.seed}, step={self.step})")


# ---------------------------------------------------------------------------
# Validation


def _check_dropout(p):
    try:
        value = float(p)
    except (TypeError, ValueError):
        raise TypeError(f"dropout must be a number in [0, 1), got {type(p).__name__}") from None
    if not 0.0 <= value < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {value}")
    return value


def _check_slope(negative_slope):
    try:
        value = float(negative_slope)
    except (TypeError, ValueError):
        raise TypeError(f"negative_slope must be a real number, got {type(negative_slope).__name__}") from None
    if not np.isfinite(value):
        raise ValueError(f"negative_slope must be finite, got {value}")
    return value


def _as_values(value, name, shape, dtype=None):
    """A C-contiguous float array of ``shape`` (``None`` entries free); dtype checked against ``dtype``.

    ``shape`` gives the expected rank and sizes; an entry ``None`` accepts any
    size (it is then fixed by the first array that has it).
    """
    array = V.as_array(value, name)
    if array.dtype not in V.FLOAT_DTYPES:
        raise TypeError(f"{name} must have dtype float32 or float64, got {array.dtype}")
    if dtype is not None and array.dtype != dtype:
        raise TypeError(f"{name} has dtype {array.dtype} but x has {dtype}; they must match")
    if array.ndim != len(shape) or any(s is not None and a != s for a, s in zip(array.shape, shape)):
        expected = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"{name} must have shape {expected}, got {array.shape}")
    return np.ascontiguousarray(array)


def _as_grad(grad_out, shape, dtype):
    array = V.as_array(grad_out, "grad_out")
    if array.dtype.kind not in "fiu":
        raise TypeError(f"grad_out must hold real numbers, got dtype {array.dtype}")
    if array.shape != shape:
        raise ValueError(f"grad_out must have shape {shape} (the forward's output), got {array.shape}")
    return np.ascontiguousarray(array, dtype=dtype)


def _check_state(state, kind, graph, heads, dtype):
    if type(state) is not GATAttentionState:
        raise TypeError(f"state must be the GATAttentionState returned by the forward, got {type(state).__name__}")
    forward = "gat_attention" if kind == "gat" else "gatv2_attention"
    if state.kind != kind:
        raise ValueError(f"state was made by {'gat_attention' if state.kind == 'gat' else 'gatv2_attention'}, "
                         f"not {forward}")
    if state.alpha.shape != (graph.num_edges, heads) or state.alpha.dtype != dtype \
            or state.num_src_nodes != graph.num_src_nodes or state.num_dst_nodes != graph.num_dst_nodes:
        raise ValueError(f"state does not match this call: its attention has shape {state.alpha.shape} "
                         f"({state.alpha.dtype}) for {state.num_dst_nodes} x {state.num_src_nodes} nodes, the "
                         f"graph and inputs ask for ({graph.num_edges}, {heads}) ({dtype}) on "
                         f"{graph.num_dst_nodes} x {graph.num_src_nodes}")


def _gat_inputs(graph, x, score_src, score_dst):
    graph = as_graph(graph)
    x = _as_values(x, "x", (graph.num_src_nodes, None, None))
    heads = x.shape[1]
    score_src = _as_values(score_src, "score_src", (graph.num_src_nodes, None), x.dtype)
    score_dst = _as_values(score_dst, "score_dst", (graph.num_dst_nodes, None), x.dtype)
    for name, array in (("score_src", score_src), ("score_dst", score_dst)):
        if array.shape[1] != heads:
            raise ValueError(f"{name} has {array.shape[1]} heads but x has {heads}")
    return graph, x, score_src, score_dst


def _gatv2_inputs(graph, x_src, x_dst, att):
    graph = as_graph(graph)
    x_src = _as_values(x_src, "x_src", (graph.num_src_nodes, None, None))
    heads, width = x_src.shape[1:]
    x_dst = _as_values(x_dst, "x_dst", (graph.num_dst_nodes, None, None), x_src.dtype)
    if x_dst.shape[1] != heads:
        raise ValueError(f"x_dst has {x_dst.shape[1]} heads but x_src has {heads}")
    if x_dst.shape[2] != width:
        raise ValueError(f"x_dst has {x_dst.shape[2]} features per head but x_src has {width}")
    att = _as_values(att, "att", (None, None), x_src.dtype)
    if att.shape != (heads, width):
        raise ValueError(f"att must have shape ({heads}, {width}) (heads x features of x_src), got {att.shape}")
    return graph, x_src, x_dst, att


def _new_state(kind, alpha, graph, negative_slope, p, seed, step):
    state = GATAttentionState()
    state.alpha = alpha
    state.kind = kind
    state.negative_slope = negative_slope
    state.p = p
    state.seed = seed
    state.step = step
    state.num_src_nodes = graph.num_src_nodes
    state.num_dst_nodes = graph.num_dst_nodes
    state._out = None
    return state


def _dropout_params(p, dtype):
    """``(drop, threshold, scale)`` for the kernels: keep when the 32 random bits are >= threshold.

    ``threshold = round(p * 2^32)`` (as :func:`fastgnn.ops.dropout_keep_flat`);
    a ``p`` so close to 1 that it rounds to ``2^32`` keeps nothing, which the
    kernels see as a scale of 0.
    """
    if p == 0.0:
        return False, 0, 1.0
    threshold = dropout_threshold(p)
    scale = float(dtype.type(1.0 / (1.0 - p)))
    if threshold >= _TWO_32:
        return True, _TWO_32 - 1, 0.0
    return True, threshold, scale


def _threads(n_threads, graph, width):
    work = work_of(graph.num_edges, max(graph.num_dst_nodes, graph.num_src_nodes), width)
    if n_threads is None and work < PARALLEL_WORK_THRESHOLD:
        return 1
    return resolve_num_threads(n_threads, work)


def _gathered(x, num_edges):
    """``x`` (N, H, F), realigned when its rows are gathered often (see :mod:`fastgnn._runtime.memory`)."""
    if x.shape[0] == 0 or x.shape[1] * x.shape[2] == 0:
        return x
    return aligned_for_gather(x.reshape(x.shape[0], -1), num_edges).reshape(x.shape)


def _forward_state(kind, graph, heads, dtype, negative_slope, dropout, seed, step):
    negative_slope = _check_slope(negative_slope)
    p = _check_dropout(dropout)
    seed = check_counter(seed, "seed")
    step = check_counter(step, "step")
    alpha = empty_aligned((graph.num_edges, heads), dtype)
    return _new_state(kind, alpha, graph, negative_slope, p, seed, step)


# ---------------------------------------------------------------------------
# Public operations


def gat_attention(graph, x, score_src, score_dst, *, negative_slope=0.2, dropout=0.0, seed=0, step=0,
                  n_threads=None):
    r"""GAT attention and aggregation in one pass per destination row.

    Parameters
    ----------
    graph : Graph or scipy.sparse matrix
        Destination-major CSR: row ``i`` lists the edges ``j -> i``.
    x : array_like, shape (num_src_nodes, H, F), float32 or float64
        The transformed source features, per head.
    score_src : array_like, shape (num_src_nodes, H)
        ``<a_src[h], x[j, h]>``, the source half of each edge's score.
    score_dst : array_like, shape (num_dst_nodes, H)
        ``<a_dst[h], x_dst[i, h]>``, the destination half.
    negative_slope : float
        Of the leaky ReLU of the scores.
    dropout : float in [0, 1)
        Dropout probability of the attention weights (training); 0 for none.
    seed, step : int in [0, 2^64)
        Select the dropout mask: the same ``(seed, step)`` gives the same mask.
    n_threads : int, optional

    Returns
    -------
    out : ndarray, shape (num_dst_nodes, H, F)
    state : GATAttentionState
        The attention weights ``alpha`` (E, H), pre-dropout, and what
        :func:`gat_attention_backward` needs.

    Notes
    -----
    For the edge ``e = (j -> i)`` and head ``h``:

    .. math::

        s_{eh} = \mathrm{LeakyReLU}(\mathrm{score\_src}_{jh} + \mathrm{score\_dst}_{ih}), \quad
        \alpha_{eh} = \frac{\exp(s_{eh} - m_{ih})}{\sum_{e' \in \mathrm{row}(i)} \exp(s_{e'h} - m_{ih})},

        \mathrm{out}_{ih} = \sum_{e \in \mathrm{row}(i)} \alpha_{eh}\, \mathrm{keep}(eH + h) / (1 - p)\; x_{jh}

    with ``m`` the row maximum and ``keep`` the counter-based mask of
    :func:`fastgnn.ops.dropout_keep_flat` over the flat positions of the
    ``(E, H)`` weights. The softmax follows the edge-softmax rules: an empty
    row gives 0, a NaN score makes its row and head NaN, a row and head
    whose scores are all ``-inf`` gets weight 0 on every edge. Cost
    ``O(E H F)``; memory ``O(E H)`` (``alpha``); every sum runs in a fixed
    order, so the results do not depend on the number of threads.
    """
    graph, x, score_src, score_dst = _gat_inputs(graph, x, score_src, score_dst)
    state = _forward_state("gat", graph, x.shape[1], x.dtype, negative_slope, dropout, seed, step)
    threads = _threads(n_threads, graph, x.shape[1] * x.shape[2])
    drop, threshold, scale = _dropout_params(state.p, x.dtype)
    out = empty_aligned((graph.num_dst_nodes,) + x.shape[1:], x.dtype)
    _K.gat_forward(out, state.alpha, _gathered(x, graph.num_edges), score_src, score_dst, graph.indptr,
                   graph.indices, state.negative_slope, drop, threshold, state.seed, state.step, scale, threads)
    state.alpha.flags.writeable = False
    # The backward's softmax row sums are <grad_out[i, h], out[i, h]>: a private copy, safe from the caller.
    state._out = empty_aligned(out.shape, out.dtype)
    np.copyto(state._out, out)
    state._out.flags.writeable = False
    return out, state


def gat_attention_backward(graph, grad_out, x, score_src, score_dst, state, *, n_threads=None):
    r"""Gradients of :func:`gat_attention`: ``(grad_x, grad_score_src, grad_score_dst)``.

    Parameters
    ----------
    graph : Graph or scipy.sparse matrix
        The forward's graph.
    grad_out : array_like, shape (num_dst_nodes, H, F)
        Gradient of the loss with respect to the forward's ``out`` (cast to
        the dtype of ``x``).
    x, score_src, score_dst : array_like
        The forward's inputs.
    state : GATAttentionState
        The forward's state.
    n_threads : int, optional

    Returns
    -------
    grad_x : ndarray, shape (num_src_nodes, H, F)
    grad_score_src : ndarray, shape (num_src_nodes, H)
    grad_score_dst : ndarray, shape (num_dst_nodes, H)

    Notes
    -----
    With ``alpha'`` the dropped-out weights and ``g = grad_out``:
    ``dalpha'[e, h] = <g[i, h], x[j, h]>``, ``dalpha = dalpha' keep / (1 - p)``,
    ``ds[e, h] = alpha (dalpha - sum_row alpha dalpha)``,
    ``dz = ds * (z > 0 ? 1 : negative_slope)``; ``grad_score_dst[i]`` sums
    ``dz`` over row ``i``, ``grad_score_src[j]`` over the edges leaving
    ``j`` and ``grad_x[j, h] = sum alpha'[e, h] g[i, h]``, both over the
    graph's cached transpose. The row sum ``sum_row alpha dalpha`` is taken
    as ``<g[i, h], out[i, h]>`` from the forward's output (kept in
    ``state``), so the whole backward is one pass over the transpose that
    gathers one row of ``g`` per edge. Cost ``O(E H F)``; nothing of size
    edges x features is allocated.
    """
    graph, x, score_src, score_dst = _gat_inputs(graph, x, score_src, score_dst)
    _check_state(state, "gat", graph, x.shape[1], x.dtype)
    if state._out.shape[2] != x.shape[2]:
        raise ValueError(f"x has {x.shape[2]} features per head, the forward of state had {state._out.shape[2]}")
    g = _as_grad(grad_out, (graph.num_dst_nodes,) + x.shape[1:], x.dtype)
    heads, dtype = x.shape[1], x.dtype
    threads = _threads(n_threads, graph, heads * x.shape[2])
    drop, threshold, scale = _dropout_params(state.p, dtype)
    t_indptr, t_indices, edge_id = graph.transpose_csr()
    grad_x = empty_aligned(x.shape, dtype)
    grad_score_src = empty_aligned(score_src.shape, dtype)
    grad_score_dst = empty_aligned(score_dst.shape, dtype)
    dz = empty_aligned((graph.num_edges, heads), dtype)
    rowsum = np.empty((graph.num_dst_nodes, heads), dtype=np.float64)
    _K.gat_backward(grad_x, grad_score_src, grad_score_dst, dz, rowsum, _gathered(g, graph.num_edges), x,
                    state._out, score_src, score_dst, state.alpha, graph.indptr, t_indptr, t_indices, edge_id,
                    state.negative_slope, drop, threshold, state.seed, state.step, scale, threads)
    return grad_x, grad_score_src, grad_score_dst


def gatv2_attention(graph, x_src, x_dst, att, *, negative_slope=0.2, dropout=0.0, seed=0, step=0, n_threads=None):
    r"""GATv2 attention and aggregation in one pass per destination row.

    Parameters
    ----------
    graph : Graph or scipy.sparse matrix
    x_src : array_like, shape (num_src_nodes, H, F), float32 or float64
        The source features, per head (PyG's ``x_l``); they are also the
        aggregated messages.
    x_dst : array_like, shape (num_dst_nodes, H, F)
        The destination features (PyG's ``x_r``).
    att : array_like, shape (H, F)
        The attention vector of each head.
    negative_slope, dropout, seed, step, n_threads
        As :func:`gat_attention`.

    Returns
    -------
    out : ndarray, shape (num_dst_nodes, H, F)
    state : GATAttentionState

    Notes
    -----
    ``s[e, h] = sum_f att[h, f] * LeakyReLU(x_src[j, h, f] + x_dst[i, h, f])``,
    then the softmax, dropout and weighted sum of ``x_src[j]`` of
    :func:`gat_attention`. Cost ``O(E H F)``; memory ``O(E H)``.
    """
    graph, x_src, x_dst, att = _gatv2_inputs(graph, x_src, x_dst, att)
    state = _forward_state("gatv2", graph, x_src.shape[1], x_src.dtype, negative_slope, dropout, seed, step)
    threads = _threads(n_threads, graph, x_src.shape[1] * x_src.shape[2])
    drop, threshold, scale = _dropout_params(state.p, x_src.dtype)
    out = empty_aligned((graph.num_dst_nodes,) + x_src.shape[1:], x_src.dtype)
    _K.gatv2_forward(out, state.alpha, _gathered(x_src, graph.num_edges), x_dst, att, graph.indptr, graph.indices,
                     state.negative_slope, drop, threshold, state.seed, state.step, scale, threads)
    state.alpha.flags.writeable = False
    return out, state


def gatv2_attention_backward(graph, grad_out, x_src, x_dst, att, state, *, n_threads=None):
    r"""Gradients of :func:`gatv2_attention`: ``(grad_x_src, grad_x_dst, grad_att)``.

    Parameters
    ----------
    graph : Graph or scipy.sparse matrix
    grad_out : array_like, shape (num_dst_nodes, H, F)
    x_src, x_dst, att : array_like
        The forward's inputs.
    state : GATAttentionState
        The forward's state.
    n_threads : int, optional

    Returns
    -------
    grad_x_src : ndarray, shape (num_src_nodes, H, F)
    grad_x_dst : ndarray, shape (num_dst_nodes, H, F)
    grad_att : ndarray, shape (H, F)

    Notes
    -----
    With ``ds`` the score gradient of :func:`gat_attention_backward` and
    ``z = x_src[j] + x_dst[i]`` (recomputed per edge, never stored):
    ``dz[e, h, f] = ds[e, h] att[h, f] LeakyReLU'(z)``;
    ``grad_x_dst[i]`` sums ``dz`` over row ``i``;
    ``grad_x_src[j] = sum (alpha'[e, h] g[i, h] + dz[e, h])`` over the
    transpose; ``grad_att[h, f] = sum_e ds[e, h] LeakyReLU(z[e, h, f])``,
    summed per fixed block of rows, then the blocks in order, so the result
    does not depend on the number of threads. Cost ``O(E H F)``.
    """
    graph, x_src, x_dst, att = _gatv2_inputs(graph, x_src, x_dst, att)
    _check_state(state, "gatv2", graph, x_src.shape[1], x_src.dtype)
    g = _as_grad(grad_out, (graph.num_dst_nodes,) + x_src.shape[1:], x_src.dtype)
    heads, width, dtype = x_src.shape[1], x_src.shape[2], x_src.dtype
    threads = _threads(n_threads, graph, heads * width)
    drop, threshold, scale = _dropout_params(state.p, dtype)
    t_indptr, t_indices, edge_id = graph.transpose_csr()
    grad_x_src = empty_aligned(x_src.shape, dtype)
    grad_x_dst = empty_aligned(x_dst.shape, dtype)
    grad_att = np.empty(att.shape, dtype)
    partials = np.empty((-(-graph.num_dst_nodes // _K.BLOCK_ROWS), heads * width))
    scratch = empty_aligned((graph.num_edges, 2 * heads), dtype)
    _K.gatv2_backward(grad_x_src, grad_x_dst, grad_att, partials, scratch, _gathered(g, graph.num_edges),
                      _gathered(x_src, graph.num_edges), _gathered(x_dst, graph.num_edges), att, state.alpha,
                      graph.indptr, graph.indices, t_indptr, t_indices, edge_id, state.negative_slope, drop,
                      threshold, state.seed, state.step, scale, threads)
    return grad_x_src, grad_x_dst, grad_att
