"""Training and cross-validation of graph classifiers on mini-batches of graphs.

:func:`train_graph_classifier` runs the GIN paper's loop: each epoch one pass
over the training graphs in shuffled mini-batches (forward in training mode,
softmax cross-entropy over the batch's graphs, backward, Adam step), then the
learning-rate schedule (halved every 50 epochs) and, when test graphs are
given, their accuracy in eval mode. :func:`cross_validate_graph_classifier`
repeats it over stratified folds and reports the accuracy two ways:

paper protocol (Xu et al., 2019)
    Average the per-epoch test accuracies over the folds and take the
    single epoch where that average is best; report the mean and standard
    deviation of the folds' accuracies at that epoch. It selects the epoch
    on the test folds, so it is optimistic: it is the number the paper and
    its followers publish.
last epoch
    The mean and standard deviation of the folds' accuracies after the
    last epoch, which involves no selection.
"""
import time
import warnings
from dataclasses import dataclass

import numpy as np

from fastgnn._runtime.random import as_generator
from fastgnn._runtime.threads import check_num_threads, get_num_threads
from fastgnn.data.batch import Batch
from fastgnn.data.kfold import stratified_k_fold
from fastgnn.data.loader import DataLoader
from fastgnn.losses import cross_entropy
from fastgnn.nn.module import Module
from fastgnn.optim import Adam, StepLR
from fastgnn.train.loop import check_epochs, fit
from fastgnn.train.processes import WorkerError, can_start_workers, is_picklable, run_in_processes
from fastgnn.train.progress import Progress, as_progress

__all__ = [
    "CrossValidationResult",
    "train_graph_classifier",
    "evaluate_graph_classifier",
    "cross_validate_graph_classifier",
    "graph_labels",
    "WorkerError",
]


def graph_labels(graphs):
    """The integer class of every graph, as an int64 array (``y`` must be a scalar class id)."""
    labels = []
    for index, graph in enumerate(graphs):
        y = graph.y
        if y is None or np.ndim(y) != 0 or np.asarray(y).dtype.kind not in "iu":
            raise ValueError(f"graph {index} has no integer class label y (got {y!r}); "
                             "graph classification needs one class id per graph")
        labels.append(int(y))
    return np.asarray(labels, dtype=np.int64)


def _batches(graphs, batch_size):
    return [Batch.from_graphs(graphs[start:start + batch_size]) for start in range(0, len(graphs), batch_size)]


def _check_model(model):
    if not isinstance(model, Module):
        raise TypeError(f"model must be a fastgnn.nn.Module, got {type(model).__name__}")


def evaluate_graph_classifier(model, batches, num_classes=None):
    """Accuracy and mean cross-entropy of ``model`` (in eval mode) over some graphs.

    Parameters
    ----------
    model : Module
        Called as ``model(graph, x, ptr)``; restored to its previous mode.
    batches : sequence of Batch, or sequence of GraphData
        Graphs with integer labels ``y``; GraphData are batched by 512.

    Returns
    -------
    (accuracy, loss) : (float, float)
    """
    _check_model(model)
    batches = list(batches)
    if batches and not isinstance(batches[0], Batch):
        batches = _batches(batches, 512)
    correct, total, loss_sum = 0, 0, 0.0
    with model.evaluating():
        for batch in batches:
            scores = model(batch.graph, batch.x, batch.ptr)
            loss, _ = cross_entropy(scores, batch.y, reduction="sum")
            loss_sum += loss
            correct += int(np.count_nonzero(scores.argmax(axis=1) == batch.y))
            total += batch.num_graphs
    if total == 0:
        raise ValueError("evaluate_graph_classifier needs at least one graph")
    return correct / total, loss_sum / total


