"""Partitioned full-graph training over MPI: :func:`train_node_classifier_distributed`.

Each rank holds one part of a partitioned graph (its owned nodes, their
in-edges as a bipartite graph over owned + halo source nodes, their
features, labels and split masks). One epoch, per layer of a
:class:`fastgnn.models.GNNStack`: fetch the halo rows of the layer's input
from their owners (:class:`HaloExchange`), run the convolution on the local
bipartite graph with the pair ``(h_src, h_src[:num_owned])`` (the layers'
block mode, as for sampled mini-batches); backward the same way round, the
halo gradients going back to their owners. The loss and metrics are sums
over all ranks divided by global counts (global means), the parameter
gradients are summed over ranks in rank order, and every rank takes the
same optimizer step, so the ranks' models stay identical and the losses
are those of single-process training (up to the order of floating-point
sums).

GCN's normalization needs the degree of every source node in the whole
graph: each rank computes the (weighted) degree of ``A + I`` of its owned
nodes from their complete rows and fetches the halo's through the same
exchange, so the edge weights are bitwise those of
:meth:`fastgnn.Graph.gcn_norm` on the whole graph.
"""
import contextlib
import os
import time

import numpy as np

from fastgnn._runtime.memory import empty_aligned, owns_memory, release_mapped_pages
from fastgnn._runtime.threads import get_num_threads
from fastgnn.graph import Graph, SparseFeatures
from fastgnn.graph.pending import PendingSources, ready_rows
from fastgnn.graph.transforms import add_destination_self_loops
from fastgnn.losses import cross_entropy
from fastgnn.nn import GCNConv
from fastgnn.nn.module import Module, lowest_trainable
from fastgnn.train import TrainResult, as_progress, fit
from fastgnn.train.loop import check_epochs
from fastgnn.train.node import model_dtype
from fastgnn.train.stopping import resolve_stopping
from fastgnn.distributed.comm import get_comm
from fastgnn.distributed.halo import HaloExchange, is_front_of

__all__ = ["train_node_classifier_distributed", "evaluate_distributed", "DistributedModel", "partition_masks",
           "allreduce_gradients"]

#: Input features at most this dense are kept sparse (as the CLI does with bag-of-words features).
SPARSE_DENSITY = 0.1

_SPLIT_ALIASES = {"train": ("train", "train_mask"), "val": ("val", "valid", "val_mask", "valid_mask"),
                  "test": ("test", "test_mask")}


def partition_masks(partition):
    """``{"train": mask, "val": mask or None, "test": mask or None}`` over the part's owned nodes.

    From ``partition.masks()``: the tuple ``(train, valid, test)`` of
    :meth:`fastgnn.distributed.Partition.masks`, or a dict of named masks;
    all None when the part holds no split.
    """
    masks_of = getattr(partition, "masks", None)
    try:
        found = masks_of() if callable(masks_of) else None
    except KeyError:            # a part without a split
        found = None
    if found is None:
        return {name: None for name in _SPLIT_ALIASES}
    if not isinstance(found, dict):
        found = dict(zip(("train", "val", "test"), found))
    masks = {}
    for name, aliases in _SPLIT_ALIASES.items():
        mask = next((found[key] for key in aliases if key in found), None)
        masks[name] = None if mask is None else np.asarray(mask, dtype=bool)
    return masks


def resolve_masks(partition, comm, train_mask=None, val_mask=None, test_mask=None):
    """The split masks over the owned nodes, checked alike on every rank (a collective).

    Returns
    -------
    masks : dict
        ``{"train", "val", "test"}``: bool arrays (the given ones, else the
        part's split), None for a split that selects no node on any rank.
    counts : ndarray of int64 (3,)
        The nodes of each split over all ranks.
    """
    num_owned = int(partition.num_owned)
    masks = partition_masks(partition)
    for name, given in (("train", train_mask), ("val", val_mask), ("test", test_mask)):
        if given is not None:
            masks[name] = np.asarray(given, dtype=bool)
    for name, mask in masks.items():
        if mask is not None and mask.shape != (num_owned,):
            raise ValueError(f"{name}_mask must have shape ({num_owned},) (the owned nodes), got {mask.shape}")
    if masks["train"] is None:
        raise ValueError("train_mask is required (the partition has no train split)")
    counts = comm.allreduce_sum(np.array([0 if m is None else int(m.sum()) for m in masks.values()], np.int64))
    present = comm.allgather(tuple(m is not None for m in masks.values()))
    if len(set(present)) != 1:
        raise ValueError("the ranks' parts do not hold the same splits")
    if counts[0] == 0:
        raise ValueError("train_mask selects no node on any rank")
    masks = {name: (mask if counts[i] > 0 else None) for i, (name, mask) in enumerate(masks.items())}
    return masks, counts


