"""Graphs in a folder on disk: ``meta.json``, ``indptr.npy``, ``indices.npy``, optional ``edge_weight.npy``.

The format is described in ``docs/datasets-on-disk.md``. This module writes
and reads the structure part of it (:func:`save_graph`, :func:`load_graph`,
behind :meth:`Graph.save` and :meth:`Graph.load`) and holds the pieces that
:mod:`fastgnn.datasets.on_disk` builds on: a folder written atomically
(:func:`atomic_folder`), ``.npy`` files written in chunks (:class:`NpyWriter`),
and ``.npy`` files opened with every length checked against ``meta.json``
(:func:`open_npy`).

Every error about a folder names the file at fault.
"""
import contextlib
import json
import mmap as _mmap
import os
import shutil
import tempfile

import numpy as np

from fastgnn._runtime import validate as V
from fastgnn._runtime.memory import read_immutable, release_mapped_items

__all__ = ["save_graph", "load_graph", "atomic_folder", "NpyWriter", "open_npy", "checked_npy_header", "read_meta",
           "write_meta", "FORMAT_NAME", "FORMAT_VERSION"]

FORMAT_NAME = "fastgnn-dataset"
FORMAT_VERSION = 1
META_FILE = "meta.json"
_INDEX_DTYPES = ("int32", "int64")
_WEIGHT_DTYPES = ("float32", "float64")
_CHECK_CHUNK = 1 << 22        # elements per pass when an on-disk array is checked


# ---------------------------------------------------------------------- writing
@contextlib.contextmanager
def atomic_folder(path, *, overwrite=False):
    """Yield a temporary sibling folder of ``path``, renamed to ``path`` when the block ends without error.

    If the block raises, the temporary folder is removed and ``path`` is left
    as it was (absent, or the old folder with ``overwrite``).

    Parameters
    ----------
    path : str or os.PathLike
        The folder to create.
    overwrite : bool
        Replace an existing folder at ``path`` (it is removed only after the
        new one is complete). Without it an existing ``path`` is an error.
    """
    path = os.path.abspath(os.fspath(path))
    if os.path.lexists(path) and not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it")
    parent, base = os.path.split(path)
    os.makedirs(parent, exist_ok=True)
    temporary = tempfile.mkdtemp(prefix=f".{base}.", suffix=".partial", dir=parent)
    try:
        yield temporary
        if os.path.lexists(path):
            old = tempfile.mkdtemp(prefix=f".{base}.", suffix=".old", dir=parent)
            os.rename(path, os.path.join(old, "folder"))
            os.rename(temporary, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(temporary, path)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise


class NpyWriter:
    """A ``.npy`` file of known shape written in row chunks, without holding the array.

    Parameters
    ----------
    path : str
    shape : tuple of int
        The full shape; chunks are slices along the first axis.
    dtype : dtype

    Notes
    -----
    Closing checks that exactly ``shape[0]`` rows were written; use it as a
    context manager. The file is the one :func:`numpy.save` writes.
    """

    def __init__(self, path, shape, dtype):
        self.path = os.fspath(path)
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)
        self.rows = 0
        self._file = open(self.path, "wb")
        header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False,
                  "shape": self.shape}
        np.lib.format.write_array_header_1_0(self._file, header)

    def write(self, chunk):
        """Append ``chunk`` (its rows follow the rows written so far)."""
        chunk = np.ascontiguousarray(chunk, dtype=self.dtype)
        if chunk.shape[1:] != self.shape[1:] or self.rows + chunk.shape[0] > self.shape[0]:
            raise ValueError(f"{self.path}: chunk of shape {chunk.shape} does not fit an array of shape "
                             f"{self.shape} after {self.rows} rows")
        self._file.write(chunk.data if chunk.size else b"")
        self.rows += chunk.shape[0]

    def close(self):
        if self._file.closed:
            return
        self._file.close()
        if self.rows != self.shape[0]:
            raise ValueError(f"{self.path}: {self.rows} rows written, {self.shape[0]} expected")

    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback):
        if kind is None:
            self.close()
        else:
            self._file.close()


def write_meta(folder, meta):
    """Write ``meta`` as ``folder/meta.json``."""
    with open(os.path.join(folder, META_FILE), "w", encoding="utf-8") as handle:
        json.dump(meta, handle, indent=1, sort_keys=True)
        handle.write("\n")


def graph_meta(graph):
    """The structure entries of ``meta.json`` for ``graph``."""
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "num_nodes": graph.num_dst_nodes,
        "num_dst_nodes": graph.num_dst_nodes,
        "num_src_nodes": graph.num_src_nodes,
        "num_edges": graph.num_edges,
        "index_dtype": np.dtype(graph.index_dtype).name,
        "edge_weight_dtype": None if graph.edge_weight is None else np.dtype(graph.edge_weight.dtype).name,
    }


