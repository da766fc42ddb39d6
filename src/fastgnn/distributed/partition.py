"""Graph partitions on disk: :func:`partition`, :func:`load_partition`, :func:`reassemble`.

A partitioned graph is a folder (``docs/distributed.md``)::

    out_dir/partition.json      the plan: sizes, method, seed, a fingerprint of the graph, per-part counts
    out_dir/part-<p>/           part p in the dataset folder format, over a bipartite graph
    out_dir/graph/              the whole graph's structure (indptr, indices, edge weights), for sampling
    out_dir/owner.npy           the part owning every node (int32)
    out_dir/local_index.npy     every node's local id within its owner (int64)

Part ``p`` owns a set of nodes (its *destination* rows): first its
*interior* nodes (every in-neighbour owned by ``p``), then its *boundary*
nodes, each group in increasing global id (format version 3; versions 1 and
2, still read, ordered them by global id only); its *source* columns are
the owned nodes (local ids ``0 .. n_owned-1``, same order) followed by its
*halo*: the remote in-neighbours of the owned nodes, grouped by owning part
(in increasing part order), in increasing global id within a part (since
version 2; version 1 ordered the whole halo by global id). The interior
rows read no halo row: they are aggregated while the halo rows travel. Each row keeps its edges in the global CSR
order of that row, so a local sum runs in the single-process order. Besides
the dataset files, each part holds ``global_ids.npy``, ``halo_owner.npy``,
``halo_remote_index.npy``, ``in_degree.npy`` (global in-degrees) and
``edge_ids.npy`` (global edge ids).
"""
import hashlib
import json
import os

import numpy as np

from fastgnn._runtime import validate as V
from fastgnn._runtime.memory import empty_aligned, release_mapped_pages
from fastgnn.datasets import OnDiskDataset
from fastgnn.datasets.on_disk import SPLIT_PARTS, check_node_features, dataset_meta, write_splits
from fastgnn.distributed.assign import METHODS, assign_parts, check_num_parts, check_seed
from fastgnn.graph import Graph
from fastgnn.graph import storage

__all__ = ["partition", "load_partition", "reassemble", "PartitionInfo", "Partition", "graph_fingerprint",
           "assign_parts", "part_folder", "load_structure", "METHODS", "PARTITION_FORMAT", "PARTITION_VERSION", "PARTITION_FILE"]

PARTITION_FORMAT = "fastgnn-partition"
PARTITION_VERSION = 3
#: Versions :func:`load_partition` reads: 1 ordered the halo by global id only (exchanged through a gathered
#: copy), 1 and 2 the owned nodes by global id only (fewer rows aggregated while the halo travels).
READABLE_VERSIONS = (1, 2, 3)
PARTITION_FILE = "partition.json"
#: The whole graph's structure and the node -> (owner, local id) maps, at the partition root.
STRUCTURE_FILES = {"graph": "graph", "owner": "owner.npy", "local_index": "local_index.npy"}
_HASH_CHUNK = 1 << 24         # bytes hashed per update, so a memory map is not copied whole
_FEATURE_CHUNK = 1 << 16      # feature rows gathered per write


def part_folder(out_dir, rank):
    """The folder of part ``rank`` inside ``out_dir``."""
    return os.path.join(os.fspath(out_dir), f"part-{int(rank)}")


