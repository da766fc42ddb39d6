"""Pure-NumPy reference of every operation in :mod:`fastgnn.ops` and its backward.

The test oracle: written for clarity, not speed (per-row loops, dense
temporaries), and independent of the compiled kernels and of
:class:`fastgnn.Graph`. Every graph operation takes plain destination-major CSR
arrays: ``indptr`` (length ``num_dst_nodes + 1``) and ``indices`` (the source
of each edge), with the position of an edge in ``indices`` as its edge id.
See ``SEMANTICS.md`` for the definitions followed here. The fused dense
steps (bias, activation, dropout: :func:`bias_act_dropout`) and their
counter-based dropout mask (:func:`dropout_keep`) follow, then the attention
edge operations (:func:`sddmm`, :func:`edge_softmax`, the multi-head
weighted aggregation), and the fused GAT/GATv2 attention
(:func:`gat_attention`, :func:`gatv2_attention`) close the module.

Precision. Sums (``sum``, ``mean``, the backward of every op, ``edge_dot``)
are accumulated in float64 and rounded to the feature dtype at the end, so
they are at least as accurate as the kernels. The messages of ``max``/``min``
(``w_e * x[j, k]``) are formed in the feature dtype, as the kernels do, so
the winner, its value and ``arg`` can be compared exactly. Edge weights are
first cast to the feature dtype, as :mod:`fastgnn.ops` does.

Every function returns new arrays and never modifies its inputs.
"""
import numpy as np

from fastgnn._runtime import validate as V
from fastgnn._runtime.numerics import sigmoid as _sigmoid

__all__ = [
    "aggregate",
    "aggregate_backward",
    "segment_reduce",
    "segment_reduce_backward",
    "edge_dot",
    "edge_dot_backward",
    "dropout_threshold",
    "dropout_keep",
    "dropout_keep_flat",
    "bias_act_dropout",
    "bias_act_dropout_backward",
    "sddmm",
    "sddmm_backward",
    "edge_softmax",
    "edge_softmax_backward",
    "multi_head_aggregate",
    "multi_head_aggregate_backward",
    "gat_attention",
    "gat_attention_backward",
    "gatv2_attention",
    "gatv2_attention_backward",
]

def _as_2d(x):
    """``(x as a 2-D array, was_1d)``."""
    x = np.asarray(x)
    return (x.reshape(-1, 1), True) if x.ndim == 1 else (x, False)


def _restore(array, was_1d):
    return array.reshape(-1) if was_1d else array


def _weights(edge_weight, num_edges, dtype):
    """The weights in ``dtype`` (ones when absent)."""
    if edge_weight is None:
        return np.ones(num_edges, dtype=dtype)
    return np.asarray(edge_weight).astype(dtype)


def _destinations(indptr):
    """The destination row of every edge, in edge-id order."""
    indptr = np.asarray(indptr, dtype=np.int64)
    return np.repeat(np.arange(indptr.shape[0] - 1), np.diff(indptr))


def _row_extremum(messages, reduce):
    """Max/min of each column of ``messages`` (edges x d) with the winning position.

    ``np.argmax``/``np.argmin`` return the first occurrence on ties and the
    first NaN when there is one, which is exactly the rule of SEMANTICS.md.
    """
    with np.errstate(invalid="ignore"):
        winner = np.argmax(messages, axis=0) if reduce == "max" else np.argmin(messages, axis=0)
    values = messages[winner, np.arange(messages.shape[1])]
    return values, winner


