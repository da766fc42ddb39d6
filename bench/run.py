#!/usr/bin/env python
"""Print the peer-comparison tables of fastgnn: ``python bench/run.py <suite> [options]``.

Suites (``python bench/run.py <suite> --help`` lists each one's options):

* ``aggregation``: ``aggregate`` forward and forward + backward against
  dense NumPy, scipy.sparse, ``torch.sparse.mm``, PyG's ``scatter`` and
  DGL, with ratios, effective bandwidth and peak memory
  (``bench/aggregation.py``);
* ``training``: full-batch training epochs of GCN and GraphSAGE against
  PyG and DGL, each implementation in its own process, with peak memory
  (``bench/training.py``);
* ``graph-classification``: GIN training throughput against PyG
  (``bench/graph_classification.py``);
* ``scaling``: fastgnn's sum (and max) aggregation against the machine's
  gather floor on uniform graphs of 2M, 20M and 62M edges, d = 16, 64, 256,
  1 and 2 threads: time per edge, GB/s and fraction of the floor (10 to 25
  minutes; ``bench/scaling.py``);
* ``extremum-backward``: the max/min backward's kernels against the
  forward and ``torch.sparse.mm(A, X, "amax")`` forward + backward, with
  the ratios (``bench/extremum_backward.py``);
* ``sampling``: neighbour-sampling throughput against DGL's
  ``NeighborSampler`` (``bench/sampling.py``);
* ``minibatch``: mini-batch GraphSAGE training steps on a dataset folder
  (e.g. the products-sized DC-SBM graph) against DGL, time per batch and
  per epoch, sampled edges per second, peak RSS (``bench/minibatch.py``);
* ``large-memory``: peak RSS of full-batch GCN training against the size
  of graph + features, and of mini-batch training with memory-mapped
  features against the feature file, each in a fresh process
  (``bench/large_memory.py``);
* ``distributed``: partitioned full-graph GCN training on 1, 2, 4 MPI
  ranks over a dataset folder (METIS partitions cached beside it): epoch
  time split into compute and communication, bytes sent, peak RSS per
  rank against the single-process peak (``bench/distributed.py``);
* ``gat``: ``GATConv`` forward and forward + backward (64 -> 8 x 8 and
  128 -> 8 x 16 on the uniform and power-law graphs, 1 and 2 threads) and
  2-layer GAT / GATv2 training epochs: fastgnn's NumPy layer and its torch
  module against PyG (``edge_index`` and sparse CSR) and DGL, with peak
  memory (``bench/attention.py``).

The suites whose tables hold ratios (``aggregation``, ``training``,
``gat``) also take ``--plot PATH`` (.png or .svg, needs matplotlib): the
ratios, time / fastgnn's time, as grouped bars
(:func:`fastgnn.plotting.plot_ratios`).

DGL needs its own environment (DGL 1.1 requires ``numpy<2``; set-up in
``bench/dgl_peer.py``): give its interpreter with ``--dgl-python PATH`` or
the environment variable ``FASTGNN_DGL_PYTHON``; without it the DGL rows
say that DGL was skipped. PyTorch and PyG are skipped when not installed.

Run from a source checkout with fastgnn installed (``pip install -e
".[bench]"``). fastgnn's own timings, without peers, are also available
from an installed package: ``python -m fastgnn bench``.
"""
import argparse
import importlib
import sys

# suite -> (module in bench/, one-line help)
SUITES = {
    "aggregation": ("aggregation", "aggregate (forward, forward + backward) against NumPy, scipy, torch, PyG, DGL"),
    "training": ("training", "GCN and GraphSAGE training epochs against PyG and DGL"),
    "graph-classification": ("graph_classification", "GIN training throughput against PyG"),
    "scaling": ("scaling", "sum aggregation against the machine's gather floor as the graph grows to 62M edges "
                           "(10 to 25 minutes)"),
    "extremum-backward": ("extremum_backward", "max/min backward against its forward and torch amax/amin"),
    "sampling": ("sampling", "neighbour-sampling throughput (fan-outs 15,10,5, batch 1024) against DGL's "
                             "NeighborSampler"),
    "minibatch": ("minibatch", "mini-batch GraphSAGE training steps on a dataset folder against DGL's "
                               "NeighborSampler + SAGEConv, with peak RSS"),
    "large-memory": ("large_memory", "peak RSS of full-batch GCN and of mini-batch training with memory-mapped "
                                     "features on a dataset folder, each in a fresh process"),
    "distributed": ("distributed", "partitioned full-graph GCN on 1, 2, 4 MPI ranks: compute and communication "
                                   "per epoch, bytes sent, peak RSS per rank"),
    "gat": ("attention", "GATConv forward/backward and GAT/GATv2 training epochs against PyG and DGL"),
}


# suites whose records carry "ratio" (time / fastgnn's time) -> the title of their --plot
PLOTTED = {
    "aggregation": "aggregate: time / fastgnn's time",
    "training": "training epochs: time / fastgnn's time",
    "gat": "GAT: time / fastgnn's time",
}


def build_parser():
    """The parser of ``bench/run.py``, one subcommand per suite (modules imported only for the one run)."""
    parser = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.split("\n\n")[0],
                                     epilog="See the docstring of bench/run.py, or each suite's --help.")
    subparsers = parser.add_subparsers(dest="suite", metavar="SUITE", required=True)
    for suite, (_, help_text) in SUITES.items():
        subparsers.add_parser(suite, help=help_text, add_help=False)
    return parser


def main(argv=None):
    """Parse the suite name, then let that suite's module declare and parse its own options."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    # Only the suite's name is parsed here, so that `--help` of the top level
    # stays fast and imports neither torch nor fastgnn.
    if not argv or argv[0] not in SUITES:
        parser.parse_args(argv[:1] or argv)
        parser.error(f"choose a suite: {', '.join(SUITES)}")
    suite, rest = argv[0], argv[1:]
    module_name, help_text = SUITES[suite]
    module = importlib.import_module(module_name)
    description = (module.__doc__ or help_text).split("\n\n")[0]
    suite_parser = module.add_arguments(argparse.ArgumentParser(prog=f"bench/run.py {suite}",
                                                                description=description))
    if suite not in PLOTTED:
        return module.run_from_args(suite_parser.parse_args(rest))
    suite_parser.add_argument("--plot", metavar="PATH", default=None,
                              help="also draw the ratios (time / fastgnn's time) as bars to PATH, .png or .svg "
                                   "(needs matplotlib)")
    args = suite_parser.parse_args(rest)
    plot = args.plot
    del args.plot
    if plot is None:
        return module.run_from_args(args)
    _check_plot(suite_parser, plot)       # now, not after the measurements
    records = []
    status = module.run_from_args(args, records=records)
    _draw(records, plot, PLOTTED[suite])
    return status


def _check_plot(parser, path):
    import os

    from fastgnn.plotting import require_matplotlib

    if os.path.splitext(path)[1].lower() not in (".png", ".svg"):
        parser.error(f"--plot {path}: give a file name ending in .png or .svg")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        parser.error(f"--plot {path}: the folder {folder} does not exist")
    try:
        require_matplotlib("--plot")
    except ImportError as error:
        parser.error(str(error))


def _draw(records, path, title):
    from fastgnn.plotting import plot_ratios, ratio_table

    table = ratio_table(records)
    if not table:
        print(f"--plot {path}: no ratios to draw (no peer was measured beside fastgnn)", file=sys.stderr)
        return
    plot_ratios(table, path, title=title)
    print(f"bar chart drawn to {path}")


if __name__ == "__main__":
    sys.exit(main())
