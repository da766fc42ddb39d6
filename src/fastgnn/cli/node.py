"""``python -m fastgnn train`` (``--task node``, the default): node classification on a Planetoid dataset
(or a dataset folder on disk, ``--dataset PATH``).

Defaults reproduce Kipf and Welling's GCN on Cora (the copy shipped in the
package): two GCN layers of 16 hidden units without bias, ReLU, dropout 0.5
on the input and the hidden layer, Adam with learning rate 0.01, weight
decay 5e-4 on the first layer only, at most 200 epochs, early stopping with
the paper's window of 10 epochs on the validation loss, row-normalised
features. ``--model gat`` (and ``gatv2``) follow Veličković et al.: 8 heads of
8 units (``--heads``), one averaged output head, ELU, dropout 0.6 on the
inputs and the attention coefficients (``--attention-dropout``, by default
``--dropout``), Adam lr 0.005, weight decay 5e-4, patience 100. The other
models have their own defaults (:func:`model_defaults`),
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

from fastgnn.graph import SparseFeatures

from fastgnn.cli import _report
from fastgnn.cli._common import (SPARSE_DENSITY, CheckedNpz, CommandError, add_option as _add, check_learning_rate,
                                   check_memory, check_seed, check_writable, dataset_errors, num_threads,
                                   option as _option, run_task, training_bytes, write_atomically)

__all__ = ["models", "model_defaults", "ENCODER_MODELS", "DATASETS", "add_arguments", "run", "resolve_settings",
           "build", "save_weights", "load_weights", "load_dataset", "is_dataset_folder"]

DATASETS = ("cora", "citeseer", "pubmed")

#: Models made of a pretrained graph autoencoder's encoder under a classifier head
#: (:class:`fastgnn.models.EncoderClassifier`): ``--load`` a link-task checkpoint, ``--freeze encoder``.
ENCODER_MODELS = ("gae", "vgae")

#: What every model starts from before its own defaults (those its conv registered, :func:`model_defaults`).
BASE_DEFAULTS = dict(hidden=64, layers=2, dropout=0.5, lr=0.01, weight_decay=5e-4, decay="all", bias=True,
                     aggr=None, early_stopping="patience", patience=50, epochs=200, latent=None)

#: The options of the attention models only (``gat``, ``gatv2``): present in the defaults a conv registered.
ATTENTION_OPTIONS = ("heads", "output_heads", "attention_dropout", "activation")

_ENCODER_DEFAULTS = dict(hidden=32, latent=16, bias=False)


def models():
    """The ``--model`` choices of the node task: every registered conv, then the encoder models."""
    from fastgnn.nn.conv import conv_names

    return conv_names() + ENCODER_MODELS


def model_defaults(model):
    """The node task's defaults for ``model``: :data:`BASE_DEFAULTS` updated by the conv's registration.

    ``decay``: weight decay on the ``first`` layer only (the GCN paper) or on
    ``all`` parameters; ``early_stopping``: ``window`` (Kipf's criterion) or
    ``patience`` (no improvement of the validation loss for ``patience``
    epochs, then the best weights are restored). See :mod:`fastgnn.train`.
    """
    from fastgnn.nn.conv import get_conv

    defaults = dict(BASE_DEFAULTS)
    if model in ENCODER_MODELS:
        defaults.update(_ENCODER_DEFAULTS)
        return defaults
    spec = get_conv(model)
    defaults.update(spec.node_defaults)
    defaults["aggr"] = spec.default_aggr
    return defaults


_CONFIG_KEY = "__fastgnn_config__"
# The options that fix the shape of the weights: they must agree between --save and --load.
_ARCHITECTURE = ("model", "in_channels", "out_channels", "hidden", "layers", "aggr", "bias", "latent", "heads",
                 "output_heads")


def add_arguments(parser):
    """Declare the options of the node task on ``parser`` (options it already has are left alone).

    Options shared with the other tasks default to None here; :func:`run`
    replaces None by the node task's default for the chosen model
    (:func:`model_defaults`).
    """
    _add(parser, "--dataset", default=None,
         help="node task: Planetoid dataset cora (default, shipped in the package), citeseer or pubmed, or "
              "the path of a dataset folder (docs/datasets-on-disk.md: its default split, features as stored; "
              "with --fanout they stay memory-mapped)")
    _add(parser, "--data-root", metavar="DIR", default=None,
         help="folder of the raw dataset files (node task: ind.<dataset>.* in DIR, DIR/raw or PyG's "
              "DIR/<Name>/raw; without it, the Cora copy shipped in the package)")
    _add(parser, "--no-normalize-features", dest="normalize_features", action="store_false",
         help="node task: keep the raw features (default: rows divided by their sum, as the GCN paper)")
    _add(parser, "--dense-features", action="store_true",
         help="node and graph tasks: keep the input features dense (default: sparse when at most a tenth of "
              "them are non-zero, as the Planetoid datasets' bag-of-words; the first layer's product and dropout "
              "then run over the non-zeros only)")
    _add(parser, "--cut-test-edges", action="store_true",
         help="node task: train on the graph without the edges between training and test nodes "
              "(A_ij = 0 for a training node i and a test node j); evaluate on the full graph")
    _add(parser, "--freeze", default=None, choices=("encoder",),
         help="node task, --model gae/vgae: keep the (loaded) encoder fixed and train only the classifier head")
    _add(parser, "--inductive", action="store_true",
         help="node task: train on the subgraph induced by the training nodes; validate and test on the "
              "full graph")
    _add(parser, "--batch-size", type=int, default=None,
         help="node task: train on sampled mini-batches of this many seed nodes (with --fanout; default "
              "full-batch), evaluate by layer-wise inference on the whole graph; graph task: graphs per batch "
              "(default 32)")
    _add(parser, "--fanout", default=None, type=_fanout_list, metavar="K[,K...]",
         help="node task: neighbours sampled per layer from the seeds outward, one per layer, -1 for all "
              "(e.g. 15,10; write --fanout=-1,10 when the list starts with -1); trains on mini-batches "
              "(--batch-size, default 1024)")
    _add(parser, "--model", default=None,
         help=f"node task: {', '.join(models())} (default gcn; gae/vgae: a graph autoencoder's encoder under a "
              "classifier head, see --freeze)")
    _add(parser, "--aggr", default=None, choices=("sum", "add", "mean", "max", "min"),
         help="node task: neighbour aggregation of sage (default mean) and graphconv (default sum)")
    _add(parser, "--hidden", default=None, type=_hidden_widths, metavar="N[,N...]",
         help="hidden width (node task: gcn 16, others 64; comma-separated widths make several hidden layers)")
    _add(parser, "--layers", default=None, type=int,
         help="number of graph layers (node task: default 2, or implied by --hidden)")
    _add(parser, "--dropout", default=None, type=float,
         help="dropout probability (node task: gin 0.8, gat/gatv2 0.6, others 0.5)")
    _add(parser, "--heads", default=None, type=int, metavar="H",
         help="node task, --model gat/gatv2: attention heads of each hidden layer, concatenated (default 8, "
              "as the GAT paper; the last layer has one head)")
    _add(parser, "--attention-dropout", default=None, type=float, metavar="P",
         help="node task, --model gat/gatv2: dropout of the attention coefficients (default: --dropout, 0.6)")
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
         help="write the trained weights to PATH (.npz), checked to be writable before training; with --runs, "
              "those of the run with the best validation score (link task: the autoencoder, a pretrained encoder "
              "for --task node --model gae/vgae --load PATH)")
    _add(parser, "--load", metavar="PATH", default=None,
         help="node task: start from the weights in PATH (written by --save; a link-task autoencoder becomes the "
              "encoder of --model gae/vgae); without --epochs, evaluate "
              "them without training")
    _add(parser, "--partitions", metavar="DIR", default=None,
         help="node task: train over the parts in DIR (python -m fastgnn partition), one per MPI rank: "
              "mpirun -n P python -m fastgnn train --partitions DIR (rank 0 prints; docs/distributed.md)")
    _add(parser, "--log-every", default=None, type=int, metavar="N",
         help="progress line every N epochs (node task default 10)")
    _add(parser, "--quiet", action="store_true", help="no progress lines")
    _add(parser, "--json", action="store_true", help="print the results as one JSON object on the last line")
    _report.add_arguments(parser)
    return parser


def _fanout_list(text):
    """``"15,10"`` -> [15, 10] (values are checked in :func:`resolve_settings`)."""
    try:
        fanouts = [int(part) for part in str(text).split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be comma-separated ints, got {text!r}") from None
    return fanouts


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
    dataset = str(_option(args, "dataset", "cora"))
    if is_dataset_folder(dataset):
        if getattr(args, "data_root", None) is not None:
            raise CommandError(f"--data-root does not apply to --dataset {dataset}, a dataset folder")
    elif dataset.lower() not in DATASETS:
        raise CommandError(f"--dataset must be one of {', '.join(DATASETS)} or a dataset folder for the node "
                           f"task, got {dataset!r}")
    else:
        dataset = dataset.lower()
    model = str(_option(args, "model", "gcn")).lower()
    if model not in models():
        raise CommandError(f"--model must be one of {', '.join(models())} for the node task, got {model!r}")
    config = model_defaults(model)
    for key in ("aggr", "layers", "dropout", "bias", "lr", "weight_decay", "decay", "early_stopping",
                "patience", "latent"):
        value = getattr(args, key, None)
        if value is not None:
            config[key] = value
    aggr = getattr(args, "aggr", None)
    if aggr is not None:
        if model in ENCODER_MODELS:
            raise CommandError(f"--aggr does not apply to --model {model} (a GCN encoder)")
        from fastgnn.nn.conv import get_conv

        try:
            config["aggr"] = get_conv(model).resolve_aggr(aggr)
        except ValueError:
            raise CommandError(f"--aggr {aggr} does not apply to --model {model}, which sums its neighbours "
                               "(use --model sage or graphconv)") from None
    if config["aggr"] == "add":
        config["aggr"] = "sum"
    _attention_settings(args, model, config)
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
    # With --load, no --epochs means: evaluate the loaded weights. An encoder model's head needs training.
    evaluate_only = load is not None and model not in ENCODER_MODELS
    config["epochs"] = (0 if evaluate_only else config["epochs"]) if epochs is None else int(epochs)
    runs = int(_option(args, "runs", 1))
    if runs < 1:
        raise CommandError(f"--runs must be a positive integer, got {runs}")
    threads = getattr(args, "threads", None)
    if threads is not None and threads < 1:
        raise CommandError(f"--threads must be a positive integer, got {threads}")
    log_every = int(_option(args, "log_every", 10))
    if log_every < 1:
        raise CommandError(f"--log-every must be a positive integer, got {log_every}")
    freeze = getattr(args, "freeze", None)
    if freeze is not None and model not in ENCODER_MODELS:
        raise CommandError(f"--freeze encoder needs a model with an encoder (--model {' or '.join(ENCODER_MODELS)}), "
                           f"got --model {model}")
    inductive, cut = bool(getattr(args, "inductive", False)), bool(getattr(args, "cut_test_edges", False))
    if inductive and cut:
        raise CommandError("--inductive and --cut-test-edges exclude each other (inductive training holds no "
                           "test node at all)")
    minibatch = _minibatch_settings(args, model, config, inductive, cut)
    if model in ENCODER_MODELS and isinstance(config["hidden"], list):
        raise CommandError(f"--hidden takes one width for --model {model} (its encoder has one hidden layer)")
    return dict(
        dataset=dataset, data_root=getattr(args, "data_root", None), model=model, config=config, freeze=freeze,
        cut_test_edges=cut,
        normalize_features=bool(getattr(args, "normalize_features", True)),
        dense_features=bool(getattr(args, "dense_features", False)),
        inductive=inductive, seed=check_seed(_option(args, "seed", 0)), runs=runs, minibatch=minibatch,
        threads=threads, save=getattr(args, "save", None), load=load, log_every=log_every,
        quiet=bool(getattr(args, "quiet", False)), json=bool(getattr(args, "json", False)))


def _minibatch_settings(args, model, config, inductive, cut):
    """``{"batch_size", "fanouts"}`` of a mini-batch run (``--fanout``, ``--batch-size``), or None for full-batch."""
    fanouts, batch_size = getattr(args, "fanout", None), getattr(args, "batch_size", None)
    if fanouts is None and batch_size is None:
        return None
    if fanouts is None:
        raise CommandError("--batch-size needs --fanout, the neighbours sampled per layer (e.g. --fanout 15,10)")
    batch_size = 1024 if batch_size is None else batch_size
    if batch_size < 1:
        raise CommandError(f"--batch-size must be a positive integer, got {batch_size}")
    for fanout in fanouts:
        if fanout == 0 or fanout < -1:
            raise CommandError(f"--fanout values must be positive or -1 (all neighbours), got {fanout} in "
                               f"{','.join(map(str, fanouts))}")
    if model in ENCODER_MODELS:
        raise CommandError(f"--fanout/--batch-size train GNN stacks on sampled blocks; --model {model} is not one")
    if len(fanouts) != config["layers"]:
        raise CommandError(f"--fanout lists {len(fanouts)} values but the model has {config['layers']} layers "
                           "(one value per layer; set --layers or --hidden to match)")
    if inductive or cut:
        raise CommandError(f"--fanout/--batch-size do not combine with "
                           f"{'--inductive' if inductive else '--cut-test-edges'}")
    return {"batch_size": int(batch_size), "fanouts": list(fanouts)}


def _attention_settings(args, model, config):
    """``--heads`` and ``--attention-dropout`` into ``config``, for the models that take them."""
    heads, attention_dropout = getattr(args, "heads", None), getattr(args, "attention_dropout", None)
    if "heads" not in config:
        for option, value in (("--heads", heads), ("--attention-dropout", attention_dropout)):
            if value is not None:
                raise CommandError(f"{option} applies to the attention models (--model gat or gatv2), "
                                   f"not to --model {model}")
        return
    if heads is not None:
        if heads < 1:
            raise CommandError(f"--heads must be a positive integer, got {heads}")
        config["heads"] = int(heads)
    if attention_dropout is not None:
        if not 0.0 <= attention_dropout < 1.0:
            raise CommandError(f"--attention-dropout must be in [0, 1), got {attention_dropout}")
        config["attention_dropout"] = float(attention_dropout)
    elif getattr(args, "dropout", None) is not None:
        config["attention_dropout"] = float(args.dropout)   # one --dropout sets both, as the paper's one rate


def build(config, seed):
    """The model and its Adam optimizer for ``config``, seeded by ``seed``.

    ``config`` holds ``model``, ``in_channels``, ``out_channels`` and the
    entries of :func:`model_defaults`.
    """
    from fastgnn.models import GAE, VGAE, EncoderClassifier, build_model
    from fastgnn.nn.conv import get_conv
    from fastgnn.optim import Adam

    rng = np.random.default_rng(seed)
    if config["model"] in ENCODER_MODELS:
        encoder_class = GAE if config["model"] == "gae" else VGAE
        encoder = encoder_class(config["in_channels"], config["hidden"], config["latent"], bias=config["bias"],
                                rng=rng)
        model = EncoderClassifier(encoder, num_classes=config["out_channels"], dropout=config["dropout"], rng=rng)
        groups = [{"params": model.parameters(), "weight_decay": config["weight_decay"]}]
        return model, Adam(groups, lr=config["lr"])
    kwargs = dict(hidden_channels=config["hidden"], num_layers=config["layers"], dropout=config["dropout"],
                  bias=config["bias"], rng=rng)
    if config["aggr"] is not None and get_conv(config["model"]).aggrs is not None:
        kwargs["aggr"] = config["aggr"]
    kwargs.update({key: config[key] for key in ATTENTION_OPTIONS if config.get(key) is not None})
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
        record = {key: config[key] for key in ("task",) + _ARCHITECTURE if key in config}
        arrays[_CONFIG_KEY] = np.array(json.dumps(record))
    # A handle, not the path: np.savez would append .npz to a path without it.
    write_atomically(path, lambda handle: np.savez(handle, **arrays))


def load_weights(model, path, config=None):
    """Load weights written by :func:`save_weights` into ``model``.

    Each array's header and size are checked against ``model.state_dict()``
    before its data is read (:class:`fastgnn.cli._common.CheckedNpz`), so
    a damaged file or one claiming huge arrays is refused without reading it.

    A checkpoint of a graph autoencoder written by ``fastgnn train --task
    link --save`` is loaded into the encoder of an encoder model
    (``--model gae``/``vgae``), the head keeping its initial weights.

    Returns
    -------
    {'model', 'encoder'}
        What the weights were loaded into.

    Raises
    ------
    ValueError
        A missing, damaged or unreadable file, an architecture that differs
        from ``config``, or weights that do not fit the model (naming them).
    """
    with CheckedNpz(path, "--load") as weights:
        saved_config = weights.read_text(_CONFIG_KEY)
        saved = None
        if saved_config is not None:
            try:
                saved = json.loads(saved_config)
            except ValueError:
                saved = None
            if not isinstance(saved, dict):
                weights.fail(f"{_CONFIG_KEY} is not the architecture record --save writes")
        target = model
        if saved is not None and saved.get("task") == "link":
            # A pretrained graph autoencoder (fastgnn train --task link --save): it becomes the encoder.
            encoder = getattr(model, "encoder", None)
            if encoder is None or config is None or saved.get("model") != config.get("model"):
                weights.fail(f"holds a pretrained {saved.get('model')} encoder (from --task link); load it with "
                             f"--model {saved.get('model')}")
            keys = ("in_channels", "hidden", "latent", "bias")
            config = {key: config.get(key) for key in keys}
            saved = {key: saved.get(key) for key in keys}
            target = encoder
        if saved is not None and config is not None:
            differences = [f"{key}: saved {saved[key]!r}, now {config.get(key)!r}" for key in _ARCHITECTURE
                           if key in saved and saved[key] != config.get(key)]
            if differences:
                weights.fail("holds weights of another architecture (" + "; ".join(differences)
                             + "); pass the options it was trained with")
        arrays = weights.read_arrays(target.state_dict(), ignore=(_CONFIG_KEY,))
    try:
        target.load_state_dict(arrays)
    except (KeyError, ValueError, TypeError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        raise CommandError(f"--load {path}: the weights do not fit the model: {message}") from None
    return "encoder" if target is not model else "model"


# ---------------------------------------------------------------------- the command
def load_dataset(name, data_root, normalize_features, dense_features=False, *, memory_mapped=False):
    """Planetoid ``name`` from ``data_root``, or the embedded Cora when ``data_root`` is None.

    The features are a :class:`~fastgnn.SparseFeatures` matrix when at most
    :data:`SPARSE_DENSITY` of them are non-zero, unless ``dense_features``.
    A dataset folder's features stay memory-mapped with ``memory_mapped``.
    """
    from fastgnn.datasets import Planetoid, load_cora

    if is_dataset_folder(name):
        dataset = _folder_dataset(name, memory_mapped)
    elif data_root is None:
        if name != "cora":
            raise CommandError(f"--dataset {name} needs --data-root DIR, the folder of its raw files "
                               f"ind.{name}.* (only Cora ships with fastgnn)")
        dataset = load_cora(normalize_features=normalize_features)
    else:
        if not os.path.isdir(data_root):
            raise CommandError(f"--data-root {data_root}: no such directory")
        with dataset_errors(data_root, name):
            dataset = Planetoid(data_root, name, normalize_features=normalize_features)
    if not dense_features and np.count_nonzero(dataset.x) <= SPARSE_DENSITY * dataset.x.size:
        dataset.x = SparseFeatures.from_dense(dataset.x)
        dataset.sparse_features = True
    return dataset


def is_dataset_folder(name):
    """True when ``--dataset`` names a folder (a path, or an existing folder that is not a Planetoid name)."""
    return os.sep in name or (os.path.isdir(name) and name.lower() not in DATASETS)


class _FolderDataset:
    """A dataset folder read for full-batch training: the attributes the node task uses."""

    sparse_features = False

    def __init__(self, path, data, memory_mapped=False):
        if data.x is None or data.y is None or not data.split_names:
            raise CommandError(f"--dataset {path}: node classification needs features (x.npy), labels (y.npy) "
                               "and a split (split/<name>/)")
        self.name = data.name or os.path.basename(os.path.abspath(path))
        self.graph = data.graph
        self.x = data.x if memory_mapped else np.array(data.x)     # mini-batches read it row by row
        labelled = data.y >= 0                      # -1: no label; such nodes are left out of every mask
        self.y = np.where(labelled, data.y, 0)
        self.train_mask, self.val_mask, self.test_mask = (mask & labelled for mask in data.masks())
        self.num_features, self.num_classes = self.x.shape[1], max(int(data.num_classes or 0), 1)
        self._repr = repr(data)

    def __repr__(self):
        return self._repr


def _folder_dataset(path, memory_mapped=False):
    from fastgnn.datasets import OnDiskDataset

    with dataset_errors(None, path):
        return _FolderDataset(path, OnDiskDataset(path), memory_mapped)


def run(args, *, out=None):
    """Run the node task described by ``args``; returns the exit status (0 on success, 2 on bad input).

    Bad input (an option out of range, a missing dataset file, weights that
    do not fit) is reported as one line on stderr naming the option or file.
    """
    return run_task("node", _run, args, out, flush=True)


def _run(args, out):
    from fastgnn.train import train_node_classifier, train_node_classifier_minibatch

    s = resolve_settings(args)
    config = s["config"]
    if s["save"] is not None:
        check_writable(s["save"], "--save")     # now, not after training
    plot, history = getattr(args, "plot", None), getattr(args, "history", None)
    _report.check(plot, history)
    if plot is not None and config["epochs"] == 0:
        raise CommandError("--plot: --epochs 0 trains no epoch to draw")

    if getattr(args, "partitions", None) is not None:
        if plot is not None or history is not None:
            raise CommandError("--plot and --history do not apply to --partitions (rank 0 prints the progress "
                               "lines; --log-every 1 gives every epoch)")
        from fastgnn.cli.partitioned import run_partitioned

        with num_threads(s["threads"]):
            return run_partitioned(
                s, args, out, build=build, load_dataset=load_dataset, save_weights=save_weights,
                summarize=lambda results, seconds: _summary(s, s["config"], _Named(s["dataset"]), results, seconds))

    def say(line):
        print(line, file=out, flush=True)

    def progress(line):
        if not s["quiet"]:
            say(line)

    with num_threads(s["threads"]):
        started = time.perf_counter()
        minibatch = s["minibatch"]
        # A mini-batch gathers rows of dense features (the sampled blocks' input nodes).
        dataset = load_dataset(s["dataset"], s["data_root"], s["normalize_features"],
                               s["dense_features"] or minibatch is not None, memory_mapped=minibatch is not None)
        config.update(model=s["model"], in_channels=dataset.num_features, out_channels=dataset.num_classes)
        widths, num_nodes = _stored_widths(config), dataset.x.shape[0]
        if minibatch is None:
            needed = training_bytes(config["in_channels"], widths, config["out_channels"], config["layers"],
                                    num_nodes)
        else:
            # a batch's layers, then the layer-wise inference's two activations of the whole graph
            widest = max(widths if isinstance(widths, list) else [widths])
            needed = training_bytes(config["in_channels"], widths, config["out_channels"], config["layers"],
                                    minibatch["batch_size"]) + 2 * num_nodes * max(widest, config["out_channels"]) * 4
        check_memory(needed, f"--hidden {_widths_text(config['hidden'])} and --layers {config['layers']}")
        mode = "inductive" if s["inductive"] else "transductive" + (
            ", train-test edges cut" if s["cut_test_edges"] else "")
        features = "sparse features" if getattr(dataset, "sparse_features", False) else "dense features"
        if minibatch is not None:
            mode += ", mini-batches of {batch_size} seeds, fan-outs {fanouts}".format(**minibatch)
        progress(f"{dataset!r}, {features}, {mode}" + (", encoder frozen" if s["freeze"] else ""))
        attention = (f", heads {config['heads']} (output {config['output_heads']}), attention dropout "
                 f"{config['attention_dropout']}, {config['activation']}" if "heads" in config else "")
        progress("model {model}: hidden {hidden}, layers {layers}, aggr {aggr}, dropout {dropout}, bias {bias}"
                 "{attention}; Adam lr {lr}, weight decay {weight_decay} ({decay}); up to {epochs} epochs, early "
                 "stopping {early_stopping} ({patience})".format(attention=attention, **config))
        results, best = [], None
        runs_started = time.perf_counter()
        for index in range(s["runs"]):
            seed = s["seed"] + index
            model, optimizer = build(config, seed)
            if s["load"] is not None:
                loaded = load_weights(model, s["load"], config)
                if index == 0:
                    progress(f"loaded the {loaded} weights of {s['load']}")
            if s["freeze"] == "encoder":
                model.encoder.freeze()
            prefix = f"run {index + 1}/{s['runs']} " if s["runs"] > 1 else ""
            common = dict(epochs=config["epochs"], patience=config["patience"],
                          early_stopping=config["early_stopping"], progress="quiet" if s["quiet"] else None,
                          log_every=s["log_every"], log=None if s["quiet"] else (lambda line: say(prefix + line)))
            if minibatch is None:
                result = train_node_classifier(
                    model, dataset.graph, dataset.x, dataset.y, dataset.train_mask, dataset.val_mask,
                    dataset.test_mask, optimizer, inductive=s["inductive"], cut_test_edges=s["cut_test_edges"],
                    **common)
            else:
                result = train_node_classifier_minibatch(
                    model, dataset.graph, dataset.x, dataset.y, dataset.train_mask, dataset.val_mask,
                    dataset.test_mask, optimizer, fanouts=minibatch["fanouts"],
                    batch_size=minibatch["batch_size"], seed=seed, **common)
            results.append((seed, result))
            if best is None or result.val_acc > best[1].val_acc:
                best = (model, result)
            if s["runs"] > 1:
                timing = f", {1000 * result.seconds_per_epoch:.1f} ms/epoch" if result.epochs else ""
                progress(f"run {index + 1}/{s['runs']} (seed {seed}): {result.epochs} epochs, "
                         f"val acc {result.val_acc:.4f}, test acc {result.test_acc:.4f}{timing}")
                if index == 0:
                    progress(_report.estimate_line(time.perf_counter() - runs_started, 1, s["runs"]))
        if s["save"] is not None:
            save_weights(best[0], s["save"], config)
            progress(f"weights saved to {s['save']}")
        _report.write([result for _, result in results], plot, history, progress)
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


class _Named:
    """A stand-in dataset for :func:`_summary` (only its name is read)."""

    def __init__(self, name):
        self.name = name


def _stored_widths(config):
    """The widths each hidden layer outputs: ``hidden`` times the heads of an attention model."""
    heads = config.get("heads") or 1
    hidden = config["hidden"]
    return [width * heads for width in hidden] if isinstance(hidden, list) else hidden * heads


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
        "cut_test_edges": s["cut_test_edges"],
        "freeze": s["freeze"],
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
                                                "epochs") + ATTENTION_OPTIONS if key in config},
        "minibatch": s["minibatch"],
        "normalize_features": s["normalize_features"],
        "sparse_features": bool(getattr(dataset, "sparse_features", False)),
        "threads": fastgnn.get_num_threads(),
        "total_seconds": seconds,
    }
    if s["save"] is not None:
        summary["saved"] = s["save"]
    if s["load"] is not None:
        summary["loaded"] = s["load"]
    return summary


def main(argv=None):
    """``python -m fastgnn.cli.node``: the same as ``python -m fastgnn train --task node``."""
    from fastgnn.cli._common import ArgumentParser

    parser = add_arguments(ArgumentParser(prog="fastgnn train", description=__doc__.split("\n\n")[0]))
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
