"""Data-parallel mini-batch training over MPI: :func:`train_node_classifier_distributed_minibatch`.

Every rank holds its part of a partitioned graph (its owned nodes'
features, labels and splits) and memory-maps the whole graph's structure
written at the partition root (``out_dir/graph``, ``owner.npy``,
``local_index.npy``): the structure is small next to the features, and
sampling a multi-layer neighbourhood from it needs no communication (DistDGL
samples remotely instead; one rank's structure memory is ``O(N + E)``,
paged in by the operating system as the sampler reads it).

One optimizer step:

1. Every rank draws the same *global* batch: the epoch's permutation of all
   training nodes is keyed by ``(seed, epoch)`` exactly as
   :class:`fastgnn.data.NeighborLoader` shuffles them, and cut into
   ``batch_size`` seeds per step. Each rank keeps the seeds it owns (in
   batch order) and samples their blocks with
   :func:`fastgnn.data.sample_neighbors` (a function of (seed, epoch, node,
   layer): the blocks of a node are those a single process draws).
2. The input nodes' features: the owned rows are read in place, the others
   fetched from their owners in one batched exchange
   (:class:`fastgnn.distributed.RemoteFeatures`).
3. Forward and backward on the blocks; the loss is the sum of the ranks'
   cross-entropies divided by the global batch size, so each rank's
   gradient is its share of the batch's mean; the gradients are summed
   over the ranks in rank order and every rank takes the same optimizer
   step. A rank without seeds in a step contributes zero and still joins
   the collectives.

So the rank count changes neither the batches nor the samples: with dropout
0 the losses are those of single-process
:func:`fastgnn.train.train_node_classifier_minibatch` with the same
``batch_size`` and ``seed`` up to the order of floating-point sums, and with
one rank they are bitwise the same.
"""
import os
import time

import numpy as np

from fastgnn.data import sample_neighbors
from fastgnn.data.neighbor import check_fanouts, epoch_order, prefetched
from fastgnn.nn.module import Module
from fastgnn.ops.dense import softmax_cross_entropy_rows
from fastgnn.train import as_progress, fit
from fastgnn.train.loop import check_epochs, thread_policy
from fastgnn.train.minibatch import check_positive_int, discard_input_options
from fastgnn.train.node import model_dtype
from fastgnn.train.stopping import resolve_stopping
from fastgnn.distributed.comm import get_comm
from fastgnn.distributed.features import RemoteFeatures
from fastgnn.distributed.partition import load_partition
from fastgnn.distributed.train import (DistributedModel, _check_partition, allreduce_gradients,
                                       evaluate_distributed, resolve_masks)

__all__ = ["train_node_classifier_distributed_minibatch"]


def _global_train_nodes(partition, train_mask, comm):
    """Every rank's training nodes as sorted global ids (the same array on every rank)."""
    owned = np.asarray(partition.global_ids[:partition.num_owned], dtype=np.int64)
    pieces = comm.allgather(owned[train_mask])
    return np.sort(np.concatenate(pieces)) if pieces else np.zeros(0, np.int64)


def _structure(partition):
    """``(graph, owner, local_index)`` of the whole graph, checked against each other."""
    graph, owner, local_index = partition.full_graph, partition.owner, partition.local_index
    if np.shape(owner) != (graph.num_nodes,) or np.shape(local_index) != (graph.num_nodes,):
        raise ValueError(f"partition.owner and partition.local_index must have one entry per node of the whole "
                         f"graph ({graph.num_nodes}), got shapes {np.shape(owner)} and {np.shape(local_index)}")
    return graph, owner, local_index


