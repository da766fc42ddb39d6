"""Fused element-wise steps of a dense layer: bias + activation + dropout in one pass, and its backward.

After a convolution, ``h = dropout(act(z + bias))`` costs several NumPy
passes over the N x d array forward and as many backward.
:func:`bias_act_dropout` makes one pass each way. Its dropout mask comes
from a counter-based generator: the keep flag of the element at row-major
position ``c`` is a pure function of ``(seed, step, c)``, so the mask is the
same for any thread count, and the backward recomputes it instead of
storing it. :func:`dropout_keep_flat` and :func:`dropout_mask` give the
same flags on their own (e.g. to drop the stored values of a sparse matrix).
"""

import numpy as np

from fastgnn._kernels import dense as _K
from fastgnn._runtime import validate as V
from fastgnn._runtime.threads import PARALLEL_WORK_THRESHOLD, resolve_num_threads
from fastgnn.ops.checks import check_counter, dropout_threshold

__all__ = ["bias_act_dropout", "bias_act_dropout_backward", "BiasActDropoutState", "pack_relu_signs",
           "relu_backward_from_signs", "dropout_mask",
           "dropout_keep_flat", "softmax_cross_entropy_rows", "ACTIVATIONS"]

# The codes of the kernels (csrc/fastgnn_dense.h) are the positions here.
ACTIVATIONS = ("identity", "relu", "leaky_relu", "elu", "tanh", "sigmoid")
_CODES = {name: code for code, name in enumerate(ACTIVATIONS)}
_CODES["linear"] = 0
_IDENTITY, _RELU, _LEAKY_RELU, _ELU = 0, 1, 2, 3
# Work units per element: the exponential activations cost ~10x a rectifier,
# so they go parallel on smaller arrays.
_COST = (1, 1, 1, 8, 8, 8)
_FLOAT32 = np.dtype(np.float32)
_FLOAT64 = np.dtype(np.float64)
_TWO_32 = 1 << 32
_TWO_64 = 1 << 64
_TWO_63 = 1 << 63

# What the forward did with the dropout.
_NO_DROPOUT, _MASKED, _ALL_DROPPED = 0, 1, 2


class BiasActDropoutState:
    """What :func:`bias_act_dropout_backward` needs from a forward call.

    Only the generator's inputs (the mask is recomputed) and one array for
    the activation's derivative: for ReLU, leaky ReLU and every activation
    without dropout, the forward's output itself (no extra memory; its
    sign, or its value, is the derivative's input wherever the element was
    kept); for ELU, tanh and sigmoid with dropout, ``act(z + bias)``
    (one N x d array); for the identity, nothing.

    The output of the forward must therefore not be modified before the
    backward when the state holds it (``state.saved is out``).

    Attributes
    ----------
    shape, dtype
        Of ``z``.
    activation : str
    negative_slope, alpha, p : float
    seed, step : int
    row_ids : ndarray of int64 or None
        The rows whose masks keyed the forward's rows (None: their own).
    has_bias : bool
    saved : ndarray or None
    """

    __slots__ = ("shape", "dtype", "activation", "act", "negative_slope", "alpha", "p", "seed", "step", "mode",
                 "threshold", "scale", "has_bias", "saved", "row_ids")

    def __repr__(self):
        return (f"BiasActDropoutState(shape={self.shape}, dtype={self.dtype}, activation={self.activation!r}, "
                f"p={self.p}, seed={self.seed}, step={self.step}, has_bias={self.has_bias})")


def _activation_code(activation):
    code = _CODES.get(activation) if isinstance(activation, str) else None
    if code is None and isinstance(activation, str):
        code = _CODES.get(activation.lower().replace("-", "_"))
    if code is None:
        raise ValueError(f"activation must be one of {', '.join(repr(a) for a in ACTIVATIONS)}, got {activation!r}")
    return code


def _check_p(p):
    try:
        value = float(p)
    except (TypeError, ValueError):
        raise TypeError(f"p must be a number in [0, 1], got {type(p).__name__}") from None
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"dropout probability p must be in [0, 1], got {value}")
    return value