def write_graph_files(folder, graph):
    """Write ``indptr.npy``, ``indices.npy`` and ``edge_weight.npy`` (if weighted) into ``folder``."""
    np.save(os.path.join(folder, "indptr.npy"), np.asarray(graph.indptr))
    np.save(os.path.join(folder, "indices.npy"), np.asarray(graph.indices))
    if graph.edge_weight is not None:
        np.save(os.path.join(folder, "edge_weight.npy"), np.asarray(graph.edge_weight))


def save_graph(graph, path, *, overwrite=False):
    """Write ``graph`` to the folder ``path`` (structure files and ``meta.json``), atomically.

    Parameters
    ----------
    graph : Graph
    path : str or os.PathLike
        The folder; it must not exist unless ``overwrite``.
    overwrite : bool
        Replace an existing folder.
    """
    with atomic_folder(path, overwrite=overwrite) as folder:
        write_graph_files(folder, graph)
        write_meta(folder, graph_meta(graph))


# ---------------------------------------------------------------------- reading
def read_meta(folder):
    """``folder/meta.json`` as a dict, its format and version checked."""
    path = os.path.join(os.fspath(folder), META_FILE)
    if not os.path.isdir(os.fspath(folder)):
        raise FileNotFoundError(f"{os.fspath(folder)} is not a folder (a fastgnn dataset folder holds {META_FILE}, "
                                "indptr.npy and indices.npy)")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} is missing")
    try:
        with open(path, encoding="utf-8") as handle:
            meta = json.load(handle)
    except (ValueError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is not valid JSON ({error})") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{path} must hold a JSON object, got {type(meta).__name__}")
    if meta.get("format") != FORMAT_NAME:
        raise ValueError(f"{path}: format must be {FORMAT_NAME!r}, got {meta.get('format')!r}")
    if meta.get("version") != FORMAT_VERSION:
        raise ValueError(f"{path}: version {meta.get('version')!r} is not supported (this fastgnn reads "
                         f"version {FORMAT_VERSION})")
    return meta


def meta_count(meta, key, folder):
    """The non-negative integer ``meta[key]``, or a ValueError naming ``meta.json``."""
    value = meta.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{os.path.join(os.fspath(folder), META_FILE)}: {key} must be a non-negative integer, "
                         f"got {value!r}")
    return value


def meta_choice(meta, key, choices, folder, *, optional=False):
    """``meta[key]``, one of ``choices`` (or None when ``optional``)."""
    value = meta.get(key)
    if value is None and optional:
        return None
    if value not in choices:
        raise ValueError(f"{os.path.join(os.fspath(folder), META_FILE)}: {key} must be one of "
                         f"{', '.join(choices)}, got {value!r}")
    return value


def npy_header(path):
    """``(shape, dtype, data_offset)`` from the header of the ``.npy`` file ``path``."""
    with open(path, "rb") as handle:
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
        else:
            raise ValueError(f"unsupported .npy version {version}")
        offset = handle.tell()
    if fortran and len(shape) > 1:
        raise ValueError("Fortran-ordered arrays are not supported")
    if dtype.hasobject:
        raise ValueError("object arrays are not supported")
    return tuple(shape), dtype, offset


def checked_npy_header(path):
    """:func:`npy_header`, with whatever a damaged header raises (NumPy's parser lets through
    tokenizer and syntax errors, among others) turned into a ValueError naming the file."""
    try:
        return npy_header(path)
    except OSError:
        raise
    except Exception as error:          # noqa: BLE001 - the header parser's errors are not documented
        raise ValueError(f"{path} is not a valid .npy file ({type(error).__name__}: {error})") from None


def open_npy(folder, name, *, shape, dtype=None, kinds=None, mmap=True, immutable=False):
    """Open ``folder/name`` after checking its header and its size on disk.

    Parameters
    ----------
    folder, name : str
    shape : tuple
        The shape ``meta.json`` implies; a mismatch is an error naming the file.
    dtype : dtype, optional
        The exact dtype expected.
    kinds : str, optional
        Accepted ``dtype.kind`` letters when ``dtype`` is None.
    mmap : bool
        A read-only ``np.memmap`` (nothing read yet), or an array in memory.
    immutable : bool
        Without ``mmap``: read the data straight into a ``bytes`` object and
        return a read-only array over it, which a :class:`~fastgnn.Graph`
        keeps as it is (instead of copying a writeable array once more).
    """
    path = os.path.join(os.fspath(folder), name)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} is missing")
    found_shape, found_dtype, offset = checked_npy_header(path)
    if found_shape != tuple(shape):
        raise ValueError(f"{path} has shape {found_shape}, expected {tuple(shape)} from {META_FILE}")
    if dtype is not None and found_dtype != np.dtype(dtype):
        raise ValueError(f"{path} has dtype {found_dtype}, expected {np.dtype(dtype)} from {META_FILE}")
    if kinds is not None and found_dtype.kind not in kinds:
        raise ValueError(f"{path} has dtype {found_dtype}, which is not accepted here")
    expected_size = offset + int(np.prod(found_shape, dtype=np.int64)) * found_dtype.itemsize
    size = os.path.getsize(path)
    if size != expected_size:
        raise ValueError(f"{path} is {size} bytes, expected {expected_size} for shape {found_shape} and "
                         f"dtype {found_dtype} (truncated or corrupt)")
    if mmap and expected_size > offset:
        return map_npy(path, found_shape, found_dtype, offset)
    if immutable:
        with open(path, "rb") as handle:
            handle.seek(offset)
            data = checked(path, lambda: read_immutable(handle, expected_size - offset))
        return np.frombuffer(data, dtype=found_dtype).reshape(found_shape)
    return np.load(path, allow_pickle=False)