# ---------------------------------------------------------------------- fingerprint
def _hash_array(digest, array):
    """Hash ``array``'s bytes a chunk at a time; a memory-mapped one leaves no page resident after its chunk."""
    flat = np.asarray(array).reshape(-1)
    step = max(1, _HASH_CHUNK // max(flat.itemsize, 1))
    for start in range(0, flat.shape[0], step):
        digest.update(np.ascontiguousarray(flat[start:start + step]).data)
        release_mapped_pages(array)         # nothing for an array in memory


def graph_fingerprint(graph):
    """A fingerprint of ``graph``'s structure: ``{"sha256", "indptr_dtype", "indices_dtype"}``.

    The digest is the SHA-256 of ``indptr``'s bytes followed by ``indices``'
    bytes (native byte order, C order). Two graphs with the same CSR arrays of
    the same dtypes have the same fingerprint; edge weights are not included.
    """
    if not isinstance(graph, Graph):
        raise TypeError(f"graph must be a fastgnn.Graph, got {type(graph).__name__}")
    digest = hashlib.sha256()
    _hash_array(digest, graph.indptr)
    _hash_array(digest, graph.indices)
    return {"sha256": digest.hexdigest(), "indptr_dtype": np.dtype(graph.indptr.dtype).name,
            "indices_dtype": np.dtype(graph.indices.dtype).name}


# ---------------------------------------------------------------------- the input
def _resolve_input(source, x, y, splits):
    """``(graph, x, y, splits {name: {part: ids}}, num_classes, name)`` from a Graph or a dataset folder."""
    if isinstance(source, (str, os.PathLike)):
        if not os.path.isdir(source):
            raise ValueError(f"graph_or_dataset_dir {os.fspath(source)!r} is not a folder")
        source = OnDiskDataset(source)
    if isinstance(source, OnDiskDataset):
        for given, what in ((x, "x"), (y, "y"), (splits, "splits")):
            if given is not None:
                raise ValueError(f"{what} is read from the dataset folder {source.path}; do not pass it too")
        dataset_splits = {name: source.split(name) for name in source.split_names}
        default = source.meta.get("default_split")
        if default in dataset_splits:       # the default split first: it stays the default
            dataset_splits = {default: dataset_splits[default],
                              **{k: v for k, v in dataset_splits.items() if k != default}}
        return source.graph, source.x, source.y, dataset_splits, source.num_classes, source.name
    if not isinstance(source, Graph):
        raise TypeError("graph_or_dataset_dir must be a fastgnn.Graph, an OnDiskDataset or a dataset folder path, "
                        f"got {type(source).__name__}")
    graph = source
    if not graph.is_square:
        raise ValueError(f"graph_or_dataset_dir must be a square graph, got {graph!r}")
    n = graph.num_dst_nodes
    if x is not None:
        x = check_node_features(x, n)
    num_classes = None
    if y is not None:
        y = V.as_index_vector(y, "y")
        if y.shape[0] != n:
            raise ValueError(f"y must have one label per node ({n}), got {y.shape[0]}")
        if y.size and int(y.min()) < -1:
            raise ValueError(f"y contains {int(y.min())}; class ids are >= 0 (-1 marks an unlabelled node)")
        y = y.astype(np.int64, copy=False)
        num_classes = int(y.max()) + 1 if y.size else 0
    return graph, x, y, _normalized_splits(splits, n), num_classes, None


def _normalized_splits(splits, n):
    if splits is None:
        return {}
    if not isinstance(splits, dict):
        raise TypeError(f"splits must be a dict, got {type(splits).__name__}")
    if splits and set(splits) <= set(SPLIT_PARTS):
        splits = {"default": splits}
    out = {}
    for name, parts in splits.items():
        if not isinstance(name, str) or not name or name in (".", "..") or "/" in name or os.sep in name:
            raise ValueError(f"split names must be non-empty folder names, got {name!r}")
        if not isinstance(parts, dict) or set(parts) != set(SPLIT_PARTS):
            raise ValueError(f"splits[{name!r}] must be a dict with keys train, valid and test")
        out[name] = {}
        for part in SPLIT_PARTS:
            where = f"splits[{name!r}][{part!r}]"
            ids = V.as_index_vector(parts[part], where)
            V.check_ids_in_range(ids, n, where)
            out[name][part] = ids.astype(np.int64, copy=False)
    return out


# ---------------------------------------------------------------------- one part
def _row_edge_ids(indptr, rows):
    """The edge ids of ``rows`` (increasing), each row's in CSR order: ``(edge_ids, local indptr)``."""
    starts = indptr[rows]
    lengths = indptr[rows + 1] - starts
    local_indptr = np.zeros(rows.shape[0] + 1, dtype=np.int64)
    np.cumsum(lengths, out=local_indptr[1:])
    total = int(local_indptr[-1])
    # edge k of the part lies in row r = the row whose range holds k: id = starts[r] + (k - local_indptr[r])
    offsets = np.repeat(starts - local_indptr[:-1], lengths)
    return np.arange(total, dtype=np.int64) + offsets, local_indptr


#: Rows scanned at once for their in-neighbours' parts (bounds the per-edge temporaries).
_BOUNDARY_CHUNK_ROWS = 1 << 16


def _boundary_nodes(indptr, indices, parts):
    """Whether each node has an in-neighbour in another part (bool, one per node), a chunk of rows at a time."""
    n = parts.shape[0]
    boundary = np.zeros(n, dtype=bool)
    for start in range(0, n, _BOUNDARY_CHUNK_ROWS):
        stop = min(start + _BOUNDARY_CHUNK_ROWS, n)
        lengths = np.diff(indptr[start:stop + 1])
        remote = parts[indices[indptr[start]:indptr[stop]]] != np.repeat(parts[start:stop], lengths)
        boundary[start:stop] = np.bincount(np.repeat(np.arange(stop - start), lengths), weights=remote,
                                           minlength=stop - start) > 0
    return boundary


class _Layout:
    """What every part needs from the whole graph: the assignment and each node's rank within its part."""

    def __init__(self, graph, parts, num_parts):
        self.graph = graph
        self.parts = parts
        self.num_parts = num_parts
        self.indptr = np.asarray(graph.indptr, dtype=np.int64)
        self.indices = np.asarray(graph.indices)
        self.in_degree = np.diff(self.indptr)
        # owned nodes of each part: the interior ones (every in-neighbour in the part) first, then the
        # boundary ones, each in increasing global id; np.lexsort is stable
        order = np.lexsort((_boundary_nodes(self.indptr, self.indices, parts), parts))
        self.counts = np.bincount(parts, minlength=num_parts).astype(np.int64)
        self.starts = np.zeros(num_parts + 1, dtype=np.int64)
        np.cumsum(self.counts, out=self.starts[1:])
        self.local_index = np.empty(parts.shape[0], dtype=np.int64)
        self.local_index[order] = np.arange(parts.shape[0], dtype=np.int64) - np.repeat(self.starts[:-1], self.counts)
        self.order = order

    def owned(self, p):
        return self.order[self.starts[p]:self.starts[p + 1]]

    def build(self, p):
        owned = self.owned(p)
        edge_ids, local_indptr = _row_edge_ids(self.indptr, owned)
        sources = self.indices[edge_ids].astype(np.int64, copy=False)
        remote = self.parts[sources] != p
        by_id = np.unique(sources[remote])
        # the halo grouped by owner, increasing global id within an owner: received rows land in place
        order = np.argsort(self.parts[by_id], kind="stable")
        halo = by_id[order]
        position = np.empty_like(order)
        position[order] = np.arange(order.shape[0])
        local = np.empty(sources.shape[0], dtype=np.int64)
        local[~remote] = self.local_index[sources[~remote]]
        local[remote] = owned.shape[0] + position[np.searchsorted(by_id, sources[remote])]
        return dict(owned=owned, halo=halo, edge_ids=edge_ids, local_indptr=local_indptr, local_indices=local,
                    cut=int(np.count_nonzero(remote)))


# ---------------------------------------------------------------------- the plan
class PartitionInfo:
    """The plan of a partitioned graph, as stored in ``partition.json``.

    Attributes
    ----------
    num_parts, num_nodes, num_edges : int
    method : str
    seed : int
    fingerprint : dict
        :func:`graph_fingerprint` of the partitioned graph.
    index_dtype : str
    edge_weight_dtype : str or None
    num_features : int or None
    feature_dtype : str or None
    num_classes : int or None
    split_names : list of str
    parts : list of dict
        Per part: ``num_owned``, ``num_local_edges``, ``num_halo``, ``num_cut_edges`` (its in-edges
        from other parts).
    edge_cut : int
        Edges whose source and destination lie in different parts.
    meta : dict
        The whole parsed ``partition.json``.
    """

    def __init__(self, meta, path=None):
        self.meta = meta
        self.path = path
        self.num_parts = int(meta["num_parts"])
        self.method = meta["method"]
        self.seed = meta["seed"]
        self.num_nodes = int(meta["num_nodes"])
        self.num_edges = int(meta["num_edges"])
        self.fingerprint = dict(meta["fingerprint"])
        self.index_dtype = meta["index_dtype"]
        self.edge_weight_dtype = meta["edge_weight_dtype"]
        self.num_features = meta["num_features"]
        self.feature_dtype = meta["feature_dtype"]
        self.num_classes = meta["num_classes"]
        self.split_names = list(meta["splits"])
        self.parts = [dict(part) for part in meta["parts"]]
        self.edge_cut = int(meta["edge_cut"])

    @classmethod
    def load(cls, out_dir):
        """The plan stored in ``out_dir/partition.json``, checked."""
        out_dir = os.path.abspath(os.fspath(out_dir))
        path = os.path.join(out_dir, PARTITION_FILE)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path} is missing: {out_dir} is not a partitioned graph "
                                    "(write one with fastgnn.distributed.partition)")
        try:
            with open(path, encoding="utf-8") as handle:
                meta = json.load(handle)
        except (ValueError, UnicodeDecodeError) as error:
            raise ValueError(f"{path}: not valid JSON ({error})") from None
        if not isinstance(meta, dict) or meta.get("format") != PARTITION_FORMAT:
            raise ValueError(f"{path}: not a {PARTITION_FORMAT} file")
        if meta.get("version") not in READABLE_VERSIONS:
            raise ValueError(f"{path}: format version {meta.get('version')!r}, this fastgnn reads "
                             f"versions {', '.join(map(str, READABLE_VERSIONS))}")
        try:
            info = cls(meta, out_dir)
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{path}: missing or bad entry ({error!r})") from None
        if len(info.parts) != info.num_parts:
            raise ValueError(f"{path}: {len(info.parts)} parts listed, num_parts={info.num_parts}")
        return info

    @property
    def halo_sizes(self):
        """Halo nodes of every part (a list of int)."""
        return [int(part["num_halo"]) for part in self.parts]

    @property
    def owned_sizes(self):
        """Owned nodes of every part (a list of int)."""
        return [int(part["num_owned"]) for part in self.parts]

    def exchange_bytes(self, width, dtype="float32"):
        """Bytes one layer of width ``width`` exchanges per epoch over all ranks: forward and backward.

        In the forward pass each part receives one row of ``width`` values
        per halo node from the node's owner; in the backward pass it sends the
        gradient of the same rows back: ``2 * sum(num_halo) * width * itemsize``.

        Parameters
        ----------
        width : int
            The width of the rows exchanged (the layer's input width).
        dtype : dtype
            float32 or float64.

        Returns
        -------
        int
        """
        width = V.check_size(width, "width")
        itemsize = np.dtype(dtype).itemsize
        return 2 * sum(self.halo_sizes) * width * itemsize

    def report(self, width=None, dtype="float32"):
        """A short text report: edge cut, balance, halo sizes (and bytes exchanged with ``width``)."""
        lines = [f"{self.num_parts} parts of {self.num_nodes} nodes and {self.num_edges} edges "
                 f"(method {self.method}, seed {self.seed})",
                 f"edge cut: {self.edge_cut} edges ({_percent(self.edge_cut, self.num_edges)} of all)"]
        for p, part in enumerate(self.parts):
            lines.append(f"part {p}: {part['num_owned']} owned nodes, {part['num_local_edges']} edges, "
                         f"{part['num_halo']} halo nodes, {part['num_cut_edges']} cut in-edges")
        lines.append(f"halo nodes: {sum(self.halo_sizes)} in total "
                     f"({_percent(sum(self.halo_sizes), self.num_nodes)} of the nodes)")
        if width is not None:
            lines.append(f"bytes exchanged per epoch by a layer of width {width} ({np.dtype(dtype).name}, "
                         f"forward + backward): {self.exchange_bytes(width, dtype)}")
        return "\n".join(lines)

    def to_dict(self):
        """The plan as the dict stored in ``partition.json``."""
        return json.loads(json.dumps(self.meta))

    def __repr__(self):
        return (f"PartitionInfo({self.num_parts} parts of {self.num_nodes} nodes, method={self.method!r}, "
                f"edge_cut={self.edge_cut}, halo={self.halo_sizes})")