def _check_partition(partition, comm):
    info = getattr(partition, "info", None)
    num_parts = getattr(info, "num_parts", None)
    if num_parts is not None and int(num_parts) != comm.size:
        raise ValueError(f"the partition has {num_parts} parts but the job runs {comm.size} ranks; launch "
                         f"mpirun -n {num_parts} (one rank per part)")
    graph = partition.graph
    if not isinstance(graph, Graph):
        raise TypeError(f"partition.graph must be a fastgnn.Graph, got {type(graph).__name__}")
    num_owned = int(partition.num_owned)
    num_halo = len(partition.halo_owner)
    if graph.num_dst_nodes != num_owned or graph.num_src_nodes != num_owned + num_halo:
        raise ValueError(f"partition.graph must have {num_owned} destination (owned) and {num_owned + num_halo} "
                         f"source (owned + halo) nodes, got {graph.num_dst_nodes} and {graph.num_src_nodes}")
    x = np.asarray(partition.x)
    if x.ndim != 2 or x.shape[0] != num_owned:
        raise ValueError(f"partition.x must have shape ({num_owned}, num_features), got {x.shape}")
    y = np.asarray(partition.y)
    if y.shape != (num_owned,) or y.dtype.kind not in "iu":
        raise ValueError(f"partition.y must hold {num_owned} integer labels, got shape {y.shape}, dtype {y.dtype}")


def _inverse_sqrt(degree):
    out = np.zeros_like(degree, dtype=np.float64)
    positive = degree > 0
    out[positive] = 1.0 / np.sqrt(degree[positive])
    return out


#: Rows of the local graph whose edges are normalized at once (bounds the float64 temporaries per edge).
_NORM_CHUNK_ROWS = 1 << 14


def _row_chunks(graph):
    """``(first row, last row + 1, edge slice, destination of every edge of the slice)`` over chunks of rows."""
    indptr = np.asarray(graph.indptr, dtype=np.int64)
    for start in range(0, graph.num_dst_nodes, _NORM_CHUNK_ROWS):
        stop = min(start + _NORM_CHUNK_ROWS, graph.num_dst_nodes)
        edges = slice(int(indptr[start]), int(indptr[stop]))
        yield start, stop, edges, np.repeat(np.arange(start, stop), np.diff(indptr[start:stop + 1]))


def _gcn_local_graph(conv, graph, halo):
    """The local graph with the whole graph's GCN weights (self-loops, global degrees) as ``conv`` asks.

    Computed a chunk of rows at a time, each row's weights summed in edge
    order as :meth:`fastgnn.Graph.gcn_norm` sums them (the same bits), with
    no per-edge array besides the graph's own and its new weights.
    """
    if conv.add_self_loops:
        graph = add_destination_self_loops(graph)
    if not conv.normalize:
        return graph
    weight = graph.edge_weight
    degree = np.zeros(graph.num_dst_nodes)
    for start, stop, edges, dst in _row_chunks(graph):
        chunk_weight = None if weight is None else weight[edges].astype(np.float64)
        degree[start:stop] = np.bincount(dst - start, weights=chunk_weight, minlength=stop - start)
    src_scale = _inverse_sqrt(halo.forward(degree.reshape(-1, 1)).reshape(-1))
    dst_scale = _inverse_sqrt(degree)
    norm = np.empty(graph.num_edges, dtype=conv.dtype)
    for _, _, edges, dst in _row_chunks(graph):
        chunk_weight = 1.0 if weight is None else weight[edges].astype(np.float64)
        norm[edges] = dst_scale[dst] * chunk_weight * src_scale[graph.indices[edges]]
    return graph.with_edge_weight(norm)


