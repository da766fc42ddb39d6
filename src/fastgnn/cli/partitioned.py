"""``python -m fastgnn train --partitions DIR``: the node task over a partitioned graph, one part per MPI rank.

Launched as ``mpirun -n P python -m fastgnn train --dataset cora --model gcn
--partitions DIR`` (full-graph), or with ``--batch-size B --fanout K,K``
(data-parallel sampled mini-batches, ``B`` seeds per step over all ranks); rank 0 prints the progress and the results (``--json``:
the JSON line), the other ranks print nothing. A rank that fails prints
``fastgnn: rank R failed: ...`` and aborts the whole job.
"""
import io
import time

import numpy as np

from fastgnn._runtime.memory import empty_aligned
from fastgnn.cli._common import CommandError

__all__ = ["run_partitioned", "check_same_graph", "check_dataset"]

_NOT_DISTRIBUTED = ("inductive", "cut_test_edges", "freeze", "load")


def check_same_graph(info, graph, dataset_name):
    """CommandError unless the partitions at hand were cut from ``graph`` (node and edge counts, fingerprint)."""
    expected = (getattr(info, "num_nodes", None), getattr(info, "num_edges", None))
    found = (graph.num_nodes, graph.num_edges)
    mismatch = any(want is not None and int(want) != got for want, got in zip(expected, found))
    fingerprint = getattr(info, "fingerprint", None)
    if not mismatch and fingerprint is not None:
        from fastgnn.distributed.partition import graph_fingerprint

        mismatch = graph_fingerprint(graph)["sha256"] != dict(fingerprint).get("sha256")
    if mismatch:
        raise CommandError(f"--partitions: the partitions were cut from another graph ({expected[0]} nodes, "
                           f"{expected[1]} edges) than --dataset {dataset_name} ({found[0]} nodes, {found[1]} "
                           "edges, or a different fingerprint); pass the --dataset they were made from")


def check_dataset(s, info, comm, load_dataset):
    """Rank 0 checks that ``info``'s partitions were cut from ``--dataset``; every rank gets its verdict (a collective).

    Rank 0 opens the dataset with its graph memory-mapped and its features
    unread, and compares node and edge counts, then the graph's fingerprint
    (streamed through the mapped files); the other ranks read nothing of
    the dataset.

    Returns
    -------
    description : str
        The dataset's ``repr``, for rank 0's first line.
    num_classes : int

    Raises
    ------
    CommandError
        On every rank, when rank 0 found the dataset missing or another graph.
    """
    verdict = None
    if comm.rank == 0:
        try:
            dataset = load_dataset(s["dataset"], s["data_root"], False, True, memory_mapped=True)
            check_same_graph(info, dataset.graph, s["dataset"])
            verdict = (None, repr(dataset), int(dataset.num_classes))
        except CommandError as error:
            verdict = (str(error), None, None)
        except Exception as error:      # noqa: BLE001 -- every rank must hear of it, not wait for ever
            verdict = (f"--dataset {s['dataset']}: {type(error).__name__}: {error}", None, None)
    problem, description, num_classes = comm.bcast(verdict, root=0)
    if problem is not None:
        raise CommandError(problem)
    return description, num_classes


def _row_normalize(x):
    sums = x.sum(axis=1, keepdims=True)
    return np.divide(x, sums, out=np.zeros_like(x), where=sums != 0)


def _normalized_with_room(partition):
    """The part's features row-normalized in float64 (row by row: as on the whole graph), with room for the halo.

    The front rows of a zeroed array of ``num_owned + num_halo`` rows, as
    :class:`fastgnn.distributed.Partition` reads ``x``: the input exchange
    then receives the halo rows in place.
    """
    x = np.asarray(partition.x)
    room = empty_aligned((partition.num_owned + partition.num_halo,) + x.shape[1:], np.float64, zeroed=True)
    room[:partition.num_owned] = _row_normalize(x.astype(np.float64))
    return room


