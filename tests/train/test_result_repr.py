"""Results print as one short line: the per-epoch history stays in its attribute."""
import numpy as np

from fastgnn.train import CrossValidationResult, TrainResult

HISTORY = {"epoch": list(range(1, 351)), "train_loss": [0.5] * 350, "test_acc": [0.8] * 350}


def test_train_result_repr_is_one_short_line():
    result = TrainResult(metrics={"train_loss": 0.5, "test_acc": 0.8}, history=HISTORY, epochs=350)
    text = repr(result)
    assert "\n" not in text and len(text) < 120 and "test_acc=0.8000" in text


def test_cross_validation_result_repr_is_one_short_line():
    folds = [TrainResult(history=HISTORY, epochs=350) for _ in range(10)]
    result = CrossValidationResult(
        test_acc=np.full((10, 350), 0.8), best_epoch=12, test_acc_mean=0.8, test_acc_std=0.05,
        test_acc_last_mean=0.79, test_acc_last_std=0.04, train_acc_last_mean=0.9, fold_results=folds,
        folds=[(np.arange(170), np.arange(18))] * 10, seconds=12.3, graphs_per_second=1000.0)
    text = repr(result)
    assert "\n" not in text and len(text) < 160, text
    assert text == ("CrossValidationResult(folds=10, best_epoch=12, test_acc=0.8000 ± 0.0500, last epoch "
                    "0.7900 ± 0.0400, 12.3 s)")
