#!/usr/bin/env python
"""Peer benchmark: DGL's CPU neighbour aggregation on fastgnn's synthetic graphs.

Run this with the Python of a separate DGL environment, NOT the fastgnn one
(fastgnn needs numpy>=2, DGL 1.1.3 needs numpy<2).  It does not import
fastgnn: the graphs come from the sibling ``bench/graphs.py`` (plain NumPy),
the module every benchmark in ``bench/`` builds them with, so both sides
time exactly the same seeded graphs.

Setting up the environment (anywhere outside the repository; ``DGL_VENV``
is a folder of your choice)::

    python3 -m venv "$DGL_VENV"
    "$DGL_VENV/bin/pip" install "numpy<2" scipy torch==2.13.0 dgl==1.1.3
    "$DGL_VENV/bin/pip" install "setuptools<70" packaging pydantic
    export FASTGNN_DGL_PYTHON="$DGL_VENV/bin/python"

``python bench/run.py aggregation`` then runs this script itself (with the
interpreter of ``--dgl-python PATH``, default ``$FASTGNN_DGL_PYTHON``) and
adds a DGL column. It can also be run alone::

    "$FASTGNN_DGL_PYTHON" bench/dgl_peer.py --graphs uniform,powerlaw,small \
        --dims 64 --threads 1,2 --repeat 7 --out bench/results/dgl.jsonl

and its results merged later with ``bench/run.py aggregation --dgl-results
bench/results/dgl.jsonl``.

Convention: DGL sends messages along u -> v and aggregates them at v, which
is fastgnn's convention too (edge_index row 0 = source, row 1 = destination,
aggregated at the destination).  ``copy_u_<reduce>(g, X)[v]`` is the
reduction over the in-edges (u, v) of ``X[u]``; nodes without in-edges get 0.

What is timed (``time.perf_counter``, median over ``--repeat`` runs after
``--warmup`` warm-up runs):

* ``forward``: ``dgl.ops.copy_u_<reduce>(g, X)``.
* ``forward_backward``: ``out = op(g, X); out.backward(G)`` with ``X``
  requiring grad and ``G`` a fixed random tensor of the output's shape;
  ``X.grad`` is reset to ``None`` outside the timed region.

All sparse formats of the graph (COO, in-CSR = "csc", out-CSR = "csr") are
materialised with ``g.create_formats_()`` before any timing, so only the
kernels are timed, as with a cached graph.

Threads: for each thread count, both ``torch.set_num_threads`` (ATen ops such
as the division of ``mean`` and the autograd glue) and
``dgl.utils.set_num_threads`` (DGL's C++ kernels, which run through OpenMP
``omp_set_num_threads``) are set.  The values actually in force are checked
and recorded.
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time

# Keep DGL from choosing (and writing ~/.dgl/config.json about) a backend.
os.environ.setdefault("DGLBACKEND", "pytorch")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import dgl  # noqa: E402
import dgl.utils  # noqa: E402

import graphs  # noqa: E402  (bench/graphs.py: this script's folder is on sys.path)

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REDUCES = ("sum", "mean", "max", "min")
PASSES = ("forward", "forward_backward")


def int_list(text):
    return [int(x) for x in text.split(",") if x.strip()]


def str_list(text):
    return [x.strip() for x in text.split(",") if x.strip()]


def set_threads(n):
    torch.set_num_threads(n)
    dgl.utils.set_num_threads(n)
    got = (torch.get_num_threads(), dgl.utils.get_num_threads())
    if got != (n, n):
        print(f"warning: asked for {n} threads, torch/dgl report {got}", file=sys.stderr)
    return got


def time_runs(fn, warmup, repeat, before=None):
    """Run ``fn`` warmup + repeat times; return the timed durations in ms."""
    runs = []
    for i in range(warmup + repeat):
        if before is not None:
            before()
        t0 = time.perf_counter()
        fn()
        t1 = time.perf_counter()
        if i >= warmup:
            runs.append((t1 - t0) * 1e3)
    return runs


def build_graph(name):
    edge_index, num_nodes = graphs.bench_edge_index(name, seed=0)
    edge_index = np.ascontiguousarray(edge_index, dtype=np.int64)
    src = torch.from_numpy(edge_index[0].copy())
    dst = torch.from_numpy(edge_index[1].copy())
    g = dgl.graph((src, dst), num_nodes=num_nodes)
    g.create_formats_()  # COO + in-CSR + out-CSR, once, outside timing
    return g, num_nodes, edge_index.shape[1]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dims", type=int_list, default=[16, 64, 256],
                   help="comma-separated feature widths (default 16,64,256)")
    p.add_argument("--graphs", type=str_list, default=["uniform", "powerlaw", "small"],
                   help="comma-separated names from graphs.BENCH_GRAPHS (default uniform,powerlaw,small)")
    p.add_argument("--threads", type=int_list, default=[1, 2],
                   help="comma-separated thread counts (default 1,2)")
    p.add_argument("--reduces", type=str_list, default=list(REDUCES),
                   help="comma-separated subset of sum,mean,max,min")
    p.add_argument("--repeat", type=int, default=7, help="timed runs (median reported)")
    p.add_argument("--warmup", type=int, default=2, help="untimed warm-up runs")
    p.add_argument("--out", default=os.path.join(BENCH_DIR, "results", "dgl.jsonl"),
                   help="JSON-lines output path (default bench/results/dgl.jsonl)")
    p.add_argument("--append", action="store_true",
                   help="append to --out instead of overwriting it")
    args = p.parse_args(argv)

    for r in args.reduces:
        if r not in REDUCES:
            p.error(f"unknown reduce {r!r}")
    for name in args.graphs:
        if name not in graphs.BENCH_GRAPHS:
            p.error(f"unknown graph {name!r}; choose from {sorted(graphs.BENCH_GRAPHS)}")

    out_path = os.path.abspath(args.out)
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    env = {
        "dgl": dgl.__version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "libxsmm": bool(dgl.is_libxsmm_enabled()),
        "cpu_count": os.cpu_count(),
    }
    print("env:", json.dumps(env), flush=True)

    rows = []
    with open(out_path, "a" if args.append else "w") as fh:
        for name in args.graphs:
            g, n, e = build_graph(name)
            print(f"graph {name}: {n} nodes, {e} edges, formats {g.formats()['created']}",
                  flush=True)
            for d in args.dims:
                X0 = torch.from_numpy(
                    np.random.default_rng(1).standard_normal((n, d), dtype=np.float32))
                G = torch.from_numpy(
                    np.random.default_rng(2).standard_normal((n, d), dtype=np.float32))
                for t in args.threads:
                    got = set_threads(t)
                    for reduce in args.reduces:
                        op = getattr(dgl.ops, f"copy_u_{reduce}")
                        X = X0.detach().clone().requires_grad_(True)

                        def fwd():
                            with torch.no_grad():
                                op(g, X)

                        def fwd_bwd():
                            op(g, X).backward(G)

                        def reset_grad():
                            X.grad = None

                        for pas, fn, before in (("forward", fwd, None),
                                                ("forward_backward", fwd_bwd, reset_grad)):
                            runs = time_runs(fn, args.warmup, args.repeat, before)
                            rec = {
                                "peer": "dgl", "graph": name, "d": d, "threads": t,
                                "reduce": reduce, "pass": pas,
                                "median_ms": statistics.median(runs),
                                "runs_ms": [round(x, 4) for x in runs],
                                "num_nodes": n, "num_edges": e,
                                "threads_in_force": {"torch": got[0], "dgl": got[1]},
                                "env": env,
                            }
                            fh.write(json.dumps(rec) + "\n")
                            fh.flush()
                            rows.append(rec)
                            print(f"  {name:9s} d={d:<4d} t={t} {reduce:4s} {pas:16s} "
                                  f"median {rec['median_ms']:9.2f} ms", flush=True)
                del X0, G
            del g

    print_table(rows)
    print(f"wrote {len(rows)} records to {out_path}")


def print_table(rows):
    """Medians in ms: one line per (graph, d, threads, pass), one column per reduce."""
    keys = []
    table = {}
    for r in rows:
        k = (r["graph"], r["d"], r["threads"], r["pass"])
        if k not in table:
            keys.append(k)
            table[k] = {}
        table[k][r["reduce"]] = r["median_ms"]
    reduces = [x for x in REDUCES if any(x in v for v in table.values())]
    head = f"{'graph':9s} {'d':>4s} {'thr':>3s} {'pass':16s} " + " ".join(
        f"{x:>9s}" for x in reduces)
    print()
    print("median ms (DGL %s, torch %s)" % (dgl.__version__, torch.__version__))
    print(head)
    print("-" * len(head))
    for k in keys:
        cells = " ".join(
            f"{table[k][x]:9.2f}" if x in table[k] else f"{'':>9s}" for x in reduces)
        print(f"{k[0]:9s} {k[1]:>4d} {k[2]:>3d} {k[3]:16s} {cells}")


if __name__ == "__main__":
    main()
