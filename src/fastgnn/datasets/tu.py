"""The TU graph-classification benchmarks (MUTAG, PROTEINS, NCI1, IMDB-BINARY, ...) read from their text files.

The format of Morris et al., "TUDataset: A collection of benchmark datasets
for learning with graphs" (https://chrsmrrs.github.io/datasets/). For a
dataset ``DS`` with ``N`` nodes, ``E`` directed edges and ``G`` graphs, one
line per item, ids 1-based, values separated by commas and/or whitespace,
LF or CRLF line ends:

- ``DS_A.txt`` (required): ``E`` lines ``src, dst`` (global node ids); an
  undirected graph lists both directions;
- ``DS_graph_indicator.txt`` (required): ``N`` lines, the graph id of each node;
- ``DS_graph_labels.txt`` (required): ``G`` lines, the class of each graph;
- ``DS_node_labels.txt``, ``DS_edge_labels.txt`` (optional): one (or more)
  integer label columns per node / edge;
- ``DS_node_attributes.txt``, ``DS_edge_attributes.txt`` (optional): real
  feature rows per node / edge;
- ``DS_graph_attributes.txt`` (optional): real values per graph (kept as
  :attr:`TUDataset.graph_attributes`).
"""
import itertools
import os
import warnings

import numpy as np

from fastgnn.data.batch import Batch, GraphData
from fastgnn.graph import Graph, SparseFeatures

__all__ = ["TUDataset", "read_tu_table", "one_hot", "add_degree_features"]

_REQUIRED = ("A", "graph_indicator", "graph_labels")


def read_tu_table(path):
    """The numbers of one TU text file as a float64 array of shape (rows, columns).

    Values are separated by commas (with optional spaces) or by whitespace;
    blank lines (and ``#`` comments) are skipped; LF, CRLF and CR line ends
    are all read. An empty file gives shape (0, 0).

    Raises
    ------
    ValueError
        Text that is not UTF-8, a line with another number of values than
        the first, or a value that is not a number (the message names the
        file, and the line or row).
    """
    path = os.fspath(path)
    with open(path, "rb") as handle:
        content = handle.read()
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as error:
        line = content.count(b"\n", 0, error.start) + 1
        raise ValueError(f"{path} line {line}: not UTF-8 text (byte {content[error.start]:#04x})") from None
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    first = next((line for line in lines if line.split("#", 1)[0].strip()), "")
    if not first:
        return np.zeros((0, 0))
    delimiter = "," if "," in first else None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return np.loadtxt(lines, delimiter=delimiter, dtype=np.float64, ndmin=2)
    except (ValueError, TypeError, OverflowError) as error:
        raise ValueError(f"{path}: {error}") from None


# float64 holds every integer below 2**53 exactly; from there on, neighbours round to the same value
_MAX_EXACT = 2 ** 53


def _line_number(path, row):
    """The 1-based line of the file holding row ``row`` of :func:`read_tu_table` (which skips blank lines)."""
    with open(path, "rb") as handle:
        lines = handle.read().replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    rows = (number for number, line in enumerate(lines, 1) if line.split(b"#", 1)[0].strip())
    return next(itertools.islice(rows, row, None), row + 1)


def _as_ids(table, path, what):
    """Integer ids or labels from a float table: whole numbers of magnitude below 2**53."""
    if table.size:
        with np.errstate(invalid="ignore"):
            bad = ~(np.isfinite(table) & (table == np.round(table)) & (np.abs(table) < _MAX_EXACT))
        if bad.any():
            flat = bad.reshape(bad.shape[0], -1)
            row = int(np.argmax(flat.any(axis=1)))
            value = table.reshape(table.shape[0], -1)[row][flat[row]][0]
            raise ValueError(f"{path} line {_line_number(path, row)}: {what} must be integers of magnitude "
                             f"below 2**53, got {float(value)!r}")
    return table.astype(np.int64)


# A one-hot block keeps a column for every value between a label column's minimum and maximum (as PyG
# does). A file can justify gaps, but not a block mostly made of columns no line uses: a label of 10**9
# would ask for 10**9 columns. The block may be twice as wide as the labels it uses, or this wide.
_MIN_LABEL_WIDTH = 256


