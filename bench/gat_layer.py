"""A GAT / GATv2 layer, forward + backward, on the uniform 100k-node / 2M-edge graph: fastgnn's fused
attention kernels against PyG's ``GATConv`` / ``GATv2Conv`` and, optionally, DGL's.

fastgnn's layer is written out with NumPy around :func:`fastgnn.ops.gat_attention` (and the GATv2
variant): the linear map, the two score projections, the fused kernel, and their gradients (the
same work PyG's layer does, without self-loops or bias). Every peer is timed in the same process
(DGL in its own environment, ``--dgl-python``, run between fastgnn's rounds), the median of the rounds
is reported, and the kernels' own forward and backward times are printed as well. NumPy's BLAS (the
products of fastgnn's layer) gets the same thread count as the kernels, PyTorch's ``set_num_threads``::

    python bench/gat_layer.py --threads 1,2 --rounds 5 [--dgl-python "$FASTGNN_DGL_PYTHON"]
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from graphs import uniform_edge_index  # noqa: E402

NUM_NODES, NUM_EDGES, IN, HEADS, OUT = 100_000, 2_000_000, 64, 8, 8

DGL_SCRIPT = r"""
import sys, time, json, torch, dgl
sys.path.insert(0, %(here)r)
from graphs import uniform_edge_index
from dgl.nn import GATConv, GATv2Conv
threads, rounds = %(threads)d, %(rounds)d
torch.set_num_threads(threads); dgl.utils.set_num_threads(threads)
ei = uniform_edge_index(%(n)d, %(e)d, rng=0)
g = dgl.graph((torch.from_numpy(ei[0]), torch.from_numpy(ei[1])), num_nodes=%(n)d)
g.create_formats_()
x = torch.randn(%(n)d, %(i)d)
res = {}
for name, cls in (("gat", GATConv), ("gatv2", GATv2Conv)):
    conv = cls(%(i)d, %(o)d, num_heads=%(h)d, allow_zero_in_degree=True)
    ts = []
    for r in range(rounds + 1):
        t0 = time.perf_counter(); out = conv(g, x); out.backward(torch.ones_like(out)); ts.append(time.perf_counter() - t0)
    res[name] = sorted(ts[1:])[len(ts[1:]) // 2]
print(json.dumps(res))
"""


def fastgnn_layers(graph, x, threads, rng):
    from fastgnn import ops
    weight = rng.standard_normal((IN, HEADS * OUT)).astype(np.float32) / 8
    weight_dst = rng.standard_normal((IN, HEADS * OUT)).astype(np.float32) / 8
    a_src = rng.standard_normal((HEADS, OUT)).astype(np.float32)
    a_dst = rng.standard_normal((HEADS, OUT)).astype(np.float32)
    times = {}

    # a_src and a_dst folded into the linear map: score_src = x @ (W . a_src), an (IN, H) matrix.
    def folded(a):
        return np.einsum("ihf,hf->ih", weight.reshape(IN, HEADS, OUT), a)

    def gat():
        w_src, w_dst = folded(a_src), folded(a_dst)
        z = (x @ weight).reshape(NUM_NODES, HEADS, OUT)
        score_src, score_dst = x @ w_src, x @ w_dst
        t0 = time.perf_counter()
        out, state = ops.gat_attention(graph, z, score_src, score_dst, n_threads=threads)
        t1 = time.perf_counter()
        grad_out = np.ones_like(out)
        t2 = time.perf_counter()
        grad_z, grad_src, grad_dst = ops.gat_attention_backward(graph, grad_out, z, score_src, score_dst, state,
                                                                n_threads=threads)
        t3 = time.perf_counter()
        times.setdefault("gat kernel forward", []).append(t1 - t0)
        times.setdefault("gat kernel backward", []).append(t3 - t2)
        grad_z = grad_z.reshape(NUM_NODES, -1)
        grad_w_src, grad_w_dst = x.T @ grad_src, x.T @ grad_dst       # (IN, H)
        grad_weight = x.T @ grad_z + (grad_w_src[:, :, None] * a_src + grad_w_dst[:, :, None] * a_dst).reshape(IN, -1)
        grad_a = (np.einsum("ihf,ih->hf", weight.reshape(IN, HEADS, OUT), grad_w_src),
                  np.einsum("ihf,ih->hf", weight.reshape(IN, HEADS, OUT), grad_w_dst))
        grad_x = grad_z @ weight.T + grad_src @ w_src.T + grad_dst @ w_dst.T
        return grad_weight, grad_a, grad_x

    def gatv2():
        x_src = (x @ weight).reshape(NUM_NODES, HEADS, OUT)
        x_dst = (x @ weight_dst).reshape(NUM_NODES, HEADS, OUT)
        t0 = time.perf_counter()
        out, state = ops.gatv2_attention(graph, x_src, x_dst, a_src, n_threads=threads)
        t1 = time.perf_counter()
        grad_out = np.ones_like(out)
        t2 = time.perf_counter()
        grad_src, grad_dst, grad_att = ops.gatv2_attention_backward(graph, grad_out, x_src, x_dst, a_src, state,
                                                                    n_threads=threads)
        t3 = time.perf_counter()
        times.setdefault("gatv2 kernel forward", []).append(t1 - t0)
        times.setdefault("gatv2 kernel backward", []).append(t3 - t2)
        grad_src = grad_src.reshape(NUM_NODES, -1)
        grad_dst = grad_dst.reshape(NUM_NODES, -1)
        return x.T @ grad_src, x.T @ grad_dst, grad_src @ weight.T + grad_dst @ weight_dst.T, grad_att

    return {"gat": gat, "gatv2": gatv2}, times


def pyg_layers(edge_index, x):
    import torch
    from torch_geometric.nn import GATConv, GATv2Conv
    ei = torch.from_numpy(edge_index)
    xt = torch.from_numpy(x)
    convs = {"gat": GATConv(IN, OUT, heads=HEADS, add_self_loops=False),
             "gatv2": GATv2Conv(IN, OUT, heads=HEADS, add_self_loops=False)}

    def make(conv):
        def run():
            out = conv(xt, ei)
            out.backward(torch.ones_like(out))
        return run
    return {name: make(conv) for name, conv in convs.items()}


def timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dgl-python", default=os.environ.get("FASTGNN_DGL_PYTHON"))
    parser.add_argument("--no-pyg", action="store_true")
    args = parser.parse_args(argv)
    import torch
    import fastgnn
    from fastgnn._runtime.blas import limit_blas_threads
    edge_index = uniform_edge_index(NUM_NODES, NUM_EDGES, rng=0)
    graph = fastgnn.Graph.from_edge_index(edge_index, num_nodes=NUM_NODES)
    graph.transpose_csr()
    x = np.random.default_rng(1).standard_normal((NUM_NODES, IN)).astype(np.float32)
    for threads in [int(t) for t in args.threads.split(",")]:
        torch.set_num_threads(threads)
        fastgnn.set_num_threads(threads)
        ours, kernel_times = fastgnn_layers(graph, x, threads, np.random.default_rng(2))
        peers = {} if args.no_pyg else pyg_layers(edge_index, x)
        for fn in list(ours.values()) + list(peers.values()):
            fn()  # warm-up
        kernel_times.clear()
        results = {}
        for _ in range(args.rounds):  # interleaved rounds
            with limit_blas_threads(threads):
                for name, fn in ours.items():
                    results.setdefault(("fastgnn", name), []).append(timed(fn))
            for name, fn in peers.items():
                results.setdefault(("pyg", name), []).append(timed(fn))
        if args.dgl_python:
            script = DGL_SCRIPT % dict(here=HERE, threads=threads, rounds=args.rounds, n=NUM_NODES, e=NUM_EDGES,
                                       i=IN, o=OUT, h=HEADS)
            proc = subprocess.run([args.dgl_python, "-c", script], capture_output=True, text=True, check=True)
            dgl = json.loads(proc.stdout.strip().splitlines()[-1])
            for name, value in dgl.items():
                results[("dgl", name)] = [value]
            for _ in range(args.rounds):  # fastgnn again, after DGL, to bracket the drift
                with limit_blas_threads(threads):
                    for name, fn in ours.items():
                        results[("fastgnn", name)].append(timed(fn))
        median = {key: float(np.median(value)) * 1e3 for key, value in results.items()}
        print(f"threads={threads}  (layer {IN} -> {HEADS} heads x {OUT}, forward + backward, median ms)")
        for name in ("gat", "gatv2"):
            line = f"  {name:6s} fastgnn {median[('fastgnn', name)]:8.1f}"
            for peer in ("pyg", "dgl"):
                if (peer, name) in median:
                    line += (f"   {peer} {median[(peer, name)]:8.1f} "
                             f"({median[(peer, name)] / median[('fastgnn', name)]:.1f}x)")
            print(line)
        for key, value in kernel_times.items():
            print(f"  {key}: {np.median(value) * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
