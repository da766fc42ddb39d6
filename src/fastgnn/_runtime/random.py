"""One coercion of random-number sources, for every layer, sampler and split."""
import numpy as np

__all__ = ["as_generator"]


def as_generator(rng, name="rng"):
    """A :class:`numpy.random.Generator` from a Generator, a seed or None (SPEC 7's ``rng`` convention).

    Parameters
    ----------
    rng : numpy.random.Generator, int, numpy.random.SeedSequence or None
        A Generator is returned as it is (so the layers of a model sharing it
        draw in turn); an int or a SeedSequence seeds a new one; None gives
        one seeded from OS entropy.
    name : str
        The argument's name in the error message.
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer)) and not isinstance(rng, (bool, np.bool_)):
        return np.random.default_rng(rng)
    if isinstance(rng, np.random.SeedSequence):
        return np.random.default_rng(rng)
    raise TypeError(f"{name} must be a numpy.random.Generator, an int seed or None, got {type(rng).__name__}")
