"""Losses returning ``(value, grad)``: the scalar loss and its gradient with respect to the input.

Every loss takes an optional boolean row ``mask`` (e.g. the training nodes of
a transductive split): only the selected rows count, the mean is over them,
and the gradient of the other rows is zero. ``reduction='sum'`` sums instead
of averaging.
"""
import numpy as np

from fastgnn._runtime import validate as V
from fastgnn._runtime.numerics import sigmoid
from fastgnn.ops.dense import softmax_cross_entropy_rows

__all__ = [
    "log_softmax",
    "softmax",
    "cross_entropy",
    "softmax_cross_entropy",
    "binary_cross_entropy_with_logits",
    "mse_loss",
]

_REDUCTIONS = ("mean", "sum")


def _as_scores(values, name):
    array = np.asarray(values)
    if array.dtype.kind != "f":
        raise TypeError(f"{name} must be a float array, got dtype {array.dtype}")
    return array


def _as_class_labels(labels, num_rows, num_classes, mask, name="labels"):
    """Integer class ids of length ``num_rows``, checked in range on the selected rows."""
    array = np.asarray(labels)
    if array.dtype.kind not in "iu":
        raise TypeError(f"{name} must be integer class ids or a (num_rows, num_classes) float array, "
                        f"got dtype {array.dtype} with shape {array.shape}")
    if array.ndim != 1 or array.shape[0] != num_rows:
        raise ValueError(f"{name} must have shape ({num_rows},) to match the {num_rows} rows of the "
                         f"predictions, got {array.shape}")
    selected = array if mask is None else array[mask]
    if selected.size and (selected.min() < 0 or selected.max() >= num_classes):
        bad = selected[(selected < 0) | (selected >= num_classes)][0]
        raise ValueError(f"{name} contains class {int(bad)} outside [0, {num_classes})")
    return array


def _check_reduction(reduction):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")


def _selected_count(mask, num_rows):
    count = num_rows if mask is None else int(np.count_nonzero(mask))
    if count == 0:
        raise ValueError("the mask selects no rows (or the input is empty): the loss is undefined")
    return count


def _as_targets(targets, scores, scores_name):
    """Numeric ``targets`` of the shape of ``scores`` (named ``scores_name`` in the error)."""
    targets = np.asarray(targets)
    if targets.dtype.kind not in "fiub":
        raise TypeError(f"targets must be numeric, got dtype {targets.dtype}")
    if targets.shape != scores.shape:
        raise ValueError(f"targets must have the shape of {scores_name} {scores.shape}, got {targets.shape}")
    return targets


def _full_grad(grad_rows, mask, scores):
    """The gradient of all rows of ``scores``: ``grad_rows`` on the masked rows, zero elsewhere."""
    if mask is None:
        return grad_rows
    grad = np.zeros_like(scores)
    grad[mask] = grad_rows
    return grad


def log_softmax(logits, axis=-1):
    """Numerically stable ``log(softmax(logits))``: ``z - max z - log(sum exp(z - max z))``."""
    logits = _as_scores(logits, "logits")
    shifted = logits - logits.max(axis=axis, keepdims=True)
    shifted -= np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
    return shifted


def softmax(logits, axis=-1):
    """Numerically stable softmax along ``axis``."""
    logits = _as_scores(logits, "logits")
    shifted = np.exp(logits - logits.max(axis=axis, keepdims=True))
    shifted /= shifted.sum(axis=axis, keepdims=True)
    return shifted


def cross_entropy(logits, labels, mask=None, *, reduction="mean"):
    r"""Softmax cross-entropy of class scores against labels.

    .. math::

        L = \frac{1}{|S|} \sum_{i \in S} \Big(\log \sum_c e^{z_{ic}} - \sum_c t_{ic} z_{ic}\Big),
        \qquad \frac{\partial L}{\partial z_i} = \frac{\mathrm{softmax}(z_i) - t_i}{|S|}

    with ``S`` the rows selected by ``mask`` and ``t_i`` the one-hot label
    (or the given target distribution).

    Parameters
    ----------
    logits : ndarray of float, shape (N, C)
        Unnormalized scores.
    labels : ndarray of int, shape (N,), or of float, shape (N, C)
        Class ids (rows outside ``mask`` are not read, so they may hold -1),
        or one-hot / probability targets.
    mask : ndarray of bool, shape (N,), optional
        Rows that count.
    reduction : {'mean', 'sum'}

    Returns
    -------
    value : float
    grad : ndarray of shape (N, C), dtype of ``logits``
        Zero on unselected rows.

    Raises
    ------
    TypeError
        ``mask`` not boolean, ``labels`` neither integer nor float targets.
    ValueError
        ``labels`` or ``mask`` of the wrong length, a label out of range, a
        mask selecting no row.

    Notes
    -----
    Uses the log-sum-exp shift, so large scores neither overflow nor lose
    the loss. Cost ``O(|S| · C)``.
    """
    logits = _as_scores(logits, "logits")
    if logits.ndim != 2:
        raise ValueError(f"logits must be 2-D (rows x classes), got shape {logits.shape}")
    _check_reduction(reduction)
    num_rows, num_classes = logits.shape
    mask = V.as_row_mask(mask, num_rows)
    count = _selected_count(mask, num_rows)
    labels_array = np.asarray(labels)
    soft = labels_array.dtype.kind == "f" and labels_array.ndim == 2
    if soft:
        if labels_array.shape != logits.shape:
            raise ValueError(f"labels as targets must have the shape of logits {logits.shape}, "
                             f"got {labels_array.shape}")
    else:
        labels_array = _as_class_labels(labels_array, num_rows, num_classes, mask)
    rows = logits if mask is None else logits[mask]
    if soft:
        log_probs = log_softmax(rows)
        grad_rows = np.exp(log_probs)
        # d/dz of -sum_c t_c log p_c is p * sum_c t_c - t (= p - t for a distribution).
        targets = (labels_array if mask is None else labels_array[mask]).astype(logits.dtype, copy=False)
        total = -float(np.sum(targets * log_probs, dtype=np.float64))
        grad_rows *= targets.sum(axis=1, keepdims=True)
        grad_rows -= targets
    scale = 1.0 / count if reduction == "mean" else 1.0
    if not soft:
        # one compiled pass: each row's loss in double precision, the scaled gradient
        chosen = labels_array if mask is None else labels_array[mask]
        row_loss, grad_rows = softmax_cross_entropy_rows(rows, chosen, scale)
        return float(np.sum(row_loss)) * scale, _full_grad(grad_rows, mask, logits)
    grad_rows *= grad_rows.dtype.type(scale)
    return total * scale, _full_grad(grad_rows, mask, logits)