def _label_block(labels, path, what, dtype):
    """The one-hot block of integer label columns, once each is no wider than its labels justify."""
    for column in labels.T:
        if column.size == 0:
            continue
        low, high = int(column.min()), int(column.max())
        width = high - low + 1
        if width <= _MIN_LABEL_WIDTH:
            continue
        distinct = np.unique(column).size
        if width > 2 * distinct:
            median = float(np.median(column))
            row = int(np.argmax(column) if high - median >= median - low else np.argmin(column))
            raise ValueError(f"{path} line {_line_number(path, row)}: {what} {column[row]} makes a one-hot block "
                             f"of {width} columns for {distinct} distinct labels ({low}..{high}); at most "
                             f"{max(2 * distinct, _MIN_LABEL_WIDTH)} are allowed")
    return one_hot(labels, dtype)


def one_hot(labels, dtype=np.float32):
    """One-hot columns for integer labels, one block per label column (PyG's TU reading).

    Each column is shifted by its minimum, so values ``min..max`` map to
    ``max - min + 1`` indicator columns (values absent in between keep their
    column, as in PyG).

    Parameters
    ----------
    labels : ndarray of int, shape (n,) or (n, k)

    Returns
    -------
    ndarray of shape (n, sum of the blocks' widths)
    """
    labels = np.asarray(labels)
    if labels.ndim == 1:
        labels = labels[:, None]
    blocks = []
    for column in labels.T:
        if column.size == 0:
            blocks.append(np.zeros((0, 0), dtype=dtype))
            continue
        shifted = column - column.min()
        block = np.zeros((column.shape[0], int(shifted.max()) + 1), dtype=dtype)
        block[np.arange(column.shape[0]), shifted] = 1
        blocks.append(block)
    return np.concatenate(blocks, axis=1) if blocks else np.zeros((labels.shape[0], 0), dtype=dtype)


