"""Early-stopping criteria of the training loop (:func:`fastgnn.train.fit`).

A criterion watches one evaluation metric and answers, after each
evaluation, whether training stops. Two are offered:

:class:`EarlyStopping`
    Stop when the metric has not improved on its best value for
    ``patience`` evaluations; by default the weights of the best epoch are
    restored at the end (Keras's and PyTorch Lightning's criterion).
:class:`WindowStopping`
    Kipf and Welling's criterion (the GCN paper's code): stop when the
    validation loss is higher than the mean of the ``window`` values before
    it, from the ``window + 2``-th evaluation on. The last epoch's weights
    are kept.
"""
import math

import numpy as np

__all__ = ["EarlyStopping", "WindowStopping", "make_stopping", "resolve_stopping", "STOPPING_CRITERIA"]

#: Names accepted by :func:`make_stopping`.
STOPPING_CRITERIA = ("window", "patience", None)


def _positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def _mode_for(monitor, mode):
    if mode == "auto":
        return "min" if monitor.endswith("loss") else "max"
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min', 'max' or 'auto', got {mode!r}")
    return mode


class _Criterion:
    """Tracks the best value of the monitored metric."""

    restore_best = False

    def __init__(self, monitor, mode):
        if not isinstance(monitor, str) or not monitor:
            raise ValueError(f"monitor must name a metric (e.g. 'val_loss'), got {monitor!r}")
        self.monitor = monitor
        self.mode = _mode_for(monitor, mode)
        self.reset()

    def reset(self):
        """Forget every value seen (a criterion can serve several runs)."""
        self.values = []
        self.best_value = None
        self.best_epoch = None

    def _improves(self, value):
        if self.best_value is None:
            return True
        return value < self.best_value if self.mode == "min" else value > self.best_value

    def update(self, epoch, metrics):
        """Record ``metrics[monitor]`` of ``epoch``; return ``(improved, stop)``."""
        if self.monitor not in metrics:
            raise KeyError(f"early stopping monitors {self.monitor!r}, but the evaluation reports only "
                           f"{sorted(metrics)}")
        value = float(metrics[self.monitor])
        self.values.append(value)
        improved = math.isfinite(value) and self._improves(value)
        if improved:
            self.best_value, self.best_epoch = value, epoch
        return improved, self._should_stop(epoch)

    def _should_stop(self, epoch):
        raise NotImplementedError


class EarlyStopping(_Criterion):
    """Stop when ``monitor`` has not improved for ``patience`` evaluations.

    Parameters
    ----------
    patience : int
        Evaluations without improvement before stopping.
    monitor : str
        An evaluation metric, e.g. ``"val_loss"`` or ``"val_acc"``.
    mode : {'auto', 'min', 'max'}
        Whether lower or higher is better; ``'auto'``: lower for names
        ending in ``loss``, higher otherwise.
    restore_best : bool
        Load the weights of the best epoch when training ends.
    """

    def __init__(self, patience=10, monitor="val_loss", mode="auto", restore_best=True):
        self.patience = _positive_int(patience, "patience")
        self.restore_best = bool(restore_best)
        super().__init__(monitor, mode)

    def _should_stop(self, epoch):
        return self.best_epoch is not None and epoch - self.best_epoch >= self.patience

    def __repr__(self):
        return f"EarlyStopping(patience={self.patience}, monitor={self.monitor!r}, mode={self.mode!r})"


class WindowStopping(_Criterion):
    """Kipf and Welling's criterion: stop once ``monitor`` exceeds the mean of the ``window`` before it.

    Parameters
    ----------
    window : int
    monitor : str
        Default ``"val_loss"``, as in the paper.
    mode : {'min', 'max', 'auto'}
    restore_best : bool
        Load the weights of the best epoch at the end (the paper keeps the last).
    """

    def __init__(self, window=10, monitor="val_loss", mode="min", restore_best=False):
        self.window = _positive_int(window, "window")
        self.restore_best = bool(restore_best)
        super().__init__(monitor, mode)

    def _should_stop(self, epoch):
        # The paper's code, with a 0-based epoch counter: stop once epoch > window and
        # cost_val[-1] > mean(cost_val[-(window + 1):-1]); i.e. from the (window + 2)-th value on.
        if len(self.values) <= self.window + 1:
            return False
        previous = float(np.mean(self.values[-(self.window + 1):-1]))
        latest = self.values[-1]
        return latest > previous if self.mode == "min" else latest < previous

    def __repr__(self):
        return f"WindowStopping(window={self.window}, monitor={self.monitor!r})"


def make_stopping(criterion, patience, monitor="val_loss", restore_best=None):
    """A criterion from its name: ``'window'``, ``'patience'`` or None (no early stopping)."""
    if criterion is None:
        return None
    if criterion == "window":
        return WindowStopping(patience, monitor, restore_best=bool(restore_best))
    if criterion == "patience":
        return EarlyStopping(patience, monitor, restore_best=True if restore_best is None else restore_best)
    raise ValueError(f"early_stopping must be 'window', 'patience' or None, got {criterion!r}")


def resolve_stopping(early_stopping, patience, restore_best=None, monitor="val_loss"):
    """A trainer's ``early_stopping`` argument as ``(name, criterion)``.

    A name (``'window'``, ``'patience'`` or None) is checked with ``patience``
    and built by :func:`make_stopping`; any other object is a criterion of the
    caller's own, returned as it is under the name ``'custom'``.
    """
    if early_stopping is not None and not isinstance(early_stopping, str):
        return "custom", early_stopping
    if early_stopping not in STOPPING_CRITERIA:
        raise ValueError(f"early_stopping must be 'window', 'patience' or None, got {early_stopping!r}")
    if isinstance(patience, bool) or not isinstance(patience, (int, np.integer)) or patience < 1:
        raise ValueError(f"patience must be a positive int, got {patience!r}")
    return early_stopping, make_stopping(early_stopping, patience, monitor, restore_best)
