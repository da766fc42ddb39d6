"""Training and evaluation of node classifiers, transductive or inductive.

:func:`train_node_classifier` runs the usual full-batch loop: each epoch one
training step (forward in training mode, softmax cross-entropy on the
training nodes, backward, optimizer step), then an evaluation of the
validation loss and accuracy in eval mode (no dropout), progress printed on
request, and early stopping on the validation loss. :func:`evaluate` gives
the accuracy and loss of any node subsets.

Two early-stopping criteria are offered; the test set is never looked at
before training has ended:

``"window"`` (default, Kipf and Welling's criterion, the GCN paper's code)
    From epoch ``t = window + 2`` on (1-based), stop when the validation
    loss of epoch ``t`` is higher than the mean of the ``window`` epochs
    before it (exactly the test of the paper's code). The model
    evaluated at the end is the one of the last epoch run.
``"patience"``
    Stop when the validation loss has not improved on its best value for
    ``patience`` epochs; the weights of the best epoch are restored.
``None``
    Run every epoch.

**Inductive mode** (``inductive=True``): the model trains on the subgraph
induced by the training nodes (:meth:`fastgnn.Graph.subgraph`, relabelled:
a separate graph that holds no validation or test node and no edge to one),
with those nodes' features and labels; validation and test are evaluated on
the full graph, whose other nodes the model has never seen.
"""
import contextlib
import math
import sys
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from fastgnn._blas import limit_blas_threads
from fastgnn.graph import Graph
from fastgnn.losses import cross_entropy
from fastgnn.metrics import accuracy
from fastgnn.nn.conv import GCNConv
from fastgnn.nn.module import Module

__all__ = ["TrainResult", "train_node_classifier", "evaluate", "check_node_inputs", "EARLY_STOPPING"]

#: The early-stopping criteria of :func:`train_node_classifier`.
EARLY_STOPPING = ("window", "patience", None)


@dataclass
class TrainResult:
    """What :func:`train_node_classifier` returns.

    Attributes
    ----------
    train_acc, val_acc, test_acc : float or None
        Accuracy of the final model (after restoring the best weights, in
        ``"patience"`` mode) on each split; None for a split without mask.
    train_loss, val_loss, test_loss : float or None
        Mean cross-entropy of the final model on each split (eval mode).
    epochs : int
        Epochs run.
    best_epoch : int or None
        The epoch (1-based) of the lowest validation loss.
    best_val_loss : float or None
    stopped_early : bool
    seconds_per_epoch : float
        Mean wall time of one training step (forward, backward, optimizer step).
    eval_seconds_per_epoch : float
        Mean wall time of the per-epoch validation pass.
    total_seconds : float
        The whole call, setup and final evaluation included.
    history : dict of str to list of float
        Per epoch: ``train_loss`` (training mode, with dropout), ``val_loss``
        and ``val_acc`` (eval mode), ``epoch_seconds``.
    early_stopping : str or None
    inductive : bool
    """

    train_acc: float = None
    val_acc: float = None
    test_acc: float = None
    train_loss: float = None
    val_loss: float = None
    test_loss: float = None
    epochs: int = 0
    best_epoch: int = None
    best_val_loss: float = None
    stopped_early: bool = False
    seconds_per_epoch: float = 0.0
    eval_seconds_per_epoch: float = 0.0
    total_seconds: float = 0.0
    history: dict = field(default_factory=dict)
    early_stopping: str = "window"
    inductive: bool = False

    def as_dict(self, history=False):
        """A JSON-serialisable dict (the per-epoch history only with ``history=True``)."""
        result = asdict(self)
        if not history:
            result.pop("history")
        return result


# ---------------------------------------------------------------------- input checks
def _as_labels(y, num_nodes, name="y"):
    array = np.asarray(y)
    if array.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer class ids, got dtype {array.dtype}")
    if array.ndim != 1 or array.shape[0] != num_nodes:
        raise ValueError(f"{name} must have shape ({num_nodes},), one label per node of the graph, "
                         f"got shape {array.shape}")
    return array