def run_partitioned(s, args, out, *, build, load_dataset, summarize, save_weights):
    """Train the node task of settings ``s`` on ``args.partitions``; rank 0 writes to ``out``."""
    from fastgnn.distributed import (Communicator, abort_on_failure, train_node_classifier_distributed,
                                     train_node_classifier_distributed_minibatch)

    for name in _NOT_DISTRIBUTED:
        if s.get(name):
            raise CommandError(f"--partitions runs transductive training; "
                               f"--{name.replace('_', '-')} does not apply")
    if s["runs"] != 1:
        raise CommandError("--partitions runs one training run; drop --runs")
    directory = args.partitions
    try:
        from fastgnn.distributed.partition import PartitionInfo, load_partition
        comm = Communicator()
    except ImportError as error:
        raise CommandError(f"--partitions: {error}") from None
    info = PartitionInfo.load(directory)
    if int(info.num_parts) != comm.size:
        hint = ("; it was started without mpirun" if comm.size == 1 else "")
        raise CommandError(f"--partitions {directory} holds {info.num_parts} parts but the job runs {comm.size} "
                           f"rank{'s' if comm.size != 1 else ''}{hint}: launch mpirun -n {info.num_parts} "
                           "python -m fastgnn train ... --partitions DIR")
    if comm.rank != 0:
        out = io.StringIO()

    def say(line):
        print(line, file=out, flush=True)

    config = s["config"]
    started = time.perf_counter()
    description, num_classes = check_dataset(s, info, comm, load_dataset)   # rank 0 reads the graph only, mapped
    with abort_on_failure(comm):
        partition = load_partition(directory, comm.rank)
        if s["normalize_features"]:
            partition.x_src = _normalized_with_room(partition)   # the raw features are let go
            partition.x = partition.x_src[:partition.num_owned]
        x = partition.x
        config.update(model=s["model"], in_channels=x.shape[1], out_channels=num_classes)
        minibatch = s["minibatch"]
        mode = ("transductive" if minibatch is None else
                "transductive, mini-batches of {batch_size} seeds over all ranks, fan-outs {fanouts}".format(**minibatch))
        say(f"{description}, {info.num_parts} partitions of {directory} on {comm.size} MPI ranks, {mode}")
        say("model {model}: hidden {hidden}, layers {layers}, aggr {aggr}, dropout {dropout}, bias {bias}; Adam lr "
            "{lr}, weight decay {weight_decay} ({decay}); up to {epochs} epochs, early stopping {early_stopping} "
            "({patience})".format(**config))
        model, optimizer = build(config, s["seed"])
        common = dict(comm=comm, epochs=config["epochs"], patience=config["patience"],
                      early_stopping=config["early_stopping"], progress="quiet" if s["quiet"] or comm.rank else None,
                      log_every=s["log_every"], log=None if s["quiet"] or comm.rank else say)
        if minibatch is None:
            result = train_node_classifier_distributed(model, partition, optimizer, **common)
        else:
            result = train_node_classifier_distributed_minibatch(model, partition, optimizer, seed=s["seed"],
                                                                 **minibatch, **common)
        summary = summarize([(s["seed"], result)], time.perf_counter() - started)
        summary.update(partitions=str(directory), ranks=comm.size)
        for key in ("halo_nodes", "remote_feature_rows", "batches_per_epoch"):
            if key in result.info:
                summary[key] = result.info[key]
        if s["save"] is not None and comm.rank == 0:
            save_weights(model, s["save"], config)
            say(f"weights saved to {s['save']}")
            summary["saved"] = s["save"]
    say(f"val acc {summary['val_acc']:.4f}, test acc {summary['test_acc']:.4f}, "
        f"{1000 * summary['seconds_per_epoch']:.1f} ms/epoch over {summary['epochs']} epochs on {comm.size} ranks")
    if s["json"]:
        import json

        say(json.dumps(summary))
    return 0
