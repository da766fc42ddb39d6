"""The command line: ``python -m fastgnn <command>`` (or the ``fastgnn`` script).

One function per subcommand: ``_add_<command>(subparsers)`` declares it and
``<command>(args)`` runs it and returns the exit status. Heavy modules are
imported inside the command functions, so ``--help`` stays fast.

Bad input is reported as one line on stderr, ``<prog>: error: <message>``,
naming the option or file, with exit status 2.
"""
import sys

from fastgnn.cli._common import ArgumentParser

__all__ = ["ArgumentParser", "build_parser", "bench", "train", "bench_train", "main"]


def _add_bench(subparsers):
    from fastgnn import benchmark

    parser = subparsers.add_parser(
        "bench", help="benchmark aggregation against its peers and print a table",
        description="Time fastgnn's aggregate (forward, and forward + backward) on seeded synthetic "
        "graphs against dense NumPy, scipy.sparse, PyTorch's torch.sparse.mm and PyG's scatter (when "
        "installed), in one process, round-robin; merge DGL's medians from bench/dgl_peer.py's results; "
        "print times, ratios, effective bandwidth and peak memory.")
    benchmark.add_arguments(parser)
    parser.set_defaults(func=bench)


def bench(args):
    """``fastgnn bench``: time fastgnn's aggregation and its peers (see :mod:`fastgnn.benchmark`)."""
    from fastgnn import benchmark

    return benchmark.run_from_args(args)


TASKS = ("node", "link", "graph")


def _add_train(subparsers):
    import importlib

    parser = subparsers.add_parser(
        "train", help="train a model: node classification (default: Kipf & Welling's GCN on Cora), "
        "link prediction or graph classification",
        description="Train and evaluate a model. --task node (default): node classification on a Planetoid "
        "dataset; --task link: link prediction with GAE/VGAE; --task graph: graph classification on a TU "
        "dataset with cross-validation. Options not meant for the chosen task are ignored, except --save and "
        "--load, which only the node task has. Bad input is one line on stderr and exit status 2.")
    parser.add_argument("--task", choices=TASKS, default="node", help="default: node")
    for task in TASKS:      # each task adds the options the parser does not have yet
        importlib.import_module(f"fastgnn.cli.{task}").add_arguments(parser)
    parser.set_defaults(func=train)


def train(args):
    """``fastgnn train``: run the task module of ``--task`` (``fastgnn.cli.node``, ``.link``, ``.graph``)."""
    import importlib

    return importlib.import_module(f"fastgnn.cli.{args.task}").run(args)


def _add_bench_train(subparsers):
    from fastgnn import benchmark_training

    parser = subparsers.add_parser(
        "bench-train", help="time training epochs of GCN and GraphSAGE against PyG (and DGL)",
        description=benchmark_training.__doc__.split("\n\n")[0])
    benchmark_training.add_arguments(parser)
    parser.set_defaults(func=bench_train)


def bench_train(args):
    """``fastgnn bench-train``: time full training epochs (see :mod:`fastgnn.benchmark_training`)."""
    from fastgnn import benchmark_training

    return benchmark_training.run_from_args(args)


def build_parser():
    """The argument parser with every subcommand."""
    import fastgnn

    parser = ArgumentParser(      # the subcommands' parsers are of the same class
        prog="fastgnn", description="fastgnn: graph neural networks on the CPU with compiled CSR kernels.")
    parser.add_argument("--version", action="version", version=f"fastgnn {fastgnn.__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_bench(subparsers)
    _add_train(subparsers)
    _add_bench_train(subparsers)
    return parser


def main(argv=None):
    """Entry point of ``python -m fastgnn`` and of the ``fastgnn`` script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    return args.func(args) or 0
