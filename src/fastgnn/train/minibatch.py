"""Node classification with sampled mini-batches: :func:`train_node_classifier_minibatch`.

Each epoch visits the training nodes in a seeded random order, ``batch_size``
seeds at a time; every batch samples the seeds' neighbourhoods layer by layer
(:class:`fastgnn.data.NeighborLoader`, ``fanouts`` from the seeds outward),
runs the model on the sampled blocks (``model(blocks, x)``), and takes one
optimizer step on the mean cross-entropy of its seeds. Validation and the
final evaluation run the model on the whole graph with layer-wise
full-neighbour inference (:meth:`fastgnn.models.GNNStack.inference`), so
they are exact (no sampling) and never hold every layer's activations of
the whole graph. Early stopping, progress and the result are those of the
full-batch :func:`fastgnn.train.train_node_classifier`.

Reproducibility: the batches are a function of (``seed``, epoch) only (the
sampler's counter-based generator), the dropout masks are drawn from the
model's generator, and every kernel sums in a fixed order; so the same
seeds give bitwise the same trained weights for any thread count.
"""
import inspect
import time

import numpy as np

from fastgnn._runtime import validate as V
from fastgnn.data import NeighborLoader
from fastgnn.data.neighbor import check_fanouts
from fastgnn.losses import cross_entropy
from fastgnn.metrics import accuracy
from fastgnn.nn.module import Module
from fastgnn.train.loop import check_epochs, fit, thread_policy
from fastgnn.train.node import check_node_graph, model_dtype
from fastgnn.train.progress import as_progress
from fastgnn.train.stopping import resolve_stopping

__all__ = ["train_node_classifier_minibatch", "evaluate_layerwise", "check_fanouts", "check_positive_int"]


def discard_input_options(model):
    """``{"discard_input": True}`` for a model whose forward takes it (:class:`~fastgnn.models.GNNStack`), else ``{}``.

    A training loop that reads a batch's input rows nowhere but in the forward passes these options, so that
    the first layer releases the rows it is done with.
    """
    return {"discard_input": True} if "discard_input" in inspect.signature(model.forward).parameters else {}


