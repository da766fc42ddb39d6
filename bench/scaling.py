"""How the cost per edge grows with the graph: ``python bench/run.py scaling`` (10 to 25 minutes on 2 cores).

A sweep of fastgnn's sum aggregation against the machine's limit as the
work grows, on uniform random graphs of

* 100,000 nodes and 2,000,000 edges (``100k``, the size of the peer table),
* 1,000,000 nodes and 20,000,000 edges (``1m``),
* 2,449,029 nodes and 61,859,140 edges (``products``, the size of
  ogbn-products; int32 indices take 250 MB, ``x`` at d = 256 float32
  2.5 GB, and the run needs about 11 GB at d = 256),

each built directly as a CSR by :func:`graphs.uniform_csr` (no edge list, no
sort), at d = 16, 64 and 256 (float32), with 2 threads and 1. For each
(graph, d, threads) it times, in interleaved rounds (:func:`aggregation.measure`):

* the **floor**: :func:`fastgnn.bench.machine.gather_floor`, the ideal
  prefetching row gather (every in-neighbour row summed in registers, rows
  prefetched a fixed distance ahead, chunks of equal edge count, the output
  rows written), over the graph (``fwd``) and over the graph and its
  transpose (``fwd+bwd``), from 64-byte-aligned inputs into a preallocated
  output;
* fastgnn's ``aggregate(graph, x, "sum")`` (``sum fwd``), that and
  ``aggregate_backward`` over the cached transpose (``sum fwd+bwd``), and
  ``aggregate(graph, x, "max")`` (``max fwd``).

Printed per line: ``ns/e``, the median time per edge (for fwd+bwd, the time
of both passes per edge of the graph); ``GB/s``, the effective bandwidth
(:func:`fastgnn.cli.bench.bytes_moved`: indices, one gathered row per edge,
the output, ``arg`` for max; the floor counted as a sum); ``floor``, floor
time / kernel time for the same pass (max fwd against the forward floor).
The STREAM triad's GB/s at each thread count is measured first
(:func:`fastgnn.bench.machine.measure_triad`, 3 x 256 MiB float64, counted as
STREAM does: 3 arrays x 8 bytes per element).

Features are 64-byte aligned (as fastgnn's own outputs are), so that no
aggregate call realigns its input; the backward gathers ``x`` as its output
gradient (the values do not change the work). Slow calls get as many timed
runs as fit in ``--budget`` seconds, at least one, after one warm-up run.
"""
import argparse
import json
import os
import statistics
import sys
import time

import numpy as np

import fastgnn
from aggregation import Benchmark, _csv, measure, measure_triads
from fastgnn._runtime.memory import empty_aligned
from fastgnn.bench import machine
from fastgnn.cli.bench import bytes_moved, timed_call
from fastgnn.graph import Graph
from graphs import uniform_csr

__all__ = ["SWEEP_GRAPHS", "DIMS", "THREADS", "MEASURES", "build", "sweep_configuration", "format_table", "run",
           "add_arguments", "run_from_args", "main"]

# name -> (num_nodes, num_edges)
SWEEP_GRAPHS = {
    "100k": (100_000, 2_000_000),
    "1m": (1_000_000, 20_000_000),
    "products": (2_449_029, 61_859_140),
}
DIMS = (16, 64, 256)
THREADS = (2, 1)
BUDGET_S = 10.0
# (label, implementation, reduce, pass): the floor's first, then fastgnn's
MEASURES = (
    ("floor fwd", "floor", "sum", "forward"),
    ("floor fwd+bwd", "floor", "sum", "forward_backward"),
    ("sum fwd", "fastgnn", "sum", "forward"),
    ("sum fwd+bwd", "fastgnn", "sum", "forward_backward"),
    ("max fwd", "fastgnn", "max", "forward"),
)


def _available_memory():
    try:
        from fastgnn.cli._common import available_memory
    except ImportError:
        return None
    return available_memory()


def _needed_bytes(num_nodes, num_edges, d):
    """About the peak of one configuration: graph and transpose, x, the floor's output, max's out and arg."""
    return 3 * 4 * num_edges + 4 * 4 * num_nodes * d + 2 * 4 * num_nodes


def build(name, seed=0):
    """The named sweep graph, built as a CSR with int32 indices, its transpose cached."""
    num_nodes, num_edges = SWEEP_GRAPHS[name]
    indptr, indices = uniform_csr(num_nodes, num_edges, rng=seed)
    graph = Graph.from_csr(indptr, indices, index_dtype="int32")
    del indptr, indices
    graph.transpose_csr()
    return graph


