"""Argument checks and small helpers shared by the op families of :mod:`fastgnn.ops`."""

import numpy as np

from fastgnn._runtime import validate as V
from fastgnn._runtime.memory import empty_aligned
from fastgnn.graph import Graph

__all__ = ["as_graph", "resolve_edge_weight", "resolve_transposed_edge_weight", "output_array", "work_of", "shape_like",
           "check_same_dtype", "check_width", "check_arg", "raise_if_invalid_arg"]


def as_graph(graph, name="graph", *, wait=True):
    """``graph`` as a :class:`Graph` (scipy sparse matrices converted).

    With ``wait`` (the default) a graph whose source rows are still pending
    (:meth:`Graph.with_pending_sources`) is waited for first: an operation
    that does not compute the ready rows first reads only valid rows.
    """
    if isinstance(graph, Graph):
        if wait:
            graph.wait_for_sources()
        return graph
    try:
        import scipy.sparse as sp
    except ImportError:  # pragma: no cover - scipy is a dependency
        sp = None
    if sp is not None and sp.issparse(graph):
        return Graph.from_scipy(graph)
    raise TypeError(f"{name} must be a fastgnn.Graph or a scipy sparse matrix, got {type(graph).__name__}")


def resolve_edge_weight(graph, edge_weight, dtype):
    """The weights a call uses (explicit, else the graph's), in ``dtype``, or None."""
    if edge_weight is None:
        return graph.edge_weight_as(dtype)
    return V.as_edge_values(edge_weight, "edge_weight", graph.num_edges, dtype)


def resolve_transposed_edge_weight(graph, edge_weight, weight, dtype):
    """The weights in source-major order (cached for the graph's own weights)."""
    if weight is None:
        return None
    if edge_weight is None:
        return graph.transposed_edge_weight(dtype)
    return weight[graph.transpose_csr()[2]]


def output_array(out, shape, dtype, was_1d, inputs):
    """A fresh aligned output, or the caller's ``out`` viewed as 2-D."""
    if out is None:
        return empty_aligned(shape, dtype)
    expected = (shape[0],) if was_1d else shape
    V.check_out(out, expected, dtype, inputs)
    return out.reshape(shape)


def work_of(num_edges, num_rows, width):
    return (num_edges + num_rows) * max(width, 1)


def shape_like(out, was_1d):
    return out.reshape(-1) if was_1d else out


def check_same_dtype(array, name, dtype, other_name):
    if array.dtype != dtype:
        raise TypeError(f"{name} has dtype {array.dtype} but {other_name} has {dtype}; they must match")


def check_width(array, name, width, other_name):
    if array.shape[1] != width:
        raise ValueError(f"{name} has {array.shape[1]} features but {other_name} has {width}")


def check_arg(arg, shape, index_dtype):
    if arg is None:
        raise ValueError("arg is required by the max/min backward: pass the arg returned by the forward "
                         "(aggregate(..., return_arg=True))")
    arg = V.as_array(arg, "arg")
    if arg.dtype.kind not in "iu":
        raise TypeError(f"arg must have an integer dtype, got {arg.dtype}")
    if arg.ndim == 1 and shape[1] == 1:
        arg = arg.reshape(-1, 1)
    if arg.shape != shape:
        raise ValueError(f"arg must have shape {shape}, got {arg.shape}")
    # The kernel range-checks the values as it reads them (one pass, not two), but only after
    # the cast to the index dtype, which would wrap 2**32 + 1 to 1 or 2**64 - 1 to -1: values of
    # another dtype are checked to survive the cast first.
    if arg.dtype != index_dtype and arg.size:
        low, high = int(arg.min()), int(arg.max())
        if low < -1 or high > np.iinfo(index_dtype).max:
            bad = low if low < -1 else high
            raise ValueError(f"arg contains {bad}, which is not an edge id (or -1 for an empty row): "
                             "pass the arg of the forward call")
    return np.ascontiguousarray(arg, dtype=index_dtype)


def raise_if_invalid_arg(invalid):
    if invalid:
        raise ValueError(f"arg contains {invalid} entries that are not an edge of their row (or -1 for an "
                         "empty row): pass the arg of the forward call")


_TWO_64 = 1 << 64


def check_counter(value, name):
    """A dropout ``seed`` or ``step``: a Python int in [0, 2^64)."""
    if type(value) is not int:
        value = V.as_int(value, name)
    if not 0 <= value < _TWO_64:
        raise ValueError(f"{name} must be in [0, 2**64), got {value}")
    return value


def dropout_threshold(p):
    """Keep an element when its 32 random bits are >= ``round(p * 2^32)`` (ties to even)."""
    return round(p * 4294967296.0)