def _percent(part, whole):
    return f"{100.0 * part / whole:.1f}%" if whole else "0%"


# ---------------------------------------------------------------------- writing
def partition(graph_or_dataset_dir, num_parts, out_dir, *, method="metis", seed=0, x=None, y=None, splits=None,
              overwrite=False):
    """Partition a graph (with its features, labels and splits) into ``num_parts`` parts on disk.

    Parameters
    ----------
    graph_or_dataset_dir : Graph, OnDiskDataset, str or os.PathLike
        A square graph (with ``x``, ``y``, ``splits`` passed alongside), or a
        dataset folder (``docs/datasets-on-disk.md``), whose features, labels
        and every split are partitioned with it.
    num_parts : int
        From 1 to the number of nodes.
    out_dir : str or os.PathLike
        The folder to write; it must not exist unless ``overwrite``. Written
        atomically: a temporary sibling folder renamed when complete.
    method : {"metis", "random", "contiguous"}
        See :func:`assign_parts`. ``"metis"`` needs ``pymetis``.
    seed : int
    x : array_like of shape (num_nodes, num_features), optional
        float32 or float64.
    y : array_like of int, shape (num_nodes,), optional
        Class ids; -1 marks an unlabelled node.
    splits : dict, optional
        ``{"train": ids, "valid": ids, "test": ids}`` (the split ``"default"``)
        or ``{name: {...}}``, as :func:`fastgnn.datasets.save_dataset` takes.
    overwrite : bool

    Returns
    -------
    PartitionInfo

    Notes
    -----
    Part ``p`` is written as ``out_dir/part-<p>/``, a dataset folder over the
    bipartite graph of its owned rows and its local source columns (owned
    nodes: the interior ones, whose in-neighbours the part owns, then the
    others, each in increasing global id; then halo nodes grouped by owning
    part in increasing part order, increasing global id within a part); each row keeps its
    global CSR edge order and edge weights. Split files hold the local ids of
    the owned nodes in the split (sorted, without repeats). Cost:
    ``O(E + N log N)`` time plus METIS, ``O(N + E / num_parts)`` memory besides
    the graph, features gathered in chunks of rows.

    Examples
    --------
    >>> import tempfile
    >>> from fastgnn.datasets import dcsbm_graph
    >>> from fastgnn.distributed import load_partition, partition
    >>> graph, x, y, split = dcsbm_graph(1000, 10, 4, seed=0, return_split=True)
    >>> folder = tempfile.TemporaryDirectory()
    >>> info = partition(graph, 2, folder.name + "/parts", method="random", x=x, y=y, splits=split)
    >>> parts = [load_partition(folder.name + "/parts", rank) for rank in range(2)]
    >>> sum(part.num_owned for part in parts)          # every node is owned by one part
    1000
    >>> folder.cleanup()
    """
    graph, x, y, splits, num_classes, name = _resolve_input(graph_or_dataset_dir, x, y, splits)
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    num_parts = check_num_parts(num_parts, graph.num_dst_nodes)
    seed = check_seed(seed)
    if not isinstance(overwrite, bool):
        raise TypeError(f"overwrite must be a bool, got {type(overwrite).__name__}")
    out_dir = os.path.abspath(os.fspath(out_dir))
    if os.path.lexists(out_dir) and not overwrite:
        raise FileExistsError(f"out_dir {out_dir} already exists; pass overwrite=True to replace it")
    parts = assign_parts(graph, num_parts, method, seed)
    layout = _Layout(graph, parts, num_parts)
    split_masks = {}
    for split_name, split in splits.items():        # one membership mask per split part, over all nodes
        split_masks[split_name] = {}
        for part_name, ids in split.items():
            mask = np.zeros(graph.num_dst_nodes, dtype=bool)
            mask[ids] = True
            split_masks[split_name][part_name] = mask
    part_entries = []
    with storage.atomic_folder(out_dir, overwrite=overwrite) as folder:
        for p in range(num_parts):
            built = layout.build(p)
            _write_part(part_folder(folder, p), graph, layout, built, x, y, split_masks, num_classes, name, p)
            part_entries.append({"num_owned": int(built["owned"].shape[0]),
                                 "num_local_edges": int(built["edge_ids"].shape[0]),
                                 "num_halo": int(built["halo"].shape[0]), "num_cut_edges": built["cut"]})
        meta = {
            "format": PARTITION_FORMAT, "version": PARTITION_VERSION, "num_parts": num_parts, "method": method,
            "seed": seed, "name": name, "num_nodes": graph.num_dst_nodes, "num_edges": graph.num_edges,
            "index_dtype": np.dtype(graph.index_dtype).name,
            "edge_weight_dtype": None if graph.edge_weight is None else np.dtype(graph.edge_weight.dtype).name,
            "fingerprint": graph_fingerprint(graph),
            "num_features": None if x is None else int(x.shape[1]),
            "feature_dtype": None if x is None else np.dtype(x.dtype).name,
            "num_classes": num_classes, "has_labels": y is not None, "splits": list(splits),
            "parts": part_entries, "edge_cut": int(sum(entry["num_cut_edges"] for entry in part_entries)),
            "structure": dict(STRUCTURE_FILES),
        }
        _write_structure(folder, graph, layout)
        with open(os.path.join(folder, PARTITION_FILE), "w", encoding="utf-8") as handle:
            json.dump(meta, handle, indent=1, sort_keys=True)
            handle.write("\n")
    return PartitionInfo(meta, out_dir)


