"""The Planetoid citation graphs (Cora, CiteSeer, PubMed) read from their raw files.

The raw format is the one of Yang et al. (2016), "Revisiting Semi-Supervised
Learning with Graph Embeddings", also read by the GCN paper and PyTorch
Geometric: eight files ``ind.{name}.{x,tx,allx,y,ty,ally,graph,test.index}``,
the first seven Python 2 pickles, the last a text file of node ids.
"""
import os
import pickle

import numpy as np

from fastgnn.graph import Graph
from fastgnn.transforms import remove_self_loops, to_undirected

__all__ = ["Planetoid", "read_planetoid_data", "row_normalize", "PLANETOID_NAMES"]

# lower-case file prefix -> the name the dataset is known by
PLANETOID_NAMES = {"cora": "Cora", "citeseer": "CiteSeer", "pubmed": "PubMed"}
_SUFFIXES = ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index")
_NUM_VALIDATION = 500


class Planetoid:
    """A Planetoid citation graph with its features, labels and standard split.

    Reads the raw files exactly as PyTorch Geometric's ``Planetoid`` does:

    - features: the rows of ``allx`` then those of ``tx``, where ``tx[k]``
      belongs to node ``test.index[k]``; test ids with no row in ``tx``
      (CiteSeer's isolated nodes) get a zero feature row and label 0, and
      belong to no split;
    - labels: the argmax of the one-hot rows of ``ally`` and ``ty``;
    - split: training nodes ``0 .. len(y) - 1`` (20 per class), validation
      the next 500 nodes, test the 1,000 ids of ``test.index``;
    - graph: every edge of the adjacency lists in both directions, without
      duplicates and without self-loops, in (source, destination) order.

    Parameters
    ----------
    root : str or os.PathLike
        The folder holding the files ``ind.{name}.*``. The folders
        ``root/{name}`` and ``root/{name}/raw`` (PyG's layout) are also looked in.
    name : {'cora', 'citeseer', 'pubmed'}
        Case-insensitive.
    normalize_features : bool
        Divide each feature row by its sum (the GCN paper's preprocessing;
        rows summing to 0 stay 0). See :func:`row_normalize`.

    Attributes
    ----------
    name : str
        The lower-case name (``'cora'``).
    graph : Graph
        Symmetric, unweighted, without self-loops or duplicate edges.
    x : ndarray of float32, shape (num_nodes, num_features)
    y : ndarray of int64, shape (num_nodes,)
    train_mask, val_mask, test_mask : ndarray of bool, shape (num_nodes,)
    num_nodes, num_features, num_classes : int
    root : str or None
        The folder the files were read from (None for an embedded copy).

    Raises
    ------
    FileNotFoundError
        A raw file is missing (the message names it).
    ValueError
        An unknown name, or files that are unreadable or inconsistent.

    Notes
    -----
    The pickles are read with an unpickler that only builds NumPy arrays,
    SciPy sparse matrices and plain containers, so a file cannot run code.
    Sizes: Cora 2,708 nodes, 10,556 edges, 1,433 features, 7 classes;
    CiteSeer 3,327 nodes, 9,104 edges, 3,703 features, 6 classes; PubMed
    19,717 nodes, 88,648 edges, 500 features, 3 classes.
    """

    def __init__(self, root, name, normalize_features=False):
        key = _dataset_key(name)
        folder = _find_folder(root, key)
        data = read_planetoid_data(folder, key)
        self._fill(key, folder, normalize_features, **data)

    @classmethod
    def _from_arrays(cls, name, *, x, y, edge_index, train_index, val_index, test_index,
                     num_classes, normalize_features=False, root=None):
        """A dataset from already-read arrays (the embedded copies use this)."""
        dataset = cls.__new__(cls)
        dataset._fill(_dataset_key(name), root, normalize_features, x=x, y=y, edge_index=edge_index,
                      train_index=train_index, val_index=val_index, test_index=test_index,
                      num_classes=num_classes)
        return dataset

    def _fill(self, name, root, normalize_features, *, x, y, edge_index, train_index, val_index,
              test_index, num_classes):
        num_nodes = x.shape[0]
        self.name = name
        self.root = None if root is None else os.fspath(root)
        self.graph = Graph.from_edge_index(edge_index, num_nodes=num_nodes)
        x = np.ascontiguousarray(x, dtype=np.float32)
        self.x = row_normalize(x) if normalize_features else x
        self.y = np.ascontiguousarray(y, dtype=np.int64)
        self.train_mask = _index_to_mask(train_index, num_nodes)
        self.val_mask = _index_to_mask(val_index, num_nodes)
        self.test_mask = _index_to_mask(test_index, num_nodes)
        self.num_classes = int(num_classes)
        self.normalize_features = bool(normalize_features)

    @property
    def num_nodes(self):
        return self.x.shape[0]

    @property
    def num_features(self):
        return self.x.shape[1]

    @property
    def num_edges(self):
        return self.graph.num_edges

    def __repr__(self):
        return (f"Planetoid(name={self.name!r}, num_nodes={self.num_nodes}, num_edges={self.num_edges}, "
                f"num_features={self.num_features}, num_classes={self.num_classes})")