def _check_real(value, name):
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}") from None


_PARAMS_CACHE = {}


def _dropout_params(p):
    """``(mode, threshold, scale in float32, scale in float64)`` of a probability in (0, 1] (cached)."""
    params = _PARAMS_CACHE.get(p)
    if params is None:
        threshold = dropout_threshold(p)
        if threshold >= _TWO_32:
            params = (_ALL_DROPPED, threshold, 0.0, 0.0)
        else:
            params = (_MASKED, threshold, float(np.float32(1.0 / (1.0 - p))), 1.0 / (1.0 - p))
        if len(_PARAMS_CACHE) > 256:
            _PARAMS_CACHE.clear()
        _PARAMS_CACHE[p] = params
    return params


def _threads(n_threads, work):
    if n_threads is None and work < PARALLEL_WORK_THRESHOLD:
        return 1
    return resolve_num_threads(n_threads, work)


def _as_values(z):
    """``z`` as a C-contiguous 2-D float32/float64 array (a copy only when needed)."""
    if type(z) is np.ndarray and z.ndim == 2 and z.flags.c_contiguous and (z.dtype == _FLOAT32
                                                                         or z.dtype == _FLOAT64):
        return z
    array = V.as_array(z, "z")
    if array.dtype != _FLOAT32 and array.dtype != _FLOAT64:
        raise TypeError(f"z must have dtype float32 or float64, got {array.dtype}")
    if array.ndim != 2:
        raise ValueError(f"z must be 2-D (rows x features), got shape {array.shape}")
    return np.ascontiguousarray(array)


def _as_bias(bias, width, dtype):
    if type(bias) is np.ndarray and bias.dtype == dtype and bias.ndim == 1 and bias.flags.c_contiguous \
            and bias.shape[0] == width:
        return bias
    array = V.as_array(bias, "bias")
    if array.dtype.kind not in "fiu":
        raise TypeError(f"bias must hold real numbers, got dtype {array.dtype}")
    if array.ndim != 1 or array.shape[0] != width:
        raise ValueError(f"bias must have shape ({width},) to match z's {width} features, got {array.shape}")
    return np.ascontiguousarray(array, dtype=dtype)


