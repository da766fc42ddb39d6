#!/usr/bin/env python
"""Does renumbering the nodes pay? ``python bench/reorder.py``

For each graph, the same graph under several node numberings (the given
order, ``Graph.reorder("rcm")``, ``Graph.reorder("degree")``,
``Graph.reorder("cluster")``, and for the
community graph also the generator's own, hidden, order as the best case)
is timed on ``aggregate``:

* ``sum fwd``: sum forward;
* ``sum fwd+bwd``: sum forward followed by ``aggregate_backward``;
* ``max fwd``: max forward (with its ``arg``),

at ``d = 64`` float32, with 1 and 2 threads, in interleaved rounds (one
timed run of every numbering in turn, so the drift of a shared machine falls
on all alike), each warmed up first (which also caches the transpose, as a
training loop would); medians are printed. The features and gradients are
the same arrays for every numbering: the time of a gather depends on the
indices, not on the values.

Beside the times: the seconds the reordering itself takes
(``Graph.reorder`` on a fresh graph, its transpose not yet cached, plus
``permute_nodes`` on the features), and the break-even: how many sum
forward + backward calls at 2 threads the saving needs to repay it. The
``near`` column is the fraction of the edges ``j -> i`` with
``|i - j| <= 4096`` (4096 rows of 64 float32 are 1 MiB, about one L2 cache).

Graphs:

* ``powerlaw``: the power-law benchmark graph of ``bench/graphs.py``
  (100,000 nodes, 2,000,000 edges; in-degrees follow a power law, sources
  are uniform);
* ``community``: products-sized (2,450,000 nodes, ~62,000,000 edges),
  built in chunks straight into an int32 CSR: nodes in communities of
  ``--community-size`` consecutive ids, ~25 in-edges per node (geometric),
  each source from the destination's own community with probability
  ``--p-in``, else uniform; then every id is replaced by a random relabelling,
  which hides the locality (the ``hidden`` row undoes it);
* ``uniform``: the null case, 1,000,000 nodes, 20,000,000 uniform random
  edges: no locality to recover.

Needs about 7 GB of memory for the community graph (five numberings, each with its cached transpose). ``--graphs``,
``--threads``, ``--rounds`` and ``--dim`` narrow the run; ``--json FILE``
also writes every median as a JSON line.
"""
import argparse
import gc
import json
import statistics
import sys
import time

import numpy as np

import fastgnn
from fastgnn.cli.bench import timed_call
from fastgnn.graph import Graph, permute_nodes
from graphs import bench_edge_index

PASSES = [("sum", "forward", "sum fwd"), ("sum", "forward_backward", "sum fwd+bwd"), ("max", "forward", "max fwd")]
GRAPHS = ("powerlaw", "community", "uniform")
DEFAULT_ROUNDS = {"powerlaw": 21, "community": 5, "uniform": 9}  # quick graphs get more rounds
NEAR_WINDOW = 4096  # ids: 1 MiB of float32 feature rows at d = 64, about one L2 cache


