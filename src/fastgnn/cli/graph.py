"""``python -m fastgnn train --task graph``: graph classification on a TU dataset with k-fold cross-validation.

Reads ``<NAME>_*.txt`` from ``--data-root`` (:class:`fastgnn.datasets.TUDataset`)
(or generates ``--dataset synthetic-proteins``, PROTEINS-sized graphs:
:func:`fastgnn.datasets.synthetic_graph_dataset`), splits the graphs into
``--folds`` stratified folds and, for each fold, trains a fresh model on the
other folds (mini-batches, Adam, learning rate halved every 50 epochs) and
evaluates it on the fold after every epoch.
Defaults are the GIN paper's MUTAG setting: GIN-0, 5 layers counting the
input, hidden 64, batch 32, lr 0.01, 350 epochs, 10 folds.

The result is reported two ways (see :mod:`fastgnn.models.graph_training`):
``test_acc_mean``/``test_acc_std`` with the paper's protocol (the single
epoch whose fold-averaged test accuracy is best) and
``test_acc_last_mean``/``test_acc_last_std`` after the last epoch. Datasets
without node labels or attributes get one-hot degree features
(:func:`fastgnn.datasets.add_degree_features`).

``--threads N`` (default ``OMP_NUM_THREADS``, else the available CPUs): with
2 or more, up to N folds train at once, each in a worker process on one
thread (:func:`fastgnn.train.cross_validate_graph_classifier`); the results
are the same for every N.
"""
import json
import os
import time

import numpy as np

from fastgnn.graph import SparseFeatures

from fastgnn.cli import _report
from fastgnn.cli._common import (SPARSE_DENSITY, CommandError, add_option as _add, check_learning_rate, check_memory,
                                   check_seed, dataset_errors, num_threads, option as _option, refuse_options,
                                   run_task, training_bytes)

__all__ = ["add_arguments", "run", "POOLS"]

POOLS = ("sum", "mean", "max")


def add_arguments(parser):
    """Declare the options of the graph task on ``parser`` (options it already has are left alone).

    Options shared with other tasks default to None here and get the graph
    task's default in :func:`run`.
    """
    _add(parser, "--dataset", default=None,
         help="TU dataset name, the file prefix (graph task: e.g. MUTAG), or synthetic-proteins (generated, "
              "PROTEINS-sized; needs no --data-root)")
    _add(parser, "--data-root", default=None, metavar="DIR",
         help="graph task: folder holding the <NAME>_*.txt files (or <NAME>/ or <NAME>/raw/ below it)")
    _add(parser, "--model", default=None,
         help="graph task: gin (GIN-0, default) or any registered conv under a readout (gcn, sage, graphconv, ...)")
    _add(parser, "--dense-features", action="store_true",
         help="graph task: keep the node features dense (default: sparse when at most a tenth of them are non-zero)")
    _add(parser, "--pool", default=None, choices=POOLS,
         help="graph task: readout (default sum for gin, mean for gcn and sage)")
    _add(parser, "--folds", type=int, default=None, help="graph task: cross-validation folds (default 10)")
    _add(parser, "--batch-size", type=int, default=None, help="graph task: graphs per batch (default 32)")
    _add(parser, "--epochs", type=int, default=None, help="training epochs (graph task default 350)")
    _add(parser, "--lr", type=float, default=None, help="Adam learning rate (default 0.01)")
    _add(parser, "--lr-step", type=int, default=None,
         help="graph task: halve the learning rate every this many epochs (default 50; 0 keeps it constant)")
    _add(parser, "--hidden", type=int, default=None, help="hidden width (graph task default 64)")
    _add(parser, "--layers", type=int, default=None,
         help="graph task: layers (gin: counting the input layer, default 5; gcn/sage: convolutions, default 3)")
    _add(parser, "--dropout", type=float, default=None, help="dropout before the output layer (default 0.5)")
    _add(parser, "--seed", type=int, default=None, help="seed of the folds, weights and shuffling (default 0)")
    _add(parser, "--threads", type=int, default=None,
         help="threads of fastgnn's kernels (default: OMP_NUM_THREADS, else the available CPUs); "
              "graph task: with 2 or more, that many folds train at once in worker processes")
    _add(parser, "--log-every", type=int, default=None, help="graph task: progress line every N epochs (default 1)")
    _add(parser, "--json", action="store_true", help="print the results as one JSON object on the last line")
    _add(parser, "--quiet", action="store_true", help="no progress lines")
    _report.add_arguments(parser)


