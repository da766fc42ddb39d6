"""``python -m fastgnn train --task link``: link prediction with a graph autoencoder (GAE or VGAE).

Each run draws a link split of the dataset's graph (85 / 5 / 10 % of the
edges by default, the paper's), trains the model on the training edges and
reports the test AUC and AP of the last epoch's model (validation AUC/AP
are printed as progress, never used to select). Run ``r`` (0-based) uses
seed ``seed + r`` for the split, the initial weights, the VGAE noise and the
negative samples. With ``--runs K`` the mean and standard deviation over the
runs are reported.
"""
import json
import sys
import time

import numpy as np

__all__ = ["add_arguments", "run", "MODELS", "LOSSES"]

MODELS = ("gae", "vgae")
LOSSES = ("auto", "full", "negative")


def _add(parser, *flags, **kwargs):
    """Add an option unless the parser already has it (the train command may share options across tasks)."""
    if any(flag in parser._option_string_actions for flag in flags):
        return
    parser.add_argument(*flags, **kwargs)


def add_arguments(parser):
    """Declare the options of the link task on ``parser`` (options it already has are left alone)."""
    _add(parser, "--dataset", default="cora",
         help="Planetoid name: cora (shipped in the package), citeseer or pubmed (need --data-root)")
    _add(parser, "--data-root", default=None, metavar="DIR",
         help="folder holding the raw Planetoid files ind.<name>.*")
    _add(parser, "--model", default="gae", help="gae or vgae (default gae)")
    _add(parser, "--loss", choices=LOSSES, default="auto",
         help="reconstruction loss: the paper's weighted cross-entropy over the full adjacency ('full'), "
              "positive edges against as many sampled non-edges ('negative'), or 'auto': full up to "
              "20,000 nodes, else negative (default)")
    _add(parser, "--runs", type=int, default=1, help="independent runs (seeds seed, seed+1, ...)")
    _add(parser, "--epochs", type=int, default=200)
    _add(parser, "--lr", type=float, default=0.01)
    _add(parser, "--seed", type=int, default=0)
    _add(parser, "--hidden", type=int, default=32, help="width of the first GCN layer (default 32)")
    _add(parser, "--latent", type=int, default=16, help="width of the embeddings Z (default 16)")
    _add(parser, "--dropout", type=float, default=0.0)
    _add(parser, "--val-fraction", type=float, default=0.05, help="validation edges (default 0.05)")
    _add(parser, "--test-fraction", type=float, default=0.1, help="test edges (default 0.1)")
    _add(parser, "--eval-every", type=int, default=10, help="validation AUC/AP every N epochs in the progress")
    _add(parser, "--json", action="store_true", help="print the results as one JSON object on the last line")
    _add(parser, "--quiet", action="store_true", help="no progress lines")


def _load_dataset(name, data_root):
    from fastgnn.datasets import Planetoid, load_cora

    key = str(name).lower()
    if data_root is None:
        if key != "cora":
            raise ValueError(f"dataset {name!r} is not shipped in the package: pass --data-root DIR "
                             "(the folder of its raw Planetoid files)")
        return load_cora()
    return Planetoid(data_root, key)


def _option(args, name, default):
    value = getattr(args, name, None)
    return default if value is None else value


def _check_positive(value, name):
    if value < 1:
        raise ValueError(f"--{name.replace('_', '-')} must be a positive integer, got {value}")


def run(args, *, out=None):
    """Run the link task described by ``args``; returns the exit status (0 on success, 2 on bad input)."""
    out = sys.stdout if out is None else out
    try:
        return _run(args, out)
    except (ValueError, FileNotFoundError, TypeError) as error:
        print(f"fastgnn train --task link: error: {error}", file=sys.stderr)
        return 2