def _write_structure(folder, graph, layout):
    """The whole graph's CSR (mini-batch ranks sample from it) and every node's owner and local id."""
    storage.save_graph(graph, os.path.join(folder, STRUCTURE_FILES["graph"]))
    np.save(os.path.join(folder, STRUCTURE_FILES["owner"]), layout.parts.astype(np.int32))
    np.save(os.path.join(folder, STRUCTURE_FILES["local_index"]), layout.local_index.astype(np.int64))


def _write_part(folder, graph, layout, built, x, y, split_masks, num_classes, name, p):
    owned, halo = built["owned"], built["halo"]
    n_owned = owned.shape[0]
    global_ids = np.concatenate([owned, halo]).astype(np.int64)
    index_dtype = graph.index_dtype
    weight = None if graph.edge_weight is None else np.asarray(graph.edge_weight)[built["edge_ids"]]
    local_graph = Graph.from_csr(built["local_indptr"], built["local_indices"], weight,
                                 num_src_nodes=global_ids.shape[0], index_dtype=index_dtype)
    splits = {}
    for split_name, masks in split_masks.items():
        splits[split_name] = {part_name: np.flatnonzero(mask[owned]).astype(np.int64)
                              for part_name, mask in masks.items()}
    meta = dataset_meta(local_graph, name=name, x_shape=None if x is None else (n_owned, x.shape[1]),
                        x_dtype=None if x is None else x.dtype, y_shape=None if y is None else (n_owned,),
                        y_dtype=np.int64, num_classes=num_classes, splits=splits,
                        extra={"partition": {"part": p, "num_parts": layout.num_parts, "num_owned": n_owned,
                                             "num_halo": int(halo.shape[0])}})
    os.makedirs(folder)
    storage.write_graph_files(folder, local_graph)
    if x is not None:
        with storage.NpyWriter(os.path.join(folder, "x.npy"), (n_owned, x.shape[1]), x.dtype) as writer:
            for start in range(0, n_owned, _FEATURE_CHUNK):
                writer.write(x[owned[start:start + _FEATURE_CHUNK]])
    if y is not None:
        np.save(os.path.join(folder, "y.npy"), np.asarray(y, dtype=np.int64)[owned])
    write_splits(folder, splits)
    np.save(os.path.join(folder, "global_ids.npy"), global_ids)
    np.save(os.path.join(folder, "halo_owner.npy"), layout.parts[halo].astype(np.int32))
    np.save(os.path.join(folder, "halo_remote_index.npy"), layout.local_index[halo].astype(np.int64))
    np.save(os.path.join(folder, "in_degree.npy"), layout.in_degree[global_ids].astype(np.int64))
    np.save(os.path.join(folder, "edge_ids.npy"), built["edge_ids"].astype(np.int64))
    storage.write_meta(folder, meta)


