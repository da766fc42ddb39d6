"""The training loop every task shares: :func:`fit`.

A task supplies a ``train_step(epoch)`` (forward, loss, backward and
optimizer step over the epoch's data, returning its metrics) and an
``evaluate(epoch)`` (metrics of the model in eval mode); :func:`fit` runs
the epochs, evaluates every ``eval_every`` epochs, reports progress, stops
early on a criterion of :mod:`fastgnn.train.stopping`, restores the best
weights when the criterion asks, and applies one thread policy. It knows
nothing of layers, losses or data.

Thread policy (the same for every task): NumPy's BLAS is limited to
``blas_threads`` (default 1) while training, since BLAS workers spinning
between matrix products take the cores fastgnn's parallel kernels need
(an epoch ran many times slower without the limit), and ``n_threads``, when
given, is the kernels' thread count for the duration.
"""
import contextlib
import math
import time

import numpy as np

from fastgnn._runtime.blas import limit_blas_threads
from fastgnn._runtime.threads import num_threads
from fastgnn.nn.module import Module
from fastgnn.train.progress import Progress
from fastgnn.train.result import TrainResult

__all__ = ["fit", "thread_policy", "check_epochs"]


def check_epochs(epochs, name="epochs"):
    """``epochs`` as a non-negative int, or ``ValueError``."""
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ValueError(f"{name} must be a non-negative int, got {epochs!r}")
    return int(epochs)


@contextlib.contextmanager
def thread_policy(n_threads=None, blas_threads=1):
    """The training loop's threads: BLAS limited to ``blas_threads`` (None: untouched), kernels to ``n_threads``."""
    blas = limit_blas_threads(blas_threads) if blas_threads is not None else contextlib.nullcontext()
    with blas, num_threads(n_threads):
        yield


def fit(model, train_step, *, epochs, evaluate=None, eval_every=1, stopping=None, progress=None,
        fixed_graph=False, n_threads=None, blas_threads=1):
    """Run a training loop.

    Parameters
    ----------
    model : Module
        The model being trained (for ``fixed_graph`` and best-weight restore).
    train_step : callable
        ``train_step(epoch) -> dict`` of training metrics (e.g.
        ``{"train_loss": 0.41}``); it runs the epoch's forward, backward and
        optimizer steps.
    epochs : int
        The most epochs to run.
    evaluate : callable, optional
        ``evaluate(epoch) -> dict`` of metrics (e.g. ``val_loss``, ``val_acc``),
        run every ``eval_every`` epochs and after the last.
    eval_every : int
    stopping : EarlyStopping, WindowStopping or None
        Watches one of ``evaluate``'s metrics; needs ``evaluate``.
    progress : Progress, optional
        Default: a quiet one.
    fixed_graph : bool
        Run inside ``model.fixed_graph()`` (full-batch training on one graph).
    n_threads, blas_threads : int or None
        See the module documentation.

    Returns
    -------
    TrainResult
        With ``history``, ``epochs``, ``best_epoch``, ``best_value``,
        ``monitor``, ``stopped_early`` and timings; the caller adds the
        final ``metrics``.
    """
    if not isinstance(model, Module):
        raise TypeError(f"model must be a fastgnn.nn.Module, got {type(model).__name__}")
    epochs = check_epochs(epochs)
    if isinstance(eval_every, bool) or not isinstance(eval_every, (int, np.integer)) or eval_every < 1:
        raise ValueError(f"eval_every must be a positive int, got {eval_every!r}")
    if stopping is not None and evaluate is None:
        raise ValueError("early stopping needs an evaluation (there is no validation data)")
    progress = Progress(epochs, "quiet") if progress is None else progress
    if stopping is not None:
        stopping.reset()
    start = time.perf_counter()
    graph_context = model.fixed_graph() if fixed_graph else contextlib.nullcontext()
    with thread_policy(n_threads, blas_threads), graph_context:
        state = _run(model, train_step, epochs, evaluate, int(eval_every), stopping, progress)
    progress.close()
    return TrainResult(
        history=state["history"], epochs=state["epochs"],
        best_epoch=None if stopping is None else stopping.best_epoch,
        monitor=None if stopping is None else stopping.monitor,
        best_value=None if stopping is None else stopping.best_value,
        stopped_early=state["stopped_early"],
        seconds_per_epoch=float(np.mean(state["train_seconds"])) if state["train_seconds"] else 0.0,
        eval_seconds_per_epoch=float(np.mean(state["eval_seconds"])) if state["eval_seconds"] else 0.0,
        total_seconds=time.perf_counter() - start)


def _append(history, metrics):
    for name, value in metrics.items():
        history.setdefault(name, []).append(value)


def _run(model, train_step, epochs, evaluate, eval_every, stopping, progress):
    history = {"epoch": [], "epoch_seconds": []}
    if evaluate is not None:
        history["eval_epoch"] = []
    train_seconds, eval_seconds = [], []
    best_state, stopped_early, epoch = None, False, 0
    for epoch in range(1, epochs + 1):
        tick = time.perf_counter()
        metrics = dict(train_step(epoch))
        tock = time.perf_counter()
        train_seconds.append(tock - tick)
        history["epoch"].append(epoch)
        _append(history, metrics)
        _check_finite(metrics, epoch)
        if evaluate is not None and (epoch % eval_every == 0 or epoch == epochs):
            scores = dict(evaluate(epoch))
            eval_seconds.append(time.perf_counter() - tock)
            history["eval_epoch"].append(epoch)
            _append(history, scores)
            metrics.update(scores)
            if stopping is not None:
                improved, stop = stopping.update(epoch, scores)
                if improved and stopping.restore_best:
                    best_state = model.state_dict()
                if stop:
                    stopped_early = True
        history["epoch_seconds"].append(time.perf_counter() - tick)
        progress.epoch(epoch, metrics, train_seconds[-1])
        if stopped_early:
            progress.message(f"early stopping at epoch {epoch} (best {stopping.monitor} "
                             f"{stopping.best_value:.4f} at epoch {stopping.best_epoch})")
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    return {"history": history, "epochs": epoch, "stopped_early": stopped_early,
            "train_seconds": train_seconds, "eval_seconds": eval_seconds}


def _check_finite(metrics, epoch):
    for name, value in metrics.items():
        if name.endswith("loss") and isinstance(value, float) and not math.isfinite(value):
            raise FloatingPointError(f"training diverged at epoch {epoch}: {name} is {value}")
