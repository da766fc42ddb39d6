#!/usr/bin/env python
"""Partitioned full-graph training on 1, 2, 4 MPI ranks: epoch time, communication, bytes and memory per rank.

``python bench/run.py distributed --dataset DIR --ranks 1,2,4`` (or
``python bench/distributed.py ...``):

1. the dataset folder is partitioned once per part count
   (``python -m fastgnn partition``, METIS by default; one part for P = 1)
   into ``DIR-partitions/<method>-<P>/`` beside it, reused while its
   ``partition.json`` is there and of the current format version (an older
   one is written again);
2. for every P, ``mpirun -n P`` runs this file as a worker (``--worker``) on
   every rank: it loads its part (:func:`fastgnn.distributed.load_partition`)
   and trains a 2-layer GCN (``--model sage``: GraphSAGE, mean aggregation;
   float32, hidden ``--hidden``, dropout 0.5, Adam)
   with :func:`fastgnn.distributed.train_node_classifier_distributed`, no
   validation, over a :class:`fastgnn.distributed.Communicator` counting its
   collectives (``stats=True``) for ``--warmup + --epochs`` epochs. An epoch
   ends with the optimizer step, where the worker reads the clock and the
   counters: the last ``--epochs`` epochs are timed, without the set-up
   (halo exchange set-up, GCN degrees, the one exchange of the input
   features) and the final evaluation;
3. the plain single-process :func:`fastgnn.train.train_node_classifier`
   (``bench/large_memory.py``'s ``fullbatch-plain`` case) runs in a fresh process
   for the single-process peak memory.

Per rank: seconds per epoch, seconds inside communication per epoch
(``alltoallv`` + ``allreduce_sum``, waiting for slower ranks included),
compute = epoch - communication, bytes sent per epoch, peak RSS
(``VmHWM``), owned and halo nodes, local edges, and the memory target's
ratio ``peak per rank / (single-process peak / P + halo bytes)``, where halo
bytes are the rank's extra rows: ``num_halo * (F + 2 * hidden) * 4`` (the
halo's input features, hidden activations and their gradients) plus 28
bytes of ids per halo node.

The hidden layer's halo exchange overlaps the aggregation of the rows that
read no halo row (``--no-overlap``: blocking, as before); its seconds are
then spent in a background thread, partly behind the compute, so ``comm``
and ``compute`` overlap and the epoch time is the figure to compare.

Ranks get ``OMP_NUM_THREADS`` = max(1, ``--threads`` // P) and Open MPI's
``mpi_yield_when_idle``. Memory figures do not depend on the machine's load;
times do (a shared 2-core machine: say so beside them).
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
if BENCH_DIR not in sys.path:
    sys.path.insert(0, BENCH_DIR)

from measure import append_json_lines, int_list  # noqa: E402
from minibatch import DATASET_ENV, status_mb  # noqa: E402

MB = 1024 * 1024
#: Bytes of ids a rank holds per halo node: global_ids, in_degree, halo_remote_index (int64), halo_owner (int32).
HALO_ID_BYTES = 8 + 8 + 8 + 4


def partition_dir(dataset, method, num_parts):
    """Where the partitions of ``dataset`` are cached: ``DIR-partitions/<method>-<P>`` beside the folder."""
    dataset = os.path.abspath(dataset).rstrip(os.sep)
    return os.path.join(f"{dataset}-partitions", f"{method}-{num_parts}")


def ensure_partition(dataset, method, num_parts):
    """The partition folder of ``dataset`` into ``num_parts`` parts, written by a child process if missing."""
    method = "contiguous" if num_parts == 1 else method
    out = partition_dir(dataset, method, num_parts)
    version = _partition_version(out)
    if version != _current_version():
        os.makedirs(os.path.dirname(out), exist_ok=True)
        started = time.perf_counter()
        stale = [] if version is None else ["--overwrite"]        # an older format: written again
        subprocess.run([sys.executable, "-m", "fastgnn", "partition", "--dataset", dataset, "--num-parts",
                        str(num_parts), "--method", method, "--out", out, *stale], check=True,
                       stdout=subprocess.DEVNULL)
        print(f"partitioned into {num_parts} ({method}) in {time.perf_counter() - started:.0f} s: {out}"
              + (f" (replacing format version {version})" if stale else ""), flush=True)
    return out


def _partition_version(out):
    """The format version of the partition folder ``out``, None when there is none."""
    path = os.path.join(out, "partition.json")
    if not os.path.exists(path):
        return None
    with open(path) as handle:
        return json.load(handle).get("version")


def _current_version():
    from fastgnn.distributed.partition import PARTITION_VERSION

    return PARTITION_VERSION


def _stats_delta(after, before):
    return {op: {key: after[op][key] - before[op][key] for key in after[op]} for op in after}


def worker(args):
    """One rank: train twice, return this rank's figures (gathered on rank 0, which prints them as JSON)."""
    from fastgnn.distributed import Communicator, abort_on_failure, load_partition, train_node_classifier_distributed
    from fastgnn.graph.pending import ready_rows
    from fastgnn.models import GCN, GraphSAGE
    from fastgnn.optim import Adam

    comm = Communicator(stats=True)
    with abort_on_failure(comm):
        rss_start = status_mb("VmRSS")
        started = time.perf_counter()
        part = load_partition(args.partitions, comm.rank)
        load_seconds = time.perf_counter() - started
        rss_loaded = status_mb("VmRSS")
        num_features = part.x.shape[1]
        model_class = GCN if args.model == "gcn" else GraphSAGE   # GraphSAGE: mean aggregation
        model = model_class(num_features, args.hidden, part.num_classes, dropout=0.5, rng=0, dtype=np.float32)
        optimizer = Adam(model.parameters(), lr=0.01)
        no_validation = np.zeros(part.num_owned, dtype=bool)
        marks = []                  # (time, stats) at the end of every epoch: its optimizer step
        step = optimizer.step

        def step_and_mark(*step_args, **step_kwargs):
            out = step(*step_args, **step_kwargs)
            marks.append((time.perf_counter(), json.loads(json.dumps(comm.stats))))
            return out

        optimizer.step = step_and_mark
        comm.barrier()
        result = train_node_classifier_distributed(model, part, optimizer, comm=comm,
                                                   epochs=args.warmup + args.epochs, early_stopping=None,
                                                   val_mask=no_validation, n_threads=args.threads_per_rank,
                                                   round_bytes=args.round_bytes, overlap=not args.no_overlap)
        (first, stats_first), (last, stats_last) = marks[args.warmup - 1], marks[-1]
        per_epoch = {op: {key: value / args.epochs for key, value in entry.items()}
                     for op, entry in _stats_delta(stats_last, stats_first).items()}
        epoch_seconds = (last - first) / args.epochs
        comm_seconds = sum(entry["seconds"] for entry in per_epoch.values())
        graph = part.graph
        record = {
            "rank": comm.rank, "num_owned": part.num_owned, "num_halo": part.num_halo,
            "num_local_edges": graph.num_edges,
            "graph_mb": (graph.indptr.nbytes + graph.indices.nbytes) / MB,
            "features_mb": part.x.nbytes / MB,
            "halo_mb": part.num_halo * ((num_features + 2 * args.hidden) * 4 + HALO_ID_BYTES) / MB,
            "load_seconds": load_seconds, "rss_start_mb": rss_start, "rss_loaded_mb": rss_loaded,
            "peak_rss_mb": status_mb("VmHWM"), "epoch_seconds": epoch_seconds, "comm_seconds": comm_seconds,
            "compute_seconds": epoch_seconds - comm_seconds,
            "alltoallv_seconds": per_epoch["alltoallv"]["seconds"],
            "allreduce_seconds": per_epoch["allreduce_sum"]["seconds"],
            "bytes_sent": sum(entry["bytes_sent"] for entry in per_epoch.values()),
            "alltoallv_bytes_sent": per_epoch["alltoallv"]["bytes_sent"],
            "allreduce_bytes_sent": per_epoch["allreduce_sum"]["bytes_sent"],
            "train_loss": result.history["train_loss"][-1],
            # owned rows that read no halo row: aggregated while the halo travels (interior-first parts)
            "ready_rows": ready_rows(graph, part.num_owned),
            # the whole run's overlapped forward exchanges (warm-up and evaluation included)
            "overlap": result.info["overlap"],
        }
        records = comm.allgather(record)
    if comm.rank == 0:
        info = part.info
        print(json.dumps({"ranks": comm.size, "partitions": args.partitions, "model": args.model,
                          "hidden": args.hidden, "overlap": not args.no_overlap,
                          "num_nodes": info.num_nodes, "num_edges": info.num_edges,
                          "num_features": int(part.x.shape[1]), "num_classes": int(part.num_classes),
                          "epochs": args.epochs, "threads_per_rank": args.threads_per_rank, "per_rank": records}),
              flush=True)
    return 0


