"""Link prediction with graph autoencoders on the shared training loop.

:func:`train_autoencoder` trains a :class:`~fastgnn.models.GAE` or
:class:`~fastgnn.models.VGAE` on a :class:`~fastgnn.data.LinkSplit` and
reports validation and test AUC / AP (:func:`evaluate_link`).
"""
import time

import numpy as np

from fastgnn.metrics import average_precision, roc_auc
from fastgnn.models.autoencoder import (FULL_LOSS_MAX_NODES, GAE, VGAE, AdjacencyLoss, NegativeSamplingLoss,
                                        link_logits)
from fastgnn.train.loop import check_epochs, fit
from fastgnn.train.progress import as_progress

__all__ = ["train_autoencoder", "evaluate_link"]


# ---------------------------------------------------------------------- evaluation
def evaluate_link(model, graph, x, split, parts=("val", "test")):
    """AUC and AP of the inner-product scores on held-out pairs, in eval mode (``Z = μ`` for a VGAE).

    Parameters
    ----------
    model : GAE or VGAE
    graph : Graph
        The message-passing graph (``split.train_graph``).
    x : ndarray (num_nodes, in_channels)
    split : LinkSplit
    parts : sequence of {'val', 'test'}

    Returns
    -------
    dict
        ``{part}_auc`` and ``{part}_ap`` for each part. Scores are logits
        (ranking-equivalent to the probabilities, without saturated ties).
    """
    with model.evaluating():
        z = model(graph, x)
    result = {}
    for part in parts:
        edge_index, labels = split.edge_label_index(part)
        if edge_index.shape[1] == 0:
            continue
        scores = link_logits(z, edge_index)
        result[f"{part}_auc"] = roc_auc(labels, scores)
        result[f"{part}_ap"] = average_precision(labels, scores)
    return result


# ---------------------------------------------------------------------- training
def _resolve_loss(loss, graph, rng):
    if callable(loss):
        return "custom", loss
    if loss == "auto":
        loss = "full" if graph.num_nodes <= FULL_LOSS_MAX_NODES else "negative"
    if loss == "full":
        return loss, AdjacencyLoss(graph)
    if loss == "negative":
        return loss, NegativeSamplingLoss(graph, rng=rng)
    raise ValueError(f"loss must be 'full', 'negative', 'auto' or a callable z -> (value, grad), got {loss!r}")


def train_autoencoder(model, split, x, optimizer, *, loss="auto", epochs=200, rng=None, eval_every=0,
                      progress=None, log_every=1, log=None, n_threads=None, blas_threads=1):
    """Train a :class:`~fastgnn.models.GAE` or :class:`~fastgnn.models.VGAE` on the training edges of a link split.

    Each epoch: encode the training graph in training mode, the
    reconstruction loss (plus ``kl_loss() / N`` for a VGAE, as the paper's
    code), backward, optimizer step. The model evaluated at the end is the
    last epoch's: the validation edges are only reported, never used to
    select, and the test edges are looked at once, after training.

    Parameters
    ----------
    model : GAE or VGAE
    split : LinkSplit
        From :func:`fastgnn.data.random_link_split`; the encoder passes
        messages over ``split.train_graph`` only.
    x : ndarray (num_nodes, in_channels)
        Node features (cast once to the model's dtype).
    optimizer : fastgnn.optim.Optimizer
    loss : {'auto', 'full', 'negative'} or callable
        ``'full'``: :class:`~fastgnn.models.AdjacencyLoss`; ``'negative'``:
        :class:`~fastgnn.models.NegativeSamplingLoss`; ``'auto'``: full up to
        :data:`~fastgnn.models.FULL_LOSS_MAX_NODES` nodes; or any ``z -> (value, grad)``.
    epochs : int
    rng : int, numpy.random.Generator or None
        The negative samples of ``'negative'``.
    eval_every : int
        Validation AUC/AP every this many epochs (0: only at the end),
        recorded in ``history``.
    progress, log_every, log
        Per-epoch progress, as in :func:`fastgnn.train.train_node_classifier`.
    n_threads, blas_threads : int or None
        The loop's thread policy (see :func:`fastgnn.train.fit`).

    Returns
    -------
    TrainResult
        ``metrics``: ``{val,test}_{auc,ap}`` and ``train_loss`` of the last
        epoch; ``info``: ``loss`` (the reconstruction loss's name).
    """
    if not isinstance(model, GAE):
        raise TypeError(f"model must be a GAE or VGAE, got {type(model).__name__}")
    epochs = check_epochs(epochs)
    start = time.perf_counter()
    graph = split.train_graph
    x = np.asarray(x)
    if x.dtype.kind != "f" or x.ndim != 2 or x.shape[0] != graph.num_nodes:
        raise ValueError(f"x must be a float array of shape ({graph.num_nodes}, num_features), got "
                         f"{x.dtype} {x.shape}")
    x = np.ascontiguousarray(x, dtype=model.dtype)
    loss_name, loss_fn = _resolve_loss(loss, graph, rng)
    variational = isinstance(model, VGAE)
    kl_weight = 1.0 / graph.num_nodes

    def train_step(epoch):
        model.train()
        optimizer.zero_grad()
        z = model(graph, x)
        value, grad = loss_fn(z)
        if variational:
            value += kl_weight * model.kl_loss()
            model.backward(grad, need_input_grad=False, kl_weight=kl_weight)
        else:
            model.backward(grad, need_input_grad=False)
        optimizer.step()
        return {"train_loss": value}

    def validate(epoch):
        return evaluate_link(model, graph, x, split, parts=("val",))

    result = fit(model, train_step, epochs=epochs, evaluate=validate if eval_every else None,
                 eval_every=max(1, int(eval_every)),
                 progress=as_progress(progress, epochs, log_every=log_every, log=log),
                 fixed_graph=True, n_threads=n_threads, blas_threads=blas_threads)
    result.metrics = evaluate_link(model, graph, x, split)
    if epochs:
        result.metrics["train_loss"] = float(result.history["train_loss"][-1])
    result.info = {"loss": loss_name}
    result.total_seconds = time.perf_counter() - start
    return result