def train_graph_classifier(model, train_graphs, test_graphs=None, *, epochs=350, batch_size=32, lr=0.01,
                           step_size=50, gamma=0.5, weight_decay=0.0, optimizer=None, rng=None,
                           progress=None, log_every=1, log=None, log_prefix="", n_threads=None, blas_threads=1):
    """Train a graph classifier with mini-batches, Adam and a step learning-rate schedule.

    Parameters
    ----------
    model : Module
        Called as ``model(graph, x, ptr)``, returning ``(num_graphs, C)``
        scores; ``model.backward(grad)`` accumulates its gradients.
    train_graphs : sequence of GraphData
        With integer class labels ``y``.
    test_graphs : sequence of GraphData, optional
        Evaluated after every epoch (eval mode).
    epochs : int
    batch_size : int
    lr : float
        Adam's initial learning rate (0.01 in the GIN paper).
    step_size, gamma : int, float
        Multiply the rate by ``gamma`` every ``step_size`` epochs (halved
        every 50 in the paper). ``step_size=None`` keeps it constant.
    weight_decay : float
    optimizer : Optimizer, optional
        Used instead of a new ``Adam(model.parameters(), lr, weight_decay)``.
    rng : int, numpy.random.Generator or None
        Shuffling of the training graphs.
    progress, log_every, log
        Per-epoch progress, as in :func:`fastgnn.train.train_node_classifier`.
    log_prefix : str
        Prepended to every progress line (e.g. the fold).
    n_threads, blas_threads : int or None
        The loop's thread policy (see :func:`fastgnn.train.fit`).

    Returns
    -------
    TrainResult
        ``history``: per epoch ``train_loss`` and ``train_acc`` (training
        mode, the mean over the epoch's batches weighted by their size),
        ``test_acc`` and ``test_loss`` (eval mode) with test graphs, ``lr``;
        ``metrics``: the last epoch's values; ``info``: ``train_seconds``,
        ``graphs_per_second``.
    """
    if not isinstance(model, Module):
        raise TypeError(f"model must be a fastgnn.nn.Module, got {type(model).__name__}")
    train_graphs = list(train_graphs)
    test_graphs = None if test_graphs is None else list(test_graphs)
    if not train_graphs:
        raise ValueError("train_graphs is empty")
    train_labels = graph_labels(train_graphs)
    epochs = check_epochs(epochs)
    start_time = time.perf_counter()
    test_batches = None
    if test_graphs:
        graph_labels(test_graphs)
        test_batches = _batches(test_graphs, max(512, int(batch_size)))
    loader = DataLoader(train_graphs, batch_size, shuffle=True, rng=rng)
    if optimizer is None:
        optimizer = Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    scheduler = StepLR(optimizer, step_size, gamma) if step_size else None
    num_train = len(train_labels)

    def train_step(epoch):
        model.train()
        loss_sum, correct = 0.0, 0
        rate = optimizer.param_groups[0]["lr"]
        for batch in loader:
            optimizer.zero_grad()
            scores = model(batch.graph, batch.x, batch.ptr)
            loss, grad = cross_entropy(scores, batch.y)
            model.backward(grad)
            optimizer.step()
            loss_sum += loss * batch.num_graphs
            correct += int(np.count_nonzero(scores.argmax(axis=1) == batch.y))
        if scheduler is not None:
            scheduler.step()
        return {"train_loss": loss_sum / num_train, "train_acc": correct / num_train, "lr": rate}

    def test(epoch):
        accuracy, loss = evaluate_graph_classifier(model, test_batches)
        return {"test_acc": accuracy, "test_loss": loss}

    result = fit(model, train_step, epochs=epochs, evaluate=None if test_batches is None else test,
                 progress=as_progress(progress, epochs, log_every=log_every, prefix=log_prefix, log=log),
                 n_threads=n_threads, blas_threads=blas_threads)
    history = result.history
    result.metrics = {name: history[name][-1] for name in ("train_loss", "train_acc", "test_acc", "test_loss")
                      if history.get(name)}
    train_seconds = result.seconds_per_epoch * result.epochs  # batching, forward, backward, updates
    result.info = {"train_seconds": train_seconds,
                   "graphs_per_second": result.epochs * num_train / train_seconds if train_seconds > 0 else 0.0}
    result.total_seconds = time.perf_counter() - start_time
    return result


