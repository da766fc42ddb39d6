#!/usr/bin/env python
"""Mini-batch GraphSAGE training on a dataset folder, fastgnn against DGL 1.1.3: ``python bench/run.py minibatch``.

What is measured: training steps of a 3-layer GraphSAGE (mean aggregation,
hidden 256, ReLU and dropout 0.5 between the layers, no dropout on the
input features), fan-outs [15, 10, 5] from the seeds outward, batches of
1,024 training nodes, cross-entropy on the seeds, Adam (lr 0.003): each step
samples the blocks, gathers the input rows of the memory-mapped ``x.npy``,
runs forward, backward and the optimizer step. The dataset is a folder of
fastgnn's on-disk format (``--dataset PATH`` or ``$FASTGNN_BENCH_DATASET``;
e.g. the products-sized DC-SBM graph of ``fastgnn.datasets.dcsbm_node_dataset``,
2.45M nodes, 61M edges, 100 features, 47 classes).

* ``fastgnn``: :class:`fastgnn.data.NeighborLoader` (next batch prepared in a
  background thread, as :func:`fastgnn.train.train_node_classifier_minibatch`
  does) and :class:`fastgnn.models.GraphSAGE` on the blocks, the folder
  opened with :class:`fastgnn.datasets.OnDiskDataset` (graph and features
  memory-mapped), kernels and BLAS on ``threads`` threads;
* ``dgl``: ``dgl.dataloading.NeighborSampler`` + ``DataLoader`` and
  ``dgl.nn.SAGEConv('mean')`` in DGL's own environment
  (``bench/minibatch_dgl_peer.py``, ``--dgl-python`` or
  ``$FASTGNN_DGL_PYTHON``), which reads the folder's ``.npy`` files itself
  (the graph into memory, ``x.npy`` memory-mapped);
* PyG: its ``NeighborLoader`` needs ``pyg-lib`` or ``torch_sparse``; the
  output says whether they are importable (they have no wheels for the
  installed torch).

The seeds are the first ``--batches`` batches of a fixed shuffle of the
training split, the same for both; the epoch time is extrapolated from
them to the whole training split (stated in the output). Each side runs in
its own process, kept alive and driven round by round (fastgnn, DGL,
fastgnn, DGL, ... for every thread count), medians reported; each process
reports its own peak RSS (``VmHWM``, loading included) and, after its
rounds, its anonymous and file-backed resident memory (mapped pages of the
page cache count in RSS but can be dropped).

The machine may be shared: only the ratios of one run mean something.
"""
import argparse
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import time

import numpy as np

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
if BENCH_DIR not in sys.path:
    sys.path.insert(0, BENCH_DIR)

from measure import Peer, append_json_lines, fanout_list, int_list, status_kb  # noqa: E402  (bench/measure.py)

DGL_PEER = os.path.join(BENCH_DIR, "minibatch_dgl_peer.py")
DGL_PYTHON_ENV = "FASTGNN_DGL_PYTHON"
DATASET_ENV = "FASTGNN_BENCH_DATASET"
IMPLS = ("fastgnn", "dgl")

__all__ = ["status_mb", "pyg_status", "make_seeds", "FastgnnTrainer", "add_arguments", "run_from_args", "main"]


def status_mb(field):
    """A ``/proc/self/status`` field (``VmHWM``: peak RSS, ``VmRSS``, ``RssAnon``, ``RssFile``) in MB, or None."""
    kb = status_kb(field)
    return None if kb is None else kb / 1024


def pyg_status():
    """Why PyG's ``NeighborLoader`` is not timed here: a sentence."""
    import importlib.util

    backends = [name for name in ("pyg_lib", "torch_sparse") if importlib.util.find_spec(name) is not None]
    if importlib.util.find_spec("torch_geometric") is None:
        return "PyG skipped: torch_geometric is not installed"
    if not backends:
        return ("PyG skipped: its NeighborLoader needs pyg-lib or torch_sparse, and neither is installed "
                "(no wheels for this torch)")
    return f"PyG not timed by this suite ({', '.join(backends)} importable: a PyG column could be added)"


