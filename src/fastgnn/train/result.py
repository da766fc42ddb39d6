"""The one result type of every training function: final metrics, per-epoch history, timings."""
import math
from dataclasses import asdict, dataclass, field

__all__ = ["TrainResult"]


@dataclass(repr=False)
class TrainResult:
    """What every ``fastgnn.train`` function returns.

    Metric names follow one scheme, ``{split}_{metric}`` (``val_acc``,
    ``test_auc``, ``train_loss``, ...), and each is also an attribute:
    ``result.test_acc`` is ``result.metrics["test_acc"]``, and a metric the
    task does not report is None.

    Attributes
    ----------
    metrics : dict of str to float
        The final model's scores (after restoring the best weights when
        early stopping restores them).
    history : dict of str to list
        Per epoch: ``epoch``, the training step's metrics (e.g.
        ``train_loss``) and ``epoch_seconds``; per evaluation:
        ``eval_epoch`` and the evaluation's metrics (``val_loss``, ...).
    epochs : int
        Epochs run.
    best_epoch : int or None
        The epoch (1-based) of the best monitored value, when one was monitored.
    monitor : str or None
        The metric early stopping watched (e.g. ``"val_loss"``).
    best_value : float or None
        Its best value.
    stopped_early : bool
    seconds_per_epoch : float
        Mean wall time of one epoch's training (forward, backward, update).
    eval_seconds_per_epoch : float
        Mean wall time of one evaluation.
    total_seconds : float
        The whole call, setup and final evaluation included.
    info : dict
        Task-specific facts (e.g. ``inductive``, ``early_stopping``,
        ``graphs_per_second``), also readable as attributes.
    """

    metrics: dict = field(default_factory=dict)
    history: dict = field(default_factory=dict)
    epochs: int = 0
    best_epoch: int = None
    monitor: str = None
    best_value: float = None
    stopped_early: bool = False
    seconds_per_epoch: float = 0.0
    eval_seconds_per_epoch: float = 0.0
    total_seconds: float = 0.0
    info: dict = field(default_factory=dict)

    def __getattr__(self, name):
        # Only reached for names that are not fields: metrics and info read as attributes.
        if name.startswith("__"):
            raise AttributeError(name)
        for store in ("metrics", "info"):
            values = self.__dict__.get(store) or {}
            if name in values:
                return values[name]
        if _looks_like_metric(name):
            return None
        raise AttributeError(f"TrainResult has no attribute or metric {name!r}")

    def as_dict(self, history=False):
        """A JSON-serialisable dict: every field, metrics and info flattened in, history on request."""
        result = asdict(self)
        if not history:
            result.pop("history")
        metrics, info = result.pop("metrics"), result.pop("info")
        return {**metrics, **result, **info}

    def __repr__(self):
        scores = "  ".join(f"{name}={_format(value)}" for name, value in self.metrics.items()
                           if name.endswith(("_acc", "_auc", "_ap")))
        stopped = f", stopped early at best epoch {self.best_epoch}" if self.stopped_early else ""
        return (f"TrainResult({scores}{'  ' if scores else ''}epochs={self.epochs}{stopped}, "
                f"{1000 * self.seconds_per_epoch:.1f} ms/epoch)")


_SPLITS = ("train_", "val_", "test_")


def _looks_like_metric(name):
    return name.startswith(_SPLITS)


def _format(value):
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:.4f}"
    return str(value)
