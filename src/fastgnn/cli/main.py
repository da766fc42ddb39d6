"""The command line: ``python -m fastgnn <command>`` (or the ``fastgnn`` script).

One function per subcommand: ``_add_<command>(subparsers)`` declares it and
``<command>(args)`` runs it and returns the exit status. Heavy modules are
imported inside the command functions, so ``--help`` stays fast.

Bad input is reported as one line on stderr, ``<prog>: error: <message>``,
naming the option or file, with exit status 2.
"""
import sys

from fastgnn.cli._common import ArgumentParser

__all__ = ["ArgumentParser", "build_parser", "bench", "train", "partition", "main"]


def _add_bench(subparsers):
    from fastgnn.cli import bench as bench_module

    parser = subparsers.add_parser(
        "bench", help="time fastgnn's aggregation kernels on synthetic graphs (well under a minute)",
        description="Time fastgnn's aggregate (forward, and forward + backward) for sum, mean, max and min "
        "on seeded synthetic graphs (uniform and power-law), with 1 and all threads; print the median times, "
        "the effective bandwidth and the peak memory of each call, and the machine's limits measured in the same "
        "run (a STREAM triad, and the ideal prefetching row gather each kernel is given as a fraction of). Takes well under a minute by default "
        "(--size medium|large or --nodes/--edges for bigger graphs). Only fastgnn is timed: the comparisons "
        "with NumPy, scipy.sparse, PyTorch, PyG and DGL are in the source repository, python bench/run.py.")
    bench_module.add_arguments(parser)
    parser.set_defaults(func=bench)


def bench(args):
    """``fastgnn bench``: time fastgnn's aggregation kernels (see :mod:`fastgnn.cli.bench`)."""
    from fastgnn.cli import bench as bench_module

    return bench_module.run_from_args(args)


TASKS = ("node", "link", "graph")


def _add_train(subparsers):
    import importlib

    parser = subparsers.add_parser(
        "train", help="train a model: node classification (default: Kipf & Welling's GCN on Cora), "
        "link prediction or graph classification",
        description="Train and evaluate a model. --task node (default): node classification on a Planetoid "
        "dataset; --task link: link prediction with GAE/VGAE; --task graph: graph classification on a TU "
        "dataset with cross-validation. An option of another task is an error naming the tasks it belongs to. "
        "Bad input is one line on stderr and exit status 2.")
    parser.add_argument("--task", choices=TASKS, default="node", help="default: node")
    for task in TASKS:      # each task adds the options the parser does not have yet, and owns those it declares
        with parser.options_of("task", task):
            importlib.import_module(f"fastgnn.cli.{task}").add_arguments(parser)
    parser.set_defaults(func=train)


def train(args):
    """``fastgnn train``: run the task module of ``--task`` (``fastgnn.cli.node``, ``.link``, ``.graph``)."""
    import importlib

    return importlib.import_module(f"fastgnn.cli.{args.task}").run(args)


def _add_partition(subparsers):
    from fastgnn.cli import partition as partition_module

    parser = subparsers.add_parser(
        "partition", help="cut a dataset into parts for distributed training (METIS, random or contiguous)",
        description="Partition a dataset (cora, citeseer or pubmed with --data-root, or a dataset folder) into "
        "--num-parts parts written to --out, one folder per MPI rank (docs/distributed.md), and print the edge "
        "cut, the halo sizes and the bytes a layer would exchange per epoch (--json: one JSON line). Bad input "
        "is one line on stderr and exit status 2.")
    partition_module.add_arguments(parser)
    parser.set_defaults(func=partition)


def partition(args):
    """``fastgnn partition``: write a partitioned dataset (see :mod:`fastgnn.cli.partition`)."""
    from fastgnn.cli import partition as partition_module

    return partition_module.run(args)


def build_parser():
    """The argument parser with every subcommand."""
    import fastgnn

    parser = ArgumentParser(      # the subcommands' parsers are of the same class
        prog="fastgnn", description="fastgnn: graph neural networks on the CPU with compiled CSR kernels.")
    parser.add_argument("--version", action="version", version=f"fastgnn {fastgnn.__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_bench(subparsers)
    _add_train(subparsers)
    _add_partition(subparsers)
    return parser


def main(argv=None):
    """Entry point of ``python -m fastgnn`` and of the ``fastgnn`` script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    return args.func(args) or 0