def _as_node_mask(mask, num_nodes, name):
    if mask is None:
        return None
    array = np.asarray(mask)
    if array.dtype != np.bool_:
        raise TypeError(f"{name} must be a boolean mask of length {num_nodes}, got dtype {array.dtype} "
                        "(turn node ids into a mask: m = np.zeros(num_nodes, bool); m[ids] = True)")
    if array.ndim != 1 or array.shape[0] != num_nodes:
        raise ValueError(f"{name} must have shape ({num_nodes},), one entry per node of the graph, "
                         f"got shape {array.shape}")
    if not array.any():
        raise ValueError(f"{name} selects no node")
    return array


def check_node_inputs(graph, x, y, masks, dtype=None):
    """Validate the inputs of node classification; return ``(x, y, masks)`` ready to use.

    Parameters
    ----------
    graph : Graph
        A square graph.
    x : array_like of float, shape (num_nodes, num_features)
    y : array_like of int, shape (num_nodes,)
    masks : dict of str to (array_like of bool, shape (num_nodes,), or None)
        Named node masks, e.g. ``{"train_mask": ..., "val_mask": ...}``.
    dtype : float32 or float64, optional
        Cast ``x`` to it (the model's dtype) once, here.

    Raises
    ------
    TypeError
        ``graph`` not a Graph, ``x`` not float, ``y`` not integer, a mask
        not boolean; the message names the argument.
    ValueError
        A length that does not match the graph's node count, or a mask
        selecting nothing; the message names the argument.
    """
    if not isinstance(graph, Graph):
        raise TypeError(f"graph must be a fastgnn.Graph, got {type(graph).__name__}")
    if not graph.is_square:
        raise ValueError(f"node classification needs a square graph, got {graph.num_src_nodes} source "
                         f"and {graph.num_dst_nodes} destination nodes")
    num_nodes = graph.num_nodes
    features = np.asarray(x)
    if features.dtype.kind != "f":
        raise TypeError(f"x must be a float array of node features, got dtype {features.dtype}")
    if features.ndim != 2 or features.shape[0] != num_nodes:
        raise ValueError(f"x must have shape ({num_nodes}, num_features), one row per node of the graph, "
                         f"got shape {features.shape}")
    if dtype is not None:
        features = np.ascontiguousarray(features, dtype=dtype)
    labels = _as_labels(y, num_nodes)
    checked = {name: _as_node_mask(mask, num_nodes, name) for name, mask in masks.items()}
    return features, labels, checked


def _model_dtype(model):
    dtype = getattr(model, "dtype", None)
    if dtype is not None:
        return np.dtype(dtype)
    for param in model.parameters():
        return param.dtype
    return None


# ---------------------------------------------------------------------- evaluation
def _split_name(key):
    return key[:-5] if key.endswith("_mask") else key


def evaluate(model, graph, x, y, masks):
    """Accuracy and mean cross-entropy of ``model`` on node subsets, in eval mode.

    Parameters
    ----------
    model : Module
        Called as ``model(graph, x)``, returning logits (num_nodes, num_classes).
    graph : Graph
    x : ndarray (num_nodes, num_features)
    y : ndarray of int (num_nodes,)
    masks : dict of str to bool ndarray, or one bool ndarray
        Named subsets, e.g. ``{"val": val_mask, "test": test_mask}``
        (a ``_mask`` suffix is dropped from the names); a single mask is
        named ``""``.

    Returns
    -------
    dict
        ``{name}_acc`` and ``{name}_loss`` for each subset (``acc`` and
        ``loss`` for a single mask).

    Notes
    -----
    One forward pass in eval mode (no dropout, nothing cached for a
    backward); the model's previous mode is restored afterwards.
    """
    single = not isinstance(masks, dict)
    named = {"": masks} if single else dict(masks)
    x, y, named = check_node_inputs(graph, x, y, named, _model_dtype(model))
    was_training = model.training
    model.eval()
    try:
        logits = model(graph, x)
    finally:
        model.train(was_training)
    result = {}
    for name, mask in named.items():
        if mask is None:
            continue
        prefix = f"{_split_name(name)}_" if name else ""
        loss, _ = cross_entropy(logits, y, mask)
        result[f"{prefix}acc"] = accuracy(logits, y, mask)
        result[f"{prefix}loss"] = loss
    return result


