"""The raw folder of an OGB node-property dataset (``ogbn-*``) converted once to the on-disk folder format.

OGB's raw layout (what ``ogb`` downloads and unzips, e.g. ``products/``)::

    raw/num-node-list.csv.gz     the number of nodes (one line)
    raw/edge.csv.gz              one edge "src,dst" per line, directed src -> dst
    raw/node-feat.csv.gz         one row of comma-separated floats per node (optional)
    raw/node-label.csv.gz        one class id per node (optional; "nan" = unlabelled)
    split/<name>/{train,valid,test}.csv.gz   one node id per line

Every file is read in chunks of lines (``gzip``, cut at line ends, parsed by
:func:`numpy.loadtxt`), so the conversion needs memory for the CSR pointer and the edge chunk, not
for the whole edge list: the edge file is read twice, once to count
in-degrees and once to place each edge in its destination's row. No pandas.
"""
import gzip
import io
import os

import numpy as np

from fastgnn._runtime import validate as V
from fastgnn.datasets.on_disk import SPLIT_PARTS, OnDiskDataset, dataset_meta, write_splits
from fastgnn.graph import storage

__all__ = ["read_ogb_node_dataset"]

_CHUNK_VALUES = 1 << 22       # numbers parsed at a time from a wide file (node features)
_READ_BYTES = 1 << 22         # bytes of text decompressed at a time


def _raw(root, *parts):
    return os.path.join(root, *parts)


def _lines(handle, chunk_rows):
    """``(first_line, bytes)`` pieces of ``chunk_rows`` lines (the last may be shorter) from a binary stream."""
    buffer, count, first, eof = b"", 0, 0, False
    while True:
        while not eof and count < chunk_rows:
            data = handle.read(_READ_BYTES)
            eof = not data
            buffer += data
            count += data.count(b"\n")
        if count >= chunk_rows:
            cut = int(np.flatnonzero(np.frombuffer(buffer, dtype=np.uint8) == ord("\n"))[chunk_rows - 1]) + 1
            piece, buffer, count = buffer[:cut], buffer[cut:], count - chunk_rows
        else:
            piece, buffer, count = buffer, b"", 0
        if not piece:
            return
        yield first, piece
        first += chunk_rows


