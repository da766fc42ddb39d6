"""Cross-validation folds: :func:`stratified_k_fold`."""
import operator

import numpy as np

__all__ = ["stratified_k_fold"]


def stratified_k_fold(labels, num_folds=10, rng=None):
    """Split samples into ``num_folds`` folds that keep the class proportions.

    Within each class the samples are shuffled (seeded); the classes are
    then laid end to end and dealt to the folds in turn, so every class
    sends ``floor`` or ``ceil`` of ``count / num_folds`` samples to each
    fold and fold sizes differ by at most one (as scikit-learn's
    ``StratifiedKFold(shuffle=True)``, not the same draws).

    Parameters
    ----------
    labels : array_like of shape (num_samples,)
        Class of each sample (any values that ``numpy.unique`` can sort).
    num_folds : int
        At least 2, at most ``num_samples``.
    rng : int, numpy.random.Generator or None

    Returns
    -------
    list of (train_index, test_index)
        One pair per fold, int64 position arrays, each sorted; the test
        sets partition ``range(num_samples)``.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D (one class per sample), got shape {labels.shape}")
    if isinstance(num_folds, (bool, np.bool_)):
        raise TypeError("num_folds must be an int, got bool")
    num_folds = operator.index(num_folds)
    count = labels.shape[0]
    if num_folds < 2:
        raise ValueError(f"num_folds must be at least 2, got {num_folds}")
    if num_folds > count:
        raise ValueError(f"num_folds ({num_folds}) cannot exceed the number of samples ({count})")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    _, classes = np.unique(labels, return_inverse=True)
    dealt = []
    for label in range(int(classes.max()) + 1):
        members = np.flatnonzero(classes == label)
        dealt.append(members[rng.permutation(members.shape[0])])
    dealt = np.concatenate(dealt)
    fold_of = np.empty(count, dtype=np.int64)
    fold_of[dealt] = np.arange(count) % num_folds
    folds = []
    for fold in range(num_folds):
        test = np.flatnonzero(fold_of == fold)
        train = np.flatnonzero(fold_of != fold)
        folds.append((train, test))
    return folds
