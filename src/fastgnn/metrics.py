"""Evaluation metrics."""
import numpy as np

from fastgnn.losses import _as_mask

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
    mask = _as_mask(mask, num_rows)
    if mask is not None:
        predictions, labels = predictions[mask], labels[mask]
    if predictions.shape[0] == 0:
        raise ValueError("accuracy of no rows is undefined (empty input or a mask selecting nothing)")
    return float(np.mean(predictions == labels))
