#!/usr/bin/env python
"""Max/min backward against its forward and PyTorch: ``python bench/run.py extremum-backward``.

Per benchmark graph, feature width ``d`` (float32), thread count and
reduction, timed side by side in interleaved rounds (one run of each in
turn; the median of the rounds is printed):

* ``fwd``: ``aggregate(graph, x, reduce, return_arg=True)``;
* the three kernels of the feature gradient, on the ``arg`` of that forward:
  ``scatter`` (every edge's row, from the reduced rows), ``gather`` (every
  edge's ``g`` and ``arg`` rows, over the cached transpose) and ``route``
  (the winners only); the old dispatch of ``aggregate_backward`` was
  ``gather`` above one thread and ``scatter`` on one;
* ``bwd``: ``aggregate_backward(graph, g, reduce, arg=arg)`` as dispatched now;
* ``wgrad``: the edge-weight gradient alone (``extremum_weight_grad``);
* ``torch``: ``torch.sparse.mm(A, X, "amax"/"amin")`` forward + backward
  through autograd (CSR tensor, as in ``bench/aggregation.py``).

Printed ratios: ``old/fwd`` and ``bwd/fwd`` (backward over forward, before
and after), and ``torch/fg`` (torch's forward + backward over fastgnn's
``fwd + bwd``; above 1, fastgnn is faster), with the old dispatch's figure
beside it. All paths are checked to give identical bits before timing.
"""
import argparse
import statistics
import sys
import time

import numpy as np

import fastgnn
from fastgnn._kernels import aggregate as _K
from fastgnn._runtime.memory import empty_aligned
from aggregation import Workload, make_benchmark, peer_available, peer_threads

GRAPHS = ("uniform", "powerlaw")
DIMS = (16, 64, 128)
THREADS = (1, 2)


def _paths(workload, d, reduce, threads):
    """``{name: callable}`` of the timed calls, after checking that the backward paths agree bitwise."""
    graph = workload.graph
    x, g = workload.features(d)
    _, arg = fastgnn.aggregate(graph, x, reduce, return_arg=True, n_threads=threads)
    t_indptr, t_indices, edge_id = graph.transpose_csr()
    grad_w = np.empty(graph.num_edges, dtype=x.dtype)

    def kernel(name):
        def run():
            grad_x = empty_aligned(x.shape, x.dtype)
            if name == "scatter":
                _K.extremum_backward_scatter(grad_x, g, arg, graph.indptr, graph.indices, threads)
            elif name == "gather":
                _K.extremum_backward_gather(grad_x, g, arg, graph.indptr, t_indptr, t_indices, edge_id, threads)
            else:
                _K.extremum_backward_route(grad_x, g, arg, graph.indptr, graph.indices, threads)
            return grad_x
        return run

    paths = {
        "fwd": lambda: fastgnn.aggregate(graph, x, reduce, return_arg=True, n_threads=threads),
        "scatter": kernel("scatter"),
        "gather": kernel("gather"),
        "route": kernel("route"),
        "bwd": lambda: fastgnn.aggregate_backward(graph, g, reduce, arg=arg, n_threads=threads),
        "wgrad": lambda: _K.extremum_weight_grad(grad_w, g, arg, x, graph.indptr, graph.indices, threads),
    }
    reference = paths["scatter"]()
    for name in ("gather", "route", "bwd"):
        if not np.array_equal(paths[name]().view(np.uint32), reference.view(np.uint32)):
            raise AssertionError(f"{name} differs from scatter on {workload.name}, d={d}, {threads} threads")
    if peer_available("torch"):
        torch_bench = make_benchmark("torch", workload, d, reduce, threads, "forward_backward")
        if torch_bench is not None:
            paths["torch"] = torch_bench
    return paths


def _time(fn):
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1e3


def measure(workload, d, reduce, threads, rounds):
    """Median ms of every path over ``rounds`` interleaved rounds (after one warm-up run each)."""
    with peer_threads(threads):
        paths = _paths(workload, d, reduce, threads)
        for fn in paths.values():
            fn()
        times = {name: [] for name in paths}
        for _ in range(rounds):
            for name, fn in paths.items():
                times[name].append(_time(fn))
    return {name: statistics.median(values) for name, values in times.items()}


def _names(text):
    return [name for name in text.split(",") if name]


def _ints(text):
    return [int(value) for value in _names(text)]


def add_arguments(parser):
    """Declare the options of ``python bench/run.py extremum-backward``; returns the parser."""
    parser.add_argument("--graphs", type=_names, default=list(GRAPHS),
                        help=f"comma-separated graphs (default {','.join(GRAPHS)})")
    parser.add_argument("--dims", type=_ints, default=list(DIMS),
                        help=f"comma-separated feature widths (default {','.join(map(str, DIMS))})")
    parser.add_argument("--threads", type=_ints, default=list(THREADS),
                        help="comma-separated thread counts (default 1,2)")
    parser.add_argument("--reduces", type=_names, default=["max"], help="max, min or max,min (default max)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timed rounds, median printed (default 5)")
    return parser


def run_from_args(args):
    """Run with parsed options; returns an exit status."""
    if args.rounds < 1:
        raise SystemExit("--rounds must be >= 1")
    columns = ["fwd", "scatter", "gather", "route", "bwd", "wgrad", "torch"]
    print("times in ms (median); old = the former dispatch (gather above 1 thread, else scatter)")
    print(f"{'graph':9} {'d':>4} {'thr':>3} {'reduce':6} " + " ".join(f"{c:>8}" for c in columns)
          + f" {'old/fwd':>8} {'bwd/fwd':>8} {'torch/old':>9} {'torch/fg':>8}")
    for name in args.graphs:
        workload = Workload(name)
        for d in args.dims:
            for threads in args.threads:
                for reduce in args.reduces:
                    ms = measure(workload, d, reduce, threads, args.rounds)
                    old = ms["gather"] if threads > 1 else ms["scatter"]
                    torch_ms = ms.get("torch", float("nan"))
                    cells = " ".join(f"{ms.get(c, float('nan')):8.1f}" for c in columns)
                    print(f"{name:9} {d:4d} {threads:3d} {reduce:6} {cells} {old / ms['fwd']:8.2f} "
                          f"{ms['bwd'] / ms['fwd']:8.2f} {torch_ms / (ms['fwd'] + old):9.2f} "
                          f"{torch_ms / (ms['fwd'] + ms['bwd']):8.2f}", flush=True)
    return 0


def main(argv=None):
    """``python bench/extremum_backward.py``: the same as ``python bench/run.py extremum-backward``."""
    parser = add_arguments(argparse.ArgumentParser(prog="bench/run.py extremum-backward",
                                                   description=__doc__.split("\n")[0]))
    return run_from_args(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