def run_ranks(args, num_parts, partitions):
    """``mpirun -n num_parts`` the worker; returns its JSON record."""
    threads = max(1, args.threads // num_parts)
    command = ["mpirun", "-n", str(num_parts), "--oversubscribe"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-run-as-root")
    command += [sys.executable, os.path.abspath(__file__), "--worker", "--partitions", partitions,
                "--model", args.model, "--hidden", str(args.hidden), "--epochs", str(args.epochs), "--warmup", str(args.warmup),
                "--threads-per-rank", str(threads)]
    if args.round_bytes is not None:
        command += ["--round-bytes", str(args.round_bytes)]
    if args.no_overlap:
        command.append("--no-overlap")
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OMPI_MCA_mpi_yield_when_idle="1")
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"mpirun -n {num_parts} exited with status {done.returncode}")
    record = json.loads(done.stdout.strip().splitlines()[-1])
    record["method"] = "contiguous" if num_parts == 1 else args.method
    return record


def single_process(args):
    """The plain single-process full-batch GCN in a fresh process (``bench/large_memory.py``)."""
    import large_memory

    options = large_memory.add_arguments(argparse.ArgumentParser()).parse_args(
        ["--dataset", args.dataset, "--epochs", str(args.warmup + args.epochs), "--hidden", str(args.hidden),
         "--threads", str(args.threads)])
    return large_memory.run_case("fullbatch-plain", options)     # GCN, not the row-chunked ChunkedGCN


