"""``python -m fastgnn partition``: cut a dataset into parts for distributed training (``docs/distributed.md``).

The dataset is any the node task knows (``cora``, ``citeseer``, ``pubmed``
with ``--data-root``, with the node task's feature normalisation) or a
dataset folder; the parts are written by
:func:`fastgnn.distributed.partition` and the report (edge cut, halo sizes,
bytes a layer exchanges per epoch) is printed, or one JSON line with
``--json``.
"""
import json
import os
import sys

import numpy as np

from fastgnn.cli._common import CommandError, check_positive, check_seed, dataset_errors

__all__ = ["add_arguments", "run"]

METHODS = ("metis", "random", "contiguous")


def add_arguments(parser):
    """Declare the options of ``fastgnn partition`` on ``parser``."""
    parser.add_argument("--dataset", default="cora",
                        help="Planetoid dataset cora (default, shipped in the package), citeseer or pubmed, or the "
                             "path of a dataset folder (docs/datasets-on-disk.md: every split is partitioned)")
    parser.add_argument("--data-root", metavar="DIR", default=None,
                        help="folder of the raw Planetoid files ind.<dataset>.* (or DIR/raw, PyG's "
                             "DIR/<Name>/raw; not needed for cora)")
    parser.add_argument("--no-normalize-features", dest="normalize_features", action="store_false",
                        help="Planetoid datasets: keep the raw features (default: rows divided by their sum, as the "
                             "node task of fastgnn train does)")
    parser.add_argument("--num-parts", type=int, required=True, metavar="P",
                        help="number of parts (one per MPI rank)")
    parser.add_argument("--method", choices=METHODS, default="metis",
                        help="metis (default; needs pymetis: pip install \"fastgnn[metis]\"), random or contiguous")
    parser.add_argument("--seed", type=int, default=0, help="seed of METIS and of the random method (default: 0)")
    parser.add_argument("--out", metavar="DIR", required=True, help="the folder to write (must not exist)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out folder")
    parser.add_argument("--width", type=int, default=64,
                        help="row width for the bytes a layer exchanges per epoch in the report (default: 64)")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON line")


def _graph_and_arrays(args):
    """``(graph_or_folder, x, y, splits)`` for ``--dataset``."""
    from fastgnn.cli import node

    name = str(args.dataset)
    if node.is_dataset_folder(name):
        from fastgnn.datasets import OnDiskDataset

        if args.data_root is not None:
            raise CommandError(f"--data-root does not apply to --dataset {name}, a dataset folder")
        with dataset_errors(None, name):
            return OnDiskDataset(name), None, None, None
    if name.lower() not in node.DATASETS:
        raise CommandError(f"--dataset must be one of {', '.join(node.DATASETS)} or a dataset folder, got {name!r}")
    dataset = node.load_dataset(name.lower(), args.data_root, args.normalize_features, dense_features=True)
    splits = {"train": np.flatnonzero(dataset.train_mask), "valid": np.flatnonzero(dataset.val_mask),
              "test": np.flatnonzero(dataset.test_mask)}
    return dataset.graph, np.asarray(dataset.x), np.asarray(dataset.y), splits


def _run(args, out):
    from fastgnn.distributed import partition

    num_parts = check_positive("--num-parts", args.num_parts)
    seed = check_seed(args.seed)
    width = check_positive("--width", args.width)
    if os.path.lexists(args.out) and not args.overwrite:
        raise FileExistsError(args.out)         # before the dataset is read
    source, x, y, splits = _graph_and_arrays(args)
    num_nodes = source.num_nodes
    if num_parts > num_nodes:
        raise CommandError(f"--num-parts {num_parts} is more than the {num_nodes} nodes of --dataset {args.dataset}")
    info = partition(source, num_parts, args.out, method=args.method, seed=seed, x=x, y=y, splits=splits,
                     overwrite=args.overwrite)
    if args.json:
        record = {"out": info.path, "dataset": args.dataset, "method": info.method, "seed": info.seed,
                  "num_parts": info.num_parts, "num_nodes": info.num_nodes, "num_edges": info.num_edges,
                  "edge_cut": info.edge_cut, "owned": info.owned_sizes, "halo": info.halo_sizes,
                  "local_edges": [part["num_local_edges"] for part in info.parts], "width": width,
                  "exchange_bytes_float32": info.exchange_bytes(width, "float32"),
                  "exchange_bytes_float64": info.exchange_bytes(width, "float64")}
        print(json.dumps(record), file=out, flush=True)
    else:
        print(f"wrote {info.path}", file=out)
        print(info.report(width=width), file=out, flush=True)
    return 0


def run(args, *, out=None):
    """Run ``fastgnn partition``; returns the exit status (2 on bad input, reported as one line on stderr)."""
    out = sys.stdout if out is None else out
    try:
        return _run(args, out)
    except FileExistsError:
        message = f"--out {args.out} already exists (pass --overwrite to replace it)"
    except (CommandError, ValueError, OSError, TypeError, ImportError) as error:
        message = " ".join(str(error).split()) or type(error).__name__
    print(f"fastgnn partition: error: {message}", file=sys.stderr, flush=True)
    return 2