# ---------------------------------------------------------------------- reading
class Partition:
    """One part of a partitioned graph, as a rank holds it (:func:`load_partition`).

    Attributes
    ----------
    graph : Graph
        Bipartite: ``num_owned`` destination rows (the owned nodes), and
        ``num_owned + num_halo`` source columns (owned nodes, then halo nodes).
        Always memory-mapped (read-only), its pages released after the
        validation: they are resident while a layer reads them, and a
        trainer that only needs a graph derived from it (GCN's normalized
        local graph) can release them again.
    x : ndarray of shape (num_owned, num_features), or None
        Read into the first rows of :attr:`x_src` (a view of it), or
        memory-mapped with ``mmap=True``.
    x_src : ndarray of shape (num_owned + num_halo, num_features), or None
        ``x`` with room for the halo rows after it: zeros (pages not yet
        touched) until a halo exchange receives them in place, so the
        owned rows are held once. None when memory-mapped.
    y : ndarray of int64, shape (num_owned,), or None
    splits : dict
        ``{name: {"train": ids, "valid": ids, "test": ids}}``, local ids of owned nodes.
    global_ids : ndarray of int64, shape (num_owned + num_halo,)
    num_owned, num_halo : int
    halo_owner : ndarray of int32, shape (num_halo,)
    halo_remote_index : ndarray of int64, shape (num_halo,)
        Each halo node's local id within its owner.
    in_degree : ndarray of int64, shape (num_owned + num_halo,)
        The global in-degree of every local source node (memory-mapped:
        full-graph training computes its degrees from the local graph).
    edge_ids : ndarray of int64, shape (num_edges,)
        The global edge id of every local edge (always memory-mapped: read
        only where used).
    full_graph : Graph
        The whole graph's structure, memory-mapped on first access (mini-batch
        training samples whole neighbourhoods from it).
    owner, local_index : ndarray, shape (num_nodes,)
        Every node's part (int32) and local id there (int64), memory-mapped on
        first access.
    rank : int
    info : PartitionInfo
    path : str
        The part's folder.
    """

    def __init__(self, info, rank, mmap=False):
        folder = part_folder(info.path, rank)
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"{folder} is missing")
        self.info, self.rank, self.path = info, rank, folder
        self.meta = storage.read_meta(folder)
        self.graph = storage.load_graph(Graph, folder, mmap=True)
        release_mapped_pages(self.graph.indptr, self.graph.indices, self.graph.edge_weight)  # read to check
        entry = info.parts[rank]
        self.num_owned = self.graph.num_dst_nodes
        self.num_halo = self.graph.num_src_nodes - self.num_owned
        if (self.num_owned, self.num_halo, self.graph.num_edges) != (
                entry["num_owned"], entry["num_halo"], entry["num_local_edges"]):
            raise ValueError(f"{folder} does not match {PARTITION_FILE}: {self.graph!r}, expected "
                             f"{entry['num_owned']} owned, {entry['num_halo']} halo nodes and "
                             f"{entry['num_local_edges']} edges")
        n_src = self.graph.num_src_nodes
        self.x = self.x_src = None
        if self.meta.get("x") is not None:
            shape = self.meta["x"]["shape"]
            if list(shape[:1]) != [self.num_owned]:
                raise ValueError(f"{folder}/meta.json: x must have {self.num_owned} rows, got shape {shape}")
            # checked and mapped; nothing read yet
            self.x = storage.open_npy(folder, "x.npy", shape=shape, dtype=self.meta["x"]["dtype"], mmap=True)
            if not mmap:
                self.x_src = _read_with_room(self.x, n_src)
                self.x = self.x_src[:self.num_owned]
        self.y = None
        if self.meta.get("y") is not None:
            self.y = storage.open_npy(folder, "y.npy", shape=(self.num_owned,), dtype=np.int64, mmap=False)
        self.global_ids = storage.open_npy(folder, "global_ids.npy", shape=(n_src,), dtype=np.int64, mmap=False)
        self.halo_owner = storage.open_npy(folder, "halo_owner.npy", shape=(self.num_halo,), dtype=np.int32,
                                           mmap=False)
        self.halo_remote_index = storage.open_npy(folder, "halo_remote_index.npy", shape=(self.num_halo,),
                                                  dtype=np.int64, mmap=False)
        self.in_degree = storage.open_npy(folder, "in_degree.npy", shape=(n_src,), dtype=np.int64, mmap=True)
        # memory-mapped whatever ``mmap`` says: 8 bytes per edge that training never reads
        self.edge_ids = storage.open_npy(folder, "edge_ids.npy", shape=(self.graph.num_edges,), dtype=np.int64,
                                         mmap=True)
        if self.num_halo and (int(self.halo_owner.min()) < 0 or int(self.halo_owner.max()) >= info.num_parts
                              or np.any(self.halo_owner == rank)):
            raise ValueError(f"{folder}/halo_owner.npy: owners must be other parts in [0, {info.num_parts})")
        self.splits = {}
        for name in self.meta.get("splits", []):
            self.splits[name] = {}
            for part in SPLIT_PARTS:
                relative = os.path.join("split", name, f"{part}.npy")
                shape = storage.checked_npy_header(os.path.join(folder, relative))[0]
                ids = storage.open_npy(folder, relative, shape=shape, dtype=np.int64, mmap=False)
                storage.checked(os.path.join(folder, relative),
                                lambda ids=ids: V.check_ids_in_range(ids, self.num_owned, "ids"))
                self.splits[name][part] = ids

    @property
    def num_classes(self):
        return self.info.num_classes

    def _structure(self, name):
        """A file of the partition root's whole-graph structure, opened once (memory-mapped)."""
        cache = self.__dict__.setdefault("_structure_cache", {})
        if name not in cache:
            cache[name] = load_structure(self.info, name)
        return cache[name]

    @property
    def full_graph(self):
        """The whole graph's structure (``out_dir/graph``, memory-mapped): mini-batch ranks sample from it."""
        return self._structure("graph")

    @property
    def owner(self):
        """The part owning every node of the whole graph (int32, memory-mapped)."""
        return self._structure("owner")

    @property
    def local_index(self):
        """Every node's local id within its owner (int64, memory-mapped)."""
        return self._structure("local_index")

    def split(self, name="default"):
        """The local ids of split ``name`` (``"default"``: the first stored split)."""
        if name == "default" and name not in self.splits and self.splits:
            name = next(iter(self.splits))
        if name not in self.splits:
            raise KeyError(f"{self.path} has no split {name!r}; it has {list(self.splits) or 'none'}")
        return dict(self.splits[name])

    def masks(self, name="default"):
        """The split as boolean masks over the owned nodes ``(train_mask, valid_mask, test_mask)``."""
        out = []
        for part in SPLIT_PARTS:
            mask = np.zeros(self.num_owned, dtype=bool)
            mask[self.split(name)[part]] = True
            out.append(mask)
        return tuple(out)

    def __repr__(self):
        return (f"Partition(rank {self.rank} of {self.info.num_parts}: {self.num_owned} owned, "
                f"{self.num_halo} halo nodes, {self.graph.num_edges} edges)")


