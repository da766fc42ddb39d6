"""``python -m fastgnn train --task link``: link prediction with a graph autoencoder (GAE or VGAE).

Each run draws a link split of the dataset's graph (85 / 5 / 10 % of the
edges by default, the paper's), trains the model on the training edges and
reports the test AUC and AP of the last epoch's model (validation AUC/AP
are printed as progress, never used to select). Run ``r`` (0-based) uses
seed ``seed + r`` for the split, the initial weights, the VGAE noise and the
negative samples. With ``--runs K`` the mean and standard deviation over the
runs are reported.

``--test-fraction`` must hold out some edges (the test metrics are the
result); ``--val-fraction 0`` is allowed, as in PyG's ``RandomLinkSplit``
(``num_val=0``): there is then no validation AUC/AP (null in the JSON).
"""
import json
import os
import time

import numpy as np

from fastgnn.cli import _report
from fastgnn.cli._common import (CommandError, add_option as _add, check_fraction, check_learning_rate,
                                   check_memory, check_positive, check_seed, check_writable, dataset_errors,
                                   num_threads, option as _option, refuse_options, run_task, training_bytes)

__all__ = ["add_arguments", "run", "resolve_settings", "MODELS", "LOSSES", "DEFAULTS"]

MODELS = ("gae", "vgae")
LOSSES = ("auto", "full", "negative")


def add_arguments(parser):
    """Declare the options of the link task on ``parser`` (options it already has are left alone).

    Options shared with the other tasks default to None here; :func:`run`
    replaces None by the link task's default (:data:`DEFAULTS`).
    """
    _add(parser, "--dataset", default=None,
         help="Planetoid dataset: cora (default, shipped in the package), citeseer or pubmed (need --data-root)")
    _add(parser, "--data-root", default=None, metavar="DIR",
         help="folder holding the raw Planetoid files ind.<name>.* (or DIR/raw, PyG's DIR/<Name>/raw)")
    _add(parser, "--model", default=None, help="link task: gae (default) or vgae")
    _add(parser, "--loss", choices=LOSSES, default=None,
         help="link task: the paper's weighted cross-entropy over the full adjacency ('full'), positive "
              "edges against as many sampled non-edges ('negative'), or 'auto' (default): full up to "
              "20,000 nodes, else negative")
    _add(parser, "--runs", type=int, default=None, help="independent runs (seeds seed, seed+1, ...)")
    _add(parser, "--epochs", type=int, default=None, help="link task: at least 1, default 200")
    _add(parser, "--lr", type=float, default=None, help="Adam learning rate (link task: 0.01)")
    _add(parser, "--seed", type=int, default=None, help="seed of the first run (default 0)")
    _add(parser, "--hidden", type=int, default=None, help="link task: width of the first GCN layer (default 32)")
    _add(parser, "--latent", type=int, default=None, help="link task: width of the embeddings Z (default 16)")
    _add(parser, "--dropout", type=float, default=None, help="link task: default 0")
    _add(parser, "--val-fraction", type=float, default=None,
         help="link task: fraction of the edges held out for validation (default 0.05; 0: no validation, "
              "only reported anyway)")
    _add(parser, "--test-fraction", type=float, default=None,
         help="link task: fraction of the edges held out for test, the reported result (default 0.1; must "
              "hold out at least one edge; with --val-fraction, below 1 in all)")
    _add(parser, "--threads", type=int, default=None,
         help="threads of fastgnn's kernels (default: OMP_NUM_THREADS, else the available CPUs)")
    _add(parser, "--save", metavar="PATH", default=None,
         help="link task: write the trained autoencoder to PATH (.npz), a pretrained encoder for --task node "
              "--model gae/vgae --load PATH")
    _add(parser, "--log-every", type=int, default=None, metavar="N",
         help="progress line every N epochs (link task: 10, with the validation AUC and AP)")
    _add(parser, "--quiet", action="store_true", help="no progress lines")
    _add(parser, "--json", action="store_true", help="print the results as one JSON object on the last line")
    _report.add_arguments(parser)
    return parser


#: The link task's value of every option left unset.
DEFAULTS = dict(dataset="cora", data_root=None, model="gae", loss="auto", runs=1, epochs=200, lr=0.01, seed=0,
                hidden=32, latent=16, dropout=0.0, val_fraction=0.05, test_fraction=0.1, threads=None,
                log_every=10, quiet=False, json=False, save=None, plot=None, history=None)