def memory_ratio(rank_record, single_peak_mb, num_parts):
    """``peak per rank / (single-process peak / P + halo)``: the target is at most 1."""
    return rank_record["peak_rss_mb"] / (single_peak_mb / num_parts + rank_record["halo_mb"])


def report(records, single, file=None):
    """Print the table: one line per rank and P, then the single-process figures."""
    file = sys.stdout if file is None else file
    if single is not None:
        print(f"single process (train_node_classifier, {single['threads']} threads): peak RSS "
              f"{single['peak_rss_mb']:,.0f} MB, {single['train_seconds'] / single['epochs']:.2f} s/epoch "
              f"(with its set-up)", file=file)
    if records:
        print(f"halo exchange {'overlapped with the aggregation' if records[0].get('overlap', False) else 'blocking'}"
              f"{' (comm s: inside the collectives, partly hidden behind compute s)' if records[0].get('overlap') else ''}",
              file=file)
    for record in records:
        for rank in record["per_rank"]:
            overlap = rank.get("overlap") or {}
            if overlap.get("exchanges"):
                hidden = 1 - overlap["waited_seconds"] / max(overlap["exchange_seconds"], 1e-12)
                print(f"P = {record['ranks']} rank {rank['rank']}: ready rows {rank['ready_rows']:,} of "
                      f"{rank['num_owned']:,} ({rank['ready_rows'] / max(rank['num_owned'], 1):.0%}); "
                      f"{overlap['exchanges']} overlapped exchanges, {overlap['exchange_seconds']:.2f} s in the "
                      f"background, {overlap['waited_seconds']:.2f} s still waited ({hidden:.0%} hidden)", file=file)
    print(f"{'P':>2} {'rank':>4} {'owned':>9} {'halo':>9} {'edges':>10} {'epoch s':>8} {'comm s':>7} "
          f"{'compute s':>9} {'MB sent':>8} {'peak MB':>8} {'halo MB':>8} {'peak/(1/P+halo)':>15}", file=file)
    for record in records:
        num_parts = record["ranks"]
        for rank in record["per_rank"]:
            ratio = (f"{memory_ratio(rank, single['peak_rss_mb'], num_parts):>15.2f}" if single is not None
                     else f"{'-':>15}")
            print(f"{num_parts:>2} {rank['rank']:>4} {rank['num_owned']:>9,} {rank['num_halo']:>9,} "
                  f"{rank['num_local_edges']:>10,} {rank['epoch_seconds']:>8.2f} {rank['comm_seconds']:>7.2f} "
                  f"{rank['compute_seconds']:>9.2f} {rank['bytes_sent'] / 1e6:>8.1f} {rank['peak_rss_mb']:>8,.0f} "
                  f"{rank['halo_mb']:>8,.0f} {ratio}", file=file)
    file.flush()