@contextlib.contextmanager
def _weights_as_given(convs):
    """GCN layers aggregate the prepared local graphs' weights as they are (no re-normalization)."""
    saved = [(conv, conv.normalize, conv.add_self_loops, conv.cached) for conv in convs]
    for conv, *_ in saved:
        conv.normalize, conv.add_self_loops, conv.cached = False, False, False
    try:
        yield
    finally:
        for conv, normalize, loops, cached in saved:
            conv.normalize, conv.add_self_loops, conv.cached = normalize, loops, cached


def _source_gradient(grad_src, grad_dst):
    """``dL/dh_src`` with the destination rows' gradient (None: none) added, in an array of its own (no copy when it is one)."""
    flags = grad_src.flags
    if not (flags.c_contiguous and flags.writeable and owns_memory(grad_src)):
        grad_src = np.array(grad_src, order="C")
    if grad_dst is not None:
        grad_src[:grad_dst.shape[0]] += grad_dst
    return grad_src


class DistributedModel:
    """A :class:`fastgnn.models.GNNStack` run over this rank's part, with halo exchanges between layers.

    Parameters
    ----------
    model : GNNStack
        The same model (same initial weights) on every rank.
    partition : Partition
    comm : Communicator
    round_bytes : int, optional
        The halo exchange's bound per ``Alltoallv`` round (see
        :class:`HaloExchange`; default 32 MiB).
    overlap : bool or 'auto'
        Overlap each hidden layer's halo exchange with the aggregation of the
        owned rows that read no halo row. The exchange runs in a background
        thread when the communicator allows it (``comm.background_calls``),
        else it blocks as without overlap. ``"auto"`` (default): overlap
        unless this machine's cores are oversubscribed, i.e. its ranks
        (``comm.ranks_on_host``) times fastgnn's threads per rank exceed
        ``os.cpu_count()``; there the exchange thread only takes cycles from
        the aggregation (measured: 4 ranks on 2 cores, epochs 6 % slower with
        overlap). Results are bitwise the same either way.

    Attributes
    ----------
    ready_rows : list of int
        Per layer: the leading owned rows whose in-neighbours are all owned
        (:func:`fastgnn.graph.pending.ready_rows`), aggregated while the halo
        rows travel. :func:`~fastgnn.distributed.partition` writes each
        part's interior nodes first, so this is every interior node.
    overlap_stats : dict
        Since construction: ``exchanges`` (overlapped forward exchanges),
        ``exchange_seconds`` (their time in the background thread) and
        ``waited_seconds`` (the time this thread then still waited for them:
        the part not hidden).

    Notes
    -----
    ``forward(x_owned)`` returns the logits of the owned nodes;
    ``backward(grad)`` fills the parameter gradients with this rank's
    share; :meth:`allreduce_gradients` sums them over the ranks. The input
    features are exchanged once per run (kept sparse when at most 10 % of
    them are non-zero), in place into ``partition.x_src`` when ``x_owned``
    is its front rows (:func:`~fastgnn.distributed.load_partition` reads
    them so), and the input dropout runs on each rank's copy; a hidden
    layer's activation step writes its rows into the front of an array with
    room for the halo rows, which the exchange fills after them; the
    hidden layers' dropout runs on owned rows before the exchange, so a
    node's dropped features are the same on every rank that reads them.
    Every dense dropout mask is keyed by global node id (``row_ids`` of
    :func:`fastgnn.ops.bias_act_dropout`) and drawn with the key a single
    process draws, so training with dropout follows single-process training
    (sparse input features and attention dropout excepted: their masks are
    keyed by stored value and by local edge).
    Use inside :meth:`prepared`.

    Overlap: a hidden layer's exchange starts before its convolution, which
    gets the local graph with a :class:`~fastgnn.graph.pending.PendingSources`
    barrier (halo columns pending, ``ready_rows`` rows ready). The
    aggregation computes the ready rows, waits, then the others; a
    product taken before aggregating (transform-first) multiplies the owned
    rows first and the halo rows once they arrive. Layers whose
    ``honours_pending_sources`` is false (attention, GCN normalizing its
    own graph) wait for the exchange first. The backward's exchange does not
    overlap (what could run beside it, the weight-gradient product, would
    keep its input alive during the exchange: more peak memory per rank).
    """

    def __init__(self, model, partition, comm, round_bytes=None, overlap="auto"):
        for name in ("convs", "dropouts", "activations", "num_layers", "post_conv", "dropout_is_fused"):
            if not hasattr(model, name):
                raise TypeError(f"model must be a fastgnn.models.GNNStack (a stack of convolutions), "
                                f"got {type(model).__name__}")
        if not (isinstance(overlap, bool) or overlap == "auto"):
            raise TypeError(f"overlap must be True, False or 'auto', got {overlap!r}")
        self.model = model
        self.comm = comm
        self.halo = HaloExchange(partition, comm, round_bytes=round_bytes)
        self.num_owned = self.halo.num_owned
        # dropout masks are keyed by global node id: a node's mask is the one a single process draws
        self.global_ids = np.ascontiguousarray(partition.global_ids, dtype=np.int64)
        self.owned_ids = self.global_ids[:self.num_owned]
        graph = partition.graph
        self._gcn = [conv for conv in model.convs if isinstance(conv, GCNConv)]
        local = {}
        self.graphs = []
        for conv in model.convs:
            if isinstance(conv, GCNConv):
                key = (conv.add_self_loops, conv.normalize, np.dtype(conv.dtype).str)
                if key not in local:
                    local[key] = _gcn_local_graph(conv, graph, self.halo)
                self.graphs.append(local[key])
            else:
                self.graphs.append(graph)
        self.overlap = overlap
        ready = {}
        for used in self.graphs:
            if id(used) not in ready:
                ready[id(used)] = ready_rows(used, self.num_owned)
        self.ready_rows = [ready[id(used)] for used in self.graphs]
        self.overlap_stats = {"exchanges": 0, "exchange_seconds": 0.0, "waited_seconds": 0.0}
        if all(used is not graph for used in self.graphs):
            # only graphs derived from the part's are read: a memory-mapped part graph's pages can go
            release_mapped_pages(graph.indptr, graph.indices, graph.edge_weight)
        self._x_cache = None
        # the part's features with room for the halo rows (Partition.x_src): the input exchange fills it in place
        self._x_room = getattr(partition, "x_src", None)

    @contextlib.contextmanager
    def prepared(self):
        """Within the block, GCN layers use the prepared globally-normalized local graphs."""
        with _weights_as_given(self._gcn):
            yield self

    def _input_src(self, x_owned):
        """The input features of owned + halo nodes: fetched once, sparse when at most 10 % are non-zero."""
        if self._x_cache is None or self._x_cache[0] is not x_owned:
            room = self._x_room
            if not (isinstance(room, np.ndarray) and isinstance(x_owned, np.ndarray) and is_front_of(x_owned, room)
                    and room.shape[0] == self.num_owned + self.halo.num_halo and room.flags.writeable):
                room = None
            x_src = self.halo.forward(x_owned, out=room)
            if x_src.size and np.count_nonzero(x_src) <= SPARSE_DENSITY * x_src.size:
                x_src = SparseFeatures.from_dense(x_src)
            self._x_cache = (x_owned, x_src)
        return self._x_cache[1]

    def _layer_input(self, conv, h_src):
        """The pair ``(h_src, h_src[:num_owned])``; GCNConv reads only the source rows: ``h_src`` alone.

        (A pair would have GCNConv's backward return a zero gradient of the
        destination rows: an array of ``num_owned`` rows for nothing.)
        """
        if isinstance(conv, GCNConv):
            return h_src
        return h_src, h_src[:self.num_owned]

    def forward(self, x_owned):
        """Logits of the owned nodes (``model`` in its current mode)."""
        model = self.model
        h, room = x_owned, None
        for layer in range(model.num_layers):
            dropout = model.dropouts[layer]
            conv = model.convs[layer]
            if layer == 0:
                # the input is fetched once per run; its dropout runs on every rank's copy, keyed by global id
                h_src = self._input_src(x_owned)
                if dropout.p > 0 and model.training:
                    h_src = dropout(h_src, row_ids=self.global_ids)
                h = conv(self.graphs[layer], self._layer_input(conv, h_src))
            else:
                if self._separate_dropout(layer):
                    h = dropout(h, row_ids=self.owned_ids)   # before the exchange: one mask for every reader
                h = self._hidden_layer(layer, h, room)
            h_src = None        # a dropped-out copy is not kept past the layer unless the layer keeps it
            if layer < model.num_layers - 1:
                # the hidden rows go straight into an array with room for the halo rows the exchange adds
                room = None if self._separate_dropout(layer + 1) else empty_aligned(
                    (self.num_owned + self.halo.num_halo,) + h.shape[1:], h.dtype)
                h = model.post_conv(layer, h, row_ids=self.owned_ids,
                                    out=None if room is None else room[:self.num_owned])
        return h

    def _exchange_mode(self, conv):
        """How a hidden layer's exchange runs: ``"thread"``, ``"deferred"`` (tests) or ``"blocking"``."""
        calls = getattr(self.comm, "background_calls", False)
        if not (self._overlapping() and getattr(conv, "honours_pending_sources", False)) or calls is False:
            return "blocking"
        return "deferred" if calls == "deferred" else "thread"

    def _overlapping(self):
        """Whether exchanges overlap now: ``overlap``, or with ``"auto"`` unless the cores are oversubscribed."""
        if self.overlap != "auto":
            return self.overlap
        ranks = int(getattr(self.comm, "ranks_on_host", 1))
        return ranks * get_num_threads() <= (os.cpu_count() or 1)

    def _hidden_layer(self, layer, h, room):
        """Exchange the halo rows of ``h`` (in place when ``h`` is ``room``'s front rows) and run the layer.

        With overlap, the exchange runs while the layer aggregates its ready
        rows (the graph carries the barrier), and is waited for before returning.
        """
        conv = self.model.convs[layer]
        mode = self._exchange_mode(conv)
        if mode == "blocking":
            return conv(self.graphs[layer], self._layer_input(conv, self.halo.forward(h, out=room)))
        started = time.perf_counter()
        h_src, wait = self.halo.forward_async(h, out=room, mode=mode)
        stats = self.overlap_stats

        def counted_wait():
            before = time.perf_counter()
            wait()
            done = time.perf_counter()
            stats["exchanges"] += 1
            stats["waited_seconds"] += done - before
            stats["exchange_seconds"] += getattr(wait, "seconds", done - started)

        pending = PendingSources(self.num_owned, self.ready_rows[layer], counted_wait)
        try:
            return conv(self.graphs[layer].with_pending_sources(pending), self._layer_input(conv, h_src))
        finally:
            pending.wait()          # the exchange is a collective: finished before anything else

    def _separate_dropout(self, layer):
        """Whether the dropout before convolution ``layer`` runs on its own (not fused into the step before)."""
        return self.model.dropouts[layer].p > 0 and self.model.training and not self.model.dropout_is_fused(layer)

    def backward(self, grad_out):
        """Accumulate this rank's share of the parameter gradients from ``dL/d logits`` of the owned nodes."""
        model = self.model
        lowest = lowest_trainable(list(model.convs))
        for layer in range(lowest):
            model.convs[layer].clear_cache()
            model.dropouts[layer].clear_cache()
            if layer < model.num_layers - 1:
                model.activations[layer].clear_cache()
        grad = grad_out
        for layer in range(model.num_layers - 1, lowest - 1, -1):
            if layer < model.num_layers - 1:
                grad = model.post_conv_backward(layer, grad)
            needed = layer > lowest
            grad = model.convs[layer].backward(grad, need_input_grad=needed)
            dropout = model.dropouts[layer]
            if not needed:
                dropout.clear_cache()
                continue
            grad_src, grad_dst = (grad, None) if isinstance(model.convs[layer], GCNConv) else grad
            grad = self.halo.backward(_source_gradient(grad_src, grad_dst), overwrite_input=True)
            if model.dropout_is_fused(layer):
                continue            # this dropout is part of the fused step below
            if dropout.p > 0 and layer > 0:
                grad = dropout.backward(grad)

    def allreduce_gradients(self, extra=None):
        """Sum every parameter gradient over the ranks (in rank order); see :func:`allreduce_gradients`."""
        return allreduce_gradients(self.model, self.comm, extra)


