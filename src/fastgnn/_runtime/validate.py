"""Argument checks shared by the public API: validate once, at the boundary.

Every check raises ``TypeError`` (wrong kind or dtype) or ``ValueError``
(wrong shape or value) with a message that names the argument.
"""
import operator

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
INDEX_DTYPES = (np.dtype(np.int32), np.dtype(np.int64))
INT32_MAX = np.iinfo(np.int32).max
INT64_MAX = np.iinfo(np.int64).max
REDUCES = {"sum": "sum", "add": "sum", "mean": "mean", "max": "max", "min": "min"}
REDUCE_NAMES = ("sum", "mean", "max", "min")


# DLPack device types that NumPy can read in place (kDLCPU, kDLCUDAHost, kDLROCMHost).
_DLPACK_HOST_DEVICES = (1, 3, 11)


def as_array(value, name):
    """Any array-like (ndarray, buffer, ``__array__``, ``__dlpack__``) as an ndarray, without copying.

    An object on a non-CPU device (told by ``__dlpack_device__``) is refused
    with ``TypeError``; nothing is copied across devices behind the caller's back.
    """
    if isinstance(value, np.ndarray):
        return value
    if value is None:
        raise TypeError(f"{name} must be an array, got None")
    if hasattr(value, "__dlpack_device__"):
        try:
            device_type = int(value.__dlpack_device__()[0])
        except Exception:  # a broken protocol implementation: fall back to __array__
            device_type = None
        if device_type is not None and device_type not in _DLPACK_HOST_DEVICES:
            raise TypeError(f"{name} is on a non-CPU device (DLPack device type {device_type}); "
                            "move it to the CPU first")
        if hasattr(value, "__dlpack__"):
            try:
                return np.from_dlpack(value)
            except (BufferError, RuntimeError, TypeError, ValueError) as exc:
                if not hasattr(value, "__array__"):
                    raise TypeError(f"{name}: cannot read this array in place ({exc})") from exc
    try:
        array = np.asarray(value)
    except Exception as exc:  # numpy raises many kinds here
        raise TypeError(f"{name} must be array-like, got {type(value).__name__} ({exc})") from exc
    if array.dtype == object:
        raise TypeError(f"{name} must be a numeric array, got an object array")
    return array


def check_out(out, shape, dtype, inputs=(), rows_only=False):
    """A caller's ``out=`` buffer: an ndarray of exactly this shape and dtype,
    C-contiguous (with ``rows_only``: each row contiguous, rows further apart
    allowed), writeable, sharing no memory with the inputs."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy.ndarray, got {type(out).__name__}")
    if out.dtype != dtype:
        raise TypeError(f"out must have dtype {dtype}, got {out.dtype}")
    if out.shape != tuple(shape):
        raise ValueError(f"out must have shape {tuple(shape)}, got {out.shape}")
    if rows_only and out.ndim == 2:
        if out.strides[1] != out.itemsize or out.strides[0] % out.itemsize or out.strides[0] < out.shape[1] * out.itemsize:
            raise ValueError("out must have contiguous rows (a C-contiguous array or a column block of one)")
    elif not out.flags.c_contiguous:
        raise ValueError("out must be C-contiguous")
    if not out.flags.writeable:
        raise ValueError("out must be writeable")
    for other in inputs:
        if other is not None and np.shares_memory(out, other):
            raise ValueError("out must not share memory with an input")
    return out


def check_float_dtype(dtype, name="dtype"):
    """``dtype`` as a NumPy dtype, which must be float32 or float64."""
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{name} must be float32 or float64, got {dtype!r}") from None
    if dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} must be float32 or float64, got {dtype}")
    return dtype


def check_reduce(reduce, allowed=None, name="reduce", where=""):
    """The canonical reduce name (``add`` is ``sum``), optionally one of ``allowed``.

    Parameters
    ----------
    reduce : str
    allowed : sequence of str, optional
        Canonical names accepted (default: every reduce of the kernels).
    name : str
        The argument's name in the message (``reduce``, ``aggr``).
    where : str
        Prefix of the message (e.g. ``"SAGEConv: "``).
    """
    allowed = tuple(REDUCE_NAMES if allowed is None else allowed)
    canonical = REDUCES.get(reduce) if isinstance(reduce, str) else None
    if canonical is None or canonical not in allowed:
        choices = allowed + (("add",) if "sum" in allowed else ())
        raise ValueError(f"{where}{name} must be one of {', '.join(repr(c) for c in choices)}, got {reduce!r}")
    return canonical


def as_int(value, name, what="an integer"):
    """``value`` as a Python int (anything ``operator.index`` takes, never a bool); the error says ``name must be what``."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be {what}, got bool")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be {what}, got {type(value).__name__}") from None


def check_size(value, name):
    """A non-negative Python int."""
    size = as_int(value, name)
    if size < 0:
        raise ValueError(f"{name} must be non-negative, got {size}")
    return size


def as_features(x, name, num_rows=None, dtype=None):
    """A C-contiguous float32/float64 array of rank 1 or 2, as a 2-D view.

    Copies only when the layout is not C-contiguous or ``dtype`` asks for a
    cast. Returns ``(array_2d, was_1d)``.
    """
    array = as_array(x, name)
    if array.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} must have dtype float32 or float64, got {array.dtype}")
    if array.ndim not in (1, 2):
        raise ValueError(f"{name} must be 1-D or 2-D, got shape {array.shape}")
    if num_rows is not None and array.shape[0] != num_rows:
        raise ValueError(f"{name} must have {num_rows} rows, got shape {array.shape}")
    was_1d = array.ndim == 1
    if was_1d:
        array = array.reshape(-1, 1)
    if dtype is not None and array.dtype != dtype:
        array = array.astype(dtype)
    return np.ascontiguousarray(array), was_1d