def _read_with_room(mapped, num_rows):
    """The rows of the memory-mapped ``.npy`` array ``mapped`` read into the first rows of a zeroed array of ``num_rows``.

    The array (64-byte aligned, as the kernels prefer) is allocated zeroed:
    fresh pages, not resident until written. The file is read straight into
    its first rows, not through the map's pages.
    """
    out = empty_aligned((num_rows,) + mapped.shape[1:], mapped.dtype, zeroed=True)
    if mapped.size == 0:
        return out
    target = memoryview(out[:mapped.shape[0]].reshape(-1)).cast("B")
    with open(mapped.filename, "rb") as handle:
        handle.seek(mapped.offset)
        done = 0
        while done < target.nbytes:
            count = handle.readinto(target[done:])
            if not count:
                raise ValueError(f"{mapped.filename} ended after {done} of {target.nbytes} bytes of data")
            done += count
    return out


def load_structure(info, name):
    """``"graph"``, ``"owner"`` or ``"local_index"`` of the partition root, memory-mapped and checked.

    A partition written before these files existed raises a FileNotFoundError
    that says to partition the graph again.
    """
    if name not in STRUCTURE_FILES:
        raise ValueError(f"name must be one of {', '.join(STRUCTURE_FILES)}, got {name!r}")
    path = os.path.join(info.path, STRUCTURE_FILES[name])
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} is missing: this partition was written by an older fastgnn without the "
                                "whole graph's structure that mini-batch training samples from; partition the "
                                "graph again")
    n = info.num_nodes
    if name == "graph":
        graph = storage.load_graph(Graph, path, mmap=True)
        if (graph.num_dst_nodes, graph.num_src_nodes, graph.num_edges) != (n, n, info.num_edges):
            raise ValueError(f"{path} holds {graph!r}, not the partitioned graph of {n} nodes and "
                             f"{info.num_edges} edges")
        return graph
    dtype = np.int32 if name == "owner" else np.int64
    array = storage.open_npy(info.path, STRUCTURE_FILES[name], shape=(n,), dtype=dtype, mmap=True)
    bound = info.num_parts if name == "owner" else max(info.owned_sizes, default=0)
    if n and (int(array.min()) < 0 or int(array.max()) >= bound):
        raise ValueError(f"{path}: values must lie in [0, {bound}), got [{int(array.min())}, {int(array.max())}]")
    return array


