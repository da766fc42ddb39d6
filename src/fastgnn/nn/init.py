"""Seeded parameter initialisation.

Every function takes ``rng``: a :class:`numpy.random.Generator`, an int seed,
or None (fresh, unpredictable entropy). Share one Generator between the
layers of a model to make the whole model reproducible from one seed.
"""
import math

import numpy as np

from fastgnn._runtime.random import as_generator

__all__ = ["as_rng", "glorot_uniform", "uniform", "zeros", "ones"]


def as_rng(rng):
    """A :class:`numpy.random.Generator` from a Generator, an int seed or None (see
    :func:`fastgnn._runtime.random.as_generator`)."""
    return as_generator(rng, "rng")


def glorot_uniform(shape, rng=None, dtype=np.float32, gain=1.0):
    """Glorot (Xavier) uniform initialisation, as in the GCN paper.

    Draws from ``U(-a, a)`` with ``a = gain * sqrt(6 / (fan_in + fan_out))``.

    Parameters
    ----------
    shape : tuple of int
        ``(fan_out, fan_in)`` for a weight matrix (the formula is symmetric).
    rng : numpy.random.Generator, int or None
    dtype : float32 or float64
    gain : float

    Returns
    -------
    ndarray of ``shape`` and ``dtype``
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) < 2:
        fan_in = fan_out = shape[0] if shape else 1
    else:
        receptive = math.prod(shape[2:]) if len(shape) > 2 else 1
        fan_out, fan_in = shape[0] * receptive, shape[1] * receptive
    bound = gain * math.sqrt(6.0 / max(fan_in + fan_out, 1))
    return uniform(shape, -bound, bound, rng, dtype)


def uniform(shape, low, high, rng=None, dtype=np.float32):
    """Uniform ``U(low, high)`` values drawn from ``rng`` (in float64, then cast)."""
    return as_rng(rng).uniform(low, high, size=shape).astype(dtype)


def zeros(shape, dtype=np.float32):
    """An array of zeros (the initial value of biases)."""
    return np.zeros(shape, dtype=dtype)


def ones(shape, dtype=np.float32):
    """An array of ones."""
    return np.ones(shape, dtype=dtype)