def make_seeds(train_ids, batches, batch_size, seed=0):
    """The first ``batches`` batches of a fixed shuffle of ``train_ids``: int64, ``batches x batch_size``."""
    train_ids = np.asarray(train_ids, dtype=np.int64)
    if batches * batch_size > train_ids.shape[0]:
        raise SystemExit(f"--batches {batches} x --batch-size {batch_size} exceeds the {train_ids.shape[0]:,} "
                         "training nodes")
    order = np.random.default_rng(seed).permutation(train_ids.shape[0])[:batches * batch_size]
    return train_ids[order].reshape(batches, batch_size)


class FastgnnTrainer:
    """fastgnn's side: a GraphSAGE, its Adam, and one :class:`NeighborLoader` per thread count over fixed seeds."""

    def __init__(self, dataset, seeds, fanouts, hidden=256, dropout=0.5, lr=0.003, prefetch=True,
                 mapped_page_budget="auto"):
        from fastgnn.datasets import OnDiskDataset
        from fastgnn.models import GraphSAGE
        from fastgnn.optim import Adam

        self.data = OnDiskDataset(dataset, mmap=True)
        self.seeds = np.ascontiguousarray(seeds, dtype=np.int64)
        self.fanouts = list(fanouts)
        self.prefetch = prefetch
        self.mapped_page_budget = mapped_page_budget
        self.model = GraphSAGE(self.data.num_features, hidden, self.data.num_classes, len(fanouts), aggr="mean",
                               dropout=dropout, input_dropout=0.0, rng=0, dtype=np.float32)
        self.optimizer = Adam(self.model.parameters(), lr=lr)
        self._loaders = {}

    def loader(self, threads):
        from fastgnn.data import NeighborLoader

        if threads not in self._loaders:
            self._loaders[threads] = NeighborLoader(
                self.data.graph, self.data.x, self.data.y, fanouts=self.fanouts, input_nodes=self.seeds.reshape(-1),
                batch_size=self.seeds.shape[1], shuffle=False, seed=0, prefetch=self.prefetch, n_threads=threads,
                mapped_page_budget=self.mapped_page_budget)
        return self._loaders[threads]

    def step(self, batch):
        """One optimizer step on a :class:`MiniBatch`; returns its sampled edges."""
        from fastgnn.losses import cross_entropy

        self.optimizer.zero_grad()
        features = batch.x if batch.x.dtype == np.float32 else batch.x.astype(np.float32)
        logits = self.model(batch.blocks, features, discard_input=True)   # read nowhere after the forward
        _, grad = cross_entropy(logits, batch.y)
        self.model.backward(grad)
        self.optimizer.step()
        return sum(block.num_edges for block in batch.blocks)

    def round(self, threads, epoch):
        """One untimed warm-up step, then one step per seed batch; a dict like the DGL peer's reply."""
        from fastgnn.train.loop import thread_policy

        loader = self.loader(threads)
        self.model.train()
        with thread_policy(threads, blas_threads=threads):
            self.step(loader.batch(0, epoch=10_000 + epoch))  # warm-up, untimed
            loader.set_epoch(epoch)
            edges = batches = 0
            cpu = time.process_time()
            start = time.perf_counter()
            for batch in loader:
                edges += self.step(batch)
                batches += 1
            seconds = time.perf_counter() - start
            cpu_seconds = time.process_time() - cpu
        return {"threads": threads, "seconds": seconds, "cpu_seconds": cpu_seconds, "edges": int(edges),
                "batches": batches, "peak_rss_mb": status_mb("VmHWM"), "rss_anon_mb": status_mb("RssAnon"),
                "rss_file_mb": status_mb("RssFile")}


def worker_main(args):
    """``--worker``: fastgnn's process, driven like the DGL peer (``ROUND <threads>`` / ``QUIT`` on stdin)."""
    import fastgnn

    trainer = FastgnnTrainer(args.dataset, np.load(args.seeds), args.fanouts, args.hidden, args.dropout, args.lr,
                             prefetch=not args.no_prefetch)
    print(json.dumps({"ready": True, "fastgnn": fastgnn.__version__, "num_nodes": trainer.data.graph.num_nodes,
                      "num_edges": trainer.data.graph.num_edges}), flush=True)
    epoch = 0
    for line in sys.stdin:
        words = line.split()
        if not words or words[0] == "QUIT":
            break
        print(json.dumps(trainer.round(int(words[1]), epoch)), flush=True)
        epoch += 1
    return 0


