"""Edge lists in text files (CSV, TSV, whitespace-separated; gzip when the name ends in ``.gz``).

One edge per line, ``source destination [weight]``: a message from
``source`` to ``destination`` (fastgnn's and PyG's convention). Node ids are
non-negative integers; lines starting with the comment character and blank
lines are skipped.
"""
import gzip
import math
import os
import warnings

import numpy as np

from fastgnn._runtime import validate as V
from fastgnn.graph import Graph
from fastgnn.graph.networkx_io import mirror_edges

__all__ = ["read_edge_list", "write_edge_list"]


_WRITE_CHUNK = 1 << 16  # edges formatted per write


def _open_text(path, mode):
    path = os.fspath(path)
    if path.endswith(".gz"):
        return gzip.open(path, mode + "t", compresslevel=6, encoding="utf-8", newline="")
    return open(path, mode, encoding="utf-8", newline="")


def _default_delimiter(path):
    name = os.fspath(path)
    name = name[:-3] if name.endswith(".gz") else name
    return "," if name.lower().endswith(".csv") else None


def _is_integer(text):
    text = text.strip()
    return text[1:].isdigit() if text[:1] in "+-" and len(text) > 1 else text.isdigit()


def read_edge_list(path, *, delimiter="auto", header="infer", weighted=None, comments="#", num_nodes=None,
                   directed=True, weight_dtype=np.float32, index_dtype=None):
    """A graph from a text file of edges, one ``source destination [weight]`` per line.

    Parameters
    ----------
    path : str or os.PathLike
        Read as UTF-8 text; gzip-compressed when the name ends in ``.gz``.
    delimiter : 'auto', str or None
        The column separator. ``'auto'``: a comma for ``.csv`` (and
        ``.csv.gz``) files, else any run of whitespace (tabs or spaces);
        None: any run of whitespace.
    header : 'infer', bool
        Whether the first line that is not a comment is a header (column
        names) to skip. ``'infer'``: it is when it has two fields or more
        and its first two are not both integers (``src,dst,weight``).
    weighted : bool or None
        Read the third column as the edge weight. None: when the first row
        has a third column; every row must then have one. Columns past the
        third (past the second with False) are ignored.
    comments : str or None
        Text from this string to the end of a line is ignored (a line with
        nothing else is skipped, as are blank lines).
    num_nodes : int, optional
        Default: the largest id + 1. Give it to keep isolated nodes at the end.
    directed : bool
        False adds the reverse ``v -> u`` of every edge ``u -> v`` (a
        self-loop once; the reverse gets the same weight).
    weight_dtype : float32 or float64
    index_dtype : {None, 'int32', 'int64'}

    Returns
    -------
    Graph
        Edges sorted by destination with a stable sort (file order within a
        row); duplicates are kept, as separate edges.

    Raises
    ------
    ValueError
        A malformed row (too few columns, a non-integer or negative id, a
        weight that is not a finite number), or an id ``>= num_nodes``; the
        message names the file and the line.

    Notes
    -----
    Read by ``np.loadtxt`` (NumPy's C parser); when it refuses a row, the
    file is read again line by line in Python to name the bad line. The
    graph is then built in ``O(E log E)``.
    """
    if header not in ("infer", True, False):
        raise ValueError(f"header must be 'infer', True or False, got {header!r}")
    if weighted not in (None, True, False):
        raise ValueError(f"weighted must be None, True or False, got {weighted!r}")
    if comments is not None and (not isinstance(comments, str) or not comments):
        raise ValueError(f"comments must be a non-empty string or None, got {comments!r}")
    weight_dtype = V.check_float_dtype(weight_dtype, "weight_dtype")
    if delimiter == "auto":
        delimiter = _default_delimiter(path)
    elif delimiter is not None and (not isinstance(delimiter, str) or not delimiter):
        raise ValueError(f"delimiter must be 'auto', a non-empty string or None, got {delimiter!r}")
    skip, first_row = _first_row(path, delimiter, header, comments)
    if weighted is None:
        weighted = first_row is not None and len(first_row) >= 3
    parsed = None if first_row is None else _read_fast(path, delimiter, skip, weighted, comments)
    if parsed is None:  # no rows, or a row np.loadtxt refuses: the line parser names it
        parsed = _read_lines(path, delimiter, skip, weighted, comments)
    src, dst, weight = parsed
    if not directed:
        src, dst, weight = mirror_edges(src, dst, weight)
    if num_nodes is None:
        num_nodes = int(max(src.max(), dst.max())) + 1 if src.size else 0
    else:
        num_nodes = V.check_size(num_nodes, "num_nodes")
        if src.size and max(int(src.max()), int(dst.max())) >= num_nodes:
            largest = max(int(src.max()), int(dst.max()))
            raise ValueError(f"{os.fspath(path)}: node id {largest} is out of range for num_nodes={num_nodes}")
    return Graph.from_edge_index(np.stack([src, dst]), num_nodes=num_nodes,
                                 edge_weight=None if weight is None else weight.astype(weight_dtype),
                                 index_dtype=index_dtype)


def _data_fields(line, delimiter, comments):
    """The fields of a line without its comment, or None for a blank or comment-only line."""
    if comments is not None:
        line = line.split(comments, 1)[0]
    line = line.strip()
    return line.split(delimiter) if line else None


