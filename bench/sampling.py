#!/usr/bin/env python
"""Neighbour-sampling throughput (sampled edges per second) against DGL 1.1.3's ``NeighborSampler``.

``python bench/run.py sampling [options]`` (or ``python bench/sampling.py``).

The graph is products-sized by default (2.45M nodes, 61.9M edges, built
straight as a CSR by ``bench/graphs.py``'s ``uniform_csr``, or a power-law
graph with ``--graph powerlaw``); the seed batches are a fixed random
sample of the nodes. fastgnn times ``fastgnn.data.sample_neighbors`` (the
sampled blocks, relabelled; the epoch advances every round, so each round
draws new neighbours). DGL runs in its own interpreter
(``bench/sampling_dgl_peer.py``, ``--dgl-python`` or
``$FASTGNN_DGL_PYTHON``), kept alive and driven round by round, so the two
are timed interleaved: fastgnn, DGL, fastgnn, DGL, ... and the medians
compared. Both read the same graph and seeds from ``.npy`` files.

Fan-outs are given seeds first (PyG's ``num_neighbors`` order: 15
neighbours of each seed, then 10, then 5); DGL gets them reversed, its
input-side-first order, so both sample the same numbers.

The machine may be shared: only the ratios of one run mean something.
"""
import argparse
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time

import numpy as np

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
if BENCH_DIR not in sys.path:
    sys.path.insert(0, BENCH_DIR)

import graphs  # noqa: E402  (bench/graphs.py)
from measure import Peer, anon_huge_pages_mb, fanout_list, int_list  # noqa: E402

DGL_PEER = os.path.join(BENCH_DIR, "sampling_dgl_peer.py")
DGL_PYTHON_ENV = "FASTGNN_DGL_PYTHON"


def add_arguments(parser):
    """Declare the options of ``python bench/run.py sampling``; returns the parser."""
    parser.add_argument("--graph", choices=["uniform", "powerlaw"], default="uniform")
    parser.add_argument("--nodes", type=int, default=2_450_000)
    parser.add_argument("--edges", type=int, default=61_900_000)
    parser.add_argument("--fanouts", type=fanout_list, default=[15, 10, 5], help="seeds first (default 15,10,5)")
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--batches", type=int, default=10, help="batches per timed round (default 10)")
    parser.add_argument("--threads", type=int_list, default=[1, 2], help="comma-separated (default 1,2)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds, medians printed (default 5)")
    parser.add_argument("--dgl-python", default=os.environ.get(DGL_PYTHON_ENV),
                        help=f"interpreter of the DGL environment (default ${DGL_PYTHON_ENV}); none: no DGL column")
    parser.add_argument("--dgl-idtype", default="int64", choices=["int32", "int64"])
    parser.add_argument("--cache", default=None,
                        help="folder for the graph's .npy files, kept and reused (default: a temporary folder)")
    return parser


def build_graph(kind, num_nodes, num_edges):
    """``(indptr, indices)``: destination-major CSR, int32."""
    if kind == "uniform":
        return graphs.uniform_csr(num_nodes, num_edges, rng=0)
    edge_index = graphs.power_law_edge_index(num_nodes, num_edges, rng=0)
    order = np.argsort(edge_index[1], kind="stable")
    indptr = np.zeros(num_nodes + 1, dtype=np.int64)
    np.cumsum(np.bincount(edge_index[1], minlength=num_nodes), out=indptr[1:])
    return indptr.astype(np.int32), edge_index[0][order].astype(np.int32)


def write_inputs(folder, args):
    """The graph (cached by name and size) and the seed batches, as .npy files in ``folder``."""
    tag = os.path.join(folder, f"{args.graph}_{args.nodes}_{args.edges}.ok")
    if not os.path.exists(tag):
        indptr, indices = build_graph(args.graph, args.nodes, args.edges)
        np.save(os.path.join(folder, "indptr.npy"), indptr)
        np.save(os.path.join(folder, "indices.npy"), indices)
        for stale in os.listdir(folder):
            if stale.endswith(".ok"):
                os.remove(os.path.join(folder, stale))
        open(tag, "w").close()
    rng = np.random.default_rng(1)
    seeds = rng.permutation(args.nodes)[:args.batches * args.batch_size].reshape(args.batches, args.batch_size)
    np.save(os.path.join(folder, "seeds.npy"), seeds.astype(np.int64))
    return seeds


def fastgnn_round(graph, seeds, fanouts, threads, epoch):
    from fastgnn.data import sample_neighbors

    sample_neighbors(graph, seeds[0], fanouts, epoch=epoch + 1000, n_threads=threads)  # warm-up, untimed
    edges = 0
    cpu = time.process_time()
    start = time.perf_counter()
    for batch in seeds:
        sub = sample_neighbors(graph, batch, fanouts, epoch=epoch, n_threads=threads)
        edges += sub.num_sampled_edges
    return {"threads": threads, "seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu,
            "edges": edges, "batches": len(seeds)}