# ---------------------------------------------------------------------- training
def train_node_classifier(model, graph, x, y, train_mask, val_mask, test_mask, optimizer, *, epochs=200,
                          patience=10, early_stopping="window", restore_best=None, inductive=False,
                          verbose=False, log=None, blas_threads=1):
    """Train a node classifier with full-batch gradient descent and early stopping.

    Parameters
    ----------
    model : Module
        ``model(graph, x)`` returns logits; ``model.backward(grad)`` fills
        the parameter gradients (e.g. a :class:`fastgnn.models.GCN`).
    graph : Graph
    x : ndarray of float (num_nodes, num_features)
        Cast once to the model's dtype.
    y : ndarray of int (num_nodes,)
    train_mask, val_mask, test_mask : ndarray of bool (num_nodes,)
        ``val_mask`` may be None (then no early stopping), ``test_mask``
        too (no test accuracy).
    optimizer : fastgnn.optim.Optimizer
        Over the model's parameters.
    epochs : int
        Maximum number of epochs.
    patience : int
        The window (``"window"``) or patience (``"patience"``) of early stopping.
    early_stopping : {'window', 'patience', None}
        See the module documentation; ``'window'`` is Kipf and Welling's.
    restore_best : bool, optional
        Load the weights of the epoch with the lowest validation loss before
        the final evaluation. Default: True for ``'patience'``, False otherwise.
    inductive : bool
        Train on ``graph.subgraph(train_mask)`` with the training nodes'
        features and labels; validate and test on the full graph.
    verbose : bool or int
        Print one line per epoch (``True``), every ``verbose`` epochs (an
        int), or nothing.
    log : callable, optional
        Receives each progress line (default: print to stdout).
    blas_threads : int or None
        Threads of NumPy's BLAS during training (default 1, see
        :func:`fastgnn.limit_blas_threads`: BLAS workers that spin between
        matrix products take the cores fastgnn's parallel kernels need, and
        an epoch then runs many times slower); None leaves BLAS alone.

    Returns
    -------
    TrainResult

    Notes
    -----
    Every :class:`~fastgnn.nn.GCNConv` of the model caches its normalized
    graph while this function runs (as ``cached=True``), so the
    normalization costs ``O(E)`` once rather than every epoch; layers built
    with ``cached=False`` get that setting and an empty cache back at the end.

    Raises
    ------
    TypeError, ValueError
        Inputs that do not fit the graph (naming the argument), an unknown
        ``early_stopping``, non-positive ``epochs`` or ``patience``.
    """
    if not isinstance(model, Module):
        raise TypeError(f"model must be a fastgnn.nn.Module, got {type(model).__name__}")
    if early_stopping not in EARLY_STOPPING:
        raise ValueError(f"early_stopping must be 'window', 'patience' or None, got {early_stopping!r}")
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ValueError(f"epochs must be a non-negative int, got {epochs!r}")
    if isinstance(patience, bool) or not isinstance(patience, (int, np.integer)) or patience < 1:
        raise ValueError(f"patience must be a positive int, got {patience!r}")
    start = time.perf_counter()
    x, y, masks = check_node_inputs(graph, x, y, {"train_mask": train_mask, "val_mask": val_mask,
                                                  "test_mask": test_mask}, _model_dtype(model))
    train_mask, val_mask, test_mask = masks["train_mask"], masks["val_mask"], masks["test_mask"]
    if train_mask is None:
        raise ValueError("train_mask is required")
    if val_mask is None:
        early_stopping = None
    if restore_best is None:
        restore_best = early_stopping == "patience"
    restore_best = bool(restore_best) and val_mask is not None
    if log is None:
        def log(line):
            print(line, file=sys.stdout, flush=True)
    every = 0 if not verbose else (1 if verbose is True else int(verbose))

    context = limit_blas_threads(blas_threads) if blas_threads is not None else contextlib.nullcontext()
    # The graph is fixed during training: every GCNConv normalizes it once (its cache is keyed by the
    # graph object, so the training subgraph and the full graph of inductive mode never mix).
    uncached = [module for module in model.modules() if isinstance(module, GCNConv) and not module.cached]
    for module in uncached:
        module.cached = True
    try:
        with context:
            return _train_loop(model, graph, x, y, train_mask, val_mask, test_mask, optimizer, epochs,
                               patience, early_stopping, restore_best, inductive, every, log, start)
    finally:
        for module in uncached:
            module.cached = False
            module.clear_cache()