class TUDataset:
    """A TU graph-classification dataset: a sequence of :class:`fastgnn.data.GraphData`.

    Read as PyTorch Geometric's ``TUDataset(use_node_attr=True, use_edge_attr=True)``
    reads it, except that self-loops and duplicate edges are kept as the
    files list them:

    - node features ``x``: the node attributes (when present), then the node
      labels one-hot (each label column shifted by its minimum, see
      :func:`one_hot`; a column's block may be at most twice as wide as the
      number of distinct labels it uses, or 256 wide); None when the dataset
      has neither;
    - edge features ``edge_attr``: the edge attributes, then the edge labels
      one-hot, in each graph's CSR edge order; None when it has neither;
    - graph label ``y``: the class index, the (integer) labels of the file
      remapped to ``0 .. C-1`` in sorted order (MUTAG's -1/1 become 0/1; see
      :attr:`class_values`);
    - structure: edge ``src -> dst`` for each line ``src, dst`` of ``DS_A.txt``,
      node ids renumbered from 0 within each graph in file order.

    Parameters
    ----------
    root : str or os.PathLike
        The folder holding ``{name}_A.txt`` and the other files; the
        folders ``root/{name}`` and ``root/{name}/raw`` (PyG's layout) are
        also looked in.
    name : str
        The file prefix, e.g. ``'MUTAG'`` (case-sensitive, as the files).
    use_node_attr, use_edge_attr : bool
        Include the real-valued attributes in ``x`` / ``edge_attr`` when the
        files exist (labels are always included).
    dtype : float32 or float64
        Dtype of ``x`` and ``edge_attr``.
    sparse_features : bool
        Give each graph's ``x`` as a :class:`~fastgnn.SparseFeatures` matrix
        (one-hot node labels are mostly zeros); batches stack them sparse and
        the first layer multiplies over the non-zeros only.

    Attributes
    ----------
    name : str
    folder : str
        Where the files were found.
    graphs : list of GraphData
    y : ndarray of int64, shape (num_graphs,)
    class_values : ndarray of int64
        The original label of each class index.
    num_classes, num_node_features, num_edge_features : int
    num_node_labels, num_node_attributes, num_edge_labels, num_edge_attributes : int
        Widths of the one-hot label blocks and attribute blocks.
    graph_attributes : ndarray of shape (num_graphs, k) or None

    Raises
    ------
    FileNotFoundError
        A required file (``{name}_A.txt``, ``{name}_graph_indicator.txt``,
        ``{name}_graph_labels.txt``) is missing; the message names it and
        the folders searched.
    ValueError
        Corrupt or inconsistent files: text that is not UTF-8 or not numbers,
        ids or labels that are not integers below 2**53 in magnitude, row
        counts that disagree, ids out of range, an edge between two graphs,
        a one-hot label block wider than its labels justify (messages name
        the file, and the line where there is one).

    Notes
    -----
    Reading costs ``O(N + E)`` after parsing: one stable sort of the edges by
    destination for the whole dataset, then each graph's CSR is a slice of
    it (see :meth:`fastgnn.data.Batch.unbatch`).
    """

    def __init__(self, root, name, *, use_node_attr=True, use_edge_attr=True, dtype=np.float32,
                 sparse_features=False):
        self.name = str(name)
        self.root = os.fspath(root)
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise TypeError(f"dtype must be float32 or float64, got {self.dtype}")
        self.folder = self._find_folder()
        self.sparse_features = bool(sparse_features)
        self._read(use_node_attr, use_edge_attr)

    # ------------------------------------------------------------------ files
    def _candidates(self):
        return [self.root, os.path.join(self.root, self.name), os.path.join(self.root, self.name, "raw")]

    def _find_folder(self):
        for folder in self._candidates():
            if os.path.isfile(os.path.join(folder, f"{self.name}_A.txt")):
                return folder
        searched = ", ".join(self._candidates())
        raise FileNotFoundError(f"TUDataset {self.name!r}: required file {self.name}_A.txt not found "
                                f"(searched {searched})")

    def _path(self, suffix):
        return os.path.join(self.folder, f"{self.name}_{suffix}.txt")

    def _table(self, suffix, required=False):
        path = self._path(suffix)
        if not os.path.isfile(path):
            if required:
                raise FileNotFoundError(f"TUDataset {self.name!r}: required file {self.name}_{suffix}.txt "
                                        f"not found in {self.folder}")
            return None
        return read_tu_table(path)

    def _rows(self, table, suffix, count, what):
        """Check a per-item table has ``count`` rows."""
        if table is None:
            return None
        if table.shape[0] != count:
            raise ValueError(f"{self._path(suffix)} has {table.shape[0]} lines but the dataset has {count} {what}")
        return table

    # ------------------------------------------------------------------ reading
    def _read(self, use_node_attr, use_edge_attr):
        for suffix in _REQUIRED:
            if not os.path.isfile(self._path(suffix)):
                raise FileNotFoundError(f"TUDataset {self.name!r}: required file {self.name}_{suffix}.txt "
                                        f"not found in {self.folder}")
        indicator_table = self._table("graph_indicator", True)
        if indicator_table.size and indicator_table.shape[1] != 1:
            raise ValueError(f"{self._path('graph_indicator')} must have one value per line, "
                             f"got {indicator_table.shape[1]}")
        indicator = _as_ids(indicator_table.reshape(-1), self._path("graph_indicator"), "graph ids")
        label_table = self._table("graph_labels", True)
        if label_table.size and label_table.shape[1] != 1:
            raise ValueError(f"{self._path('graph_labels')} must have one label per line, got "
                             f"{label_table.shape[1]} values")
        raw_labels = _as_ids(label_table.reshape(-1), self._path("graph_labels"), "graph labels")
        num_graphs, num_nodes = raw_labels.shape[0], indicator.shape[0]
        if num_graphs == 0:
            raise ValueError(f"{self._path('graph_labels')} lists no graph")
        if num_nodes and (indicator.min() < 1 or indicator.max() > num_graphs):
            bad = indicator[(indicator < 1) | (indicator > num_graphs)][0]
            raise ValueError(f"{self._path('graph_indicator')} contains graph id {bad}, outside 1..{num_graphs} "
                             f"(ids are 1-based; {self.name}_graph_labels.txt lists {num_graphs} graphs)")
        graph_of_node = indicator - 1
        # Node order: grouped by graph, file order within a graph (a stable sort; the identity when sorted).
        if num_nodes > 1 and np.any(graph_of_node[1:] < graph_of_node[:-1]):
            node_order = np.argsort(graph_of_node, kind="stable")
        else:
            node_order = None
        new_id = np.empty(num_nodes, dtype=np.int64)
        if node_order is None:
            new_id[:] = np.arange(num_nodes)
        else:
            new_id[node_order] = np.arange(num_nodes)
        ptr = np.zeros(num_graphs + 1, dtype=np.int64)
        np.cumsum(np.bincount(graph_of_node, minlength=num_graphs), out=ptr[1:])

        edge_table = self._table("A", True)
        if edge_table.size == 0:
            edge_table = np.zeros((0, 2))
        if edge_table.shape[1] != 2:
            raise ValueError(f"{self._path('A')} must have two ids per line (src, dst), got {edge_table.shape[1]}")
        edges = _as_ids(edge_table, self._path("A"), "node ids") - 1
        if edges.size and (edges.min() < 0 or edges.max() >= num_nodes):
            bad = edges[(edges < 0) | (edges >= num_nodes)][0] + 1
            raise ValueError(f"{self._path('A')} contains node id {bad}, outside 1..{num_nodes} "
                             f"({self.name}_graph_indicator.txt lists {num_nodes} nodes)")
        crossing = graph_of_node[edges[:, 0]] != graph_of_node[edges[:, 1]]
        if np.any(crossing):
            line = int(np.argmax(crossing))
            raise ValueError(f"{self._path('A')} line {line + 1}: edge {edges[line, 0] + 1} -> "
                             f"{edges[line, 1] + 1} joins two graphs")
        num_edges = edges.shape[0]
        src, dst = new_id[edges[:, 0]], new_id[edges[:, 1]]
        graph, edge_order = Graph.from_edge_index(np.stack([src, dst]), num_nodes=num_nodes, return_edge_order=True)

        # node features: attributes, then labels one-hot
        node_blocks = []
        node_attributes = self._rows(self._table("node_attributes"), "node_attributes", num_nodes, "nodes")
        self.num_node_attributes = 0 if node_attributes is None or not use_node_attr else node_attributes.shape[1]
        if self.num_node_attributes:
            node_blocks.append(node_attributes.astype(self.dtype))
        node_labels = self._rows(self._table("node_labels"), "node_labels", num_nodes, "nodes")
        self.num_node_labels = 0
        if node_labels is not None:
            path = self._path("node_labels")
            block = _label_block(_as_ids(node_labels, path, "node labels"), path, "node label", self.dtype)
            self.num_node_labels = block.shape[1]
            node_blocks.append(block)
        x = None
        if node_blocks:
            x = np.concatenate(node_blocks, axis=1)
            if node_order is not None:
                x = x[node_order]
            x = np.ascontiguousarray(x)
            if self.sparse_features:
                x = SparseFeatures.from_dense(x)

        edge_blocks = []
        edge_attributes = self._rows(self._table("edge_attributes"), "edge_attributes", num_edges, "edges")
        self.num_edge_attributes = 0 if edge_attributes is None or not use_edge_attr else edge_attributes.shape[1]
        if self.num_edge_attributes:
            edge_blocks.append(edge_attributes.astype(self.dtype))
        edge_labels = self._rows(self._table("edge_labels"), "edge_labels", num_edges, "edges")
        self.num_edge_labels = 0
        if edge_labels is not None:
            path = self._path("edge_labels")
            block = _label_block(_as_ids(edge_labels, path, "edge labels"), path, "edge label", self.dtype)
            self.num_edge_labels = block.shape[1]
            edge_blocks.append(block)
        edge_attr = None
        if edge_blocks:
            edge_attr = np.ascontiguousarray(np.concatenate(edge_blocks, axis=1)[edge_order])

        self.class_values, y = np.unique(raw_labels, return_inverse=True)
        self.y = y.astype(np.int64).reshape(-1)
        self.y.flags.writeable = False
        graph_attributes = self._rows(self._table("graph_attributes"), "graph_attributes", num_graphs, "graphs")
        self.graph_attributes = graph_attributes

        whole = Batch(graph, x, self.y, edge_attr, ptr, _checked=True)
        self.graphs = whole.unbatch()
        self.num_nodes, self.num_edges = num_nodes, num_edges

    # ------------------------------------------------------------------ sequence
    @property
    def num_classes(self):
        return int(self.class_values.shape[0])

    @property
    def num_graphs(self):
        return len(self.graphs)

    @property
    def num_node_features(self):
        """Width of ``x`` (0 when the dataset has no node labels or attributes)."""
        return self.num_node_attributes + self.num_node_labels

    @property
    def num_edge_features(self):
        return self.num_edge_attributes + self.num_edge_labels

    def __len__(self):
        return len(self.graphs)

    def __getitem__(self, index):
        """A graph (int index), or a list of graphs (slice, or array of ints or bools)."""
        if isinstance(index, (int, np.integer)) and not isinstance(index, (bool, np.bool_)):
            return self.graphs[index]
        if isinstance(index, slice):
            return self.graphs[index]
        positions = np.asarray(index)
        if positions.dtype == np.bool_:
            if positions.shape != (len(self.graphs),):
                raise ValueError(f"a boolean index must have shape ({len(self.graphs)},), got {positions.shape}")
            positions = np.flatnonzero(positions)
        if positions.dtype.kind not in "iu" or positions.ndim != 1:
            raise TypeError(f"index a TUDataset with an int, a slice or a 1-D array of ints, got {index!r}")
        return [self.graphs[int(p)] for p in positions]

    def __iter__(self):
        return iter(self.graphs)

    def __repr__(self):
        return (f"TUDataset({self.name!r}, num_graphs={len(self)}, num_nodes={self.num_nodes}, "
                f"num_edges={self.num_edges}, num_classes={self.num_classes}, "
                f"num_node_features={self.num_node_features}, num_edge_features={self.num_edge_features})")