def _run(args, out):
    from fastgnn.data import random_link_split
    from fastgnn.models.autoencoder import FULL_LOSS_MAX_NODES, GAE, VGAE, train_autoencoder
    from fastgnn.optim import Adam

    model_name = str(_option(args, "model", "gae")).lower()
    if model_name not in MODELS:
        raise ValueError(f"--model must be one of {', '.join(MODELS)} for the link task, got {model_name!r}")
    loss = _option(args, "loss", "auto")
    if loss not in LOSSES:
        raise ValueError(f"--loss must be one of {', '.join(LOSSES)}, got {loss!r}")
    runs = int(_option(args, "runs", 1))
    epochs = int(_option(args, "epochs", 200))
    hidden = int(_option(args, "hidden", 32))
    latent = int(_option(args, "latent", 16))
    for value, name in ((runs, "runs"), (hidden, "hidden"), (latent, "latent")):
        _check_positive(value, name)
    if epochs < 0:
        raise ValueError(f"--epochs must be non-negative, got {epochs}")
    lr = float(_option(args, "lr", 0.01))
    seed = int(_option(args, "seed", 0))
    dropout = float(_option(args, "dropout", 0.0))
    val = float(_option(args, "val_fraction", 0.05))
    test = float(_option(args, "test_fraction", 0.1))
    eval_every = int(_option(args, "eval_every", 10))
    quiet = bool(_option(args, "quiet", False))
    as_json = bool(_option(args, "json", False))
    dataset_name = _option(args, "dataset", "cora")

    def say(line):
        if not quiet:
            print(line, file=out, flush=True)

    start = time.perf_counter()
    dataset = _load_dataset(dataset_name, _option(args, "data_root", None))
    graph = dataset.graph
    if loss == "auto":
        loss = "full" if graph.num_nodes <= FULL_LOSS_MAX_NODES else "negative"
    model_cls = GAE if model_name == "gae" else VGAE
    say(f"link prediction: {model_cls.__name__} on {dataset.name} ({graph.num_nodes} nodes, "
        f"{graph.num_edges // 2} undirected edges, {dataset.num_features} features), "
        f"split {1 - val - test:.0%}/{val:.0%}/{test:.0%}, encoder {hidden}-{latent}, loss {loss}, "
        f"{epochs} epochs, Adam lr {lr}, {runs} run{'s' if runs > 1 else ''}")

    results = []
    for number in range(runs):
        rng = np.random.default_rng(seed + number)
        split = random_link_split(graph, val=val, test=test, undirected=True, seed=rng)
        model = model_cls(dataset.num_features, hidden, latent, dropout=dropout, rng=rng)
        optimizer = Adam(model.parameters(), lr=lr)
        if runs > 1:
            say(f"run {number + 1}/{runs} (seed {seed + number})")
        result = train_autoencoder(model, split, dataset.x, optimizer, loss=loss, epochs=epochs, seed=rng,
                                   eval_every=0 if quiet else eval_every,
                                   verbose=False if quiet else max(eval_every, 1), log=say)
        say(f"run {number + 1}: test AUC {result.test_auc:.4f}  AP {result.test_ap:.4f}  "
            f"(val AUC {result.val_auc:.4f}  AP {result.val_ap:.4f})  "
            f"{1000 * result.seconds_per_epoch:.1f} ms/epoch, {result.total_seconds:.1f} s")
        results.append(result)

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
        "val_auc_mean": float(np.mean([r.val_auc for r in results])),
        "val_ap_mean": float(np.mean([r.val_ap for r in results])),
        "per_run": [{"seed": seed + i, "test_auc": r.test_auc, "test_ap": r.test_ap, "val_auc": r.val_auc,
                     "val_ap": r.val_ap, "seconds_per_epoch": r.seconds_per_epoch}
                    for i, r in enumerate(results)],
        "seconds_per_epoch": float(np.mean([r.seconds_per_epoch for r in results])),
        "total_seconds": time.perf_counter() - start,
    }
    spread = f" ± {auc.std():.4f}" if runs > 1 else ""
    spread_ap = f" ± {ap.std():.4f}" if runs > 1 else ""
    print(f"test AUC {auc.mean():.4f}{spread}  AP {ap.mean():.4f}{spread_ap}"
          f"{f' (mean ± std over {runs} runs)' if runs > 1 else ''}", file=out, flush=True)
    if as_json:
        print(json.dumps(summary), file=out, flush=True)
    return 0
