"""Bytes a partitioned layer exchanges per epoch: METIS against random (and contiguous) partitions.

Run from the repository root (a few minutes at the default size on two cores)::

    python bench/partition_exchange.py                        # DC-SBM, 200,000 nodes
    python bench/partition_exchange.py --nodes 20000 --parts 2 4
    python bench/partition_exchange.py --homophily 0.8 --communities 400 --locality 0.8   # products-like

``--communities K --locality L`` adds the DC-SBM with ``K`` planted
communities inside the classes (``fastgnn.datasets.dcsbm_graph``'s
``communities`` and ``locality``) for each ``--homophily``.

For each graph and part count it writes the partitions with
:func:`fastgnn.distributed.partition` (structure only, to a temporary
folder) and prints the edge cut, the halo nodes summed over parts, the bytes
a float32 layer of width ``--width`` exchanges per epoch (forward and
backward, :meth:`PartitionInfo.exchange_bytes`), the ratio random / METIS and
the time partitioning took.
"""
import argparse
import json
import os
import sys
import tempfile
import time

from fastgnn.datasets import dcsbm_graph, load_cora
from fastgnn.distributed import partition


def graphs(args):
    if not args.no_cora:
        yield "cora", load_cora().graph
    for homophily in args.homophily:
        name = f"dcsbm(n={args.nodes}, degree={args.degree}, classes={args.classes}, homophily={homophily}"
        if not args.only_communities:
            graph, _, _ = dcsbm_graph(args.nodes, args.degree, args.classes, homophily=homophily, seed=0)
            yield name + ")", graph
        if args.communities:
            graph, _, _ = dcsbm_graph(args.nodes, args.degree, args.classes, homophily=homophily, seed=0,
                                      communities=args.communities, locality=args.locality)
            yield name + f", communities={args.communities}, locality={args.locality})", graph


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=200_000)
    parser.add_argument("--degree", type=float, default=25)
    parser.add_argument("--classes", type=int, default=47)
    parser.add_argument("--homophily", type=float, nargs="+", default=[0.8, 0.95])
    parser.add_argument("--communities", type=int, default=None, help="also a DC-SBM with this many communities")
    parser.add_argument("--locality", type=float, default=0.8, help="with --communities (default 0.8)")
    parser.add_argument("--only-communities", action="store_true", help="skip the graphs without communities")
    parser.add_argument("--no-cora", action="store_true", help="skip Cora")
    parser.add_argument("--parts", type=int, nargs="+", default=[2, 4, 8])
    parser.add_argument("--methods", nargs="+", default=["metis", "random", "contiguous"])
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--json", action="store_true", help="one JSON line per row")
    args = parser.parse_args(argv)
    print(f"{'graph':<90} {'P':>2} {'method':<10} {'edge cut':>10} {'halo':>9} {'MB/epoch':>9} "
          f"{'random/x':>8} {'seconds':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, graph in graphs(args):
            for num_parts in args.parts:
                rows = {}
                for method in args.methods:
                    started = time.perf_counter()
                    info = partition(graph, num_parts, os.path.join(tmp, f"{method}-{num_parts}"), method=method,
                                     seed=0, overwrite=True)
                    rows[method] = (info, time.perf_counter() - started)
                random_bytes = rows["random"][0].exchange_bytes(args.width) if "random" in rows else None
                for method, (info, seconds) in rows.items():
                    exchanged = info.exchange_bytes(args.width)
                    ratio = random_bytes / exchanged if random_bytes and exchanged else float("nan")
                    if args.json:
                        print(json.dumps({"graph": name, "num_parts": num_parts, "method": method,
                                          "edge_cut": info.edge_cut, "halo": sum(info.halo_sizes),
                                          "exchange_bytes": exchanged, "random_over_this": ratio,
                                          "seconds": seconds}))
                    else:
                        print(f"{name:<90} {num_parts:>2} {method:<10} {info.edge_cut:>10} "
                              f"{sum(info.halo_sizes):>9} {exchanged / 1e6:>9.2f} {ratio:>8.2f} {seconds:>7.1f}")
                sys.stdout.flush()


if __name__ == "__main__":
    main()
