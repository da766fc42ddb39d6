"""Node-classification datasets in a folder on disk: :func:`save_dataset` and :class:`OnDiskDataset`.

The folder format (``docs/datasets-on-disk.md``) extends the graph folder of
:meth:`fastgnn.Graph.save` with ``x.npy`` (features), ``y.npy`` (labels) and
``split/<name>/{train,valid,test}.npy`` (int64 node ids). Features are opened
with ``mmap_mode="r"``, so a dataset larger than memory can be sampled and
gathered without being read whole.
"""
import os

import numpy as np

from fastgnn._runtime import validate as V
from fastgnn._runtime.memory import release_mapped_pages
from fastgnn.graph import Graph
from fastgnn.graph import storage

__all__ = ["save_dataset", "OnDiskDataset", "SPLIT_PARTS"]

SPLIT_PARTS = ("train", "valid", "test")


def _split_ids(ids, num_nodes, where):
    ids = V.as_index_vector(ids, where)
    V.check_ids_in_range(ids, num_nodes, where)
    return ids.astype(np.int64, copy=False)


def _check_split_name(name):
    if not isinstance(name, str) or not name or name in (".", "..") or "/" in name or os.sep in name:
        raise ValueError(f"split names must be non-empty folder names, got {name!r}")
    return name


def _normalized_splits(splits, num_nodes):
    """``{name: {part: int64 ids}}`` from ``splits`` (one dict of parts, or a dict of them by name)."""
    if splits is None:
        return {}
    if not isinstance(splits, dict):
        raise TypeError(f"splits must be a dict, got {type(splits).__name__}")
    if set(splits) <= set(SPLIT_PARTS) and splits:
        splits = {"default": splits}
    out = {}
    for name, parts in splits.items():
        _check_split_name(name)
        if not isinstance(parts, dict) or set(parts) != set(SPLIT_PARTS):
            raise ValueError(f"splits[{name!r}] must be a dict with keys train, valid and test")
        out[name] = {part: _split_ids(parts[part], num_nodes, f"splits[{name!r}][{part!r}]")
                     for part in SPLIT_PARTS}
    return out


def dataset_meta(graph, *, name=None, x_shape=None, x_dtype=None, y_shape=None, y_dtype=None,
                 num_classes=None, splits=(), default_split=None, extra=None):
    """The full ``meta.json`` of a dataset folder."""
    meta = storage.graph_meta(graph) if isinstance(graph, Graph) else dict(graph)
    meta.update({
        "name": name,
        "x": None if x_shape is None else {"dtype": np.dtype(x_dtype).name, "shape": [int(s) for s in x_shape]},
        "y": None if y_shape is None else {"dtype": np.dtype(y_dtype).name, "shape": [int(s) for s in y_shape]},
        "num_classes": None if num_classes is None else int(num_classes),
        "splits": list(splits),
        "default_split": default_split if default_split is not None else (list(splits)[0] if splits else None),
    })
    if extra:
        meta.update(extra)
    return meta


def write_splits(folder, splits):
    """Write ``split/<name>/<part>.npy`` for every split."""
    for name, parts in splits.items():
        os.makedirs(os.path.join(folder, "split", name), exist_ok=True)
        for part in SPLIT_PARTS:
            np.save(os.path.join(folder, "split", name, f"{part}.npy"), np.asarray(parts[part], dtype=np.int64))


def check_node_features(x, num_nodes):
    """``x`` as a float32/float64 array of shape ``(num_nodes, num_features)``, or the error naming it."""
    if not isinstance(x, np.ndarray):
        x = V.as_array(x, "x")
    if x.ndim != 2 or x.shape[0] != num_nodes:
        raise ValueError(f"x must have shape (num_nodes={num_nodes}, num_features), got {x.shape}")
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"x must be float32 or float64, got {x.dtype}")
    return x