def resolve_settings(args):
    """Every setting of a link-task run: :data:`DEFAULTS` overridden by the options given.

    Raises
    ------
    ValueError
        An option out of range or not meant for the link task, naming it.
    """
    refuse_options(args, "link", ("load",))
    s = {key: _option(args, key, default) for key, default in DEFAULTS.items()}
    s["dataset"] = str(s["dataset"]).lower()
    s["model"] = str(s["model"]).lower()
    if s["model"] not in MODELS:
        raise CommandError(f"--model must be one of {', '.join(MODELS)} for the link task, got {s['model']!r}")
    if s["loss"] not in LOSSES:
        raise CommandError(f"--loss must be one of {', '.join(LOSSES)}, got {s['loss']!r}")
    if isinstance(s["hidden"], (list, tuple)):
        raise CommandError(f"--hidden takes one width for the link task (the GAE encoder has one hidden layer), "
                           f"got {','.join(map(str, s['hidden']))}")
    for name in ("runs", "hidden", "latent", "log_every"):
        s[name] = check_positive(f"--{name.replace('_', '-')}", s[name])
    # No --load: a model trained for 0 epochs is a random one, no result.
    s["epochs"] = check_positive("--epochs", s["epochs"])
    s["seed"] = check_seed(s["seed"])
    if s["threads"] is not None:
        s["threads"] = check_positive("--threads", s["threads"])
    s["lr"] = check_learning_rate(s["lr"])
    s["dropout"] = float(s["dropout"])
    if not 0.0 <= s["dropout"] < 1.0:
        raise CommandError(f"--dropout must be in [0, 1), got {s['dropout']}")
    s["val_fraction"] = check_fraction("--val-fraction", s["val_fraction"])
    s["test_fraction"] = check_fraction("--test-fraction", s["test_fraction"])
    if s["test_fraction"] == 0:
        raise CommandError("--test-fraction must be above 0: the test AUC and AP are the result, so some edges "
                           "must be held out for test")
    if s["val_fraction"] + s["test_fraction"] >= 1:
        raise CommandError(f"--val-fraction {s['val_fraction']} and --test-fraction {s['test_fraction']} asked for "
                           "all the edges; together they must be below 1 to leave edges to train on")
    s["quiet"], s["json"] = bool(s["quiet"]), bool(s["json"])
    return s


def _load_dataset(name, data_root):
    from fastgnn.datasets import Planetoid, load_cora

    key = str(name).lower()
    if data_root is None:
        if key != "cora":
            raise CommandError(f"dataset {name!r} is not shipped in the package: pass --data-root DIR "
                               "(the folder of its raw Planetoid files)")
        return load_cora()
    if not os.path.isdir(data_root):
        raise CommandError(f"--data-root {data_root}: no such directory")
    with dataset_errors(data_root, key):
        return Planetoid(data_root, key)


def run(args, *, out=None):
    """Run the link task described by ``args``; returns the exit status (0 on success, 2 on bad input)."""
    return run_task("link", _run, args, out)


def _run(args, out):
    s = resolve_settings(args)
    with num_threads(s["threads"]):
        summary = _train_runs(s, out)
    if s["json"]:
        print(json.dumps(summary), file=out, flush=True)
    return 0


def _save_encoder(model, s, in_channels):
    """Write the trained autoencoder for ``fastgnn train --task node --model gae --load PATH``."""
    from fastgnn.cli.node import save_weights

    save_weights(model, s["save"], {"task": "link", "model": s["model"], "in_channels": in_channels,
                                    "hidden": s["hidden"], "latent": s["latent"], "bias": False})