def bias_act_dropout(z, bias=None, activation="relu", negative_slope=0.01, alpha=1.0, p=0.0, seed=0, step=0,
                     training=True, out=None, inplace=False, n_threads=None, row_ids=None):
    r"""``out = act(z + bias) * keep / (1 - p)`` in one pass, and the state its backward needs.

    Parameters
    ----------
    z : array_like, shape (N, d), float32 or float64
        Copied only when not C-contiguous. Not modified unless ``inplace``.
    bias : array_like, shape (d,), optional
        Added to every row (cast to ``z``'s dtype).
    activation : {'identity', 'relu', 'leaky_relu', 'elu', 'tanh', 'sigmoid'}
        As :mod:`fastgnn.nn.activation` (``'linear'`` is ``'identity'``).
    negative_slope : float
        Of ``'leaky_relu'`` (>= 0).
    alpha : float
        Of ``'elu'`` (> 0).
    p : float in [0, 1]
        Dropout probability, applied only when ``training``.
    seed, step : int in [0, 2^64)
        Select the mask: the same ``(seed, step)`` gives the same mask.
        Increment ``step`` every training step; give every layer its own
        ``seed``.
    training : bool
        Without it (or with ``p == 0``) there is no dropout and no random
        draw.
    out : ndarray, optional
        C-contiguous, of ``z``'s shape and dtype, sharing no memory with
        the inputs. Returned. Otherwise a new 64-byte aligned array.
    inplace : bool
        Write the result over ``z`` (when ``z`` is a writeable, C-contiguous
        float32/float64 array; otherwise over the copy that is made).
    n_threads : int, optional
    row_ids : array_like of int, shape (N,), optional
        Key row ``i``'s mask as that of row ``row_ids[i]`` of a larger array
        of width ``d`` (e.g. the global node ids of a partition's rows, so
        that a node's mask is the same wherever it is computed). Non-negative.

    Returns
    -------
    out : ndarray, shape (N, d)
    state : BiasActDropoutState
        For :func:`bias_act_dropout_backward`. May hold ``out``: do not
        modify ``out`` before the backward.

    Notes
    -----
    ``keep[i, k] = bits(r_i * d + k) >= round(p * 2^32)`` (``r_i = i``, or
    ``row_ids[i]``), where ``bits`` is a
    32-bit hash of the row-major position keyed by ``(seed, step)`` (see
    :func:`dropout_keep_flat`), so ``p`` is rounded to a multiple of
    ``2^-32`` for the mask, while the scale is ``1 / (1 - p)`` exactly (in
    the dtype). A ``p`` that rounds to 1 drops everything (zeros). The
    operations and their order are those of ``fastgnn.nn`` (``z + bias``,
    the activation, ``(y * keep) * (1 / (1 - p))``), so for the identity,
    ReLU and leaky ReLU the bits equal the NumPy sequence's; ELU, tanh and
    sigmoid use a vectorised ``exp`` computed in double (within about two
    units in the last place of NumPy's).

    Cost ``O(N d)``, one pass; memory: ``out``, plus ``act(z + bias)`` for
    ELU, tanh and sigmoid with dropout. Results do not depend on the
    number of threads.
    """
    act = _CODES.get(activation)
    if act is None:
        act = _activation_code(activation)
    z = _as_values(z)
    dtype = z.dtype
    n_rows, width = z.shape
    if bias is not None:
        bias = _as_bias(bias, width, dtype)
    if type(p) is not float or not 0.0 <= p <= 1.0:
        p = _check_p(p)
    if type(seed) is not int or not 0 <= seed < _TWO_64:
        seed = check_counter(seed, "seed")
    if type(step) is not int or not 0 <= step < _TWO_64:
        step = check_counter(step, "step")
    slope, scale_negative = 0.0, 1.0  # what the kernel reads; only leaky ReLU and ELU use them
    if act == _LEAKY_RELU:
        slope = _check_real(negative_slope, "negative_slope")
        if not slope >= 0:
            raise ValueError(f"negative_slope must be >= 0, got {negative_slope}")
    elif act == _ELU:
        scale_negative = _check_real(alpha, "alpha")
        if not scale_negative > 0:
            raise ValueError(f"alpha must be > 0, got {alpha}")
    if row_ids is not None:
        row_ids = _as_row_ids(row_ids, n_rows, width)
    if inplace:
        if out is not None:
            raise ValueError("pass either out or inplace=True, not both")
        out = z if z.flags.writeable else _K.empty_aligned_like(z)
    elif out is None:
        out = _K.empty_aligned_like(z)
    else:
        V.check_out(out, z.shape, dtype, (z, bias))

    if training and p != 0.0:
        mode, threshold, scale32, scale64 = _dropout_params(p)
        scale = scale32 if dtype == _FLOAT32 else scale64
    else:
        mode, threshold, scale = _NO_DROPOUT, 0, 1.0
    saved = None
    if mode == _ALL_DROPPED:
        out[...] = 0
    else:
        if act != _IDENTITY:
            saved = out if mode == _NO_DROPOUT or act < _ELU else np.empty_like(z)
        threads = _threads(n_threads, z.size * _COST[act])
        _K.forward(out, z, bias, saved if saved is not out else None, act, slope, scale_negative,
                   mode == _MASKED, threshold, seed, step, scale, threads, row_ids)

    state = BiasActDropoutState()
    state.shape = z.shape
    state.dtype = dtype
    state.activation = ACTIVATIONS[act]
    state.act = act
    state.negative_slope = slope
    state.alpha = scale_negative
    state.p = p
    state.seed = seed
    state.step = step
    state.mode = mode
    state.threshold = threshold
    state.scale = scale
    state.has_bias = bias is not None
    state.saved = saved
    state.row_ids = row_ids
    return out, state


