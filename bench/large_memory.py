#!/usr/bin/env python
"""Peak memory of training on a large dataset folder, each case in a fresh process: ``bench/run.py large-memory``.

Three cases (``--cases``), each run by a child process (this file with
``--worker CASE``) that reports its own ``/proc/self/status`` figures, so
that no case inherits another's high-water mark:

* ``fullbatch``: the folder loaded into memory (``OnDiskDataset(path,
  mmap=False)``), a 2-layer :class:`fastgnn.models.ChunkedGCN` (float32,
  hidden 128, dropout 0.5 on the hidden layer, chunks of ``--chunk-size``
  rows, the hidden layer recomputed in the backward) trained full-batch
  for ``--epochs`` epochs with Adam by
  :func:`fastgnn.train.train_node_classifier` (loss on the training split,
  no validation), 2 threads. Compared: peak RSS (``VmHWM``, the whole
  process: interpreter, loading and training) against the bytes of graph +
  features (``indptr`` + ``indices`` + ``x``); the target is at
  most 2x.
* ``fullbatch-plain``: the same with the ordinary ``GCN`` (``cached=True``,
  dropout 0.5 on the input and the hidden layer), for the record: it holds
  the normalized graph and several ``N x 128`` arrays.
* ``minibatch``: the folder memory-mapped (``OnDiskDataset(path,
  mmap=True)``: graph and features), the mini-batch GraphSAGE of
  ``bench/minibatch.py`` (mean, hidden 256, fan-outs 15,10,5, batch 1,024,
  Adam, next batch sampled in a background thread) trained on ``--batches``
  batches of the training split, 2 threads. Compared against the size of
  ``x.npy``: peak RSS (``VmHWM``, which counts the mapped pages of the
  files that were read, page cache the kernel can drop) and the peak of the
  anonymous memory (``RssAnon``, polled every 2 ms by a thread: the process's own
  allocations). The loader releases the mapped pages it reads
  (``mapped_page_budget``, default 16 MiB; ``--mapped-page-budget 0``
  keeps every page read, the old behaviour).

The machine may be shared: memory figures do not depend on the load, the
times printed beside them do.
"""
import argparse
import json
import os
import subprocess
import sys
import threading
import time

import numpy as np

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
if BENCH_DIR not in sys.path:
    sys.path.insert(0, BENCH_DIR)

from measure import append_json_lines, fanout_list  # noqa: E402
from minibatch import DATASET_ENV, FastgnnTrainer, make_seeds, status_mb  # noqa: E402

CASES = ("fullbatch", "fullbatch-plain", "minibatch")
MB = 1024 * 1024


def _file_mb(folder, name):
    return os.path.getsize(os.path.join(folder, name)) / MB


def fullbatch_worker(args, plain=False):
    """Full-batch GCN in this process (``ChunkedGCN``, or ``GCN`` when ``plain``); returns the figures."""
    from fastgnn.datasets import OnDiskDataset
    from fastgnn.models import GCN, ChunkedGCN
    from fastgnn.optim import Adam
    from fastgnn.train import train_node_classifier

    before = status_mb("VmRSS")
    t0 = time.perf_counter()
    data = OnDiskDataset(args.dataset, mmap=False)
    x = np.asarray(data.x)
    indptr, indices = data.graph.indptr, data.graph.indices
    graph_mb = (indptr.nbytes + indices.nbytes) / MB
    features_mb = x.nbytes / MB
    train_mask = np.zeros(data.graph.num_nodes, dtype=bool)
    train_mask[data.split()["train"]] = True
    loaded = status_mb("VmRSS")
    load_seconds = time.perf_counter() - t0
    if plain:
        model = GCN(data.num_features, args.hidden, data.num_classes, dropout=0.5, cached=True, rng=0,
                    dtype=np.float32)
    else:
        model = ChunkedGCN(data.num_features, args.hidden, data.num_classes, dropout=0.5,
                           chunk_size=args.chunk_size, rng=0, dtype=np.float32)
    optimizer = Adam(model.parameters(), lr=0.01)
    t0 = time.perf_counter()
    result = train_node_classifier(model, data.graph, x, data.y, train_mask, None, None, optimizer,
                                   epochs=args.epochs, early_stopping=None, n_threads=args.threads)
    return {"case": "fullbatch-plain" if plain else "fullbatch", "model": type(model).__name__,
            "chunk_size": None if plain else args.chunk_size, "graph_mb": graph_mb, "features_mb": features_mb,
            "data_mb": graph_mb + features_mb, "rss_before_load_mb": before, "rss_after_load_mb": loaded,
            "peak_rss_mb": status_mb("VmHWM"), "load_seconds": load_seconds, "epochs": args.epochs,
            "train_seconds": time.perf_counter() - t0, "hidden": args.hidden, "threads": args.threads,
            "train_acc": result.metrics.get("train_acc")}


