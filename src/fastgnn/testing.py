"""Helpers for testing fastgnn and code built on it.

:func:`check_grad` compares hand-written gradients with central finite
differences (use float64 inputs).
"""
import numpy as np

__all__ = ["numerical_grad", "check_grad"]


def numerical_grad(loss, array, eps=1e-6, indices=None):
    """Central-difference gradient of a scalar ``loss()`` with respect to ``array``.

    ``array`` is perturbed in place, one element at a time, and restored.

    Parameters
    ----------
    loss : callable
        ``loss() -> float``, reading ``array``.
    array : ndarray of float64
    eps : float
        Step of the central difference.
    indices : sequence of int, optional
        Flat positions to differentiate (default: all).

    Returns
    -------
    ndarray of the shape of ``array`` (zeros where not differentiated).
    """
    grad = np.zeros(array.shape, dtype=np.float64)
    flat = array.reshape(-1)
    if not np.shares_memory(flat, array):
        raise ValueError("array must be contiguous so it can be perturbed in place")
    grad_flat = grad.reshape(-1)
    positions = range(flat.size) if indices is None else indices
    for position in positions:
        saved = flat[position]
        flat[position] = saved + eps
        upper = float(loss())
        flat[position] = saved - eps
        lower = float(loss())
        flat[position] = saved
        grad_flat[position] = (upper - lower) / (2 * eps)
    return grad


def check_grad(loss, inputs, grads, *, eps=1e-6, rtol=1e-5, atol=1e-7, max_elements=200, seed=0):
    """Assert that analytic gradients match finite differences.

    Parameters
    ----------
    loss : callable
        ``loss() -> float``, a scalar function of the arrays in ``inputs``
        (it reads them each call; they are perturbed in place).
    inputs : sequence of ndarray (float64)
    grads : sequence of ndarray
        The analytic gradient of ``loss`` with respect to each input.
    eps, rtol, atol : float
        Step and tolerances.
    max_elements : int or None
        Check at most this many randomly chosen elements per input.
    seed : int
        Seed for choosing the elements.

    Returns
    -------
    float
        The largest absolute difference seen.

    Raises
    ------
    AssertionError
        Naming the input and the element that differ.
    """
    rng = np.random.default_rng(seed)
    worst = 0.0
    for number, (array, grad) in enumerate(zip(inputs, grads)):
        array = np.asarray(array)
        grad = np.asarray(grad)
        if array.dtype != np.float64:
            raise TypeError(f"input {number} must be float64 for a finite-difference check, got {array.dtype}")
        if grad.shape != array.shape:
            raise AssertionError(f"gradient {number} has shape {grad.shape}, input has {array.shape}")
        size = array.size
        if max_elements is not None and size > max_elements:
            chosen = np.sort(rng.choice(size, max_elements, replace=False))
        else:
            chosen = np.arange(size)
        numeric = numerical_grad(loss, array, eps, chosen).reshape(-1)[chosen]
        analytic = grad.reshape(-1)[chosen]
        diff = np.abs(numeric - analytic)
        bad = diff > atol + rtol * np.abs(numeric)
        if diff.size:
            worst = max(worst, float(diff.max()))
        if np.any(bad):
            where = int(chosen[np.argmax(bad)])
            raise AssertionError(
                f"gradient of input {number} differs at flat index {where}: "
                f"analytic {grad.reshape(-1)[where]!r}, numeric {numeric[np.argmax(bad)]!r}")
    return worst
