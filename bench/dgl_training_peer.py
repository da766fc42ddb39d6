#!/usr/bin/env python
"""Peer benchmark: DGL training epochs of a 2-layer GCN and GraphSAGE, as ``bench/run.py training`` times them.

Run with the Python of the separate DGL environment (DGL 1.1.3 needs
numpy<2; see ``bench/dgl_peer.py`` for its set-up). ``python bench/run.py
training --dgl-python PATH`` (or with ``FASTGNN_DGL_PYTHON=PATH`` set) starts
this script itself, once per (graph, model) and round; it can also be run
alone, from the repository root::

    $FASTGNN_DGL_PYTHON bench/dgl_training_peer.py --graph uniform --model sage --threads 2

It does not import fastgnn: the synthetic data comes from the sibling
``bench/graphs.py`` (plain NumPy) and Cora from the ``.npz`` file that
fastgnn ships (``--cora``; by default the one in this source tree), so both
sides train on exactly the same data (the same seeded graph, features and
labels as ``bench/training.py``'s ``make_data``).

Models (the same as fastgnn's and PyG's in the benchmark): dropout on the
input, conv, ReLU, dropout, conv; Adam with lr 0.01; softmax cross-entropy
on the training nodes (every node of the synthetic graph).

* ``gcn``: ``dgl.nn.GraphConv(norm='both')`` on the graph with a self-loop
  added to every node (Kipf's ``D^-1/2 (A + I) D^-1/2``), hidden 16;
* ``sage``: ``dgl.nn.SAGEConv(aggregator_type='mean')``, hidden 64 (DGL
  applies ``fc_neigh`` before aggregating when it narrows the features).

Prints one JSON line: median epoch time over ``--repeat`` epochs after
``--warmup``, and ``peak_mb``: the growth of RSS during those epochs above
its level after the data was built (the peak RSS is reset first through
``/proc/self/clear_refs``).
"""
import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("DGLBACKEND", "pytorch")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import dgl  # noqa: E402
import dgl.nn  # noqa: E402
import dgl.utils  # noqa: E402

from graphs import uniform_training_data  # noqa: E402  (bench/graphs.py: this script's folder is on sys.path)

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
CORA_PATH = os.path.join(os.path.dirname(BENCH_DIR), "src", "fastgnn", "datasets", "_embedded", "cora.npz")
HIDDEN = {"gcn": 16, "sage": 64}


def load_cora(path=CORA_PATH):
    """Cora from the package's compact file (see fastgnn.datasets.embedded), features row-normalised."""
    with np.load(path, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    indptr = arrays["feature_indptr"].astype(np.int64)
    num_nodes = indptr.shape[0] - 1
    x = np.zeros((num_nodes, int(arrays["num_features"])), dtype=np.float32)
    rows = np.repeat(np.arange(num_nodes), np.diff(indptr))
    x[rows, arrays["feature_indices"].astype(np.int64)] = arrays.get("feature_values", 1.0)
    sums = x.sum(axis=1, dtype=np.float64)
    scale = np.zeros_like(sums)
    np.divide(1.0, sums, out=scale, where=sums != 0)
    x = (x * scale[:, None]).astype(np.float32)
    edges = arrays["edges"].astype(np.int64)
    edge_index = np.concatenate([edges, edges[::-1]], axis=1)
    train_mask = np.zeros(num_nodes, dtype=bool)
    train_mask[arrays["train_index"].astype(np.int64)] = True
    return edge_index, x, arrays["labels"].astype(np.int64), train_mask, int(arrays["num_classes"])


def make_data(graph_name, seed=0, cora_path=CORA_PATH):
    """``(edge_index, x, y, train_mask, num_classes)``, as ``bench/training.py`` builds them."""
    if graph_name == "cora":
        return load_cora(cora_path)
    return uniform_training_data(seed)


def status_kb(field):
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--graph", choices=("cora", "uniform"), default="uniform")
    parser.add_argument("--model", choices=("gcn", "sage"), default="gcn")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--dropout", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cora", metavar="PATH", default=CORA_PATH,
                        help="fastgnn's datasets/_embedded/cora.npz (default: the one in this source tree)")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    dgl.utils.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    edge_index, x, y, train_mask, num_classes = make_data(args.graph, args.seed, args.cora)
    num_nodes = x.shape[0]
    src = torch.from_numpy(np.ascontiguousarray(edge_index[0], dtype=np.int64))
    dst = torch.from_numpy(np.ascontiguousarray(edge_index[1], dtype=np.int64))
    graph = dgl.graph((src, dst), num_nodes=num_nodes)
    if args.model == "gcn":
        graph = dgl.add_self_loop(dgl.remove_self_loop(graph))
    graph.create_formats_()
    x_t = torch.from_numpy(x)
    y_t = torch.from_numpy(np.asarray(y, dtype=np.int64))
    mask_t = torch.from_numpy(train_mask)
    all_nodes = bool(train_mask.all())
    hidden = HIDDEN[args.model]
    if args.model == "gcn":
        conv1 = dgl.nn.GraphConv(x.shape[1], hidden, norm="both")
        conv2 = dgl.nn.GraphConv(hidden, num_classes, norm="both")
    else:
        conv1 = dgl.nn.SAGEConv(x.shape[1], hidden, "mean")
        conv2 = dgl.nn.SAGEConv(hidden, num_classes, "mean")

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.conv2 = conv1, conv2

        def forward(self, g, features):
            h = F.dropout(features, p=args.dropout, training=self.training)
            h = F.relu(self.conv1(g, h))
            h = F.dropout(h, p=args.dropout, training=self.training)
            return self.conv2(g, h)

    model = Net()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)

    def epoch():
        model.train()
        optimizer.zero_grad()
        out = model(graph, x_t)
        loss = F.cross_entropy(out, y_t) if all_nodes else F.cross_entropy(out[mask_t], y_t[mask_t])
        loss.backward()
        optimizer.step()
        return loss.item()

    del x, edge_index
    base = status_kb("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        resettable = True
    except OSError:
        resettable = False
    for _ in range(args.warmup):
        epoch()
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        epoch()
        times.append(time.perf_counter() - start)
    peak = status_kb("VmHWM")
    result = {
        "impl": "dgl", "graph": args.graph, "model": args.model, "threads": args.threads,
        "dropout": args.dropout, "dgl": dgl.__version__, "torch": torch.__version__,
        "threads_in_force": [torch.get_num_threads(), dgl.utils.get_num_threads()],
        "peak_mb": (max(peak - base, 0) / 1024.0) if resettable and peak and base else None,
        "times_ms": [1000 * t for t in times],
        "median_ms": 1000 * statistics.median(times),
    }
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