def map_npy(path, shape, dtype, offset):
    """A read-only ``np.memmap`` of the data of the ``.npy`` file ``path``, over this module's own ``mmap.mmap``.

    The whole file is mapped (``ACCESS_READ``) and the array starts at the
    header's end, ``offset``; the map is the array's ``base`` (and
    ``_mmap``), so :func:`fastgnn._runtime.memory.release_mapped_pages` can
    release its resident pages.
    """
    with open(path, "rb") as handle:
        buffer = _mmap.mmap(handle.fileno(), 0, access=_mmap.ACCESS_READ)
    array = np.ndarray.__new__(np.memmap, tuple(shape), dtype=np.dtype(dtype), buffer=buffer, offset=offset)
    array._mmap = buffer            # what np.memmap's own constructor sets: flush() and views keep working
    array.filename = os.path.abspath(path)
    array.offset = offset
    array.mode = "r"
    return array


def _check_chunked(array, check):
    """Run ``check`` over slices of ``array`` so a memory map is not copied whole, nor left resident whole
    (each slice's mapped pages are released after it)."""
    for start in range(0, array.shape[0], _CHECK_CHUNK):
        check(np.asarray(array[start:start + _CHECK_CHUNK]))
        release_mapped_items(array, start, start + _CHECK_CHUNK)


def checked(path, check):
    """Run ``check()`` and return its result, turning its ValueError into one that names ``path``."""
    try:
        return check()
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None


def load_graph_arrays(folder, meta, *, mmap=True):
    """``(indptr, indices, edge_weight, num_src_nodes)`` read from ``folder`` and checked against ``meta``."""
    folder = os.fspath(folder)
    num_dst = meta_count(meta, "num_nodes", folder)
    num_src = meta_count(meta, "num_src_nodes", folder) if "num_src_nodes" in meta else num_dst
    num_edges = meta_count(meta, "num_edges", folder)
    index_dtype = meta_choice(meta, "index_dtype", _INDEX_DTYPES, folder)
    weight_dtype = meta_choice(meta, "edge_weight_dtype", _WEIGHT_DTYPES, folder, optional=True)
    if index_dtype == "int32" and max(num_src, num_dst, num_edges) > np.iinfo(np.int32).max:
        raise ValueError(f"{os.path.join(folder, META_FILE)}: index_dtype int32 cannot hold this graph's sizes")
    # in memory, read straight into the immutable buffers a Graph keeps (no transient second copy)
    indptr = open_npy(folder, "indptr.npy", shape=(num_dst + 1,), dtype=index_dtype, mmap=mmap, immutable=True)
    indices = open_npy(folder, "indices.npy", shape=(num_edges,), dtype=index_dtype, mmap=mmap, immutable=True)
    checked(os.path.join(folder, "indptr.npy"), lambda: V.check_indptr(indptr, num_edges, "indptr"))
    checked(os.path.join(folder, "indices.npy"),
            lambda: _check_chunked(indices, lambda part: V.check_ids_in_range(part, num_src, "indices")))
    weight = None
    if weight_dtype is not None:
        weight = open_npy(folder, "edge_weight.npy", shape=(num_edges,), dtype=weight_dtype, mmap=mmap,
                          immutable=True)

        def finite(part):
            if not np.all(np.isfinite(part)):
                raise ValueError("edge_weight must be finite")
        checked(os.path.join(folder, "edge_weight.npy"), lambda: _check_chunked(weight, finite))
    elif os.path.exists(os.path.join(folder, "edge_weight.npy")):
        raise ValueError(f"{os.path.join(folder, 'edge_weight.npy')} exists but {META_FILE} declares no "
                         "edge_weight_dtype")
    return indptr, indices, weight, num_src


def load_graph(cls, path, *, mmap=True):
    """The graph stored in the folder ``path`` (see :func:`save_graph`), validated once.

    With ``mmap`` the arrays are read-only ``np.memmap`` views of the files:
    the validation reads them once, and the operating system pages them in
    and out afterwards.
    """
    meta = read_meta(path)
    indptr, indices, weight, num_src = load_graph_arrays(path, meta, mmap=mmap)
    return cls(indptr, indices, num_src, weight, _validated=True)
