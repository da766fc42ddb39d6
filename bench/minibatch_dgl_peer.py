#!/usr/bin/env python
"""Peer of ``bench/minibatch.py``: DGL's mini-batch GraphSAGE training, driven round by round over stdin.

Run with the Python of the DGL environment (set-up in ``bench/dgl_peer.py``),
never the fastgnn one; it does not import fastgnn (DGL 1.1 needs numpy<2). It
reads the dataset folder's ``.npy`` files itself (``--dataset``:
``indptr.npy``, ``indices.npy``: destination-major CSR, row ``i`` the
in-neighbours of ``i``; ``x.npy`` memory-mapped, as fastgnn's side; ``y.npy``)
and the seed batches ``bench/minibatch.py`` wrote (``--seeds``: int64,
``num_batches x batch_size``). One line per timed round::

    ROUND <threads>     -> one JSON line {"threads", "seconds", "cpu_seconds", "edges", "batches", ...}
    QUIT                -> exit

A round is one untimed warm-up step, then one training step per batch:
``dgl.dataloading.DataLoader`` over the seeds in order with a
``NeighborSampler`` (fan-outs given seeds first, as fastgnn's, and passed
reversed: DGL takes them input side first), the input rows gathered from
the memory-mapped ``x.npy``, three ``SAGEConv(mean)`` layers with ReLU and
dropout between them, cross-entropy on the seeds, ``Adam``.
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
import dgl.utils  # noqa: E402

from measure import status_kb  # noqa: E402


def status_mb(field):
    """A ``/proc/self/status`` field in MB (``VmHWM``: this process's own peak, which restarts at exec), or None."""
    kb = status_kb(field)
    return None if kb is None else kb / 1024


class SAGE(torch.nn.Module):
    def __init__(self, sizes, dropout):
        super().__init__()
        self.layers = torch.nn.ModuleList(dgl.nn.SAGEConv(a, b, "mean") for a, b in zip(sizes[:-1], sizes[1:]))
        self.dropout = dropout

    def forward(self, blocks, x):
        h = x
        for index, (layer, block) in enumerate(zip(self.layers, blocks)):
            h = layer(block, h)
            if index < len(self.layers) - 1:
                h = F.dropout(F.relu(h), self.dropout, self.training)
        return h


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--seeds", required=True)
    parser.add_argument("--fanouts", default="15,10,5", help="seeds first (fastgnn/PyG order)")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--dropout", type=float, default=0.5)
    parser.add_argument("--lr", type=float, default=0.003)
    args = parser.parse_args(argv)
    fanouts = [int(f) for f in args.fanouts.split(",")]
    indptr = torch.from_numpy(np.load(os.path.join(args.dataset, "indptr.npy")).astype(np.int64))
    indices = torch.from_numpy(np.load(os.path.join(args.dataset, "indices.npy")).astype(np.int64))
    x = np.load(os.path.join(args.dataset, "x.npy"), mmap_mode="r")
    y = torch.from_numpy(np.load(os.path.join(args.dataset, "y.npy")).astype(np.int64))
    seeds = np.load(args.seeds)
    num_nodes = indptr.shape[0] - 1
    graph = dgl.graph(("csc", (indptr, indices, torch.empty(0, dtype=torch.int64))), num_nodes=num_nodes)
    graph = graph.formats(["csc"])
    del indptr, indices
    num_classes = int(y.max()) + 1
    torch.manual_seed(0)
    model = SAGE([x.shape[1]] + [args.hidden] * (len(fanouts) - 1) + [num_classes], args.dropout)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    sampler = dgl.dataloading.NeighborSampler(fanouts[::-1])
    batch_size = seeds.shape[1]
    train_ids = torch.from_numpy(seeds.reshape(-1).astype(np.int64))

    def step(input_nodes, output_nodes, blocks):
        features = torch.from_numpy(np.ascontiguousarray(x[input_nodes.numpy()], dtype=np.float32))
        optimizer.zero_grad()
        logits = model(blocks, features)
        loss = F.cross_entropy(logits, y[output_nodes])
        loss.backward()
        optimizer.step()
        return sum(int(block.num_edges()) for block in blocks)

    print(json.dumps({"ready": True, "dgl": dgl.__version__, "torch": torch.__version__, "num_nodes": num_nodes,
                      "num_edges": int(graph.num_edges())}), flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words or words[0] == "QUIT":
            break
        threads = int(words[1])
        torch.set_num_threads(threads)
        dgl.utils.set_num_threads(threads)
        model.train()
        warm = dgl.dataloading.DataLoader(graph, train_ids[:batch_size], sampler, batch_size=batch_size,
                                          shuffle=False, drop_last=False, num_workers=0)
        for input_nodes, output_nodes, blocks in warm:  # warm-up, untimed
            step(input_nodes, output_nodes, blocks)
        loader = dgl.dataloading.DataLoader(graph, train_ids, sampler, batch_size=batch_size, shuffle=False,
                                            drop_last=False, num_workers=0)
        edges = 0
        batches = 0
        cpu = time.process_time()
        start = time.perf_counter()
        for input_nodes, output_nodes, blocks in loader:
            edges += step(input_nodes, output_nodes, blocks)
            batches += 1
        seconds = time.perf_counter() - start
        cpu_seconds = time.process_time() - cpu
        print(json.dumps({"threads": threads, "seconds": seconds, "cpu_seconds": cpu_seconds, "edges": edges,
                          "batches": batches, "threads_in_force": torch.get_num_threads(),
                          "peak_rss_mb": status_mb("VmHWM"), "rss_anon_mb": status_mb("RssAnon"),
                          "rss_file_mb": status_mb("RssFile")}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