def aggregate(indptr, indices, x, reduce="sum", edge_weight=None):
    """``out[i] = REDUCE_{e in row(i)} w_e * x[indices[e]]``.

    Parameters
    ----------
    indptr, indices : array_like of int
        Destination-major CSR; ``num_src_nodes`` is ``len(x)``.
    x : array_like of float, shape (num_src_nodes, d) or (num_src_nodes,)
    reduce : {'sum', 'add', 'mean', 'max', 'min'}
    edge_weight : array_like, shape (num_edges,), optional

    Returns
    -------
    out : ndarray, shape (num_dst_nodes, d), dtype of ``x``
        Empty rows give 0.
    arg : ndarray of int64, shape (num_dst_nodes, d), or None
        For max/min, the winning edge id (first in CSR order on ties, the
        first NaN message if any), -1 for an empty row; None for sum/mean.
    """
    reduce = V.check_reduce(reduce)
    x2, was_1d = _as_2d(x)
    dtype = x2.dtype
    indptr = np.asarray(indptr, dtype=np.int64)
    indices = np.asarray(indices, dtype=np.int64)
    weight = _weights(edge_weight, indices.shape[0], dtype)
    num_dst, width = indptr.shape[0] - 1, x2.shape[1]
    out = np.zeros((num_dst, width), dtype=dtype)
    arg = np.full((num_dst, width), -1, dtype=np.int64) if reduce in ("max", "min") else None
    for i in range(num_dst):
        e0, e1 = int(indptr[i]), int(indptr[i + 1])
        if e0 == e1:
            continue
        rows = x2[indices[e0:e1]]
        if reduce in ("sum", "mean"):
            total = (weight[e0:e1, None].astype(np.float64) * rows.astype(np.float64)).sum(axis=0)
            if reduce == "mean":
                total = total / (e1 - e0)
            out[i] = total
        else:
            with np.errstate(invalid="ignore", over="ignore"):
                messages = weight[e0:e1, None] * rows  # in the feature dtype, as the kernel
            out[i], winner = _row_extremum(messages, reduce)
            arg[i] = e0 + winner
    return _restore(out, was_1d), (None if arg is None else _restore(arg, was_1d))


def aggregate_backward(indptr, indices, num_src_nodes, grad_out, reduce="sum", *, x=None,
                       edge_weight=None, arg=None):
    """Gradients of :func:`aggregate`: ``(grad_x, grad_edge_weight)``.

    With ``G = grad_out``, for each edge ``e = (j -> i)`` with weight ``w_e``:

    * ``sum``: ``grad_x[j] += w_e G[i]`` and ``grad_w[e] = <G[i], x[j]>``;
    * ``mean``: the same with ``G[i] / deg(i)``;
    * ``max``/``min``: for each ``k`` with ``arg[i, k] == e`` only,
      ``grad_x[j, k] += w_e G[i, k]`` and ``grad_w[e] += G[i, k] x[j, k]``.

    Parameters
    ----------
    indptr, indices : array_like of int
    num_src_nodes : int
    grad_out : array_like, shape (num_dst_nodes, d) or (num_dst_nodes,)
    reduce : {'sum', 'add', 'mean', 'max', 'min'}
    x : array_like, shape (num_src_nodes, d), optional
        Needed for ``grad_edge_weight`` (None without it).
    edge_weight : array_like, shape (num_edges,), optional
    arg : array_like of int, shape (num_dst_nodes, d)
        Required for max/min: the winning edge of each output element.

    Returns
    -------
    grad_x : ndarray, shape (num_src_nodes, d), dtype of ``grad_out``
    grad_edge_weight : ndarray, shape (num_edges,), or None without ``x``
    """
    reduce = V.check_reduce(reduce)
    g2, was_1d = _as_2d(grad_out)
    dtype = g2.dtype
    indptr = np.asarray(indptr, dtype=np.int64)
    indices = np.asarray(indices, dtype=np.int64)
    num_edges, width = indices.shape[0], g2.shape[1]
    weight = _weights(edge_weight, num_edges, dtype).astype(np.float64)
    g64 = g2.astype(np.float64)
    x64 = None if x is None else _as_2d(x)[0].astype(np.float64)
    grad_x = np.zeros((num_src_nodes, width), dtype=np.float64)
    grad_w = None if x is None else np.zeros(num_edges, dtype=np.float64)
    if reduce in ("max", "min"):
        if arg is None:
            raise ValueError("arg is required for the max/min backward")
        arg2 = _as_2d(arg)[0].astype(np.int64)
        for i in range(indptr.shape[0] - 1):
            for k in range(width):
                e = int(arg2[i, k])
                if e < 0:
                    continue
                j = int(indices[e])
                grad_x[j, k] += weight[e] * g64[i, k]
                if grad_w is not None:
                    grad_w[e] += g64[i, k] * x64[j, k]
    else:
        for i in range(indptr.shape[0] - 1):
            e0, e1 = int(indptr[i]), int(indptr[i + 1])
            if e0 == e1:
                continue
            g_row = g64[i] / (e1 - e0) if reduce == "mean" else g64[i]
            for e in range(e0, e1):
                j = int(indices[e])
                grad_x[j] += weight[e] * g_row
                if grad_w is not None:
                    grad_w[e] = np.dot(g_row, x64[j])
    grad_x = _restore(grad_x.astype(dtype), was_1d)
    return grad_x, (None if grad_w is None else grad_w.astype(dtype))