def allreduce_gradients(model, comm, extra=None):
    """Sum every trainable parameter's gradient over the ranks (in rank order); the same values on every rank.

    Parameters
    ----------
    model : Module
        The same architecture on every rank; its ``grad`` arrays are overwritten with the sums.
    comm : Communicator
    extra : sequence of float, optional
        Values (e.g. this rank's loss sum) that ride along in the same collective.

    Returns
    -------
    ndarray of float64
        The sums of ``extra`` over the ranks. With one rank the gradients are left untouched.
    """
    params = [param for param in model.parameters() if param.requires_grad]
    extra = np.zeros(0) if extra is None else np.asarray(extra, dtype=np.float64).reshape(-1)
    if comm.size == 1:
        return extra.copy()
    flat = np.concatenate([param.grad.reshape(-1).astype(np.float64, copy=False) for param in params] + [extra])
    total = comm.allreduce_sum(flat)   # float64: a float32 gradient's sum is then rounded once
    start = 0
    for param in params:
        size = param.grad.size
        param.grad[...] = total[start:start + size].reshape(param.grad.shape)
        start += size
    return total[start:]


def _split_sums(logits, y, mask):
    """``[loss sum, correct, count]`` of the rows of ``mask`` (zeros when it selects none here)."""
    count = int(mask.sum())
    if count == 0:
        return [0.0, 0.0, 0.0]
    loss, _ = cross_entropy(logits, y, mask, reduction="sum")
    correct = int(np.count_nonzero(np.argmax(logits[mask], axis=1) == y[mask]))
    return [float(loss), float(correct), float(count)]