def _chunks(path, chunk_rows, dtype, columns=None):
    """Arrays of up to ``chunk_rows`` parsed lines of the gzipped CSV ``path`` (2-D when ``columns``).

    The text is read in large blocks and cut at line ends, then parsed by
    :func:`numpy.loadtxt`'s C reader: no Python object per line.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} is missing")
    with gzip.open(path, "rb") as handle:
        for first, piece in _lines(handle, chunk_rows):
            last = first + piece.count(b"\n") + (not piece.endswith(b"\n"))
            where = f"{path}: lines {first + 1}-{last}"
            if not piece.strip():
                continue
            try:
                block = np.loadtxt(io.StringIO(piece.decode("ascii")), delimiter=",", dtype=dtype, ndmin=2)
            except ValueError as error:                       # UnicodeDecodeError included
                raise ValueError(f"{where}: cannot be parsed ({error})") from None
            if columns is not None and block.shape[1] != columns:
                raise ValueError(f"{where} have {block.shape[1]} columns, expected {columns}")
            yield block if columns is not None else block.reshape(-1)


def _first_row_width(path):
    with gzip.open(path, "rt", encoding="ascii") as handle:
        first = handle.readline()
    return len(first.split(",")) if first.strip() else 0


def _num_nodes(root):
    path = _raw(root, "raw", "num-node-list.csv.gz")
    counts = np.concatenate(list(_chunks(path, 1 << 16, np.int64)) or [np.zeros(0, np.int64)])
    if counts.shape[0] != 1 or counts[0] < 0:
        raise ValueError(f"{path} must hold one non-negative node count (one graph), got {counts.tolist()}")
    return int(counts[0])


def _edge_chunks(path, num_nodes, chunk_rows):
    """``(src, dst)`` chunks of the edge file, ids checked."""
    for block in _chunks(path, chunk_rows, np.int64, columns=2):
        storage.checked(path, lambda: V.check_ids_in_range(block, num_nodes, "node ids"))
        yield block[:, 0], block[:, 1]


def _place(indices, cursor, src, dst, num_nodes):
    """Put the edges ``src -> dst`` at the next free places of their rows, in the order given."""
    order = np.argsort(dst, kind="stable")
    dst_sorted = dst[order]
    rank = np.arange(dst_sorted.shape[0]) - np.searchsorted(dst_sorted, dst_sorted, side="left")
    indices[cursor[dst_sorted] + rank] = src[order]
    cursor += np.bincount(dst, minlength=num_nodes)


def _write_csr(folder, path, num_nodes, chunk_rows, to_undirected, index_dtype):
    """Two passes over the edge file: count in-degrees, then place every edge; returns the edge count.

    Row ``i`` holds the edges ``j -> i`` of the file in file order, then
    (``to_undirected``) the reversed edges ``i -> j`` in file order: the
    order of ``Graph.from_edge_index`` on the edge list followed by its
    reverse, whatever ``chunk_rows``.
    """
    forward = np.zeros(num_nodes, dtype=np.int64)
    backward = np.zeros(num_nodes, dtype=np.int64)
    for src, dst in _edge_chunks(path, num_nodes, chunk_rows):
        forward += np.bincount(dst, minlength=num_nodes)
        if to_undirected:
            backward += np.bincount(src, minlength=num_nodes)
    indptr = np.zeros(num_nodes + 1, dtype=np.int64)
    np.cumsum(forward + backward, out=indptr[1:])
    num_edges = int(indptr[-1])
    dtype = np.dtype(V.check_index_dtype(index_dtype, num_nodes, num_nodes, num_edges))
    np.save(os.path.join(folder, "indptr.npy"), indptr.astype(dtype))
    indices = np.lib.format.open_memmap(os.path.join(folder, "indices.npy"), mode="w+", dtype=dtype,
                                        shape=(num_edges,))
    forward_cursor = indptr[:-1].copy()
    backward_cursor = indptr[:-1] + forward
    del forward, backward
    for src, dst in _edge_chunks(path, num_nodes, chunk_rows):
        _place(indices, forward_cursor, src, dst, num_nodes)
        if to_undirected:
            _place(indices, backward_cursor, dst, src, num_nodes)
    indices.flush()
    del indices
    return num_edges, dtype


def read_ogb_node_dataset(raw_dir, out_dir, *, to_undirected=False, name=None, index_dtype=None,
                          feature_dtype="float32", chunk_rows=1 << 20, overwrite=False):
    """Convert an OGB node-property dataset's raw folder to the on-disk folder format, once.

    Parameters
    ----------
    raw_dir : str or os.PathLike
        The dataset's root folder, the one holding ``raw/`` and ``split/``
        (e.g. ``dataset/ogbn_products``).
    out_dir : str or os.PathLike
        The dataset folder to write (``docs/datasets-on-disk.md``),
        atomically; it must not exist unless ``overwrite``.
    to_undirected : bool
        Store every edge in both directions (OGB's ``add_inverse_edge``, as
        ogbn-products and ogbn-proteins are used), duplicates kept; recorded
        in ``meta.json`` under ``"source"``. Off: the edges as written, each
        ``src -> dst``.
    name : str, optional
        Defaults to the name of ``raw_dir``.
    index_dtype : {None, 'int32', 'int64'}
        None picks the narrowest that fits.
    feature_dtype : {'float32', 'float64'}
    chunk_rows : int
        Lines parsed at a time (fewer for the feature file, so that a chunk
        holds at most about 4M numbers).
    overwrite : bool

    Returns
    -------
    OnDiskDataset

    Raises
    ------
    FileNotFoundError, ValueError
        A missing file, a line that does not parse, a wrong number of rows
        or columns, or a node id out of range; the message names the file.
        Nothing is left in ``out_dir`` then.

    Notes
    -----
    Edges keep their file order within each destination's row. Labels are
    int64, with -1 for a missing (``nan``) label; ``num_classes`` is the
    largest label plus one. Split ids are int64; every split folder found is
    converted, the first in name order is the default.
    """
    root = os.fspath(raw_dir)
    if not os.path.isdir(_raw(root, "raw")):
        raise FileNotFoundError(f"{_raw(root, 'raw')} is missing (raw_dir is the folder holding raw/ and split/)")
    chunk_rows = V.check_size(chunk_rows, "chunk_rows")
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be >= 1")
    feature_dtype = np.dtype(feature_dtype)
    if feature_dtype not in (np.float32, np.float64):
        raise TypeError(f"feature_dtype must be float32 or float64, got {feature_dtype}")
    num_nodes = _num_nodes(root)
    edge_path = _raw(root, "raw", "edge.csv.gz")
    with storage.atomic_folder(out_dir, overwrite=overwrite) as folder:
        num_edges, index = _write_csr(folder, edge_path, num_nodes, chunk_rows, to_undirected, index_dtype)
        x_shape = None
        feat_path = _raw(root, "raw", "node-feat.csv.gz")
        if os.path.isfile(feat_path):
            width = _first_row_width(feat_path)
            x_shape = (num_nodes, width)
            with storage.NpyWriter(os.path.join(folder, "x.npy"), x_shape, feature_dtype) as writer:
                rows = max(1, min(chunk_rows, _CHUNK_VALUES // max(width, 1)))     # bounded text per chunk
                for block in _chunks(feat_path, rows, feature_dtype, columns=width):
                    if writer.rows + block.shape[0] > num_nodes:
                        raise ValueError(f"{feat_path} has more than {num_nodes} rows (num-node-list)")
                    writer.write(block)
                if writer.rows != num_nodes:
                    raise ValueError(f"{feat_path} has {writer.rows} rows, expected {num_nodes} (num-node-list)")
        y, num_classes = None, None
        label_path = _raw(root, "raw", "node-label.csv.gz")
        if os.path.isfile(label_path):
            parts = list(_chunks(label_path, chunk_rows, np.float64, columns=1))
            labels = np.concatenate(parts).reshape(-1) if parts else np.zeros(0)
            if labels.shape[0] != num_nodes:
                raise ValueError(f"{label_path} has {labels.shape[0]} rows, expected {num_nodes} (num-node-list)")
            known = ~np.isnan(labels)
            if np.any((labels[known] < 0) | (labels[known] != np.round(labels[known]))):
                raise ValueError(f"{label_path}: labels must be non-negative integers (or nan)")
            y = np.full(num_nodes, -1, dtype=np.int64)
            y[known] = labels[known].astype(np.int64)
            num_classes = int(y.max()) + 1 if np.any(known) else 0
            np.save(os.path.join(folder, "y.npy"), y)
        splits = {}
        split_root = _raw(root, "split")
        for split in sorted(os.listdir(split_root)) if os.path.isdir(split_root) else []:
            if not os.path.isdir(os.path.join(split_root, split)):
                continue
            splits[split] = {}
            for part in SPLIT_PARTS:
                path = os.path.join(split_root, split, f"{part}.csv.gz")
                ids = np.concatenate(list(_chunks(path, chunk_rows, np.int64, columns=1)) or
                                     [np.zeros((0, 1), np.int64)]).reshape(-1)
                storage.checked(path, lambda: V.check_ids_in_range(ids, num_nodes, "node ids"))
                splits[split][part] = ids
        write_splits(folder, splits)
        graph = {"format": storage.FORMAT_NAME, "version": storage.FORMAT_VERSION, "num_nodes": num_nodes,
                 "num_dst_nodes": num_nodes, "num_src_nodes": num_nodes, "num_edges": num_edges,
                 "index_dtype": index.name, "edge_weight_dtype": None}
        meta = dataset_meta(graph, name=name if name is not None else os.path.basename(os.path.abspath(root)),
                            x_shape=x_shape, x_dtype=feature_dtype, y_shape=None if y is None else (num_nodes,),
                            y_dtype=np.int64, num_classes=num_classes, splits=list(splits),
                            extra={"source": {"reader": "ogb-node", "to_undirected": bool(to_undirected)}})
        storage.write_meta(folder, meta)
    return OnDiskDataset(out_dir)