# --------------------------------------------------------------------------- graphs
def community_graph(num_nodes=2_450_000, mean_degree=25.3, community_size=2_000, p_in=0.8, seed=0,
                    chunk_rows=250_000):
    """An int32 CSR graph with communities, its ids randomly relabelled; and ``hidden``.

    ``hidden`` is the permutation (``perm[new_id] = old_id`` of
    :meth:`Graph.permute`) that gives back the generator's own numbering, in
    which every community is a block of consecutive ids.
    """
    rng = np.random.default_rng(seed)
    relabel = rng.permutation(num_nodes).astype(np.int32)          # generator id -> published id
    original = np.empty(num_nodes, dtype=np.int32)                   # published id -> generator id
    original[relabel] = np.arange(num_nodes, dtype=np.int32)
    degree = rng.geometric(1.0 / mean_degree, size=num_nodes).astype(np.int64)
    indptr = np.zeros(num_nodes + 1, dtype=np.int64)
    np.cumsum(degree, out=indptr[1:])
    indices = np.empty(int(indptr[-1]), dtype=np.int32)
    for start in range(0, num_nodes, chunk_rows):                    # published rows, in order
        stop = min(start + chunk_rows, num_nodes)
        lo, hi = int(indptr[start]), int(indptr[stop])
        dst = np.repeat(original[start:stop], degree[start:stop])    # generator ids of the rows
        first = (dst // community_size) * community_size
        size = np.minimum(community_size, num_nodes - first)
        inside = rng.random(hi - lo) < p_in
        src = np.where(inside, first + (rng.random(hi - lo) * size).astype(np.int64),
                       rng.integers(0, num_nodes, hi - lo))
        indices[lo:hi] = relabel[src]
        del dst, first, size, inside, src
    graph = Graph.from_csr(indptr.astype(np.int32), indices, index_dtype="int32")
    return graph, relabel.astype(np.int64)  # new (generator) id -> published id


def uniform_graph(num_nodes=1_000_000, num_edges=20_000_000, seed=0, chunk=4_000_000):
    """Uniform random edges as an int32 CSR, rows filled in chunks (no int64 edge list)."""
    rng = np.random.default_rng(seed)
    degree = np.bincount(rng.integers(0, num_nodes, num_edges), minlength=num_nodes)
    indptr = np.zeros(num_nodes + 1, dtype=np.int32)
    np.cumsum(degree, out=indptr[1:])
    indices = np.empty(num_edges, dtype=np.int32)
    for lo in range(0, num_edges, chunk):
        hi = min(lo + chunk, num_edges)
        indices[lo:hi] = rng.integers(0, num_nodes, hi - lo, dtype=np.int32)
    return Graph.from_csr(indptr, indices, index_dtype="int32"), None


def build_graph(name, args):
    if name == "powerlaw":
        edge_index, num_nodes = bench_edge_index("powerlaw")
        return Graph.from_edge_index(edge_index, num_nodes=num_nodes), None
    if name == "community":
        return community_graph(num_nodes=args.community_nodes, community_size=args.community_size,
                               p_in=args.p_in)
    return uniform_graph(num_nodes=args.uniform_nodes, num_edges=args.uniform_edges)


def locality(graph, window=NEAR_WINDOW, sample=1_000_000, seed=1):
    """The fraction of the edges ``j -> i`` with ``|i - j| <= window`` (estimated on a sample)."""
    if graph.num_edges == 0:
        return 0.0
    edges = np.random.default_rng(seed).integers(0, graph.num_edges, min(sample, graph.num_edges))
    dst = np.searchsorted(graph.indptr, edges, side="right") - 1
    return float(np.mean(np.abs(dst - graph.indices[edges].astype(np.int64)) <= window))


# --------------------------------------------------------------------------- timing
def measure(variants, x, grad, threads, rounds):
    """``{(variant, pass label): [seconds, ...]}``, interleaved rounds after one warm-up each."""
    calls = {}
    for name, graph in variants.items():
        for reduce, pass_, label in PASSES:
            fn = timed_call(graph, x, grad, reduce, threads, pass_)
            fn()  # warm-up (and the transpose, cached once per graph)
            calls[name, label] = fn
    times = {key: [] for key in calls}
    for _ in range(rounds):
        for key, fn in calls.items():
            start = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - start)
    return times


