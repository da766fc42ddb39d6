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
import math
import sys
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from fastgnn._blas import limit_blas_threads
from fastgnn.data.batch import Batch
from fastgnn.data.kfold import stratified_k_fold
from fastgnn.data.loader import DataLoader
from fastgnn.losses import cross_entropy
from fastgnn.nn.module import Module
from fastgnn.optim import Adam, StepLR

__all__ = [
    "GraphTrainResult",
    "CrossValidationResult",
    "train_graph_classifier",
    "evaluate_graph_classifier",
    "cross_validate_graph_classifier",
    "graph_labels",
]


@dataclass
class GraphTrainResult:
    """What :func:`train_graph_classifier` returns.

    Attributes
    ----------
    train_loss : list of float
        Per epoch: the mean cross-entropy of the training batches (training
        mode, with dropout), weighted by batch size.
    train_acc : list of float
        Per epoch: the accuracy of those same training-mode predictions.
    test_acc, test_loss : list of float
        Per epoch: accuracy and mean cross-entropy on the test graphs in eval
        mode (empty without test graphs).
    epochs : int
    seconds : float
        Wall time of the whole call.
    train_seconds : float
        Time spent in training steps (batching, forward, backward, update).
    graphs_per_second : float
        Training graphs processed per second of ``train_seconds``.
    """

    train_loss: list = field(default_factory=list)
    train_acc: list = field(default_factory=list)
    test_acc: list = field(default_factory=list)
    test_loss: list = field(default_factory=list)
    epochs: int = 0
    seconds: float = 0.0
    train_seconds: float = 0.0
    graphs_per_second: float = 0.0

    def as_dict(self):
        """A JSON-serialisable dict."""
        return asdict(self)


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
    was_training = model.training
    model.eval()
    correct, total, loss_sum = 0, 0, 0.0
    try:
        for batch in batches:
            scores = model(batch.graph, batch.x, batch.ptr)
            loss, _ = cross_entropy(scores, batch.y, reduction="sum")
            loss_sum += loss
            correct += int(np.count_nonzero(scores.argmax(axis=1) == batch.y))
            total += batch.num_graphs
    finally:
        model.train(was_training)
    if total == 0:
        raise ValueError("evaluate_graph_classifier needs at least one graph")
    return correct / total, loss_sum / total