@dataclass(repr=False)
class CrossValidationResult:
    """What :func:`cross_validate_graph_classifier` returns.

    Attributes
    ----------
    test_acc : ndarray of shape (num_folds, epochs)
        Test accuracy of every fold after every epoch.
    best_epoch : int
        The epoch (1-based) whose fold-averaged test accuracy is best (the
        first on ties): the paper's protocol.
    test_acc_mean, test_acc_std : float
        Mean and standard deviation (over folds, ``ddof=1`` as
        ``torch.std``) of the test accuracy at ``best_epoch``.
    test_acc_last_mean, test_acc_last_std : float
        The same after the last epoch.
    train_acc_last_mean : float
        Mean over folds of the last epoch's training-mode accuracy.
    fold_results : list of TrainResult
    folds : list of (train_index, test_index)
    seconds : float
        Wall time of the whole cross-validation.
    graphs_per_second : float
        Training throughput of one fold's loop: the graphs trained over the
        folds' summed training time (per process, when folds run in parallel).
    processes : int
        How many folds trained at once (1: one after another in this process).
    wall_graphs_per_second : float
        The graphs trained over all folds and epochs, over ``seconds``: the
        throughput of the whole run, parallel folds, evaluation and start-up
        included.
    """

    test_acc: np.ndarray
    best_epoch: int
    test_acc_mean: float
    test_acc_std: float
    test_acc_last_mean: float
    test_acc_last_std: float
    train_acc_last_mean: float
    fold_results: list
    folds: list
    seconds: float
    graphs_per_second: float
    processes: int = 1
    wall_graphs_per_second: float = 0.0

    def __repr__(self):
        # One line: the per-epoch accuracies and the folds' results stay in their attributes.
        return (f"CrossValidationResult(folds={len(self.fold_results)}, best_epoch={self.best_epoch}, "
                f"test_acc={self.test_acc_mean:.4f} ± {self.test_acc_std:.4f}, "
                f"last epoch {self.test_acc_last_mean:.4f} ± {self.test_acc_last_std:.4f}, {self.seconds:.1f} s)")

    def summary(self):
        """The headline numbers as a JSON-serialisable dict."""
        return {
            "test_acc_mean": self.test_acc_mean,
            "test_acc_std": self.test_acc_std,
            "best_epoch": self.best_epoch,
            "test_acc_last_mean": self.test_acc_last_mean,
            "test_acc_last_std": self.test_acc_last_std,
            "train_acc_last_mean": self.train_acc_last_mean,
            "fold_test_acc": [float(a) for a in self.test_acc[:, self.best_epoch - 1]] if self.test_acc.size else [],
            "fold_test_acc_last": [float(a) for a in self.test_acc[:, -1]] if self.test_acc.size else [],
            "seconds": self.seconds,
            "graphs_per_second": self.graphs_per_second,
            "processes": self.processes,
            "wall_graphs_per_second": self.wall_graphs_per_second,
        }


def _std(values):
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def _train_fold(make_model, graphs, train_index, test_index, run_seed, settings, progress, log_prefix,
                n_threads):
    """Train one fold's fresh model: the same computation in this process or in a worker."""
    model_seed, shuffle_seed = run_seed.spawn(2)
    model = make_model(np.random.default_rng(model_seed))
    return train_graph_classifier(
        model, [graphs[i] for i in train_index], [graphs[i] for i in test_index], **settings,
        rng=np.random.default_rng(shuffle_seed), progress=progress, log_prefix=log_prefix, n_threads=n_threads)


class _ReportingProgress(Progress):
    """A worker's progress: every epoch and message goes to the parent, which prints it."""

    def __init__(self, epochs, report):
        super().__init__(epochs, "lines", log=report)
        self.report = report

    def epoch(self, epoch, metrics, seconds):
        self.report(("epoch", epoch, dict(metrics), seconds))

    def message(self, text):
        self.report(("message", text))

    def close(self):
        pass


