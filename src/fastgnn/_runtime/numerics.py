"""Elementwise functions written once, stable for any input."""
import numpy as np

__all__ = ["sigmoid", "softplus"]


def sigmoid(x):
    """The logistic function without overflow: ``1 / (1 + e^-x)`` for x >= 0, ``e^x / (1 + e^x)`` below.

    The result has the dtype of ``x`` (a float array); ``scipy.special.expit`` without importing it.
    """
    x = np.asarray(x)
    exp_neg_abs = np.exp(-np.abs(x))
    return np.where(x >= 0, 1, exp_neg_abs) / (1 + exp_neg_abs)


def softplus(x):
    """``log(1 + e^x)`` without overflow."""
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))