def add_arguments(parser):
    """Declare the options of ``python bench/run.py distributed``; returns the parser."""
    parser.add_argument("--dataset", default=os.environ.get(DATASET_ENV),
                        help=f"a fastgnn dataset folder (default ${DATASET_ENV})")
    parser.add_argument("--ranks", type=int_list, default=[1, 2, 4], help="comma-separated rank counts (1,2,4)")
    parser.add_argument("--method", default="metis", choices=["metis", "random", "contiguous"])
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs (default 3)")
    parser.add_argument("--warmup", type=int, default=1, help="epochs run first and subtracted (default 1)")
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--model", choices=["gcn", "sage"], default="gcn",
                        help="2-layer GCN (default) or GraphSAGE with mean aggregation")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="cores shared by the ranks (OMP_NUM_THREADS = threads // P)")
    parser.add_argument("--round-bytes", type=int, default=None,
                        help="bytes of rows per halo-exchange round (default: the library's, 32 MiB)")
    parser.add_argument("--no-overlap", action="store_true",
                        help="blocking halo exchanges (default: overlapped with the interior rows' aggregation)")
    parser.add_argument("--no-single", action="store_true", help="skip the single-process run")
    parser.add_argument("--json", metavar="PATH", default=None, help="append the JSON records to PATH")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--partitions", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--threads-per-rank", type=int, default=1, help=argparse.SUPPRESS)
    return parser


def run_from_args(args, file=None):
    """Run with parsed options; returns an exit status."""
    if args.worker:
        return worker(args)
    if not args.dataset:
        raise SystemExit(f"give a dataset folder: --dataset PATH or ${DATASET_ENV}")
    if args.epochs < 1 or args.warmup < 1:
        raise SystemExit("--epochs and --warmup must be >= 1")
    records = []
    for num_parts in args.ranks:
        partitions = ensure_partition(args.dataset, args.method, num_parts)
        records.append(run_ranks(args, num_parts, partitions))
    # the single-process baseline is bench/large_memory.py's GCN: no memory ratio for GraphSAGE
    single = None if args.no_single or args.model != "gcn" else single_process(args)
    report(records, single, file)
    append_json_lines(args.json, records + ([] if single is None else [single]))
    return 0


def main(argv=None):
    parser = add_arguments(argparse.ArgumentParser(description=__doc__.split("\n\n")[0]))
    return run_from_args(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