def train_graph_classifier(model, train_graphs, test_graphs=None, *, epochs=350, batch_size=32, lr=0.01,
                           step_size=50, gamma=0.5, weight_decay=0.0, optimizer=None, seed=None,
                           log=None, log_every=1, log_prefix=""):
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
    seed : int, numpy.random.Generator or None
        Shuffling of the training graphs.
    log : callable or None
        Receives the progress lines (``print`` for stdout); None is silent.
    log_every : int
        Log every this many epochs (and the last).
    log_prefix : str
        Prepended to every line (e.g. the fold).

    Returns
    -------
    GraphTrainResult

    Notes
    -----
    NumPy's BLAS is limited to one thread while training
    (:func:`fastgnn._blas.limit_blas_threads`): the matrix products of a
    mini-batch are small, and spinning BLAS workers would take the cores
    fastgnn's kernels use.
    """
    _check_model(model)
    train_graphs = list(train_graphs)
    test_graphs = None if test_graphs is None else list(test_graphs)
    if not train_graphs:
        raise ValueError("train_graphs is empty")
    train_labels = graph_labels(train_graphs)
    epochs = int(epochs)
    if epochs < 0:
        raise ValueError(f"epochs must be >= 0, got {epochs}")
    start_time = time.perf_counter()
    test_batches = None
    if test_graphs:
        graph_labels(test_graphs)
        test_batches = _batches(test_graphs, max(512, int(batch_size)))
    loader = DataLoader(train_graphs, batch_size, shuffle=True, seed=seed)
    if optimizer is None:
        optimizer = Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    scheduler = StepLR(optimizer, step_size, gamma) if step_size else None
    result = GraphTrainResult()
    with limit_blas_threads(1):
        train_seconds = _train_epochs(model, loader, optimizer, scheduler, test_batches, epochs, train_labels,
                                      result, log, log_every, log_prefix)
    result.epochs = epochs
    result.train_seconds = train_seconds
    result.seconds = time.perf_counter() - start_time
    result.graphs_per_second = (epochs * len(train_labels) / train_seconds) if train_seconds > 0 else 0.0
    return result


def _train_epochs(model, loader, optimizer, scheduler, test_batches, epochs, train_labels, result, log, log_every,
                  log_prefix):
    train_seconds = 0.0
    model.train()
    for epoch in range(1, epochs + 1):
        epoch_start = time.perf_counter()
        loss_sum, correct = 0.0, 0
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
        train_seconds += time.perf_counter() - epoch_start
        result.train_loss.append(loss_sum / len(train_labels))
        result.train_acc.append(correct / len(train_labels))
        if test_batches is not None:
            test_acc, test_loss = evaluate_graph_classifier(model, test_batches)
            result.test_acc.append(test_acc)
            result.test_loss.append(test_loss)
        if log is not None and (epoch % max(1, int(log_every)) == 0 or epoch == epochs):
            line = (f"{log_prefix}epoch {epoch:4d}/{epochs}  loss {result.train_loss[-1]:.4f}  "
                    f"train_acc {result.train_acc[-1]:.4f}")
            if test_batches is not None:
                line += f"  test_acc {result.test_acc[-1]:.4f}  test_loss {result.test_loss[-1]:.4f}"
            line += f"  lr {optimizer.param_groups[0]['lr']:.2e}"
            log(line)
        if not math.isfinite(result.train_loss[-1]):
            raise FloatingPointError(f"training diverged at epoch {epoch}: loss {result.train_loss[-1]}")
    return train_seconds


@dataclass
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
    fold_results : list of GraphTrainResult
    folds : list of (train_index, test_index)
    seconds : float
        Wall time of the whole cross-validation.
    graphs_per_second : float
        Training throughput over all folds.
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
        }


def _std(values):
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def cross_validate_graph_classifier(make_model, graphs, *, num_folds=10, epochs=350, batch_size=32, lr=0.01,
                                    step_size=50, gamma=0.5, weight_decay=0.0, seed=0, folds=None, log=None,
                                    log_every=1):
    """Stratified k-fold cross-validation of a graph classifier (the GIN paper's protocol).

    Parameters
    ----------
    make_model : callable
        ``make_model(rng) -> Module``, a fresh model per fold built from the
        fold's ``numpy.random.Generator`` (weights and dropout masks).
    graphs : sequence of GraphData
        With integer class labels (e.g. a :class:`fastgnn.datasets.TUDataset`).
    num_folds : int
    epochs, batch_size, lr, step_size, gamma, weight_decay
        See :func:`train_graph_classifier`.
    seed : int
        Seeds the folds and, through independent child seeds, each fold's
        model and shuffling: one seed reproduces the whole run.
    folds : list of (train_index, test_index), optional
        Use these folds instead of :func:`fastgnn.data.stratified_k_fold`.
    log : callable or None
        Progress lines (per epoch, every ``log_every``, and per fold).

    Returns
    -------
    CrossValidationResult
    """
    start = time.perf_counter()
    graphs = list(graphs)
    labels = graph_labels(graphs)
    seeds = np.random.SeedSequence(seed)
    fold_seed, *run_seeds = seeds.spawn(1 + (num_folds if folds is None else len(folds)))
    if folds is None:
        folds = stratified_k_fold(labels, num_folds, seed=np.random.default_rng(fold_seed))
    results = []
    graphs_trained, train_seconds = 0, 0.0
    for number, ((train_index, test_index), run_seed) in enumerate(zip(folds, run_seeds), start=1):
        model_seed, shuffle_seed = run_seed.spawn(2)
        model = make_model(np.random.default_rng(model_seed))
        result = train_graph_classifier(
            model, [graphs[i] for i in train_index], [graphs[i] for i in test_index], epochs=epochs,
            batch_size=batch_size, lr=lr, step_size=step_size, gamma=gamma, weight_decay=weight_decay,
            seed=np.random.default_rng(shuffle_seed), log=log, log_every=log_every,
            log_prefix=f"fold {number:2d}/{len(folds)}  ")
        results.append(result)
        graphs_trained += epochs * len(train_index)
        train_seconds += result.train_seconds
        if log is not None:
            last = result.test_acc[-1] if result.test_acc else float("nan")
            best = max(result.test_acc) if result.test_acc else float("nan")
            log(f"fold {number:2d}/{len(folds)} done: test_acc last {last:.4f}, best {best:.4f}, "
                f"{result.seconds:.1f} s ({result.graphs_per_second:.0f} graphs/s)")
    accuracy = np.array([r.test_acc for r in results], dtype=np.float64).reshape(len(results), -1)
    if accuracy.shape[1]:
        best = int(np.argmax(accuracy.mean(axis=0)))
        at_best, last = accuracy[:, best], accuracy[:, -1]
        summary = (best + 1, float(at_best.mean()), _std(at_best), float(last.mean()), _std(last))
    else:
        summary = (0, float("nan"), float("nan"), float("nan"), float("nan"))
    train_last = [r.train_acc[-1] for r in results if r.train_acc]
    return CrossValidationResult(
        test_acc=accuracy, best_epoch=summary[0], test_acc_mean=summary[1], test_acc_std=summary[2],
        test_acc_last_mean=summary[3], test_acc_last_std=summary[4],
        train_acc_last_mean=float(np.mean(train_last)) if train_last else float("nan"),
        fold_results=results, folds=folds, seconds=time.perf_counter() - start,
        graphs_per_second=graphs_trained / train_seconds if train_seconds > 0 else 0.0)


def print_log(line):
    """A ``log`` for the functions above: print to stdout, flushed."""
    print(line, file=sys.stdout, flush=True)