def add_arguments(parser):
    """Declare the options of ``python bench/run.py minibatch``; returns the parser."""
    parser.add_argument("--dataset", default=os.environ.get(DATASET_ENV),
                        help=f"a fastgnn dataset folder (default ${DATASET_ENV})")
    parser.add_argument("--fanouts", type=fanout_list, default=[15, 10, 5], help="seeds first (default 15,10,5)")
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--batches", type=int, default=20,
                        help="batches timed per round (default 20); the epoch time is extrapolated from them")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--dropout", type=float, default=0.5)
    parser.add_argument("--lr", type=float, default=0.003)
    parser.add_argument("--threads", type=int_list, default=[1, 2], help="comma-separated (default 1,2)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds, medians printed (default 3)")
    parser.add_argument("--impls", type=lambda t: [i for i in t.split(",") if i], default=list(IMPLS),
                        help="comma-separated among fastgnn,dgl (default both)")
    parser.add_argument("--no-prefetch", action="store_true", help="fastgnn: no background sampling thread")
    parser.add_argument("--dgl-python", default=os.environ.get(DGL_PYTHON_ENV),
                        help=f"interpreter of the DGL environment (default ${DGL_PYTHON_ENV}); none: no DGL column")
    parser.add_argument("--json", metavar="PATH", default=None, help="append one JSON line per row to PATH")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--seeds", default=None, help=argparse.SUPPRESS)
    return parser


def _start(impl, args, seeds_file):
    options = ["--dataset", args.dataset, "--seeds", seeds_file, "--fanouts", ",".join(map(str, args.fanouts)),
               "--hidden", str(args.hidden), "--dropout", str(args.dropout), "--lr", str(args.lr)]
    if impl == "fastgnn":
        return Peer([sys.executable, os.path.abspath(__file__), "--worker"] + options
                    + (["--no-prefetch"] if args.no_prefetch else []), cwd=BENCH_DIR)
    return Peer([args.dgl_python, DGL_PEER] + options, cwd=BENCH_DIR)