def _fold_in_worker(shared, task, report):
    """:func:`_train_fold` in a worker process (one kernel thread; BLAS is on one thread there too)."""
    make_model, graphs, settings, epochs = shared
    train_index, test_index, run_seed, with_progress = task
    progress = _ReportingProgress(epochs, report) if with_progress else None
    return _train_fold(make_model, graphs, train_index, test_index, run_seed, settings, progress, "", 1)


def _fold_processes(n_threads, num_folds, make_model):
    """Worker processes for the folds: the thread count (capped by the folds), or 0 to stay in this process."""
    threads = get_num_threads() if n_threads is None else check_num_threads(n_threads, "n_threads")
    processes = min(threads, num_folds)
    if processes < 2:
        return 0
    if not can_start_workers():
        warnings.warn("worker processes cannot start from this program (its __main__ is not a file they can "
                      "import), so the folds run one after another in this process; run it as a script file or "
                      "with python -m", RuntimeWarning, stacklevel=3)
        return 0
    if not is_picklable(make_model):
        warnings.warn("make_model cannot be sent to a worker process (a lambda, a local function, or a function "
                      "of an interactive session?), so the folds run one after another in this process; pass a "
                      "function of an importable module, a functools.partial of one or a "
                      "fastgnn.models.GraphClassifierFactory to train them in parallel", RuntimeWarning,
                      stacklevel=3)
        return 0
    return processes