def save_dataset(path, graph, x=None, y=None, splits=None, *, name=None, num_classes=None, overwrite=False):
    """Write a node-classification dataset to the folder ``path``, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        The folder; must not exist unless ``overwrite``.
    graph : Graph
    x : array_like of shape (num_nodes, num_features), optional
        Node features, float32 or float64 (a ``np.memmap`` is copied in row
        chunks). ``num_nodes`` is ``graph.num_src_nodes``.
    y : array_like of int, shape (num_nodes,), optional
        Class ids in ``[0, num_classes)``; -1 marks an unlabelled node.
    splits : dict, optional
        ``{"train": ids, "valid": ids, "test": ids}`` (stored as the split
        ``"default"``), or ``{name: {"train": ..., "valid": ..., "test": ...}}``.
    name : str, optional
    num_classes : int, optional
        Defaults to ``max(y) + 1``.
    overwrite : bool
        Replace an existing folder.

    Returns
    -------
    OnDiskDataset
        The written dataset, opened with ``mmap=True``.
    """
    if not isinstance(graph, Graph):
        raise TypeError(f"graph must be a fastgnn.Graph, got {type(graph).__name__}")
    num_nodes = graph.num_src_nodes
    if x is not None:
        x = check_node_features(x, num_nodes)
    if y is not None:
        y = V.as_index_vector(y, "y")
        if y.shape[0] != graph.num_dst_nodes and y.shape[0] != num_nodes:
            raise ValueError(f"y must have one label per node ({num_nodes}), got {y.shape[0]}")
        if y.size and int(y.min()) < -1:
            raise ValueError(f"y contains {int(y.min())}; class ids are >= 0 (-1 marks an unlabelled node)")
        y = y.astype(np.int64, copy=False)
    if num_classes is None and y is not None:
        num_classes = int(y.max()) + 1 if y.size else 0
    if num_classes is not None:
        num_classes = V.check_size(num_classes, "num_classes")
        if y is not None and y.size and int(y.max()) >= num_classes:
            raise ValueError(f"y contains class {int(y.max())}, out of range for num_classes={num_classes}")
    if name is not None and not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    splits = _normalized_splits(splits, graph.num_dst_nodes)
    meta = dataset_meta(graph, name=name, x_shape=None if x is None else x.shape,
                        x_dtype=None if x is None else x.dtype, y_shape=None if y is None else y.shape,
                        y_dtype=np.int64, num_classes=num_classes, splits=splits)
    with storage.atomic_folder(path, overwrite=overwrite) as folder:
        storage.write_graph_files(folder, graph)
        if x is not None:
            with storage.NpyWriter(os.path.join(folder, "x.npy"), x.shape, x.dtype) as writer:
                for start in range(0, x.shape[0], 1 << 16):
                    writer.write(x[start:start + (1 << 16)])
        if y is not None:
            np.save(os.path.join(folder, "y.npy"), y)
        write_splits(folder, splits)
        storage.write_meta(folder, meta)
    return OnDiskDataset(path)


