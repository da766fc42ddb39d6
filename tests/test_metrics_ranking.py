"""roc_auc and average_precision against their brute-force definitions, ties included."""
import numpy as np
import pytest

from fastgnn.metrics import average_precision, roc_auc


def brute_auc(labels, scores):
    """Mean over every (positive, negative) pair of [s_p > s_n] + 1/2 [s_p == s_n]."""
    labels = np.asarray(labels, bool)
    pos, neg = scores[labels], scores[~labels]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return wins / (pos.size * neg.size)


def brute_ap(labels, scores):
    """sum_k (R_k - R_{k-1}) P_k over the distinct thresholds, predicting s >= t_k positive."""
    labels = np.asarray(labels, bool)
    total = 0.0
    previous_recall = 0.0
    for threshold in sorted(set(scores.tolist()), reverse=True):
        predicted = scores >= threshold
        true_positives = np.sum(predicted & labels)
        precision = true_positives / np.sum(predicted)
        recall = true_positives / labels.sum()
        total += (recall - previous_recall) * precision
        previous_recall = recall
    return total


def random_case(rng, size, num_levels):
    labels = rng.random(size) < rng.uniform(0.2, 0.8)
    labels[rng.integers(size)] = True
    labels[rng.integers(size)] = False
    if labels.all() or not labels.any():
        labels[0], labels[1] = True, False
    # few distinct levels: many ties, within and across classes
    scores = rng.integers(0, num_levels, size).astype(np.float64) / num_levels
    return labels, scores


@pytest.mark.parametrize("num_levels", [2, 3, 7, 1000])
@pytest.mark.parametrize("size", [2, 5, 40, 301])
def test_against_brute_force_with_ties(rng, size, num_levels):
    for _ in range(20):
        labels, scores = random_case(rng, size, num_levels)
        assert roc_auc(labels, scores) == pytest.approx(brute_auc(labels, scores), abs=1e-12)
        assert average_precision(labels, scores) == pytest.approx(brute_ap(labels, scores), abs=1e-12)


def test_continuous_scores(rng):
    labels = rng.random(500) < 0.3
    scores = rng.standard_normal(500) + labels
    assert roc_auc(labels, scores) == pytest.approx(brute_auc(labels, scores), abs=1e-12)
    assert average_precision(labels, scores) == pytest.approx(brute_ap(labels, scores), abs=1e-12)


def test_known_values():
    # scikit-learn's documented examples
    assert roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert average_precision([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.8333333333333333)


def test_extremes_and_all_tied():
    labels = np.array([1, 1, 0, 0, 0])
    assert roc_auc(labels, [5, 4, 3, 2, 1]) == 1.0
    assert roc_auc(labels, [1, 2, 3, 4, 5]) == 0.0
    assert roc_auc(labels, np.zeros(5)) == 0.5
    assert average_precision(labels, [5, 4, 3, 2, 1]) == 1.0
    # one threshold: precision 2/5 at recall 1
    assert average_precision(labels, np.zeros(5)) == pytest.approx(0.4)
    assert average_precision([1, 1], [0.3, 0.1]) == 1.0


def test_invariant_to_monotone_transforms_and_input_types(rng):
    labels, scores = random_case(rng, 200, 10)
    for transformed in (3 * scores - 1, np.tanh(scores), scores.astype(np.float32)):
        assert roc_auc(labels, transformed) == pytest.approx(roc_auc(labels, scores))
        assert average_precision(labels, transformed) == pytest.approx(average_precision(labels, scores))
    assert roc_auc(labels.astype(int), scores) == roc_auc(labels.astype(float), scores) == roc_auc(labels, scores)
    assert roc_auc(list(labels), list(scores)) == roc_auc(labels, scores)


def test_infinite_scores_are_ranked():
    labels = [1, 0, 1, 0]
    scores = [np.inf, -np.inf, np.inf, 0.0]
    assert roc_auc(labels, scores) == 1.0
    assert average_precision(labels, scores) == 1.0


@pytest.mark.parametrize("metric", [roc_auc, average_precision])
def test_bad_input(metric):
    with pytest.raises(ValueError, match="entries"):
        metric([0, 1, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match="0 or 1"):
        metric([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="NaN"):
        metric([0, 1], [0.1, np.nan])
    with pytest.raises(ValueError, match="1-D"):
        metric(np.zeros((2, 2)), np.zeros((2, 2)))
    with pytest.raises(TypeError):
        metric(["a", "b"], [0.1, 0.2])
    with pytest.raises(ValueError, match="undefined"):
        metric([0, 0], [0.1, 0.2])


def test_auc_needs_both_classes():
    with pytest.raises(ValueError, match="one class"):
        roc_auc([1, 1], [0.1, 0.2])