def _features(num_nodes, d, seed=1):
    x = empty_aligned((num_nodes, d), np.float32)
    np.random.default_rng(seed).standard_normal(out=x, dtype=np.float32)
    return x


def sweep_configuration(graph, x, threads, repeat, budget_s):
    """``{label: [ms, ...]}`` of every measure of :data:`MEASURES` at one (graph, d, threads)."""
    shared_out = empty_aligned(x.shape, x.dtype)     # one output buffer for both floor calls
    benches = []
    for label, impl, reduce, pass_ in MEASURES:
        if impl == "floor":
            run_fn = machine.floor_call(graph, x, x, n_threads=threads, pass_=pass_, out=shared_out)
        else:
            run_fn = timed_call(graph, x, x, reduce, threads, pass_)
        benches.append(Benchmark(label, pass_, run_fn))
    runs = measure(benches, repeat=repeat, warmup=1, budget_s=budget_s)
    return {label: runs[label, pass_] for label, _, _, pass_ in MEASURES}


def _records(name, graph, d, threads, runs, triads):
    medians = {label: statistics.median(times) for label, times in runs.items()}
    records = []
    for label, impl, reduce, pass_ in MEASURES:
        ms = medians[label]
        moved = bytes_moved(graph, d, reduce, pass_)
        rec = {"graph": name, "num_nodes": graph.num_nodes, "num_edges": graph.num_edges, "d": d,
               "threads": threads, "measure": label, "impl": impl, "reduce": reduce, "pass": pass_,
               "median_ms": ms, "runs_ms": [round(t, 3) for t in runs[label]], "bytes_moved": moved,
               "gbytes_per_s": moved / (ms * 1e-3) / 1e9, "ns_per_edge": ms * 1e6 / max(graph.num_edges, 1),
               "triad_gbytes_per_s": triads[threads]["gbytes_per_s"]}
        if impl != "floor":
            floor = medians["floor fwd" if pass_ == "forward" else "floor fwd+bwd"]
            rec["floor_ms"] = floor
            rec["fraction_of_floor"] = floor / ms
        records.append(rec)
    return records


def format_table(records):
    """One line per (graph, d, threads); per measure: ns/edge, GB/s and (fastgnn's) fraction of the floor."""
    lines = []
    head = f"{'graph':24s} {'d':>4s} {'t':>2s} " + " ".join(
        f"{label:>{13 if impl == 'floor' else 19}s}" for label, impl, _, _ in MEASURES)
    sub = f"{'':24s} {'':>4s} {'':>2s} " + " ".join(
        f"{'ns/e':>6s} {'GB/s':>6s}" if m[1] == "floor" else f"{'ns/e':>6s} {'GB/s':>6s} {'floor':>5s}"
        for m in MEASURES)
    lines += [head, sub, "-" * len(sub)]
    order = []
    cells = {}
    for rec in records:
        key = rec["graph"], rec["d"], rec["threads"]
        if key not in cells:
            cells[key] = {}
            order.append(key)
        cells[key][rec["measure"]] = rec
    for key in order:
        row = cells[key]
        some = next(iter(row.values()))
        graph = f"{some['num_nodes'] / 1e6:.2f}M/{some['num_edges'] / 1e6:.1f}M"
        text = f"{key[0] + ' ' + graph:24s} {key[1]:4d} {key[2]:2d} "
        parts = []
        for label, impl, _, _ in MEASURES:
            rec = row.get(label)
            if rec is None:
                parts.append(f"{'-':>13s}" if impl == "floor" else f"{'-':>19s}")
                continue
            part = f"{rec['ns_per_edge']:6.2f} {rec['gbytes_per_s']:6.1f}"
            if impl != "floor":
                part += f" {rec['fraction_of_floor']:5.0%}"
            parts.append(part)
        lines.append(text + " ".join(parts))
    return "\n".join(lines)