def _train_runs(s, out):
    import fastgnn
    from fastgnn.data import random_link_split
    from fastgnn.models.autoencoder import FULL_LOSS_MAX_NODES, GAE, VGAE
    from fastgnn.train import train_autoencoder
    from fastgnn.optim import Adam

    model_name, loss, runs, epochs, seed = s["model"], s["loss"], s["runs"], s["epochs"], s["seed"]
    hidden, latent, lr, dropout = s["hidden"], s["latent"], s["lr"], s["dropout"]
    val, test, quiet, log_every = s["val_fraction"], s["test_fraction"], s["quiet"], s["log_every"]

    def say(line):
        if not quiet:
            print(line, file=out, flush=True)

    if s["save"] is not None:
        check_writable(s["save"], "--save")     # now, not after training
    _report.check(s["plot"], s["history"])
    start = time.perf_counter()
    dataset = _load_dataset(s["dataset"], s["data_root"])
    graph = dataset.graph
    check_memory(training_bytes(dataset.num_features, hidden, latent, 2, graph.num_nodes),
                 f"--hidden {hidden} and --latent {latent}")
    if loss == "auto":
        loss = "full" if graph.num_nodes <= FULL_LOSS_MAX_NODES else "negative"
    model_cls = GAE if model_name == "gae" else VGAE
    say(f"link prediction: {model_cls.__name__} on {dataset.name} ({graph.num_nodes} nodes, "
        f"{graph.num_edges // 2} undirected edges, {dataset.num_features} features), "
        f"split {1 - val - test:.0%}/{val:.0%}/{test:.0%}, encoder {hidden}-{latent}, loss {loss}, "
        f"{epochs} epochs, Adam lr {lr}, {runs} run{'s' if runs > 1 else ''}")

    results = []
    # --quiet skips the evaluations, unless --plot or --history needs their curves.
    eval_every = log_every if not quiet or s["plot"] or s["history"] else 0
    runs_started = time.perf_counter()
    for number in range(runs):
        rng = np.random.default_rng(seed + number)
        split = random_link_split(graph, val=val, test=test, undirected=True, rng=rng)
        if split.test_pos_edge_index.shape[1] == 0:
            total = sum(part.shape[1] for part in (split.train_pos_edge_index, split.val_pos_edge_index))
            raise CommandError(f"--test-fraction {test} holds out no edge of the {total} edges (the count is "
                               "rounded down): ask for more")
        model = model_cls(dataset.num_features, hidden, latent, dropout=dropout, rng=rng)
        optimizer = Adam(model.parameters(), lr=lr)
        if runs > 1:
            say(f"run {number + 1}/{runs} (seed {seed + number})")
        result = train_autoencoder(model, split, dataset.x, optimizer, loss=loss, epochs=epochs, rng=rng,
                                   eval_every=eval_every, log_every=log_every,
                                   log=None if quiet else say)
        validation = ("no validation edges" if result.val_auc is None
                      else f"val AUC {result.val_auc:.4f}  AP {result.val_ap:.4f}")
        say(f"run {number + 1}: test AUC {result.test_auc:.4f}  AP {result.test_ap:.4f}  ({validation})  "
            f"{1000 * result.seconds_per_epoch:.1f} ms/epoch, {result.total_seconds:.1f} s")
        results.append(result)
        if runs > 1 and number == 0:
            say(_report.estimate_line(time.perf_counter() - runs_started, 1, runs))
        best_score = result.val_auc if result.val_auc is not None else -number  # no validation: the last run
        if s["save"] is not None and (len(results) == 1 or best_score > best[0]):
            best = (best_score, model)
    if s["save"] is not None:
        _save_encoder(best[1], s, dataset.num_features)
        say(f"autoencoder saved to {s['save']} (pretrained encoder for --task node --model {model_name} --load)")
    _report.write(results, s["plot"], s["history"], say)

    auc = np.array([r.test_auc for r in results])
    ap = np.array([r.test_ap for r in results])
    summary = {
        "task": "link",
        "dataset": dataset.name,
        "model": model_name,
        "loss": loss,
        "epochs": epochs,
        "lr": lr,
        "hidden": hidden,
        "latent": latent,
        "runs": runs,
        "seed": seed,
        "split": {"train": split.train_pos_edge_index.shape[1], "val": split.val_pos_edge_index.shape[1],
                  "test": split.test_pos_edge_index.shape[1]},
        "test_auc": float(auc.mean()),
        "test_ap": float(ap.mean()),
        "test_auc_mean": float(auc.mean()),
        "test_auc_std": float(auc.std()),
        "test_ap_mean": float(ap.mean()),
        "test_ap_std": float(ap.std()),
        "saved": s["save"],
        "val_auc_mean": _mean_or_none([r.val_auc for r in results]),
        "val_ap_mean": _mean_or_none([r.val_ap for r in results]),
        "per_run": [{"seed": seed + i, "test_auc": r.test_auc, "test_ap": r.test_ap, "val_auc": r.val_auc,
                     "val_ap": r.val_ap, "seconds_per_epoch": r.seconds_per_epoch}
                    for i, r in enumerate(results)],
        "seconds_per_epoch": float(np.mean([r.seconds_per_epoch for r in results])),
        "threads": fastgnn.get_num_threads(),
        "total_seconds": time.perf_counter() - start,
    }
    spread = f" ± {auc.std():.4f}" if runs > 1 else ""
    spread_ap = f" ± {ap.std():.4f}" if runs > 1 else ""
    print(f"test AUC {auc.mean():.4f}{spread}  AP {ap.mean():.4f}{spread_ap}"
          f"{f' (mean ± std over {runs} runs)' if runs > 1 else ''}", file=out, flush=True)
    return summary


def _mean_or_none(values):
    """The mean of ``values``, or None when there are none (no validation edges)."""
    values = [value for value in values if value is not None]
    return float(np.mean(values)) if values else None