def check_positive_int(value, name):
    """``value`` as an int when it is a positive integer, else a ValueError naming ``name``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def _check_inputs(graph, x, y, masks):
    """Validate without reading ``x`` whole (it may be memory-mapped); return ``(y, masks)``."""
    check_node_graph(graph)
    num_nodes = graph.num_nodes
    if not isinstance(x, np.ndarray):
        raise TypeError(f"x must be a NumPy array (or np.memmap) of node features, got {type(x).__name__}")
    if x.dtype.kind != "f":
        raise TypeError(f"x must be a float array of node features, got dtype {x.dtype}")
    if x.ndim != 2 or x.shape[0] != num_nodes:
        raise ValueError(f"x must have shape ({num_nodes}, num_features), one row per node of the graph, "
                         f"got shape {x.shape}")
    labels = np.asarray(y)
    if labels.dtype.kind not in "iu":
        raise TypeError(f"y must hold integer class ids, got dtype {labels.dtype}")
    if labels.ndim != 1 or labels.shape[0] != num_nodes:
        raise ValueError(f"y must have shape ({num_nodes},), one label per node of the graph, got shape "
                         f"{labels.shape}")
    checked = {}
    for name, mask in masks.items():
        array = V.as_row_mask(mask, num_nodes, name)
        if array is not None and not array.any():
            raise ValueError(f"{name} selects no node")
        checked[name] = array
    return labels, checked


def evaluate_layerwise(model, graph, x, y, masks, *, batch_size=1024):
    """Accuracy and mean cross-entropy on node subsets, from :meth:`~fastgnn.models.GNNStack.inference`.

    Parameters
    ----------
    model : GNNStack
        Any model with ``inference(graph, x, batch_size=...)``.
    graph : Graph
    x : ndarray or np.memmap (num_nodes, num_features)
    y : ndarray of int (num_nodes,)
    masks : dict of str to bool ndarray
        Named subsets (a ``_mask`` suffix is dropped from the names).
    batch_size : int
        Nodes per block of the layer-wise inference.

    Returns
    -------
    dict
        ``{name}_acc`` and ``{name}_loss`` for each subset.
    """
    logits = model.inference(graph, x, batch_size=batch_size)
    result = {}
    for name, mask in masks.items():
        if mask is None:
            continue
        prefix = name[:-5] if name.endswith("_mask") else name
        loss, _ = cross_entropy(logits, y, mask)
        result[f"{prefix}_acc"] = accuracy(logits, y, mask)
        result[f"{prefix}_loss"] = loss
    return result


def train_node_classifier_minibatch(model, graph, x, y, train_mask, val_mask, test_mask, optimizer, *, fanouts,
                                    batch_size=1024, epochs=200, patience=10, early_stopping="window",
                                    restore_best=None, seed=0, replace=False, weighted=False, prefetch=True,
                                    eval_batch_size=None, progress=None, log_every=1, log=None, n_threads=None,
                                    blas_threads=1):
    """Train a node classifier on sampled mini-batches, with early stopping on layer-wise inference.

    The arguments before ``fanouts`` are those of
    :func:`fastgnn.train.train_node_classifier`: switching a full-batch run to
    mini-batches is adding ``_minibatch`` and ``fanouts=``.

    Parameters
    ----------
    model : GNNStack
        Runs on a list of blocks (``model(blocks, x)``) and has
        ``inference(graph, x, batch_size=...)``.
    graph : Graph
        The whole (square) graph.
    x : ndarray or np.memmap of float (num_nodes, num_features)
        Each batch gathers its input nodes' rows (a memory map is read only
        there and in the inference, row by row); cast per batch to the
        model's dtype.
    y : ndarray of int (num_nodes,)
    train_mask, val_mask, test_mask : ndarray of bool (num_nodes,)
        ``val_mask`` may be None (no early stopping), ``test_mask`` too.
    optimizer : fastgnn.optim.Optimizer
    fanouts : list of int
        Neighbours sampled per layer, from the seeds outward (PyG's order:
        ``fanouts[0]`` for the seeds' own in-neighbours); ``-1`` takes all.
        One entry per layer of the model.
    batch_size : int
        Training seeds per optimizer step.
    epochs, patience, early_stopping, restore_best
        As :func:`fastgnn.train.train_node_classifier`.
    seed : int
        Key of the shuffle and of the neighbour samples (the model's own
        generator draws the dropout masks).
    replace, weighted : bool
        Sampling with replacement; proportional to the edge weights.
    prefetch : bool
        Sample the next batch in a background thread while one trains.
    eval_batch_size : int, optional
        Nodes per block of the layer-wise inference (default: ``batch_size``).
    progress, log_every, log, n_threads, blas_threads
        As :func:`fastgnn.train.train_node_classifier`.

    Returns
    -------
    TrainResult
        ``metrics``: ``{train,val,test}_{acc,loss}`` of the final model (by
        layer-wise inference on the whole graph); history ``train_loss`` is
        the mean over the epoch's seeds; ``info``: ``early_stopping``,
        ``best_val_loss``, ``fanouts``, ``batch_size``, ``batches_per_epoch``.

    Raises
    ------
    TypeError, ValueError
        Bad arguments, naming them: a fan-out of 0 or below -1, a fan-out
        list whose length differs from the model's layers, a batch size
        below 1, inputs whose lengths do not match the graph.

    Notes
    -----
    The loss of a batch is the mean cross-entropy of its seeds (PyG's and
    DGL's examples); the epoch's ``train_loss`` weighs the batches by their
    seeds.
    """
    if not isinstance(model, Module):
        raise TypeError(f"model must be a fastgnn.nn.Module, got {type(model).__name__}")
    if not callable(getattr(model, "inference", None)):
        raise TypeError(f"model must have an inference(graph, x, batch_size=...) method (a GNNStack), got "
                        f"{type(model).__name__}")
    epochs = check_epochs(epochs)
    fanouts = check_fanouts(fanouts, getattr(model, "num_layers", None))
    batch_size = check_positive_int(batch_size, "batch_size")
    eval_batch_size = batch_size if eval_batch_size is None else check_positive_int(eval_batch_size,
                                                                                  "eval_batch_size")
    start = time.perf_counter()
    y, masks = _check_inputs(graph, x, y, {"train_mask": train_mask, "val_mask": val_mask, "test_mask": test_mask})
    train_mask, val_mask, test_mask = masks["train_mask"], masks["val_mask"], masks["test_mask"]
    if train_mask is None:
        raise ValueError("train_mask is required")
    criterion, stopping = resolve_stopping(early_stopping, patience, restore_best)
    if val_mask is None:
        stopping = None
    dtype = model_dtype(model)
    loader = NeighborLoader(graph, x, y, fanouts=fanouts, input_nodes=train_mask, batch_size=batch_size,
                            shuffle=True, seed=seed, replace=replace, weighted=weighted, prefetch=prefetch,
                            n_threads=n_threads)

    options = discard_input_options(model)

    def train_step(epoch):
        model.train()
        loader.set_epoch(epoch - 1)
        total, seen = 0.0, 0
        for batch in loader:
            optimizer.zero_grad()
            features = batch.x if batch.x.dtype == dtype else batch.x.astype(dtype)
            batch.x = None              # the rows live on in features only (one copy, not two, when cast)
            logits = model(batch.blocks, features, **options)
            loss, grad = cross_entropy(logits, batch.y)
            model.backward(grad)
            optimizer.step()
            total += loss * batch.y.shape[0]
            seen += batch.y.shape[0]
            # Drop this batch's arrays before the loader hands over the next one.
            del batch, features, logits, grad
        return {"train_loss": total / seen}

    def validate(epoch):
        return evaluate_layerwise(model, graph, x, y, {"val": val_mask}, batch_size=eval_batch_size)

    result = fit(model, train_step, epochs=epochs, evaluate=None if val_mask is None else validate,
                 stopping=stopping, progress=as_progress(progress, epochs, log_every=log_every, log=log),
                 n_threads=n_threads, blas_threads=blas_threads)
    final_masks = {name: mask for name, mask in (("train", train_mask), ("val", val_mask), ("test", test_mask))
                   if mask is not None}
    with thread_policy(n_threads, blas_threads):
        result.metrics = evaluate_layerwise(model, graph, x, y, final_masks, batch_size=eval_batch_size)
    result.info = {"early_stopping": criterion if stopping is not None else None,
                   "best_val_loss": result.best_value if result.monitor == "val_loss" else None,
                   "fanouts": list(fanouts), "batch_size": batch_size, "batches_per_epoch": len(loader)}
    result.total_seconds = time.perf_counter() - start
    return result