def run(graphs=tuple(SWEEP_GRAPHS), dims=DIMS, threads=THREADS, repeat=3, budget_s=BUDGET_S, json_path=None,
        file=None):
    """Run the sweep, print the table; returns the records (one per graph, d, threads and measure)."""
    file = sys.stdout if file is None else file

    def say(*args):
        print(*args, file=file, flush=True)

    say(f"fastgnn {fastgnn.__version__} scaling sweep: graphs {','.join(graphs)}, d {','.join(map(str, dims))}, "
        f"threads {','.join(map(str, threads))}; median of up to {repeat} runs (slow calls: as many as fit in "
        f"{budget_s:g} s). 10 to 25 minutes on 2 cores with the defaults (24 while other jobs shared the "
        "cores), most of it on the products-sized graph.")
    started = time.perf_counter()
    triads = measure_triads(threads, repeat=5)
    some = next(iter(triads.values()))
    say(f"STREAM triad (a = b + s * c over 3 x {some['n_elements'] * 8 / 2**20:,.0f} MiB float64; 3 arrays x 8 bytes "
        "per element, as STREAM counts): " + ", ".join(f"{rec['gbytes_per_s']:.1f} GB/s at t={t}"
                                                      for t, rec in triads.items()))
    records = []
    json_file = open(json_path, "w") if json_path else None
    try:
        for name in graphs:
            num_nodes, num_edges = SWEEP_GRAPHS[name]
            t0 = time.perf_counter()
            graph = build(name)
            say(f"built {name} ({num_nodes:,} nodes, {num_edges:,} edges, CSR + transpose) in "
                f"{time.perf_counter() - t0:.1f} s")
            for d in dims:
                free = _available_memory()
                needed = _needed_bytes(num_nodes, num_edges, d)
                if free is not None and needed > free:
                    say(f"  {name} d={d}: skipped, needs about {needed / 2**30:.1f} GiB, "
                        f"{free / 2**30:.1f} GiB available")
                    continue
                x = _features(num_nodes, d)
                for t in threads:
                    runs = sweep_configuration(graph, x, t, repeat, budget_s)
                    new = _records(name, graph, d, t, runs, triads)
                    records.extend(new)
                    if json_file is not None:
                        json_file.writelines(json.dumps(rec) + "\n" for rec in new)
                        json_file.flush()
                    say(f"  {name} d={d} t={t}: " + "  ".join(
                        f"{rec['measure']} {rec['median_ms']:.1f}" for rec in new) + " ms")
                del x
            del graph
    finally:
        if json_file is not None:
            json_file.close()
    say("")
    say(format_table(records))
    say("")
    say("ns/e: median time per edge (fwd+bwd: both passes); GB/s: effective bandwidth (indices + gathered rows + "
        "output, + arg for max; the floor counted as a sum); floor: floor time / fastgnn time for the same pass "
        "(max fwd against the forward floor), measured in the same interleaved rounds.")
    say(f"total {time.perf_counter() - started:.0f} s")
    if json_path:
        say(f"wrote {len(records)} records to {json_path}")
    return records


def add_arguments(parser):
    """Declare the options of ``python bench/run.py scaling``; returns the parser."""
    sizes = ", ".join(f"{name} = {n:,} nodes / {e:,} edges" for name, (n, e) in SWEEP_GRAPHS.items())
    parser.add_argument("--graphs", type=_csv(str, tuple(SWEEP_GRAPHS)), default=list(SWEEP_GRAPHS),
                        help=f"comma-separated uniform graphs ({sizes}; default all)")
    parser.add_argument("--dims", type=_csv(int), default=list(DIMS),
                        help=f"comma-separated feature widths (default {','.join(map(str, DIMS))})")
    parser.add_argument("--threads", type=_csv(int), default=list(THREADS),
                        help=f"comma-separated thread counts (default {','.join(map(str, THREADS))})")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of a quick call, median reported (default 3)")
    parser.add_argument("--budget", type=float, default=BUDGET_S,
                        help=f"seconds of timed runs a slow call gets, at least one run (default {BUDGET_S:g})")
    parser.add_argument("--json", metavar="PATH", default=None, help="also write one JSON line per record to PATH")
    return parser


def run_from_args(args):
    """Run with parsed options (see :func:`add_arguments`); returns an exit status."""
    if args.repeat < 1 or not args.budget > 0:
        raise SystemExit("--repeat must be >= 1 and --budget > 0")
    run(graphs=args.graphs, dims=args.dims, threads=args.threads, repeat=args.repeat, budget_s=args.budget,
        json_path=args.json)
    return 0


def main(argv=None):
    """``python bench/scaling.py``: the same as ``python bench/run.py scaling``."""
    parser = add_arguments(argparse.ArgumentParser(prog="bench/run.py scaling", description=__doc__.split("\n\n")[0]))
    return run_from_args(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
