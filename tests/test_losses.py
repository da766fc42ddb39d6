import numpy as np
import pytest

from fastgnn import losses
from fastgnn.testing import check_grad


def naive_cross_entropy(logits, labels):
    probabilities = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return -np.mean(np.log(probabilities[np.arange(len(labels)), labels]))


@pytest.fixture
def problem(rng):
    logits = rng.standard_normal((10, 4))
    labels = rng.integers(0, 4, 10)
    mask = np.zeros(10, bool)
    mask[[0, 3, 4, 8]] = True
    return logits, labels, mask


# ------------------------------------------------------------------ cross-entropy
def test_cross_entropy_value_and_grad(problem):
    logits, labels, mask = problem
    value, grad = losses.cross_entropy(logits, labels)
    assert value == pytest.approx(naive_cross_entropy(logits, labels), rel=1e-12)
    check_grad(lambda: losses.cross_entropy(logits, labels)[0], [logits], [grad])


def test_cross_entropy_mask_selects_rows(problem):
    logits, labels, mask = problem
    value, grad = losses.cross_entropy(logits, labels, mask)
    assert value == pytest.approx(naive_cross_entropy(logits[mask], labels[mask]), rel=1e-12)
    assert not grad[~mask].any()
    check_grad(lambda: losses.cross_entropy(logits, labels, mask)[0], [logits], [grad])
    np.testing.assert_allclose(grad.sum(1), 0, atol=1e-15)  # softmax minus one-hot sums to zero


def test_cross_entropy_unlabelled_rows_outside_the_mask_are_ignored(problem):
    logits, labels, mask = problem
    labels = labels.copy()
    labels[~mask] = -1
    assert losses.cross_entropy(logits, labels, mask)[0] == pytest.approx(
        naive_cross_entropy(logits[mask], labels[mask]))


def test_cross_entropy_soft_targets(problem, rng):
    logits, labels, mask = problem
    one_hot = np.eye(4)[labels]
    np.testing.assert_allclose(losses.cross_entropy(logits, one_hot, mask)[1],
                               losses.cross_entropy(logits, labels, mask)[1])
    soft = rng.dirichlet(np.ones(4), 10)
    value, grad = losses.cross_entropy(logits, soft, mask)
    check_grad(lambda: losses.cross_entropy(logits, soft, mask)[0], [logits], [grad])


def test_cross_entropy_sum_reduction(problem):
    logits, labels, mask = problem
    mean_value, mean_grad = losses.cross_entropy(logits, labels, mask)
    sum_value, sum_grad = losses.cross_entropy(logits, labels, mask, reduction="sum")
    assert sum_value == pytest.approx(4 * mean_value)
    np.testing.assert_allclose(sum_grad, 4 * mean_grad)


def test_cross_entropy_is_stable_for_huge_logits():
    logits = np.array([[1e4, 0.0, -1e4], [-1e4, 1e4, 1e4]], dtype=np.float32)
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        value, grad = losses.cross_entropy(logits, np.array([0, 0]))
    # Row 0 loses nothing; row 1 loses log(2 e^{1e4}) + 1e4 = 2e4 + log 2.
    assert np.isfinite(value) and value == pytest.approx((2e4 + np.log(2)) / 2, rel=1e-6)
    assert grad.dtype == np.float32 and np.all(np.isfinite(grad))