def row_normalize(x):
    """Each row divided by its sum; rows summing to 0 stay 0.

    The sums are taken in float64 and the result has the dtype of ``x``.
    """
    x = np.asarray(x)
    sums = x.sum(axis=1, dtype=np.float64)
    scale = np.zeros_like(sums)
    np.divide(1.0, sums, out=scale, where=sums != 0)
    return (x * scale[:, None]).astype(x.dtype, copy=False)


def read_planetoid_data(folder, name):
    """The arrays of one Planetoid dataset, read from ``folder/ind.{name}.*``.

    Returns
    -------
    dict
        ``x`` (float32, dense, not normalized), ``y`` (int64), ``edge_index``
        (int64, symmetric, coalesced, no self-loops), ``train_index``,
        ``val_index``, ``test_index`` (sorted int64 ids) and ``num_classes``.
        See :class:`Planetoid` for how they are built.
    """
    name = _dataset_key(name)
    paths = {suffix: os.path.join(os.fspath(folder), f"ind.{name}.{suffix}") for suffix in _SUFFIXES}
    for path in paths.values():
        if not os.path.isfile(path):
            raise FileNotFoundError(f"Planetoid file not found: {path}")
    x, tx, allx = (_read_matrix(paths[s], s) for s in ("x", "tx", "allx"))
    y, ty, ally = (_read_matrix(paths[s], s) for s in ("y", "ty", "ally"))
    adjacency = _read_pickle(paths["graph"])
    test_index = _read_index_file(paths["test.index"])

    num_features = allx.shape[1]
    num_classes = ally.shape[1]
    matrices = {"x": x, "tx": tx, "allx": allx, "y": y, "ty": ty, "ally": ally}
    for suffix, reference in (("x", "allx"), ("tx", "allx"), ("y", "ally"), ("ty", "ally")):
        if matrices[suffix].shape[1] != matrices[reference].shape[1]:
            raise ValueError(f"{paths[suffix]} has {matrices[suffix].shape[1]} columns but "
                             f"{paths[reference]} has {matrices[reference].shape[1]}")
    for features, labels in (("x", "y"), ("tx", "ty"), ("allx", "ally")):
        if matrices[features].shape[0] != matrices[labels].shape[0]:
            raise ValueError(f"{paths[features]} has {matrices[features].shape[0]} rows but "
                             f"{paths[labels]} has {matrices[labels].shape[0]}")
    if test_index.shape[0] != tx.shape[0]:
        raise ValueError(f"{paths['test.index']} lists {test_index.shape[0]} nodes but {paths['tx']} "
                         f"has {tx.shape[0]} rows")

    # Test node test_index[k] has features tx[k]. Its ids start right after
    # the rows of allx; ids in their range missing from the file (CiteSeer's
    # isolated nodes) get zero features and labels, as PyG fills them.
    num_labelled = allx.shape[0]
    sorted_test = np.sort(test_index)
    if sorted_test.size:
        if np.any(sorted_test[1:] == sorted_test[:-1]):
            raise ValueError(f"{paths['test.index']} lists a node twice")
        if sorted_test[0] != num_labelled:
            raise ValueError(f"{paths['test.index']} must start its ids at {num_labelled} "
                             f"(the row count of ind.{name}.allx), its smallest id is {sorted_test[0]}")
    num_nodes = int(sorted_test[-1]) + 1 if sorted_test.size else num_labelled
    features = np.zeros((num_nodes, num_features), dtype=np.float32)
    features[:num_labelled] = allx
    features[test_index] = tx
    one_hot = np.zeros((num_nodes, num_classes), dtype=ally.dtype)
    one_hot[:num_labelled] = ally
    one_hot[test_index] = ty
    labels = one_hot.argmax(axis=1).astype(np.int64)

    num_train = y.shape[0]
    if num_train + _NUM_VALIDATION > num_labelled:
        raise ValueError(f"{paths['allx']} has {num_labelled} rows, fewer than the {num_train} training "
                         f"and {_NUM_VALIDATION} validation nodes")
    return {
        "x": features,
        "y": labels,
        "edge_index": _edge_index_from_lists(adjacency, num_nodes, paths["graph"]),
        "train_index": np.arange(num_train, dtype=np.int64),
        "val_index": np.arange(num_train, num_train + _NUM_VALIDATION, dtype=np.int64),
        "test_index": sorted_test.astype(np.int64),
        "num_classes": num_classes,
    }


# ---------------------------------------------------------------------- helpers
def _dataset_key(name):
    if not isinstance(name, str) or name.lower() not in PLANETOID_NAMES:
        raise ValueError(f"name must be one of {', '.join(PLANETOID_NAMES)} (any case), got {name!r}")
    return name.lower()