def as_edge_values(values, name, num_edges, dtype):
    """A contiguous 1-D array of ``num_edges`` real values, cast to ``dtype``."""
    array = as_array(values, name)
    if array.dtype.kind not in "fiub":
        raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}")
    if array.ndim != 1 or array.shape[0] != num_edges:
        raise ValueError(f"{name} must have shape ({num_edges},), got {array.shape}")
    return np.ascontiguousarray(array, dtype=dtype)


def as_index_array(values, name):
    """An integer array (any integer dtype and rank), not yet range-checked.

    An empty float array is accepted as an empty index array, since
    ``np.asarray([])`` is float64.
    """
    array = as_array(values, name)
    if array.size == 0 and array.dtype.kind == "f":
        array = array.astype(np.int64)
    if array.dtype.kind not in "iu":
        raise TypeError(f"{name} must have an integer dtype, got {array.dtype}")
    return array


def as_index_vector(values, name):
    """A 1-D integer array (any integer dtype), not yet range-checked."""
    array = as_index_array(values, name)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {array.shape}")
    return array


def check_ids_in_range(ids, upper, name):
    """Every id in ``[0, upper)``."""
    if ids.size:
        low, high = int(ids.min()), int(ids.max())
        if low < 0:
            raise ValueError(f"{name} contains a negative id ({low})")
        if high >= upper:
            raise ValueError(f"{name} contains id {high}, out of range for {upper} nodes")


def as_node_mask(nodes, num_nodes, name="nodes"):
    """A boolean mask of length ``num_nodes`` from a mask or from node ids (repeats allowed)."""
    array = as_array(nodes, name)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D (a boolean mask or node ids), got shape {array.shape}")
    if array.dtype == np.bool_:
        if array.shape[0] != num_nodes:
            raise ValueError(f"{name} as a boolean mask must have length {num_nodes}, got {array.shape[0]}")
        return array.copy()
    mask = np.zeros(num_nodes, dtype=bool)
    if array.size == 0:
        return mask  # an empty list arrives as float64
    if array.dtype.kind not in "iu":
        raise TypeError(f"{name} must be a boolean mask or integer node ids, got dtype {array.dtype}")
    check_ids_in_range(array, num_nodes, name)
    mask[array] = True
    return mask


def check_indptr(indptr, num_entries, name="indptr"):
    """A valid CSR pointer: starts at 0, never decreases, ends at ``num_entries``."""
    if indptr.shape[0] < 1:
        raise ValueError(f"{name} must have at least one entry (it has length n_rows + 1)")
    if int(indptr[0]) != 0:
        raise ValueError(f"{name} must start at 0, got {int(indptr[0])}")
    if indptr.shape[0] > 1 and np.any(indptr[1:] < indptr[:-1]):
        raise ValueError(f"{name} must be non-decreasing")
    if int(indptr[-1]) != num_entries:
        raise ValueError(f"{name} must end at {num_entries} (the number of entries), got {int(indptr[-1])}")


def index_dtype_for(*sizes):
    """int32 when every size fits in it, else int64."""
    return np.dtype(np.int32) if max(sizes, default=0) <= INT32_MAX else np.dtype(np.int64)


def check_index_dtype(index_dtype, *sizes):
    """The requested index dtype (int32 or int64), or the narrowest that fits.

    Sizes (node and edge counts) beyond int64 are refused with ``ValueError``.
    """
    if max(sizes, default=0) > INT64_MAX:
        raise ValueError(f"graph size {max(sizes)} exceeds the int64 index range (node ids and edge counts "
                         "must be below 2**63)")
    if index_dtype is None:
        return index_dtype_for(*sizes)
    try:
        dtype = np.dtype(index_dtype)
    except TypeError:
        raise TypeError(f"index_dtype must be int32 or int64, got {index_dtype!r}") from None
    if dtype not in INDEX_DTYPES:
        raise TypeError(f"index_dtype must be int32 or int64, got {dtype}")
    if dtype == np.int32 and max(sizes, default=0) > INT32_MAX:
        raise ValueError("index_dtype int32 cannot hold this graph's sizes; use int64")
    return dtype


def as_row_mask(mask, num_rows, name="mask"):
    """A boolean row mask of length ``num_rows`` (None selects every row)."""
    if mask is None:
        return None
    array = np.asarray(mask)
    if array.dtype != np.bool_:
        raise TypeError(f"{name} must be a boolean array, got dtype {array.dtype} "
                        "(convert node indices with a boolean mask of length num_nodes)")
    if array.ndim != 1 or array.shape[0] != num_rows:
        raise ValueError(f"{name} must have shape ({num_rows},) to match the {num_rows} rows, got {array.shape}")
    return array


def as_node_ids(nodes, num_nodes):
    """Distinct int64 node ids in range from a boolean mask or an id array."""
    array = as_array(nodes, "nodes")
    if array.ndim != 1:
        raise ValueError(f"nodes must be 1-D (a boolean mask or node ids), got shape {array.shape}")
    if array.dtype == np.bool_:
        if array.shape[0] != num_nodes:
            raise ValueError(f"nodes as a boolean mask must have length {num_nodes}, got {array.shape[0]}")
        return np.flatnonzero(array)
    if array.size == 0:
        return np.zeros(0, dtype=np.int64)  # an empty list arrives as float64
    if array.dtype.kind not in "iu":
        raise TypeError(f"nodes must be a boolean mask or integer node ids, got dtype {array.dtype}")
    check_ids_in_range(array, num_nodes, "nodes")
    ids = array.astype(np.int64)
    seen = np.zeros(num_nodes, dtype=bool)
    seen[ids] = True
    if np.count_nonzero(seen) != ids.shape[0]:
        raise ValueError("nodes contains a repeated node id")
    return ids