def segment_reduce(x, ptr, reduce="sum"):
    """``out[s] = REDUCE(x[ptr[s]:ptr[s + 1]])``: ``(out, arg)``.

    An empty segment gives a zero row (and arg -1). ``arg`` is, for max/min,
    the winning row (first on ties, the first NaN if any); None for sum/mean.
    """
    reduce = V.check_reduce(reduce)
    x2, was_1d = _as_2d(x)
    ptr = np.asarray(ptr, dtype=np.int64)
    num_segments, width = ptr.shape[0] - 1, x2.shape[1]
    out = np.zeros((num_segments, width), dtype=x2.dtype)
    arg = np.full((num_segments, width), -1, dtype=np.int64) if reduce in ("max", "min") else None
    for s in range(num_segments):
        r0, r1 = int(ptr[s]), int(ptr[s + 1])
        if r0 == r1:
            continue
        rows = x2[r0:r1]
        if reduce in ("sum", "mean"):
            total = rows.astype(np.float64).sum(axis=0)
            out[s] = total / (r1 - r0) if reduce == "mean" else total
        else:
            out[s], winner = _row_extremum(rows, reduce)
            arg[s] = r0 + winner
    return _restore(out, was_1d), (None if arg is None else _restore(arg, was_1d))


def segment_reduce_backward(grad_out, ptr, reduce="sum", arg=None):
    """Gradient of :func:`segment_reduce` with respect to ``x``.

    ``sum``: every row of segment ``s`` gets ``G[s]``; ``mean``: ``G[s]``
    divided by the segment length; ``max``/``min``: only row ``arg[s, k]``
    gets ``G[s, k]``.
    """
    reduce = V.check_reduce(reduce)
    g2, was_1d = _as_2d(grad_out)
    ptr = np.asarray(ptr, dtype=np.int64)
    num_rows, width = int(ptr[-1]), g2.shape[1]
    grad_x = np.zeros((num_rows, width), dtype=np.float64)
    g64 = g2.astype(np.float64)
    if reduce in ("max", "min"):
        if arg is None:
            raise ValueError("arg is required for the max/min backward")
        arg2 = _as_2d(arg)[0].astype(np.int64)
        for s in range(g2.shape[0]):
            for k in range(width):
                if arg2[s, k] >= 0:
                    grad_x[arg2[s, k], k] += g64[s, k]
    else:
        for s in range(g2.shape[0]):
            r0, r1 = int(ptr[s]), int(ptr[s + 1])
            if r0 < r1:
                grad_x[r0:r1] = g64[s] / (r1 - r0) if reduce == "mean" else g64[s]
    return _restore(grad_x.astype(g2.dtype), was_1d)


def edge_dot(indptr, indices, a, b):
    """``out[e] = <a[dst(e)], b[indices[e]]>`` for every edge, shape (num_edges,)."""
    a2, _ = _as_2d(a)
    b2, _ = _as_2d(b)
    indices = np.asarray(indices, dtype=np.int64)
    dst = _destinations(indptr)
    out = np.zeros(indices.shape[0], dtype=np.float64)
    for e in range(indices.shape[0]):
        out[e] = np.dot(a2[dst[e]].astype(np.float64), b2[indices[e]].astype(np.float64))
    return out.astype(a2.dtype)


def edge_dot_backward(indptr, indices, grad_out, a, b):
    """Gradients of :func:`edge_dot`: ``(grad_a, grad_b)``, shaped like ``a`` and ``b``.

    ``grad_a[i] = sum_{e = (j -> i)} g_e b[j]``, ``grad_b[j] = sum_{e = (j -> i)} g_e a[i]``.
    """
    a2, a_1d = _as_2d(a)
    b2, b_1d = _as_2d(b)
    dtype = a2.dtype
    indices = np.asarray(indices, dtype=np.int64)
    g = np.asarray(grad_out).astype(dtype).astype(np.float64)
    dst = _destinations(indptr)
    grad_a = np.zeros(a2.shape, dtype=np.float64)
    grad_b = np.zeros(b2.shape, dtype=np.float64)
    for e in range(indices.shape[0]):
        i, j = dst[e], indices[e]
        grad_a[i] += g[e] * b2[j].astype(np.float64)
        grad_b[j] += g[e] * a2[i].astype(np.float64)
    return _restore(grad_a.astype(dtype), a_1d), _restore(grad_b.astype(dtype), b_1d)