def run_graph(name, args, out):
    t0 = time.perf_counter()
    graph, hidden = build_graph(name, args)
    print(f"\n== {name}: {graph.num_nodes:,} nodes, {graph.num_edges:,} edges, {graph.index_dtype} "
          f"(built in {time.perf_counter() - t0:.1f} s), d={args.dim} float32, "
          f"{args.rounds or DEFAULT_ROUNDS[name]} rounds", flush=True)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((graph.num_nodes, args.dim), dtype=np.float32)
    grad = rng.standard_normal((graph.num_nodes, args.dim), dtype=np.float32)

    variants, cost = {"original": graph}, {"original": 0.0}
    for method in ("rcm", "degree", "cluster"):
        fresh = Graph.from_csr(graph.indptr, graph.indices, index_dtype=graph.index_dtype)  # no cached transpose
        start = time.perf_counter()
        permuted, perm = fresh.reorder(method)
        permute_nodes(perm, x)
        cost[method] = time.perf_counter() - start
        variants[method] = permuted
        del fresh, perm
        gc.collect()
    if hidden is not None:
        variants["hidden"], cost["hidden"] = graph.permute(hidden), float("nan")
    print("  reorder cost (s): " + ", ".join(f"{k} {v:.2f}" for k, v in cost.items() if k != "original"
                                             and v == v), flush=True)
    local = {key: locality(g) for key, g in variants.items()}

    medians = {}
    for threads in args.threads:
        times = measure(variants, x, grad, threads, args.rounds or DEFAULT_ROUNDS[name])
        for (variant, label), runs in times.items():
            medians[threads, variant, label] = statistics.median(runs)
    header = f"  {'numbering':<10} {'near':>6} {'t':>2} " + "".join(f"{label:>22}" for _, _, label in PASSES)
    print(header + f"{'reorder s':>11}{'break-even':>12}")
    for threads in args.threads:
        for variant in variants:
            cells = []
            for _, _, label in PASSES:
                ms = medians[threads, variant, label] * 1e3
                ratio = medians[threads, "original", label] / medians[threads, variant, label]
                cells.append(f"{ms:10.1f} ms {ratio:5.2f}x")
            saving = (medians[threads, "original", "sum fwd+bwd"] - medians[threads, variant, "sum fwd+bwd"])
            spent = cost[variant]
            if variant == "original" or spent != spent:
                even = "-"
            else:
                even = f"{spent / saving:.0f} calls" if saving > 0 else "never"
            print(f"  {variant:<10} {local[variant]:6.3f} {threads:>2} " + "".join(f"{c:>22}" for c in cells)
                  + f"{(spent if spent == spent and variant != 'original' else float('nan')):11.2f}{even:>12}",
                  flush=True)
            if out is not None:
                for _, _, label in PASSES:
                    out.write(json.dumps({"graph": name, "nodes": graph.num_nodes, "edges": graph.num_edges,
                                          "numbering": variant, "threads": threads, "pass": label,
                                          "dim": args.dim, "median_ms": medians[threads, variant, label] * 1e3,
                                          "reorder_s": spent, "near": local[variant]}) + "\n")
    del variants, graph, x, grad
    gc.collect()


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--graphs", default=",".join(GRAPHS), help=f"comma-separated, from {', '.join(GRAPHS)}")
    parser.add_argument("--threads", default="2,1", help="comma-separated thread counts (default 2,1)")
    parser.add_argument("--rounds", type=int, default=None,
                        help="timed rounds, medians of these (default: "
                             + ", ".join(f"{k} {v}" for k, v in DEFAULT_ROUNDS.items()) + ")")
    parser.add_argument("--dim", type=int, default=64, help="feature width")
    parser.add_argument("--community-nodes", type=int, default=2_450_000)
    parser.add_argument("--community-size", type=int, default=2_000)
    parser.add_argument("--p-in", type=float, default=0.8)
    parser.add_argument("--uniform-nodes", type=int, default=1_000_000)
    parser.add_argument("--uniform-edges", type=int, default=20_000_000)
    parser.add_argument("--json", default=None, help="also write the medians as JSON lines to this file")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    args.threads = [int(t) for t in args.threads.split(",")]
    names = [name.strip() for name in args.graphs.split(",") if name.strip()]
    unknown = set(names) - set(GRAPHS)
    if unknown:
        raise SystemExit(f"unknown graph(s) {sorted(unknown)}; choose from {', '.join(GRAPHS)}")
    print(f"fastgnn {fastgnn.__version__}, numbering ratios are original time / this time "
          "(above 1: the reordered graph is faster)")
    out = open(args.json, "w") if args.json else None
    try:
        for name in names:
            run_graph(name, args, out)
    finally:
        if out is not None:
            out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
