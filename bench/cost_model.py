#!/usr/bin/env python
"""Projected epoch time of partitioned GCN training on a cluster: ``python bench/cost_model.py``.

Prints, for a papers100M-sized graph (111M nodes, 1.6B edges, 128
features, 172 classes; 2-layer GCN, hidden 128, float32) at 8, 16, 32 and
64 ranks over 10, 25 and 100 Gbit/s, the epoch time of
:func:`fastgnn.bench.cost_model.projected_epoch` (compute / ranks + halo
bytes per rank / bandwidth + the gradient sum), from inputs measured on
this machine:

* ``--edge-seconds``: seconds to sum one feature over one edge, one
  thread, graph and features far larger than the caches
  (``python bench/run.py scaling``: ``sum fwd`` on the products-sized
  graph, 1 thread, d = 64 and 256: 98 and 392 ns per edge, 1.5 ns per
  edge and feature);
* ``--row-seconds``: seconds per multiply-add of the dense products per
  row, from a 1-rank run of ``python bench/run.py distributed`` (its JSON,
  ``--measured FILE``): the rank's compute per epoch minus the edge part,
  over ``num_nodes * row_macs``;
* ``--halo P=FRACTION``: halo nodes summed over the parts / nodes, of a METIS
  partition into P parts (``python bench/partition_exchange.py``); P
  without a measurement takes the nearest measured P below it (a lower
  bound: the halo grows with P).

All inputs have defaults: the figures measured for ``docs/distributed.md``.
"""
import argparse
import json
import sys

from fastgnn.bench.cost_model import gcn_epoch_work, projected_epoch

PAPERS100M = {"num_nodes": 111_059_956, "num_edges": 1_615_685_872, "num_features": 128, "num_classes": 172}
#: ns per edge and feature, sum aggregation, 1 thread, products-sized graph (docs/benchmarks.md, scaling).
EDGE_SECONDS = 1.5e-9
#: Seconds per multiply-add per row: the 1-rank bench/distributed.py run on the products-like folder (docs/distributed.md).
ROW_SECONDS = 0.14e-9
#: METIS halo / nodes of the products-like DC-SBM (200,000 nodes, 400 communities, locality 0.8), from
#: ``python bench/partition_exchange.py --no-cora --homophily 0.8 --communities 400 --locality 0.8``.
HALO_FRACTIONS = {2: 0.32, 4: 0.62, 8: 0.83, 16: 0.87, 32: 1.16, 64: 1.57}


def row_seconds_from(record, edge_seconds, hidden):
    """``row_seconds`` from a 1-rank ``bench/distributed.py`` record (its dataset's size read from the record)."""
    rank = record["per_rank"][0]
    work = gcn_epoch_work(record["num_features"], hidden, record["num_classes"])
    edge_part = edge_seconds * rank["num_local_edges"] * work["aggregated_widths"]
    return (rank["compute_seconds"] - edge_part) / (rank["num_owned"] * work["row_macs"])


def halo_for(fractions, ranks):
    """The measured fraction at ``ranks``, else at the largest measured P below it."""
    below = [p for p in fractions if p <= ranks]
    return fractions[max(below)] if below else fractions[min(fractions)]


def table(args, file=None):
    file = sys.stdout if file is None else file
    print(f"papers100M-sized: {PAPERS100M['num_nodes']:,} nodes, {PAPERS100M['num_edges']:,} edges, "
          f"{PAPERS100M['num_features']} features, {PAPERS100M['num_classes']} classes; GCN 2 layers, hidden "
          f"{args.hidden}, float32", file=file)
    print(f"inputs: {args.edge_seconds * 1e9:.2f} ns per edge and feature, {args.row_seconds * 1e9:.2f} ns per "
          f"multiply-add per row, halo fractions {args.halo}", file=file)
    print(f"{'P':>3} {'halo/N':>6} {'Gbit/s':>6} {'compute s':>9} {'halo GB/rank':>12} {'exchange s':>10} "
          f"{'allreduce s':>11} {'epoch s':>8}", file=file)
    for ranks in args.ranks:
        fraction = halo_for(args.halo, ranks)
        for bandwidth in args.bandwidth:
            cost = projected_epoch(hidden=args.hidden, ranks=ranks, halo_fraction=fraction,
                                   bandwidth_gbit=bandwidth, edge_seconds=args.edge_seconds,
                                   row_seconds=args.row_seconds, **PAPERS100M)
            print(f"{ranks:>3} {fraction:>6.2f} {bandwidth:>6g} {cost['compute_seconds']:>9.1f} "
                  f"{cost['exchange_bytes'] / 1e9:>12.2f} {cost['exchange_seconds']:>10.2f} "
                  f"{cost['allreduce_seconds']:>11.3f} {cost['epoch_seconds']:>8.1f}", file=file)


def _halo(text):
    fractions = {}
    for item in text.split(","):
        parts, fraction = item.split("=")
        fractions[int(parts)] = float(fraction)
    return fractions


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ranks", type=lambda t: [int(v) for v in t.split(",")], default=[8, 16, 32, 64])
    parser.add_argument("--bandwidth", type=lambda t: [float(v) for v in t.split(",")], default=[10, 25, 100],
                        help="Gbit/s, comma-separated (default 10,25,100)")
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--edge-seconds", type=float, default=EDGE_SECONDS)
    parser.add_argument("--row-seconds", type=float, default=None,
                        help=f"default: from --measured, else {ROW_SECONDS:g}")
    parser.add_argument("--measured", default=None, help="JSON lines of bench/distributed.py (its 1-rank run)")
    parser.add_argument("--halo", type=_halo, default=dict(HALO_FRACTIONS),
                        help="P=fraction,... (default the products-like METIS figures)")
    args = parser.parse_args(argv)
    if args.row_seconds is None:
        args.row_seconds = ROW_SECONDS
        if args.measured:
            with open(args.measured) as handle:
                records = [json.loads(line) for line in handle if line.strip()]
            single = [r for r in records if r.get("ranks") == 1]
            if not single:
                raise SystemExit(f"{args.measured} holds no 1-rank run of bench/distributed.py")
            args.row_seconds = row_seconds_from(single[-1], args.edge_seconds, single[-1]["hidden"])
    table(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
