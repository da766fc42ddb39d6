"""Data-parallel mini-batch training: one epoch's time, and where a rank spends it.

Run from the repository root, first without MPI (the single-process
trainer and the distributed one on one part, interleaved), then under
``mpirun`` (P parts, one per rank)::

    python bench/dist_minibatch.py --out /tmp/dm                  # writes the partitions, times P=1
    OMP_NUM_THREADS=1 mpirun -n 2 python bench/dist_minibatch.py --out /tmp/dm

Rank 0 prints one JSON line per configuration: the median seconds per epoch
over ``--rounds`` epochs, and the split of a step's time between sampling,
the feature exchange (``RemoteFeatures.fetch``), the model's forward and
backward, and the gradient sum (means over the run's steps); also the
halo exchange and the local aggregation of one full-graph layer (the
overlap question of ``docs/distributed.md``).
"""
import argparse
import json
import os
import sys
import time

import numpy as np

from fastgnn.data import sample_neighbors
from fastgnn.datasets import dcsbm_graph
from fastgnn.distributed import load_partition, partition
from fastgnn.models import GraphSAGE
from fastgnn.optim import Adam


def _model(x, classes):
    model = GraphSAGE(x.shape[1], 64, classes, dropout=0.0, rng=0)
    return model, Adam(model.parameters(), lr=0.01)


def _profile(comm, part, args):
    """Seconds per part of a step, measured by running the trainer's steps by hand (no overlap)."""
    from fastgnn.distributed import RemoteFeatures, allreduce_gradients
    from fastgnn.ops.dense import softmax_cross_entropy_rows

    model, optimizer = _model(part.x, part.num_classes)
    features = RemoteFeatures(part.x, part.owner, part.local_index, comm)
    train = part.global_ids[:part.num_owned][part.masks()[0]]
    rng = np.random.default_rng(comm.rank)
    times = np.zeros(4)
    steps = 20
    for step in range(steps):
        seeds = rng.choice(train, min(train.shape[0], args.batch_size // comm.size), replace=False)
        t0 = time.perf_counter()
        sub = sample_neighbors(part.full_graph, seeds, args.fanouts, seed=0, epoch=step)
        t1 = time.perf_counter()
        x_in = features.fetch(sub.input_nodes)
        t2 = time.perf_counter()
        logits = model(sub.blocks, x_in.astype(np.float32))
        _, grad = softmax_cross_entropy_rows(logits, np.ascontiguousarray(part.y[part.local_index[seeds]]), 1.0)
        model.backward(grad)
        t3 = time.perf_counter()
        allreduce_gradients(model, comm)
        optimizer.step()
        times += (t1 - t0, t2 - t1, t3 - t2, time.perf_counter() - t3)
    return dict(zip(("sample_ms", "fetch_ms", "model_ms", "allreduce_ms"), np.round(1000 * times / steps, 2)))


def _overlap_figures(comm, part, width=64):
    """Milliseconds of one halo exchange of width ``width`` against one local sum aggregation (medians of 7)."""
    from fastgnn.distributed import HaloExchange
    from fastgnn.ops import aggregate

    halo = HaloExchange(part, comm)
    h = np.random.default_rng(0).standard_normal((part.num_owned, width)).astype(np.float32)
    exchange, local = [], []
    for _ in range(7):
        t0 = time.perf_counter()
        h_src = halo.forward(h)
        t1 = time.perf_counter()
        aggregate(part.graph, h_src, "sum")
        exchange.append(t1 - t0)
        local.append(time.perf_counter() - t1)
    return {"halo_exchange_ms": round(1000 * float(np.median(exchange)), 2),
            "local_aggregate_ms": round(1000 * float(np.median(local)), 2), "num_halo": int(part.num_halo)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="partition folders are written below this folder")
    parser.add_argument("--nodes", type=int, default=100_000)
    parser.add_argument("--degree", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--fanouts", type=lambda s: [int(v) for v in s.split(",")], default=[10, 10])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from fastgnn.distributed import SelfCommunicator, train_node_classifier_distributed_minibatch

    try:
        from fastgnn.distributed import Communicator
        comm = Communicator()
    except ImportError:
        comm = SelfCommunicator()
    if comm.size == 1:
        comm = SelfCommunicator()
    folder = os.path.join(args.out, f"parts-{comm.size}")
    if comm.rank == 0 and not os.path.exists(folder):
        graph, x, y, split = dcsbm_graph(args.nodes, args.degree, 16, seed=0, return_split=True)
        partition(graph, comm.size, folder, method="random", seed=0, x=x.astype(np.float32), y=y, splits=split)
    if comm.size > 1:
        comm.barrier()
    part = load_partition(folder, comm.rank)
    epochs = []
    for _ in range(args.rounds):
        model, optimizer = _model(part.x, part.num_classes)
        result = train_node_classifier_distributed_minibatch(
            model, part, optimizer, fanouts=args.fanouts, batch_size=args.batch_size, epochs=1, comm=comm,
            early_stopping=None, seed=0)
        epochs.append(result.history["epoch_seconds"][0])
    line = {"ranks": comm.size, "nodes": args.nodes, "batch_size": args.batch_size, "fanouts": args.fanouts,
            "seconds_per_epoch": round(float(np.median(epochs)), 3),
            "remote_rows_share": round(result.info["remote_feature_rows"]
                                       / max(1, result.info["remote_feature_rows"]
                                             + result.info["local_feature_rows"]), 3),
            **_profile(comm, part, args)}
    if comm.size > 1:
        line.update(_overlap_figures(comm, part))
    if comm.rank == 0:
        print(json.dumps(line), flush=True)
    if comm.size == 1:      # the single-process trainer on the same graph, for the P=1 overhead
        from fastgnn.datasets import dcsbm_graph as _graph
        from fastgnn.train import train_node_classifier_minibatch

        graph, x, y, split = _graph(args.nodes, args.degree, 16, seed=0, return_split=True)
        masks = [np.isin(np.arange(graph.num_nodes), split[k]) for k in ("train", "valid", "test")]
        times = []
        for _ in range(args.rounds):
            model, optimizer = _model(x, part.num_classes)
            result = train_node_classifier_minibatch(model, graph, x.astype(np.float32), y, *masks, optimizer,
                                                     fanouts=args.fanouts, batch_size=args.batch_size, epochs=1,
                                                     early_stopping=None, seed=0)
            times.append(result.history["epoch_seconds"][0])
        print(json.dumps({"single_process_seconds_per_epoch": round(float(np.median(times)), 3)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
