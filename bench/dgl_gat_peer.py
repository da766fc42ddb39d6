#!/usr/bin/env python
"""Peer benchmark: DGL's ``GATConv`` / ``GATv2Conv``, as ``bench/run.py gat`` times fastgnn and PyG.

Run with the Python of the separate DGL environment (DGL 1.1.3 needs
numpy<2; set-up in ``bench/dgl_peer.py``). ``python bench/run.py gat
--dgl-python PATH`` (or with ``FASTGNN_DGL_PYTHON=PATH``) starts this script
itself, once per (task, graph, threads) and round; it can also be run alone::

    $FASTGNN_DGL_PYTHON bench/dgl_gat_peer.py --task layer --graph uniform --threads 2

It does not import fastgnn: graphs, features and parameters come from the
sibling ``bench/graphs.py`` (plain NumPy), so DGL computes what the other
implementations compute: the graph without duplicate edges
(``graphs.unique_edges``) with its self-loops replaced by one per node
(``dgl.remove_self_loop`` then ``dgl.add_self_loop``: PyG's edges), and
for the layer task the same features and parameters (``fc.weight`` = PyG's
``lin.weight``, ``attn_l`` / ``attn_r`` = ``att_src`` / ``att_dst``).

* ``layer``: ``forward`` (``eval()``, ``torch.no_grad()``) and
  ``forward_backward`` (the output gradient of ``graphs.gat_layer_data``
  fed back) per shape ``IN x HEADS x OUT``; after them the growth of RSS during
  one forward + backward (the peak RSS reset first through
  ``/proc/self/clear_refs``);
* ``epoch``: a 2-layer GAT / GATv2 (8 heads x 8, ELU, one output head,
  dropout 0.6 on inputs and attention, Adam lr 0.005, weight decay 5e-4)
  on ``graphs.training_data`` of the graph.

Prints one JSON line in the format of ``bench/attention.py``'s workers.
"""
import argparse
import json
import os
import sys
import time

os.environ.setdefault("DGLBACKEND", "pytorch")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import dgl  # noqa: E402
import dgl.nn  # noqa: E402
import dgl.utils  # noqa: E402

from graphs import bench_edge_index, gat_layer_data, training_data, unique_edges  # noqa: E402
from measure import peak_growth_mb, time_runs  # noqa: E402

HIDDEN, HEADS, DROPOUT, LR, WEIGHT_DECAY = 8, 8, 0.6, 0.005, 5e-4


def dgl_graph(edge_index, num_nodes):
    src = torch.from_numpy(np.ascontiguousarray(edge_index[0], dtype=np.int64))
    dst = torch.from_numpy(np.ascontiguousarray(edge_index[1], dtype=np.int64))
    graph = dgl.add_self_loop(dgl.remove_self_loop(dgl.graph((src, dst), num_nodes=num_nodes)))
    graph.create_formats_()
    return graph


def layer_results(graph, num_nodes, shapes, passes, repeat, warmup, budget):
    results = []
    for shape in shapes:
        in_channels, heads, out_channels = (int(v) for v in shape.lower().split("x"))
        data = gat_layer_data(num_nodes, in_channels, heads, out_channels)
        conv = dgl.nn.GATConv(in_channels, out_channels, heads)
        with torch.no_grad():
            conv.fc.weight.copy_(torch.from_numpy(data["weight"]))
            conv.attn_l.copy_(torch.from_numpy(data["att_src"]))
            conv.attn_r.copy_(torch.from_numpy(data["att_dst"]))
            conv.bias.copy_(torch.from_numpy(data["bias"]).view_as(conv.bias))
        x, grad = torch.from_numpy(data["x"]), torch.from_numpy(data["grad"])

        def forward():
            conv.eval()
            with torch.no_grad():
                return conv(graph, x).reshape(num_nodes, -1)

        def forward_backward():
            conv.train()
            conv(graph, x).reshape(num_nodes, -1).backward(grad)

        def reset():
            for parameter in conv.parameters():
                parameter.grad = None

        entry = {"shape": shape, "checksum": float(forward().double().sum())}
        runs = [(pass_, time_runs(forward if pass_ == "forward" else forward_backward, reset, repeat, warmup, budget))
                for pass_ in passes]
        reset()
        entry["peak_mb"], _ = peak_growth_mb(forward_backward)
        reset()
        for pass_, times in runs:
            results.append(dict(entry, **{"pass": pass_, "times_ms": [1000 * t for t in times]}))
    return results


def epoch_result(model_name, graph, x, y, num_classes, repeat, warmup, budget, seed=0):
    torch.manual_seed(seed)
    if model_name == "gat":
        conv1 = dgl.nn.GATConv(x.shape[1], HIDDEN, HEADS, attn_drop=DROPOUT)
        conv2 = dgl.nn.GATConv(HIDDEN * HEADS, num_classes, 1, attn_drop=DROPOUT)
    else:
        conv1 = dgl.nn.GATv2Conv(x.shape[1], HIDDEN, HEADS, attn_drop=DROPOUT)
        conv2 = dgl.nn.GATv2Conv(HIDDEN * HEADS, num_classes, 1, attn_drop=DROPOUT)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.conv2 = conv1, conv2

        def forward(self, g, features):
            h = F.dropout(features, p=DROPOUT, training=self.training)
            h = F.elu(self.conv1(g, h).flatten(1))
            h = F.dropout(h, p=DROPOUT, training=self.training)
            return self.conv2(g, h).mean(1)

    model = Net()
    optimizer = torch.optim.Adam(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    x_t, y_t = torch.from_numpy(x), torch.from_numpy(y)

    def epoch():
        model.train()
        optimizer.zero_grad()
        loss = F.cross_entropy(model(graph, x_t), y_t)
        loss.backward()
        optimizer.step()

    peak_mb, times = peak_growth_mb(lambda: time_runs(epoch, lambda: None, repeat, warmup, budget))
    return {"model": model_name, "times_ms": [1000 * t for t in times], "peak_mb": peak_mb}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", choices=("layer", "epoch"), default="layer")
    parser.add_argument("--graph", default="uniform")
    parser.add_argument("--threads", default="2", help="a thread count (the first of a comma list)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--budget", type=float, default=5.0)
    parser.add_argument("--shapes", default="64x8x8,128x8x16")
    parser.add_argument("--passes", default="forward,forward_backward")
    parser.add_argument("--models", default="gat,gatv2")
    args = parser.parse_args(argv)
    threads = int(args.threads.split(",")[0])
    torch.set_num_threads(threads)
    dgl.utils.set_num_threads(threads)
    result = {"impl": "dgl", "task": args.task, "graph": args.graph, "threads": threads, "dgl": dgl.__version__,
              "torch": torch.__version__}
    split = lambda text: [v.strip() for v in text.split(",") if v.strip()]  # noqa: E731
    if args.task == "layer":
        edge_index, num_nodes = bench_edge_index(args.graph)
        graph = dgl_graph(unique_edges(edge_index), num_nodes)
        result["results"] = layer_results(graph, num_nodes, split(args.shapes), split(args.passes), args.repeat,
                                          args.warmup, args.budget)
    else:
        edge_index, x, y, _, num_classes = training_data(args.graph)
        graph = dgl_graph(unique_edges(edge_index), x.shape[0])
        result["results"] = [epoch_result(model, graph, x, y, num_classes, args.repeat, args.warmup, args.budget)
                             for model in split(args.models)]
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