def run(args, *, out=None):
    """Run the graph task described by ``args``; returns the exit status (0 on success, 2 on bad input)."""
    return run_task("graph", _run, args, out)


def _one_width(value):
    """``--hidden`` as one int (the node task's parser may hand over a list of widths)."""
    if isinstance(value, (list, tuple)):
        if len(value) != 1:
            raise CommandError(f"the graph task takes one --hidden width (every layer has it), got {value}")
        value = value[0]
    return int(value)


def _settings(args):
    refuse_options(args, "graph", ("save", "load"))
    model = str(_option(args, "model", "gin")).lower()
    from fastgnn.models import graph_model_names

    if model not in graph_model_names():
        raise CommandError(f"--model must be one of {', '.join(graph_model_names())} for the graph task, "
                           f"got {model!r}")
    pool = _option(args, "pool", "sum" if model == "gin" else "mean")
    if pool not in POOLS:
        raise CommandError(f"--pool must be one of {', '.join(POOLS)}, got {pool!r}")
    settings = dict(
        dataset=_option(args, "dataset", None), data_root=_option(args, "data_root", None), model=model,
        pool=pool, folds=int(_option(args, "folds", 10)), batch_size=int(_option(args, "batch_size", 32)),
        epochs=int(_option(args, "epochs", 350)), lr=check_learning_rate(_option(args, "lr", 0.01)),
        lr_step=int(_option(args, "lr_step", 50)), hidden=_one_width(_option(args, "hidden", 64)),
        layers=int(_option(args, "layers", 5 if model == "gin" else 3)),
        dropout=float(_option(args, "dropout", 0.5)), seed=check_seed(_option(args, "seed", 0)),
        threads=_option(args, "threads", None), log_every=int(_option(args, "log_every", 1)),
        dense_features=bool(_option(args, "dense_features", False)), plot=_option(args, "plot", None),
        history=_option(args, "history", None))
    if settings["dataset"] is None:
        raise CommandError("the graph task needs --dataset NAME (a TU dataset, e.g. MUTAG)")
    if settings["data_root"] is None and not _is_synthetic(settings["dataset"]):
        raise CommandError("the graph task needs --data-root DIR, the folder of the <NAME>_*.txt files")
    for name in ("folds", "batch_size", "hidden", "layers", "log_every"):
        if settings[name] < 1:
            raise CommandError(f"--{name.replace('_', '-')} must be a positive integer, got {settings[name]}")
    if settings["folds"] < 2:
        raise CommandError(f"--folds must be at least 2, got {settings['folds']}")
    if settings["epochs"] < 1:
        raise CommandError(f"--epochs must be a positive integer, got {settings['epochs']}")
    if settings["lr_step"] < 0:
        raise CommandError(f"--lr-step must be >= 0, got {settings['lr_step']}")
    if not 0.0 <= settings["dropout"] < 1.0:
        raise CommandError(f"--dropout must be in [0, 1), got {settings['dropout']}")
    if settings["threads"] is not None and int(settings["threads"]) < 1:
        raise CommandError(f"--threads must be a positive integer, got {settings['threads']}")
    return settings


def _is_synthetic(name):
    from fastgnn.datasets import SYNTHETIC_GRAPH_DATASETS

    return name in SYNTHETIC_GRAPH_DATASETS


def _load(s):
    """The dataset's graphs, the dataset, and what the node features are."""
    from fastgnn.datasets import TUDataset, add_degree_features, synthetic_graph_dataset

    if _is_synthetic(s["dataset"]):
        dataset = synthetic_graph_dataset(s["dataset"], rng=0)
        return list(dataset), dataset, "generated node labels, seed 0"
    if not os.path.isdir(s["data_root"]):
        raise CommandError(f"--data-root {s['data_root']}: no such directory")
    with dataset_errors(s["data_root"], s["dataset"]):
        dataset = TUDataset(s["data_root"], s["dataset"])
        graphs = list(dataset)
        features = "node labels/attributes"
        if dataset.num_node_features == 0:
            graphs = add_degree_features(graphs)
            features = "degree (the dataset has no node features)"
    if not graphs:
        raise CommandError(f"--data-root {s['data_root']}: dataset {s['dataset']} has no graphs")
    if not s["dense_features"] and _mostly_zeros(graphs):
        graphs = [g.replace(x=SparseFeatures.from_dense(g.x)) for g in graphs]
        features += ", kept sparse"
    return graphs, dataset, features