def _first_row(path, delimiter, header, comments):
    """``(lines to skip, fields of the first edge row or None)``; the lines to skip end with the header, if any.

    With ``header='infer'`` the first data line is a header when it has two
    fields or more and its first two are not both integers.
    """
    skip = 0
    header_pending = header is not False
    with _open_text(path, "r") as file:
        for number, line in enumerate(file, start=1):
            fields = _data_fields(line, delimiter, comments)
            if fields is None:
                continue
            if header_pending:
                header_pending = False
                if header is True or (len(fields) >= 2 and not (_is_integer(fields[0]) and _is_integer(fields[1]))):
                    skip = number
                    continue
            return skip, fields
    return skip, None


def _read_fast(path, delimiter, skip, weighted, comments):
    """``(src, dst, weight)`` read by ``np.loadtxt``, or None when any row is not a clean edge."""
    dtype = [("src", np.int64), ("dst", np.int64)] + ([("weight", np.float64)] if weighted else [])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with _open_text(path, "r") as file:
                rows = np.loadtxt(file, dtype=dtype, delimiter=delimiter, comments=comments, skiprows=skip,
                                  usecols=tuple(range(len(dtype))), ndmin=1)
    except (ValueError, OverflowError, Warning):
        return None
    src, dst = rows["src"], rows["dst"]
    weight = rows["weight"] if weighted else None
    if (src.size and min(int(src.min()), int(dst.min())) < 0) or (weighted and not np.all(np.isfinite(weight))):
        return None
    weight = None if weight is None else np.ascontiguousarray(weight)
    return np.ascontiguousarray(src), np.ascontiguousarray(dst), weight


def _read_lines(path, delimiter, skip, weighted, comments):
    """``(src, dst, weight)`` parsed line by line; the first bad row raises ValueError naming its line."""
    name = os.fspath(path)
    src, dst, weights = [], [], []
    with _open_text(path, "r") as file:
        for number, line in enumerate(file, start=1):
            fields = _data_fields(line, delimiter, comments) if number > skip else None
            if fields is None:
                continue
            where = f"{name}, line {number}"
            if len(fields) < 2:
                raise ValueError(f"{where}: expected 'source{_sep(delimiter)}destination', got {line.strip()!r}")
            try:
                u, v = int(fields[0]), int(fields[1])
            except ValueError:
                raise ValueError(f"{where}: node ids must be integers, got {fields[0].strip()!r} and "
                                 f"{fields[1].strip()!r}") from None
            if min(u, v) < 0 or max(u, v) > V.INT64_MAX:
                raise ValueError(f"{where}: node ids must be non-negative integers below 2**63, got {u} and {v}")
            src.append(u)
            dst.append(v)
            if not weighted:
                continue
            if len(fields) < 3:
                raise ValueError(f"{where}: expected a weight in the third column, got {line.strip()!r}")
            try:
                w = float(fields[2])
            except ValueError:
                w = math.nan
            if not math.isfinite(w):
                raise ValueError(f"{where}: the weight must be a finite number, got {fields[2].strip()!r}")
            weights.append(w)
    return (np.array(src, dtype=np.int64), np.array(dst, dtype=np.int64),
            np.array(weights, dtype=np.float64) if weighted else None)


def _sep(delimiter):
    return " " if delimiter is None else delimiter


def write_edge_list(path, graph, *, delimiter="auto", header=False, weighted=None):
    """Write a graph's edges to a text file, one ``source destination [weight]`` per line.

    Parameters
    ----------
    path : str or os.PathLike
        gzip-compressed when the name ends in ``.gz``.
    graph : Graph
        Written in edge-id order, so :func:`read_edge_list` (with the same
        ``num_nodes`` and ``weight_dtype``) gives the graph back, weights bit
        for bit (each written as the shortest decimal that reads back to it).
    delimiter : 'auto' or str
        ``'auto'``: a comma for ``.csv`` files, else a tab.
    header : bool
        Write a first line ``source, destination[, weight]`` (``read_edge_list``
        skips it by itself).
    weighted : bool or None
        Write the weights (None: when the graph has them; True writes 1 for
        an unweighted graph).
    """
    if not isinstance(graph, Graph):
        raise TypeError(f"graph must be a fastgnn.Graph, got {type(graph).__name__}")
    if delimiter == "auto":
        delimiter = _default_delimiter(path) or "\t"
    if not isinstance(delimiter, str) or not delimiter:
        raise ValueError(f"delimiter must be 'auto' or a non-empty string, got {delimiter!r}")
    if weighted not in (None, True, False):
        raise ValueError(f"weighted must be None, True or False, got {weighted!r}")
    if weighted is None:
        weighted = graph.edge_weight is not None
    edge_index = graph.to_edge_index()
    weight = None
    if weighted:
        weight = graph.edge_weight if graph.edge_weight is not None else np.ones(graph.num_edges, np.float32)
    with _open_text(path, "w") as file:
        if header:
            file.write(delimiter.join(["source", "destination"] + (["weight"] if weighted else [])) + "\n")
        for start in range(0, graph.num_edges, _WRITE_CHUNK):
            stop = start + _WRITE_CHUNK
            columns = [map(str, edge_index[0, start:stop].tolist()), map(str, edge_index[1, start:stop].tolist())]
            if weight is not None:
                # NumPy's shortest repr of each float32/float64 value, which reads back to the same value
                columns.append(weight[start:stop].astype(str).tolist())
            file.write("\n".join(map(delimiter.join, zip(*columns))) + "\n")
