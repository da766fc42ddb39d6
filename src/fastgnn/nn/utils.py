"""Input checks shared by the layers, for writing your own (see docs/extending.md)."""
import sys

import numpy as np

from fastgnn._runtime.memory import empty_aligned
from fastgnn.graph import Graph, SparseFeatures


def as_layer_input(x, name, width, dtype, layer, num_rows=None):
    """``x`` as a C-contiguous 2-D array in the layer's dtype, checked against its width.

    A float array of another dtype is cast to ``dtype`` (the layer computes
    in its parameters' dtype); integer or other arrays are refused. A
    :class:`~fastgnn.SparseFeatures` matrix stays sparse (cast to ``dtype``).
    """
    if isinstance(x, SparseFeatures):
        _check_rows_and_width(x.shape, name, width, layer, num_rows)
        return x.astype(dtype)
    if isinstance(x, (tuple, list)):
        raise TypeError(f"{layer}: {name} must be an array, got a {type(x).__name__}")
    array = np.asarray(x)
    if array.dtype.kind != "f":
        raise TypeError(f"{layer}: {name} must be a float array, got dtype {array.dtype}")
    if array.ndim != 2:
        raise ValueError(f"{layer}: {name} must be 2-D (nodes x features), got shape {array.shape}")
    _check_rows_and_width(array.shape, name, width, layer, num_rows)
    return np.ascontiguousarray(array, dtype=dtype)


def _check_rows_and_width(shape, name, width, layer, num_rows):
    if width is not None and shape[1] != width:
        raise ValueError(
            f"{layer}: {name} has {shape[1]} features but the layer expects {width} "
            f"(in_channels)")
    if num_rows is not None and shape[0] != num_rows:
        raise ValueError(f"{layer}: {name} has {shape[0]} rows but the graph has {num_rows} nodes")


def densified(x):
    """``x`` as a dense array: a :class:`~fastgnn.SparseFeatures` matrix expanded, anything else as it is.

    For the operations that cannot run on sparse features (max/min
    aggregation of the input features).
    """
    return x.toarray() if isinstance(x, SparseFeatures) else x


def as_float_array(x, name, layer):
    """``x`` as an ndarray of floating dtype (dtype kept)."""
    array = np.asarray(x)
    if array.dtype.kind != "f":
        raise TypeError(f"{layer}: {name} must be a float array, got dtype {array.dtype}")
    return array


def check_graph(graph, layer):
    if not isinstance(graph, Graph):
        raise TypeError(f"{layer}: graph must be a fastgnn.Graph, got {type(graph).__name__}")
    return graph


def split_input(graph, x, in_src, in_dst, dtype, layer):
    """Validate ``x`` (an array or a pair ``(x_src, x_dst)``) against ``graph``.

    Returns ``(x_src, x_dst, is_pair)``. A single array needs a square graph
    and serves as both sides (``x_dst is x_src``).
    """
    check_graph(graph, layer)
    if isinstance(x, (tuple, list)):
        if len(x) != 2:
            raise ValueError(f"{layer}: x must be an array or a pair (x_src, x_dst), got {len(x)} items")
        x_src = as_layer_input(x[0], "x_src", in_src, dtype, layer, graph.num_src_nodes)
        x_dst = as_layer_input(x[1], "x_dst", in_dst, dtype, layer, graph.num_dst_nodes)
        return x_src, x_dst, True
    if not graph.is_square:
        raise ValueError(
            f"{layer}: the graph is bipartite ({graph.num_src_nodes} source nodes, "
            f"{graph.num_dst_nodes} destination nodes); pass x as a pair (x_src, x_dst)")
    if in_src != in_dst:
        raise ValueError(f"{layer}: in_channels differ for sources ({in_src}) and destinations "
                         f"({in_dst}); pass x as a pair (x_src, x_dst)")
    x_src = as_layer_input(x, "x", in_src, dtype, layer, graph.num_src_nodes)
    return x_src, x_src, False


def channels_pair(in_channels, name="in_channels"):
    """``(in_src, in_dst)`` from an int or a pair of ints."""
    if isinstance(in_channels, (tuple, list)):
        if len(in_channels) != 2:
            raise ValueError(f"{name} must be an int or a pair of ints, got {in_channels!r}")
        return positive_int(in_channels[0], name), positive_int(in_channels[1], name)
    value = positive_int(in_channels, name)
    return value, value


def positive_int(value, name):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a positive int, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a positive int, got {value}")
    return int(value)


def as_grad(grad_out, shape, layer, dtype=None):
    """``grad_out`` as an ndarray of exactly ``shape`` (no broadcasting), optionally cast."""
    array = np.asarray(grad_out) if dtype is None else np.asarray(grad_out, dtype=dtype)
    if array.shape != tuple(shape):
        raise ValueError(f"{layer}.backward: grad_out must have shape {tuple(shape)}, got {array.shape}")
    return array


class Workspace:
    """A scratch array a layer reuses from call to call.

    Either pure scratch (never returned, never kept for a backward), or an
    output handed to one consumer that is done with it before the next call
    (then :meth:`release_unless_viewed` after the consumer's forward lets it
    go unless the consumer keeps it).

    Reusing one buffer saves an allocation per epoch; buffers above glibc's
    mmap threshold (32 MB) are otherwise mapped and page-faulted anew each
    time. Not shared between modules, nor safe across threads (as modules are not).
    """

    __slots__ = ("_array",)

    def __init__(self):
        self._array = None

    def get(self, shape, dtype):
        """A C-contiguous, 64-byte aligned array of ``shape`` and ``dtype`` (contents undefined)."""
        shape, dtype = tuple(shape), np.dtype(dtype)
        array = self._array
        if array is None or array.dtype != dtype or array.size < int(np.prod(shape)):
            array = self._array = empty_aligned((max(int(np.prod(shape)), 1),), dtype)
        return array[:int(np.prod(shape))].reshape(shape)

    def release(self):
        """Drop the buffer."""
        self._array = None

    def release_unless_viewed(self):
        """Drop the buffer unless an array outside the workspace still views it.

        For a buffer that is handed on (a dropout's output): while the
        consumer keeps it for its backward, it is alive anyway and reusing
        it is free; once nothing else holds it, keeping it would only add
        its size to the peak memory. Views are counted by reference count
        (CPython's ``sys.getrefcount``): a miscount can only drop from the
        workspace a buffer still held elsewhere (a lost reuse, never a wrong
        value: the holder keeps its own reference).
        """
        array = self._array
        if array is None:
            return
        owner = array.base if isinstance(array.base, np.ndarray) else array
        # References to the owner besides outside views: self._array (or its base link), the local
        # names array/owner that are it, and getrefcount's argument.
        own = 3 + (owner is array)
        if sys.getrefcount(owner) <= own:
            self._array = None