def run_from_args(args):
    """Run with parsed options; returns an exit status."""
    from fastgnn import Graph

    if args.rounds < 1 or args.batches < 1 or args.batch_size < 1:
        raise SystemExit("--rounds, --batches and --batch-size must be >= 1")
    folder = args.cache or tempfile.mkdtemp(prefix="fastgnn-sampling-")
    os.makedirs(folder, exist_ok=True)
    try:
        t0 = time.perf_counter()
        seeds = write_inputs(folder, args)
        indptr = np.load(os.path.join(folder, "indptr.npy"))
        indices = np.load(os.path.join(folder, "indices.npy"))
        graph = Graph.from_csr(indptr, indices)
        del indptr, indices
        print(f"graph: {args.graph}, {graph.num_nodes:,} nodes, {graph.num_edges:,} edges "
              f"({time.perf_counter() - t0:.0f} s to build/load); fan-outs {args.fanouts} (seeds first), "
              f"batch {args.batch_size}, {args.batches} batches per round, {args.rounds} interleaved rounds",
              flush=True)
        peer = None
        if args.dgl_python:
            try:
                peer = Peer([args.dgl_python, DGL_PEER, "--dir", folder, "--fanouts", ",".join(map(str, args.fanouts)),
                             "--idtype", args.dgl_idtype], cwd=BENCH_DIR)
                print(f"DGL {peer.info.get('dgl')} peer ready ({args.dgl_python}, idtype {args.dgl_idtype})",
                      flush=True)
            except (OSError, RuntimeError, ValueError) as error:
                print(f"DGL skipped: {error}")
        else:
            print(f"DGL skipped: no --dgl-python and no ${DGL_PYTHON_ENV}")
        results = {(side, t): [] for side in ("fastgnn", "dgl") for t in args.threads}
        cpu_rates = {(side, t): [] for side in ("fastgnn", "dgl") for t in args.threads}
        edges = {}
        try:
            for r in range(args.rounds):
                for threads in args.threads:
                    mine = fastgnn_round(graph, seeds, args.fanouts, threads, epoch=r)
                    results[("fastgnn", threads)].append(mine["edges"] / mine["seconds"])
                    cpu_rates[("fastgnn", threads)].append(mine["edges"] / mine["cpu_seconds"])
                    edges[("fastgnn", threads)] = mine["edges"]
                    if peer is not None:
                        theirs = peer.round(threads)
                        results[("dgl", threads)].append(theirs["edges"] / theirs["seconds"])
                        cpu_rates[("dgl", threads)].append(theirs["edges"] / theirs["cpu_seconds"])
                        edges[("dgl", threads)] = theirs["edges"]
                        dgl_rss = theirs.get("rss_mb")
                        dgl_huge = theirs.get("huge_pages_mb")
        finally:
            if peer is not None:
                peer.close()
        print()
        print("sampled edges per second, median of the rounds (M = 10^6); ratio = fastgnn / DGL")
        print(f"{'threads':>7} {'fastgnn':>10} {'DGL':>10} {'ratio':>7} {'edges/batch fg':>15} {'DGL':>10}")
        for threads in args.threads:
            fg = statistics.median(results[("fastgnn", threads)])
            row = f"{threads:7d} {fg / 1e6:9.2f}M"
            if results[("dgl", threads)]:
                dg = statistics.median(results[("dgl", threads)])
                row += (f" {dg / 1e6:9.2f}M {fg / dg:7.2f} {edges[('fastgnn', threads)] / args.batches:15,.0f}"
                        f" {edges[('dgl', threads)] / args.batches:10,.0f}")
            else:
                row += f" {'-':>10} {'-':>7} {edges[('fastgnn', threads)] / args.batches:15,.0f}"
            print(row)
        if 1 in args.threads and cpu_rates[("dgl", 1)]:
            fg_cpu, dg_cpu = (statistics.median(cpu_rates[(side, 1)]) for side in ("fastgnn", "dgl"))
            print(f"1 thread, per CPU second (less sensitive to other load on the machine): fastgnn "
                  f"{fg_cpu / 1e6:.2f}M, DGL {dg_cpu / 1e6:.2f}M, ratio {fg_cpu / dg_cpu:.2f}")
        print(f"memory: fastgnn process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB "
              "(building the graph included)"
              + (f"; DGL process RSS after its rounds {dgl_rss:.0f} MB" if peer is not None and dgl_rss is not None
                 else ""))
        own_huge = anon_huge_pages_mb()
        if own_huge is not None:
            print(f"on transparent huge pages: fastgnn {own_huge:.0f} MB"
                  + (f", DGL {dgl_huge:.0f} MB" if peer is not None and dgl_huge is not None else ""))
        print("per-round edges/s:", {f"{s}@{t}": [round(v / 1e6, 2) for v in vals] for (s, t), vals in results.items()
                                     if vals})
    finally:
        if args.cache is None:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


def main(argv=None):
    parser = add_arguments(argparse.ArgumentParser(description=__doc__.split("\n\n")[0]))
    return run_from_args(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