def evaluate_distributed(runner, x_owned, y, masks):
    """Global accuracy and mean cross-entropy of named owned-node subsets, in eval mode, on every rank.

    Parameters
    ----------
    runner : DistributedModel
    x_owned : ndarray (num_owned, num_features)
    y : ndarray of int (num_owned,)
    masks : dict of str to bool ndarray (num_owned,) or None

    Returns
    -------
    dict
        ``{name}_acc`` and ``{name}_loss`` over the whole graph's subset.
    """
    named = {name: mask for name, mask in masks.items() if mask is not None}
    with runner.model.evaluating():
        logits = runner.forward(x_owned)
    sums = np.array([_split_sums(logits, y, mask) for mask in named.values()], dtype=np.float64).reshape(-1, 3)
    total = runner.comm.allreduce_sum(sums)
    result = {}
    for (name, _), (loss, correct, count) in zip(named.items(), total):
        if count == 0:
            raise ValueError(f"the {name} split selects no node on any rank")
        result[f"{name}_acc"] = correct / count
        result[f"{name}_loss"] = loss / count
    return result


def train_node_classifier_distributed(model, partition, optimizer, *, comm=None, epochs=200, patience=10,
                                      early_stopping="window", restore_best=None, train_mask=None, val_mask=None,
                                      test_mask=None, progress=None, log_every=1, log=None, checkpoint=None,
                                      n_threads=None, blas_threads=1, round_bytes=None, overlap="auto"):
    """Full-batch node classification over a partitioned graph, one part per MPI rank.

    Mirrors :func:`fastgnn.train.train_node_classifier` (transductive): the
    same epochs, losses, early stopping and result, with the graph spread
    over the ranks.

    Parameters
    ----------
    model : GNNStack
        E.g. :class:`fastgnn.models.GCN`; built identically (same seed) on
        every rank.
    partition : Partition
        This rank's part (``load_partition(dir, comm.rank)``, :func:`~fastgnn.distributed.load_partition`).
    optimizer : fastgnn.optim.Optimizer
        Over ``model``'s parameters.
    comm : Communicator or mpi4py communicator, optional
        Default ``MPI.COMM_WORLD``.
    epochs, patience, early_stopping, restore_best
        As in :func:`~fastgnn.train.train_node_classifier`.
    train_mask, val_mask, test_mask : bool ndarray (num_owned,), optional
        Default: the part's ``train``/``valid``/``test`` splits.
    progress, log_every, log
        Progress of rank 0 (the other ranks are silent).
    checkpoint : str or path, optional
        Rank 0 writes the final ``model.state_dict()`` there (``.npz``),
        loadable by single-process fastgnn (``model.load_state_dict``).
    n_threads, blas_threads : int or None
        Per rank (see :func:`fastgnn.train.fit`).
    round_bytes : int, optional
        The halo exchange's bound per ``Alltoallv`` round, the same on every
        rank (:class:`~fastgnn.distributed.HaloExchange`; default 32 MiB):
        the rows a rank gathers to send or receives to add at once. Results
        do not depend on it.
    overlap : bool or 'auto'
        Overlap each hidden layer's halo exchange with the aggregation of the
        rows that read no halo row (:class:`DistributedModel`; default
        ``"auto"``: unless the machine's cores are oversubscribed). Results
        do not depend on it (bitwise).

    Returns
    -------
    TrainResult
        The same on every rank: ``metrics`` (``{train,val,test}_{acc,loss}``
        over the whole graph), ``history``, ``info`` (``ranks``,
        ``early_stopping``, ``best_val_loss``, ``halo_nodes``; and this
        rank's ``overlap``: :attr:`DistributedModel.overlap_stats`).

    Raises
    ------
    ValueError
        The partition's part count differs from the number of ranks, or the
        part is inconsistent.

    Notes
    -----
    Per epoch and layer of width ``d``: ``2 · halo · d`` values exchanged
    (forward and backward; layer 0's input once per run), and one gathered
    sum of the parameter gradients.
    """
    if not isinstance(model, Module):
        raise TypeError(f"model must be a fastgnn.nn.Module, got {type(model).__name__}")
    epochs = check_epochs(epochs)
    comm = get_comm(comm)
    start = time.perf_counter()
    _check_partition(partition, comm)
    dtype = model_dtype(model)
    x = np.ascontiguousarray(partition.x, dtype=dtype)
    y = np.asarray(partition.y)
    masks, counts = resolve_masks(partition, comm, train_mask, val_mask, test_mask)
    num_train = float(counts[0])

    criterion, stopping = resolve_stopping(early_stopping, patience, restore_best)
    if masks["val"] is None:
        stopping = None

    runner = DistributedModel(model, partition, comm, round_bytes=round_bytes, overlap=overlap)
    train = masks["train"]
    train_count = int(train.sum())

    def train_step(epoch):
        model.train()
        optimizer.zero_grad()
        logits = runner.forward(x)
        if train_count:
            loss, grad = cross_entropy(logits, y, train, reduction="sum")
            grad /= num_train
        else:
            loss, grad = 0.0, np.zeros_like(logits)
        del logits                  # not needed by the backward: its rows are not held at the backward's peak
        runner.backward(grad)
        total = runner.allreduce_gradients(extra=[loss])
        optimizer.step()
        return {"train_loss": float(total[0]) / num_train}

    def validate(epoch):
        return evaluate_distributed(runner, x, y, {"val": masks["val"]})

    rank0_progress = as_progress(progress if comm.rank == 0 else None, epochs, log_every=log_every, log=log)
    with runner.prepared():
        result = fit(model, train_step, epochs=epochs, evaluate=None if masks["val"] is None else validate,
                     stopping=stopping, progress=rank0_progress, fixed_graph=False, n_threads=n_threads,
                     blas_threads=blas_threads)
        result.metrics = evaluate_distributed(runner, x, y, masks)
    if checkpoint is not None and comm.rank == 0:
        np.savez(checkpoint, **model.state_dict())
    if comm.size > 1 and hasattr(comm, "barrier"):
        comm.barrier()
    result.info = {"ranks": comm.size, "early_stopping": criterion if stopping is not None else None,
                   "best_val_loss": result.best_value if result.monitor == "val_loss" else None,
                   "halo_nodes": int(comm.allreduce_sum(np.array([runner.halo.num_halo], np.int64))[0]),
                   "overlap": dict(runner.overlap_stats)}
    result.total_seconds = time.perf_counter() - start
    return result