def _as_row_ids(row_ids, n_rows, width):
    """``row_ids`` as a C-contiguous int64 vector of ``n_rows`` non-negative ids, or a ValueError/TypeError."""
    ids = V.as_index_vector(row_ids, "row_ids")
    if ids.shape[0] != n_rows:
        raise ValueError(f"row_ids must have one entry per row of z ({n_rows}), got {ids.shape[0]}")
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    if ids.size and (int(ids.min()) < 0 or int(ids.max()) >= _TWO_63 // max(width, 1)):
        raise ValueError(f"row_ids must be non-negative and row_ids * width below 2**63, got values in "
                         f"[{int(ids.min())}, {int(ids.max())}]")
    return ids


def bias_act_dropout_backward(grad_out, state, need_bias_grad=True, out=None, n_threads=None):
    r"""Gradients of :func:`bias_act_dropout`: ``(grad_z, grad_bias)``, in one pass.

    Parameters
    ----------
    grad_out : array_like, shape (N, d)
        Gradient of the loss with respect to the forward's output (cast to
        its dtype).
    state : BiasActDropoutState
        The second value returned by the forward.
    need_bias_grad : bool
        Compute ``grad_bias`` (when the forward had a bias).
    out : ndarray, optional
        Where to write ``grad_z``: C-contiguous, of the forward's shape and
        dtype; ``grad_out`` itself is allowed (in place), any other overlap
        with the inputs is not.
    n_threads : int, optional

    Returns
    -------
    grad_z : ndarray, shape (N, d)
        ``act'(.) * grad_out * keep / (1 - p)``, the mask recomputed from
        ``(seed, step)``.
    grad_bias : ndarray, shape (d,), or None
        ``grad_z.sum(axis=0)``, None without a bias or ``need_bias_grad``.

    Notes
    -----
    The column sums are accumulated in float64 over fixed blocks of rows
    (row after row), then the blocks are added in order and the total is
    rounded once: the same bits for any thread count. Cost ``O(N d)``.
    """
    if type(state) is not BiasActDropoutState:
        raise TypeError(f"state must be the BiasActDropoutState returned by bias_act_dropout, "
                        f"got {type(state).__name__}")
    dtype = state.dtype
    g = grad_out
    if not (type(g) is np.ndarray and g.dtype == dtype and g.shape == state.shape and g.flags.c_contiguous):
        g = V.as_array(grad_out, "grad_out")
        if g.dtype.kind not in "fiu":
            raise TypeError(f"grad_out must hold real numbers, got dtype {g.dtype}")
        if g.shape != state.shape:
            raise ValueError(f"grad_out must have shape {state.shape} (the forward's output), got {g.shape}")
        g = np.ascontiguousarray(g, dtype=dtype)
    if out is None:
        grad_z = _K.empty_aligned_like(g)
    elif out is g:
        grad_z = V.check_out(out, state.shape, dtype, (state.saved,))
    else:
        grad_z = V.check_out(out, state.shape, dtype, (g, state.saved))
    width = state.shape[1]
    grad_bias = np.empty(width, dtype=dtype) if need_bias_grad and state.has_bias else None
    if state.mode == _ALL_DROPPED:
        grad_z[...] = 0
        if grad_bias is not None:
            grad_bias[...] = 0
        return grad_z, grad_bias
    partials = None
    if grad_bias is not None:
        partials = np.empty(((state.shape[0] + _K.BLOCK_ROWS - 1) // _K.BLOCK_ROWS, width), dtype=np.float64)
    threads = _threads(n_threads, g.size)
    _K.backward(grad_z, g, state.saved, grad_bias, partials, state.act, state.negative_slope, state.alpha,
                state.mode == _MASKED, state.threshold, state.seed, state.step, state.scale, threads,
                state.row_ids)
    return grad_z, grad_bias


#: Rows of a packed sign array handled at once (bounds the temporaries of packing and unpacking).
_SIGN_CHUNK_ROWS = 1024


def _sign_chunks(rows):
    """``(start, stop)`` row ranges of :data:`_SIGN_CHUNK_ROWS` rows, a multiple of 8: each starts on a whole byte."""
    chunk = max(8, _SIGN_CHUNK_ROWS // 8 * 8)
    return [(start, min(start + chunk, rows)) for start in range(0, rows, chunk)]


def pack_relu_signs(state):
    """The signs ``out > 0`` of a ReLU step's output, one bit each: all :func:`relu_backward_from_signs` needs.

    A ReLU step's backward reads its output only for ``out > 0`` (which,
    with dropout, also tells the kept values: a dropped value is 0). Keeping
    these bits instead lets the output itself go once the layer above has
    used it: 1/32 of its size in float32.

    Parameters
    ----------
    state : BiasActDropoutState
        Of a ``relu`` forward that kept its output (``state.saved``).

    Returns
    -------
    ndarray of uint8, ``ceil(N * d / 8)`` bytes (``numpy.packbits`` order, row-major)
    """
    if type(state) is not BiasActDropoutState or state.activation != "relu" or state.saved is None:
        raise ValueError("pack_relu_signs needs the state of a relu bias_act_dropout forward that kept its output")
    saved = state.saved
    rows, width = saved.shape
    packed = np.empty(-(-rows * width // 8), dtype=np.uint8)
    for start, stop in _sign_chunks(rows):
        bits = np.packbits(saved[start:stop] > 0)
        first = start * width // 8
        packed[first:first + bits.size] = bits
    return packed


def relu_backward_from_signs(grad_out, state, signs, need_bias_grad=True, out=None, n_threads=None):
    """:func:`bias_act_dropout_backward` of a ReLU step from the packed signs of its output (the same bits).

    Parameters
    ----------
    grad_out : ndarray, shape (N, d)
    state : BiasActDropoutState
        The forward's state; its ``saved`` output may be gone.
    signs : ndarray of uint8
        :func:`pack_relu_signs` of the state, taken while the output was alive.
    need_bias_grad, out, n_threads
        As for :func:`bias_act_dropout_backward`.

    Returns
    -------
    grad_z, grad_bias
        ``grad_out * scale`` where the output was positive, else 0; the bias
        gradient summed by the same compiled pass as
        :func:`bias_act_dropout_backward` (the same order: the same bits).
    """
    if type(state) is not BiasActDropoutState or state.activation != "relu":
        raise ValueError("relu_backward_from_signs needs the state of a relu bias_act_dropout forward")
    g = grad_out
    if not (type(g) is np.ndarray and g.dtype == state.dtype and g.shape == state.shape and g.flags.c_contiguous):
        g = np.ascontiguousarray(V.as_array(grad_out, "grad_out"), dtype=state.dtype)
        if g.shape != state.shape:
            raise ValueError(f"grad_out must have shape {state.shape} (the forward's output), got {g.shape}")
    rows, width = state.shape
    if out is None:
        grad_z = _K.empty_aligned_like(g)
    else:
        grad_z = V.check_out(out, state.shape, state.dtype, () if out is g else (g,))
    # t = (g * keep) * scale where kept (as the compiled backward computes it), 0 where the output was not positive
    scale = state.dtype.type(state.scale) if state.mode == _MASKED else None
    for start, stop in _sign_chunks(rows):
        first = start * width // 8
        count = (stop - start) * width
        positive = np.unpackbits(signs[first:first + -(-count // 8)], count=count).view(bool)
        block, target = g[start:stop].reshape(-1), grad_z[start:stop].reshape(-1)
        # (g * keep) * scale * [out > 0] as the compiled backward computes it: g * 1, or g * 0 (signed zeros)
        np.multiply(block, positive, out=target)
        if scale is not None:
            np.multiply(target, scale, out=target)
    if not (need_bias_grad and state.has_bias):
        return grad_z, None
    # the bias gradient: the compiled identity backward over grad_z in place (its fixed order of sums)
    identity = BiasActDropoutState()
    for name in BiasActDropoutState.__slots__:
        setattr(identity, name, getattr(state, name))
    identity.activation, identity.act, identity.mode, identity.scale, identity.saved = "identity", _IDENTITY, \
        _NO_DROPOUT, 1.0, None
    return bias_act_dropout_backward(grad_z, identity, need_bias_grad=True, out=grad_z, n_threads=n_threads)


def dropout_keep_flat(n, p, seed=0, step=0, *, n_threads=None):
    """Keep flags of ``n`` values in a flat array: the dropout mask of :func:`bias_act_dropout`.

    Parameters
    ----------
    n : int
        Number of values (e.g. the stored non-zeros of a sparse matrix).
    p : float in [0, 1]
        Dropout probability: a value is dropped with probability
        ``round(p * 2^32) / 2^32``.
    seed, step : int in [0, 2^64)
    n_threads : int, optional

    Returns
    -------
    keep : ndarray of bool, shape (n,)
        ``keep[c]`` depends only on ``(seed, step, c)``: a prefix of a longer
        array's flags, the same for any thread count, and equal to
        ``dropout_mask((rows, d), ...)`` read in row-major order.

    Notes
    -----
    ``key = splitmix64(splitmix64(seed) ^ step)`` with low and high words
    ``k0``, ``k1``; position ``c`` with low and high words ``lo``, ``hi``
    draws ``bits = mix32(mix32(lo ^ k0) ^ k1 ^ hi * 0x9E3779B1)``
    (``mix32`` the MurmurHash3 finalizer, arithmetic mod ``2^32``) and is
    kept when ``bits >= round(p * 2^32)``. Cost ``O(n)``.
    """
    n = V.check_size(n, "n")
    p = _check_p(p)
    seed = check_counter(seed, "seed")
    step = check_counter(step, "step")
    if p == 0.0:
        return np.ones(n, dtype=bool)
    threshold = dropout_threshold(p)
    if threshold >= _TWO_32:
        return np.zeros(n, dtype=bool)
    keep = np.empty(n, dtype=bool)
    _K.dropout_keep(keep, 0, threshold, seed, step, _threads(n_threads, n))
    return keep


def dropout_mask(shape, p, seed=0, step=0, *, n_threads=None):
    """The boolean keep mask of :func:`bias_act_dropout` for an array of ``shape``.

    ``dropout_keep_flat(prod(shape), p, seed, step).reshape(shape)``: ``True``
    where an element is kept.
    """
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    shape = tuple(V.check_size(s, "shape") for s in shape)
    size = 1
    for s in shape:
        size *= s
    return dropout_keep_flat(size, p, seed, step, n_threads=n_threads).reshape(shape)


def softmax_cross_entropy_rows(logits, labels, scale=1.0, *, n_threads=None):
    """Per-row softmax cross-entropy against class ids and its scaled gradient, in one compiled pass.

    Parameters
    ----------
    logits : ndarray of float32 or float64, shape (N, C)
    labels : array_like of int, shape (N,)
        Class ids in ``[0, C)``.
    scale : float
        Multiplies the gradient (``1 / N`` for a mean).
    n_threads : int, optional

    Returns
    -------
    row_loss : ndarray of float64, shape (N,)
        ``logsumexp(z_i) - z_i[labels[i]]``, each row in double precision.
    grad : ndarray, shape (N, C), dtype of ``logits``
        ``scale * (softmax(z_i) - onehot(labels[i]))``.

    Notes
    -----
    Rows are independent, so the result is the same for any thread count;
    ``O(N C)``, one pass, no temporary beyond the outputs.
    """
    logits = V.as_array(logits, "logits")
    if logits.dtype not in (_FLOAT32, _FLOAT64) or logits.ndim != 2:
        raise TypeError(f"logits must be a 2-D float32 or float64 array, got {logits.dtype} {logits.shape}")
    if logits.shape[1] == 0:
        raise ValueError("logits must have at least one class column")
    logits = np.ascontiguousarray(logits)
    labels = np.ascontiguousarray(V.as_array(labels, "labels"), dtype=np.int64)
    if labels.shape != (logits.shape[0],):
        raise ValueError(f"labels must have shape ({logits.shape[0]},), got {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= logits.shape[1]):
        raise ValueError(f"labels must be class ids in [0, {logits.shape[1]})")
    grad = np.empty_like(logits)
    row_loss = np.empty(logits.shape[0], dtype=np.float64)
    threads = _threads(n_threads, logits.size * 8)
    _K.softmax_cross_entropy_rows(logits, labels, grad, row_loss, float(scale), threads)
    return row_loss, grad