def add_degree_features(graphs, max_degree=None, dtype=np.float32):
    """Give featureless graphs node features from their in-degrees (PyG's kernel benchmark).

    With every degree at most ``max_degree`` (default: the largest in
    ``graphs``) below 1000, the feature is the one-hot degree (PyG's
    ``OneHotDegree``, as the GIN paper does for its social networks);
    otherwise the single column ``(deg - mean) / std`` over all nodes.

    Parameters
    ----------
    graphs : sequence of GraphData
    max_degree : int, optional
        Width of the one-hot block minus one (degrees above it are clipped).

    Returns
    -------
    list of GraphData
        With ``x`` replaced; other fields unchanged.
    """
    graphs = list(graphs)
    degrees = [np.diff(g.graph.indptr).astype(np.int64) for g in graphs]
    observed = max((int(d.max()) for d in degrees if d.size), default=0)
    if max_degree is None:
        max_degree = observed
    if max_degree < 1000:
        return [g.replace(x=one_hot_degree(d, max_degree, dtype)) for g, d in zip(graphs, degrees)]
    every = np.concatenate(degrees).astype(np.float64) if degrees else np.zeros(0)
    mean, std = (every.mean(), every.std()) if every.size else (0.0, 1.0)
    std = std if std > 0 else 1.0
    return [g.replace(x=((d - mean) / std).astype(dtype)[:, None]) for g, d in zip(graphs, degrees)]


def one_hot_degree(degree, max_degree, dtype=np.float32):
    """``(n, max_degree + 1)`` indicator rows of ``min(degree, max_degree)``."""
    clipped = np.minimum(degree, max_degree)
    out = np.zeros((degree.shape[0], max_degree + 1), dtype=dtype)
    out[np.arange(degree.shape[0]), clipped] = 1
    return out
