"""The command line: ``python -m fastgnn <command>`` (or the ``fastgnn`` script).

One function per subcommand: ``_add_<command>(subparsers)`` declares it and
``<command>(args)`` runs it and returns the exit status. Heavy modules are
imported inside the command functions, so ``--help`` stays fast.
"""
import argparse
import sys

__all__ = ["build_parser", "bench", "main"]


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


def build_parser():
    """The argument parser with every subcommand."""
    import fastgnn

    parser = argparse.ArgumentParser(
        prog="fastgnn", description="fastgnn: graph neural networks on the CPU with compiled CSR kernels.")
    parser.add_argument("--version", action="version", version=f"fastgnn {fastgnn.__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_bench(subparsers)
    return parser


def main(argv=None):
    """Entry point of ``python -m fastgnn`` and of the ``fastgnn`` script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    return args.func(args) or 0
