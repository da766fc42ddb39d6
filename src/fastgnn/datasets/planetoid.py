"""The Planetoid citation graphs (Cora, CiteSeer, PubMed) read from their raw files.

The raw format is the one of Yang et al. (2016), "Revisiting Semi-Supervised
Learning with Graph Embeddings", also read by the GCN paper and PyTorch
Geometric: eight files ``ind.{name}.{x,tx,allx,y,ty,ally,graph,test.index}``,
the first seven Python 2 pickles, the last a text file of node ids.
"""
import codecs
import collections
import io
import itertools
import math
import os
import pickle
import re
import struct

import numpy as np
import scipy.sparse as sp

from fastgnn.graph import Graph, SparseFeatures
from fastgnn.graph.transforms import remove_self_loops, to_undirected

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
        ``root/raw``, ``root/{Name}`` and ``root/{Name}/raw`` (PyG's layout:
        ``torch_geometric.datasets.Planetoid(root, "Cora")`` downloads to
        ``root/Cora/raw``) are also looked in, folder names in any case.
    name : {'cora', 'citeseer', 'pubmed'}
        Case-insensitive.
    normalize_features : bool
        Divide each feature row by its sum (the GCN paper's preprocessing;
        rows summing to 0 stay 0). See :func:`row_normalize`.
    sparse_features : bool
        Return ``x`` as a :class:`~fastgnn.SparseFeatures` matrix (the
        bag-of-words features are 1-10 % non-zero): the first layer's
        product and dropout then run over the stored values only. The
        values are those of the dense ``x``.

    Attributes
    ----------
    name : str
        The lower-case name (``'cora'``).
    graph : Graph
        Symmetric, unweighted, without self-loops or duplicate edges.
    x : ndarray of float32, shape (num_nodes, num_features), or SparseFeatures
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
        An unknown name, or files that are corrupt, inconsistent, or ask for
        sizes they cannot justify (see :func:`read_planetoid_data`); the
        message starts with the path of the file at fault.

    Notes
    -----
    The pickles are read by a small interpreter of the pickle format that
    builds only plain containers, numbers, and NumPy arrays and SciPy
    sparse matrices (dense, CSR, CSC or COO) rebuilt from checked raw
    arrays, so a file can neither run code nor make NumPy or SciPy read out
    of bounds. Sizes: Cora 2,708 nodes, 10,556 edges, 1,433 features, 7 classes;
    CiteSeer 3,327 nodes, 9,104 edges, 3,703 features, 6 classes; PubMed
    19,717 nodes, 88,648 edges, 500 features, 3 classes.
    """

    def __init__(self, root, name, normalize_features=False, sparse_features=False):
        key = _dataset_key(name)
        folder = _find_folder(root, key)
        data = read_planetoid_data(folder, key)
        self._fill(key, folder, normalize_features, sparse_features, **data)

    @classmethod
    def _from_arrays(cls, name, *, x, y, edge_index, train_index, val_index, test_index,
                     num_classes, normalize_features=False, sparse_features=False, root=None):
        """A dataset from already-read arrays (the embedded copies use this)."""
        dataset = cls.__new__(cls)
        dataset._fill(_dataset_key(name), root, normalize_features, sparse_features, x=x, y=y,
                      edge_index=edge_index, train_index=train_index, val_index=val_index,
                      test_index=test_index, num_classes=num_classes)
        return dataset

    def _fill(self, name, root, normalize_features, sparse_features, *, x, y, edge_index, train_index,
              val_index, test_index, num_classes):
        num_nodes = x.shape[0]
        self.name = name
        self.root = None if root is None else os.fspath(root)
        self.graph = Graph.from_edge_index(edge_index, num_nodes=num_nodes)
        x = np.ascontiguousarray(x, dtype=np.float32)
        x = row_normalize(x) if normalize_features else x
        self.x = SparseFeatures.from_dense(x) if sparse_features else x
        self.y = np.ascontiguousarray(y, dtype=np.int64)
        self.train_mask = _index_to_mask(train_index, num_nodes)
        self.val_mask = _index_to_mask(val_index, num_nodes)
        self.test_mask = _index_to_mask(test_index, num_nodes)
        self.num_classes = int(num_classes)
        self.normalize_features = bool(normalize_features)
        self.sparse_features = bool(sparse_features)

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

    Every file is checked before anything is built from it, and sizes are
    taken only where the files can justify them:

    - a sparse matrix is rebuilt from its checked arrays (``indptr``
      starting at 0, never decreasing, ending at the number of values;
      indices inside the shape; as many values as indices);
    - a sparse matrix is expanded to a dense table only when the table has
      at most 512 cells per stored value (or at most 2**22 cells): real
      features are far denser (CiteSeer, the sparsest, has about 120 cells
      per value), so a small file cannot ask for gigabytes of zeros;
    - the node count is ``max(test.index) + 1``, which may exceed the rows of
      ``allx`` and ``tx`` (CiteSeer's 15 test ids without a row) but at most
      doubles them;
    - the adjacency lists hold at most one entry per byte of their file
      (an entry takes a byte or more unless lists are shared).

    Returns
    -------
    dict
        ``x`` (float32, dense, not normalized), ``y`` (int64), ``edge_index``
        (int64, symmetric, coalesced, no self-loops), ``train_index``,
        ``val_index``, ``test_index`` (sorted int64 ids) and ``num_classes``.
        See :class:`Planetoid` for how they are built.

    Raises
    ------
    FileNotFoundError
        A file is missing (the message names it).
    ValueError
        A file that is corrupt, inconsistent with the others, or asks for
        more than it can justify; the message starts with the file's path.
    """
    name = _dataset_key(name)
    paths = {suffix: os.path.join(os.fspath(folder), f"ind.{name}.{suffix}") for suffix in _SUFFIXES}
    for path in paths.values():
        if not os.path.isfile(path):
            raise FileNotFoundError(f"Planetoid file not found: {path}")
    matrices = {suffix: _read_matrix(paths[suffix]) for suffix in ("x", "tx", "allx", "y", "ty", "ally")}
    adjacency, graph_bytes = _load_pickle(paths["graph"])
    test_index = _read_index_file(paths["test.index"])
    tx, allx, ty, ally = (matrices[s] for s in ("tx", "allx", "ty", "ally"))

    num_features = allx.shape[1]
    num_classes = ally.shape[1]
    if num_classes == 0:
        raise ValueError(f"{paths['ally']} has no columns: the labels must be one-hot rows of at least one class")
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
    num_rows = num_labelled + tx.shape[0]
    num_nodes = int(sorted_test[-1]) + 1 if sorted_test.size else num_labelled
    if num_nodes > 2 * num_rows:
        raise ValueError(f"{paths['test.index']} lists node {num_nodes - 1}, but the feature files have rows for "
                         f"{num_rows} nodes: ids without a row may at most double that, to {2 * num_rows} nodes")
    _check_expansion(num_nodes, num_features, _stored(allx) + _stored(tx), f"{paths['allx']} and {paths['tx']}")
    _check_expansion(num_nodes, num_classes, _stored(ally) + _stored(ty), f"{paths['ally']} and {paths['ty']}")
    num_train = matrices["y"].shape[0]
    if num_train + _NUM_VALIDATION > num_labelled:
        raise ValueError(f"{paths['allx']} has {num_labelled} rows, fewer than the {num_train} training "
                         f"and {_NUM_VALIDATION} validation nodes")
    edge_index = _edge_index_from_lists(adjacency, num_nodes, paths["graph"], graph_bytes)

    features = np.zeros((num_nodes, num_features), dtype=np.float32)
    features[:num_labelled] = _to_dense(allx, paths["allx"])
    features[test_index] = _to_dense(tx, paths["tx"])
    ally = _to_dense(ally, paths["ally"])
    one_hot = np.zeros((num_nodes, num_classes), dtype=ally.dtype)
    one_hot[:num_labelled] = ally
    one_hot[test_index] = _to_dense(ty, paths["ty"])
    labels = one_hot.argmax(axis=1).astype(np.int64)
    return {
        "x": features,
        "y": labels,
        "edge_index": edge_index,
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
    """The first folder holding a file ``ind.{name}.*`` among ``root``, ``root/raw``, ``root/<Name>``, ``root/<Name>/raw``.

    ``<Name>`` is any sub-folder whose name is ``name`` in any case (PyG's
    ``Planetoid(root, "Cora")`` keeps its files in ``root/Cora/raw``), and
    ``raw`` matches in any case too.
    """
    root = os.fspath(root)
    candidates = [root, *_children(root, "raw")]
    for folder in _children(root, name):
        candidates += [folder, *_children(folder, "raw")]
    for folder in candidates:
        if any(os.path.isfile(os.path.join(folder, f"ind.{name}.{s}")) for s in _SUFFIXES):
            return folder
    looked = [root, os.path.join(root, "raw"), os.path.join(root, PLANETOID_NAMES[name]),
              os.path.join(root, PLANETOID_NAMES[name], "raw")]
    looked += [folder for folder in candidates if folder not in looked]
    raise FileNotFoundError(
        f"Planetoid file not found: ind.{name}.x (looked in {', '.join(looked)}, folder names in any case); "
        f"root must be the folder holding the raw files ind.{name}.{{x,tx,allx,y,ty,ally,graph,test.index}}, "
        f"or a parent of it in PyG's layout (root/{PLANETOID_NAMES[name]}/raw)")


def _children(folder, name):
    """The paths of the sub-folders of ``folder`` whose name is ``name`` in any case, the exact spelling first."""
    try:
        entries = sorted(os.listdir(folder))
    except OSError:
        return []
    found = [entry for entry in entries if entry.lower() == name.lower()
             and os.path.isdir(os.path.join(folder, entry))]
    return [os.path.join(folder, entry) for entry in sorted(found, key=lambda entry: entry != name)]


def _index_to_mask(index, size):
    mask = np.zeros(size, dtype=bool)
    mask[np.asarray(index, dtype=np.int64)] = True
    return mask


def _edge_index_from_lists(adjacency, num_nodes, path, file_bytes):
    """Symmetric, coalesced, loop-free edge list of a dict of adjacency lists."""
    if not isinstance(adjacency, dict):
        raise ValueError(f"{path} must hold a dict of adjacency lists, got {_describe(adjacency)}")
    neighbour_lists = list(adjacency.values())
    if not _SEQUENCES.issuperset(map(type, neighbour_lists)):
        node, bad = next((k, v) for k, v in adjacency.items() if type(v) not in _SEQUENCES)
        raise ValueError(f"{path}: the neighbours of node {_short(node)} must be a list of node ids, "
                         f"got {_describe(bad)}")
    counts = np.fromiter(map(len, neighbour_lists), dtype=np.int64, count=len(neighbour_lists))
    total = int(counts.sum())
    if total > file_bytes:  # only lists shared through the pickle's memo take less than a byte per entry
        raise ValueError(f"{path} lists {total} neighbours, more than its {file_bytes} bytes can hold")
    sources = np.repeat(_node_ids(list(adjacency), path, "node id"), counts)
    targets = _node_ids(list(itertools.chain.from_iterable(neighbour_lists)), path, "neighbour node id")
    edge_index = np.stack([sources, targets])
    outside = edge_index[(edge_index < 0) | (edge_index >= num_nodes)]
    if outside.size:
        raise ValueError(f"{path} names node {int(outside[0])}, out of range for the {num_nodes} "
                         "nodes of the feature files")
    return remove_self_loops(to_undirected(edge_index, num_nodes))


def _node_ids(values, path, what):
    """A list of node ids as int64; each must be an int or a NumPy integer (not a bool, a float or a string)."""
    kinds = set(map(type, values))
    if not kinds <= _INTEGER_TYPES:
        bad = next(v for v in values if type(v) not in _INTEGER_TYPES)
        raise ValueError(f"{path}: {what} {_short(bad)} is not an integer ({type(bad).__name__})")
    if kinds != {int}:
        values = [int(v) for v in values]
    try:
        return np.array(values, dtype=np.int64)
    except OverflowError:
        bad = next(v for v in values if not -2 ** 63 <= v < 2 ** 63)
        raise ValueError(f"{path}: {what} {_short(bad)} is out of range") from None


_INTEGER_LINE = re.compile(r"[+-]?[0-9]{1,18}")


def _read_index_file(path):
    """The ids of a text file with one integer per line (blank lines skipped)."""
    with open(path, "rb") as file:
        content = file.read()
    ids = []
    for number, line in enumerate(re.split(rb"\r\n|\r|\n", content), 1):
        line = line.strip()
        if not line:
            continue
        if not line.isascii():
            raise ValueError(f"{path} line {number}: not ASCII text (the file must hold one integer per line)")
        if not _INTEGER_LINE.fullmatch(line.decode("ascii")):
            raise ValueError(f"{path} line {number}: {_short(line.decode('ascii'))} is not an integer of at "
                             "most 18 digits (the file must hold one integer per line)")
        ids.append(int(line))
    return np.array(ids, dtype=np.int64)


# ---------------------------------------------------------------------- matrices
_MAX_SIZE = 2 ** 31 - 1  # rows and columns of a matrix; products of two fit int64
_CELLS_PER_VALUE = 512
_SMALL_TABLE = 2 ** 22  # cells (16 MB of float32) expanded whatever the density
_SEQUENCES = frozenset({list, tuple, set, frozenset})
_INTEGER_TYPES = frozenset({int} | {np.dtype(f"{kind}{size}").type for kind in "iu" for size in (1, 2, 4, 8)})


def _read_matrix(path):
    """A pickled dense array or sparse matrix, checked: a fresh ndarray or a fresh scipy matrix."""
    value, _ = _load_pickle(path)
    try:
        return _matrix(value)
    except (ValueError, TypeError, OverflowError) as exc:
        raise ValueError(f"{path}: {exc}") from None


def _matrix(value):
    if isinstance(value, _ArrayStandIn):
        array = _array(value, "the matrix", 2)
        return array.astype(array.dtype.newbyteorder("="), order="C")
    if isinstance(value, _SparseStandIn):
        try:
            return _sparse(value)
        except ValueError as exc:
            raise ValueError(f"inconsistent {value.format.upper()} matrix: {exc}") from None
    raise ValueError(f"must hold a 2-D numeric matrix (a NumPy array or a SciPy sparse matrix), "
                     f"got {_describe(value)}")


def _array(stand_in, what, ndim):
    """A read-only view of a pickled array's bytes, once its shape, dtype and size agree."""
    if not isinstance(stand_in, _ArrayStandIn):
        raise ValueError(f"{what} must be a NumPy array, got {_describe(stand_in)}")
    shape, raw = stand_in.shape, stand_in.raw
    if raw is None:
        raise ValueError(f"{what} is an array without its data")
    if type(shape) is not tuple or len(shape) != ndim or \
            any(type(s) is not int or s < 0 or s.bit_length() > 62 for s in shape):
        raise ValueError(f"{what} must have {ndim} non-negative sizes, got shape {_short(shape)}")
    dtype = stand_in.dtype.resolve()
    count = math.prod(shape)
    if count * dtype.itemsize != len(raw):
        raise ValueError(f"{what} of shape {shape} and dtype {dtype} needs {count * dtype.itemsize} bytes, "
                         f"the file holds {len(raw)}")
    array = np.frombuffer(raw, dtype=dtype, count=count) if count else np.empty(0, dtype)
    return array.reshape(shape, order="F" if stand_in.fortran else "C")


def _index_array(stand_in, what):
    array = _array(stand_in, what, 1)
    if array.dtype.kind not in "iu":
        raise ValueError(f"{what} must be integers, got {array.dtype}")
    return array


def _check_indices(indices, size, what):
    """Int64 copies of ``indices``, each in ``0 .. size - 1``."""
    wide = indices.astype(np.int64)  # a uint64 beyond int64 wraps negative, and is refused below
    outside = (wide < 0) | (wide >= size)
    if outside.any():
        raise ValueError(f"it has a {what} index {indices[np.argmax(outside)]} outside 0..{size - 1}")
    return wide


def _sparse(stand_in):
    """A fresh scipy matrix built by its checked constructor from validated copies of the pickled arrays."""
    state = stand_in.state
    if not isinstance(state, dict):
        raise ValueError(f"a {stand_in.format.upper()} matrix without its arrays")
    shape = state.get("_shape", state.get("shape"))
    if not (type(shape) is tuple and len(shape) == 2 and all(type(s) is int and 0 <= s <= _MAX_SIZE for s in shape)):
        raise ValueError(f"a sparse matrix must have two sizes in 0..{_MAX_SIZE}, got shape {_short(shape)}")
    rows, cols = shape
    data = _array(_field(state, "data"), "its data", 1)
    nnz = data.shape[0]
    # float16 is stored losslessly as float32, which every scipy routine supports
    data = data.astype(np.float32 if data.dtype.kind == "f" and data.dtype.itemsize == 2
                       else data.dtype.newbyteorder("="))
    if stand_in.format == "coo":
        coords = state.get("coords")
        if coords is None:
            coords = (_field(state, "row"), _field(state, "col"))
        if type(coords) is not tuple or len(coords) != 2:
            raise ValueError("a COO matrix must have two coordinate arrays")
        row, col = (_index_array(c, f"its {name}s") for c, name in zip(coords, ("row", "column")))
        if row.shape[0] != nnz or col.shape[0] != nnz:
            raise ValueError(f"it has {row.shape[0]} row and {col.shape[0]} column indices but {nnz} values")
        row, col = _check_indices(row, rows, "row"), _check_indices(col, cols, "column")
        return sp.coo_matrix((data, (row, col)), shape=shape)
    major, minor = (rows, cols) if stand_in.format == "csr" else (cols, rows)
    major_name, minor_name = ("row", "column") if stand_in.format == "csr" else ("column", "row")
    indptr = _index_array(_field(state, "indptr"), "its indptr")
    indices = _index_array(_field(state, "indices"), "its indices")
    if indices.shape[0] != nnz:
        raise ValueError(f"it has {indices.shape[0]} {minor_name} indices but {nnz} values")
    if indptr.shape[0] != major + 1:
        raise ValueError(f"its indptr has {indptr.shape[0]} entries, not {major + 1} (one more than its "
                         f"{major} {major_name}s)")
    indptr = indptr.astype(np.int64)
    if indptr[0] != 0:
        raise ValueError(f"its indptr starts at {indptr[0]}, not 0")
    if np.any(indptr[1:] < indptr[:-1]):
        raise ValueError("its indptr decreases")
    if indptr[-1] != nnz:
        raise ValueError(f"its indptr ends at {indptr[-1]}, not at its {nnz} values")
    indices = _check_indices(indices, minor, minor_name)
    constructor = sp.csr_matrix if stand_in.format == "csr" else sp.csc_matrix
    return constructor((data, indices, indptr), shape=shape)


def _field(state, key):
    if key not in state:
        raise ValueError(f"a sparse matrix without its {key!r} array")
    return state[key]


def _stored(matrix):
    return matrix.size if isinstance(matrix, np.ndarray) else matrix.nnz


def _check_expansion(rows, cols, stored, what):
    """Refuse a dense table the stored values cannot justify (see :func:`read_planetoid_data`)."""
    cells = rows * cols
    if cells > _SMALL_TABLE and cells > _CELLS_PER_VALUE * stored:
        raise ValueError(f"{what}: a {rows} x {cols} table for {stored} stored values is too sparse to expand "
                         f"(more than {_CELLS_PER_VALUE} cells per value); the files cannot justify its size")


def _to_dense(matrix, path):
    if isinstance(matrix, np.ndarray):
        return matrix
    _check_expansion(matrix.shape[0], matrix.shape[1], matrix.nnz, path)
    return matrix.toarray()


def _short(value):
    """A short description of a value for a message (never the repr of a container, which may be huge)."""
    if type(value) is int:
        return str(value) if value.bit_length() < 256 else f"an integer of {value.bit_length()} bits"
    if isinstance(value, (float, complex, bool, np.generic)) or value is None:
        return repr(value)
    if isinstance(value, (str, bytes)):
        return repr(value[:40]) + ("..." if len(value) > 40 else "")
    if type(value) is tuple and len(value) <= 4 and all(type(v) is int and v.bit_length() < 64 for v in value):
        return repr(value)
    return _describe(value)


def _describe(value):
    if isinstance(value, _ArrayStandIn):
        return "a NumPy array"
    if isinstance(value, _SparseStandIn):
        return f"a SciPy {value.format.upper()} matrix"
    if isinstance(value, _Global):
        return value.name
    return f"a {type(value).__name__}"


# ---------------------------------------------------------------------- pickles
# The files are Python 2 pickles of NumPy arrays, SciPy sparse matrices and a dict of lists. They are
# read by a small interpreter of the pickle opcodes rather than by pickle.Unpickler: it builds plain
# containers and numbers, and for arrays and matrices only stand-ins that record what the file says
# (raw bytes, shape, dtype), checked before anything is built from them. No NumPy or SciPy code runs
# on unchecked input; every length the file claims is checked against the bytes left (the C unpickler
# allocates a claimed size, or a claimed memo index, before reading); dict keys and set items must be
# numbers or strings (hashing a key of nested tuples that share their halves takes 2**depth steps); a
# call that copies a container is paid for from a budget of the file's size.
class _Corrupt(Exception):
    """What is wrong with a pickle (the reader adds where)."""


class _Global:
    """A global of the format: ``call(interpreter, args)`` builds its object (None: not callable)."""

    __slots__ = ("name", "call", "format")

    def __init__(self, name, call=None, format=None):
        self.name, self.call, self.format = name, call, format


class _StandIn:
    """An object under construction, completed by the BUILD opcode."""

    __slots__ = ()


class _DTypeStandIn(_StandIn):
    __slots__ = ("code", "order")
    _CODES = frozenset({f"{kind}{size}" for kind in "iu" for size in (1, 2, 4, 8)} | {"f2", "f4", "f8", "b1"})

    def __init__(self, code):
        if len(code) > 3:  # before decoding: a shared long string must not cost its length per call
            raise _Corrupt(f"dtype {_short(code)} is not a plain numeric dtype")
        code = code.decode("latin-1") if isinstance(code, bytes) else code
        if type(code) is not str or code.lstrip("<>|=") not in self._CODES:
            raise _Corrupt(f"dtype {_short(code)} is not a plain numeric dtype")
        self.code, self.order = code.lstrip("<>|="), code[0] if code[0] in "<>" else "="

    def build(self, state, interpreter):
        if type(state) is not tuple or len(state) < 5 or state[1] not in ("<", ">", "|", "=") \
                or any(part is not None for part in state[2:5]):
            raise _Corrupt("a dtype state of another layout than a plain numeric dtype's")
        self.order = state[1] if state[1] in "<>" else "="

    def resolve(self):
        return np.dtype(self.code).newbyteorder(self.order)


class _ArrayStandIn(_StandIn):
    __slots__ = ("shape", "dtype", "fortran", "raw")

    def __init__(self, shape=None, dtype=None, fortran=False, raw=None):
        self.shape, self.dtype, self.fortran, self.raw = shape, dtype, fortran, raw

    def build(self, state, interpreter):
        if type(state) is not tuple or len(state) not in (4, 5):
            raise _Corrupt("an array state of another layout than NumPy's")
        shape, dtype, fortran, raw = state[-4:]
        if not isinstance(dtype, _DTypeStandIn):
            raise _Corrupt(f"an array of dtype {_describe(dtype)}")
        if type(fortran) not in (bool, int):
            raise _Corrupt("an array state with a non-boolean order flag")
        if type(raw) is str:  # a Python 2 string, read as latin-1 text
            interpreter.charge(len(raw))
            raw = raw.encode("latin-1")
        if type(raw) not in (bytes, bytearray):
            raise _Corrupt(f"array data must be bytes, got {_describe(raw)} (an array of objects?)")
        self.shape, self.dtype, self.fortran, self.raw = shape, dtype, bool(fortran), raw


class _SparseStandIn(_StandIn):
    __slots__ = ("format", "state")

    def __init__(self, format):
        self.format, self.state = format, None

    def build(self, state, interpreter):
        if type(state) is not dict:
            raise _Corrupt("a sparse matrix state must be a dict of attributes")
        interpreter.charge(len(state))
        if not all(type(key) is str for key in state):
            raise _Corrupt("a sparse matrix state must be a dict of attributes")
        self.state = state


def _arguments(args, name, *allowed):
    """Check ``args`` has one of the ``allowed`` tuples of types (None for the type of None)."""
    kinds = tuple(type(arg) for arg in args)
    for signature in allowed:
        if len(signature) == len(kinds) and all(k is (type(None) if s is None else s) or
                                                (isinstance(s, tuple) and k in s) for k, s in zip(kinds, signature)):
            return
    raise _Corrupt(f"{name} called with ({', '.join(k.__name__ for k in kinds)})")


_NUMBER = (int, bool, float)
_LATIN_1 = frozenset({"latin1", "latin-1", "iso-8859-1", "iso8859-1", "l1"})


def _is_latin_1(encoding):
    return len(encoding) <= 10 and encoding.lower() in _LATIN_1  # short first: the name may be a shared long string


def _atomic_keys(keys, what):
    if not _ATOMIC.issuperset(map(type, keys)):
        raise _Corrupt(f"a {what} that is not a number or a string")


def _container(kind):
    def call(interpreter, args):
        if not args:
            return kind()
        _arguments(args, kind.__name__, ((list, tuple, set, frozenset, dict),))
        items = args[0]
        interpreter.charge(len(items))
        if kind is dict and type(items) is not dict:
            if not all(type(pair) in (tuple, list) and len(pair) == 2 for pair in items):
                raise _Corrupt("dict() of something else than pairs")
            _atomic_keys([pair[0] for pair in items], "dict key")
        elif kind in (set, frozenset, dict):
            _atomic_keys(items, "set item" if kind is not dict else "dict key")
        return kind(items)
    return call


def _number(kind):
    def call(interpreter, args):
        if kind is int:
            _arguments(args, "int", (), (_NUMBER,), (str,), (str, int))
        elif kind is complex:
            _arguments(args, "complex", (), (_NUMBER,), (_NUMBER, _NUMBER), (str,))
        else:
            _arguments(args, kind.__name__, (), (_NUMBER + (str,),))
        if args and type(args[0]) is str:  # parsing takes the string's length
            interpreter.charge(len(args[0]))
        return kind(*args)
    return call


def _text(interpreter, args):
    _arguments(args, "str", (), (str,))
    return str(*args)


def _binary(kind):
    def call(interpreter, args):
        _arguments(args, kind.__name__, (), ((bytes, bytearray),), (str, str))
        if len(args) == 2:
            if not _is_latin_1(args[1]):
                raise _Corrupt(f"{kind.__name__}() with encoding {_short(args[1])}")
            interpreter.charge(len(args[0]))
            return kind(args[0].encode("latin-1"))
        if args:
            interpreter.charge(len(args[0]))
        return kind(*args)
    return call


def _slice(interpreter, args):
    _arguments(args, "slice", ((int, type(None)),), ((int, type(None)),) * 2, ((int, type(None)),) * 3)
    return slice(*args)


def _encode(interpreter, args):  # how Python 3 pickles bytes in protocol 2
    _arguments(args, "_codecs.encode", (str,), (str, str))
    if len(args) == 2 and not _is_latin_1(args[1]):
        raise _Corrupt(f"_codecs.encode with encoding {_short(args[1])}")
    interpreter.charge(len(args[0]))
    return args[0].encode("latin-1" if len(args) == 2 else "utf-8")


def _mapping(interpreter, args):  # defaultdict(factory) and OrderedDict(): a plain dict serves
    if len(args) == 1 and (args[0] is None or isinstance(args[0], _Global)):
        return {}
    return _container(dict)(interpreter, args)


def _reconstruct(interpreter, args):
    if len(args) != 3 or args[0] is not _NDARRAY or type(args[1]) is not tuple:
        raise _Corrupt("numpy _reconstruct called with other arguments than an ndarray's")
    return _ArrayStandIn()


def _dtype(interpreter, args):
    _arguments(args, "numpy.dtype", ((str, bytes),), ((str, bytes), _NUMBER), ((str, bytes), _NUMBER, _NUMBER))
    return _DTypeStandIn(args[0])


def _scalar(interpreter, args):
    if len(args) != 2 or not isinstance(args[0], _DTypeStandIn) or type(args[1]) not in (str, bytes):
        raise _Corrupt("numpy scalar called with other arguments than a numeric scalar's")
    dtype = args[0].resolve()
    if len(args[1]) != dtype.itemsize:  # latin-1 text has a character per byte
        raise _Corrupt(f"a {dtype} scalar of {len(args[1])} bytes")
    raw = args[1].encode("latin-1") if type(args[1]) is str else args[1]
    return np.frombuffer(raw, dtype=dtype)[0]


def _frombuffer(interpreter, args):  # how NumPy pickles arrays in protocol 5
    if len(args) != 4 or type(args[0]) not in (bytes, bytearray) or not isinstance(args[1], _DTypeStandIn) \
            or type(args[2]) is not tuple or args[3] not in ("C", "F"):
        raise _Corrupt("numpy _frombuffer called with other arguments than an array's")
    return _ArrayStandIn(args[2], args[1], args[3] == "F", args[0])


_NDARRAY = _Global("numpy.ndarray")
_GLOBALS = {
    **{("builtins", name): _Global(name, _container(kind)) for name, kind in
       (("list", list), ("tuple", tuple), ("set", set), ("frozenset", frozenset), ("dict", dict))},
    **{("builtins", name): _Global(name, _number(kind)) for name, kind in
       (("int", int), ("long", int), ("float", float), ("complex", complex), ("bool", bool))},
    ("builtins", "str"): _Global("str", _text),
    ("builtins", "unicode"): _Global("unicode", _text),
    ("builtins", "bytes"): _Global("bytes", _binary(bytes)),
    ("builtins", "bytearray"): _Global("bytearray", _binary(bytearray)),
    ("builtins", "slice"): _Global("slice", _slice),
    ("collections", "defaultdict"): _Global("collections.defaultdict", _mapping),
    ("collections", "OrderedDict"): _Global("collections.OrderedDict", _mapping),
    ("_codecs", "encode"): _Global("_codecs.encode", _encode),
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _Global("numpy.dtype", _dtype),
    **{(module, name): _Global(f"numpy {name}", call) for module in ("numpy.core.multiarray",
                                                                      "numpy._core.multiarray")
       for name, call in (("_reconstruct", _reconstruct), ("scalar", _scalar))},
    **{(module, "_frombuffer"): _Global("numpy _frombuffer", _frombuffer)
       for module in ("numpy.core.numeric", "numpy._core.numeric")},
}
_SPARSE = {f"{fmt}_{kind}": _Global(f"scipy.sparse.{fmt}_{kind}", format=fmt)
           for fmt in ("csr", "csc", "coo") for kind in ("matrix", "array")}
_OTHER_SPARSE = {f"{fmt}_{kind}" for fmt in ("lil", "dok", "bsr", "dia") for kind in ("matrix", "array")}
_ATOMIC = frozenset({int, float, complex, str, bytes, bool, type(None)}) | frozenset(
    np.dtype(code).type for code in _DTypeStandIn._CODES)


def _find_global(module, name):
    if module == "__builtin__":
        module = "builtins"
    found = _GLOBALS.get((module, name))
    if found is None and (module == "scipy.sparse" or module.startswith("scipy.sparse.")):
        if name in _OTHER_SPARSE:
            raise _Corrupt(f"{name} is not supported: the matrices must be dense, CSR, CSC or COO")
        found = _SPARSE.get(name)
    if found is None:
        raise _Corrupt(f"refusing to load {module[:80]}.{name[:80]}: not part of the Planetoid format")
    return found


_REFUSED_OPCODES = {ord("P"): "PERSID", ord("Q"): "BINPERSID", 0x82: "EXT1", 0x83: "EXT2", 0x84: "EXT4",
                    ord("i"): "INST", ord("o"): "OBJ", 0x97: "NEXT_BUFFER", 0x98: "READONLY_BUFFER"}
_BINFLOAT = struct.Struct(">d")


class _Interpreter:
    def __init__(self, data):
        self.data = data
        self.budget = len(data) + 4096  # items or bytes that calls may copy

    def charge(self, amount):
        self.budget -= amount
        if self.budget < 0:
            raise _Corrupt("its calls copy more data than the file holds")

    def run(self):
        """The pickled object; ValueError saying what is wrong and at which byte."""
        data, end = self.data, len(self.data)
        stack, marks, memo = [], [], {}
        append, pop = stack.append, stack.pop
        pos = start = 0
        # Fixed-size arguments are sliced without a check: a short slice at the end of a truncated
        # file leaves pos past the end, and reading the next opcode then fails.
        try:
            while True:
                start = pos
                op = data[pos]
                pos += 1
                if op == 0x4D or op == 0x4B:  # BININT2, BININT1: runs of them make an adjacency file
                    pos -= 1
                    while True:
                        op = data[pos]
                        if op == 0x4D:
                            append(data[pos + 1] | data[pos + 2] << 8)
                            pos += 3
                        elif op == 0x4B:
                            append(data[pos + 1])
                            pos += 2
                        else:
                            break
                elif op == 0x5D:  # EMPTY_LIST
                    append([])
                elif op == 0x72:  # LONG_BINPUT
                    memo[int.from_bytes(data[pos:pos + 4], "little")] = stack[-1]
                    pos += 4
                elif op == 0x28:  # MARK
                    marks.append(len(stack))
                elif op == 0x65:  # APPENDS
                    first = marks.pop()
                    if not 0 < first <= len(stack) or type(stack[first - 1]) is not list:
                        raise _Corrupt("APPENDS without a list to append to")
                    stack[first - 1].extend(stack[first:])
                    del stack[first:]
                elif op == 0x71:  # BINPUT
                    memo[data[pos]] = stack[-1]
                    pos += 1
                elif op == 0x94:  # MEMOIZE
                    memo[len(memo)] = stack[-1]
                elif op == 0x68:  # BINGET
                    append(memo[data[pos]])
                    pos += 1
                elif op == 0x6A:  # LONG_BINGET
                    append(memo[int.from_bytes(data[pos:pos + 4], "little")])
                    pos += 4
                elif op == 0x61:  # APPEND
                    value = pop()
                    _target(stack, list, "APPEND").append(value)
                elif op == 0x75:  # SETITEMS
                    items = _since_mark(stack, marks)
                    if len(items) % 2:
                        raise _Corrupt("SETITEMS with a key without its value")
                    keys = items[0::2]
                    _atomic_keys(keys, "dict key")
                    _target(stack, dict, "SETITEMS").update(zip(keys, items[1::2]))
                elif op == 0x73:  # SETITEM
                    value, key = pop(), pop()
                    _atomic_keys((key,), "dict key")
                    _target(stack, dict, "SETITEM")[key] = value
                elif op == 0x4A:  # BININT
                    append(int.from_bytes(data[pos:pos + 4], "little", signed=True))
                    pos += 4
                elif op == 0x4E:  # NONE
                    append(None)
                elif op == 0x88:  # NEWTRUE
                    append(True)
                elif op == 0x89:  # NEWFALSE
                    append(False)
                elif op == 0x55:  # SHORT_BINSTRING: a Python 2 str, read as latin-1 text
                    size = data[pos]
                    append(_counted(data, pos + 1, size, "string").decode("latin-1"))
                    pos += 1 + size
                elif op == 0x54:  # BINSTRING
                    size = int.from_bytes(data[pos:pos + 4], "little", signed=True)
                    append(_counted(data, pos + 4, size, "string").decode("latin-1"))
                    pos += 4 + size
                elif op in (0x58, 0x8C, 0x8D):  # BINUNICODE, SHORT_BINUNICODE, BINUNICODE8
                    width = {0x58: 4, 0x8C: 1, 0x8D: 8}[op]
                    size = int.from_bytes(data[pos:pos + width], "little")
                    append(_counted(data, pos + width, size, "string").decode("utf-8", "surrogatepass"))
                    pos += width + size
                elif op in (0x42, 0x43, 0x8E, 0x96):  # BINBYTES, SHORT_BINBYTES, BINBYTES8, BYTEARRAY8
                    width = 1 if op == 0x43 else 4 if op == 0x42 else 8
                    size = int.from_bytes(data[pos:pos + width], "little")
                    chunk = _counted(data, pos + width, size, "bytes object")
                    append(bytearray(chunk) if op == 0x96 else chunk)
                    pos += width + size
                elif op == 0x29:  # EMPTY_TUPLE
                    append(())
                elif op == 0x85:  # TUPLE1
                    stack[-1] = (stack[-1],)
                elif op == 0x86:  # TUPLE2
                    second = pop()
                    stack[-1] = (stack[-1], second)
                elif op == 0x87:  # TUPLE3
                    third, second = pop(), pop()
                    stack[-1] = (stack[-1], second, third)
                elif op == 0x74:  # TUPLE
                    append(tuple(_since_mark(stack, marks)))
                elif op == 0x6C:  # LIST
                    append(_since_mark(stack, marks))
                elif op == 0x7D:  # EMPTY_DICT
                    append({})
                elif op == 0x64:  # DICT
                    items = _since_mark(stack, marks)
                    if len(items) % 2:
                        raise _Corrupt("DICT with a key without its value")
                    _atomic_keys(items[0::2], "dict key")
                    append(dict(zip(items[0::2], items[1::2])))
                elif op == 0x8F:  # EMPTY_SET
                    append(set())
                elif op == 0x90:  # ADDITEMS
                    items = _since_mark(stack, marks)
                    _atomic_keys(items, "set item")
                    _target(stack, set, "ADDITEMS").update(items)
                elif op == 0x91:  # FROZENSET
                    items = _since_mark(stack, marks)
                    _atomic_keys(items, "set item")
                    append(frozenset(items))
                elif op == 0x30:  # POP
                    if marks and marks[-1] == len(stack):
                        marks.pop()
                    else:
                        pop()
                elif op == 0x31:  # POP_MARK
                    _since_mark(stack, marks)
                elif op == 0x32:  # DUP
                    append(stack[-1])
                elif op == 0x8A:  # LONG1
                    size = data[pos]
                    append(int.from_bytes(_counted(data, pos + 1, size, "long"), "little", signed=True))
                    pos += 1 + size
                elif op == 0x8B:  # LONG4
                    size = int.from_bytes(data[pos:pos + 4], "little", signed=True)
                    if size > 255:  # hashing an int takes its length, and the format has no huge ints
                        raise _Corrupt(f"an integer of {size} bytes")
                    append(int.from_bytes(_counted(data, pos + 4, size, "long"), "little", signed=True))
                    pos += 4 + size
                elif op == 0x47:  # BINFLOAT
                    append(_BINFLOAT.unpack(data[pos:pos + 8])[0])
                    pos += 8
                elif op == 0x80:  # PROTO
                    if data[pos] > 5:
                        raise _Corrupt(f"pickle protocol {data[pos]} is not known")
                    pos += 1
                elif op == 0x95:  # FRAME: the frame's bytes are read as they come (checked, not copied)
                    if int.from_bytes(data[pos:pos + 8], "little") > end - pos - 8:
                        raise _Corrupt("a frame runs past the end of the file")
                    pos += 8
                elif op == 0x63:  # GLOBAL
                    module, pos = _line(data, pos)
                    name, pos = _line(data, pos)
                    append(_find_global(module.decode("ascii"), name.decode("ascii")))
                elif op == 0x93:  # STACK_GLOBAL
                    name, module = pop(), pop()
                    if type(name) is not str or type(module) is not str:
                        raise _Corrupt("STACK_GLOBAL with a name that is not a string")
                    append(_find_global(module, name))
                elif op == 0x52:  # REDUCE
                    args = pop()
                    function = stack[-1]
                    if type(args) is not tuple or len(args) > 4:  # no call of the format takes more
                        raise _Corrupt("REDUCE with arguments that are not a short tuple")
                    if not isinstance(function, _Global) or function.call is None:
                        raise _Corrupt(f"{_describe(function)} cannot be called")
                    stack[-1] = function.call(self, args)
                elif op in (0x81, 0x92):  # NEWOBJ, NEWOBJ_EX
                    kwargs = pop() if op == 0x92 else {}
                    args, cls = pop(), pop()
                    if not isinstance(cls, _Global) or cls.format is None or args != () or kwargs != {}:
                        raise _Corrupt(f"{_describe(cls)} cannot be instantiated")
                    append(_SparseStandIn(cls.format))
                elif op == 0x62:  # BUILD
                    state = pop()
                    if not stack or not isinstance(stack[-1], _StandIn):
                        raise _Corrupt(f"BUILD applied to {_describe(stack[-1]) if stack else 'nothing'}")
                    stack[-1].build(state, self)
                elif op == 0x2E:  # STOP
                    value = pop()
                    if stack or marks:
                        raise _Corrupt("objects are left on the stack at its end")
                    if pos != end:
                        raise _Corrupt(f"{end - pos} bytes follow its end")
                    return value
                elif op in (0x49, 0x4C):  # INT, LONG (protocol 0)
                    text, pos = _line(data, pos)
                    if op == 0x49 and text in (b"00", b"01"):
                        append(text == b"01")
                    else:
                        append(int(text[:-1] if op == 0x4C and text.endswith(b"L") else text))
                elif op == 0x46:  # FLOAT
                    text, pos = _line(data, pos)
                    append(float(text))
                elif op == 0x53:  # STRING
                    text, pos = _line(data, pos)
                    if len(text) < 2 or text[0] not in b"'\"" or text[-1] != text[0]:
                        raise _Corrupt("a STRING argument that is not quoted")
                    append(codecs.escape_decode(text[1:-1])[0].decode("latin-1"))
                elif op == 0x56:  # UNICODE
                    text, pos = _line(data, pos)
                    append(text.decode("raw-unicode-escape"))
                elif op in (0x67, 0x70):  # GET, PUT
                    text, pos = _line(data, pos)
                    if op == 0x67:
                        append(memo[int(text)])
                    else:
                        memo[int(text)] = stack[-1]
                elif op in _REFUSED_OPCODES:
                    raise _Corrupt(f"opcode {_REFUSED_OPCODES[op]} is not part of the Planetoid format")
                else:
                    raise _Corrupt(f"byte {op:#04x} is not a pickle opcode")
        except _Corrupt as exc:
            reason = str(exc)
        except IndexError:
            reason = ("it ends before its STOP opcode (truncated?)" if pos >= end else
                      "an opcode finds too few objects on the stack")
        except KeyError as exc:
            reason = f"it refers to memo entry {_short(exc.args[0])}, which it never stored"
        except (TypeError, ValueError, OverflowError, struct.error) as exc:
            reason = f"{type(exc).__name__}: {str(exc)[:200]}"
        raise ValueError(f"not a valid Planetoid pickle: {reason} (opcode at byte {start})")


def _counted(data, position, size, what):
    if size < 0 or size > len(data) - position:
        raise _Corrupt(f"a {what} of {size} bytes runs past the end of the file")
    return data[position:position + size]


def _line(data, position):
    newline = data.find(b"\n", position)
    if newline < 0:
        raise _Corrupt("a text argument without its end of line")
    return data[position:newline], newline + 1


def _since_mark(stack, marks):
    first = marks.pop()
    if first > len(stack):
        raise _Corrupt("a mark above the top of the stack")
    items = stack[first:]
    del stack[first:]
    return items


def _target(stack, kind, what):
    if not stack or type(stack[-1]) is not kind:
        raise _Corrupt(f"{what} applied to {_describe(stack[-1]) if stack else 'nothing'}")
    return stack[-1]


# An adjacency file is nearly all small ints and list opcodes, which the interpreter reads five times
# slower than the C unpickler. When the opcodes after the dict's header are only those (ints; list,
# mark, append; setitem; memo puts with small indices; a final STOP), nothing in the stream can call
# code, allocate more than its own bytes, or hash anything but an int, so the C unpickler reads it.
# Anything else, or anything it fails on, goes to the interpreter (which says what is wrong).
_ADJACENCY_HEADER = re.compile(rb"\x80\x02(?:\}|ccollections\ndefaultdict\n(?:q.)?c__builtin__\nlist\n(?:q.)?"
                               rb"\x85(?:q.)?R)(?:q.)?", re.DOTALL)
_ADJACENCY_BODY = re.compile(rb"(?:K.|M..|J....|[\](eaus]|q.|r....)*\.", re.DOTALL)
_LONG_BINPUT_INDICES = re.compile(rb"(?:K.|M..|J....|[\](eaus]|q.)*(?:r(....)|\.)", re.DOTALL)


class _AdjacencyUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) == ("collections", "defaultdict"):
            return collections.defaultdict
        if module in ("__builtin__", "builtins") and name == "list":
            return list
        raise pickle.UnpicklingError(f"{module}.{name}")


def _read_adjacency_fast(data):
    """The dict of an adjacency file made only of the opcodes above, or None."""
    header = _ADJACENCY_HEADER.match(data)
    if header is None or _ADJACENCY_BODY.fullmatch(data, header.end()) is None:
        return None
    # the body is a valid token sequence, so this scan stays aligned on the opcodes
    indices = b"".join(_LONG_BINPUT_INDICES.findall(data, header.end()))
    if indices and int(np.frombuffer(indices, dtype="<u4").max()) > len(data):
        return None  # the C unpickler would size its memo table by the index
    try:
        return _AdjacencyUnpickler(io.BytesIO(data), encoding="latin1").load()
    except Exception:  # any failure: the interpreter says what is wrong
        return None


def _load_pickle(path):
    """The object pickled in ``path`` (see :class:`_Interpreter`), and the file's size in bytes."""
    with open(path, "rb") as file:
        data = file.read()
    value = _read_adjacency_fast(data)
    if value is None:
        try:
            value = _Interpreter(data).run()
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
    return value, len(data)