def _train_loop(model, graph, x, y, train_mask, val_mask, test_mask, optimizer, epochs, patience,
                early_stopping, restore_best, inductive, every, log, start):
    if inductive:
        train_graph = graph.subgraph(train_mask)
        train_x = np.ascontiguousarray(x[train_mask])
        train_y = np.ascontiguousarray(y[train_mask])
        train_loss_mask = None       # every node of the training subgraph is a training node
    else:
        train_graph, train_x, train_y, train_loss_mask = graph, x, y, train_mask

    history = {"train_loss": [], "val_loss": [], "val_acc": [], "epoch_seconds": []}
    train_seconds, eval_seconds = [], []
    best_loss, best_epoch, best_state = math.inf, None, None
    stopped_early = False
    epoch = 0
    for epoch in range(1, epochs + 1):
        tick = time.perf_counter()
        model.train()
        optimizer.zero_grad()
        logits = model(train_graph, train_x)
        loss, grad = cross_entropy(logits, train_y, train_loss_mask)
        model.backward(grad)
        optimizer.step()
        tock = time.perf_counter()
        train_seconds.append(tock - tick)
        history["train_loss"].append(loss)
        line = f"epoch {epoch:3d}  train loss {loss:.4f}"
        if val_mask is not None:
            scores = evaluate(model, graph, x, y, {"val": val_mask})
            eval_seconds.append(time.perf_counter() - tock)
            val_loss, val_acc = scores["val_loss"], scores["val_acc"]
            history["val_loss"].append(val_loss)
            history["val_acc"].append(val_acc)
            line += f"  val loss {val_loss:.4f}  val acc {val_acc:.4f}"
            if val_loss < best_loss:
                best_loss, best_epoch = val_loss, epoch
                if restore_best:
                    best_state = model.state_dict()
        history["epoch_seconds"].append(time.perf_counter() - tick)
        if every and (epoch % every == 0 or epoch == 1):
            log(line + f"  {1000 * train_seconds[-1]:.1f} ms")
        if _should_stop(early_stopping, history["val_loss"], patience, best_epoch, epoch):
            stopped_early = True
            if every:
                log(f"early stopping at epoch {epoch} (best validation loss {best_loss:.4f} "
                    f"at epoch {best_epoch})")
            break
    if restore_best and best_state is not None:
        model.load_state_dict(best_state)

    final = evaluate(model, graph, x, y, {name: mask for name, mask in
                                          (("train", train_mask), ("val", val_mask), ("test", test_mask))
                                          if mask is not None})
    return TrainResult(
        train_acc=final.get("train_acc"), val_acc=final.get("val_acc"), test_acc=final.get("test_acc"),
        train_loss=final.get("train_loss"), val_loss=final.get("val_loss"), test_loss=final.get("test_loss"),
        epochs=epoch if epochs else 0,
        best_epoch=best_epoch,
        best_val_loss=None if best_epoch is None else best_loss,
        stopped_early=stopped_early,
        seconds_per_epoch=float(np.mean(train_seconds)) if train_seconds else 0.0,
        eval_seconds_per_epoch=float(np.mean(eval_seconds)) if eval_seconds else 0.0,
        total_seconds=time.perf_counter() - start,
        history=history,
        early_stopping=early_stopping,
        inductive=bool(inductive),
    )


def _should_stop(criterion, val_losses, patience, best_epoch, epoch):
    """Whether training stops after ``epoch`` (1-based) under ``criterion``."""
    if criterion is None or not val_losses:
        return False
    if criterion == "window":
        # Kipf & Welling's code: with a 0-based epoch counter, stop once epoch > window and
        # cost_val[-1] > mean(cost_val[-(window + 1):-1]); i.e. from the (window + 2)-th epoch on.
        if len(val_losses) <= patience + 1:
            return False
        return val_losses[-1] > float(np.mean(val_losses[-(patience + 1):-1]))
    return best_epoch is not None and epoch - best_epoch >= patience