def load_partition(out_dir, rank, *, mmap=False):
    """Part ``rank`` of the partitioned graph in ``out_dir`` (see :func:`partition`).

    Parameters
    ----------
    out_dir : str or os.PathLike
    rank : int
        In ``[0, num_parts)``.
    mmap : bool
        Memory-map the features instead of reading them (the graph arrays
        are always memory-mapped, see :attr:`Partition.graph`).

    Returns
    -------
    Partition
    """
    info = PartitionInfo.load(out_dir)
    if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)):
        raise TypeError(f"rank must be an int, got {type(rank).__name__}")
    if not 0 <= int(rank) < info.num_parts:
        raise ValueError(f"rank must be in [0, {info.num_parts}) for {info.path}, got {rank}")
    return Partition(info, int(rank), mmap=mmap)


def reassemble(out_dir):
    """The graph, features, labels and splits a partition folder was written from.

    Returns
    -------
    graph : Graph
        Equal to the partitioned graph (same CSR order, index dtype and edge weights).
    x : ndarray or None
    y : ndarray of int64 or None
    splits : dict
        ``{name: {"train": ids, "valid": ids, "test": ids}}`` with sorted global ids.
    """
    info = PartitionInfo.load(out_dir)
    n, num_edges = info.num_nodes, info.num_edges
    indices = np.empty(num_edges, dtype=info.index_dtype)
    degree = np.zeros(n, dtype=np.int64)
    weight = None if info.edge_weight_dtype is None else np.empty(num_edges, dtype=info.edge_weight_dtype)
    x = None if info.num_features is None else np.empty((n, info.num_features), dtype=info.feature_dtype)
    y = np.empty(n, dtype=np.int64) if info.meta.get("has_labels") else None
    seen = np.zeros(n, dtype=bool)
    edge_seen = np.zeros(num_edges, dtype=bool)
    splits = {name: {part: [] for part in SPLIT_PARTS} for name in info.split_names}
    for rank in range(info.num_parts):
        part = Partition(info, rank)
        owned = part.global_ids[:part.num_owned]
        if np.any(seen[owned]):
            raise ValueError(f"{part.path}: owns nodes another part owns")
        seen[owned] = True
        degree[owned] = np.diff(np.asarray(part.graph.indptr, dtype=np.int64))
        indices[part.edge_ids] = part.global_ids[np.asarray(part.graph.indices, dtype=np.int64)]
        edge_seen[part.edge_ids] = True
        if weight is not None:
            weight[part.edge_ids] = part.graph.edge_weight
        if x is not None:
            x[owned] = part.x
        if y is not None:
            y[owned] = part.y
        for name in info.split_names:
            for split_part in SPLIT_PARTS:
                splits[name][split_part].append(owned[part.splits[name][split_part]])
    if not seen.all() or not edge_seen.all():
        raise ValueError(f"{info.path}: the parts do not cover every node and edge")
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(degree, out=indptr[1:])
    graph = Graph.from_csr(indptr, indices, weight, num_src_nodes=n, index_dtype=info.index_dtype)
    if graph_fingerprint(graph) != info.fingerprint:
        raise ValueError(f"{info.path}: the reassembled graph does not match the fingerprint in {PARTITION_FILE}")
    splits = {name: {split_part: np.sort(np.concatenate(chunks)) if chunks else np.empty(0, np.int64)
                     for split_part, chunks in parts.items()} for name, parts in splits.items()}
    return graph, x, y, splits