class _Batches:
    """The global batches of an epoch, each cut to this rank's seeds and sampled (possibly in a thread)."""

    def __init__(self, graph, owner, train_nodes, *, fanouts, batch_size, seed, replace, weighted, prefetch,
                 n_threads, rank):
        self.graph, self.owner, self.train_nodes = graph, owner, train_nodes
        self.fanouts, self.batch_size, self.seed = fanouts, batch_size, seed
        self.replace, self.weighted, self.prefetch, self.n_threads, self.rank = (replace, weighted, prefetch,
                                                                                   n_threads, rank)

    def __len__(self):
        return -(-self.train_nodes.shape[0] // self.batch_size)

    def _make(self, index, batch, epoch):
        mine = batch[np.asarray(self.owner[batch]) == self.rank]
        subgraph = None
        if mine.size:
            subgraph = sample_neighbors(self.graph, mine, self.fanouts, replace=self.replace, weighted=self.weighted,
                                        seed=self.seed, epoch=epoch, n_threads=self.n_threads)
        return mine, subgraph, int(batch.shape[0])

    def epoch(self, epoch):
        """``(seeds owned here, SampledSubgraph or None, global batch size)`` of every step of ``epoch``."""
        order = epoch_order(self.train_nodes, True, self.seed, epoch)
        steps = ((index, order[index * self.batch_size:(index + 1) * self.batch_size]) for index in range(len(self)))
        if self.prefetch:
            return prefetched(self._make, steps, epoch)
        return (self._make(index, batch, epoch) for index, batch in steps)


def train_node_classifier_distributed_minibatch(model, partition, optimizer, *, fanouts, batch_size=1024,
                                                epochs=200, patience=10, early_stopping="window", restore_best=None,
                                                seed=0, replace=False, weighted=False, prefetch=True, comm=None,
                                                train_mask=None, val_mask=None, test_mask=None, progress=None,
                                                log_every=1, log=None, checkpoint=None, n_threads=None,
                                                blas_threads=1):
    """Data-parallel node classification on sampled mini-batches, one part of a partitioned graph per MPI rank.

    Mirrors :func:`fastgnn.train.train_node_classifier_minibatch` (same
    batches, samples, losses and result), with the features, labels and
    training nodes spread over the ranks.

    Parameters
    ----------
    model : GNNStack
        Built identically (same seed) on every rank.
    partition : Partition, str or os.PathLike
        This rank's part, or the partition folder (part ``comm.rank`` is
        loaded). The partition root must hold the whole graph's structure
        (written by :func:`fastgnn.distributed.partition`).
    optimizer : fastgnn.optim.Optimizer
    fanouts : list of int
        Neighbours sampled per layer, from the seeds outward; ``-1`` takes all.
    batch_size : int
        Seeds per optimizer step over **all** ranks (the global batch); each
        rank trains on the ones it owns, about ``batch_size / ranks``.
    epochs, patience, early_stopping, restore_best
        As :func:`fastgnn.train.train_node_classifier`.
    seed : int
        Key of the shuffle and of the samples.
    replace, weighted : bool
        As :func:`fastgnn.data.sample_neighbors`.
    prefetch : bool
        Sample the next step's blocks in a background thread while one
        trains (the feature exchange stays on the main thread).
    comm : Communicator, SelfCommunicator or mpi4py communicator, optional
        Default ``MPI.COMM_WORLD``.
    train_mask, val_mask, test_mask : bool ndarray (num_owned,), optional
        Default: the part's split.
    progress, log_every, log
        Progress of rank 0.
    checkpoint : str or path, optional
        Rank 0 writes the final ``model.state_dict()`` there (``.npz``).
    n_threads, blas_threads : int or None
        Per rank.

    Returns
    -------
    TrainResult
        The same on every rank. ``history`` ``train_loss`` is the mean over
        the epoch's seeds; ``metrics`` ``{train,val,test}_{acc,loss}`` over the
        whole graph by the partitioned full-neighbour forward
        (:func:`fastgnn.distributed.evaluate_distributed`); ``info``:
        ``ranks``, ``early_stopping``, ``best_val_loss``, ``fanouts``,
        ``batch_size``, ``batches_per_epoch``, ``remote_feature_rows`` and
        ``local_feature_rows`` (input rows fetched from other ranks and read
        in place, summed over ranks and steps).

    Notes
    -----
    Validation runs the model on the whole graph with every neighbour
    (each rank its owned nodes, halo rows exchanged per layer), exact like
    the layer-wise inference of single-process mini-batch training. With
    more than one rank, rank ``r``'s dropout masks are drawn from
    ``numpy.random.default_rng([seed, r])`` so that the ranks' masks are
    independent; with one rank from the model's own generator.
    Per step: the remote input rows' bytes once each way, one gathered sum
    of the parameter gradients.
    """
    if not isinstance(model, Module):
        raise TypeError(f"model must be a fastgnn.nn.Module, got {type(model).__name__}")
    epochs = check_epochs(epochs)
    fanouts = check_fanouts(fanouts, getattr(model, "num_layers", None))
    batch_size = check_positive_int(batch_size, "batch_size")
    comm = get_comm(comm)
    start = time.perf_counter()
    if isinstance(partition, (str, os.PathLike)):
        partition = load_partition(partition, comm.rank, mmap=True)
    _check_partition(partition, comm)
    graph, owner, local_index = _structure(partition)
    masks, _ = resolve_masks(partition, comm, train_mask, val_mask, test_mask)
    criterion, stopping = resolve_stopping(early_stopping, patience, restore_best)
    if masks["val"] is None:
        stopping = None
    dtype = model_dtype(model)
    y_owned = np.asarray(partition.y, dtype=np.int64)
    features = RemoteFeatures(partition.x, owner, local_index, comm, n_threads=n_threads)
    batches = _Batches(graph, owner, _global_train_nodes(partition, masks["train"], comm), fanouts=fanouts,
                       batch_size=batch_size, seed=seed, replace=bool(replace), weighted=bool(weighted),
                       prefetch=bool(prefetch), n_threads=n_threads, rank=comm.rank)
    if comm.size > 1 and hasattr(model, "reseed"):
        model.reseed(np.random.default_rng([int(seed), int(comm.rank)]))
    rows = np.zeros(2, dtype=np.int64)         # input rows read in place, fetched from other ranks
    options = discard_input_options(model)

    def train_step(epoch):
        model.train()
        total, seen = 0.0, 0
        for seeds, subgraph, batch_count in batches.epoch(epoch - 1):
            optimizer.zero_grad()
            input_nodes = np.zeros(0, np.int64) if subgraph is None else subgraph.input_nodes
            x_in = features.fetch(input_nodes)
            remote = int(np.count_nonzero(np.asarray(owner[input_nodes]) != comm.rank))
            rows[0] += input_nodes.shape[0] - remote
            rows[1] += remote
            scale = 1.0 / batch_count
            loss = 0.0
            if subgraph is not None:
                x_in = x_in if x_in.dtype == dtype else x_in.astype(dtype)
                logits = model(subgraph.blocks, x_in, **options)
                labels = np.ascontiguousarray(y_owned[np.asarray(local_index[seeds])])
                row_loss, grad = softmax_cross_entropy_rows(logits, labels, scale)
                loss = float(np.sum(row_loss)) * scale
                model.backward(grad)
            summed = allreduce_gradients(model, comm, extra=[loss])
            optimizer.step()
            loss = float(summed[0]) if comm.size > 1 else loss
            total += loss * batch_count
            seen += batch_count
        return {"train_loss": total / seen}

    x_eval = np.ascontiguousarray(partition.x, dtype=dtype)
    runner = DistributedModel(model, partition, comm)

    def evaluate(named):
        with runner.prepared():
            return evaluate_distributed(runner, x_eval, y_owned, named)

    rank0_progress = as_progress(progress if comm.rank == 0 else None, epochs, log_every=log_every, log=log)
    result = fit(model, train_step, epochs=epochs,
                 evaluate=None if masks["val"] is None else (lambda epoch: evaluate({"val": masks["val"]})),
                 stopping=stopping, progress=rank0_progress, n_threads=n_threads, blas_threads=blas_threads)
    with thread_policy(n_threads, blas_threads):
        result.metrics = evaluate(masks)
    if checkpoint is not None and comm.rank == 0:
        np.savez(checkpoint, **model.state_dict())
    totals = comm.allreduce_sum(rows)
    if comm.size > 1 and hasattr(comm, "barrier"):
        comm.barrier()
    result.info = {"ranks": comm.size, "early_stopping": criterion if stopping is not None else None,
                   "best_val_loss": result.best_value if result.monitor == "val_loss" else None,
                   "fanouts": list(fanouts), "batch_size": batch_size, "batches_per_epoch": len(batches),
                   "local_feature_rows": int(totals[0]), "remote_feature_rows": int(totals[1])}
    result.total_seconds = time.perf_counter() - start
    return result
