#!/usr/bin/env python
"""Peer of ``bench/sampling.py``: DGL's CPU neighbour sampler, driven round by round over stdin.

Run with the Python of the DGL environment (set-up in ``bench/dgl_peer.py``),
never the fastgnn one; it does not import fastgnn. ``bench/sampling.py``
starts it, writes the graph and the seed batches as ``.npy`` files into
``--dir`` (``indptr.npy``, ``indices.npy``: destination-major CSR, row ``i``
the in-neighbours of ``i``; ``seeds.npy``: int64, ``num_batches x
batch_size``), and sends one line per timed round::

    ROUND <threads>     -> one JSON line {"threads", "seconds", "cpu_seconds", "edges", "batches", ...}
    QUIT                -> exit

A round samples every batch once with ``NeighborSampler.sample_blocks`` (the
sampled edges and their blocks, relabelled: the same work as fastgnn's
``sample_neighbors``), after one untimed warm-up batch. ``--fanouts`` are in
fastgnn's (PyG's) order, seeds first; DGL's ``NeighborSampler`` takes them
input side first, so they are given reversed.
"""
import argparse
import json
import os
import sys
import time

os.environ.setdefault("DGLBACKEND", "pytorch")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import dgl  # noqa: E402
import dgl.utils  # noqa: E402

from measure import anon_huge_pages_mb, resident_mb  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", required=True)
    parser.add_argument("--fanouts", default="15,10,5", help="seeds first (fastgnn/PyG order)")
    parser.add_argument("--idtype", default="int64", choices=["int32", "int64"])
    args = parser.parse_args(argv)
    fanouts = [int(f) for f in args.fanouts.split(",")]
    indptr = torch.from_numpy(np.load(os.path.join(args.dir, "indptr.npy")).astype(np.int64))
    indices = torch.from_numpy(np.load(os.path.join(args.dir, "indices.npy")).astype(np.int64))
    seeds = np.load(os.path.join(args.dir, "seeds.npy"))
    num_nodes = indptr.shape[0] - 1
    graph = dgl.graph(("csc", (indptr, indices, torch.empty(0, dtype=torch.int64))), num_nodes=num_nodes,
                      idtype=getattr(torch, args.idtype))
    graph = graph.formats(["csc"])
    sampler = dgl.dataloading.NeighborSampler(fanouts[::-1])
    batches = [torch.from_numpy(row.astype(np.int64)).to(graph.idtype) for row in seeds]
    print(json.dumps({"ready": True, "dgl": dgl.__version__, "num_nodes": num_nodes,
                      "num_edges": int(indices.shape[0])}), flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words or words[0] == "QUIT":
            break
        threads = int(words[1])
        torch.set_num_threads(threads)
        dgl.utils.set_num_threads(threads)
        sampler.sample_blocks(graph, batches[0])  # warm-up, untimed
        edges = 0
        cpu = time.process_time()
        start = time.perf_counter()
        for batch in batches:
            _, _, blocks = sampler.sample_blocks(graph, batch)
            edges += sum(int(block.num_edges()) for block in blocks)
        seconds = time.perf_counter() - start
        cpu_seconds = time.process_time() - cpu
        print(json.dumps({"threads": threads, "seconds": seconds, "cpu_seconds": cpu_seconds, "edges": edges, "batches": len(batches),
                          "threads_in_force": torch.get_num_threads(),
                          "rss_mb": resident_mb(),
                          "huge_pages_mb": anon_huge_pages_mb()}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