def _find_folder(root, name):
    """The first of root, root/name, root/name/raw holding a file ind.{name}.*."""
    root = os.fspath(root)
    candidates = [root, os.path.join(root, name), os.path.join(root, name, "raw")]
    for folder in candidates:
        if any(os.path.isfile(os.path.join(folder, f"ind.{name}.{s}")) for s in _SUFFIXES):
            return folder
    raise FileNotFoundError(
        f"Planetoid file not found: {os.path.join(root, f'ind.{name}.x')} "
        f"(also looked in {candidates[1]} and {candidates[2]}); root must be the folder "
        f"holding the raw files ind.{name}.{{x,tx,allx,y,ty,ally,graph,test.index}}")


def _index_to_mask(index, size):
    mask = np.zeros(size, dtype=bool)
    mask[np.asarray(index, dtype=np.int64)] = True
    return mask


def _read_matrix(path, suffix):
    """A pickled dense array or scipy sparse matrix as a dense 2-D ndarray."""
    value = _read_pickle(path)
    if hasattr(value, "toarray"):
        value = value.toarray()
    if not isinstance(value, np.ndarray) or value.ndim != 2 or value.dtype.kind not in "biuf":
        raise ValueError(f"{path} must hold a 2-D numeric matrix, got "
                         f"{getattr(value, 'shape', type(value).__name__)}")
    return value


def _edge_index_from_lists(adjacency, num_nodes, path):
    """Symmetric, coalesced, loop-free edge list of a dict of adjacency lists."""
    if not isinstance(adjacency, dict):
        raise ValueError(f"{path} must hold a dict of adjacency lists, got {type(adjacency).__name__}")
    try:
        sources = np.fromiter((node for node, neighbours in adjacency.items() for _ in neighbours),
                              dtype=np.int64)
        targets = np.fromiter((int(n) for neighbours in adjacency.values() for n in neighbours),
                              dtype=np.int64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path} must map node ids to lists of node ids ({exc})") from None
    edge_index = np.stack([sources, targets])
    outside = edge_index[(edge_index < 0) | (edge_index >= num_nodes)]
    if outside.size:
        raise ValueError(f"{path} names node {int(outside[0])}, out of range for the {num_nodes} "
                         "nodes of the feature files")
    return remove_self_loops(to_undirected(edge_index, num_nodes))


def _read_index_file(path):
    """The ids of a text file with one integer per line."""
    with open(path, encoding="ascii") as file:
        lines = [line.strip() for line in file]
    try:
        return np.array([int(line) for line in lines if line], dtype=np.int64)
    except ValueError as exc:
        raise ValueError(f"{path} must hold one integer per line ({exc})") from None


def _read_pickle(path):
    try:
        with open(path, "rb") as file:
            return _RawUnpickler(file, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, IndexError, TypeError,
            ValueError) as exc:
        raise ValueError(f"cannot read {path} as a Planetoid pickle: {exc}") from None


def _numpy_global(name):
    try:
        from numpy._core import multiarray
    except ImportError:  # NumPy < 1.26
        from numpy.core import multiarray
    return getattr(multiarray, name)


_BUILTINS = {"list": list, "dict": dict, "set": set, "frozenset": frozenset, "tuple": tuple,
             "int": int, "long": int, "float": float, "complex": complex, "bool": bool,
             "str": str, "unicode": str, "bytes": bytes, "bytearray": bytearray, "slice": slice}
_SPARSE = {"csr_matrix", "csc_matrix", "coo_matrix", "lil_matrix", "dok_matrix", "bsr_matrix", "dia_matrix",
           "csr_array", "csc_array", "coo_array", "lil_array", "dok_array", "bsr_array", "dia_array"}


class _RawUnpickler(pickle.Unpickler):
    """Builds only arrays, sparse matrices and containers; maps old module paths to current ones.

    The files were written by Python 2 with old NumPy and SciPy, whose module
    paths (``numpy.core.multiarray``, ``scipy.sparse.csr``) are deprecated.
    """

    def find_class(self, module, name):
        if module in ("__builtin__", "builtins") and name in _BUILTINS:
            return _BUILTINS[name]
        if module == "collections" and name in ("defaultdict", "OrderedDict"):
            import collections
            return getattr(collections, name)
        if module == "_codecs" and name == "encode":  # bytes, as Python 3 writes them in protocol 2
            import _codecs
            return _codecs.encode
        if module == "numpy" and name in ("ndarray", "dtype"):
            return getattr(np, name)
        if module in ("numpy.core.multiarray", "numpy._core.multiarray") and name in ("_reconstruct", "scalar"):
            return _numpy_global(name)
        if (module == "scipy.sparse" or module.startswith("scipy.sparse.")) and name in _SPARSE:
            import scipy.sparse
            return getattr(scipy.sparse, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: not part of the Planetoid format")
