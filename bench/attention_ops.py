#!/usr/bin/env python
"""Attention edge ops against DGL: ``python bench/attention_ops.py [--graph small] [--threads 1,2] [--rounds R]``.

What is measured, on a graph of ``bench/graphs.py`` (default ``small``:
20,000 nodes, 400,000 uniform edges) with H = 8 heads of F = 8 float32
features (GAT's usual hidden layer):

* ``sddmm_add``: ``fastgnn.ops.sddmm(graph, s_dst, s_src, "add")`` (E, H) /
  DGL ``ops.u_add_v``; ``sddmm_dot``: ``sddmm(graph, x, x)`` / ``ops.u_dot_v``.
* ``edge_softmax`` and its backward / DGL ``nn.functional.edge_softmax``
  (forward, then the autograd backward alone).
* ``agg_heads``: ``aggregate(graph, x, "sum", edge_weight=alpha)`` with x
  (N, H, F) and alpha (E, H), and its backward with the weight gradient /
  DGL ``ops.u_mul_e_sum`` (forward, then the autograd backward alone).
* fastgnn only, for scale: the same bytes gathered by the one-weight
  ``aggregate`` of x as (N, H * F) (``agg_flat``), and H separate
  one-head aggregations (``agg_per_head``).

DGL runs in its own interpreter (``--dgl-python``, default
``$FASTGNN_DGL_PYTHON``; see ``bench/dgl_peer.py`` for its environment):
this script runs itself there with ``--side dgl``. The two sides run in
alternating processes, ``--rounds`` times each per thread count; each
process reports the median of its timed calls (after one warm-up call), and
the table gives the median over processes and the ratio DGL / fastgnn
(> 1: fastgnn is faster).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from graphs import BENCH_GRAPHS, bench_edge_index  # noqa: E402

HEADS, FEATURES = 8, 8


def _inputs(name):
    edge_index, num_nodes = bench_edge_index(name)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((num_nodes, HEADS, FEATURES), dtype=np.float32)
    s_src = rng.standard_normal((num_nodes, HEADS), dtype=np.float32)
    s_dst = rng.standard_normal((num_nodes, HEADS), dtype=np.float32)
    grad = rng.standard_normal((num_nodes, HEADS, FEATURES), dtype=np.float32)
    return edge_index, num_nodes, x, s_src, s_dst, grad


def _median_ms(call, calls):
    times = []
    for _ in range(calls + 1):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times[1:])


def fastgnn_side(name, threads, calls):
    import fastgnn
    from fastgnn import ops

    edge_index, num_nodes, x, s_src, s_dst, grad = _inputs(name)
    graph = fastgnn.Graph.from_edge_index(edge_index, num_nodes=num_nodes)
    graph.transpose_csr()
    scores = ops.sddmm(graph, s_dst, s_src, "add")
    alpha = ops.edge_softmax(graph, scores)
    flat = x.reshape(num_nodes, HEADS * FEATURES)
    cases = {
        "sddmm_add": lambda: ops.sddmm(graph, s_dst, s_src, "add", n_threads=threads),
        "sddmm_dot": lambda: ops.sddmm(graph, x, x, n_threads=threads),
        "edge_softmax": lambda: ops.edge_softmax(graph, scores, n_threads=threads),
        "edge_softmax_backward": lambda: ops.edge_softmax_backward(graph, scores, alpha, n_threads=threads),
        "agg_heads": lambda: ops.aggregate(graph, x, "sum", edge_weight=alpha, n_threads=threads),
        "agg_heads_backward": lambda: ops.aggregate_backward(graph, grad, "sum", x=x, edge_weight=alpha,
                                                             need_weight_grad=True, n_threads=threads),
        "agg_flat": lambda: ops.aggregate(graph, flat, "sum", edge_weight=alpha[:, 0], n_threads=threads),
        "agg_per_head": lambda: [ops.aggregate(graph, x[:, h], "sum", edge_weight=alpha[:, h], n_threads=threads)
                                 for h in range(HEADS)],
    }
    return {key: _median_ms(call, calls) for key, call in cases.items()}


def dgl_side(name, threads, calls):
    import dgl
    import torch
    from dgl.nn.functional import edge_softmax

    torch.set_num_threads(threads)
    edge_index, num_nodes, x, s_src, s_dst, grad = _inputs(name)
    graph = dgl.graph((torch.from_numpy(edge_index[0]), torch.from_numpy(edge_index[1])), num_nodes=num_nodes)
    graph.create_formats_()
    x, s_src, s_dst, grad = (torch.from_numpy(a) for a in (x, s_src, s_dst, grad))
    with torch.no_grad():
        scores = dgl.ops.u_add_v(graph, s_src, s_dst)
        alpha = edge_softmax(graph, scores).unsqueeze(-1)

    def backward_only(forward, upstream):
        def run():
            out = forward()
            start = time.perf_counter()
            out.backward(upstream)
            return time.perf_counter() - start
        return run

    def softmax_forward():
        return edge_softmax(graph, scores.clone().requires_grad_())

    def aggregate_forward():
        return dgl.ops.u_mul_e_sum(graph, x.clone().requires_grad_(), alpha.clone().requires_grad_())

    results = {}
    with torch.no_grad():
        for key, call in {
            "sddmm_add": lambda: dgl.ops.u_add_v(graph, s_src, s_dst),
            "sddmm_dot": lambda: dgl.ops.u_dot_v(graph, x, x),
            "edge_softmax": lambda: edge_softmax(graph, scores),
            "agg_heads": lambda: dgl.ops.u_mul_e_sum(graph, x, alpha),
        }.items():
            results[key] = _median_ms(call, calls)
    for key, run in {"edge_softmax_backward": backward_only(softmax_forward, scores),
                     "agg_heads_backward": backward_only(aggregate_forward, grad)}.items():
        results[key] = 1e3 * statistics.median([run() for _ in range(calls + 1)][1:])
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graph", default="small", choices=sorted(BENCH_GRAPHS))
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--rounds", type=int, default=3, help="processes per side and thread count")
    parser.add_argument("--calls", type=int, default=5, help="timed calls per process")
    parser.add_argument("--dgl-python", default=os.environ.get("FASTGNN_DGL_PYTHON"))
    parser.add_argument("--side", choices=["fastgnn", "dgl"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        side = fastgnn_side if args.side == "fastgnn" else dgl_side
        print(json.dumps(side(args.graph, int(args.threads), args.calls)))
        return
    sides = [("fastgnn", sys.executable)] + ([("dgl", args.dgl_python)] if args.dgl_python else [])
    for threads in args.threads.split(","):
        env = dict(os.environ, OMP_NUM_THREADS=threads)
        results = {side: {} for side, _ in sides}
        for _ in range(args.rounds):
            for side, python in sides:
                command = [python, os.path.abspath(__file__), "--side", side, "--graph", args.graph,
                           "--threads", threads, "--calls", str(args.calls)]
                output = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
                for key, value in json.loads(output).items():
                    results[side].setdefault(key, []).append(value)
        print(f"{args.graph}, H={HEADS}, F={FEATURES}, float32, {threads} thread(s), median ms of {args.rounds} "
              "processes")
        for key, values in results["fastgnn"].items():
            ours = statistics.median(values)
            line = f"  {key:24s} fastgnn {ours:8.2f}"
            if key in results.get("dgl", {}):
                theirs = statistics.median(results["dgl"][key])
                line += f"   dgl {theirs:8.2f}   dgl/fastgnn {theirs / ours:5.2f}"
            print(line)


if __name__ == "__main__":
    main()
