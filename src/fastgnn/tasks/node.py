"""``python -m fastgnn train`` (``--task node``, the default): node classification on a Planetoid dataset.

Defaults reproduce Kipf and Welling's GCN on Cora (the copy shipped in the
package): two GCN layers of 16 hidden units without bias, ReLU, dropout 0.5
on the input and the hidden layer, Adam with learning rate 0.01, weight
decay 5e-4 on the first layer only, at most 200 epochs, early stopping with
the paper's window of 10 epochs on the validation loss, row-normalised
features. The other models have their own defaults (:data:`MODEL_DEFAULTS`),
chosen on the validation accuracy of Cora's standard split; any option given
on the command line overrides them.

The test accuracy is computed once, after training; it never selects
anything (not the epoch, not the weights, not the hyperparameters).
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np

from fastgnn.tasks._common import (CheckedNpz, CommandError, add_option as _add, check_learning_rate,
                                   check_memory, check_seed, check_writable, dataset_errors, num_threads,
                                   option as _option, run_task, training_bytes, write_atomically)

__all__ = ["MODEL_DEFAULTS", "MODELS", "DATASETS", "add_arguments", "run", "resolve_settings", "build",
           "save_weights", "load_weights", "load_dataset"]

DATASETS = ("cora", "citeseer", "pubmed")
MODELS = ("gcn", "sage", "gin", "graphconv")

#: Per-model defaults of ``fastgnn train``. ``decay``: weight decay on the
#: ``first`` layer only (the GCN paper) or on ``all`` parameters;
#: ``early_stopping``: ``window`` (Kipf's criterion) or ``patience`` (no
#: improvement of the validation loss for ``patience`` epochs, then the best
#: weights are restored). See :mod:`fastgnn.train`.
MODEL_DEFAULTS = {
    "gcn": dict(hidden=16, layers=2, dropout=0.5, lr=0.01, weight_decay=5e-4, decay="first", bias=False,
                aggr=None, early_stopping="window", patience=10, epochs=200),
    "sage": dict(hidden=64, layers=2, dropout=0.5, lr=0.01, weight_decay=5e-4, decay="all", bias=True,
                 aggr="mean", early_stopping="patience", patience=50, epochs=200),
    "gin": dict(hidden=64, layers=2, dropout=0.8, lr=0.005, weight_decay=5e-3, decay="all", bias=True,
                aggr=None, early_stopping="patience", patience=50, epochs=200),
    "graphconv": dict(hidden=64, layers=2, dropout=0.5, lr=0.01, weight_decay=5e-4, decay="all", bias=True,
                      aggr="sum", early_stopping="patience", patience=50, epochs=200),
}

_CONFIG_KEY = "__fastgnn_config__"
# The options that fix the shape of the weights: they must agree between --save and --load.
_ARCHITECTURE = ("model", "in_channels", "out_channels", "hidden", "layers", "aggr", "bias")


def add_arguments(parser):
    """Declare the options of the node task on ``parser`` (options it already has are left alone).

    Options shared with the other tasks default to None here; :func:`run`
    replaces None by the node task's default for the chosen model
    (:data:`MODEL_DEFAULTS`).
    """
    _add(parser, "--dataset", default=None,
         help="node task: Planetoid dataset cora (default, shipped in the package), citeseer or pubmed")
    _add(parser, "--data-root", metavar="DIR", default=None,
         help="folder of the raw dataset files (node task: ind.<dataset>.*; without it, the Cora copy "
              "shipped in the package)")
    _add(parser, "--no-normalize-features", dest="normalize_features", action="store_false",
         help="node task: keep the raw features (default: rows divided by their sum, as the GCN paper)")
    _add(parser, "--inductive", action="store_true",
         help="node task: train on the subgraph induced by the training nodes; validate and test on the "
              "full graph")
    _add(parser, "--model", default=None,
         help="node task: gcn (default), sage, gin or graphconv")
    _add(parser, "--aggr", default=None, choices=("sum", "add", "mean", "max", "min"),
         help="node task: neighbour aggregation of sage (default mean) and graphconv (default sum)")
    _add(parser, "--hidden", default=None, type=_hidden_widths, metavar="N[,N...]",
         help="hidden width (node task: gcn 16, others 64; comma-separated widths make several hidden layers)")
    _add(parser, "--layers", default=None, type=int,
         help="number of graph layers (node task: default 2, or implied by --hidden)")
    _add(parser, "--dropout", default=None, type=float,
         help="dropout probability (node task: gin 0.8, others 0.5)")
    _add(parser, "--bias", default=None, action=argparse.BooleanOptionalAction,
         help="node task: learn biases (default: off for gcn, as the paper; on for the others)")
    _add(parser, "--epochs", default=None, type=int,
         help="maximum number of epochs, at least 1 (node task: 200; with --load, 0 evaluates the loaded "
              "weights without training)")
    _add(parser, "--lr", default=None, type=float, help="Adam learning rate (node task: gin 0.005, others 0.01)")
    _add(parser, "--weight-decay", default=None, type=float,
         help="node task: L2 weight decay (gin 5e-3, others 5e-4)")
    _add(parser, "--decay", default=None, choices=("first", "all"),
         help="node task: decay the first layer only (gcn default, as the paper) or all parameters")
    _add(parser, "--early-stopping", default=None, choices=("window", "patience", "none"),
         help="node task: 'window' stops when the validation loss exceeds the mean of the previous "
              "--patience epochs (Kipf's criterion, the gcn default); 'patience' stops after --patience "
              "epochs without improvement and restores the best weights (the others' default)")
    _add(parser, "--patience", default=None, type=int,
         help="node task: early-stopping window or patience (gcn 10, others 50)")
    _add(parser, "--seed", default=None, type=int, help="seed of the first run (default 0)")
    _add(parser, "--runs", default=None, type=int,
         help="independent runs with seeds seed, seed+1, ...; mean and standard deviation are reported")
    _add(parser, "--threads", default=None, type=int,
         help="threads of fastgnn's kernels (default: OMP_NUM_THREADS, else the available CPUs)")
    _add(parser, "--save", metavar="PATH", default=None,
         help="node task: write the trained weights to PATH (.npz), checked to be writable before training; "
              "with --runs, those of the run with the best validation accuracy")
    _add(parser, "--load", metavar="PATH", default=None,
         help="node task: start from the weights in PATH (written by --save); without --epochs, evaluate "
              "them without training")
    _add(parser, "--log-every", default=None, type=int, metavar="N",
         help="progress line every N epochs (node task default 10)")
    _add(parser, "--quiet", action="store_true", help="no progress lines")
    _add(parser, "--json", action="store_true", help="print the results as one JSON object on the last line")
    return parser


def _hidden_widths(text):
    """``"16"`` -> 16, ``"64,32"`` -> [64, 32]."""
    try:
        widths = [int(part) for part in str(text).split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an int or comma-separated ints, got {text!r}") from None
    if not widths:
        raise argparse.ArgumentTypeError(f"must be an int or comma-separated ints, got {text!r}")
    return widths[0] if len(widths) == 1 else widths


# ---------------------------------------------------------------------- configuration
def resolve_settings(args):
    """Every setting of a node-task run: the chosen model's defaults overridden by the options given.

    Raises
    ------
    ValueError
        An option out of range or not meant for the node task, naming it.
    """
    dataset = str(_option(args, "dataset", "cora")).lower()
    if dataset not in DATASETS:
        raise CommandError(f"--dataset must be one of {', '.join(DATASETS)} for the node task, got {dataset!r}")
    model = str(_option(args, "model", "gcn")).lower()
    if model not in MODELS:
        raise CommandError(f"--model must be one of {', '.join(MODELS)} for the node task, got {model!r}")
    config = dict(MODEL_DEFAULTS[model])
    for key in ("aggr", "layers", "dropout", "bias", "lr", "weight_decay", "decay", "early_stopping",
                "patience"):
        value = getattr(args, key, None)
        if value is not None:
            config[key] = value
    aggr = getattr(args, "aggr", None)
    if aggr is not None and model in ("gcn", "gin") and aggr not in ("sum", "add"):
        raise CommandError(f"--aggr {aggr} does not apply to --model {model}, which sums its neighbours "
                           "(use --model sage or graphconv)")
    if config["aggr"] == "add":
        config["aggr"] = "sum"
    hidden = getattr(args, "hidden", None)
    if isinstance(hidden, list):
        if getattr(args, "layers", None) is not None and args.layers != len(hidden) + 1:
            raise CommandError(f"--hidden lists {len(hidden)} widths ({len(hidden) + 1} layers) but --layers "
                               f"is {args.layers}")
        config["hidden"], config["layers"] = list(hidden), len(hidden) + 1
    elif hidden is not None:
        config["hidden"] = int(hidden)
    widths = config["hidden"] if isinstance(config["hidden"], list) else [config["hidden"]]
    if min(widths) < 1:
        raise CommandError(f"--hidden must be positive, got {hidden}")
    if config["layers"] < 1:
        raise CommandError(f"--layers must be a positive integer, got {config['layers']}")
    if not 0.0 <= config["dropout"] < 1.0:
        raise CommandError(f"--dropout must be in [0, 1), got {config['dropout']}")
    config["lr"] = check_learning_rate(config["lr"])
    if not (config["weight_decay"] >= 0 and math.isfinite(config["weight_decay"])):
        raise CommandError(f"--weight-decay must be a non-negative number, got {config['weight_decay']}")
    if config["patience"] < 1:
        raise CommandError(f"--patience must be a positive integer, got {config['patience']}")
    if config["early_stopping"] == "none":
        config["early_stopping"] = None
    load = getattr(args, "load", None)
    epochs = getattr(args, "epochs", None)
    if epochs is not None and epochs < 0:
        raise CommandError(f"--epochs must be non-negative, got {epochs}")
    if epochs is not None and epochs == 0 and load is None:
        # The accuracy of random weights is no result to report.
        raise CommandError("--epochs must be >= 1 unless --load is given (--epochs 0 evaluates loaded weights)")
    config["epochs"] = (0 if load is not None else config["epochs"]) if epochs is None else int(epochs)
    runs = int(_option(args, "runs", 1))
    if runs < 1:
        raise CommandError(f"--runs must be a positive integer, got {runs}")
    threads = getattr(args, "threads", None)
    if threads is not None and threads < 1:
        raise CommandError(f"--threads must be a positive integer, got {threads}")
    log_every = int(_option(args, "log_every", 10))
    if log_every < 1:
        raise CommandError(f"--log-every must be a positive integer, got {log_every}")
    return dict(
        dataset=dataset, data_root=getattr(args, "data_root", None), model=model, config=config,
        normalize_features=bool(getattr(args, "normalize_features", True)),
        inductive=bool(getattr(args, "inductive", False)), seed=check_seed(_option(args, "seed", 0)), runs=runs,
        threads=threads, save=getattr(args, "save", None), load=load, log_every=log_every,
        quiet=bool(getattr(args, "quiet", False)), json=bool(getattr(args, "json", False)))


def build(config, seed):
    """The model and its Adam optimizer for ``config``, seeded by ``seed``.

    ``config`` holds ``model``, ``in_channels``, ``out_channels`` and the
    entries of :data:`MODEL_DEFAULTS`.
    """
    from fastgnn.models import build_model
    from fastgnn.optim import Adam

    kwargs = dict(hidden_channels=config["hidden"], num_layers=config["layers"], dropout=config["dropout"],
                  bias=config["bias"], rng=np.random.default_rng(seed))
    if config["model"] == "gcn":
        kwargs["cached"] = True     # the graphs of a run are fixed: normalize each once
    if config["aggr"] is not None and config["model"] in ("sage", "graphconv"):
        kwargs["aggr"] = config["aggr"]
    model = build_model(config["model"], config["in_channels"], config["out_channels"], **kwargs)
    groups = model.parameter_groups(config["weight_decay"], first_layer_only=config["decay"] == "first")
    return model, Adam(groups, lr=config["lr"])


# ---------------------------------------------------------------------- weights on disk
def save_weights(model, path, config=None):
    """Write ``model.state_dict()`` to ``path`` (``.npz``, uncompressed), with ``config`` as JSON beside it.

    The architecture entries of ``config`` (model, widths, layers,
    aggregation, bias) are stored under ``"__fastgnn_config__"`` so that
    :func:`load_weights` can refuse weights of another architecture.
    """
    arrays = dict(model.state_dict())
    if config is not None:
        arrays[_CONFIG_KEY] = np.array(json.dumps({key: config[key] for key in _ARCHITECTURE if key in config}))
    # A handle, not the path: np.savez would append .npz to a path without it.
    write_atomically(path, lambda handle: np.savez(handle, **arrays))


def load_weights(model, path, config=None):
    """Load weights written by :func:`save_weights` into ``model``.

    Each array's header and size are checked against ``model.state_dict()``
    before its data is read (:class:`fastgnn.tasks._common.CheckedNpz`), so
    a damaged file or one claiming huge arrays is refused without reading it.

    Raises
    ------
    ValueError
        A missing, damaged or unreadable file, an architecture that differs
        from ``config``, or weights that do not fit the model (naming them).
    """
    with CheckedNpz(path, "--load") as weights:
        saved_config = weights.read_text(_CONFIG_KEY)
        if saved_config is not None and config is not None:
            try:
                saved = json.loads(saved_config)
            except ValueError:
                saved = None
            if not isinstance(saved, dict):
                weights.fail(f"{_CONFIG_KEY} is not the architecture record --save writes")
            differences = [f"{key}: saved {saved[key]!r}, now {config.get(key)!r}" for key in _ARCHITECTURE
                           if key in saved and saved[key] != config.get(key)]
            if differences:
                weights.fail("holds weights of another architecture (" + "; ".join(differences)
                             + "); pass the options it was trained with")
        arrays = weights.read_arrays(model.state_dict(), ignore=(_CONFIG_KEY,))
    try:
        model.load_state_dict(arrays)
    except (KeyError, ValueError, TypeError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        raise CommandError(f"--load {path}: the weights do not fit the model: {message}") from None


# ---------------------------------------------------------------------- the command
def load_dataset(name, data_root, normalize_features):
    """Planetoid ``name`` from ``data_root``, or the embedded Cora when ``data_root`` is None."""
    from fastgnn.datasets import Planetoid, load_cora

    if data_root is None:
        if name != "cora":
            raise CommandError(f"--dataset {name} needs --data-root DIR, the folder of its raw files "
                               f"ind.{name}.* (only Cora ships with fastgnn)")
        return load_cora(normalize_features=normalize_features)
    if not os.path.isdir(data_root):
        raise CommandError(f"--data-root {data_root}: no such directory")
    with dataset_errors(data_root, name):
        return Planetoid(data_root, name, normalize_features=normalize_features)


def run(args, *, out=None):
    """Run the node task described by ``args``; returns the exit status (0 on success, 2 on bad input).

    Bad input (an option out of range, a missing dataset file, weights that
    do not fit) is reported as one line on stderr naming the option or file.
    """
    return run_task("node", _run, args, out, flush=True)


def _run(args, out):
    from fastgnn.train import train_node_classifier

    s = resolve_settings(args)
    config = s["config"]
    if s["save"] is not None:
        check_writable(s["save"], "--save")     # now, not after training

    def say(line):
        print(line, file=out, flush=True)

    def progress(line):
        if not s["quiet"]:
            say(line)

    with num_threads(s["threads"]):
        started = time.perf_counter()
        dataset = load_dataset(s["dataset"], s["data_root"], s["normalize_features"])
        config.update(model=s["model"], in_channels=dataset.num_features, out_channels=dataset.num_classes)
        check_memory(training_bytes(config["in_channels"], config["hidden"], config["out_channels"],
                                    config["layers"], dataset.x.shape[0]),
                     f"--hidden {_widths_text(config['hidden'])} and --layers {config['layers']}")
        progress(f"{dataset!r}, {'inductive' if s['inductive'] else 'transductive'}")
        progress("model {model}: hidden {hidden}, layers {layers}, aggr {aggr}, dropout {dropout}, bias {bias}; "
                 "Adam lr {lr}, weight decay {weight_decay} ({decay}); up to {epochs} epochs, early stopping "
                 "{early_stopping} ({patience})".format(**config))
        results, best = [], None
        for index in range(s["runs"]):
            seed = s["seed"] + index
            model, optimizer = build(config, seed)
            if s["load"] is not None:
                load_weights(model, s["load"], config)
            prefix = f"run {index + 1}/{s['runs']} " if s["runs"] > 1 else ""
            result = train_node_classifier(
                model, dataset.graph, dataset.x, dataset.y, dataset.train_mask, dataset.val_mask,
                dataset.test_mask, optimizer, epochs=config["epochs"], patience=config["patience"],
                early_stopping=config["early_stopping"], inductive=s["inductive"],
                verbose=False if s["quiet"] else s["log_every"], log=lambda line: say(prefix + line))
            results.append((seed, result))
            if best is None or result.val_acc > best[1].val_acc:
                best = (model, result)
            if s["runs"] > 1:
                timing = f", {1000 * result.seconds_per_epoch:.1f} ms/epoch" if result.epochs else ""
                progress(f"run {index + 1}/{s['runs']} (seed {seed}): {result.epochs} epochs, "
                         f"val acc {result.val_acc:.4f}, test acc {result.test_acc:.4f}{timing}")
        if s["save"] is not None:
            save_weights(best[0], s["save"], config)
            progress(f"weights saved to {s['save']}")
        summary = _summary(s, config, dataset, results, time.perf_counter() - started)
    if s["runs"] > 1:
        say(f"{s['runs']} runs: val acc {summary['val_acc_mean']:.4f} ± {summary['val_acc_std']:.4f}, "
            f"test acc {summary['test_acc_mean']:.4f} ± {summary['test_acc_std']:.4f}, "
            f"{1000 * summary['seconds_per_epoch']:.1f} ms/epoch")
    else:
        say(f"val acc {summary['val_acc']:.4f}, test acc {summary['test_acc']:.4f}, "
            f"{1000 * summary['seconds_per_epoch']:.1f} ms/epoch over {summary['epochs']} epochs")
    if s["json"]:
        say(json.dumps(summary))
    return 0


def _widths_text(hidden):
    return ",".join(map(str, hidden)) if isinstance(hidden, list) else str(hidden)


def _summary(s, config, dataset, results, seconds):
    import fastgnn

    val = np.array([r.val_acc for _, r in results])
    test = np.array([r.test_acc for _, r in results])
    epochs = [r.epochs for _, r in results]
    timed = [r.seconds_per_epoch for _, r in results if r.epochs]
    summary = {
        "task": "node",
        "dataset": dataset.name,
        "model": config["model"],
        "mode": "inductive" if s["inductive"] else "transductive",
        "val_acc": float(val.mean()),
        "test_acc": float(test.mean()),
        "test_acc_mean": float(test.mean()),
        "test_acc_std": float(test.std()),
        "val_acc_mean": float(val.mean()),
        "val_acc_std": float(val.std()),
        "train_acc": float(np.mean([r.train_acc for _, r in results])),
        "epochs": epochs[0] if len(epochs) == 1 else float(np.mean(epochs)),
        "seconds_per_epoch": float(np.mean(timed)) if timed else 0.0,
        "runs": len(results),
        "seed": s["seed"],
        "per_run": [{"seed": seed, "val_acc": r.val_acc, "test_acc": r.test_acc, "epochs": r.epochs,
                     "best_epoch": r.best_epoch, "seconds_per_epoch": r.seconds_per_epoch}
                    for seed, r in results],
        "config": {key: config[key] for key in ("hidden", "layers", "aggr", "dropout", "bias", "lr",
                                                "weight_decay", "decay", "early_stopping", "patience",
                                                "epochs")},
        "normalize_features": s["normalize_features"],
        "threads": fastgnn.get_num_threads(),
        "total_seconds": seconds,
    }
    if s["save"] is not None:
        summary["saved"] = s["save"]
    if s["load"] is not None:
        summary["loaded"] = s["load"]
    return summary


def main(argv=None):
    """``python -m fastgnn.tasks.node``: the same as ``python -m fastgnn train --task node``."""
    from fastgnn.cli import ArgumentParser

    parser = add_arguments(ArgumentParser(prog="fastgnn train", description=__doc__.split("\n\n")[0]))
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