def test_cross_entropy_matches_torch(problem):
    torch = pytest.importorskip("torch")
    logits, labels, mask = problem
    tensor = torch.tensor(logits, requires_grad=True)
    expected = torch.nn.functional.cross_entropy(tensor[torch.tensor(mask)], torch.tensor(labels[mask]))
    expected.backward()
    value, grad = losses.cross_entropy(logits, labels, mask)
    assert value == pytest.approx(expected.item(), rel=1e-12)
    np.testing.assert_allclose(grad, tensor.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_cross_entropy_bad_inputs(problem):
    logits, labels, mask = problem
    with pytest.raises(ValueError, match=r"labels must have shape \(10,\)"):
        losses.cross_entropy(logits, labels[:9])
    with pytest.raises(TypeError, match="mask must be a boolean array"):
        losses.cross_entropy(logits, labels, mask.astype(int))
    with pytest.raises(ValueError, match=r"mask must have shape \(10,\)"):
        losses.cross_entropy(logits, labels, mask[:8])
    with pytest.raises(ValueError, match="labels contains class 4"):
        losses.cross_entropy(logits, np.full(10, 4))
    with pytest.raises(TypeError, match="labels must be integer class ids"):
        losses.cross_entropy(logits, labels.astype(float))
    with pytest.raises(ValueError, match="selects no rows"):
        losses.cross_entropy(logits, labels, np.zeros(10, bool))
    with pytest.raises(ValueError, match="reduction"):
        losses.cross_entropy(logits, labels, reduction="none")
    with pytest.raises(ValueError, match="logits must be 2-D"):
        losses.cross_entropy(logits[0], labels[:1])


def test_log_softmax_and_softmax(rng):
    x = rng.standard_normal((3, 5)) * 50
    np.testing.assert_allclose(np.exp(losses.log_softmax(x)), losses.softmax(x), rtol=1e-12)
    np.testing.assert_allclose(losses.softmax(x).sum(1), 1.0)


# ------------------------------------------------------------------ binary cross-entropy
def naive_bce(logits, targets, pos_weight=1.0):
    p = 1 / (1 + np.exp(-logits))
    return np.mean(-(pos_weight * targets * np.log(p) + (1 - targets) * np.log(1 - p)))


@pytest.mark.parametrize("shape", [(12,), (12, 3)])
@pytest.mark.parametrize("pos_weight", [None, 2.5])
def test_bce_value_and_grad(rng, shape, pos_weight):
    logits = rng.standard_normal(shape) * 2
    targets = rng.uniform(0, 1, shape)
    value, grad = losses.binary_cross_entropy_with_logits(logits, targets, pos_weight=pos_weight)
    assert value == pytest.approx(naive_bce(logits, targets, 1.0 if pos_weight is None else pos_weight), rel=1e-12)
    check_grad(lambda: losses.binary_cross_entropy_with_logits(logits, targets, pos_weight=pos_weight)[0],
               [logits], [grad])


def test_bce_mask_and_per_class_pos_weight(rng):
    logits = rng.standard_normal((12, 3))
    targets = (rng.uniform(0, 1, (12, 3)) > 0.5).astype(float)
    mask = rng.uniform(0, 1, 12) > 0.5
    weight = np.array([1.0, 2.0, 3.0])
    value, grad = losses.binary_cross_entropy_with_logits(logits, targets, mask, pos_weight=weight)
    assert value == pytest.approx(naive_bce(logits[mask], targets[mask], weight), rel=1e-12)
    assert not grad[~mask].any()
    check_grad(lambda: losses.binary_cross_entropy_with_logits(logits, targets, mask, pos_weight=weight)[0],
               [logits], [grad])


def test_bce_matches_torch(rng):
    torch = pytest.importorskip("torch")
    logits = rng.standard_normal((8, 3)) * 3
    targets = (rng.uniform(0, 1, (8, 3)) > 0.3).astype(float)
    weight = np.array([0.5, 2.0, 4.0])
    tensor = torch.tensor(logits, requires_grad=True)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        tensor, torch.tensor(targets), pos_weight=torch.tensor(weight))
    expected.backward()
    value, grad = losses.binary_cross_entropy_with_logits(logits, targets, pos_weight=weight)
    assert value == pytest.approx(expected.item(), rel=1e-12)
    np.testing.assert_allclose(grad, tensor.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_bce_is_stable():
    logits = np.array([-1000.0, 1000.0, -1000.0, 1000.0])
    targets = np.array([0.0, 1.0, 1.0, 0.0])
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        value, grad = losses.binary_cross_entropy_with_logits(logits, targets)
    assert value == pytest.approx(500.0)
    np.testing.assert_allclose(grad, [0, 0, -0.25, 0.25])


def test_bce_bad_inputs(rng):
    logits = rng.standard_normal((5, 2))
    with pytest.raises(ValueError, match="targets must have the shape of logits"):
        losses.binary_cross_entropy_with_logits(logits, np.zeros((5, 3)))
    with pytest.raises(TypeError, match="mask must be a boolean"):
        losses.binary_cross_entropy_with_logits(logits, np.zeros((5, 2)), np.arange(5))
    with pytest.raises(ValueError, match="pos_weight"):
        losses.binary_cross_entropy_with_logits(logits, np.zeros((5, 2)), pos_weight=np.ones(3))


# ------------------------------------------------------------------ mean squared error
def test_mse(rng):
    predictions = rng.standard_normal((6, 2))
    targets = rng.standard_normal((6, 2))
    mask = np.array([True, False, True, True, False, False])
    value, grad = losses.mse_loss(predictions, targets, mask)
    assert value == pytest.approx(np.mean((predictions[mask] - targets[mask]) ** 2), rel=1e-12)
    assert not grad[~mask].any()
    check_grad(lambda: losses.mse_loss(predictions, targets, mask)[0], [predictions], [grad])
    value, grad = losses.mse_loss(predictions[:, 0], targets[:, 0], reduction="sum")
    assert value == pytest.approx(np.sum((predictions[:, 0] - targets[:, 0]) ** 2))
    with pytest.raises(ValueError, match="targets must have the shape"):
        losses.mse_loss(predictions, targets[:5])


def test_losses_keep_float32(rng):
    logits = rng.standard_normal((4, 3)).astype(np.float32)
    assert losses.cross_entropy(logits, np.array([0, 1, 2, 0]))[1].dtype == np.float32
    assert losses.binary_cross_entropy_with_logits(logits, np.ones((4, 3)))[1].dtype == np.float32
    assert losses.mse_loss(logits, np.ones((4, 3)))[1].dtype == np.float32
