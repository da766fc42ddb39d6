"""Node classification, transductive or inductive, on the shared training loop.

:func:`train_node_classifier` runs the usual full-batch loop (through
:func:`fastgnn.train.fit`): each epoch one training step (forward in
training mode, softmax cross-entropy on the training nodes, backward,
optimizer step), then the validation loss and accuracy in eval mode, and
early stopping on the validation loss. :func:`evaluate` gives the accuracy
and loss of any node subsets. The test set is never looked at before
training has ended.

Early stopping (``early_stopping=``):

``"window"`` (default, Kipf and Welling's criterion, the GCN paper's code)
    From epoch ``t = window + 2`` on (1-based), stop when the validation
    loss of epoch ``t`` is higher than the mean of the ``window`` epochs
    before it. The model evaluated at the end is the one of the last epoch.
``"patience"``
    Stop when the validation loss has not improved on its best value for
    ``patience`` epochs; the weights of the best epoch are restored.
``None``
    Run every epoch.
A criterion object of :mod:`fastgnn.train.stopping` may be passed instead.

**Inductive mode** (``inductive=True``): the model trains on the subgraph
induced by the training nodes (:meth:`fastgnn.Graph.subgraph`, relabelled:
a separate graph that holds no validation or test node and no edge to one),
with those nodes' features and labels; validation and test are evaluated on
the full graph, whose other nodes the model has never seen.

**Train-test edges cut** (``cut_test_edges=True``): transductive training
on ``graph.remove_edges_between(train_mask, test_mask)`` (``A_ij = 0`` for a
training node ``i`` and a test node ``j``), evaluation on the full graph.
"""
import time

import numpy as np

from fastgnn._runtime import validate as V
from fastgnn.graph import Graph, SparseFeatures
from fastgnn.losses import cross_entropy
from fastgnn.metrics import accuracy
from fastgnn.nn.module import Module
from fastgnn.ops.dense import softmax_cross_entropy_rows
from fastgnn.train.loop import check_epochs, fit
from fastgnn.train.progress import as_progress
from fastgnn.train.stopping import STOPPING_CRITERIA, resolve_stopping

__all__ = ["train_node_classifier", "evaluate", "check_node_inputs", "EARLY_STOPPING"]

#: The early-stopping criteria of :func:`train_node_classifier`, by name.
EARLY_STOPPING = STOPPING_CRITERIA


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
    array = V.as_row_mask(mask, num_nodes, name)
    if array is not None and not array.any():
        raise ValueError(f"{name} selects no node")
    return array


def check_node_graph(graph):
    """Raise unless ``graph`` is a square :class:`Graph`, the one a node classifier trains on."""
    if not isinstance(graph, Graph):
        raise TypeError(f"graph must be a fastgnn.Graph, got {type(graph).__name__}")
    if not graph.is_square:
        raise ValueError(f"node classification needs a square graph, got {graph.num_src_nodes} source "
                         f"and {graph.num_dst_nodes} destination nodes")


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
    check_node_graph(graph)
    num_nodes = graph.num_nodes
    if isinstance(x, SparseFeatures):
        if x.shape[0] != num_nodes:
            raise ValueError(f"x must have {num_nodes} rows, one per node of the graph, got shape {x.shape}")
        features = x if dtype is None else x.astype(dtype)
        labels = _as_labels(y, num_nodes)
        return features, labels, {name: _as_node_mask(mask, num_nodes, name) for name, mask in masks.items()}
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


def model_dtype(model):
    """The float dtype a model computes in (its ``dtype`` attribute, else its first parameter's)."""
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
    x, y, named = check_node_inputs(graph, x, y, named, model_dtype(model))
    with model.evaluating():
        logits = model(graph, x)
    predictions = logits.argmax(axis=1)
    result = {}
    for name, mask in named.items():
        if mask is None:
            continue
        prefix = f"{_split_name(name)}_" if name else ""
        result[f"{prefix}acc"] = accuracy(predictions, y, mask)
        result[f"{prefix}loss"] = _masked_loss(logits, y, mask)
    return result


# Rows per piece of the evaluation loss: its temporaries stay this many rows, whatever the mask's size.
_LOSS_ROWS = 1 << 16


def _masked_loss(logits, y, mask):
    """``cross_entropy(logits, y, mask)[0]`` (the same value), without an ``N x C`` gradient or copy.

    The masked rows are read a piece of :data:`_LOSS_ROWS` rows at a time;
    the per-row losses are summed once at the end, as :func:`cross_entropy` does.
    """
    if mask is None:
        return cross_entropy(logits, y)[0]
    count = int(np.count_nonzero(mask))
    if count == 0 or logits.shape[0] <= _LOSS_ROWS:
        return cross_entropy(logits, y, mask)[0]
    row_loss = np.empty(count, dtype=np.float64)
    filled = 0
    for start in range(0, logits.shape[0], _LOSS_ROWS):
        selected = mask[start:start + _LOSS_ROWS]
        labels = y[start:start + _LOSS_ROWS][selected]
        if labels.size == 0:
            continue
        if labels.min() < 0 or labels.max() >= logits.shape[1]:
            bad = labels[(labels < 0) | (labels >= logits.shape[1])][0]
            raise ValueError(f"labels contains class {int(bad)} outside [0, {logits.shape[1]})")
        part, _ = softmax_cross_entropy_rows(logits[start:start + _LOSS_ROWS][selected], labels)
        row_loss[filled:filled + part.shape[0]] = part
        filled += part.shape[0]
    return float(np.sum(row_loss)) * (1.0 / count)