# ---------------------------------------------------------------------------
# Fused dense steps (fastgnn.ops.dense): the counter-based dropout mask and
# bias + activation + dropout, step by step as fastgnn.nn computes them.

_MASK64 = (1 << 64) - 1


def _splitmix64(x):
    z = (x + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def _mix32(h):
    """The finalizer of MurmurHash3 on a uint32 array."""
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def dropout_threshold(p):
    """``round(p * 2^32)`` (ties to even): an element is kept when its 32 random bits are at least this."""
    return int(round(float(p) * 4294967296.0))


def dropout_keep(counters, p, seed, step):
    """Keep flags of the flat positions ``counters`` (any uint64 values) for ``(seed, step)``.

    ``key = splitmix64(splitmix64(seed) ^ step)``, ``k0``/``k1`` its low and
    high 32 bits; position ``c`` (low/high words ``lo``/``hi``) draws
    ``bits = mix32(mix32(lo ^ k0) ^ k1 ^ (hi * 0x9E3779B1 mod 2^32))`` and is
    kept when ``bits >= round(p * 2^32)``.
    """
    key = _splitmix64(_splitmix64(int(seed)) ^ int(step))
    k0, k1 = np.uint32(key & 0xFFFFFFFF), np.uint32(key >> 32)
    c = np.asarray(counters, dtype=np.uint64)
    lo = c.astype(np.uint32)
    hi = (c >> np.uint64(32)).astype(np.uint32)
    bits = _mix32(_mix32(lo ^ k0) ^ k1 ^ (hi * np.uint32(0x9E3779B1)))
    return bits.astype(np.int64) >= dropout_threshold(p)


def dropout_keep_flat(n, p, seed, step):
    """Keep flags of the flat positions ``0 .. n-1`` (:func:`dropout_keep` of ``arange(n)``)."""
    return dropout_keep(np.arange(int(n), dtype=np.uint64), p, seed, step)


def _activation(name, x, negative_slope, alpha):
    dtype = x.dtype.type
    if name == "relu":
        return np.maximum(x, 0)
    if name == "leaky_relu":
        return np.where(x > 0, x, x * dtype(negative_slope))
    if name == "elu":
        return np.where(x > 0, x, dtype(alpha) * np.expm1(np.minimum(x, 0)))
    if name == "tanh":
        return np.tanh(x)
    if name == "sigmoid":
        return _sigmoid(x)
    return x.copy()


def _activation_grad(name, grad, y, negative_slope, alpha):
    dtype = y.dtype.type
    if name == "relu":
        return np.multiply(grad, y > 0, dtype=y.dtype)
    if name == "leaky_relu":
        return np.where(y > 0, grad, grad * dtype(negative_slope))
    if name == "elu":
        return np.where(y > 0, grad, grad * (y + dtype(alpha)))
    if name == "tanh":
        return grad * (1 - y * y)
    if name == "sigmoid":
        return grad * y * (1 - y)
    return grad


def _pre_activation(z, bias):
    z = np.asarray(z)
    return z + np.asarray(bias).astype(z.dtype) if bias is not None else z


def _keep_rows(shape, p, seed, step, row_ids):
    """The mask of rows ``row_ids`` (None: ``0 .. N-1``) of a row-major array of ``shape[1]`` columns."""
    if row_ids is None:
        return dropout_keep_flat(int(np.prod(shape)), p, seed, step).reshape(shape)
    width = shape[1]
    counters = np.asarray(row_ids, dtype=np.uint64)[:, None] * np.uint64(width) + np.arange(width, dtype=np.uint64)
    return dropout_keep(counters.reshape(-1), p, seed, step).reshape(shape)


def bias_act_dropout(z, bias=None, activation="relu", negative_slope=0.01, alpha=1.0, p=0.0, seed=0, step=0,
                     training=True, row_ids=None):
    """``act(z + bias) * keep / (1 - p)``: the bias add, the activation and inverted dropout.

    The activation as :mod:`fastgnn.nn.activation`, the dropout as
    :class:`fastgnn.nn.Dropout` (``(y * keep) * (1 / (1 - p))``), with the
    mask of :func:`dropout_keep_flat` over the row-major positions (row
    ``i`` at the positions of row ``row_ids[i]`` when given). No
    dropout when ``training`` is false or ``p == 0``; zeros when every
    element is dropped (``p`` rounds to 1).
    """
    y = _activation(activation, _pre_activation(z, bias), negative_slope, alpha)
    if not training or p == 0:
        return y
    if dropout_threshold(p) >= 1 << 32:
        return np.zeros_like(y)
    keep = _keep_rows(y.shape, p, seed, step, row_ids)
    return (y * keep) * y.dtype.type(1.0 / (1.0 - p))


def bias_act_dropout_backward(grad_out, z, bias=None, activation="relu", negative_slope=0.01, alpha=1.0, p=0.0,
                              seed=0, step=0, training=True, row_ids=None):
    """Gradients of :func:`bias_act_dropout`: ``(grad_z, grad_bias)`` (``grad_bias`` None without a bias).

    ``grad_z = act'(grad_out * keep / (1 - p))``, as the backward of
    :class:`fastgnn.nn.Dropout` then of the activation; ``grad_bias`` its
    column sums, accumulated in float64.
    """
    y = _activation(activation, _pre_activation(z, bias), negative_slope, alpha)
    g = np.asarray(grad_out).astype(y.dtype)
    if training and p != 0:
        if dropout_threshold(p) >= 1 << 32:
            g = np.zeros_like(g)
        else:
            keep = _keep_rows(y.shape, p, seed, step, row_ids)
            g = (g * keep) * y.dtype.type(1.0 / (1.0 - p))
    grad_z = _activation_grad(activation, g, y, negative_slope, alpha).astype(y.dtype)
    grad_bias = None if bias is None else grad_z.astype(np.float64).sum(axis=0).astype(y.dtype)
    return grad_z, grad_bias



# ---------------------------------------------------------------------------
# Attention edge operations (fastgnn.ops.attention, and aggregate with x of
# shape (N, H, F) and per-head (E, H) weights). Per-edge values are (E, H);
# node features (N, H, F) or (N, H). Sums in float64, rounded at the end.


def _heads3(x):
    """``x`` as ``(N, H, F)`` float64 (a 2-D ``(N, H)`` array is ``F = 1``), and its dtype."""
    x = np.asarray(x)
    return (x[:, :, None] if x.ndim == 2 else x).astype(np.float64), x.dtype


def _edge_heads(values):
    """``(values as (E, H), was_1d)``."""
    values = np.asarray(values)
    return (values.reshape(-1, 1), True) if values.ndim == 1 else (values, False)


def sddmm(indptr, indices, a, b, op="dot"):
    """``out[e, h] = sum_f a[i, h, f] * b[j, h, f]`` (``"dot"``) or ``a[i, h] + b[j, h]`` (``"add"``), shape (E, H)."""
    a3, dtype = _heads3(a)
    b3, _ = _heads3(b)
    dst = _destinations(indptr)
    src = np.asarray(indices, dtype=np.int64)
    if op == "add":
        if a3.shape[2] != 1:
            raise ValueError("op='add' takes (N, H) inputs")
        return (a3[dst, :, 0] + b3[src, :, 0]).astype(dtype)
    return np.einsum("ehf,ehf->eh", a3[dst], b3[src]).astype(dtype)


def sddmm_backward(indptr, indices, grad_out, a, b, op="dot"):
    """``(grad_a, grad_b)`` of :func:`sddmm`, shaped like ``a`` and ``b`` (scatter-adds over edges)."""
    a = np.asarray(a)
    b = np.asarray(b)
    a3, dtype = _heads3(a)
    b3, _ = _heads3(b)
    g, _ = _edge_heads(grad_out)
    g = g.astype(np.float64)[:, :, None]
    dst = _destinations(indptr)
    src = np.asarray(indices, dtype=np.int64)
    if op == "add":
        a3, b3 = np.ones_like(a3), np.ones_like(b3)
    grad_a = np.zeros_like(a3)
    grad_b = np.zeros_like(b3)
    np.add.at(grad_a, dst, g * b3[src])
    np.add.at(grad_b, src, g * a3[dst])
    return grad_a.reshape(a.shape).astype(dtype), grad_b.reshape(b.shape).astype(dtype)


def edge_softmax(indptr, scores):
    """Softmax of ``scores`` (E, H) or (E,) over the edges of each row, per head.

    ``exp(s - m) / sum exp(s - m)``, ``m`` the row-head maximum (NaN when a
    score is NaN, so the row-head is all NaN); a row-head whose scores are
    all ``-inf`` gives 0.
    """
    s, was_1d = _edge_heads(scores)
    dtype = s.dtype
    s = s.astype(np.float64)
    out = np.zeros_like(s)
    indptr = np.asarray(indptr, dtype=np.int64)
    with np.errstate(invalid="ignore"):
        for i in range(indptr.shape[0] - 1):
            rows = s[indptr[i]:indptr[i + 1]]
            if rows.shape[0] == 0:
                continue
            m = np.where(np.isnan(rows).any(axis=0), np.nan, rows.max(axis=0))
            t = np.exp(rows - m)
            alpha = t / t.sum(axis=0)
            out[indptr[i]:indptr[i + 1]] = np.where(m == -np.inf, 0.0, alpha)
    out = out.astype(dtype)
    return out.reshape(-1) if was_1d else out


def edge_softmax_backward(indptr, grad_out, attention):
    """``a * (g - sum_row a g)`` per head: the score gradient of :func:`edge_softmax`."""
    g, was_1d = _edge_heads(grad_out)
    dtype = g.dtype
    g = g.astype(np.float64)
    att = _edge_heads(attention)[0].astype(np.float64)
    indptr = np.asarray(indptr, dtype=np.int64)
    row_sums = np.zeros((indptr.shape[0] - 1, g.shape[1]))
    dst = _destinations(indptr)
    np.add.at(row_sums, dst, att * g)
    out = (att * (g - row_sums[dst])).astype(dtype)
    return out.reshape(-1) if was_1d else out


def multi_head_aggregate(indptr, indices, x, reduce="sum", edge_weight=None):
    """``out[i, h, :] = sum_e w[e, h] x[j, h, :]``, x (N, H, F), w (E, H); ``mean`` divides by the row's edge count."""
    x = np.asarray(x)
    dtype = x.dtype
    num_dst = np.asarray(indptr).shape[0] - 1
    w = np.ones((len(indices), x.shape[1])) if edge_weight is None else np.asarray(edge_weight).astype(dtype)
    dst = _destinations(indptr)
    src = np.asarray(indices, dtype=np.int64)
    out = np.zeros((num_dst,) + x.shape[1:])
    np.add.at(out, dst, w.astype(np.float64)[:, :, None] * x.astype(np.float64)[src])
    if reduce == "mean":
        degree = np.diff(np.asarray(indptr, dtype=np.int64))
        out /= np.maximum(degree, 1)[:, None, None]
    return out.astype(dtype)


def multi_head_aggregate_backward(indptr, indices, num_src_nodes, grad_out, reduce="sum", *, x=None,
                                  edge_weight=None):
    """``(grad_x, grad_w)`` of :func:`multi_head_aggregate` (``grad_w`` None without ``x``)."""
    g = np.asarray(grad_out)
    dtype = g.dtype
    g = g.astype(np.float64)
    if reduce == "mean":
        degree = np.diff(np.asarray(indptr, dtype=np.int64))
        g = g / np.maximum(degree, 1)[:, None, None]
    heads = g.shape[1]
    w = np.ones((len(indices), heads)) if edge_weight is None else np.asarray(edge_weight).astype(dtype)
    dst = _destinations(indptr)
    src = np.asarray(indices, dtype=np.int64)
    grad_x = np.zeros((num_src_nodes,) + g.shape[1:])
    np.add.at(grad_x, src, w.astype(np.float64)[:, :, None] * g[dst])
    grad_w = None
    if x is not None:
        grad_w = np.einsum("ehf,ehf->eh", g[dst], np.asarray(x).astype(np.float64)[src]).astype(dtype)
    return grad_x.astype(dtype), grad_w
# Fused GAT / GATv2 attention (fastgnn.ops.gat): scores, edge softmax per
# destination row and head, dropout of the weights, weighted sum of the
# source rows. Written edge-list style with (E, H, F) temporaries; sums in
# float64, results rounded to the feature dtype.


def _leaky_relu(z, negative_slope):
    return np.where(z > 0, z, z * negative_slope)


def _leaky_relu_slope(z, negative_slope):
    """The derivative used by the backward: 1 where ``z > 0``, else ``negative_slope``."""
    return np.where(z > 0, 1.0, negative_slope)


def _edge_softmax(indptr, scores):
    """Softmax of ``scores`` (E, H) over each row's edges, per head (float64).

    The row maximum is subtracted; a row-head whose scores are all ``-inf``
    gives 0 on each edge; a NaN score makes its row-head NaN.
    """
    indptr = np.asarray(indptr, dtype=np.int64)
    alpha = np.zeros_like(scores, dtype=np.float64)
    for i in range(indptr.shape[0] - 1):
        start, end = indptr[i], indptr[i + 1]
        if start == end:
            continue
        s = scores[start:end].astype(np.float64)
        with np.errstate(invalid="ignore", over="ignore"):
            m = s.max(axis=0)
            m_safe = np.where(m == -np.inf, 0.0, m)
            ex = np.exp(s - m_safe)
            total = ex.sum(axis=0)
            a = ex / np.where(total == 0, 1.0, total)
        a[:, m == -np.inf] = 0.0
        alpha[start:end] = a
    return alpha


def _gat_dropout_factor(num_edges, heads, dropout, seed, step, dtype):
    """``keep(e * H + h) / (1 - p)`` as an (E, H) array in ``dtype`` (ones without dropout)."""
    if dropout == 0:
        return np.ones((num_edges, heads), dtype=dtype)
    keep = dropout_keep_flat(num_edges * heads, dropout, seed, step).reshape(num_edges, heads)
    return keep.astype(dtype) * dtype.type(1.0 / (1.0 - dropout))


def _gat_weighted_sum(indptr, indices, weights, x, num_dst):
    """``out[i, h, :] = sum_e weights[e, h] x[j, h, :]`` in float64 (an (E, H, F) temporary)."""
    messages = weights[:, :, None] * np.asarray(x, dtype=np.float64)[indices]
    out = np.zeros((num_dst,) + x.shape[1:], dtype=np.float64)
    np.add.at(out, _destinations(indptr), messages)
    return out


def gat_attention(indptr, indices, x, score_src, score_dst, negative_slope=0.2, dropout=0.0, seed=0, step=0):
    """GAT attention: ``(out, alpha)``.

    ``s[e, h] = leaky_relu(score_src[j, h] + score_dst[i, h])``, ``alpha`` the
    edge softmax of ``s`` over row ``i`` (pre-dropout, in the dtype of
    ``x``), ``alpha' = alpha * keep(e * H + h) / (1 - p)`` and
    ``out[i, h, :] = sum_e alpha'[e, h] x[j, h, :]``.
    """
    x = np.asarray(x)
    dtype = x.dtype
    indices = np.asarray(indices, dtype=np.int64)
    dst = _destinations(indptr)
    z = np.asarray(score_src)[indices].astype(dtype) + np.asarray(score_dst)[dst].astype(dtype)
    s = _leaky_relu(z, dtype.type(negative_slope))
    alpha = _edge_softmax(indptr, s).astype(dtype)
    weights = alpha * _gat_dropout_factor(indices.shape[0], x.shape[1], dropout, seed, step, dtype)
    out = _gat_weighted_sum(indptr, indices, weights.astype(np.float64), x, len(indptr) - 1)
    return out.astype(dtype), alpha


def _softmax_backward(indptr, alpha, grad_alpha):
    """``alpha * (grad_alpha - sum_row alpha * grad_alpha)`` per row and head (float64)."""
    indptr = np.asarray(indptr, dtype=np.int64)
    dst = _destinations(indptr)
    row_sum = np.zeros((indptr.shape[0] - 1, alpha.shape[1]))
    np.add.at(row_sum, dst, alpha * grad_alpha)
    return alpha * (grad_alpha - row_sum[dst])


def _gat_attention_grads(indptr, indices, grad_out, x_src, alpha, dropout, seed, step):
    """``(g64, x64, weights, grad of the pre-dropout weights)``, the common start of both backwards."""
    dtype = x_src.dtype
    indices = np.asarray(indices, dtype=np.int64)
    dst = _destinations(indptr)
    g = np.asarray(grad_out).astype(dtype).astype(np.float64)
    x64 = x_src.astype(np.float64)
    factor = _gat_dropout_factor(indices.shape[0], x_src.shape[1], dropout, seed, step, dtype).astype(np.float64)
    weights = np.asarray(alpha).astype(np.float64) * factor
    grad_weights = np.einsum("ehf,ehf->eh", g[dst], x64[indices])
    return g, x64, weights, grad_weights * factor


def _sum_to_sources(indices, values, num_src):
    out = np.zeros((num_src,) + values.shape[1:], dtype=np.float64)
    np.add.at(out, np.asarray(indices, dtype=np.int64), values)
    return out


def gat_attention_backward(indptr, indices, grad_out, x, score_src, score_dst, alpha, negative_slope=0.2,
                           dropout=0.0, seed=0, step=0):
    """Gradients of :func:`gat_attention`: ``(grad_x, grad_score_src, grad_score_dst)``.

    ``alpha`` is the forward's (pre-dropout) attention.
    """
    x = np.asarray(x)
    dtype = x.dtype
    indices = np.asarray(indices, dtype=np.int64)
    dst = _destinations(indptr)
    g, _, weights, grad_alpha = _gat_attention_grads(indptr, indices, grad_out, x, alpha, dropout, seed, step)
    grad_x = _sum_to_sources(indices, weights[:, :, None] * g[dst], x.shape[0])
    grad_s = _softmax_backward(indptr, np.asarray(alpha).astype(np.float64), grad_alpha)
    z = np.asarray(score_src)[indices].astype(dtype) + np.asarray(score_dst)[dst].astype(dtype)
    grad_z = grad_s * _leaky_relu_slope(z, negative_slope)
    grad_score_src = _sum_to_sources(indices, grad_z, x.shape[0])
    grad_score_dst = np.zeros((len(indptr) - 1, x.shape[1]))
    np.add.at(grad_score_dst, dst, grad_z)
    return grad_x.astype(dtype), grad_score_src.astype(dtype), grad_score_dst.astype(dtype)


def gatv2_attention(indptr, indices, x_src, x_dst, att, negative_slope=0.2, dropout=0.0, seed=0, step=0):
    """GATv2 attention: ``(out, alpha)``.

    ``s[e, h] = sum_f att[h, f] * leaky_relu(x_src[j, h, f] + x_dst[i, h, f])``,
    then the softmax, dropout and weighted sum of ``x_src[j]`` of
    :func:`gat_attention`.
    """
    x_src = np.asarray(x_src)
    dtype = x_src.dtype
    indices = np.asarray(indices, dtype=np.int64)
    dst = _destinations(indptr)
    z = x_src[indices].astype(np.float64) + np.asarray(x_dst)[dst].astype(np.float64)
    s = np.einsum("ehf,hf->eh", _leaky_relu(z, negative_slope), np.asarray(att).astype(np.float64))
    alpha = _edge_softmax(indptr, s).astype(dtype)
    weights = alpha * _gat_dropout_factor(indices.shape[0], x_src.shape[1], dropout, seed, step, dtype)
    out = _gat_weighted_sum(indptr, indices, weights.astype(np.float64), x_src, len(indptr) - 1)
    return out.astype(dtype), alpha


def gatv2_attention_backward(indptr, indices, grad_out, x_src, x_dst, att, alpha, negative_slope=0.2, dropout=0.0,
                             seed=0, step=0):
    """Gradients of :func:`gatv2_attention`: ``(grad_x_src, grad_x_dst, grad_att)``."""
    x_src = np.asarray(x_src)
    dtype = x_src.dtype
    indices = np.asarray(indices, dtype=np.int64)
    dst = _destinations(indptr)
    g, x64, weights, grad_alpha = _gat_attention_grads(indptr, indices, grad_out, x_src, alpha, dropout, seed,
                                                       step)
    grad_s = _softmax_backward(indptr, np.asarray(alpha).astype(np.float64), grad_alpha)
    att64 = np.asarray(att).astype(np.float64)
    z = x64[indices] + np.asarray(x_dst).astype(np.float64)[dst]
    grad_z = grad_s[:, :, None] * att64[None] * _leaky_relu_slope(z, negative_slope)
    grad_att = np.einsum("eh,ehf->hf", grad_s, _leaky_relu(z, negative_slope))
    grad_x_src = _sum_to_sources(indices, weights[:, :, None] * g[dst] + grad_z, x_src.shape[0])
    grad_x_dst = np.zeros((len(indptr) - 1,) + x_src.shape[1:])
    np.add.at(grad_x_dst, dst, grad_z)
    return grad_x_src.astype(dtype), grad_x_dst.astype(dtype), grad_att.astype(dtype)