def run(args, file=None):
    """Run the rounds and print the table; returns the rows (dicts, also appended to ``--json``)."""
    file = sys.stdout if file is None else file
    from fastgnn.datasets import OnDiskDataset

    if not args.dataset:
        raise SystemExit(f"give a dataset folder: --dataset PATH or ${DATASET_ENV}")
    if args.rounds < 1 or args.batches < 1 or args.batch_size < 1:
        raise SystemExit("--rounds, --batches and --batch-size must be >= 1")
    unknown = sorted(set(args.impls) - set(IMPLS))
    if unknown:
        raise SystemExit(f"--impls: unknown {', '.join(unknown)}; choose among {', '.join(IMPLS)}")
    data = OnDiskDataset(args.dataset, mmap=True)
    train = data.split()["train"]
    seeds = make_seeds(train, args.batches, args.batch_size)
    batches_per_epoch = math.ceil(train.shape[0] / args.batch_size)
    print(f"dataset {args.dataset}: {data.graph.num_nodes:,} nodes, {data.graph.num_edges:,} edges, "
          f"{data.num_features} features, {data.num_classes} classes, {train.shape[0]:,} training nodes "
          f"({batches_per_epoch} batches of {args.batch_size} per epoch)", file=file)
    print(f"GraphSAGE mean, {len(args.fanouts)} layers, hidden {args.hidden}, fan-outs {args.fanouts} (seeds first), "
          f"Adam; {args.batches} batches timed per round, {args.rounds} interleaved rounds", file=file, flush=True)
    del data
    folder = tempfile.mkdtemp(prefix="fastgnn-minibatch-")
    seeds_file = os.path.join(folder, "seeds.npy")
    np.save(seeds_file, seeds)
    peers = {}
    try:
        for impl in args.impls:
            if impl == "dgl" and not args.dgl_python:
                print(f"DGL skipped: no --dgl-python and no ${DGL_PYTHON_ENV}", file=file)
                continue
            t0 = time.perf_counter()
            try:
                peers[impl] = _start(impl, args, seeds_file)
            except (OSError, RuntimeError, ValueError) as error:
                print(f"{impl} skipped: {error}", file=file)
                continue
            version = peers[impl].info.get(impl)
            print(f"{impl} {version} ready ({time.perf_counter() - t0:.1f} s to start and load)", file=file,
                  flush=True)
        print(pyg_status(), file=file, flush=True)
        replies = {(impl, t): [] for impl in peers for t in args.threads}
        for _ in range(args.rounds):
            for threads in args.threads:
                for impl, peer in peers.items():
                    replies[(impl, threads)].append(peer.round(threads))
    finally:
        for peer in peers.values():
            peer.close()
        shutil.rmtree(folder, ignore_errors=True)
    rows = []
    for (impl, threads), got in replies.items():
        per_batch = statistics.median(r["seconds"] / r["batches"] for r in got)
        rows.append({"suite": "minibatch", "impl": impl, "threads": threads, "batches": got[0]["batches"],
                     "batch_size": args.batch_size, "fanouts": args.fanouts, "hidden": args.hidden,
                     "rounds": len(got), "seconds_per_batch": per_batch,
                     "epoch_seconds_extrapolated": per_batch * batches_per_epoch,
                     "batches_per_epoch": batches_per_epoch,
                     "edges_per_batch": statistics.median(r["edges"] / r["batches"] for r in got),
                     "sampled_edges_per_second": statistics.median(r["edges"] / r["seconds"] for r in got),
                     "cpu_seconds_per_batch": statistics.median(r["cpu_seconds"] / r["batches"] for r in got),
                     "peak_rss_mb": max(r["peak_rss_mb"] or 0 for r in got),
                     "rss_anon_mb": got[-1]["rss_anon_mb"], "rss_file_mb": got[-1]["rss_file_mb"],
                     "per_round_seconds": [round(r["seconds"], 3) for r in got]})
    print(file=file)
    print(f"median of the rounds; epoch = time per batch x {batches_per_epoch} batches (extrapolated from "
          f"{args.batches}); edges/s = sampled edges per second of training; ratio = DGL time / fastgnn time",
          file=file)
    print(f"{'impl':>8} {'threads':>7} {'ms/batch':>9} {'epoch s':>8} {'edges/batch':>12} {'Medges/s':>9} "
          f"{'ratio':>6} {'peak RSS MB':>12} {'anon MB':>8} {'file MB':>8}", file=file)
    by_key = {(r["impl"], r["threads"]): r for r in rows}
    for threads in args.threads:
        for impl in args.impls:
            row = by_key.get((impl, threads))
            if row is None:
                continue
            mine = by_key.get(("fastgnn", threads))
            ratio = row["seconds_per_batch"] / mine["seconds_per_batch"] if mine else None
            row["dgl_over_fastgnn"] = (by_key[("dgl", threads)]["seconds_per_batch"] / mine["seconds_per_batch"]
                                       if mine and ("dgl", threads) in by_key else None)
            print(f"{impl:>8} {threads:7d} {row['seconds_per_batch'] * 1e3:9.1f} "
                  f"{row['epoch_seconds_extrapolated']:8.1f} {row['edges_per_batch']:12,.0f} "
                  f"{row['sampled_edges_per_second'] / 1e6:9.2f} {'-' if ratio is None else f'{ratio:.2f}':>6} "
                  f"{row['peak_rss_mb']:12.0f} {row['rss_anon_mb'] or 0:8.0f} {row['rss_file_mb'] or 0:8.0f}",
                  file=file)
    for threads in args.threads:
        if ("fastgnn", threads) in by_key and ("dgl", threads) in by_key:
            fg, dg = (by_key[(impl, threads)]["cpu_seconds_per_batch"] for impl in ("fastgnn", "dgl"))
            print(f"{threads} thread(s), CPU seconds per batch (less sensitive to other load on the machine): "
                  f"fastgnn {fg:.3f}, DGL {dg:.3f}, ratio {dg / fg:.2f}", file=file)
    print("per-round seconds:", {f"{r['impl']}@{r['threads']}": r["per_round_seconds"] for r in rows}, file=file)
    append_json_lines(args.json, rows)
    return rows


def run_from_args(args):
    """Run with parsed options; returns an exit status."""
    if args.worker:
        return worker_main(args)
    run(args)
    return 0


def main(argv=None):
    parser = add_arguments(argparse.ArgumentParser(description=__doc__.split("\n\n")[0]))
    return run_from_args(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