def _mostly_zeros(graphs):
    """Whether at most SPARSE_DENSITY of the node features of ``graphs`` are non-zero (the rule of the node task)."""
    if graphs[0].x is None or isinstance(graphs[0].x, SparseFeatures):
        return False
    cells = sum(g.x.size for g in graphs)
    return cells > 0 and sum(np.count_nonzero(g.x) for g in graphs) <= SPARSE_DENSITY * cells


def _run(args, out):
    from fastgnn.models.graph_classification import GraphClassifierFactory
    from fastgnn.train import cross_validate_graph_classifier

    s = _settings(args)
    quiet = bool(_option(args, "quiet", False))
    as_json = bool(_option(args, "json", False))

    def say(line):
        if not quiet:
            print(line, file=out, flush=True)

    _report.check(s["plot"], s["history"])
    start = time.perf_counter()
    graphs, dataset, features = _load(s)
    in_channels = graphs[0].num_node_features
    if s["folds"] > len(graphs):
        raise CommandError(f"--folds ({s['folds']}) exceeds the number of graphs ({len(graphs)})")
    # The largest batch: the biggest graphs, batch-size of them.
    sizes = sorted((g.num_nodes for g in graphs), reverse=True)
    check_memory(training_bytes(in_channels, s["hidden"], dataset.num_classes, s["layers"],
                                sum(sizes[:s["batch_size"]])),
                 f"--hidden {s['hidden']} and --layers {s['layers']}")
    say(f"{dataset!r}")
    say(f"features: {in_channels} ({features}); model {s['model']}, pool {s['pool']}, layers {s['layers']}, "
        f"hidden {s['hidden']}, dropout {s['dropout']}; {s['folds']} folds x {s['epochs']} epochs, "
        f"batch {s['batch_size']}, lr {s['lr']} halved every {s['lr_step']} epochs, seed {s['seed']}")

    make_model = GraphClassifierFactory(s["model"], in_channels, dataset.num_classes, hidden_channels=s["hidden"],
                                        num_layers=s["layers"], pool=s["pool"], dropout=s["dropout"])

    with num_threads(s["threads"]) as threads:
        say(f"threads: {threads}" + (f", {min(threads, s['folds'])} folds at a time in worker processes"
                                     if threads > 1 else ", the folds one after another"))
        result = cross_validate_graph_classifier(
            make_model, graphs, num_folds=s["folds"], epochs=s["epochs"], batch_size=s["batch_size"], lr=s["lr"],
            step_size=s["lr_step"] or None, gamma=0.5, rng=s["seed"], log=None if quiet else say,
            log_every=s["log_every"])
    _report.write(result.fold_results, s["plot"], s["history"], say, label="fold")
    seconds = time.perf_counter() - start
    say(f"test accuracy, paper protocol (best fold-averaged epoch {result.best_epoch}): "
        f"{100 * result.test_acc_mean:.1f} +- {100 * result.test_acc_std:.1f} %")
    say(f"test accuracy, last epoch: {100 * result.test_acc_last_mean:.1f} +- {100 * result.test_acc_last_std:.1f} %")
    say(f"{seconds:.1f} s ({result.wall_graphs_per_second:.0f} training graphs/s over the run, "
        f"{result.graphs_per_second:.0f} in each training loop)")
    if as_json:
        report = {"task": "graph", "dataset": dataset.name, "model": s["model"], "pool": s["pool"],
                  "layers": s["layers"], "hidden": s["hidden"], "folds": s["folds"], "epochs": s["epochs"],
                  "batch_size": s["batch_size"], "lr": s["lr"], "seed": s["seed"], "num_graphs": len(graphs),
                  "num_classes": dataset.num_classes, **result.summary(), "total_seconds": seconds}
        print(json.dumps(report), file=out, flush=True)
    return 0