class OnDiskDataset:
    """A node-classification dataset stored in a folder (``docs/datasets-on-disk.md``).

    Opening checks ``meta.json`` and every file's header and size against it,
    validates the graph (``indptr``, ids in range) and the labels; the
    features are not read (with ``mmap``, ``x`` is a read-only
    ``np.memmap``). Split files are read and checked when asked for.

    Parameters
    ----------
    path : str or os.PathLike
    mmap : bool
        Memory-map the graph arrays and the features (default), or read them
        (straight into their final arrays). Mapped files are read-only
        ``np.memmap`` arrays over the dataset's own ``mmap.mmap`` objects;
        :meth:`release_pages` drops their pages from the process's RSS.

    Attributes
    ----------
    graph : Graph
    x : ndarray or np.memmap of shape (num_nodes, num_features), or None
    y : ndarray of int64, shape (num_nodes,), or None
    num_classes : int or None
    meta : dict
        The parsed ``meta.json``.
    name : str or None
    path : str

    Raises
    ------
    FileNotFoundError, ValueError
        A missing, corrupt or truncated file, named in the message.
    """

    def __init__(self, path, mmap=True):
        self.path = os.path.abspath(os.fspath(path))
        self.meta = storage.read_meta(self.path)
        self.graph = storage.load_graph(Graph, self.path, mmap=mmap)
        meta_path = os.path.join(self.path, storage.META_FILE)
        num_nodes = self.graph.num_src_nodes
        self.x = None
        if self.meta.get("x") is not None:
            x_meta = self._entry("x")
            if len(x_meta["shape"]) != 2 or x_meta["shape"][0] != num_nodes:
                raise ValueError(f"{meta_path}: x.shape must be [{num_nodes}, num_features], got {x_meta['shape']}")
            self.x = storage.open_npy(self.path, "x.npy", shape=x_meta["shape"], dtype=x_meta["dtype"], mmap=mmap)
            if self.x.dtype not in (np.float32, np.float64):
                raise ValueError(f"{os.path.join(self.path, 'x.npy')}: features must be float32 or float64")
        self.num_classes = None
        if self.meta.get("num_classes") is not None:
            self.num_classes = storage.meta_count(self.meta, "num_classes", self.path)
        self.y = None
        if self.meta.get("y") is not None:
            y_meta = self._entry("y")
            if y_meta["shape"] not in ([num_nodes], [self.graph.num_dst_nodes]):
                raise ValueError(f"{meta_path}: y.shape must be [{num_nodes}], got {y_meta['shape']}")
            y = storage.open_npy(self.path, "y.npy", shape=y_meta["shape"], dtype=y_meta["dtype"], kinds="iu",
                                 mmap=False)
            y_path = os.path.join(self.path, "y.npy")
            if y.size and int(y.min()) < -1:
                raise ValueError(f"{y_path}: contains label {int(y.min())} (labels are >= 0, or -1 for none)")
            if self.num_classes is not None and y.size and int(y.max()) >= self.num_classes:
                raise ValueError(f"{y_path}: contains class {int(y.max())}, but {storage.META_FILE} "
                                 f"declares num_classes={self.num_classes}")
            self.y = y.astype(np.int64, copy=False)
            self.y.flags.writeable = False
        splits = self.meta.get("splits", [])
        if not isinstance(splits, list) or not all(isinstance(s, str) for s in splits):
            raise ValueError(f"{meta_path}: splits must be a list of split names, got {splits!r}")
        for split in splits:
            storage.checked(meta_path, lambda: _check_split_name(split))
            for part in SPLIT_PARTS:
                file = os.path.join(self.path, "split", split, f"{part}.npy")
                if not os.path.isfile(file):
                    raise FileNotFoundError(f"{file} is missing")
        self._splits = {}

    def _entry(self, key):
        entry = self.meta[key]
        meta_path = os.path.join(self.path, storage.META_FILE)
        if (not isinstance(entry, dict) or not isinstance(entry.get("shape"), list)
                or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in entry["shape"])):
            raise ValueError(f"{meta_path}: {key} must be {{\"dtype\": ..., \"shape\": [...]}}, got {entry!r}")
        try:
            if not isinstance(entry.get("dtype"), str):
                raise TypeError
            np.dtype(entry["dtype"])
        except TypeError:
            raise ValueError(f"{meta_path}: {key}.dtype {entry.get('dtype')!r} is not a dtype") from None
        return entry

    @property
    def name(self):
        return self.meta.get("name")

    @property
    def num_nodes(self):
        return self.graph.num_dst_nodes

    @property
    def num_features(self):
        return None if self.x is None else self.x.shape[1]

    @property
    def split_names(self):
        """The names of the stored splits."""
        return list(self.meta.get("splits", []))

    def split(self, name="default"):
        """The node ids of split ``name``: ``dict(train=, valid=, test=)`` of int64 arrays.

        ``"default"`` names the split ``meta.json`` marks as default (the
        only one of an OGB dataset, whatever its name).
        """
        names = self.split_names
        if name == "default" and name not in names:
            name = self.meta.get("default_split")
        if name not in names:
            raise KeyError(f"{self.path} has no split {name!r}; it has {names or 'none'}")
        if name not in self._splits:
            parts = {}
            for part in SPLIT_PARTS:
                file = os.path.join(self.path, "split", name, f"{part}.npy")
                ids = storage.open_npy(self.path, os.path.join("split", name, f"{part}.npy"),
                                       shape=storage.checked_npy_header(file)[0], kinds="iu", mmap=False)
                storage.checked(file, lambda ids=ids: V.check_ids_in_range(ids.reshape(-1), self.num_nodes, "ids"))
                if ids.ndim != 1:
                    raise ValueError(f"{file}: node ids must be a 1-D array, got shape {ids.shape}")
                ids = ids.astype(np.int64, copy=False)
                ids.flags.writeable = False
                parts[part] = ids
            self._splits[name] = parts
        return dict(self._splits[name])

    def release_pages(self):
        """Drop the resident pages of the memory-mapped files (features and graph) from this process.

        With ``mmap=True`` every page of ``x.npy`` (and ``indices.npy``...)
        that was read stays in the process's resident set (its RSS), though
        the operating system could drop it. This advises the kernel
        (``madvise(MADV_DONTNEED)``, Linux) to unmap them from the process:
        they stay in the page cache, a later read faults them back cheaply
        and reads the same values. A no-op for arrays in memory
        (``mmap=False``) and where the call is not available.
        :class:`fastgnn.data.NeighborLoader` does it every few batches
        (``release_pages_every``).

        Returns
        -------
        int
            Bytes of mapping released (0 if nothing is mapped).
        """
        graph = self.graph
        return release_mapped_pages(self.x, graph.indptr, graph.indices, graph.edge_weight)

    def masks(self, name="default"):
        """The split as boolean node masks ``(train_mask, valid_mask, test_mask)``."""
        out = []
        for ids in self.split(name).values():
            mask = np.zeros(self.num_nodes, dtype=bool)
            mask[ids] = True
            out.append(mask)
        return tuple(out)

    def __repr__(self):
        features = "no features" if self.x is None else f"{self.x.shape[1]} {self.x.dtype} features"
        return (f"OnDiskDataset({self.name or os.path.basename(self.path)!r}: {self.num_nodes} nodes, "
                f"{self.graph.num_edges} edges, {features}, {self.num_classes} classes)")

