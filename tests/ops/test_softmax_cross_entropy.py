"""softmax_cross_entropy_rows: one compiled pass against NumPy, any thread count, bad input."""
import numpy as np
import pytest

from fastgnn.ops import softmax_cross_entropy_rows


def _reference(z, labels, scale):
    z = z.astype(np.float64)
    shifted = z - z.max(axis=1, keepdims=True)
    lse = np.log(np.exp(shifted).sum(axis=1))
    loss = lse - shifted[np.arange(len(z)), labels]
    grad = np.exp(shifted - lse[:, None])
    grad[np.arange(len(z)), labels] -= 1
    return loss, grad * scale


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(0, 3), (1, 1), (7, 2), (300, 10), (301, 10), (50, 41), (5, 511), (4, 512),
                                   (3, 513), (2, 1500)])      # rows tiled several at a time, wide rows in pieces
def test_against_numpy(rng, dtype, shape):
    z = (rng.standard_normal(shape) * 30).astype(dtype)     # large scores: the shift matters
    labels = rng.integers(0, shape[1], shape[0])
    before = z.copy()
    loss, grad = softmax_cross_entropy_rows(z, labels, 0.25)
    expected_loss, expected_grad = _reference(z, labels, 0.25)
    assert loss.dtype == np.float64 and grad.dtype == dtype and grad.shape == shape
    np.testing.assert_allclose(loss, expected_loss, rtol=1e-6 if dtype == np.float32 else 1e-12, atol=1e-6)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-7)
    np.testing.assert_array_equal(z, before)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extreme_scores(dtype):
    big = np.finfo(dtype).max / 4
    z = np.array([[0.0, -np.inf, 1.0], [-big, big, 0.0], [-800.0, 0.0, -1e-30], [5.0, 5.0, 5.0]], dtype=dtype)
    labels = np.array([2, 0, 1, 1])
    loss, grad = softmax_cross_entropy_rows(z, labels, 0.5)
    with np.errstate(over="ignore", invalid="ignore"):
        expected_loss, expected_grad = _reference(z, labels, 0.5)
    np.testing.assert_allclose(loss, expected_loss, rtol=1e-6 if dtype == np.float32 else 1e-12)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-12)
    assert grad[0, 1] == 0 and np.isfinite(grad).all()


def test_nan_scores_give_nan(rng):
    z = rng.standard_normal((3, 4))
    z[1, 2] = np.nan
    loss, grad = softmax_cross_entropy_rows(z, np.array([0, 0, 0]))
    assert np.isnan(loss[1]) and np.isfinite(loss[[0, 2]]).all() and np.isnan(grad[1]).all()


def test_identical_for_any_thread_count(rng):
    z = rng.standard_normal((20000, 10)).astype(np.float32)
    labels = rng.integers(0, 10, 20000)
    first = softmax_cross_entropy_rows(z, labels, 1e-4, n_threads=1)
    for threads in (2, 3):
        for a, b in zip(softmax_cross_entropy_rows(z, labels, 1e-4, n_threads=threads), first):
            assert a.tobytes() == b.tobytes()


def test_non_contiguous_input(rng):
    z = rng.standard_normal((12, 8))[:, ::2]
    labels = rng.integers(0, 4, 12)
    np.testing.assert_allclose(softmax_cross_entropy_rows(z, labels)[0], _reference(z, labels, 1.0)[0])


@pytest.mark.parametrize("logits, labels, error", [
    (np.zeros((3, 2), np.int64), [0, 1, 0], TypeError),
    (np.zeros(3), [0, 1, 0], TypeError),
    (np.zeros((3, 0)), [0, 1, 0], ValueError),
    (np.zeros((3, 2)), [0, 1], ValueError),
    (np.zeros((3, 2)), [0, 2, 0], ValueError),
    (np.zeros((3, 2)), [0, -1, 0], ValueError),
])
def test_bad_input(logits, labels, error):
    with pytest.raises(error):
        softmax_cross_entropy_rows(logits, np.asarray(labels))
