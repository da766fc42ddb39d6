import numpy as np
import pytest

from fastgnn.metrics import accuracy


def test_accuracy_from_logits_predictions_and_one_hot():
    logits = np.array([[2.0, 1.0], [0.0, 3.0], [5.0, 1.0], [0.0, 1.0]])
    labels = np.array([0, 1, 1, 1])
    assert accuracy(logits, labels) == 0.75
    assert accuracy(np.array([0, 0, 1, 0]), labels) == 0.5
    assert accuracy(logits, np.eye(2)[labels]) == 0.75
    assert accuracy(logits, labels, np.array([False, False, True, True])) == 0.5


def test_accuracy_errors():
    logits = np.zeros((4, 2))
    with pytest.raises(ValueError, match=r"labels must have shape \(4,\)"):
        accuracy(logits, np.zeros(3, int))
    with pytest.raises(TypeError, match="mask must be a boolean"):
        accuracy(logits, np.zeros(4, int), np.array([0, 1, 0, 1]))
    with pytest.raises(ValueError, match=r"mask must have shape \(4,\)"):
        accuracy(logits, np.zeros(4, int), np.ones(5, bool))
    with pytest.raises(ValueError, match="undefined"):
        accuracy(logits, np.zeros(4, int), np.zeros(4, bool))
    with pytest.raises(TypeError, match="predictions must be integer"):
        accuracy(np.zeros(4), np.zeros(4, int))
