"""stratified_k_fold: a partition, balanced per class, seeded."""
import numpy as np
import pytest

from fastgnn.data import stratified_k_fold


@pytest.mark.parametrize("num_folds", [2, 3, 10])
def test_partition_and_balance(num_folds):
    labels = np.array([-1] * 63 + [1] * 125)
    np.random.default_rng(0).shuffle(labels)
    folds = stratified_k_fold(labels, num_folds, rng=0)
    assert len(folds) == num_folds
    tests = np.concatenate([test for _, test in folds])
    np.testing.assert_array_equal(np.sort(tests), np.arange(labels.size))
    sizes = [test.size for _, test in folds]
    assert max(sizes) - min(sizes) <= 1
    for train, test in folds:
        assert np.intersect1d(train, test).size == 0
        assert train.size + test.size == labels.size
        assert np.all(np.diff(test) > 0) and np.all(np.diff(train) > 0)
        for value in (-1, 1):
            expected = np.count_nonzero(labels == value) / num_folds
            assert np.floor(expected) <= np.count_nonzero(labels[test] == value) <= np.ceil(expected)


def test_seeded():
    labels = np.arange(50) % 3
    a = stratified_k_fold(labels, 5, rng=1)
    b = stratified_k_fold(labels, 5, rng=1)
    c = stratified_k_fold(labels, 5, rng=2)
    assert all(np.array_equal(x[1], y[1]) for x, y in zip(a, b))
    assert not all(np.array_equal(x[1], y[1]) for x, y in zip(a, c))


def test_bad_arguments():
    with pytest.raises(ValueError, match="at least 2"):
        stratified_k_fold([0, 1, 0], 1)
    with pytest.raises(ValueError, match="cannot exceed"):
        stratified_k_fold([0, 1, 0], 4)
    with pytest.raises(ValueError, match="1-D"):
        stratified_k_fold(np.zeros((3, 2)), 2)
