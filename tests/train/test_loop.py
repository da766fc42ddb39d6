"""fastgnn.train.fit: one loop for every task (history, evaluation cadence, stopping, restore, threads)."""
import io

import numpy as np
import pytest

import fastgnn
from fastgnn import nn
from fastgnn.train import EarlyStopping, Progress, TrainResult, WindowStopping, fit


class _Counter(nn.Module):
    """A one-parameter model whose 'training' adds one to its weight each step."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(np.zeros(1))


def _steps(model, losses):
    def train_step(epoch):
        model.weight.data += 1
        return {"train_loss": float(losses[epoch - 1])}
    return train_step


def test_history_and_eval_cadence():
    model = _Counter()
    result = fit(model, _steps(model, np.linspace(1, 0, 7)), epochs=7, evaluate=lambda e: {"val_acc": e / 10},
                 eval_every=3)
    assert isinstance(result, TrainResult)
    assert result.epochs == 7 and not result.stopped_early
    assert result.history["epoch"] == list(range(1, 8))
    assert result.history["train_loss"] == pytest.approx(np.linspace(1, 0, 7))
    assert result.history["eval_epoch"] == [3, 6, 7], "every eval_every epochs and after the last"
    assert result.history["val_acc"] == pytest.approx([0.3, 0.6, 0.7])
    assert len(result.history["epoch_seconds"]) == 7
    assert model.weight.data[0] == 7


def test_patience_stops_and_restores_the_best_weights():
    model = _Counter()
    val = [5, 4, 3, 3.5, 3.2, 3.1, 3.3, 2.0]  # best at epoch 3, no improvement for 3 evaluations by epoch 6
    result = fit(model, _steps(model, np.zeros(8)), epochs=8, evaluate=lambda e: {"val_loss": val[e - 1]},
                 stopping=EarlyStopping(patience=3))
    assert result.stopped_early and result.epochs == 6
    assert result.best_epoch == 3 and result.best_value == 3 and result.monitor == "val_loss"
    assert model.weight.data[0] == 3, "the weights of the best epoch are restored"


def test_patience_on_a_metric_to_maximise():
    model = _Counter()
    acc = [0.1, 0.5, 0.4, 0.45, 0.3]
    result = fit(model, _steps(model, np.zeros(5)), epochs=5, evaluate=lambda e: {"val_acc": acc[e - 1]},
                 stopping=EarlyStopping(patience=2, monitor="val_acc", restore_best=False))
    assert result.best_epoch == 2 and result.epochs == 4 and model.weight.data[0] == 4


def test_window_stopping_is_kipfs_criterion():
    # Kipf's code stops at 0-based epoch t > window when cost_val[-1] > mean(cost_val[-(window+1):-1]).
    rng = np.random.default_rng(0)
    val = list(np.linspace(2, 1, 12) + rng.normal(0, 0.05, 12)) + [5.0] * 10
    window = 4
    expected = None
    for t in range(len(val)):
        if t > window and val[t] > np.mean(val[t - window:t]):
            expected = t + 1
            break
    model = _Counter()
    result = fit(model, _steps(model, np.zeros(len(val))), epochs=len(val),
                 evaluate=lambda e: {"val_loss": val[e - 1]}, stopping=WindowStopping(window))
    assert result.stopped_early and result.epochs == expected
    assert model.weight.data[0] == expected, "window stopping keeps the last epoch's weights"


def test_stopping_needs_an_evaluation_and_its_metric():
    model = _Counter()
    with pytest.raises(ValueError, match="needs an evaluation"):
        fit(model, _steps(model, np.zeros(2)), epochs=2, stopping=EarlyStopping())
    with pytest.raises(KeyError, match="monitors 'val_loss'"):
        fit(model, _steps(model, np.zeros(2)), epochs=2, evaluate=lambda e: {"val_acc": 1.0},
            stopping=EarlyStopping())


def test_diverging_loss_raises():
    model = _Counter()
    with pytest.raises(FloatingPointError, match="epoch 2"):
        fit(model, _steps(model, [1.0, np.nan, 1.0]), epochs=3)


@pytest.mark.parametrize("bad", [-1, 1.5, True, "3"])
def test_bad_epochs(bad):
    model = _Counter()
    with pytest.raises(ValueError, match="epochs"):
        fit(model, _steps(model, [0.0]), epochs=bad)


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_progress_lines_when_piped_and_live_on_a_terminal():
    model = _Counter()
    piped = io.StringIO()
    fit(model, _steps(model, np.zeros(10)), epochs=10, progress=Progress(10, "auto", every=4, stream=piped))
    lines = piped.getvalue().splitlines()
    assert [line.split()[1] for line in lines] == ["1/10", "4/10", "8/10", "10/10"]
    assert all("train_loss 0.0000" in line for line in lines)
    terminal = _Tty()
    fit(model, _steps(model, np.zeros(10)), epochs=10, progress=Progress(10, "auto", stream=terminal))
    text = terminal.getvalue()
    assert text.count("\r") == 10 and text.endswith("\n") and text.count("\n") == 1
    quiet = io.StringIO()
    fit(model, _steps(model, np.zeros(3)), epochs=3, progress=Progress(3, "quiet", stream=quiet))
    assert quiet.getvalue() == ""


def test_thread_policy_is_restored():
    fastgnn.set_num_threads(None)
    model = _Counter()
    seen = []

    def step(epoch):
        seen.append((fastgnn.get_num_threads(), fastgnn.get_blas_threads()))
        return {}

    before = fastgnn.get_num_threads()
    fit(model, step, epochs=2, n_threads=1, blas_threads=1)
    assert seen[0][0] == 1 and seen[0][1] in (1, None)
    assert fastgnn.get_num_threads() == before


def test_fixed_graph_block_is_entered_and_left():
    class Layer(nn.Module):
        entered = 0

        def _enter_fixed_graph(self):
            Layer.entered += 1
            return True

        def _exit_fixed_graph(self):
            Layer.entered -= 1

    model = nn.Sequential(Layer())
    inside = []
    fit(model, lambda e: inside.append(Layer.entered) or {}, epochs=2, fixed_graph=True)
    assert inside == [1, 1] and Layer.entered == 0


def test_result_reads_metrics_as_attributes_and_prints_short():
    result = TrainResult(metrics={"test_acc": 0.8123, "val_loss": 0.5}, history={"epoch": list(range(200))},
                         epochs=200, seconds_per_epoch=0.0065, info={"inductive": False})
    assert result.test_acc == 0.8123 and result.inductive is False
    assert result.train_acc is None, "a metric the task does not report reads as None"
    with pytest.raises(AttributeError):
        result.no_such_thing
    text = repr(result)
    assert "test_acc=0.8123" in text and "epochs=200" in text and "6.5 ms/epoch" in text and len(text) < 200
    flat = result.as_dict()
    assert flat["test_acc"] == 0.8123 and flat["inductive"] is False and "history" not in flat
    assert result.as_dict(history=True)["history"]["epoch"][-1] == 199