class AnonPeak:
    """The peak of ``RssAnon`` while the block runs, read every 2 ms by a thread (inside the steps too)."""

    def __enter__(self):
        self.peak_mb = status_mb("RssAnon") or 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def _poll(self):
        while not self._stop.wait(0.002):
            self.peak_mb = max(self.peak_mb, status_mb("RssAnon") or 0.0)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, status_mb("RssAnon") or 0.0)


def minibatch_worker(args):
    """Mini-batch GraphSAGE on memory-mapped features in this process; returns the figures."""
    from fastgnn.datasets import OnDiskDataset
    from fastgnn.train.loop import thread_policy

    before = status_mb("VmRSS")
    train = OnDiskDataset(args.dataset, mmap=True).split()["train"]
    batches = min(args.batches, train.shape[0] // args.batch_size) or 1
    seeds = make_seeds(train, batches, min(args.batch_size, train.shape[0]))
    release = "auto" if args.mapped_page_budget is None else (args.mapped_page_budget or None)
    trainer = FastgnnTrainer(args.dataset, seeds, args.fanouts, hidden=256, mapped_page_budget=release,
                             prefetch=not args.no_prefetch)
    loaded = status_mb("VmRSS")
    t0 = time.perf_counter()
    loader = trainer.loader(args.threads)
    trainer.model.train()
    with AnonPeak() as anon, thread_policy(args.threads, blas_threads=args.threads):
        for batch in loader:
            trainer.step(batch)
    anon_peak = anon.peak_mb
    return {"case": "minibatch", "features_mb": _file_mb(args.dataset, "x.npy"),
            "graph_mb": _file_mb(args.dataset, "indptr.npy") + _file_mb(args.dataset, "indices.npy"),
            "rss_before_load_mb": before, "rss_after_load_mb": loaded, "peak_rss_mb": status_mb("VmHWM"),
            "peak_anon_mb": anon_peak, "rss_anon_end_mb": status_mb("RssAnon"),
            "rss_file_end_mb": status_mb("RssFile"), "batches": batches, "batch_size": seeds.shape[1],
            "fanouts": list(args.fanouts), "threads": args.threads,
            "mapped_page_budget": trainer.loader(args.threads).mapped_page_budget, "prefetch": not args.no_prefetch,
            "train_seconds": time.perf_counter() - t0}


def run_case(case, args):
    """Run one case in a fresh child process; returns its figures (a dict)."""
    command = [sys.executable, os.path.abspath(__file__), "--worker", case, "--dataset", args.dataset,
               "--epochs", str(args.epochs), "--hidden", str(args.hidden), "--batches", str(args.batches),
               "--batch-size", str(args.batch_size), "--fanouts", ",".join(map(str, args.fanouts)),
               "--threads", str(args.threads), "--chunk-size", str(args.chunk_size)]
    if args.mapped_page_budget is not None:
        command += ["--mapped-page-budget", str(args.mapped_page_budget)]
    if args.no_prefetch:
        command.append("--no-prefetch")
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, cwd=BENCH_DIR)
    if done.returncode != 0:
        raise RuntimeError(f"the {case} worker exited with status {done.returncode}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(record, file=None):
    """Print one case's figures."""
    file = sys.stdout if file is None else file
    if record["case"].startswith("fullbatch"):
        print(f"full-batch {record.get('model', 'GCN')} (2 layers, hidden {record['hidden']}, float32, {record['epochs']} epochs, "
              f"{record['threads']} threads, {record['train_seconds']:.0f} s): "
              f"peak RSS {record['peak_rss_mb']:,.0f} MB "
              f"= {record['peak_rss_mb'] / record['data_mb']:.2f}x graph + features "
              f"({record['graph_mb']:,.0f} + {record['features_mb']:,.0f} = {record['data_mb']:,.0f} MB; "
              f"target <= 2x); RSS {record['rss_before_load_mb']:,.0f} MB before loading, "
              f"{record['rss_after_load_mb']:,.0f} MB loaded; peak above the RSS before loading "
              f"{(record['peak_rss_mb'] - record['rss_before_load_mb']) / record['data_mb']:.2f}x", file=file)
    else:
        print(f"mini-batch GraphSAGE on memory-mapped features ({record['batches']} batches of "
              f"{record['batch_size']}, mapped-page budget {record.get('mapped_page_budget')} bytes, "
              f"fan-outs {record['fanouts']}, {record['threads']} threads, "
              f"{'next batch prepared in the background' if record.get('prefetch', True) else 'no prefetch'}, "
              f"{record['train_seconds']:.0f} s): peak RSS {record['peak_rss_mb']:,.0f} MB = "
              f"{record['peak_rss_mb'] / record['features_mb']:.2f}x the feature file "
              f"({record['features_mb']:,.0f} MB), of which mapped file pages at the end "
              f"{record['rss_file_end_mb']:,.0f} MB (page cache: features and graph read); anonymous memory "
              f"peak {record['peak_anon_mb']:,.0f} MB = {record['peak_anon_mb'] / record['features_mb']:.2f}x "
              f"the feature file", file=file)


def add_arguments(parser):
    """Declare the options of ``python bench/run.py large-memory``; returns the parser."""
    parser.add_argument("--dataset", default=os.environ.get(DATASET_ENV),
                        help=f"a fastgnn dataset folder (default ${DATASET_ENV})")
    parser.add_argument("--cases", type=lambda t: [c for c in t.split(",") if c], default=list(CASES),
                        help="comma-separated among fullbatch,fullbatch-plain,minibatch (default all)")
    parser.add_argument("--epochs", type=int, default=2, help="full-batch epochs (default 2)")
    parser.add_argument("--hidden", type=int, default=128, help="full-batch GCN hidden width (default 128)")
    parser.add_argument("--batches", type=int, default=40, help="mini-batch steps (default 40)")
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--fanouts", type=fanout_list, default=[15, 10, 5])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--chunk-size", type=int, default=1 << 15,
                        help="rows per chunk of the fullbatch case's ChunkedGCN (default 32768)")
    parser.add_argument("--mapped-page-budget", type=int, default=None,
                        help="the minibatch case's NeighborLoader mapped_page_budget in bytes (default: the loader's "
                             "'auto'; 0: never)")
    parser.add_argument("--no-prefetch", action="store_true",
                        help="the minibatch case samples each batch in the training thread (no background batch)")
    parser.add_argument("--json", metavar="PATH", default=None, help="append one JSON line per case to PATH")
    parser.add_argument("--worker", choices=CASES, default=None, help=argparse.SUPPRESS)
    return parser


def run_from_args(args, file=None):
    """Run with parsed options; returns an exit status."""
    if not args.dataset:
        raise SystemExit(f"give a dataset folder: --dataset PATH or ${DATASET_ENV}")
    if args.worker:
        if args.worker == "minibatch":
            record = minibatch_worker(args)
        else:
            record = fullbatch_worker(args, plain=args.worker == "fullbatch-plain")
        print(json.dumps(record), flush=True)
        return 0
    unknown = sorted(set(args.cases) - set(CASES))
    if unknown:
        raise SystemExit(f"--cases: unknown {', '.join(unknown)}; choose among {', '.join(CASES)}")
    for case in args.cases:
        record = run_case(case, args)
        report(record, file)
        append_json_lines(args.json, [record])
    return 0


def main(argv=None):
    parser = add_arguments(argparse.ArgumentParser(description=__doc__.split("\n\n")[0]))
    return run_from_args(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