def cross_validate_graph_classifier(make_model, graphs, *, num_folds=10, epochs=350, batch_size=32, lr=0.01,
                                    step_size=50, gamma=0.5, weight_decay=0.0, rng=0, folds=None, progress=None,
                                    log_every=1, log=None, n_threads=None):
    """Stratified k-fold cross-validation of a graph classifier (the GIN paper's protocol).

    Parameters
    ----------
    make_model : callable
        ``make_model(rng) -> Module``, a fresh model per fold built from the
        fold's ``numpy.random.Generator`` (weights and dropout masks). To
        train folds in parallel it must be picklable: a module-level
        function, a ``functools.partial`` of one, or a
        :class:`fastgnn.models.GraphClassifierFactory` (not a lambda).
    graphs : sequence of GraphData
        With integer class labels (e.g. a :class:`fastgnn.datasets.TUDataset`).
    num_folds : int
    epochs, batch_size, lr, step_size, gamma, weight_decay
        See :func:`train_graph_classifier`.
    rng : int, numpy.random.Generator or None
        Seeds the folds and, through independent child seeds, each fold's
        model and shuffling: one seed reproduces the whole run.
    folds : list of (train_index, test_index), optional
        Use these folds instead of :func:`fastgnn.data.stratified_k_fold`.
    progress, log_every, log
        Per-epoch progress of each fold, as in :func:`train_graph_classifier`,
        plus a line per fold. With folds in parallel, lines are printed as
        they come (each prefixed by its fold) and a live terminal line
        becomes plain lines.
    n_threads : int or None
        Threads (default :func:`fastgnn.get_num_threads`). With 2 or more,
        up to that many folds train at once, each in a worker process with
        one kernel thread and one BLAS thread (the batches of small graphs
        are too small for the kernels' threads, and Python threads would
        take turns on the GIL); with 1, or an unpicklable ``make_model``
        (a ``RuntimeWarning``), the folds run one after another in this
        process. The results are bitwise the same either way.

    Returns
    -------
    CrossValidationResult

    Raises
    ------
    WorkerError
        A worker process died (e.g. killed), or failed with an exception
        that cannot be pickled. An exception a fold raises in a worker is
        raised again here, with the worker's traceback as its cause; the
        other workers are stopped (as on ``KeyboardInterrupt``).

    Notes
    -----
    Workers are started with :mod:`multiprocessing`'s ``spawn`` method (no
    ``fork`` of a process whose OpenMP threads have run): a script that
    calls this with several threads needs an ``if __name__ == "__main__":``
    guard. Each worker receives the graphs once.
    """
    start = time.perf_counter()
    graphs = list(graphs)
    labels = graph_labels(graphs)
    # The generator's own seed sequence: an int seed spawns exactly what SeedSequence(seed) does.
    seeds = as_generator(rng).bit_generator.seed_seq
    fold_seed, *run_seeds = seeds.spawn(1 + (num_folds if folds is None else len(folds)))
    if folds is None:
        folds = stratified_k_fold(labels, num_folds, rng=np.random.default_rng(fold_seed))
    epochs = check_epochs(epochs)
    settings = dict(epochs=epochs, batch_size=batch_size, lr=lr, step_size=step_size, gamma=gamma,
                    weight_decay=weight_decay, log_every=log_every)
    count = len(folds)

    def prefix(index):
        return f"fold {index + 1:2d}/{count}  "

    def fold_done(index, result):
        fold_accuracy = result.history.get("test_acc", [])
        last = fold_accuracy[-1] if fold_accuracy else float("nan")
        best = max(fold_accuracy) if fold_accuracy else float("nan")
        as_progress(progress, epochs, log=log).message(
            f"fold {index + 1:2d}/{count} done: test_acc last {last:.4f}, best {best:.4f}, "
            f"{result.total_seconds:.1f} s ({result.graphs_per_second:.0f} graphs/s)")

    processes = _fold_processes(n_threads, count, make_model)
    if processes:
        parallel_progress = "lines" if progress is True or progress in ("auto", "live") else progress
        progresses = [as_progress(parallel_progress, epochs, log_every=log_every, prefix=prefix(i), log=log)
                      for i in range(count)]
        with_progress = not all(p.quiet for p in progresses)

        def on_event(index, event):
            if event[0] == "epoch":
                progresses[index].epoch(*event[1:])
            else:
                progresses[index].message(event[1])

        tasks = [(np.asarray(train_index), np.asarray(test_index), run_seed, with_progress)
                 for (train_index, test_index), run_seed in zip(folds, run_seeds)]
        results = run_in_processes(_fold_in_worker, (make_model, graphs, settings, epochs), tasks, processes,
                                   on_event=on_event, on_result=fold_done,
                                   describe=lambda index: f"fold {index + 1}/{count}")
    else:
        results = []
        for index, ((train_index, test_index), run_seed) in enumerate(zip(folds, run_seeds)):
            result = _train_fold(make_model, graphs, train_index, test_index, run_seed, settings,
                                 as_progress(progress, epochs, log_every=log_every, prefix=prefix(index), log=log),
                                 prefix(index), n_threads)
            results.append(result)
            fold_done(index, result)
    graphs_trained = sum(epochs * len(train_index) for train_index, _ in folds)
    train_seconds = sum(result.train_seconds for result in results)
    accuracy = np.array([r.history.get("test_acc", []) for r in results], dtype=np.float64).reshape(
        len(results), -1)
    if accuracy.shape[1]:
        best = int(np.argmax(accuracy.mean(axis=0)))
        at_best, last = accuracy[:, best], accuracy[:, -1]
        summary = (best + 1, float(at_best.mean()), _std(at_best), float(last.mean()), _std(last))
    else:
        summary = (0, float("nan"), float("nan"), float("nan"), float("nan"))
    train_last = [r.history["train_acc"][-1] for r in results if r.history.get("train_acc")]
    seconds = time.perf_counter() - start
    return CrossValidationResult(
        test_acc=accuracy, best_epoch=summary[0], test_acc_mean=summary[1], test_acc_std=summary[2],
        test_acc_last_mean=summary[3], test_acc_last_std=summary[4],
        train_acc_last_mean=float(np.mean(train_last)) if train_last else float("nan"),
        fold_results=results, folds=folds, seconds=seconds,
        graphs_per_second=graphs_trained / train_seconds if train_seconds > 0 else 0.0,
        processes=processes or 1,
        wall_graphs_per_second=graphs_trained / seconds if seconds > 0 else 0.0)
