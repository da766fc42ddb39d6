"""Datasets shipped inside the package, so they load with no network and no data folder.

A compact ``.npz`` holds what :func:`fastgnn.datasets.planetoid.read_planetoid_data`
returns, losslessly and small:

- ``feature_indptr`` (int32) and ``feature_indices`` (uint16 or int32): the
  nonzero positions of the features, row by row (CSR); ``feature_values``
  (float32) only when some nonzero is not 1;
- ``edges`` (uint16 or int32, shape (2, E/2)): each undirected edge once,
  as ``(i, j)`` with ``i < j``; the loader adds the reverse direction;
- ``labels`` (uint8), ``train_index``, ``val_index``, ``test_index``;
- ``name``, ``num_features``, ``num_classes``, ``format_version``.

``scripts/build_embedded_cora.py`` writes ``_embedded/cora.npz`` from the raw files.
"""
import importlib.resources

import numpy as np

from fastgnn.datasets.planetoid import Planetoid
from fastgnn.graph.transforms import to_undirected

__all__ = ["load_cora", "save_compact", "load_compact"]

FORMAT_VERSION = 1


def load_cora(normalize_features=False, sparse_features=False):
    """Cora, from the copy shipped inside the package.

    The same dataset as ``Planetoid(root, 'cora')`` on the raw files: 2,708
    nodes, 10,556 directed edges (5,278 undirected), 1,433 binary features,
    7 classes, 140 / 500 / 1,000 nodes for training / validation / test.

    Parameters
    ----------
    normalize_features : bool
        Divide each feature row by its sum (the GCN paper's preprocessing).
    sparse_features : bool
        Return ``x`` as a :class:`~fastgnn.SparseFeatures` matrix (1.3 % of
        Cora's features are non-zero).

    Returns
    -------
    Planetoid

    Examples
    --------
    >>> from fastgnn.datasets import load_cora
    >>> cora = load_cora()
    >>> cora.graph.num_nodes, cora.graph.num_edges, cora.num_features, cora.num_classes
    (2708, 10556, 1433, 7)
    >>> int(cora.train_mask.sum()), int(cora.val_mask.sum()), int(cora.test_mask.sum())
    (140, 500, 1000)
    """
    resource = importlib.resources.files("fastgnn.datasets").joinpath("_embedded", "cora.npz")
    with resource.open("rb") as file:
        return load_compact(file, normalize_features=normalize_features, sparse_features=sparse_features)


def save_compact(dataset, path):
    """Write a :class:`Planetoid` dataset (its raw features) to a compact ``.npz``.

    The dataset must have been loaded with ``normalize_features=False``, and
    its graph must be symmetric, unweighted and without self-loops.
    """
    if dataset.normalize_features or getattr(dataset, "sparse_features", False):
        raise ValueError("save the raw, dense features: load the dataset with normalize_features=False "
                         "and sparse_features=False")
    graph = dataset.graph
    if graph.edge_weight is not None:
        raise ValueError("the compact format stores unweighted graphs only")
    edge_index = graph.to_edge_index()
    if not np.array_equal(to_undirected(edge_index, graph.num_nodes), _sorted(edge_index)):
        raise ValueError("the compact format stores symmetric graphs without duplicate edges only")
    if np.any(edge_index[0] == edge_index[1]):
        raise ValueError("the compact format stores graphs without self-loops only")
    num_nodes, num_features = dataset.x.shape
    node_dtype = np.uint16 if num_nodes <= np.iinfo(np.uint16).max + 1 else np.int32
    feature_dtype = np.uint16 if num_features <= np.iinfo(np.uint16).max + 1 else np.int32
    rows, columns = np.nonzero(dataset.x)
    values = dataset.x[rows, columns]
    arrays = {
        "format_version": np.array(FORMAT_VERSION),
        "name": np.array(dataset.name),
        "num_features": np.array(num_features),
        "num_classes": np.array(dataset.num_classes),
        "feature_indptr": np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=num_nodes))]).astype(np.int32),
        "feature_indices": columns.astype(feature_dtype),
        "edges": edge_index[:, edge_index[0] < edge_index[1]].astype(node_dtype),
        "labels": dataset.y.astype(np.uint8 if dataset.num_classes <= 256 else np.int32),
        "train_index": np.flatnonzero(dataset.train_mask).astype(node_dtype),
        "val_index": np.flatnonzero(dataset.val_mask).astype(node_dtype),
        "test_index": np.flatnonzero(dataset.test_mask).astype(node_dtype),
    }
    if not np.all(values == 1):
        arrays["feature_values"] = values.astype(np.float32)
    np.savez_compressed(path, **arrays)


def load_compact(file, normalize_features=False, sparse_features=False):
    """A :class:`Planetoid` dataset from a file written by :func:`save_compact`."""
    with np.load(file, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    version = int(arrays["format_version"])
    if version != FORMAT_VERSION:
        raise ValueError(f"compact dataset format {version} is not supported (expected {FORMAT_VERSION})")
    indptr = arrays["feature_indptr"].astype(np.int64)
    num_nodes = indptr.shape[0] - 1
    x = np.zeros((num_nodes, int(arrays["num_features"])), dtype=np.float32)
    rows = np.repeat(np.arange(num_nodes), np.diff(indptr))
    x[rows, arrays["feature_indices"].astype(np.int64)] = arrays.get("feature_values", 1.0)
    edges = arrays["edges"].astype(np.int64)
    return Planetoid._from_arrays(
        str(arrays["name"]),
        x=x,
        y=arrays["labels"].astype(np.int64),
        edge_index=to_undirected(edges, num_nodes),
        train_index=arrays["train_index"].astype(np.int64),
        val_index=arrays["val_index"].astype(np.int64),
        test_index=arrays["test_index"].astype(np.int64),
        num_classes=int(arrays["num_classes"]),
        normalize_features=normalize_features,
        sparse_features=sparse_features,
    )


def _sorted(edge_index):
    order = np.lexsort((edge_index[1], edge_index[0]))
    return edge_index[:, order]
