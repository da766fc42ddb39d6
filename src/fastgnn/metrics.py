"""Evaluation metrics."""
import numpy as np

from fastgnn._runtime import validate as V

__all__ = ["accuracy"]


def accuracy(logits_or_pred, labels, mask=None):
    """Fraction of (selected) rows whose predicted class equals the label.

    Parameters
    ----------
    logits_or_pred : ndarray, shape (N, C) or (N,)
        Class scores (the arg-max is the prediction) or integer predictions.
    labels : ndarray of int, shape (N,), or one-hot of shape (N, C)
    mask : ndarray of bool, shape (N,), optional
        Rows that count (e.g. the test nodes).

    Returns
    -------
    float in [0, 1]

    Raises
    ------
    TypeError
        ``mask`` not boolean, or predictions/labels of an unusable dtype.
    ValueError
        Lengths that differ, or a mask selecting no row.
    """
    scores = np.asarray(logits_or_pred)
    if scores.ndim == 2:
        if scores.dtype.kind not in "fiub":
            raise TypeError(f"logits must be numeric, got dtype {scores.dtype}")
        predictions = scores.argmax(axis=1)
    elif scores.ndim == 1:
        if scores.dtype.kind not in "iu":
            raise TypeError(f"predictions must be integer class ids (or pass 2-D logits), got dtype {scores.dtype}")
        predictions = scores
    else:
        raise ValueError(f"logits_or_pred must be 1-D predictions or 2-D logits, got shape {scores.shape}")
    num_rows = predictions.shape[0]
    labels = np.asarray(labels)
    if labels.ndim == 2:
        labels = labels.argmax(axis=1)
    if labels.dtype.kind not in "iu":
        raise TypeError(f"labels must be integer class ids, got dtype {labels.dtype}")
    if labels.ndim != 1 or labels.shape[0] != num_rows:
        raise ValueError(f"labels must have shape ({num_rows},) to match the predictions, got {labels.shape}")
    mask = V.as_row_mask(mask, num_rows)
    if mask is not None:
        predictions, labels = predictions[mask], labels[mask]
    if predictions.shape[0] == 0:
        raise ValueError("accuracy of no rows is undefined (empty input or a mask selecting nothing)")
    return float(np.mean(predictions == labels))


# ---------------------------------------------------------------------- ranking metrics (link prediction)
__all__ += ["roc_auc", "average_precision"]


def _binary_inputs(labels, scores, name):
    """``labels`` as a bool array and ``scores`` as float64, validated together."""
    y = np.asarray(labels)
    s = np.asarray(scores)
    if y.ndim != 1 or s.ndim != 1:
        raise ValueError(f"{name}: labels and scores must be 1-D, got shapes {y.shape} and {s.shape}")
    if y.shape[0] != s.shape[0]:
        raise ValueError(f"{name}: labels has {y.shape[0]} entries but scores has {s.shape[0]}")
    if y.dtype != np.bool_:
        if y.dtype.kind not in "iuf":
            raise TypeError(f"{name}: labels must be 0/1 or boolean, got dtype {y.dtype}")
        if y.size and not np.all((y == 0) | (y == 1)):
            raise ValueError(f"{name}: labels must be 0 or 1 (or boolean)")
        y = y == 1
    if s.dtype.kind not in "iuf":
        raise TypeError(f"{name}: scores must be numeric, got dtype {s.dtype}")
    s = s.astype(np.float64, copy=False)
    if np.any(np.isnan(s)):
        raise ValueError(f"{name}: scores contain NaN")
    return y, s


def roc_auc(labels, scores):
    r"""Area under the ROC curve: the probability that a random positive outscores a random negative.

    .. math::

        \mathrm{AUC} = \frac{1}{|P|\,|N|} \sum_{p \in P} \sum_{n \in N}
            \big([s_p > s_n] + \tfrac12 [s_p = s_n]\big)

    Ties count one half (the trapezoidal area of scikit-learn's
    ``roc_auc_score``), computed exactly from average ranks
    (Mann-Whitney): ``(R_P - |P|(|P| + 1)/2) / (|P| |N|)`` with ``R_P``
    the sum of the positives' ranks.

    Parameters
    ----------
    labels : array_like of {0, 1} or bool, shape (n,)
    scores : array_like of float, shape (n,)
        Any monotone score (logits or probabilities give the same AUC;
        logits do not saturate into ties).

    Returns
    -------
    float in [0, 1]

    Raises
    ------
    ValueError
        Only one class present, labels other than 0/1, NaN scores, shapes that differ.

    Notes
    -----
    ``O(n log n)``.
    """
    y, s = _binary_inputs(labels, scores, "roc_auc")
    num_pos = int(np.count_nonzero(y))
    num_neg = y.shape[0] - num_pos
    if num_pos == 0 or num_neg == 0:
        raise ValueError(f"roc_auc is undefined with only one class present ({num_pos} positives, "
                         f"{num_neg} negatives)")
    order = np.argsort(s, kind="mergesort")
    sorted_scores = s[order]
    # average rank (1-based) of each group of tied scores
    starts = np.flatnonzero(np.concatenate([[True], sorted_scores[1:] != sorted_scores[:-1]]))
    ends = np.concatenate([starts[1:], [s.shape[0]]])
    group_rank = (starts + 1 + ends) / 2.0
    ranks = np.empty(s.shape[0], dtype=np.float64)
    ranks[order] = np.repeat(group_rank, ends - starts)
    rank_sum = float(np.sum(ranks[y]))
    return (rank_sum - num_pos * (num_pos + 1) / 2.0) / (num_pos * num_neg)


def average_precision(labels, scores):
    r"""Average precision: the precision at each threshold weighted by the recall gained there.

    .. math::

        \mathrm{AP} = \sum_k (R_k - R_{k-1})\, P_k

    over the distinct score thresholds ``t_1 > t_2 > ...`` (ties grouped:
    all pairs scoring ``t_k`` are predicted positive together), with
    ``P_k`` and ``R_k`` the precision and recall of predicting ``s >= t_k``
    and ``R_0 = 0``: scikit-learn's ``average_precision_score`` (no
    interpolation).

    Parameters
    ----------
    labels : array_like of {0, 1} or bool, shape (n,)
    scores : array_like of float, shape (n,)

    Returns
    -------
    float in [0, 1]

    Raises
    ------
    ValueError
        No positive label, labels other than 0/1, NaN scores, shapes that differ.

    Notes
    -----
    ``O(n log n)``.
    """
    y, s = _binary_inputs(labels, scores, "average_precision")
    num_pos = int(np.count_nonzero(y))
    if num_pos == 0:
        raise ValueError("average_precision is undefined without a positive label")
    order = np.argsort(-s, kind="mergesort")
    sorted_scores = s[order]
    hits = y[order]
    # last position of each group of tied scores (descending)
    last = np.flatnonzero(np.concatenate([sorted_scores[1:] != sorted_scores[:-1], [True]]))
    true_positives = np.cumsum(hits, dtype=np.float64)[last]
    predicted = (last + 1).astype(np.float64)
    precision = true_positives / predicted
    recall_gain = np.diff(np.concatenate([[0.0], true_positives])) / num_pos
    return float(np.sum(recall_gain * precision))