# ---------------------------------------------------------------------- training
def train_node_classifier(model, graph, x, y, train_mask, val_mask, test_mask, optimizer, *, epochs=200,
                          patience=10, early_stopping="window", restore_best=None, inductive=False,
                          cut_test_edges=False, progress=None, log_every=1, log=None, n_threads=None,
                          blas_threads=1):
    """Train a node classifier with full-batch gradient descent and early stopping.

    Parameters
    ----------
    model : Module
        ``model(graph, x)`` returns logits; ``model.backward(grad)`` fills
        the parameter gradients (e.g. a :class:`fastgnn.models.GCN`).
    graph : Graph
    x : ndarray of float (num_nodes, num_features), or SparseFeatures
        Cast once to the model's dtype. Sparse features stay sparse (the
        first layer's product and dropout run over the stored values).
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
    early_stopping : {'window', 'patience', None} or a criterion object
        See the module documentation; ``'window'`` is Kipf and Welling's.
    restore_best : bool, optional
        Load the weights of the epoch with the lowest validation loss before
        the final evaluation. Default: True for ``'patience'``, False otherwise.
    inductive : bool
        Train on ``graph.subgraph(train_mask)`` with the training nodes'
        features and labels; validate and test on the full graph.
    cut_test_edges : bool
        Train on ``graph.remove_edges_between(train_mask, test_mask)``;
        validate and test on the full graph.
    progress : {None, True, 'auto', 'live', 'lines', 'quiet'} or Progress
        Per-epoch progress (see :func:`fastgnn.train.as_progress`); quiet by default.
    log_every : int
        Print every this many epochs when progress goes to plain lines.
    log : callable, optional
        Receives each progress line instead of stdout.
    n_threads, blas_threads : int or None
        The loop's thread policy (see :func:`fastgnn.train.fit`).

    Returns
    -------
    TrainResult
        ``metrics``: ``{train,val,test}_{acc,loss}`` of the final model;
        ``info``: ``early_stopping``, ``inductive``, ``cut_test_edges``,
        ``best_val_loss``.

    Notes
    -----
    The model runs inside :meth:`Module.fixed_graph` (the graph does not
    change during full-batch training), so a ``GCNConv`` normalizes it once
    rather than every epoch.

    Examples
    --------
    >>> from fastgnn.datasets import load_cora
    >>> from fastgnn.models import GCN
    >>> from fastgnn.optim import Adam
    >>> from fastgnn.train import train_node_classifier
    >>> cora = load_cora(normalize_features=True)
    >>> model = GCN(cora.num_features, 16, cora.num_classes, cached=True, rng=0)
    >>> optimizer = Adam(model.parameter_groups(5e-4), lr=0.01)
    >>> result = train_node_classifier(model, cora.graph, cora.x, cora.y, cora.train_mask, cora.val_mask,
    ...                                cora.test_mask, optimizer, epochs=30, progress=False)
    >>> result.epochs, result.test_acc > 0.6
    (30, True)
    """
    if not isinstance(model, Module):
        raise TypeError(f"model must be a fastgnn.nn.Module, got {type(model).__name__}")
    epochs = check_epochs(epochs)
    if inductive and cut_test_edges:
        raise ValueError("inductive and cut_test_edges exclude each other (inductive training already "
                         "holds no test node)")
    start = time.perf_counter()
    x, y, masks = check_node_inputs(graph, x, y, {"train_mask": train_mask, "val_mask": val_mask,
                                                  "test_mask": test_mask}, model_dtype(model))
    train_mask, val_mask, test_mask = masks["train_mask"], masks["val_mask"], masks["test_mask"]
    if train_mask is None:
        raise ValueError("train_mask is required")
    if cut_test_edges and test_mask is None:
        raise ValueError("cut_test_edges needs a test_mask")
    criterion, stopping = resolve_stopping(early_stopping, patience, restore_best)
    if val_mask is None:
        stopping = None

    if inductive:
        train_graph = graph.subgraph(train_mask)
        train_x = x[train_mask] if isinstance(x, SparseFeatures) else np.ascontiguousarray(x[train_mask])
        train_y = np.ascontiguousarray(y[train_mask])
        train_loss_mask = None       # every node of the training subgraph is a training node
    else:
        train_graph = graph.remove_edges_between(train_mask, test_mask) if cut_test_edges else graph
        train_x, train_y, train_loss_mask = x, y, train_mask

    def train_step(epoch):
        model.train()
        optimizer.zero_grad()
        logits = model(train_graph, train_x)
        loss, grad = cross_entropy(logits, train_y, train_loss_mask)
        del logits          # one N x C array less while the backward runs
        model.backward(grad)
        optimizer.step()
        return {"train_loss": loss}

    def validate(epoch):
        return evaluate(model, graph, x, y, {"val": val_mask})

    result = fit(model, train_step, epochs=epochs, evaluate=None if val_mask is None else validate,
                 stopping=stopping, progress=as_progress(progress, epochs, log_every=log_every, log=log),
                 fixed_graph=True, n_threads=n_threads, blas_threads=blas_threads)
    final = evaluate(model, graph, x, y, {name: mask for name, mask in
                                          (("train", train_mask), ("val", val_mask), ("test", test_mask))
                                          if mask is not None})
    result.metrics = final
    result.info = {"early_stopping": criterion if stopping is not None else None, "inductive": bool(inductive),
                   "cut_test_edges": bool(cut_test_edges),
                   "best_val_loss": result.best_value if result.monitor == "val_loss" else None}
    result.total_seconds = time.perf_counter() - start
    return result