softmax_cross_entropy = cross_entropy


def binary_cross_entropy_with_logits(logits, targets, mask=None, *, pos_weight=None, reduction="mean"):
    r"""Sigmoid plus binary cross-entropy, computed stably from the logits.

    .. math::

        \ell = -\big(p\, t \log \sigma(z) + (1 - t) \log(1 - \sigma(z))\big)
             = (1 - t) z + (1 + (p - 1) t)\,\mathrm{softplus}(-z),

        \frac{\partial \ell}{\partial z} = (1 - t) - (1 + (p - 1) t)\, \sigma(-z)

    with ``p`` the ``pos_weight`` (1 when absent); ``softplus(-z) =
    max(-z, 0) + log(1 + exp(-|z|))`` never overflows (PyTorch's formula).

    Parameters
    ----------
    logits : ndarray of float, shape (N,) or (N, K)
    targets : array_like, same shape as ``logits``
        Values in [0, 1] (cast to the logits' dtype).
    mask : ndarray of bool, shape (N,), optional
        Rows that count; the mean is over their elements.
    pos_weight : float or array_like of shape (K,), optional
        Weight of the positive term (per column for 2-D logits).
    reduction : {'mean', 'sum'}

    Returns
    -------
    value : float
    grad : ndarray of the shape and dtype of ``logits``
    """
    logits = _as_scores(logits, "logits")
    if logits.ndim not in (1, 2):
        raise ValueError(f"logits must be 1-D or 2-D, got shape {logits.shape}")
    _check_reduction(reduction)
    targets = _as_targets(targets, logits, "logits")
    num_rows = logits.shape[0]
    mask = V.as_row_mask(mask, num_rows)
    rows_selected = _selected_count(mask, num_rows)
    count = rows_selected * (logits.shape[1] if logits.ndim == 2 and logits.shape[1] else 1)
    z = logits if mask is None else logits[mask]
    t = (targets if mask is None else targets[mask]).astype(logits.dtype, copy=False)
    softplus_neg = np.maximum(-z, 0) + np.log1p(np.exp(-np.abs(z)))
    if pos_weight is None:
        coefficient = 1
    else:
        weight = np.asarray(pos_weight, dtype=logits.dtype)
        if weight.ndim > 1 or (weight.ndim == 1 and (logits.ndim != 2 or weight.shape[0] != logits.shape[1])):
            raise ValueError(f"pos_weight must be a scalar or have one value per column, got shape {weight.shape}")
        coefficient = 1 + (weight - 1) * t
    losses = (1 - t) * z + coefficient * softplus_neg
    total = float(np.sum(losses, dtype=np.float64))
    grad_rows = (1 - t) - coefficient * sigmoid(-z)
    scale = 1.0 / count if reduction == "mean" else 1.0
    grad_rows = np.asarray(grad_rows * scale, dtype=logits.dtype)
    return total * scale, _full_grad(grad_rows, mask, logits)


def mse_loss(predictions, targets, mask=None, *, reduction="mean"):
    r"""Mean squared error ``L = mean((y - t)^2)``, ``dL/dy = 2 (y - t) / count``.

    Parameters
    ----------
    predictions : ndarray of float, shape (N,) or (N, K)
    targets : array_like, same shape
    mask : ndarray of bool, shape (N,), optional
        Rows that count; the mean is over their elements.
    reduction : {'mean', 'sum'}

    Returns
    -------
    value : float
    grad : ndarray of the shape and dtype of ``predictions``
    """
    predictions = _as_scores(predictions, "predictions")
    _check_reduction(reduction)
    targets = _as_targets(targets, predictions, "predictions")
    if predictions.ndim == 0:
        raise ValueError("predictions must have at least one dimension")
    num_rows = predictions.shape[0]
    mask = V.as_row_mask(mask, num_rows)
    rows_selected = _selected_count(mask, num_rows)
    count = rows_selected * int(np.prod(predictions.shape[1:], dtype=np.int64))
    if count == 0:
        raise ValueError("predictions have no elements: the loss is undefined")
    y = predictions if mask is None else predictions[mask]
    t = targets if mask is None else targets[mask]
    diff = (y - t).astype(predictions.dtype, copy=False)
    total = float(np.sum(diff.astype(np.float64) ** 2))
    scale = 1.0 / count if reduction == "mean" else 1.0
    grad_rows = diff * predictions.dtype.type(2.0 * scale)
    return total * scale, _full_grad(grad_rows, mask, predictions)
